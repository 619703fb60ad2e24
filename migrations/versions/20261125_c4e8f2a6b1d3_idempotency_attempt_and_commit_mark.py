"""idempotency keys: attempt (fencing a retry's take-over) and committed_at

Revision ID: c4e8f2a6b1d3
Revises: a7b3c9d2e4f6
Create Date: 2026-11-25 18:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "c4e8f2a6b1d3"
down_revision: str | None = "a7b3c9d2e4f6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempt", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("committed_at", app.db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_record", schema=None) as batch_op:
        batch_op.drop_column("committed_at")
        batch_op.drop_column("attempt")

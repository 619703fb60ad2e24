"""payment allocations: the order they were applied in

Revision ID: a7b3c9d2e4f6
Revises: 8c2d4e6f1a35
Create Date: 2026-11-25 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7b3c9d2e4f6"
down_revision: str | None = "8c2d4e6f1a35"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing rows keep position 0: their order was never recorded, and reads fall back
    # to the row id among equal positions, as before.
    with op.batch_alter_table("payment_allocation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("position", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("payment_allocation", schema=None) as batch_op:
        batch_op.drop_column("position")

"""contract service period

Revision ID: 3f5b39a7fc36
Revises: b32cd1938152
Create Date: 2026-12-05 07:11:55.021815
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3f5b39a7fc36"
down_revision: str | None = "b32cd1938152"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.add_column(sa.Column("service_start", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("service_end", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.drop_column("service_end")
        batch_op.drop_column("service_start")

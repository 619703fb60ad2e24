"""ownership event reasons as text

Revision ID: d1ac0c86e71f
Revises: b81e233ae2c6
Create Date: 2026-11-25 15:21:31.063568
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d1ac0c86e71f"
down_revision: str | None = "b81e233ae2c6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ownership_event") as batch_op:
        batch_op.alter_column(
            "reason", existing_type=sa.VARCHAR(length=100), type_=sa.Text(), existing_nullable=True
        )


def downgrade() -> None:
    with op.batch_alter_table("ownership_event") as batch_op:
        batch_op.alter_column(
            "reason", existing_type=sa.Text(), type_=sa.VARCHAR(length=100), existing_nullable=True
        )

"""customer: partial indexes for the pool recycler's sweeps

Revision ID: 8c2d4e6f1a35
Revises: 5e1f0c3a9b27
Create Date: 2026-11-25 18:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8c2d4e6f1a35"
down_revision: str | None = "5e1f0c3a9b27"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # At a million customers the lapsed-ownership sweep walked the primary key over every
    # row (2.4 s) and the cooldown sweep read the whole table (0.3 s).
    op.create_index(
        "ix_customer_owned_id",
        "customer",
        ["id"],
        unique=False,
        postgresql_where=sa.text("owner_id IS NOT NULL AND deleted_at IS NULL"),
        sqlite_where=sa.text("owner_id IS NOT NULL AND deleted_at IS NULL"),
    )
    op.create_index(
        "ix_customer_cooldown_until",
        "customer",
        ["cooldown_until"],
        unique=False,
        postgresql_where=sa.text("cooldown_until IS NOT NULL"),
        sqlite_where=sa.text("cooldown_until IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_customer_cooldown_until", table_name="customer")
    op.drop_index("ix_customer_owned_id", table_name="customer")

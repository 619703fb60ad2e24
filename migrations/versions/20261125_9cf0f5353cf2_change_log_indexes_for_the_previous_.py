"""change log: indexes for the previous routing

Revision ID: 9cf0f5353cf2
Revises: d1ac0c86e71f
Create Date: 2026-11-25 16:30:19.283306
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9cf0f5353cf2"
down_revision: str | None = "d1ac0c86e71f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A pull asks for rows routed to the caller now OR before the change; with an index on
    # each arm the database reads only those rows, not every row since the cursor.
    # Only customer rows (and customer-less task rows) have a previous routing: partial.
    op.create_index(
        "ix_change_log_prev_owner_id_seq",
        "change_log",
        ["prev_owner_id", "seq"],
        unique=False,
        postgresql_where=sa.text("prev_owner_id IS NOT NULL"),
        sqlite_where=sa.text("prev_owner_id IS NOT NULL"),
    )
    op.create_index(
        "ix_change_log_prev_team_id_seq",
        "change_log",
        ["prev_team_id", "seq"],
        unique=False,
        postgresql_where=sa.text("prev_team_id IS NOT NULL"),
        sqlite_where=sa.text("prev_team_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_change_log_prev_team_id_seq", table_name="change_log")
    op.drop_index("ix_change_log_prev_owner_id_seq", table_name="change_log")

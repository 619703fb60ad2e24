"""login throttle per (client address, username); the per-user lockout columns go

Revision ID: 0057b503dc05
Revises: f7b2c4d6e8a1
Create Date: 2026-12-05 06:30:55.343808
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "0057b503dc05"
down_revision: str | None = "f7b2c4d6e8a1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_throttle_expires_at"), ["expires_at"], unique=False)
    if op.get_context().dialect.name == "sqlite":
        # SQLite 3.35+ drops a column in place; batch mode would rebuild user_account, which
        # the foreign keys pointing at it refuse when they are on (a caller's transaction).
        op.execute("ALTER TABLE user_account DROP COLUMN failed_logins")
        op.execute("ALTER TABLE user_account DROP COLUMN locked_until")
    else:
        op.drop_column("user_account", "failed_logins")
        op.drop_column("user_account", "locked_until")


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locked_until", app.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_throttle_expires_at"))
    op.drop_table("login_throttle")

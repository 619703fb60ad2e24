"""sales targets

Revision ID: 4605b2c35783
Revises: 5f02f92fa3a8
Create Date: 2026-12-05 06:18:38.246861
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "4605b2c35783"
down_revision: str | None = "5f02f92fa3a8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "target",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("signed_amount", app.db.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("collected_amount", app.db.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("product", sa.String(length=100), nullable=True),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("subject_key", sa.String(length=400), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            app.db.types.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            app.db.types.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user_account.id"], name=op.f("fk_target_created_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["user_account.id"], name=op.f("fk_target_owner_id_user_account")
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["target.id"], name=op.f("fk_target_parent_id_target")),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name=op.f("fk_target_team_id_team")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_target")),
        sa.UniqueConstraint("subject_key", name=op.f("uq_target_subject_key")),
    )
    with op.batch_alter_table("target", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_target_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index("ix_target_period_level", ["period", "level"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("target", schema=None) as batch_op:
        batch_op.drop_index("ix_target_period_level")
        batch_op.drop_index(batch_op.f("ix_target_parent_id"))

    op.drop_table("target")

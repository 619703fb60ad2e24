"""funnel transitions, abandonment reviews, ownership events, settings

Revision ID: 354ada593c15
Revises: 7edf8abeaf0d
Create Date: 2026-11-25 15:04:50.260087
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db.types

revision: str = "354ada593c15"
down_revision: str | None = "7edf8abeaf0d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "setting",
        sa.Column("key", sa.String(length=30), nullable=False),
        sa.Column(
            "value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["user_account.id"], name=op.f("fk_setting_updated_by_user_account")
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_setting")),
    )
    op.create_table(
        "setting_history",
        sa.Column("key", sa.String(length=30), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["user_account.id"], name=op.f("fk_setting_history_actor_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_setting_history")),
    )
    op.create_index("ix_setting_history_key_version", "setting_history", ["key", "version"], unique=True)
    op.create_table(
        "ownership_event",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("event", sa.String(length=20), nullable=False),
        sa.Column("from_owner_id", sa.Uuid(), nullable=True),
        sa.Column("to_owner_id", sa.Uuid(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(length=100), nullable=True),
        sa.Column("at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["user_account.id"], name=op.f("fk_ownership_event_actor_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_ownership_event_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["from_owner_id"], ["user_account.id"], name=op.f("fk_ownership_event_from_owner_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["to_owner_id"], ["user_account.id"], name=op.f("fk_ownership_event_to_owner_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ownership_event")),
    )
    op.create_index("ix_ownership_event_customer_at", "ownership_event", ["customer_id", "at"], unique=False)
    op.create_index(
        "ix_ownership_event_from_owner_at", "ownership_event", ["from_owner_id", "event", "at"], unique=False
    )
    op.create_index(
        "ix_ownership_event_to_owner_at", "ownership_event", ["to_owner_id", "event", "at"], unique=False
    )
    op.create_table(
        "stage_transition",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("from_stage", sa.String(length=20), nullable=True),
        sa.Column("to_stage", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(length=50), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("days_in_from_stage", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column(
            "skipped",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("out_of_funnel", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("director_override", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["user_account.id"], name=op.f("fk_stage_transition_actor_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_stage_transition_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["user_account.id"], name=op.f("fk_stage_transition_owner_id_user_account")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name=op.f("fk_stage_transition_team_id_team")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_transition")),
    )
    op.create_index(
        "ix_stage_transition_customer_at", "stage_transition", ["customer_id", "at", "id"], unique=False
    )
    op.create_index("ix_stage_transition_owner_at", "stage_transition", ["owner_id", "at"], unique=False)
    op.create_index("ix_stage_transition_to_stage_at", "stage_transition", ["to_stage", "at"], unique=False)
    op.create_table(
        "abandonment_review",
        sa.Column("transition_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("reviewer_id", sa.Uuid(), nullable=False),
        sa.Column("verdict", sa.String(length=10), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_abandonment_review_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["user_account.id"], name=op.f("fk_abandonment_review_reviewer_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["transition_id"],
            ["stage_transition.id"],
            name=op.f("fk_abandonment_review_transition_id_stage_transition"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_abandonment_review")),
        sa.UniqueConstraint("transition_id", name=op.f("uq_abandonment_review_transition_id")),
    )
    op.create_index(
        op.f("ix_abandonment_review_customer_id"), "abandonment_review", ["customer_id"], unique=False
    )


def downgrade() -> None:

    op.drop_index(op.f("ix_abandonment_review_customer_id"), table_name="abandonment_review")
    op.drop_table("abandonment_review")
    op.drop_index("ix_stage_transition_to_stage_at", table_name="stage_transition")
    op.drop_index("ix_stage_transition_owner_at", table_name="stage_transition")
    op.drop_index("ix_stage_transition_customer_at", table_name="stage_transition")
    op.drop_table("stage_transition")
    op.drop_index("ix_ownership_event_to_owner_at", table_name="ownership_event")
    op.drop_index("ix_ownership_event_from_owner_at", table_name="ownership_event")
    op.drop_index("ix_ownership_event_customer_at", table_name="ownership_event")
    op.drop_table("ownership_event")
    op.drop_index("ix_setting_history_key_version", table_name="setting_history")
    op.drop_table("setting_history")
    op.drop_table("setting")

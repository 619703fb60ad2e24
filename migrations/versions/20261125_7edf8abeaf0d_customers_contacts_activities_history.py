"""customers, contacts, activities, history

Revision ID: 7edf8abeaf0d
Revises: dfdac1d73362
Create Date: 2026-11-25 14:54:40.145265
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db.types

revision: str = "7edf8abeaf0d"
down_revision: str | None = "dfdac1d73362"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _is_postgres():
        # Trigram indexes make name-fragment search (q=…) fast at a million customers.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "customer",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=True),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("size", sa.String(length=20), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("website", sa.String(length=300), nullable=True),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("discovered_by", sa.Uuid(), nullable=True),
        sa.Column("referred_by", sa.Uuid(), nullable=True),
        sa.Column(
            "interests",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "recommended_products",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("target_amount", app.db.types.Money(precision=18, scale=2), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("last_contact_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("stage_entered_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("out_of_funnel", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("cooldown_until", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completeness", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("deleted_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("merged_into", sa.Uuid(), nullable=True),
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
            ["created_by"], ["user_account.id"], name=op.f("fk_customer_created_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["discovered_by"], ["user_account.id"], name=op.f("fk_customer_discovered_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["merged_into"], ["customer.id"], name=op.f("fk_customer_merged_into_customer")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["user_account.id"], name=op.f("fk_customer_owner_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["referred_by"], ["customer.id"], name=op.f("fk_customer_referred_by_customer")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name=op.f("fk_customer_team_id_team")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer")),
    )
    op.create_index("ix_customer_name_id", "customer", ["name", "id"], unique=False)
    op.create_index(op.f("ix_customer_name_key"), "customer", ["name_key"], unique=False)
    if _is_postgres():
        op.create_index(
            "ix_customer_name_trgm",
            "customer",
            ["name"],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        )
    op.create_index(
        "ix_customer_owner_stage_updated", "customer", ["owner_id", "stage", "updated_at", "id"], unique=False
    )
    op.create_index("ix_customer_stage_updated", "customer", ["stage", "updated_at", "id"], unique=False)
    if _is_postgres():
        op.create_index("ix_customer_tags", "customer", ["tags"], unique=False, postgresql_using="gin")
    op.create_index("ix_customer_team_updated", "customer", ["team_id", "updated_at", "id"], unique=False)
    op.create_index("ix_customer_updated_at_id", "customer", ["updated_at", "id"], unique=False)
    op.create_index(op.f("ix_customer_uscc"), "customer", ["uscc"], unique=False)
    op.create_table(
        "contact",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=True),
        sa.Column(
            "phones",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "emails",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("wechat", sa.String(length=100), nullable=True),
        sa.Column("is_primary", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("deleted_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
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
            ["customer_id"], ["customer.id"], name=op.f("fk_contact_customer_id_customer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact")),
    )
    op.create_index(op.f("ix_contact_customer_id"), "contact", ["customer_id"], unique=False)
    if _is_postgres():
        op.create_index(
            "ix_contact_name_trgm",
            "contact",
            ["name"],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        )
    op.create_table(
        "customer_history",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("entity", sa.String(length=20), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=True),
        sa.Column(
            "changes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["user_account.id"], name=op.f("fk_customer_history_actor_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_customer_history_customer_id_customer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_history")),
    )
    op.create_index(
        "ix_customer_history_customer_at", "customer_history", ["customer_id", "at", "id"], unique=False
    )
    op.create_table(
        "activity",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("occurred_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=200), nullable=True),
        sa.Column("next_follow_up_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("location_lat", sa.Float(), nullable=True),
        sa.Column("location_lng", sa.Float(), nullable=True),
        sa.Column("location_accuracy_m", sa.Float(), nullable=True),
        sa.Column("location_address", sa.String(length=300), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.String(length=100), nullable=True),
        sa.Column("received_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
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
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"], name=op.f("fk_activity_contact_id_contact")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user_account.id"], name=op.f("fk_activity_created_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_activity_customer_id_customer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity")),
    )
    op.create_index(
        "ix_activity_created_by_occurred", "activity", ["created_by", "occurred_at", "id"], unique=False
    )
    op.create_index(
        "ix_activity_customer_occurred", "activity", ["customer_id", "occurred_at", "id"], unique=False
    )
    op.create_index("ix_activity_updated_at_id", "activity", ["updated_at", "id"], unique=False)
    op.create_table(
        "contact_point",
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("value", sa.String(length=254), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
            name=op.f("fk_contact_point_contact_id_contact"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_contact_point_customer_id_customer")
        ),
        sa.PrimaryKeyConstraint("contact_id", "kind", "value", name=op.f("pk_contact_point")),
    )
    op.create_index(op.f("ix_contact_point_customer_id"), "contact_point", ["customer_id"], unique=False)
    op.create_index("ix_contact_point_kind_value", "contact_point", ["kind", "value"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_contact_point_kind_value", table_name="contact_point")
    op.drop_index(op.f("ix_contact_point_customer_id"), table_name="contact_point")
    op.drop_table("contact_point")
    op.drop_index("ix_activity_updated_at_id", table_name="activity")
    op.drop_index("ix_activity_customer_occurred", table_name="activity")
    op.drop_index("ix_activity_created_by_occurred", table_name="activity")
    op.drop_table("activity")
    op.drop_index("ix_customer_history_customer_at", table_name="customer_history")
    op.drop_table("customer_history")
    if _is_postgres():
        op.drop_index(
            "ix_contact_name_trgm",
            table_name="contact",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        )
    op.drop_index(op.f("ix_contact_customer_id"), table_name="contact")
    op.drop_table("contact")
    op.drop_index(op.f("ix_customer_uscc"), table_name="customer")
    op.drop_index("ix_customer_updated_at_id", table_name="customer")
    op.drop_index("ix_customer_team_updated", table_name="customer")
    if _is_postgres():
        op.drop_index("ix_customer_tags", table_name="customer", postgresql_using="gin")
    op.drop_index("ix_customer_stage_updated", table_name="customer")
    op.drop_index("ix_customer_owner_stage_updated", table_name="customer")
    if _is_postgres():
        op.drop_index(
            "ix_customer_name_trgm",
            table_name="customer",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        )
    op.drop_index(op.f("ix_customer_name_key"), table_name="customer")
    op.drop_index("ix_customer_name_id", table_name="customer")
    op.drop_table("customer")

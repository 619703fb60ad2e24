"""tasks, change log, sync receipts

Revision ID: 884060a577e5
Revises: 03d10c034bd7
Create Date: 2026-11-25 15:14:19.614715
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "884060a577e5"
down_revision: str | None = "03d10c034bd7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "change_counter",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_counter")),
    )
    op.create_table(
        "change_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entity", sa.String(length=20), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("op", sa.String(length=10), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("prev_owner_id", sa.Uuid(), nullable=True),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("prev_team_id", sa.Uuid(), nullable=True),
        sa.Column("at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_change_log")),
    )
    op.create_index("ix_change_log_customer_id_seq", "change_log", ["customer_id", "seq"], unique=False)
    op.create_index("ix_change_log_entity_id_seq", "change_log", ["entity_id", "seq"], unique=False)
    op.create_index("ix_change_log_owner_id_seq", "change_log", ["owner_id", "seq"], unique=False)
    op.create_index("ix_change_log_team_id_seq", "change_log", ["team_id", "seq"], unique=False)
    op.create_table(
        "sync_receipt",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.String(length=100), nullable=False),
        sa.Column("entity", sa.String(length=20), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("op", sa.String(length=10), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=False),
        sa.Column("result_version", sa.Integer(), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_sync_receipt_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("user_id", "device_id", "entity", "entity_id", name=op.f("pk_sync_receipt")),
    )
    op.create_table(
        "task",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("assignee_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("activity_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("due_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("completed_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
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
        sa.ForeignKeyConstraint(["activity_id"], ["activity.id"], name=op.f("fk_task_activity_id_activity")),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["user_account.id"], name=op.f("fk_task_assignee_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user_account.id"], name=op.f("fk_task_created_by_user_account")
        ),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], name=op.f("fk_task_customer_id_customer")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task")),
    )
    op.create_index("ix_task_activity_id", "task", ["activity_id"], unique=False)
    op.create_index(
        "ix_task_assignee_status_due", "task", ["assignee_id", "status", "due_at", "id"], unique=False
    )
    op.create_index("ix_task_created_by", "task", ["created_by"], unique=False)
    op.create_index("ix_task_customer_due", "task", ["customer_id", "due_at", "id"], unique=False)
    op.create_index("ix_task_due_id", "task", ["due_at", "id"], unique=False)

    # Every existing customer gets a first change-log row with its current owner and team:
    # a later reassignment then knows whose devices to send the scope exit to. The counter
    # starts where that leaves off.
    op.execute(
        "INSERT INTO change_log (seq, entity, entity_id, customer_id, op, owner_id, team_id, at) "
        "SELECT ROW_NUMBER() OVER (ORDER BY id), 'customer', id, id, "
        "CASE WHEN deleted_at IS NULL THEN 'upsert' ELSE 'delete' END, owner_id, team_id, "
        "CURRENT_TIMESTAMP FROM customer"
    )
    op.execute("INSERT INTO change_counter (id, value) SELECT 1, COUNT(*) FROM customer")


def downgrade() -> None:
    op.drop_index("ix_task_due_id", table_name="task")
    op.drop_index("ix_task_customer_due", table_name="task")
    op.drop_index("ix_task_created_by", table_name="task")
    op.drop_index("ix_task_assignee_status_due", table_name="task")
    op.drop_index("ix_task_activity_id", table_name="task")
    op.drop_table("task")
    op.drop_table("sync_receipt")
    op.drop_index("ix_change_log_team_id_seq", table_name="change_log")
    op.drop_index("ix_change_log_owner_id_seq", table_name="change_log")
    op.drop_index("ix_change_log_entity_id_seq", table_name="change_log")
    op.drop_index("ix_change_log_customer_id_seq", table_name="change_log")
    op.drop_table("change_log")
    op.drop_table("change_counter")

"""complaints and surveys

Revision ID: 56040f84f1b7
Revises: 3f5b39a7fc36
Create Date: 2026-12-05 07:09:29.551899
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "56040f84f1b7"
down_revision: str | None = "3f5b39a7fc36"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "complaint",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("handler_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("respond_by", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolve_by", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("responded_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            app.db.types.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            app.db.types.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user_account.id"], name=op.f("fk_complaint_created_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_complaint_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["handler_id"], ["user_account.id"], name=op.f("fk_complaint_handler_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint")),
    )
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        batch_op.create_index("ix_complaint_created_id", ["created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_complaint_customer_created", ["customer_id", "created_at", "id"], unique=False
        )
        batch_op.create_index("ix_complaint_handler_status", ["handler_id", "status"], unique=False)
        batch_op.create_index("ix_complaint_status_resolve_by", ["status", "resolve_by"], unique=False)

    op.create_table(
        "survey",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("complaint_id", sa.Uuid(), nullable=True),
        sa.Column("contract_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["complaint_id"], ["complaint.id"], name=op.f("fk_survey_complaint_id_complaint")
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contract.id"], name=op.f("fk_survey_contract_id_contract")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user_account.id"], name=op.f("fk_survey_created_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_survey_customer_id_customer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey")),
    )
    with op.batch_alter_table("survey", schema=None) as batch_op:
        batch_op.create_index("ix_survey_complaint_id", ["complaint_id"], unique=False)
        batch_op.create_index("ix_survey_contract_id", ["contract_id"], unique=False)
        batch_op.create_index("ix_survey_created_id", ["created_at", "id"], unique=False)
        batch_op.create_index("ix_survey_customer_created", ["customer_id", "created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("survey", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_customer_created")
        batch_op.drop_index("ix_survey_created_id")
        batch_op.drop_index("ix_survey_contract_id")
        batch_op.drop_index("ix_survey_complaint_id")

    op.drop_table("survey")
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        batch_op.drop_index("ix_complaint_status_resolve_by")
        batch_op.drop_index("ix_complaint_handler_status")
        batch_op.drop_index("ix_complaint_customer_created")
        batch_op.drop_index("ix_complaint_created_id")

    op.drop_table("complaint")

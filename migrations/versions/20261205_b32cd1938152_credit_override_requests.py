"""credit override requests

Revision ID: b32cd1938152
Revises: ad21063706a6
Create Date: 2026-12-05 06:59:46.826508
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "b32cd1938152"
down_revision: str | None = "ad21063706a6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credit_override_request",
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("exposure_after", app.db.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_role", sa.String(length=20), nullable=True),
        sa.Column("decided_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("used_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
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
            ["contract_id"], ["contract.id"], name=op.f("fk_credit_override_request_contract_id_contract")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_credit_override_request_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["user_account.id"],
            name=op.f("fk_credit_override_request_decided_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["user_account.id"],
            name=op.f("fk_credit_override_request_requested_by_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_override_request")),
    )
    with op.batch_alter_table("credit_override_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_override_request_contract_id"), ["contract_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_credit_override_request_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            "ix_credit_override_request_status_created", ["status", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("credit_override_request", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_override_request_status_created")
        batch_op.drop_index(batch_op.f("ix_credit_override_request_customer_id"))
        batch_op.drop_index(batch_op.f("ix_credit_override_request_contract_id"))

    op.drop_table("credit_override_request")

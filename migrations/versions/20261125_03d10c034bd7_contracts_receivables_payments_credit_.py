"""contracts, receivables, payments, credit limits

Revision ID: 03d10c034bd7
Revises: 354ada593c15
Create Date: 2026-11-25 15:10:53.624052
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "03d10c034bd7"
down_revision: str | None = "354ada593c15"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "contract",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=50), nullable=False),
        sa.Column("amount", app.db.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("payment_terms_days", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("signed_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("signed_by", sa.Uuid(), nullable=True),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("override_by", sa.Uuid(), nullable=True),
        sa.Column("accepted_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
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
            ["created_by"], ["user_account.id"], name=op.f("fk_contract_created_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_contract_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["override_by"], ["user_account.id"], name=op.f("fk_contract_override_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["user_account.id"], name=op.f("fk_contract_owner_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["signed_by"], ["user_account.id"], name=op.f("fk_contract_signed_by_user_account")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], name=op.f("fk_contract_team_id_team")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract")),
        sa.UniqueConstraint("number", name=op.f("uq_contract_number")),
    )
    op.create_index("ix_contract_customer_status", "contract", ["customer_id", "status"], unique=False)
    op.create_index("ix_contract_owner_signed_at", "contract", ["owner_id", "signed_at"], unique=False)
    op.create_index("ix_contract_status_signed_at", "contract", ["status", "signed_at"], unique=False)
    op.create_table(
        "credit_limit_request",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("current_limit", app.db.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("requested_limit", app.db.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("required_role", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
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
            ["customer_id"], ["customer.id"], name=op.f("fk_credit_limit_request_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["user_account.id"], name=op.f("fk_credit_limit_request_decided_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["user_account.id"],
            name=op.f("fk_credit_limit_request_requested_by_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_limit_request")),
    )
    op.create_index(
        op.f("ix_credit_limit_request_customer_id"), "credit_limit_request", ["customer_id"], unique=False
    )
    op.create_index(
        "ix_credit_limit_request_status_created",
        "credit_limit_request",
        ["status", "created_at"],
        unique=False,
    )
    op.create_table(
        "credit_profile",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("credit_limit", app.db.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("payment_terms_days", sa.Integer(), nullable=False),
        sa.Column("on_hold", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("hold_reason", sa.String(length=200), nullable=True),
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
            ["customer_id"], ["customer.id"], name=op.f("fk_credit_profile_customer_id_customer")
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_credit_profile")),
    )
    op.create_table(
        "payment",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("amount", app.db.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("unallocated_amount", app.db.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("received_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user_account.id"], name=op.f("fk_payment_created_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_payment_customer_id_customer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment")),
    )
    op.create_index("ix_payment_customer_received", "payment", ["customer_id", "received_at"], unique=False)
    op.create_table(
        "credit_limit_change",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("old_limit", app.db.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("new_limit", app.db.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["user_account.id"], name=op.f("fk_credit_limit_change_actor_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_credit_limit_change_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["credit_limit_request.id"],
            name=op.f("fk_credit_limit_change_request_id_credit_limit_request"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_limit_change")),
    )
    op.create_index(
        "ix_credit_limit_change_customer_at", "credit_limit_change", ["customer_id", "at"], unique=False
    )
    op.create_table(
        "receivable",
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("amount", app.db.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("paid_amount", app.db.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("issued_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("written_off_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("write_off_reason", sa.Text(), nullable=True),
        sa.Column("written_off_by", sa.Uuid(), nullable=True),
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
            ["contract_id"], ["contract.id"], name=op.f("fk_receivable_contract_id_contract")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user_account.id"], name=op.f("fk_receivable_created_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_receivable_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["written_off_by"], ["user_account.id"], name=op.f("fk_receivable_written_off_by_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receivable")),
    )
    op.create_index(op.f("ix_receivable_contract_id"), "receivable", ["contract_id"], unique=False)
    op.create_index("ix_receivable_customer_due", "receivable", ["customer_id", "due_at"], unique=False)
    op.create_index("ix_receivable_due_at", "receivable", ["due_at"], unique=False)
    op.create_table(
        "payment_allocation",
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("receivable_id", sa.Uuid(), nullable=False),
        sa.Column("amount", app.db.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payment.id"], name=op.f("fk_payment_allocation_payment_id_payment")
        ),
        sa.ForeignKeyConstraint(
            ["receivable_id"], ["receivable.id"], name=op.f("fk_payment_allocation_receivable_id_receivable")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_allocation")),
    )
    op.create_index(
        op.f("ix_payment_allocation_payment_id"), "payment_allocation", ["payment_id"], unique=False
    )
    op.create_index(
        op.f("ix_payment_allocation_receivable_id"), "payment_allocation", ["receivable_id"], unique=False
    )


def downgrade() -> None:

    op.drop_index(op.f("ix_payment_allocation_receivable_id"), table_name="payment_allocation")
    op.drop_index(op.f("ix_payment_allocation_payment_id"), table_name="payment_allocation")
    op.drop_table("payment_allocation")
    op.drop_index("ix_receivable_due_at", table_name="receivable")
    op.drop_index("ix_receivable_customer_due", table_name="receivable")
    op.drop_index(op.f("ix_receivable_contract_id"), table_name="receivable")
    op.drop_table("receivable")
    op.drop_index("ix_credit_limit_change_customer_at", table_name="credit_limit_change")
    op.drop_table("credit_limit_change")
    op.drop_index("ix_payment_customer_received", table_name="payment")
    op.drop_table("payment")
    op.drop_table("credit_profile")
    op.drop_index("ix_credit_limit_request_status_created", table_name="credit_limit_request")
    op.drop_index(op.f("ix_credit_limit_request_customer_id"), table_name="credit_limit_request")
    op.drop_table("credit_limit_request")
    op.drop_index("ix_contract_status_signed_at", table_name="contract")
    op.drop_index("ix_contract_owner_signed_at", table_name="contract")
    op.drop_index("ix_contract_customer_status", table_name="contract")
    op.drop_table("contract")

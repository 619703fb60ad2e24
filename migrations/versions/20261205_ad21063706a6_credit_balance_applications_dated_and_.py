"""credit balance: applications dated and marked from credit, refunds

Revision ID: ad21063706a6
Revises: 4605b2c35783
Create Date: 2026-12-05 06:43:10.955530
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "ad21063706a6"
down_revision: str | None = "4605b2c35783"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credit_refund",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("amount", app.db.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("refunded_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user_account.id"], name=op.f("fk_credit_refund_created_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_credit_refund_customer_id_customer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_refund")),
    )
    with op.batch_alter_table("credit_refund", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credit_refund_customer_id"), ["customer_id"], unique=False)

    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "refunded_amount",
                app.db.types.Money(precision=18, scale=2),
                server_default="0",
                nullable=False,
            )
        )

    # Existing applications were all made when their payment arrived: date them so.
    with op.batch_alter_table("payment_allocation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("applied_at", app.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("from_credit", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute(
        "UPDATE payment_allocation SET applied_at = (SELECT payment.received_at FROM payment "
        "WHERE payment.id = payment_allocation.payment_id)"
    )
    with op.batch_alter_table("payment_allocation", schema=None) as batch_op:
        batch_op.alter_column(
            "applied_at", existing_type=app.db.types.UTCDateTime(timezone=True), nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("payment_allocation", schema=None) as batch_op:
        batch_op.drop_column("from_credit")
        batch_op.drop_column("applied_at")

    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.drop_column("refunded_amount")

    with op.batch_alter_table("credit_refund", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_refund_customer_id"))

    op.drop_table("credit_refund")

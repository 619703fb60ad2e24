"""customer gradings

Revision ID: b81e233ae2c6
Revises: 884060a577e5
Create Date: 2026-11-25 15:17:47.401407
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.db.types

revision: str = "b81e233ae2c6"
down_revision: str | None = "884060a577e5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "customer_grading",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=True),
        sa.Column("previous_grade", sa.String(length=1), nullable=True),
        sa.Column("change", sa.String(length=10), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column(
            "factors",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "inputs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "reasons",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["user_account.id"], name=op.f("fk_customer_grading_actor_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_customer_grading_customer_id_customer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_grading")),
    )
    op.create_index("ix_customer_grading_change_at", "customer_grading", ["change", "at"], unique=False)
    op.create_index(
        "ix_customer_grading_customer_at", "customer_grading", ["customer_id", "at", "id"], unique=False
    )


def downgrade() -> None:

    op.drop_index("ix_customer_grading_customer_at", table_name="customer_grading")
    op.drop_index("ix_customer_grading_change_at", table_name="customer_grading")
    op.drop_table("customer_grading")

"""report funnel aggregates (counters, duration histograms, run states), back-filled

Revision ID: 5f02f92fa3a8
Revises: c4e8f2a6b1d3
Create Date: 2026-12-05 06:06:11.020053
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.config import get_settings
from app.db import report_aggregates
from app.db import types as app_types

revision: str = "5f02f92fa3a8"
down_revision: str | None = "c4e8f2a6b1d3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_funnel_count",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("metric", sa.String(length=30), nullable=False),
        sa.Column("key", sa.String(length=30), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "owner_id", "team_id", "metric", "key", name=op.f("pk_report_funnel_count")
        ),
    )
    with op.batch_alter_table("report_funnel_count", schema=None) as batch_op:
        batch_op.create_index("ix_report_funnel_count_owner_day", ["owner_id", "day"], unique=False)
        batch_op.create_index("ix_report_funnel_count_team_day", ["team_id", "day"], unique=False)

    op.create_table(
        "report_funnel_duration",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("centidays", sa.Integer(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "owner_id", "team_id", "stage", "centidays", name=op.f("pk_report_funnel_duration")
        ),
    )
    with op.batch_alter_table("report_funnel_duration", schema=None) as batch_op:
        batch_op.create_index("ix_report_funnel_duration_owner_day", ["owner_id", "day"], unique=False)
        batch_op.create_index("ix_report_funnel_duration_team_day", ["team_id", "day"], unique=False)

    op.create_table(
        "report_funnel_state",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("out_of_funnel", sa.Boolean(), nullable=False),
        sa.Column(
            "visits",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_report_funnel_state")),
    )
    # Back-fill from the transitions stored so far, as this revision's schema has them.
    transitions = sa.table(
        "stage_transition",
        sa.column("id", sa.Uuid()),
        sa.column("customer_id", sa.Uuid()),
        sa.column("from_stage", sa.String()),
        sa.column("to_stage", sa.String()),
        sa.column("at", app_types.UTCDateTime()),
        sa.column("owner_id", sa.Uuid()),
        sa.column("team_id", sa.Uuid()),
        sa.column("reason", sa.String()),
        sa.column("out_of_funnel", sa.Boolean()),
    )
    report_aggregates.rebuild(op.get_bind(), get_settings().tz, transitions=transitions)


def downgrade() -> None:
    op.drop_table("report_funnel_state")
    with op.batch_alter_table("report_funnel_duration", schema=None) as batch_op:
        batch_op.drop_index("ix_report_funnel_duration_team_day")
        batch_op.drop_index("ix_report_funnel_duration_owner_day")

    op.drop_table("report_funnel_duration")
    with op.batch_alter_table("report_funnel_count", schema=None) as batch_op:
        batch_op.drop_index("ix_report_funnel_count_team_day")
        batch_op.drop_index("ix_report_funnel_count_owner_day")

    op.drop_table("report_funnel_count")

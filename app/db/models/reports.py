"""Report aggregates, kept current with every stage transition (see app/domain/reports.py).

Owner and team are never null here: a customer without an owner (the pool) or a team is
counted under the nil UUID, so the rows have a plain primary key on both databases.
The aggregates have no foreign keys: they are derived data, rebuilt from the transitions by
``crm reports rebuild`` (and the migration that created them).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, IdMixin, TimestampMixin, VersionedMixin
from app.db.types import JSONDoc, Money

NIL = uuid.UUID(int=0)


class ReportFunnelCount(Base):
    """Counters per business day x owner x team x (metric, key)."""

    __tablename__ = "report_funnel_count"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    team_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    metric: Mapped[str] = mapped_column(String(30), primary_key=True)
    key: Mapped[str] = mapped_column(String(30), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_report_funnel_count_owner_day", "owner_id", "day"),
        Index("ix_report_funnel_count_team_day", "team_id", "day"),
    )


class ReportFunnelDuration(Base):
    """How many entries of a stage left it forward after so many hundredths of a day."""

    __tablename__ = "report_funnel_duration"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    team_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    stage: Mapped[str] = mapped_column(String(20), primary_key=True)
    centidays: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_report_funnel_duration_owner_day", "owner_id", "day"),
        Index("ix_report_funnel_duration_team_day", "team_id", "day"),
    )


class ReportFunnelState(Base):
    """A customer's current run: the stages entered and whether each was left forward."""

    __tablename__ = "report_funnel_state"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    out_of_funnel: Mapped[bool] = mapped_column(Boolean, default=False)
    visits: Mapped[dict[str, Any]] = mapped_column(JSONDoc)


class Target(IdMixin, TimestampMixin, VersionedMixin, Base):
    """A sales target (销售目标): amounts to sign and to collect for a period, at company,
    team or rep level, optionally for a product or region; ``parent_id`` decomposes it."""

    __tablename__ = "target"

    period: Mapped[str] = mapped_column(String(7))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    level: Mapped[str] = mapped_column(String(10))
    team_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("team.id"))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("target.id"), index=True)
    signed_amount: Mapped[Decimal] = mapped_column(Money)
    collected_amount: Mapped[Decimal] = mapped_column(Money)
    product: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    # period|level|team|owner|product|region: one target per subject and period.
    subject_key: Mapped[str] = mapped_column(String(400), unique=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))

    __table_args__ = (Index("ix_target_period_level", "period", "level"),)

"""Report aggregates, kept current with every stage transition (see app/domain/reports.py).

Owner and team are never null here: a customer without an owner (the pool) or a team is
counted under the nil UUID, so the rows have a plain primary key on both databases.
There are no foreign keys: these rows are derived data, rebuilt from the transitions by
``crm reports rebuild`` (and the migration that created them).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.db.types import JSONDoc

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

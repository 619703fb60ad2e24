"""Funnel and pool records: stage transitions, abandonment reviews, ownership events, settings."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Numeric, String, Text, Uuid, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, IdMixin, utcnow
from app.db.types import JSONDoc, UTCDateTime


class StageTransition(IdMixin, Base):
    """One move of a customer through the funnel; reports are computed from these rows."""

    __tablename__ = "stage_transition"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customer.id"))
    # Null for the stage a customer was created in.
    from_stage: Mapped[str | None] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))
    reason: Mapped[str | None] = mapped_column(String(50))
    note: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))
    team_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("team.id"))
    days_in_from_stage: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    skipped: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    out_of_funnel: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    director_override: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        Index("ix_stage_transition_customer_at", "customer_id", "at", "id"),
        Index("ix_stage_transition_to_stage_at", "to_stage", "at"),
        Index("ix_stage_transition_owner_at", "owner_id", "at"),
    )


class AbandonmentReview(IdMixin, Base):
    """The owner's manager's evaluation of an abandonment (agree or not, and why)."""

    __tablename__ = "abandonment_review"

    transition_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("stage_transition.id"), unique=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customer.id"), index=True)
    reviewer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id"))
    verdict: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OwnershipEvent(IdMixin, Base):
    """Who held a customer when: claims, releases, assignments, recycling, handovers."""

    __tablename__ = "ownership_event"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customer.id"))
    event: Mapped[str] = mapped_column(String(20))
    from_owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))
    to_owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))
    # Allocation and handover plans explain themselves in a sentence.
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_ownership_event_customer_at", "customer_id", "at"),
        Index("ix_ownership_event_from_owner_at", "from_owner_id", "event", "at"),
        Index("ix_ownership_event_to_owner_at", "to_owner_id", "event", "at"),
    )


class Setting(Base):
    """A versioned policy document (funnel, pool, credit, grading) editable through the API."""

    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(String(30), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))

    __mapper_args__ = {"version_id_col": version}


class SettingHistory(IdMixin, Base):
    __tablename__ = "setting_history"

    key: Mapped[str] = mapped_column(String(30))
    version: Mapped[int]
    value: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))

    __table_args__ = (Index("ix_setting_history_key_version", "key", "version", unique=True),)

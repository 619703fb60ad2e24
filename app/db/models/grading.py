"""Stored gradings: every scorecard keeps its inputs, factor scores and policy version."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, IdMixin, utcnow
from app.db.types import JSONDoc, UTCDateTime


class CustomerGrading(IdMixin, Base):
    __tablename__ = "customer_grading"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customer.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    eligible: Mapped[bool] = mapped_column(Boolean)
    grade: Mapped[str | None] = mapped_column(String(1))
    previous_grade: Mapped[str | None] = mapped_column(String(1))
    change: Mapped[str] = mapped_column(String(10))  # up | down | same | new
    total: Mapped[int | None] = mapped_column(Integer)
    factors: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    reasons: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    policy_version: Mapped[int] = mapped_column(Integer)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))

    __table_args__ = (
        Index("ix_customer_grading_customer_at", "customer_id", "at", "id"),
        Index("ix_customer_grading_change_at", "change", "at"),
    )

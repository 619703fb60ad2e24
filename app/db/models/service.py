"""Service: complaints with their deadlines, and satisfaction surveys."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, SmallInteger, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, IdMixin, TimestampMixin, VersionedMixin, utcnow
from app.db.types import UTCDateTime


class Complaint(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "complaint"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customer.id"))
    category: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    handler_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))
    status: Mapped[str] = mapped_column(String(20), default="open")
    # Fixed from the service settings when it is opened (and when its severity changes).
    respond_by: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    resolve_by: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    responded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id"))

    __table_args__ = (
        Index("ix_complaint_customer_created", "customer_id", "created_at", "id"),
        Index("ix_complaint_created_id", "created_at", "id"),
        # Open work by handler, and the overdue sweep of the worklist.
        Index("ix_complaint_handler_status", "handler_id", "status"),
        Index("ix_complaint_status_resolve_by", "status", "resolve_by"),
    )


class Survey(IdMixin, Base):
    """One answer to a satisfaction survey: csat 1–5 or nps 0–10. Answers are not edited."""

    __tablename__ = "survey"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customer.id"))
    kind: Mapped[str] = mapped_column(String(10))
    score: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    complaint_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("complaint.id"))
    contract_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("contract.id"))
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_survey_customer_created", "customer_id", "created_at", "id"),
        Index("ix_survey_created_id", "created_at", "id"),
        Index("ix_survey_complaint_id", "complaint_id"),
        Index("ix_survey_contract_id", "contract_id"),
    )


__all__ = ["Complaint", "Survey"]

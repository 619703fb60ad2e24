"""Tasks: follow-ups with an assignee, a due time and a status, optionally on a customer."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin, VersionedMixin
from app.db.types import UTCDateTime


class Task(TimestampMixin, VersionedMixin, Base):
    __tablename__ = "task"

    # Clients may generate the id offline.
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    assignee_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id"))
    # Fixed at creation: a task does not move between customers or activities.
    customer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("customer.id"))
    activity_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("activity.id"))
    title: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="open")
    # When it was done or cancelled; cleared when it is reopened.
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # manual | follow_up (created from an activity's next_follow_up_at)
    source: Mapped[str] = mapped_column(String(20), default="manual")
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id"))
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # "My open tasks by due time" and the default listing order.
        Index("ix_task_assignee_status_due", "assignee_id", "status", "due_at", "id"),
        Index("ix_task_customer_due", "customer_id", "due_at", "id"),
        Index("ix_task_due_id", "due_at", "id"),
        Index("ix_task_activity_id", "activity_id"),
        Index("ix_task_created_by", "created_by"),
    )


__all__ = ["Task"]

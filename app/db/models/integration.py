"""Integration: API keys of service accounts, webhook endpoints, the outbox and deliveries."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Uuid, true
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, IdMixin, TimestampMixin, VersionedMixin, utcnow
from app.db.types import UTCDateTime


class ApiKey(IdMixin, Base):
    """A service account's key. Only a SHA-256 hash of the key is stored; ``lookup`` (the
    non-secret part after ``crm_``) finds the row, the hash is then compared in constant time.

    Each key acts as its own service-account user (role ``integration``), so what it
    creates or changes is attributed to it.
    """

    __tablename__ = "api_key"

    name: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id"), index=True)
    lookup: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    team_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("team.id", ondelete="RESTRICT"))
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    rotated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebhookEndpoint(IdMixin, TimestampMixin, VersionedMixin, Base):
    """A subscription: where to POST which event types, signed with ``secret``.

    The secret must be kept readable to sign with (an HMAC key, not a password); it is only
    ever answered once, when the endpoint is created.
    """

    __tablename__ = "webhook_endpoint"

    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    # Start of the current run of failed attempts (null after a success): drives disabling.
    failing_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id"), index=True)


class WebhookEvent(IdMixin, Base):
    """The outbox: one row per event, written in the transaction that made the change; its
    id is the ``webhook-id`` every delivery of it carries."""

    __tablename__ = "webhook_event"

    type: Mapped[str] = mapped_column(String(50))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(IdMixin, Base):
    """One event to one endpoint: retried until it succeeds or the retry window closes."""

    __tablename__ = "webhook_delivery"

    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("webhook_endpoint.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("webhook_event.id"))
    event_type: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|succeeded|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When the next attempt is due; a worker that claims the delivery pushes it forward by a
    # lease, so a worker killed mid-attempt leaves it to be picked up again.
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_endpoint_created", "endpoint_id", "created_at", "id"),
    )


class WebhookAttempt(IdMixin, Base):
    """Every attempt, with its outcome and latency."""

    __tablename__ = "webhook_attempt"

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("webhook_delivery.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    latency_ms: Mapped[int] = mapped_column(Integer)


__all__ = ["ApiKey", "WebhookAttempt", "WebhookDelivery", "WebhookEndpoint", "WebhookEvent"]

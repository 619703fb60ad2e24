"""Integration: API keys of service accounts."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, IdMixin, utcnow
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


__all__ = ["ApiKey"]

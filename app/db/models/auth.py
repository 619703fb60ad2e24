"""Refresh tokens (stored hashed, rotated in families), idempotency records and the login
throttle."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, IdMixin, utcnow
from app.db.types import UTCDateTime


class RefreshToken(IdMixin, Base):
    __tablename__ = "refresh_token"

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    # Every token issued from one login shares a family; reuse of a rotated token kills it.
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    rotated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class IdempotencyRecord(IdMixin, Base):
    __tablename__ = "idempotency_record"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    # Null while the first request is still being processed.
    status_code: Mapped[int | None]
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    content_type: Mapped[str | None] = mapped_column(String(100))
    response_headers: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    # Which run of the request holds the key: a retry may take over a key whose run died
    # before committing anything, and then only its own commit is accepted (a fence).
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Set in the same transaction as the request's first commit: its effect happened.
    committed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        Index("ix_idempotency_record_created_at", "created_at"),
    )


class LoginThrottle(Base):
    """Failed logins of one (client address, username) pair, whether or not the user exists.

    ``key`` is a SHA-256 of the pair, so the table holds no addresses or usernames.
    """

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The failures are forgotten this long after the last one (the row is purged).
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)

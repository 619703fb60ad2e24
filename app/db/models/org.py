"""Organisation: users and the team tree."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, ForeignKey, Index, String, Uuid, true
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, IdMixin, TimestampMixin, VersionedMixin
from app.db.types import UTCDateTime


class Team(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "team"

    name: Mapped[str] = mapped_column(String(100))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("team.id", ondelete="RESTRICT"), index=True
    )
    # Materialised path "/<root id>/…/<own id>/": descendants are a prefix match.
    path: Mapped[str] = mapped_column(String(1000), index=True)
    manager_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL", use_alter=True), index=True
    )


class User(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "user_account"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("team.id", ondelete="RESTRICT"), index=True
    )
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_user_account_role_active", "role", "is_active"),)

"""Customers, their contacts, tags, searchable contact points, activities and history."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, IdMixin, TimestampMixin, VersionedMixin, utcnow
from app.db.types import JSONDoc, Money, UTCDateTime


class Customer(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "customer"

    name: Mapped[str] = mapped_column(String(200))
    # Normalised name without legal-form suffixes: the duplicate-detection key.
    name_key: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    industry: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(300))
    website: Mapped[str | None] = mapped_column(String(300))

    stage: Mapped[str] = mapped_column(String(20), default="resource")
    grade: Mapped[str | None] = mapped_column(String(1))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))
    team_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("team.id"))
    source: Mapped[str] = mapped_column(String(30))
    discovered_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))
    referred_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("customer.id"))
    interests: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    tags: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    recommended_products: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    target_amount: Mapped[Decimal | None] = mapped_column(Money)
    notes: Mapped[str | None] = mapped_column(Text)

    last_contact_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    stage_entered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    out_of_funnel: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    cooldown_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    completeness: Mapped[int] = mapped_column(Integer, default=0)

    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    merged_into: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("customer.id"))

    __table_args__ = (
        # Default listing and incremental pulls: newest changes first, keyset by id.
        Index("ix_customer_updated_at_id", "updated_at", "id"),
        Index("ix_customer_name_id", "name", "id"),
        # A rep's (or a filter's) customers by stage, in listing order.
        Index("ix_customer_owner_stage_updated", "owner_id", "stage", "updated_at", "id"),
        Index("ix_customer_team_updated", "team_id", "updated_at", "id"),
        Index("ix_customer_stage_updated", "stage", "updated_at", "id"),
        # Name fragments (q=…) on PostgreSQL: trigrams for 3+ characters, and the 1- and
        # 2-character grams of crm_name_grams() (a migration defines it) for shorter ones.
        Index(
            "ix_customer_name_trgm", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}
        ).ddl_if(dialect="postgresql"),
        Index("ix_customer_name_grams", text("crm_name_grams(name)"), postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
        # ?tag= as JSONB containment on PostgreSQL.
        Index("ix_customer_tags", "tags", postgresql_using="gin").ddl_if(dialect="postgresql"),
        # The pool recycler's sweeps: owned customers (a few percent of a mature database)
        # and cooldowns in progress, instead of every row.
        Index(
            "ix_customer_owned_id",
            "id",
            postgresql_where=text("owner_id IS NOT NULL AND deleted_at IS NULL"),
            sqlite_where=text("owner_id IS NOT NULL AND deleted_at IS NULL"),
        ),
        Index(
            "ix_customer_cooldown_until",
            "cooldown_until",
            postgresql_where=text("cooldown_until IS NOT NULL"),
            sqlite_where=text("cooldown_until IS NOT NULL"),
        ),
    )


class Contact(IdMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "contact"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customer.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(100))
    phones: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    emails: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    wechat: Mapped[str | None] = mapped_column(String(100))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    notes: Mapped[str | None] = mapped_column(Text)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index(
            "ix_contact_name_trgm", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}
        ).ddl_if(dialect="postgresql"),
        Index("ix_contact_name_grams", text("crm_name_grams(name)"), postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )


class ContactPoint(Base):
    """Normalised phones and emails of live contacts: exact, indexed search and dedup."""

    __tablename__ = "contact_point"

    contact_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # phone | email
    value: Mapped[str] = mapped_column(String(254), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customer.id"), index=True)

    __table_args__ = (Index("ix_contact_point_kind_value", "kind", "value"),)


class Activity(TimestampMixin, VersionedMixin, Base):
    __tablename__ = "activity"

    # Clients may generate the id offline.
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customer.id"))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("contact.id"))
    type: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    subject: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(200))
    next_follow_up_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    location_lat: Mapped[float | None] = mapped_column(Float)
    location_lng: Mapped[float | None] = mapped_column(Float)
    location_accuracy_m: Mapped[float | None] = mapped_column(Float)
    location_address: Mapped[str | None] = mapped_column(String(300))
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id"))
    device_id: Mapped[str | None] = mapped_column(String(100))
    # When the server received it (a device may log offline and sync later).
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_activity_customer_occurred", "customer_id", "occurred_at", "id"),
        Index("ix_activity_created_by_occurred", "created_by", "occurred_at", "id"),
        Index("ix_activity_updated_at_id", "updated_at", "id"),
    )


class CustomerHistory(IdMixin, Base):
    """Audit trail: who changed what on a customer (or its contacts), old → new."""

    __tablename__ = "customer_history"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("customer.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"))
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(20), default="customer")
    entity_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # {"field": [old, new], ...} in JSON-friendly values.
    changes: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)

    __table_args__ = (Index("ix_customer_history_customer_at", "customer_id", "at", "id"),)


__all__ = ["Activity", "Contact", "ContactPoint", "Customer", "CustomerHistory"]

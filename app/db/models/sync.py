"""Offline sync bookkeeping: the change log, its sequence counter and per-device push receipts."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow
from app.db.types import UTCDateTime


class ChangeLog(Base):
    """One row per syncable record (customer, contact, activity, task) changed by a committed
    transaction, numbered without gaps in commit order; devices pull it by ``seq``.

    ``owner_id``/``team_id`` route the row: the record's customer's owner and team after the
    change (for a task without a customer, its assignee and the assignee's team). On customer
    rows (and customer-less task rows) ``prev_owner_id``/``prev_team_id`` hold the routing of
    the record's previous row, so a pull can tell a record entering or leaving a scope.
    """

    __tablename__ = "change_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entity: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    op: Mapped[str] = mapped_column(String(10))  # upsert | delete
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    prev_owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    team_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    prev_team_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        # The previous routing of a customer (or of a customer-less task) at commit time.
        Index("ix_change_log_customer_id_seq", "customer_id", "seq"),
        Index("ix_change_log_entity_id_seq", "entity_id", "seq"),
        # A rep's or a manager's pull: "routed to me now or before", each arm by index.
        Index("ix_change_log_owner_id_seq", "owner_id", "seq"),
        Index("ix_change_log_team_id_seq", "team_id", "seq"),
        Index(
            "ix_change_log_prev_owner_id_seq",
            "prev_owner_id",
            "seq",
            postgresql_where=text("prev_owner_id IS NOT NULL"),
            sqlite_where=text("prev_owner_id IS NOT NULL"),
        ),
        Index(
            "ix_change_log_prev_team_id_seq",
            "prev_team_id",
            "seq",
            postgresql_where=text("prev_team_id IS NOT NULL"),
            sqlite_where=text("prev_team_id IS NOT NULL"),
        ),
    )


class ChangeCounter(Base):
    """The single row that hands out change-log sequence numbers.

    Writers take a block with ``UPDATE … SET value = value + n RETURNING value`` just before
    they commit; the row lock makes commits happen in sequence order, so a reader that sees
    ``value = N`` committed can rely on every row up to N being committed too.
    """

    __tablename__ = "change_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger)


class SyncReceipt(Base):
    """The last change a device pushed for a record, so a re-sent push is recognised.

    ``base_version`` is the version the device edited (0 for a create) and ``result_version``
    the version the server answered; a retry after a lost response carries the same base and
    payload and is answered "applied" again without applying anything.
    """

    __tablename__ = "sync_receipt"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id"), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    entity: Mapped[str] = mapped_column(String(20), primary_key=True)
    entity_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    op: Mapped[str] = mapped_column(String(10))
    base_version: Mapped[int] = mapped_column(Integer)
    result_version: Mapped[int] = mapped_column(Integer)
    payload_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = ["ChangeCounter", "ChangeLog", "SyncReceipt"]

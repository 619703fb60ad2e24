"""Which syncable rows a transaction changed: collected here, written to the change log at commit.

Every unit of work carries a :class:`ChangeSet` in ``session.info``. Rows changed through the
ORM (new, modified, soft- or hard-deleted customers, contacts, activities and tasks, and
contracts, receivables and payments for the integration change feed) are
noted by a flush listener; rows changed by bulk/Core statements behind the ORM's back must
be noted by the repository that runs the statement, with :func:`note_changed`. That is the
one mechanism: nothing else writes to the change log.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.db.models import Activity, Contact, Contract, Customer, Payment, Receivable, Task

_INFO_KEY = "crm.change_set"

SYNCABLE: dict[type[Any], str] = {
    Customer: "customer",
    Contact: "contact",
    Activity: "activity",
    Task: "task",
    Contract: "contract",
    Receivable: "receivable",
    Payment: "payment",
}
# Within one transaction parents are logged before children, so a device that applies the
# log in order meets a customer before its contacts, activities and tasks (and a feed
# reader a contract before its receivables).
ENTITY_ORDER = ("customer", "contact", "activity", "task", "contract", "receivable", "payment")
# What mobile devices sync (docs/sync.md); the rest is only in the integration feed.
DEVICE_ENTITIES = ("customer", "contact", "activity", "task")


@dataclass(frozen=True, slots=True)
class Seen:
    """What is known about a changed row: from the flush, or (``known`` false) nothing yet,
    because a bulk statement changed it; such rows are read back when the log is written."""

    customer_id: uuid.UUID | None = None
    deleted: bool = False
    assignee_id: uuid.UUID | None = None
    # Inserted by this transaction: it has no earlier change-log row to compare routing with.
    created: bool = False
    known: bool = False


_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class Event:
    """A business event for webhooks, written to the outbox when the transaction commits."""

    type: str
    data: dict[str, Any]


class ChangeSet:
    """Syncable rows changed in the current transaction, keyed by (entity, id).

    A journal lets a rolled back savepoint forget what it noted.
    """

    def __init__(self) -> None:
        self._seen: dict[tuple[str, uuid.UUID], Seen] = {}
        self._journal: list[tuple[tuple[str, uuid.UUID], Any]] = []
        self.events: list[Event] = []

    def __bool__(self) -> bool:
        return bool(self._seen)

    def __len__(self) -> int:
        return len(self._seen)

    def _set(self, key: tuple[str, uuid.UUID], value: Seen) -> None:
        self._journal.append((key, self._seen.get(key, _MISSING)))
        self._seen[key] = value

    def add(self, entity: str, ids: Iterable[uuid.UUID]) -> None:
        """Note rows a bulk statement changed; their state is read back at commit."""
        if entity not in ENTITY_ORDER:
            raise ValueError(f"not a syncable entity: {entity}")
        for entity_id in ids:
            key = (entity, entity_id)
            previous = self._seen.get(key)
            # A row created earlier in the transaction stays "created" (no previous routing).
            self._set(key, Seen(created=previous is not None and previous.created))

    def capture(self, obj: Any, *, created: bool = False, hard_deleted: bool = False) -> None:
        entity = SYNCABLE.get(type(obj))
        if entity is None:
            return
        key = (entity, obj.id)
        previous = self._seen.get(key)
        self._set(
            key,
            Seen(
                customer_id=obj.id if entity == "customer" else obj.customer_id,
                deleted=hard_deleted or getattr(obj, "deleted_at", None) is not None,
                assignee_id=obj.assignee_id if entity == "task" else None,
                created=created or (previous is not None and previous.created),
                known=True,
            ),
        )

    def emit(self, type_: str, **data: Any) -> None:
        self.events.append(Event(type_, {k: _plain(v) for k, v in data.items()}))

    def mark(self) -> tuple[int, int]:
        return len(self._journal), len(self.events)

    def rollback_to(self, mark: tuple[int, int]) -> None:
        journal, events = mark
        del self.events[events:]
        while len(self._journal) > journal:
            key, previous = self._journal.pop()
            if previous is _MISSING:
                self._seen.pop(key, None)
            else:
                self._seen[key] = previous

    def clear(self) -> None:
        self._seen.clear()
        self._journal.clear()
        self.events.clear()

    def items(self) -> Iterator[tuple[str, uuid.UUID, Seen]]:
        """Every noted row, parents first, each entity in the order it was first noted."""
        for entity in ENTITY_ORDER:
            for (kind, entity_id), seen in self._seen.items():
                if kind == entity:
                    yield kind, entity_id, seen


def attach(session: AsyncSession) -> ChangeSet:
    changes = ChangeSet()
    session.info[_INFO_KEY] = changes
    return changes


def note_changed(
    session: AsyncSession | Session, entity: str, ids: Iterable[uuid.UUID], *, event: str | None = None
) -> None:
    """For repositories: rows of ``entity`` changed by a bulk UPDATE/INSERT the ORM did not see
    (and, with ``event``, the webhook event each of them raises, e.g. ``customer.owner_changed``)."""
    changes = session.info.get(_INFO_KEY)
    if changes is not None:
        ids = list(ids)
        changes.add(entity, ids)
        for entity_id in ids:
            if entity == "customer":
                changes.emit("customer.updated", id=entity_id)
            if event is not None:
                changes.emit(event, id=entity_id)


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _changed(obj: Any, name: str) -> tuple[Any, Any] | None:
    """(before, after) of an attribute this flush changed, or None."""
    history = inspect(obj).attrs[name].history
    if not history.added:
        return None
    return (history.deleted[0] if history.deleted else None), history.added[0]


def _customer_events(changes: ChangeSet, obj: Any, *, created: bool) -> None:
    if created:
        changes.emit("customer.created", id=obj.id)
        return
    deleted = _changed(obj, "deleted_at")
    if deleted is not None and deleted[1] is not None:
        if obj.merged_into is not None:
            changes.emit("customer.merged", id=obj.id, merged_into=obj.merged_into)
        else:
            changes.emit("customer.deleted", id=obj.id)
        return
    changes.emit("customer.updated", id=obj.id)
    for name, kind in (("stage", "stage_changed"), ("owner_id", "owner_changed"), ("grade", "grade_changed")):
        moved = _changed(obj, name)
        if moved is not None and moved[0] != moved[1]:
            changes.emit(f"customer.{kind}", id=obj.id, **{"from": moved[0], "to": moved[1]})


def _events(changes: ChangeSet, obj: Any, *, created: bool) -> None:
    kind = SYNCABLE.get(type(obj))
    if kind == "customer":
        _customer_events(changes, obj, created=created)
    elif kind == "contract":
        status = (None, obj.status) if created else _changed(obj, "status")
        if status is not None and status[1] in ("signed", "cancelled") and status[0] != status[1]:
            changes.emit(f"contract.{status[1]}", id=obj.id, customer_id=obj.customer_id)
    elif kind == "payment" and created:
        changes.emit("payment.received", id=obj.id, customer_id=obj.customer_id, amount=obj.amount)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    # Still the pre-flush view here: new/dirty/deleted and attribute history are intact.
    changes: ChangeSet | None = session.info.get(_INFO_KEY)
    if changes is None:
        return
    for obj in session.new:
        changes.capture(obj, created=True)
        _events(changes, obj, created=True)
    for obj in session.dirty:
        if type(obj) in SYNCABLE and session.is_modified(obj, include_collections=False):
            changes.capture(obj)
            _events(changes, obj, created=False)
    for obj in session.deleted:
        changes.capture(obj, hard_deleted=True)


__all__ = [
    "DEVICE_ENTITIES",
    "ENTITY_ORDER",
    "SYNCABLE",
    "ChangeSet",
    "Event",
    "Seen",
    "attach",
    "note_changed",
]

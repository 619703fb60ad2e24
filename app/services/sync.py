"""Offline sync for mobile apps: push a batch of activity and task changes; pull the change log.

Push applies each change through the same service functions the HTTP API uses (scope,
roles, validation), in transactions of a few dozen changes where a failing change is
isolated in a savepoint of its own, and keeps a receipt per (user, device, record) so a
re-sent batch applies nothing twice. Pull hands out the caller's scope: first a paged
snapshot, then the change log after the snapshot's high-water mark, behind an opaque,
signed cursor.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.config import get_settings
from app.db.base import utcnow
from app.db.repositories.sync import CHILD_KINDS
from app.db.uow import UnitOfWork
from app.domain.errors import (
    DomainError,
    Forbidden,
    IntegrityConflict,
    InvalidInput,
    NotFound,
    SyncBatchTooLarge,
    SyncInvalidCursor,
    SyncRecordDeleted,
    VersionMismatch,
)
from app.domain.roles import Principal, masks_contact_details
from app.domain.sync import MAX_PUSH_CHANGES, Action, LogEntry, Step, SyncScope, plan_page
from app.services import activities as activities_service
from app.services import tasks as tasks_service
from app.services.customers import contact_view

# Roles whose devices push (finance and integrations only read).
PUSHERS = activities_service.LOGGERS
# Changes applied per transaction: short row locks, few savepoints per transaction, and a
# retry of a half-applied batch is safe thanks to the receipts.
ITEMS_PER_TRANSACTION = 50
# Fields a device may send back with a record it received but that it cannot change.
_IMMUTABLE = {"activity": ("customer_id",), "task": ("customer_id", "activity_id")}
_REQUIRED_ON_CREATE = {"activity": ("customer_id", "type", "occurred_at"), "task": ("title", "due_at")}


# ----------------------------------------------------------------------------------------
# Push
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PushItem:
    """One change as parsed from the request; ``errors`` set means it is rejected unread."""

    entity: str
    op: str
    raw_id: Any
    id: uuid.UUID | None = None
    base_version: int | None = None
    values: dict[str, Any] | None = None
    errors: list[dict[str, Any]] | None = None
    code: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class PushResult:
    id: Any
    status: str  # applied | conflict | rejected
    entity: str | None = None
    version: int | None = None
    # For a conflict: the server's copy (an Activity or a Task), loaded before commit.
    server: Any = None
    code: str | None = None
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


def payload_hash(item: PushItem) -> str:
    """What a re-sent change is recognised by: its entity, op and data, canonically."""
    canonical = json.dumps(
        {"entity": item.entity, "op": item.op, "data": item.values or {}},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def push(
    uow: UnitOfWork, actor: Principal, *, device_id: str, items: Sequence[PushItem]
) -> list[PushResult]:
    """Apply a batch in order; each change answers applied, conflict or rejected."""
    if len(items) > MAX_PUSH_CHANGES:
        raise SyncBatchTooLarge(
            f"A push carries at most {MAX_PUSH_CHANGES} changes; split the batch",
            limit=MAX_PUSH_CHANGES,
            size=len(items),
        )
    if actor.role not in PUSHERS:
        raise Forbidden("Your role does not push changes")
    results: list[PushResult] = []
    for start in range(0, len(items), ITEMS_PER_TRANSACTION):
        results.extend(
            await _push_chunk(
                uow, actor, device_id=device_id, items=items[start : start + ITEMS_PER_TRANSACTION]
            )
        )
    return results


class _ChangeFailed(Exception):
    """A change failed while changes were applied without savepoints: redo the chunk."""


async def _push_chunk(
    uow: UnitOfWork, actor: Principal, *, device_id: str, items: Sequence[PushItem]
) -> list[PushResult]:
    # Optimistically without savepoints (most batches are all good, and a savepoint per
    # change costs round trips); if any change fails, the chunk is rolled back and redone
    # with a savepoint around each change, so the failure undoes only its own work.
    try:
        return await _run_chunk(uow, actor, device_id=device_id, items=items, isolate=False)
    except _ChangeFailed:
        return await _run_chunk(uow, actor, device_id=device_id, items=items, isolate=True)


async def _run_chunk(
    uow: UnitOfWork, actor: Principal, *, device_id: str, items: Sequence[PushItem], isolate: bool
) -> list[PushResult]:
    now = utcnow()
    async with uow:
        if isolate:
            results = [
                await _push_isolated(uow, actor, device_id=device_id, item=item, now=now) for item in items
            ]
        else:
            known = await _look_up(uow, actor, device_id=device_id, items=items)
            results = []
            for item in items:
                try:
                    results.append(
                        await _push_one(uow, actor, device_id=device_id, item=item, now=now, known=known)
                    )
                except DomainError as exc:
                    raise _ChangeFailed from exc
        # Server copies as this transaction leaves them (a later change in the batch may
        # have touched the same record).
        wanted: dict[str, set[uuid.UUID]] = defaultdict(set)
        for result in results:
            if result.status == "conflict" and result.entity is not None:
                wanted[result.entity].add(result.id)
        copies = {entity: await uow.sync.by_ids(entity, ids) for entity, ids in wanted.items()}
        results = [
            dataclasses.replace(
                r, server=copies[r.entity].get(r.id), version=_version_of(copies[r.entity].get(r.id))
            )
            if r.status == "conflict" and r.entity
            else r
            for r in results
        ]
        await uow.commit()
    return results


def _version_of(record: Any) -> int | None:
    return None if record is None else int(record.version)


@dataclass(slots=True)
class _Known:
    """What the changes of a chunk refer to, looked up in a few queries: the records (locked),
    which of them the caller may see, and this device's receipts; kept current as it goes."""

    records: dict[tuple[str, uuid.UUID], Any]
    visible: set[tuple[str, uuid.UUID]]
    receipts: dict[tuple[str, uuid.UUID], Any]


async def _look_up(uow: UnitOfWork, actor: Principal, *, device_id: str, items: Sequence[PushItem]) -> _Known:
    ids: dict[str, list[uuid.UUID]] = defaultdict(list)
    for item in items:
        if item.errors is None and item.id is not None:
            ids[item.entity].append(item.id)
    known = _Known({}, set(), {})
    for entity, entity_ids in ids.items():
        records = await uow.sync.lock_records(entity, entity_ids)
        known.records.update({(entity, i): r for i, r in records.items()})
        if records:
            visible = await uow.sync.visible_ids(entity, list(records), actor)
            known.visible.update((entity, i) for i in visible)
        receipts = await uow.sync.receipts(
            user_id=actor.user_id, device_id=device_id, entity=entity, ids=entity_ids
        )
        known.receipts.update({(entity, i): r for i, r in receipts.items()})
    return known


async def _push_one(
    uow: UnitOfWork, actor: Principal, *, device_id: str, item: PushItem, now: dt.datetime, known: _Known
) -> PushResult:
    if item.errors is not None:
        return PushResult(
            id=item.raw_id,
            status="rejected",
            entity=None,
            code=item.code,
            detail=item.detail,
            errors=item.errors,
        )
    return await _apply(uow, actor, device_id=device_id, item=item, now=now, known=known)


async def _push_isolated(
    uow: UnitOfWork, actor: Principal, *, device_id: str, item: PushItem, now: dt.datetime
) -> PushResult:
    """One change in a savepoint of its own: a failure undoes only this change."""
    for attempt in (1, 2):
        try:
            async with uow.savepoint():
                known = await _look_up(uow, actor, device_id=device_id, items=[item])
                return await _push_one(uow, actor, device_id=device_id, item=item, now=now, known=known)
        except VersionMismatch:
            return PushResult(id=item.id, status="conflict", entity=item.entity)
        except DomainError as exc:
            if isinstance(exc, IntegrityConflict) and attempt == 1:
                # A concurrent push of the same new record won the insert (e.g. a retry that
                # overtook its lost original): look again, now that it has committed.
                continue
            return _rejected(item, exc)
    raise AssertionError("unreachable")  # pragma: no cover


def _rejected(item: PushItem, exc: DomainError) -> PushResult:
    if isinstance(exc, InvalidInput) and exc.errors:
        errors = [
            {
                **e,
                "loc": ["data", *e.get("loc", [])[1:]]
                if list(e.get("loc", []))[:1] == ["body"]
                else list(e.get("loc", [])),
            }
            for e in exc.errors
        ]
    else:
        errors = [{"loc": [], "msg": exc.detail, "type": exc.code}]
    return PushResult(
        id=item.id, status="rejected", entity=item.entity, code=exc.code, detail=exc.detail, errors=errors
    )


def _missing(entity: str, values: dict[str, Any]) -> None:
    absent = [name for name in _REQUIRED_ON_CREATE[entity] if values.get(name) is None]
    if absent:
        raise InvalidInput(
            f"A new {entity} needs: {', '.join(absent)}",
            errors=[{"loc": ["body", name], "msg": "Field required", "type": "missing"} for name in absent],
        )


def _as_changes(item: PushItem, current: Any) -> dict[str, Any]:
    """The data of an upsert of an existing record as a change set: fields fixed at creation
    may be sent back unchanged, but not changed."""
    changes = dict(item.values or {})
    errors = []
    for name in _IMMUTABLE[item.entity]:
        if name in changes and changes.pop(name) != getattr(current, name):
            errors.append(
                {"loc": ["body", name], "msg": f"{name} cannot change", "type": "value_error.immutable"}
            )
    if errors:
        raise InvalidInput("Fields fixed at creation cannot change", errors=errors)
    changes.pop("device_id", None)
    return changes


async def _apply(
    uow: UnitOfWork, actor: Principal, *, device_id: str, item: PushItem, now: dt.datetime, known: _Known
) -> PushResult:
    assert item.id is not None
    key = (item.entity, item.id)
    digest = payload_hash(item)
    base = item.base_version or 0
    current = known.records.get(key)

    if current is None:
        if item.op == "delete" or base:
            raise NotFound(f"{item.entity.capitalize()} not found")
        record = await _create(uow, actor, item=item, device_id=device_id, now=now)
        known.records[key] = record
        known.visible.add(key)
        await _receipt(
            uow,
            actor,
            device_id=device_id,
            item=item,
            base=0,
            record=record,
            digest=digest,
            now=now,
            known=known,
        )
        return PushResult(id=item.id, status="applied", entity=item.entity, version=record.version)

    if key not in known.visible:
        raise NotFound(f"{item.entity.capitalize()} not found")
    if current.deleted_at is not None:
        if item.op == "delete":  # already gone: the device's wish holds
            return PushResult(id=item.id, status="applied", entity=item.entity, version=current.version)
        raise SyncRecordDeleted(
            f"The {item.entity} was deleted on the server; the next pull brings its tombstone"
        )

    expected = current.version
    if base != current.version:
        receipt = known.receipts.get(key)
        if receipt is None or receipt.base_version != base:
            return PushResult(id=item.id, status="conflict", entity=item.entity)
        if receipt.payload_hash == digest:
            # Re-sent after a lost response: it was applied; apply nothing again.
            return PushResult(
                id=item.id, status="applied", entity=item.entity, version=receipt.result_version
            )
        if receipt.result_version != current.version:
            return PushResult(id=item.id, status="conflict", entity=item.entity)
        # The device edited again on top of its own change whose answer it never got.

    if item.op == "delete":
        record = await (
            activities_service.delete_activity_in(uow, actor, activity_id=item.id, expected_version=expected)
            if item.entity == "activity"
            else tasks_service.delete_task_in(uow, actor, task_id=item.id, expected_version=expected)
        )
    else:
        changes = _as_changes(item, current)
        if item.entity == "activity":
            record = await activities_service.update_activity_in(
                uow, actor, activity_id=item.id, expected_version=expected, changes=changes, now=now
            )
        else:
            record = await tasks_service.update_task_in(
                uow, actor, task_id=item.id, expected_version=expected, changes=changes, now=now
            )
    await _receipt(
        uow,
        actor,
        device_id=device_id,
        item=item,
        base=base,
        record=record,
        digest=digest,
        now=now,
        known=known,
    )
    return PushResult(id=item.id, status="applied", entity=item.entity, version=record.version)


async def _create(
    uow: UnitOfWork, actor: Principal, *, item: PushItem, device_id: str, now: dt.datetime
) -> Any:
    assert item.id is not None
    values = dict(item.values or {})
    _missing(item.entity, values)
    if item.entity == "activity":
        values.setdefault("device_id", device_id)
        # occurred_at is the device's; received_at (now) is the server's.
        return await activities_service.log_activity_in(
            uow, actor, values=values, activity_id=item.id, now=now
        )
    values.pop("device_id", None)
    return await tasks_service.create_task_in(uow, actor, values=values, task_id=item.id, now=now)


async def _receipt(
    uow: UnitOfWork,
    actor: Principal,
    *,
    device_id: str,
    item: PushItem,
    base: int,
    record: Any,
    digest: str,
    now: dt.datetime,
    known: _Known,
) -> None:
    assert item.id is not None
    key = (item.entity, item.id)
    known.receipts[key] = uow.sync.put_receipt(
        known.receipts.get(key),
        user_id=actor.user_id,
        device_id=device_id,
        entity=item.entity,
        entity_id=item.id,
        op=item.op,
        base_version=base,
        result_version=record.version,
        payload_hash=digest,
        at=now,
    )


# ----------------------------------------------------------------------------------------
# Pull: cursors
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Position:
    """Where a device is. ``seq``: in a snapshot, its high-water mark (the change log is
    read from there once the snapshot is complete); otherwise the last seq delivered."""

    scope: str
    seq: int
    snapshot: bool = False
    # Snapshot progress: customers are sent whole in id order, each followed by its contacts,
    # activities and tasks; a customer too big for a page is streamed over several.
    after: uuid.UUID | None = None
    current: uuid.UUID | None = None
    kind: int = 0
    child_after: uuid.UUID | None = None
    customers_done: bool = False
    task_after: uuid.UUID | None = None


_CURSOR_CONTEXT = b"crm.sync.cursor.v1\x00"
_INVALID_CURSOR = "The sync cursor is malformed, was altered, or belongs to another user"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(payload: bytes) -> bytes:
    key = get_settings().effective_secret_key().encode()
    return hmac.new(key, _CURSOR_CONTEXT + payload, hashlib.sha256).digest()[:16]


def encode_cursor(actor: Principal, position: Position) -> str:
    body: dict[str, Any] = {"u": str(actor.user_id), "f": position.scope, "s": position.seq}
    if position.snapshot:
        body["m"] = [
            None if v is None else str(v)
            for v in (position.after, position.current, position.child_after, position.task_after)
        ]
        body["k"] = position.kind
        body["d"] = position.customers_done
    payload = json.dumps(body, separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(_mac(payload))}"


def decode_cursor(actor: Principal, cursor: str) -> Position:
    try:
        head, _, tail = cursor.partition(".")
        payload = _unb64(head)
        if not hmac.compare_digest(_unb64(tail), _mac(payload)):
            raise ValueError("signature")
        body = json.loads(payload)
        if body["u"] != str(actor.user_id):
            raise ValueError("another user's cursor")
        seq = body["s"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0 or not isinstance(body["f"], str):
            raise ValueError("fields")
        if "m" not in body:
            return Position(scope=body["f"], seq=seq)
        after, current, child_after, task_after = (None if v is None else uuid.UUID(v) for v in body["m"])
        kind = body["k"]
        if kind not in (0, 1, 2):
            raise ValueError("kind")
        return Position(
            scope=body["f"],
            seq=seq,
            snapshot=True,
            after=after,
            current=current,
            kind=kind,
            child_after=child_after,
            customers_done=bool(body["d"]),
            task_after=task_after,
        )
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise SyncInvalidCursor(_INVALID_CURSOR) from exc


# ----------------------------------------------------------------------------------------
# Pull: pages
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PullChange:
    entity: str
    op: str  # upsert | delete | scope_exit
    id: uuid.UUID
    version: int | None = None
    # For an upsert: the record (Customer, ContactView, Activity or Task).
    record: Any = None


@dataclass(frozen=True, slots=True)
class PullResult:
    changes: list[PullChange]
    next_cursor: str
    has_more: bool
    # The page starts a snapshot: the device drops what it holds first.
    reset: bool
    # The change-log rows this page read (empty for snapshot pages).
    seqs: tuple[int, ...] = ()


async def pull(uow: UnitOfWork, actor: Principal, *, cursor: str | None, limit: int) -> PullResult:
    """The next page of the caller's sync stream after ``cursor`` (none: a full snapshot)."""
    scope = SyncScope.of(actor)
    position = decode_cursor(actor, cursor) if cursor else None
    async with uow:
        head = await uow.change_log.head()
        reset = (
            position is None
            or position.scope != scope.fingerprint
            or position.seq > head
            or position.seq < await uow.change_feed.purged_through()
        )
        if position is None or reset:
            # A new device, a changed scope (role, teams), a database restored to an
            # earlier point, or a cursor older than the log's retention: start over from a
            # snapshot.
            position = Position(scope=scope.fingerprint, seq=head, snapshot=True)
        if position.snapshot:
            changes, following = await _snapshot_page(uow, actor, scope, position, limit)
            if following is None:
                following = Position(scope=scope.fingerprint, seq=position.seq)
                has_more = head > position.seq
            else:
                has_more = True
            return PullResult(changes, encode_cursor(actor, following), has_more, reset)
        rows = await uow.change_log.page(scope, after=position.seq, upto=head, limit=limit + 1)
        has_more = len(rows) > limit
        rows = rows[:limit]
        entries = [
            LogEntry(
                seq=r.seq,
                entity=r.entity,
                entity_id=r.entity_id,
                customer_id=r.customer_id,
                op=r.op,
                owner_id=r.owner_id,
                team_id=r.team_id,
                prev_owner_id=r.prev_owner_id,
                prev_team_id=r.prev_team_id,
            )
            for r in rows
        ]
        changes = await _materialize(uow, actor, plan_page(scope, entries))
        upto = rows[-1].seq if has_more else head
        following = Position(scope=scope.fingerprint, seq=upto)
        return PullResult(
            changes, encode_cursor(actor, following), has_more, reset, seqs=tuple(r.seq for r in rows)
        )


def _change(actor: Principal, entity: str, record: Any, *, owner_id: uuid.UUID | None = None) -> PullChange:
    if entity == "contact":
        record = contact_view(record, masked=masks_contact_details(actor, owner_id=owner_id))
    return PullChange(entity=entity, op="upsert", id=record.id, version=record.version, record=record)


async def _snapshot_page(
    uow: UnitOfWork, actor: Principal, scope: SyncScope, position: Position, limit: int
) -> tuple[list[PullChange], Position | None]:
    """One page of the snapshot, and where the next starts (None: the snapshot is complete)."""
    out: list[PullChange] = []
    budget = limit
    p = position
    if p.current is not None:
        customer = await uow.sync.scoped_customer(scope, p.current)
        if customer is None:
            # Gone out of scope meanwhile: the change log after the high-water mark says so.
            p = dataclasses.replace(p, after=p.current, current=None, kind=0, child_after=None)
        else:
            budget, p = await _stream_children(uow, actor, out, p, budget, owner_id=customer.owner_id)
            if p.current is not None:
                return out, p

    while budget > 0 and not p.customers_done:
        customers = await uow.sync.scope_customers(scope, after=p.after, limit=budget)
        if not customers:
            p = dataclasses.replace(p, customers_done=True)
            break
        counts = await uow.sync.child_counts([c.id for c in customers])
        whole, partial, room = [], None, budget
        for customer in customers:
            size = 1 + counts.get(customer.id, 0)
            if size > room:
                partial = customer
                break
            whole.append(customer)
            room -= size
        children = await uow.sync.children([c.id for c in whole]) if whole else {}
        for customer in whole:
            out.append(_change(actor, "customer", customer))
            for child in children.get(customer.id, []):
                out.append(_change(actor, _entity_of(child), child, owner_id=customer.owner_id))
            budget -= 1 + len(children.get(customer.id, []))
            p = dataclasses.replace(p, after=customer.id)
        if partial is not None and budget > 0:
            out.append(_change(actor, "customer", partial))
            p = dataclasses.replace(p, current=partial.id, kind=0, child_after=None)
            budget, p = await _stream_children(uow, actor, out, p, budget - 1, owner_id=partial.owner_id)
            if p.current is not None:
                return out, p
    if not p.customers_done:
        return out, p

    if budget <= 0:
        return out, p
    tasks = await uow.sync.loose_tasks(scope, after=p.task_after, limit=budget + 1)
    out.extend(_change(actor, "task", t) for t in tasks[:budget])
    if len(tasks) > budget:
        return out, dataclasses.replace(p, task_after=tasks[budget - 1].id)
    return out, None


def _entity_of(record: Any) -> str:
    return type(record).__name__.lower()


async def _stream_children(
    uow: UnitOfWork,
    actor: Principal,
    out: list[PullChange],
    p: Position,
    budget: int,
    *,
    owner_id: uuid.UUID | None,
) -> tuple[int, Position]:
    """Send the current customer's children from where the last page stopped."""
    assert p.current is not None
    for kind in range(p.kind, len(CHILD_KINDS)):
        after = p.child_after if kind == p.kind else None
        if budget <= 0:
            return budget, dataclasses.replace(p, kind=kind, child_after=after)
        rows = await uow.sync.children_after(p.current, CHILD_KINDS[kind], after=after, limit=budget + 1)
        out.extend(_change(actor, CHILD_KINDS[kind], r, owner_id=owner_id) for r in rows[:budget])
        if len(rows) > budget:
            return 0, dataclasses.replace(p, kind=kind, child_after=rows[budget - 1].id)
        budget -= len(rows)
    return budget, dataclasses.replace(p, after=p.current, current=None, kind=0, child_after=None)


async def _materialize(uow: UnitOfWork, actor: Principal, steps: list[Step]) -> list[PullChange]:
    """Turn planned steps into changes carrying each record's current state."""
    ids: dict[str, set[uuid.UUID]] = defaultdict(set)
    entering = [s.entity_id for s in steps if s.action is Action.enter]
    for step in steps:
        if step.action is not Action.scope_exit:
            ids[step.entity].add(step.entity_id)
    records = {
        entity: await uow.sync.by_ids(entity, ids[entity]) for entity in ("contact", "activity", "task")
    }
    children = await uow.sync.children(entering) if entering else {}
    # Customers: the ones in the steps, and the owners of contacts (for masking).
    ids["customer"].update(c.customer_id for c in records["contact"].values())
    records["customer"] = await uow.sync.by_ids("customer", ids["customer"])

    def owner_of(customer_id: uuid.UUID | None) -> uuid.UUID | None:
        customer = records["customer"].get(customer_id) if customer_id else None
        return customer.owner_id if customer is not None else None

    out: list[PullChange] = []
    sent: set[tuple[str, uuid.UUID]] = set()
    for step in steps:
        key = (step.entity, step.entity_id)
        if key in sent:
            continue
        if step.action is Action.scope_exit:
            out.append(PullChange(entity=step.entity, op="scope_exit", id=step.entity_id))
            sent.add(key)
            continue
        record = records[step.entity].get(step.entity_id)
        if (
            record is not None
            and step.entity != "customer"
            and step.customer_id is not None
            and record.customer_id != step.customer_id
        ):
            continue  # moved to another customer since: a later row of the log places it
        sent.add(key)
        if record is None or record.deleted_at is not None:
            out.append(
                PullChange(entity=step.entity, op="delete", id=step.entity_id, version=_version_of(record))
            )
            continue
        out.append(
            _change(actor, step.entity, record, owner_id=owner_of(getattr(record, "customer_id", None)))
        )
        if step.action is Action.enter:
            for child in children.get(record.id, []):
                child_key = (_entity_of(child), child.id)
                if child_key not in sent:
                    sent.add(child_key)
                    out.append(_change(actor, child_key[0], child, owner_id=record.owner_id))
    return out


__all__ = [
    "ITEMS_PER_TRANSACTION",
    "PUSHERS",
    "Position",
    "PullChange",
    "PullResult",
    "PushItem",
    "PushResult",
    "decode_cursor",
    "encode_cursor",
    "payload_hash",
    "pull",
    "push",
]

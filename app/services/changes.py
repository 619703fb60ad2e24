"""The integration change feed (GET /changes) over the change log, and its retention."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from app.config import get_settings
from app.db.base import utcnow
from app.db.uow import UnitOfWork
from app.domain import changes as feed
from app.domain.errors import ChangesScopeRestricted
from app.domain.roles import Principal, Role, Scope
from app.services.customers import contact_view
from app.services.receivables import PaymentView, ReceivableView

# Callers that see every record: the feed is not cut by data scope.
FEED_READERS = (Role.admin, Role.director, Role.support, Role.finance, Role.integration)


@dataclass(frozen=True, slots=True)
class FeedEntry:
    seq: int
    type: str
    op: str
    id: uuid.UUID
    at: Any
    version: int | None = None
    # The record as it is now (it may be newer than this entry); None for deletes and merges.
    record: Any = None
    merged_into: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class FeedPage:
    items: list[FeedEntry]
    next_cursor: str
    has_more: bool


def _require_all_scope(actor: Principal) -> None:
    if actor.scope is not Scope.all:
        raise ChangesScopeRestricted(
            "The change feed covers every record; a caller limited to a team or to "
            "their own records pulls the lists with updated_since instead"
        )


async def read(
    uow: UnitOfWork,
    actor: Principal,
    *,
    cursor: str | None,
    limit: int,
    types: str | None,
    from_now: bool = False,
) -> FeedPage:
    """The entries after ``cursor`` in commit order (the oldest retained first without one)."""
    _require_all_scope(actor)
    wanted = feed.parse_types(types)
    after = feed.decode_cursor(cursor) if cursor else None
    async with uow:
        # The counter first: every entry up to it is committed (commits are ordered by it).
        head = await uow.change_log.head()
        if from_now:
            return FeedPage(items=[], next_cursor=feed.encode_cursor(head), has_more=False)
        purged = await uow.change_feed.purged_through()
        if after is None:
            after = purged
        feed.check_retained(after, purged_through=purged)
        rows = await uow.change_feed.entries(after=after, upto=head, types=wanted, limit=limit + 1)
        has_more = len(rows) > limit
        rows = rows[:limit]
        records = await _current(uow, rows)
        items = [_entry(row, records.get((row.entity, row.entity_id))) for row in rows]
        # A short page read everything up to the head; the next poll starts there.
        upto = rows[-1].seq if has_more else max(head, after)
        return FeedPage(items=items, next_cursor=feed.encode_cursor(upto), has_more=has_more)


async def _current(uow: UnitOfWork, rows: list[Any]) -> dict[tuple[str, uuid.UUID], Any]:
    """Each entry's record as it is now, shaped as its GET answers it."""
    ids: dict[str, set[uuid.UUID]] = defaultdict(set)
    for row in rows:
        ids[row.entity].add(row.entity_id)
    out: dict[tuple[str, uuid.UUID], Any] = {}
    for entity, wanted in ids.items():
        found: dict[uuid.UUID, Any] = await uow.change_feed.by_ids(entity, wanted)
        if entity == "payment" and found:
            by_payment: dict[uuid.UUID, list[Any]] = defaultdict(list)
            for application in await uow.receivables.applications_of(list(found)):
                by_payment[application.payment_id].append(application)
            found = {pid: PaymentView(p, by_payment[pid]) for pid, p in found.items()}
        elif entity == "receivable" and found:
            by_receivable: dict[uuid.UUID, list[Any]] = defaultdict(list)
            for application in await uow.receivables.applications_to(list(found)):
                by_receivable[application.receivable_id].append(application)
            found = {rid: ReceivableView(r, by_receivable[rid]) for rid, r in found.items()}
        elif entity == "contact":
            found = {cid: contact_view(c, masked=False) for cid, c in found.items()}
        out.update({(entity, entity_id): record for entity_id, record in found.items()})
    return out


def _entry(row: Any, record: Any) -> FeedEntry:
    merged_into = getattr(record, "merged_into", None) if row.entity == "customer" else None
    op = feed.feed_op(row.op, merged_into=merged_into)
    if op.op != "upsert" or record is None:
        return FeedEntry(
            seq=row.seq,
            type=row.entity,
            op=op.op,
            id=row.entity_id,
            at=row.at,
            merged_into=merged_into if op.op == "merge" else None,
        )
    # Payments never change once recorded, so they carry no version.
    return FeedEntry(
        seq=row.seq,
        type=row.entity,
        op=op.op,
        id=row.entity_id,
        at=row.at,
        version=getattr(getattr(record, "receivable", record), "version", None),
        record=record,
    )


async def purge_expired(uow: UnitOfWork) -> int:
    """Delete change-log entries older than ``CRM_CHANGE_RETENTION_DAYS``."""
    before = feed.retention_horizon(utcnow(), days=get_settings().change_retention_days)
    async with uow:
        removed = await uow.change_feed.purge(before=before)
        if removed:
            await uow.commit()
        return removed

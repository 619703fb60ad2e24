"""Offline sync storage: writing and reading the change log, snapshot queries, push receipts."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.changes import DEVICE_ENTITIES, ChangeSet
from app.db.models import (
    Activity,
    ChangeCounter,
    ChangeLog,
    Contact,
    Customer,
    SyncReceipt,
    Task,
    User,
)
from app.db.repositories.customers import customer_scope
from app.db.repositories.tasks import task_scope
from app.domain.roles import Principal, Scope
from app.domain.sync import SyncScope

_IN_BATCH = 500
_COUNTER_ID = 1
CHILD_KINDS = ("contact", "activity", "task")
_CHILD_MODELS: dict[str, Any] = {"contact": Contact, "activity": Activity, "task": Task}
MODELS: dict[str, Any] = {"customer": Customer, **_CHILD_MODELS}


def _chunks(values: Iterable[uuid.UUID], size: int = _IN_BATCH) -> Iterator[list[uuid.UUID]]:
    items = list(dict.fromkeys(values))
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ------------------------------------------------------------------------------------------
# Sync scope as SQL (the same rules as ``SyncScope.covers``)
# ------------------------------------------------------------------------------------------


def customer_sync_clause(scope: SyncScope) -> ColumnElement[bool] | None:
    if scope.kind is Scope.all:
        return None
    if scope.kind is Scope.team:
        return or_(Customer.owner_id == scope.user_id, Customer.team_id.in_(list(scope.team_ids)))
    return Customer.owner_id == scope.user_id


def loose_task_clause(scope: SyncScope) -> ColumnElement[bool] | None:
    """Tasks without a customer: routed by their assignee (and the assignee's team)."""
    if scope.kind is Scope.all:
        return None
    if scope.kind is Scope.team:
        return or_(
            Task.assignee_id == scope.user_id,
            Task.assignee_id.in_(select(User.id).where(User.team_id.in_(list(scope.team_ids)))),
        )
    return Task.assignee_id == scope.user_id


def log_clause(scope: SyncScope) -> ColumnElement[bool] | None:
    """Change-log rows a scope may care about: routed to it now or before the change."""
    if scope.kind is Scope.all:
        return None
    mine = or_(ChangeLog.owner_id == scope.user_id, ChangeLog.prev_owner_id == scope.user_id)
    if scope.kind is Scope.team:
        teams = list(scope.team_ids)
        return or_(mine, ChangeLog.team_id.in_(teams), ChangeLog.prev_team_id.in_(teams))
    return mine


@dataclass(frozen=True, slots=True)
class _Row:
    customer_id: uuid.UUID | None
    deleted: bool
    assignee_id: uuid.UUID | None
    created: bool


class ChangeLogRepository:
    """Appends a committing transaction's changes and reads them back in sequence order."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _dialect(self) -> str:
        return self.session.bind.dialect.name  # type: ignore[union-attr]

    async def _allocate(self, count: int) -> int:
        """Take ``count`` sequence numbers; answers the last. Holds the counter row's lock
        until commit, which is what orders commits by sequence number."""
        insert = pg_insert if self._dialect == "postgresql" else sqlite_insert
        # The row is seeded by the migration; should it be missing (a wiped table) it is
        # re-created above whatever the log already holds.
        start = select(func.coalesce(func.max(ChangeLog.seq), 0) + count).scalar_subquery()
        stmt = (
            insert(ChangeCounter)
            .values(id=_COUNTER_ID, value=start)
            .on_conflict_do_update(
                index_elements=[ChangeCounter.id], set_={"value": ChangeCounter.value + count}
            )
            .returning(ChangeCounter.value)
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def append(self, changes: ChangeSet, *, at: dt.datetime) -> range:
        """Write one change-log row per noted record; answers the sequence numbers used."""
        items = list(changes.items())
        last = await self._allocate(len(items))
        seqs = range(last - len(items) + 1, last + 1)
        # Routing is read only now: holding the counter lock, every transaction that logged
        # before us has committed and is visible, so a concurrent reassignment is seen.
        rows = await self._rows_of(items)
        customers = await self._customers({r.customer_id for r in rows.values() if r.customer_id})
        loose = {
            key[1]: row.assignee_id
            for key, row in rows.items()
            if key[0] == "task" and row.customer_id is None and row.assignee_id is not None
        }
        teams = await self._teams_of(set(loose.values()))
        previous = await self._previous_routing(
            customer_ids=[i for (e, i), r in rows.items() if e == "customer" and not r.created],
            task_ids=[i for (e, i), r in rows.items() if e == "task" and i in loose and not r.created],
        )
        values = []
        for seq, (entity, entity_id, _) in zip(seqs, items, strict=True):
            row = rows[(entity, entity_id)]
            owner_id = team_id = None
            deleted = row.deleted
            if entity == "task" and row.customer_id is None:
                owner_id = row.assignee_id
                team_id = teams.get(owner_id) if owner_id else None
            elif row.customer_id is not None and row.customer_id in customers:
                owner_id, team_id, customer_deleted = customers[row.customer_id]
                deleted = deleted or (entity == "customer" and customer_deleted)
            prev_owner_id = prev_team_id = None
            if entity == "customer" or (entity == "task" and row.customer_id is None):
                prev_owner_id, prev_team_id = previous.get(entity_id, (None, None))
            values.append(
                {
                    "seq": seq,
                    "entity": entity,
                    "entity_id": entity_id,
                    "customer_id": row.customer_id,
                    "op": "delete" if deleted else "upsert",
                    "owner_id": owner_id,
                    "team_id": team_id,
                    "prev_owner_id": prev_owner_id,
                    "prev_team_id": prev_team_id,
                    "at": at,
                }
            )
        await self.session.execute(ChangeLog.__table__.insert(), values)
        return seqs

    async def _rows_of(
        self, items: Sequence[tuple[str, uuid.UUID, Any]]
    ) -> dict[tuple[str, uuid.UUID], _Row]:
        rows: dict[tuple[str, uuid.UUID], _Row] = {}
        unknown: dict[str, list[uuid.UUID]] = defaultdict(list)
        for entity, entity_id, seen in items:
            if entity == "customer":
                rows[(entity, entity_id)] = _Row(entity_id, seen.deleted, None, seen.created)
            elif seen.known:
                rows[(entity, entity_id)] = _Row(
                    seen.customer_id, seen.deleted, seen.assignee_id, seen.created
                )
            else:
                unknown[entity].append(entity_id)
                rows[(entity, entity_id)] = _Row(None, True, None, seen.created)  # gone, unless found
        created = {key: row.created for key, row in rows.items()}
        for entity, ids in unknown.items():
            model = _CHILD_MODELS[entity]
            assignee = model.assignee_id if entity == "task" else None
            for chunk in _chunks(ids):
                columns = [model.id, model.customer_id, model.deleted_at]
                stmt = select(*columns, *([assignee] if assignee is not None else []))
                for found in (await self.session.execute(stmt.where(model.id.in_(chunk)))).all():
                    key = (entity, found[0])
                    rows[key] = _Row(
                        found[1], found[2] is not None, found[3] if entity == "task" else None, created[key]
                    )
        return rows

    async def _customers(self, ids: set[uuid.UUID]) -> dict[uuid.UUID, tuple[Any, Any, bool]]:
        out: dict[uuid.UUID, tuple[Any, Any, bool]] = {}
        for chunk in _chunks(ids):
            stmt = select(Customer.id, Customer.owner_id, Customer.team_id, Customer.deleted_at).where(
                Customer.id.in_(chunk)
            )
            for cid, owner_id, team_id, deleted_at in (await self.session.execute(stmt)).all():
                out[cid] = (owner_id, team_id, deleted_at is not None)
        return out

    async def _teams_of(self, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID | None]:
        out: dict[uuid.UUID, uuid.UUID | None] = {}
        for chunk in _chunks(user_ids):
            for uid, team_id in (
                await self.session.execute(select(User.id, User.team_id).where(User.id.in_(chunk)))
            ).all():
                out[uid] = team_id
        return out

    async def _previous_routing(
        self, *, customer_ids: Sequence[uuid.UUID], task_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[Any, Any]]:
        """Owner and team of each record's latest change-log row: where devices last saw it."""
        out: dict[uuid.UUID, tuple[Any, Any]] = {}
        for chunk in _chunks(customer_ids):
            latest = (
                select(func.max(ChangeLog.seq))
                .where(ChangeLog.customer_id.in_(chunk))
                .group_by(ChangeLog.customer_id)
            )
            stmt = select(ChangeLog.customer_id, ChangeLog.owner_id, ChangeLog.team_id).where(
                ChangeLog.seq.in_(latest)
            )
            for cid, owner_id, team_id in (await self.session.execute(stmt)).all():
                out[cid] = (owner_id, team_id)
        for chunk in _chunks(task_ids):
            latest = (
                select(func.max(ChangeLog.seq))
                .where(
                    ChangeLog.entity_id.in_(chunk),
                    ChangeLog.entity == "task",
                    ChangeLog.customer_id.is_(None),
                )
                .group_by(ChangeLog.entity_id)
            )
            stmt = select(ChangeLog.entity_id, ChangeLog.owner_id, ChangeLog.team_id).where(
                ChangeLog.seq.in_(latest)
            )
            for tid, owner_id, team_id in (await self.session.execute(stmt)).all():
                out[tid] = (owner_id, team_id)
        return out

    async def head(self) -> int:
        """The last sequence number committed: every row up to it is visible."""
        value = await self.session.scalar(select(ChangeCounter.value).where(ChangeCounter.id == _COUNTER_ID))
        return int(value or 0)

    async def page(self, scope: SyncScope, *, after: int, upto: int, limit: int) -> list[ChangeLog]:
        stmt = select(ChangeLog).where(
            ChangeLog.seq > after, ChangeLog.seq <= upto, ChangeLog.entity.in_(DEVICE_ENTITIES)
        )
        clause = log_clause(scope)
        if clause is not None:
            stmt = stmt.where(clause)
        return list((await self.session.scalars(stmt.order_by(ChangeLog.seq).limit(limit))).all())


class SyncRepository:
    """Reads for snapshots and for materialising change-log pages, and push receipts."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- snapshot ------------------------------------------------------------------------

    def _scope_customers(self, scope: SyncScope) -> Select[tuple[Customer]]:
        stmt = select(Customer).where(Customer.deleted_at.is_(None))
        clause = customer_sync_clause(scope)
        return stmt if clause is None else stmt.where(clause)

    async def scope_customers(
        self, scope: SyncScope, *, after: uuid.UUID | None, limit: int
    ) -> list[Customer]:
        stmt = self._scope_customers(scope)
        if after is not None:
            stmt = stmt.where(Customer.id > after)
        return list((await self.session.scalars(stmt.order_by(Customer.id).limit(limit))).all())

    async def scoped_customer(self, scope: SyncScope, customer_id: uuid.UUID) -> Customer | None:
        """The customer, if it is (still) live and in the scope."""
        return await self.session.scalar(self._scope_customers(scope).where(Customer.id == customer_id))

    async def child_counts(self, customer_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        counts: dict[uuid.UUID, int] = defaultdict(int)
        for model in _CHILD_MODELS.values():
            for chunk in _chunks(customer_ids):
                stmt = (
                    select(model.customer_id, func.count())
                    .where(model.customer_id.in_(chunk), model.deleted_at.is_(None))
                    .group_by(model.customer_id)
                )
                for cid, count in (await self.session.execute(stmt)).all():
                    counts[cid] += int(count)
        return counts

    async def children(self, customer_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
        """Live contacts, activities and tasks of the customers, grouped by customer."""
        out: dict[uuid.UUID, list[Any]] = defaultdict(list)
        for model in _CHILD_MODELS.values():
            for chunk in _chunks(customer_ids):
                stmt = (
                    select(model)
                    .where(model.customer_id.in_(chunk), model.deleted_at.is_(None))
                    .order_by(model.customer_id, model.id)
                )
                for record in (await self.session.scalars(stmt)).all():
                    out[record.customer_id].append(record)
        return out

    async def children_after(
        self, customer_id: uuid.UUID, kind: str, *, after: uuid.UUID | None, limit: int
    ) -> list[Any]:
        model = _CHILD_MODELS[kind]
        stmt = select(model).where(model.customer_id == customer_id, model.deleted_at.is_(None))
        if after is not None:
            stmt = stmt.where(model.id > after)
        return list((await self.session.scalars(stmt.order_by(model.id).limit(limit))).all())

    async def loose_tasks(self, scope: SyncScope, *, after: uuid.UUID | None, limit: int) -> list[Task]:
        stmt = select(Task).where(Task.customer_id.is_(None), Task.deleted_at.is_(None))
        clause = loose_task_clause(scope)
        if clause is not None:
            stmt = stmt.where(clause)
        if after is not None:
            stmt = stmt.where(Task.id > after)
        return list((await self.session.scalars(stmt.order_by(Task.id).limit(limit))).all())

    # --- materialising change-log pages --------------------------------------------------

    async def by_ids(self, entity: str, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Any]:
        """Current rows (soft-deleted ones too) by id."""
        model = MODELS[entity]
        out: dict[uuid.UUID, Any] = {}
        for chunk in _chunks(ids):
            stmt = select(model).where(model.id.in_(chunk)).execution_options(populate_existing=True)
            for record in (await self.session.scalars(stmt)).all():
                out[record.id] = record
        return out

    # --- push ----------------------------------------------------------------------------

    async def lock_records(self, entity: str, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
        """Pushable records by id whoever may see them, soft-deleted ones too, locked in id
        order (concurrent pushes of overlapping batches cannot deadlock on them)."""
        model = MODELS[entity]
        out: dict[uuid.UUID, Any] = {}
        for chunk in _chunks(sorted(ids)):
            stmt = select(model).where(model.id.in_(chunk)).order_by(model.id).with_for_update(key_share=True)
            for record in (await self.session.scalars(stmt)).all():
                out[record.id] = record
        return out

    async def visible_ids(
        self, entity: str, ids: Sequence[uuid.UUID], principal: Principal
    ) -> set[uuid.UUID]:
        """Which of the activities or tasks the caller may see, soft-deleted or not."""
        out: set[uuid.UUID] = set()
        for chunk in _chunks(ids):
            if entity == "activity":
                stmt = select(Activity.id).where(Activity.id.in_(chunk))
                scope = customer_scope(principal)
                if scope is not None:
                    stmt = stmt.join(Customer, Customer.id == Activity.customer_id).where(scope)
            else:
                stmt = select(Task.id).where(Task.id.in_(chunk))
                scope = task_scope(principal)
                if scope is not None:
                    stmt = stmt.where(scope)
            out.update((await self.session.scalars(stmt)).all())
        return out

    async def receipts(
        self, *, user_id: uuid.UUID, device_id: str, entity: str, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, SyncReceipt]:
        out: dict[uuid.UUID, SyncReceipt] = {}
        for chunk in _chunks(ids):
            stmt = select(SyncReceipt).where(
                SyncReceipt.user_id == user_id,
                SyncReceipt.device_id == device_id,
                SyncReceipt.entity == entity,
                SyncReceipt.entity_id.in_(chunk),
            )
            for receipt in (await self.session.scalars(stmt)).all():
                out[receipt.entity_id] = receipt
        return out

    def put_receipt(
        self,
        receipt: SyncReceipt | None,
        *,
        user_id: uuid.UUID,
        device_id: str,
        entity: str,
        entity_id: uuid.UUID,
        op: str,
        base_version: int,
        result_version: int,
        payload_hash: str,
        at: dt.datetime,
    ) -> SyncReceipt:
        """Replace ``receipt`` (the current one, if any) with the latest change's."""
        if receipt is None:
            receipt = SyncReceipt(user_id=user_id, device_id=device_id, entity=entity, entity_id=entity_id)
            self.session.add(receipt)
        receipt.op, receipt.base_version, receipt.result_version = op, base_version, result_version
        receipt.payload_hash, receipt.at = payload_hash, at
        return receipt


__all__ = [
    "CHILD_KINDS",
    "ChangeLogRepository",
    "SyncRepository",
    "customer_sync_clause",
    "log_clause",
    "loose_task_clause",
]

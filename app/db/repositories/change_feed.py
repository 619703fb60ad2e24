"""The integration change feed: reading the change log in sequence order, and its retention."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    Activity,
    ChangeCounter,
    ChangeLog,
    Contact,
    Contract,
    Customer,
    Payment,
    Receivable,
    Task,
)

FEED_MODELS: dict[str, Any] = {
    "customer": Customer,
    "contact": Contact,
    "activity": Activity,
    "task": Task,
    "contract": Contract,
    "receivable": Receivable,
    "payment": Payment,
}
# change_counter row 1 hands out sequence numbers (ChangeLogRepository); row 2 remembers the
# highest sequence number retention has deleted, so a cursor older than it is recognised.
_PURGED_ID = 2
_IN_BATCH = 500


class ChangeFeedRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def purged_through(self) -> int:
        value = await self.session.scalar(select(ChangeCounter.value).where(ChangeCounter.id == _PURGED_ID))
        return int(value or 0)

    async def entries(
        self, *, after: int, upto: int, types: Sequence[str] | None, limit: int
    ) -> list[ChangeLog]:
        stmt = select(ChangeLog).where(ChangeLog.seq > after, ChangeLog.seq <= upto)
        if types is not None:
            stmt = stmt.where(ChangeLog.entity.in_(list(types)))
        return list((await self.session.scalars(stmt.order_by(ChangeLog.seq).limit(limit))).all())

    async def by_ids(self, entity: str, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Any]:
        """Current rows by id, soft-deleted ones too (the feed is read by all-scope callers)."""
        model = FEED_MODELS[entity]
        wanted = list(dict.fromkeys(ids))
        out: dict[uuid.UUID, Any] = {}
        for start in range(0, len(wanted), _IN_BATCH):
            stmt = select(model).where(model.id.in_(wanted[start : start + _IN_BATCH]))
            for record in (await self.session.scalars(stmt)).all():
                out[record.id] = record
        return out

    async def purge(self, *, before: dt.datetime) -> int:
        """Delete change-log rows written before ``before``; answers how many. Raises the
        purge mark to the highest sequence number deleted."""
        last = await self.session.scalar(select(func.max(ChangeLog.seq)).where(ChangeLog.at < before))
        if last is None:
            return 0
        # Everything up to ``last`` goes, so the retained log has no holes below its start.
        last = max(last, await self.purged_through())
        result = await self.session.execute(delete(ChangeLog).where(ChangeLog.seq <= last))
        dialect = self.session.bind.dialect.name  # type: ignore[union-attr]
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        await self.session.execute(
            insert(ChangeCounter)
            .values(id=_PURGED_ID, value=last)
            .on_conflict_do_update(index_elements=[ChangeCounter.id], set_={"value": last})
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

"""The change feed under concurrent, really committed writers: commit order, no gaps.

Sequence numbers are taken at commit time under the change counter's row lock, so they
follow commit order, and a reader reads only up to the counter it sees committed. A
transaction that started first but commits last therefore lands after the cursor a reader
already holds, never behind it. On PostgreSQL the writers really overlap; on SQLite they
queue at BEGIN IMMEDIATE.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select

from app.db.base import utcnow
from app.db.models import ChangeLog
from app.db.uow import UnitOfWork
from app.domain.roles import Principal, Role
from app.services import changes as changes_service
from tests.conftest import IS_POSTGRES
from tests.support.builders import _customer_row, make_customer

READER = Principal(user_id=uuid.uuid4(), role=Role.admin, team_id=None)


@pytest.fixture
def committed_uow(committed_factory):
    return lambda: UnitOfWork(committed_factory)


async def _page(committed_uow, cursor):
    return await changes_service.read(committed_uow(), READER, cursor=cursor, limit=500, types=None)


async def _now(committed_uow):
    page = await changes_service.read(
        committed_uow(), READER, cursor=None, limit=1, types=None, from_now=True
    )
    return page.next_cursor


async def _open_writer(committed_uow):
    """A transaction that has written a customer but not committed."""
    writer = committed_uow()
    await writer.__aenter__()
    customer = _customer_row(
        name=f"late {uuid.uuid4().hex[:6]}",
        owner=None,
        team=None,
        stage="resource",
        kind="company",
        uscc=None,
        source="other",
        fields={},
    )
    writer.customers.add(customer)
    await writer.flush()
    return writer, customer


@pytest.mark.skipif(not IS_POSTGRES, reason="needs overlapping writers (SQLite runs one at a time)")
async def test_a_transaction_that_commits_late_is_not_skipped(committed_uow):
    start = await _now(committed_uow)
    late, late_customer = await _open_writer(committed_uow)  # begins first
    early = await make_customer(committed_uow)  # begins later, commits first
    first = await _page(committed_uow, start)
    assert [e.id for e in first.items] == [early.id]
    await late.commit()
    await late.__aexit__(None, None, None)
    second = await _page(committed_uow, first.next_cursor)
    assert [e.id for e in second.items] == [late_customer.id]
    assert second.items[0].seq > first.items[0].seq


@pytest.mark.skipif(not IS_POSTGRES, reason="needs overlapping writers (SQLite runs one at a time)")
async def test_a_commit_in_flight_holds_back_later_ones_and_readers(committed_uow):
    start = await _now(committed_uow)
    first, first_customer = await _open_writer(committed_uow)
    # The first writer is inside its commit: it holds the counter with its numbers taken.
    await first.change_log.append(first.changes, at=utcnow())
    second = asyncio.create_task(make_customer(committed_uow))
    await asyncio.sleep(0.3)
    assert not second.done()  # waits for the counter: it cannot commit ahead of the first
    assert (await _page(committed_uow, start)).items == []  # nothing half-visible
    await first.session.commit()
    await first.__aexit__(None, None, None)
    second_customer = await second
    page = await _page(committed_uow, start)
    assert [e.id for e in page.items] == [first_customer.id, second_customer.id]


async def test_a_poller_sees_every_commit_of_concurrent_writers_exactly_once(committed_uow):
    start = await _now(committed_uow)
    writers, commits = 4, 8
    done = asyncio.Event()
    seen: list[tuple[int, uuid.UUID]] = []

    async def write(n: int) -> list[uuid.UUID]:
        made = []
        for _ in range(commits):
            made.append((await make_customer(committed_uow, name=f"w{n}-{uuid.uuid4().hex[:6]}")).id)
        return made

    async def poll() -> None:
        cursor = start
        while True:
            finished = done.is_set()
            page = await _page(committed_uow, cursor)
            seen.extend((e.seq, e.id) for e in page.items)
            cursor = page.next_cursor
            if finished and not page.has_more:
                return
            await asyncio.sleep(0.01)

    poller = asyncio.create_task(poll())
    created = await asyncio.gather(*(write(n) for n in range(writers)))
    done.set()
    await poller
    expected = {cid for batch in created for cid in batch}
    seqs = [seq for seq, _ in seen]
    assert len(seen) == writers * commits and {cid for _, cid in seen} == expected
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # in order, no gaps, no repeats
    async with committed_uow() as uow:
        logged = (
            await uow.session.scalars(
                select(ChangeLog.seq).where(ChangeLog.seq >= seqs[0]).order_by(ChangeLog.seq)
            )
        ).all()
    assert list(logged) == seqs

"""The change log the unit of work writes at commit: what it records, with which routing, and
what it leaves alone."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from app.db.models import Activity, ChangeLog
from app.domain.errors import NotFound
from app.services import auth as auth_service
from app.services import customers as customers_service
from app.services import pool as pool_service
from tests.support.builders import make_activity, make_customer, make_sales_org, make_user


async def rows_after(uow_factory, seq: int) -> list[ChangeLog]:
    async with uow_factory() as uow:
        return list(
            (
                await uow.session.scalars(
                    select(ChangeLog).where(ChangeLog.seq > seq).order_by(ChangeLog.seq)
                )
            ).all()
        )


async def head(uow_factory) -> int:
    async with uow_factory() as uow:
        return await uow.change_log.head()


async def principal(uow_factory, user):
    async with uow_factory() as uow:
        return await auth_service.build_principal_in(uow, user)


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


async def test_nothing_syncable_takes_no_number(uow_factory):
    start = await head(uow_factory)
    await make_user(uow_factory, role="rep")  # users are not synced
    async with uow_factory() as uow:
        await uow.commit()  # an empty transaction
    assert await head(uow_factory) == start
    assert await rows_after(uow_factory, start) == []


async def test_rows_carry_routing_parents_first(org, uow_factory):
    start = await head(uow_factory)
    customer = await make_customer(uow_factory, owner=org.rep, contacts=[{"name": "甲"}, {"name": "乙"}])
    rows = await rows_after(uow_factory, start)
    assert [r.seq for r in rows] == [start + 1, start + 2, start + 3]
    assert [r.entity for r in rows] == ["customer", "contact", "contact"]
    assert all(r.customer_id == customer.id and r.op == "upsert" for r in rows)
    assert all(r.owner_id == org.rep.id and r.team_id == org.group.id for r in rows)
    # A new customer has no previous routing.
    assert rows[0].prev_owner_id is None and rows[0].prev_team_id is None


async def test_reassignment_records_the_previous_owner(org, uow_factory):
    customer = await make_customer(uow_factory, owner=org.rep)
    start = await head(uow_factory)
    manager = await principal(uow_factory, org.manager)
    await pool_service.assign(uow_factory(), manager, customer_id=customer.id, owner_id=org.rep2.id)
    [row] = [r for r in await rows_after(uow_factory, start) if r.entity == "customer"]
    assert (row.owner_id, row.prev_owner_id) == (org.rep2.id, org.rep.id)
    await pool_service.release(uow_factory(), manager, customer_id=customer.id)
    [row] = [r for r in await rows_after(uow_factory, row.seq) if r.entity == "customer"]
    assert (row.owner_id, row.team_id, row.prev_owner_id) == (None, None, org.rep2.id)
    # Claimed from the pool: a bulk UPDATE in the repository, noted for the log too.
    rep = await principal(uow_factory, org.rep)
    await pool_service.claim(uow_factory(), rep, customer_id=customer.id)
    [row] = [r for r in await rows_after(uow_factory, row.seq) if r.entity == "customer"]
    assert (row.owner_id, row.prev_owner_id) == (org.rep.id, None)


async def test_soft_deletes_are_deletes(org, uow_factory):
    customer = await make_customer(uow_factory, owner=org.rep)
    activity = await make_activity(uow_factory, customer=customer, created_by=org.rep)
    start = await head(uow_factory)
    async with uow_factory() as uow:
        stored = await uow.activities.get_unscoped(activity.id)
        stored.deleted_at = dt.datetime.now(dt.UTC)
        await uow.commit()
    [row] = await rows_after(uow_factory, start)
    assert (row.entity, row.entity_id, row.op) == ("activity", activity.id, "delete")
    assert row.owner_id == org.rep.id


async def test_merge_notes_the_moved_children(org, uow_factory):
    survivor = await make_customer(uow_factory, owner=org.rep, name="甲公司")
    duplicate = await make_customer(uow_factory, owner=org.rep2, name="甲公司分部", contacts=[{"name": "丙"}])
    moved = await make_activity(uow_factory, customer=duplicate, created_by=org.rep2)
    start = await head(uow_factory)
    support = await principal(uow_factory, org.support)
    await customers_service.merge_customers(
        uow_factory(), support, survivor_id=survivor.id, duplicate_id=duplicate.id
    )
    rows = {(r.entity, r.entity_id): r for r in await rows_after(uow_factory, start)}
    assert rows[("customer", duplicate.id)].op == "delete"
    assert rows[("customer", survivor.id)].op == "upsert"
    for key in (("contact", duplicate.contacts_[0].id), ("activity", moved.id)):
        assert rows[key].customer_id == survivor.id and rows[key].owner_id == org.rep.id


async def test_a_rolled_back_savepoint_is_forgotten(org, uow_factory):
    customer = await make_customer(uow_factory, owner=org.rep)
    start = await head(uow_factory)
    kept, dropped = uuid.uuid4(), uuid.uuid4()
    async with uow_factory() as uow:
        for activity_id, fail in ((kept, False), (dropped, True)):
            with pytest.raises(NotFound) if fail else contextlib.nullcontext():
                async with uow.savepoint():
                    uow.activities.add(
                        Activity(
                            id=activity_id,
                            customer_id=customer.id,
                            type="call",
                            occurred_at=dt.datetime.now(dt.UTC),
                            created_by=org.rep.id,
                        )
                    )
                    await uow.flush()
                    await uow.customers.touch_last_contact(customer.id, dt.datetime.now(dt.UTC))
                    if fail:
                        raise NotFound("nope")
        await uow.commit()
    rows = await rows_after(uow_factory, start)
    assert [(r.entity, r.entity_id) for r in rows] == [("customer", customer.id), ("activity", kept)]


async def test_rolled_back_transactions_log_nothing(org, uow_factory):
    customer = await make_customer(uow_factory, owner=org.rep)
    start = await head(uow_factory)
    async with uow_factory() as uow:
        stored = await uow.customers.get_unscoped(customer.id)
        stored.notes = "never committed"
        await uow.flush()
    assert await head(uow_factory) == start

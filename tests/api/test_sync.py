"""Offline sync, end to end with a simulated device: pushing offline edits (applied, conflicts,
rejections, lost responses and retries), pulling a snapshot and then the change log (tombstones,
scope exits and entries), cursors, limits, and a device that ends up holding exactly the
server's state for its scope while other users write concurrently."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from app.db.models import Activity, ChangeLog, Task
from app.db.uow import UnitOfWork
from app.domain.errors import DomainError
from app.services import activities as activities_service
from app.services import auth as auth_service
from app.services import customers as customers_service
from app.services import pool as pool_service
from app.services import sync as sync_service
from app.services import tasks as tasks_service
from tests.support.builders import (
    access_headers,
    assert_problem,
    make_activity,
    make_customer,
    make_sales_org,
)
from tests.support.sync_device import PULL, PUSH, Device, assert_same_state, server_state

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def ago(hours: float) -> str:
    return iso(NOW - dt.timedelta(hours=hours))


def ahead(days: float) -> str:
    return iso(NOW + dt.timedelta(days=days))


def new_activity(customer: Any, *, aid: str | None = None, **data: Any) -> dict[str, Any]:
    return {
        "entity": "activity",
        "op": "upsert",
        "id": aid or str(uuid.uuid4()),
        "base_version": None,
        "data": {"customer_id": str(customer.id), "type": "call", "occurred_at": ago(2), **data},
    }


def edit(entity: str, rid: str, base: int, **data: Any) -> dict[str, Any]:
    return {"entity": entity, "op": "upsert", "id": rid, "base_version": base, "data": data}


def delete(entity: str, rid: str, base: int) -> dict[str, Any]:
    return {"entity": entity, "op": "delete", "id": rid, "base_version": base}


def new_task(*, tid: str | None = None, **data: Any) -> dict[str, Any]:
    return {
        "entity": "task",
        "op": "upsert",
        "id": tid or str(uuid.uuid4()),
        "base_version": 0,
        "data": {"title": "回访", "due_at": ahead(1), **data},
    }


async def count(uow_factory, model, **where) -> int:
    async with uow_factory() as uow:
        stmt = select(func.count()).select_from(model)
        for name, value in where.items():
            stmt = stmt.where(getattr(model, name) == value)
        return int(await uow.session.scalar(stmt) or 0)


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


@pytest.fixture
async def cust(org, uow_factory):
    """own (rep's, with a contact), mate's (rep2's, same team), pool, other team's."""
    return SimpleNamespace(
        own=await make_customer(uow_factory, name="自己的", owner=org.rep, contacts=[{"name": "甲"}]),
        mate=await make_customer(uow_factory, name="同事的", owner=org.rep2, contacts=[{"name": "乙"}]),
        pool=await make_customer(uow_factory, name="公海的"),
        other=await make_customer(uow_factory, name="别组的", owner=org.other_rep),
    )


# ------------------------------------------------------------------------------------------
# Push
# ------------------------------------------------------------------------------------------


class TestPushRequest:
    async def test_anonymous(self, client):
        response = await client.post(PUSH, json={"device_id": "d", "changes": []})
        assert_problem(response, 401, "unauthorized")

    async def test_finance_does_not_push(self, client, org):
        response = await client.post(
            PUSH, json={"device_id": "d", "changes": []}, headers=access_headers(org.finance)
        )
        assert_problem(response, 403, "forbidden")

    async def test_batch_too_large(self, client, org, cust, uow_factory):
        device = Device(client, org.rep)
        body = await device.push([new_activity(cust.own) for _ in range(501)], status=413)
        assert body["code"] == "sync.batch_too_large" and body["limit"] == 500 and body["size"] == 501
        assert await count(uow_factory, Activity) == 0
        assert len(await device.push([new_activity(cust.own) for _ in range(500)])) == 500

    @pytest.mark.parametrize(
        "body",
        [
            {"changes": []},
            {"device_id": "", "changes": []},
            {"device_id": "d"},
            {"device_id": "d", "changes": [1]},
            {"device_id": "d", "changes": [], "extra": 1},
        ],
    )
    async def test_malformed_body(self, client, org, body):
        assert_problem(
            await client.post(PUSH, json=body, headers=access_headers(org.rep)), 422, "validation_error"
        )

    async def test_empty(self, client, org):
        assert await Device(client, org.rep).push([]) == []


class TestPushApplies:
    async def test_offline_edits(self, client, org, cust, uow_factory):
        device = Device(client, org.rep, "rep-phone")
        visit = new_activity(
            cust.own,
            type="visit",
            occurred_at="2026-11-20T09:30:00+08:00",
            subject="初访",
            next_follow_up_at=ahead(2),
            location={"lat": 31.2, "lng": 121.5, "accuracy": 8, "address": "上海"},
        )
        task = new_task(notes="带样品", customer_id=str(cust.own.id))
        results = await device.push(
            [
                visit,
                task,
                edit("activity", visit["id"], 1, outcome="有兴趣"),
                edit("task", task["id"], 1, status="done"),
            ]
        )
        assert [(r["id"], r["status"], r.get("version")) for r in results] == [
            (visit["id"], "applied", 1),
            (task["id"], "applied", 1),
            (visit["id"], "applied", 2),
            (task["id"], "applied", 2),
        ]
        assert all(set(r) == {"id", "status", "version"} for r in results)

        response = await client.get(f"/api/v1/activities/{visit['id']}", headers=device.headers)
        stored = response.json()
        # The device's occurred_at is kept; the server's receive time is recorded too.
        assert stored["occurred_at"] == "2026-11-20T01:30:00Z" and stored["received_at"] > ago(0.1)
        assert stored["device_id"] == "rep-phone" and stored["outcome"] == "有兴趣"
        assert stored["location"]["address"] == "上海" and stored["version"] == 2
        response = await client.get(
            "/api/v1/tasks", params={"customer_id": str(cust.own.id)}, headers=device.headers
        )
        tasks = {t["id"]: t for t in response.json()["items"]}
        assert tasks[task["id"]]["status"] == "done" and tasks[task["id"]]["completed_at"]
        [follow_up] = [t for t in tasks.values() if t["activity_id"] == visit["id"]]
        assert follow_up["assignee_id"] == str(org.rep.id) and follow_up["source"] == "follow_up"

    async def test_a_pulled_record_may_be_sent_back_whole(self, client, org, cust):
        device = Device(client, org.rep)
        [created] = await device.push([new_activity(cust.own)])
        await device.pull()
        record = dict(device.records["activity"][created["id"]], subject="改了")
        [result] = await device.push([edit("activity", created["id"], 1, **record)])
        assert result == {"id": created["id"], "status": "applied", "version": 2}

    async def test_delete(self, client, org, cust, uow_factory):
        device = Device(client, org.rep)
        activity = await make_activity(uow_factory, customer=cust.own, created_by=org.rep)
        results = await device.push(
            [
                delete("activity", str(activity.id), 1),
                delete("activity", str(activity.id), 1),
                edit("activity", str(activity.id), 2, subject="x"),
            ]
        )
        assert [r["status"] for r in results] == ["applied", "applied", "rejected"]
        assert results[0]["version"] == results[1]["version"] == 2
        assert results[2]["code"] == "sync.record_deleted"


class TestPushRetries:
    async def test_a_lost_response_and_a_retry_apply_nothing_twice(self, client, org, cust, uow_factory):
        device = Device(client, org.rep)
        existing = await make_activity(uow_factory, customer=cust.own, created_by=org.rep)
        batch = [
            new_activity(cust.own, next_follow_up_at=ahead(3), subject="初访"),
            new_task(customer_id=str(cust.own.id)),
            edit("activity", str(existing.id), 1, subject="改过"),
            delete("task", str(uuid.uuid4()), 1),  # rejected both times
        ]
        first = await device.push(batch)  # ... and the device never sees this answer
        activities, tasks = await count(uow_factory, Activity), await count(uow_factory, Task)
        async with uow_factory() as uow:
            log_rows = await uow.change_log.head()

        again = await device.push(batch)
        assert again == first
        assert [r["status"] for r in again] == ["applied", "applied", "applied", "rejected"]
        assert [r.get("version") for r in again[:3]] == [1, 1, 2]
        # Nothing applied twice: no second activity, follow-up task or version bump, no new log rows.
        assert await count(uow_factory, Activity) == activities == 2
        assert await count(uow_factory, Task) == tasks == 2
        async with uow_factory() as uow:
            assert await uow.change_log.head() == log_rows

    async def test_editing_again_before_the_answer_arrives(self, client, org, cust, uow_factory):
        device = Device(client, org.rep)
        activity = await make_activity(uow_factory, customer=cust.own, created_by=org.rep)
        aid = str(activity.id)
        await device.push([edit("activity", aid, 1, subject="一")])  # answer lost: still at base 1
        [second] = await device.push([edit("activity", aid, 1, subject="一", outcome="二")])
        assert second == {"id": aid, "status": "applied", "version": 3}
        [third] = await device.push([edit("activity", aid, 1, subject="一", outcome="二")])
        assert third == second  # and a re-send of that too applies nothing
        # Another device's view of base 1 is stale.
        [other] = await Device(client, org.rep).push([edit("activity", aid, 1, subject="别的")])
        assert other["status"] == "conflict" and other["version"] == 3

    async def test_a_retried_create_from_another_device_conflicts(self, client, org, cust):
        change = new_activity(cust.own)
        assert (await Device(client, org.rep).push([change]))[0]["status"] == "applied"
        [result] = await Device(client, org.rep).push([change])
        assert result["status"] == "conflict" and result["server"]["id"] == change["id"]

    async def test_retry_after_someone_else_changed_it(self, client, org, cust, uow_factory):
        device = Device(client, org.rep)
        activity = await make_activity(uow_factory, customer=cust.own, created_by=org.rep)
        aid = str(activity.id)
        change = edit("activity", aid, 1, subject="我的")
        await device.push([change])  # lost answer
        response = await client.patch(
            f"/api/v1/activities/{aid}", json={"outcome": "经理补充"}, headers=access_headers(org.manager)
        )
        assert response.status_code == 200
        # The device's change was applied (version 2) and is not reported as a conflict.
        assert await device.push([change]) == [{"id": aid, "status": "applied", "version": 2}]


class TestPushConflicts:
    async def test_editing_what_another_device_changed(self, client, org, cust, uow_factory):
        activity = await make_activity(uow_factory, customer=cust.own, created_by=org.rep, subject="原")
        aid = str(activity.id)
        phone, tablet = Device(client, org.rep, "phone"), Device(client, org.rep, "tablet")
        assert (await tablet.push([edit("activity", aid, 1, subject="平板改")]))[0]["version"] == 2
        [result] = await phone.push([edit("activity", aid, 1, subject="手机改")])
        assert result["status"] == "conflict" and result["version"] == 2
        assert result["server"]["subject"] == "平板改" and result["server"]["version"] == 2
        assert set(result["server"]) >= {"id", "customer_id", "occurred_at", "created_by", "version"}
        # Resolving: edit again on top of the server's copy.
        [resolved] = await phone.push([edit("activity", aid, 2, subject="手机改")])
        assert resolved == {"id": aid, "status": "applied", "version": 3}

    async def test_tasks_and_deletes_conflict_too(self, client, org, cust):
        task = new_task()
        await Device(client, org.rep).push([task, edit("task", task["id"], 1, title="新")])
        results = await Device(client, org.rep).push(
            [edit("task", task["id"], 1, title="旧"), delete("task", task["id"], 1)]
        )
        assert [r["status"] for r in results] == ["conflict", "conflict"]
        assert all(r["server"]["title"] == "新" for r in results)


class TestPushRejections:
    async def test_bad_changes_fail_alone_and_in_order(self, client, org, cust, uow_factory):
        device = Device(client, org.rep)
        good1, good2 = new_activity(cust.own), new_task()
        changes = [
            good1,
            {"entity": "customer", "op": "upsert", "id": str(uuid.uuid4()), "data": {"name": "x"}},
            {"entity": "activity", "op": "merge", "id": str(uuid.uuid4())},
            {"entity": "activity", "op": "upsert", "id": "not-a-uuid", "data": {}},
            new_activity(cust.own, occurred_at=ahead(1)),  # in the future
            new_activity(cust.pool),  # reps log on their own customers only
            new_activity(cust.mate),  # out of scope
            {"entity": "activity", "op": "upsert", "id": str(uuid.uuid4()), "data": {"type": "call"}},
            {"entity": "task", "op": "upsert", "id": str(uuid.uuid4()), "data": {"title": "x", "due": 1}},
            new_task(assignee_id=str(org.rep2.id)),
            {"entity": "activity", "op": "upsert", "id": str(uuid.uuid4()), "base_version": -1, "data": {}},
            {"entity": "task", "op": "upsert", "id": str(uuid.uuid4()), "bogus": True, "data": {}},
            good2,
        ]
        results = await device.push(changes)
        assert [r["id"] for r in results] == [c["id"] for c in changes]
        got = [(r["status"], r.get("code")) for r in results]
        assert got == [
            ("applied", None),
            ("rejected", "sync.unknown_entity"),
            ("rejected", "sync.unknown_op"),
            ("rejected", "validation_error"),
            ("rejected", "validation_error"),
            ("rejected", "forbidden"),
            ("rejected", "not_found"),
            ("rejected", "validation_error"),
            ("rejected", "validation_error"),
            ("rejected", "forbidden"),
            ("rejected", "validation_error"),
            ("rejected", "validation_error"),
            ("applied", None),
        ]
        for result in results:
            if result["status"] == "rejected":
                assert result["detail"] and result["errors"], result
                assert all(set(e) == {"loc", "msg", "type"} for e in result["errors"])
        assert results[3]["errors"][0]["loc"] == ["id"]
        assert results[4]["errors"][0]["loc"] == ["data", "occurred_at"]
        assert {tuple(e["loc"]) for e in results[7]["errors"]} == {
            ("data", "customer_id"),
            ("data", "occurred_at"),
        }
        assert results[8]["errors"][0]["loc"] == ["data", "due"]
        assert results[11]["errors"][0]["loc"] == ["bogus"]
        assert await count(uow_factory, Activity) == 1 and await count(uow_factory, Task) == 1

    async def test_records_out_of_scope_are_not_found(self, client, org, cust, uow_factory):
        theirs = await make_activity(uow_factory, customer=cust.mate, created_by=org.rep2, subject="秘密")
        results = await Device(client, org.rep).push(
            [edit("activity", str(theirs.id), 1, subject="x"), delete("activity", str(theirs.id), 1)]
        )
        assert [(r["status"], r["code"]) for r in results] == [("rejected", "not_found")] * 2
        assert all("server" not in r for r in results)

    async def test_fields_fixed_at_creation(self, client, org, cust, uow_factory):
        activity = await make_activity(uow_factory, customer=cust.own, created_by=org.rep)
        device = Device(client, org.rep)
        [moved, same] = await device.push(
            [
                edit("activity", str(activity.id), 1, customer_id=str(cust.mate.id)),
                edit("activity", str(activity.id), 1, customer_id=str(cust.own.id), subject="ok"),
            ]
        )
        assert moved["status"] == "rejected" and moved["errors"][0]["loc"] == ["data", "customer_id"]
        assert same == {"id": str(activity.id), "status": "applied", "version": 2}

    async def test_reps_change_only_their_own_activities(self, client, org, cust, uow_factory):
        by_manager = await make_activity(uow_factory, customer=cust.own, created_by=org.manager)
        [result] = await Device(client, org.rep).push([edit("activity", str(by_manager.id), 1, subject="x")])
        assert (result["status"], result["code"]) == ("rejected", "forbidden")


# ------------------------------------------------------------------------------------------
# Pull
# ------------------------------------------------------------------------------------------


class TestPullRequest:
    async def test_anonymous(self, client):
        assert_problem(await client.get(PULL), 401, "unauthorized")

    @pytest.mark.parametrize("limit", [0, 1001, "many"])
    async def test_limit(self, client, org, limit):
        response = await client.get(PULL, params={"limit": limit}, headers=access_headers(org.rep))
        assert_problem(response, 422, "validation_error")

    async def test_cursors_of_others_or_altered_are_refused(self, client, org, cust):
        device = Device(client, org.rep)
        await device.pull()
        cursor = device.cursor
        assert cursor
        other = await client.get(PULL, params={"cursor": cursor}, headers=access_headers(org.rep2))
        assert_problem(other, 400, "sync.invalid_cursor")
        head, _, sig = cursor.partition(".")
        flipped = head[:-2] + ("A" if head[-2] != "A" else "B") + head[-1]
        for bad in (
            f"{flipped}.{sig}",
            f"{head}.{sig[::-1]}",
            head,
            "garbage",
            "",
            "..",
            "a.b.c",
            "eyJ1IjoxfQ.AAAAAAAAAAAAAAAAAAAAAA",
        ):
            response = await client.get(PULL, params={"cursor": bad}, headers=device.headers)
            if bad == "":
                assert response.status_code == 200  # an empty cursor is no cursor
                continue
            assert_problem(response, 400, "sync.invalid_cursor")
        # A list cursor (pagination) is not a sync cursor either.
        listing = await client.get("/api/v1/customers", params={"limit": 1}, headers=device.headers)
        list_cursor = listing.json()["next_cursor"]
        assert list_cursor
        response = await client.get(PULL, params={"cursor": list_cursor}, headers=device.headers)
        assert_problem(response, 400, "sync.invalid_cursor")


class TestPull:
    @pytest.fixture
    async def world(self, org, cust, uow_factory):
        """The rep's own customer with activities and tasks, a second own customer, and records
        the rep must never receive."""
        second = await make_customer(
            uow_factory,
            name="第二个",
            owner=org.rep,
            contacts=[{"name": "丙", "phones": ["13800138000"]}, {"name": "丁"}],
        )
        activities = [
            await make_activity(uow_factory, customer=c, created_by=org.rep, subject=f"a{i}")
            for i, c in enumerate([cust.own, cust.own, second, second, second])
        ]
        await make_activity(uow_factory, customer=cust.mate, created_by=org.rep2)
        await make_activity(uow_factory, customer=cust.pool, created_by=org.manager)
        async with uow_factory() as uow:
            rep = await auth_service.build_principal_in(uow, org.rep)
        for values in ({"customer_id": cust.own.id}, {"customer_id": second.id}, {}):
            await tasks_service.create_task(
                uow_factory(), rep, values={"title": "t", "due_at": NOW, **values}
            )
        return SimpleNamespace(second=second, activities=activities, rep=rep)

    async def test_first_pull_is_a_snapshot_of_the_scope(self, client, org, cust, world, uow_factory):
        device = Device(client, org.rep)
        [page] = await device.pull()
        assert page["reset"] is True and page["has_more"] is False
        assert_same_state(device, await server_state(uow_factory, org.rep))
        assert set(device.records["customer"]) == {str(cust.own.id), str(world.second.id)}
        assert len(device.records["activity"]) == 5 and len(device.records["task"]) == 3
        assert len(device.records["contact"]) == 3
        phones = [c["phones"] for c in device.records["contact"].values() if c["phones"]]
        assert phones == [["+8613800138000"]]  # the rep's own customers: not masked
        # Nothing changed since: an empty page with the same position.
        again = await device.pull_page()
        assert again["changes"] == [] and again["reset"] is False and again["has_more"] is False

    @pytest.mark.parametrize("limit", [1, 2, 3, 7])
    async def test_snapshot_pages(self, client, org, world, uow_factory, limit):
        device = Device(client, org.rep)
        pages = await device.pull(limit=limit)
        assert [p["reset"] for p in pages] == [True] + [False] * (len(pages) - 1)
        assert all(len(p["changes"]) <= limit for p in pages)
        assert sum(len(p["changes"]) for p in pages) == 2 + 3 + 5 + 3
        assert_same_state(device, await server_state(uow_factory, org.rep))

    async def test_changes_during_a_paged_snapshot(self, client, org, cust, world, uow_factory):
        device = Device(client, org.rep)
        await device.pull_page(limit=3)
        # Meanwhile: a new activity, a deletion, a customer changing hands.
        await activities_service.log_activity(
            uow_factory(),
            world.rep,
            values={
                "customer_id": world.second.id,
                "type": "call",
                "occurred_at": NOW - dt.timedelta(hours=1),
            },
        )
        await activities_service.delete_activity(
            uow_factory(), world.rep, activity_id=world.activities[4].id, expected_version=1
        )
        await pool_service.release(uow_factory(), world.rep, customer_id=cust.own.id)
        await device.pull(limit=3)
        assert_same_state(device, await server_state(uow_factory, org.rep))
        assert str(cust.own.id) not in device.records["customer"]

    async def test_incremental_changes_and_tombstones(self, client, org, cust, world, uow_factory):
        device = Device(client, org.rep)
        await device.pull()
        headers = device.headers
        created = await client.post(
            "/api/v1/activities",
            headers=headers,
            json={"customer_id": str(cust.own.id), "type": "call", "occurred_at": ago(1), "subject": "新"},
        )
        gone = world.activities[0]
        assert (await client.delete(f"/api/v1/activities/{gone.id}", headers=headers)).status_code == 204
        contact = cust.own.contacts_[0]
        response = await client.patch(
            f"/api/v1/customers/{cust.own.id}/contacts/{contact.id}", json={"title": "经理"}, headers=headers
        )
        assert response.status_code == 200, response.text
        # Unrelated writes elsewhere do not reach this device.
        await make_activity(uow_factory, customer=cust.mate, created_by=org.rep2)

        [page] = await device.pull()
        ops = {(c["entity"], c["id"]): c["op"] for c in page["changes"]}
        assert ops[("activity", created.json()["id"])] == "upsert"
        assert ops[("activity", str(gone.id))] == "delete"
        assert ops[("contact", str(contact.id))] == "upsert"
        assert ops[("customer", str(cust.own.id))] == "upsert"  # last_contact_at moved
        assert all(k[1] != str(cust.mate.id) for k in ops)
        tombstone = next(c for c in page["changes"] if c["id"] == str(gone.id))
        assert tombstone == {"entity": "activity", "op": "delete", "id": str(gone.id), "version": 2}
        assert_same_state(device, await server_state(uow_factory, org.rep))

    async def test_a_deleted_customer_takes_its_children(self, client, org, cust, world, uow_factory):
        device = Device(client, org.rep)
        await device.pull()
        response = await client.delete(f"/api/v1/customers/{world.second.id}", headers=device.headers)
        assert response.status_code == 204
        [page] = await device.pull()
        tombstone = {"entity": "customer", "op": "delete", "id": str(world.second.id), "version": 2}
        assert tombstone in page["changes"]
        assert all(a["customer_id"] != str(world.second.id) for a in device.records["activity"].values())
        assert_same_state(device, await server_state(uow_factory, org.rep))

    async def test_reassignment_is_a_scope_exit_and_an_entry(self, client, org, cust, world, uow_factory):
        rep, rep2, manager = Device(client, org.rep), Device(client, org.rep2), Device(client, org.manager)
        for device in (rep, rep2, manager):
            await device.pull()
        response = await client.post(
            f"/api/v1/customers/{world.second.id}/assign",
            json={"owner_id": str(org.rep2.id)},
            headers=manager.headers,
        )
        assert response.status_code == 200, response.text

        [page] = await rep.pull()
        assert page["changes"] == [{"entity": "customer", "op": "scope_exit", "id": str(world.second.id)}]
        assert str(world.second.id) not in rep.records["customer"]
        assert all(a["customer_id"] != str(world.second.id) for a in rep.records["activity"].values())

        [page] = await rep2.pull()
        entered = [(c["entity"], c["op"]) for c in page["changes"]]
        assert entered[0] == ("customer", "upsert")
        assert sorted(entered[1:]) == sorted(
            [("contact", "upsert")] * 2 + [("activity", "upsert")] * 3 + [("task", "upsert")]
        )
        # The manager keeps it (same team): just an update.
        [page] = await manager.pull()
        assert [(c["entity"], c["op"]) for c in page["changes"]] == [("customer", "upsert")]
        for device, user in ((rep, org.rep), (rep2, org.rep2), (manager, org.manager)):
            assert_same_state(device, await server_state(uow_factory, user))

    async def test_released_to_the_pool_and_claimed_back(self, client, org, cust, world, uow_factory):
        rep = Device(client, org.rep)
        await rep.pull()
        response = await client.post(
            f"/api/v1/customers/{world.second.id}/release", json={}, headers=rep.headers
        )
        assert response.status_code == 200, response.text
        [page] = await rep.pull()
        assert [(c["op"], c["id"]) for c in page["changes"]] == [("scope_exit", str(world.second.id))]
        # The rep may not claim it straight back (reclaim block); their manager gives it back.
        response = await client.post(f"/api/v1/customers/{world.second.id}/claim", headers=rep.headers)
        assert response.status_code == 409, response.text
        response = await client.post(
            f"/api/v1/customers/{world.second.id}/assign",
            json={"owner_id": str(org.rep.id)},
            headers=access_headers(org.manager),
        )
        assert response.status_code == 200, response.text
        await rep.pull()
        assert str(world.second.id) in rep.records["customer"]
        assert_same_state(rep, await server_state(uow_factory, org.rep))

    async def test_other_roles(self, client, org, cust, world, uow_factory):
        for user in (org.manager, org.other_manager, org.director, org.finance, org.rep2):
            device = Device(client, user)
            await device.pull(limit=4)
            assert_same_state(device, await server_state(uow_factory, user))
        director = Device(client, org.director)
        await director.pull()
        assert str(cust.pool.id) in director.records["customer"]

    async def test_a_changed_scope_starts_over(self, client, org, cust, world, uow_factory):
        device = Device(client, org.manager)
        await device.pull()
        async with uow_factory() as uow:
            team = await uow.teams.get_unscoped(org.other.id)
            team.manager_id = org.manager.id
            await uow.commit()
        [page] = await device.pull()
        assert page["reset"] is True
        assert str(cust.other.id) in device.records["customer"]
        assert_same_state(device, await server_state(uow_factory, org.manager))


# ------------------------------------------------------------------------------------------
# Concurrency: real transactions (PostgreSQL: really concurrent; SQLite: serialised)
# ------------------------------------------------------------------------------------------


@pytest.fixture
def committed_uow(committed_factory):
    return lambda: UnitOfWork(committed_factory)


@pytest.fixture
async def committed_client(app, committed_factory):
    import httpx

    app.state.session_factory = committed_factory
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


async def _principal(uow_factory, user):
    async with uow_factory() as uow:
        return await auth_service.build_principal_in(uow, user)


class TestConcurrentWriters:
    async def test_a_device_ends_with_exactly_the_servers_state(self, committed_client, committed_uow):
        org = await make_sales_org(committed_uow)
        reps = [org.rep, org.rep2]
        customers = [
            await make_customer(committed_uow, owner=reps[i % 2], contacts=[{"name": f"c{i}"}])
            for i in range(6)
        ]
        principals = {u.id: await _principal(committed_uow, u) for u in (*reps, org.manager, org.director)}
        rng = random.Random(4)
        activity_ids: list[tuple[uuid.UUID, Any]] = []

        async def writer(n: int) -> None:
            for step in range(6):
                customer = rng.choice(customers)
                owner = (
                    principals[customer.owner_id]
                    if customer.owner_id in principals
                    else principals[org.director.id]
                )
                kind = (n + step) % 5
                try:
                    if kind == 0:
                        a = await activities_service.log_activity(
                            committed_uow(),
                            owner,
                            values={
                                "customer_id": customer.id,
                                "type": "call",
                                "occurred_at": NOW - dt.timedelta(minutes=rng.randint(1, 500)),
                                "next_follow_up_at": NOW + dt.timedelta(days=1),
                            },
                        )
                        activity_ids.append((a.id, owner))
                    elif kind == 1 and activity_ids:
                        aid, who = rng.choice(activity_ids)
                        await activities_service.update_activity(
                            committed_uow(),
                            who,
                            activity_id=aid,
                            expected_version=None,
                            changes={"subject": f"s{n}-{step}"},
                        )
                    elif kind == 2 and activity_ids:
                        aid, who = activity_ids.pop(rng.randrange(len(activity_ids)))
                        await activities_service.delete_activity(
                            committed_uow(), who, activity_id=aid, expected_version=None
                        )
                    elif kind == 3:
                        target = rng.choice(reps)
                        await pool_service.assign(
                            committed_uow(),
                            principals[org.manager.id],
                            customer_id=customer.id,
                            owner_id=target.id,
                        )
                        customer.owner_id = target.id
                    else:
                        await customers_service.update_customer(
                            committed_uow(),
                            principals[org.director.id],
                            customer_id=customer.id,
                            expected_version=None,
                            changes={"notes": f"n{n}-{step}"},
                        )
                except DomainError:
                    pass  # concurrent edits may lose a race (stale version, reassigned customer)
                except DBAPIError as exc:
                    # Reassigning locks the customer and then the new owner's user row FOR
                    # UPDATE, which blocks foreign-key checks (KEY SHARE) of concurrent inserts;
                    # PostgreSQL may break such a cycle by rolling one transaction back. A
                    # rolled-back transaction logs nothing, so the sync state stays exact.
                    assert "deadlock detected" in str(exc), exc

        device = Device(committed_client, org.rep)
        manager = Device(committed_client, org.manager)

        async def reader() -> None:
            for _ in range(12):
                await device.pull(limit=5)
                await manager.pull(limit=7)
                await asyncio.sleep(0)

        outcomes = await asyncio.gather(reader(), *[writer(n) for n in range(6)], return_exceptions=True)
        assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
        await device.pull(limit=5)
        await manager.pull(limit=7)
        assert_same_state(device, await server_state(committed_uow, org.rep))
        assert_same_state(manager, await server_state(committed_uow, org.manager))
        assert len(manager.records["customer"]) == 6  # both reps are in the manager's teams

    async def test_pulled_sequence_numbers_have_no_holes(self, committed_uow):
        """Many transactions commit concurrently while a reader pulls: every page continues
        exactly where the last one stopped, so a change that commits late cannot be skipped."""
        org = await make_sales_org(committed_uow)
        customers = [await make_customer(committed_uow, owner=org.rep) for _ in range(4)]
        rep = await _principal(committed_uow, org.rep)
        director = await _principal(committed_uow, org.director)
        async with committed_uow() as uow:
            start = await uow.change_log.head()
        writers_done = asyncio.Event()

        async def writer(n: int) -> None:
            for i in range(8):
                if (n + i) % 2:
                    await activities_service.log_activity(
                        committed_uow(),
                        rep,
                        values={
                            "customer_id": customers[(n + i) % 4].id,
                            "type": "visit",
                            "occurred_at": NOW - dt.timedelta(minutes=n * 10 + i),
                        },
                    )
                else:
                    await tasks_service.create_task(
                        committed_uow(), rep, values={"title": f"t{n}.{i}", "due_at": NOW}
                    )
                await asyncio.sleep(0)

        seen: list[int] = []
        position = None
        result = await sync_service.pull(committed_uow(), director, cursor=None, limit=1000)
        while result.has_more:
            result = await sync_service.pull(committed_uow(), director, cursor=result.next_cursor, limit=1000)
        position = result.next_cursor

        async def reader() -> None:
            nonlocal position
            while True:
                done = writers_done.is_set()
                result = await sync_service.pull(committed_uow(), director, cursor=position, limit=3)
                if result.seqs:
                    expected_first = seen[-1] + 1 if seen else start + 1
                    # Contiguous: the page starts right after the last seq seen, without holes.
                    assert list(result.seqs) == list(range(expected_first, expected_first + len(result.seqs)))
                seen.extend(result.seqs)
                position = result.next_cursor
                if done and not result.has_more:
                    return
                await asyncio.sleep(0)

        async def writers() -> None:
            try:
                await asyncio.gather(*[writer(n) for n in range(8)])
            finally:
                writers_done.set()

        outcomes = await asyncio.gather(reader(), writers(), return_exceptions=True)
        assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
        async with committed_uow() as uow:
            logged = list(
                (
                    await uow.session.scalars(
                        select(ChangeLog.seq).where(ChangeLog.seq > start).order_by(ChangeLog.seq)
                    )
                ).all()
            )
        assert seen == logged
        assert len(logged) >= 8 * 8  # each write logs its record (and an activity its customer)


class TestPushBatchesInChunks:
    async def test_the_same_record_twice_in_one_batch(self, client, org, cust):
        change = new_activity(cust.own)
        again = edit("activity", change["id"], 0, **change["data"], subject="再改")
        results = await Device(client, org.rep).push([change, change, again])
        assert [(r["status"], r["version"]) for r in results] == [
            ("applied", 1),
            ("applied", 1),
            ("applied", 2),
        ]

    async def test_a_failure_is_isolated_across_chunks(self, client, org, cust, uow_factory):
        # Chunks of ITEMS_PER_TRANSACTION: a bad change in the middle of a chunk redoes that
        # chunk change by change; the others are applied once.
        good = [new_activity(cust.own) for _ in range(120)]
        bad = new_activity(cust.mate)
        changes = [*good[:75], bad, *good[75:]]
        results = await Device(client, org.rep).push(changes)
        assert [r["status"] for r in results] == ["applied"] * 75 + ["rejected"] + ["applied"] * 45
        assert await count(uow_factory, Activity) == 120

"""Tasks: creating (client ids, assignees, customers, activities), listing in scope, reading,
changing with If-Match (complete, reopen, reassign), soft deleting, and the follow-up task an
activity's ``next_follow_up_at`` creates."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace

import pytest

from tests.support.builders import (
    access_headers,
    assert_problem,
    make_activity,
    make_customer,
    make_sales_org,
    walk_pages,
)

TASKS = "/api/v1/tasks"
ACTIVITIES = "/api/v1/activities"
DUE = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def due(days: float = 0) -> str:
    return iso(DUE + dt.timedelta(days=days))


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


@pytest.fixture
async def cust(org, uow_factory):
    return SimpleNamespace(
        own=await make_customer(uow_factory, name="自己的", owner=org.rep),
        mate=await make_customer(uow_factory, name="同事的", owner=org.rep2),
        pool=await make_customer(uow_factory, name="公海的"),
        other=await make_customer(uow_factory, name="别组的", owner=org.other_rep),
    )


async def create(client, user, *, status: int = 201, **fields) -> dict:
    body = {"title": "回访", "due_at": due(), **fields}
    response = await client.post(TASKS, json=body, headers=access_headers(user))
    assert response.status_code == status, response.text
    return response.json()


async def listed(client, user, **params) -> list[str]:
    response = await client.get(TASKS, headers=access_headers(user), params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["items"]]


class TestCreateTask:
    async def test_anonymous(self, client):
        assert_problem(await client.post(TASKS, json={"title": "x", "due_at": due()}), 401, "unauthorized")

    async def test_finance_may_not(self, client, org):
        response = await client.post(
            TASKS, json={"title": "x", "due_at": due()}, headers=access_headers(org.finance)
        )
        assert_problem(response, 403, "forbidden")

    async def test_rep_creates_a_task_on_own_customer(self, client, org, cust):
        client_id = str(uuid.uuid4())
        response = await client.post(
            TASKS,
            headers=access_headers(org.rep),
            json={
                "id": client_id,
                "title": "  送报价  ",
                "notes": "带样品",
                "due_at": "2026-12-01T10:00:00+08:00",
                "customer_id": str(cust.own.id),
            },
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert response.headers["etag"] == '"1"'
        assert response.headers["location"] == f"{TASKS}/{client_id}"
        assert body["id"] == client_id and body["title"] == "送报价" and body["notes"] == "带样品"
        assert body["due_at"] == "2026-12-01T02:00:00Z" and body["status"] == "open"
        assert body["assignee_id"] == str(org.rep.id) and body["created_by"] == str(org.rep.id)
        assert body["customer_id"] == str(cust.own.id) and body["activity_id"] is None
        assert body["completed_at"] is None and body["source"] == "manual" and body["version"] == 1
        fetched = await client.get(f"{TASKS}/{client_id}", headers=access_headers(org.rep))
        assert fetched.status_code == 200 and fetched.json() == body

    async def test_a_task_without_customer(self, client, org):
        body = await create(client, org.rep)
        assert body["customer_id"] is None and body["assignee_id"] == str(org.rep.id)

    async def test_linked_to_an_activity_takes_its_customer(self, client, org, cust, uow_factory):
        activity = await make_activity(uow_factory, customer=cust.own, created_by=org.rep)
        body = await create(client, org.rep, activity_id=str(activity.id))
        assert body["activity_id"] == str(activity.id) and body["customer_id"] == str(cust.own.id)
        response = await client.post(
            TASKS,
            headers=access_headers(org.manager),
            json={
                "title": "x",
                "due_at": due(),
                "activity_id": str(activity.id),
                "customer_id": str(cust.mate.id),
            },
        )
        problem = assert_problem(response, 422, "validation_error")
        assert problem["errors"][0]["loc"] == ["body", "activity_id"]

    async def test_duplicate_client_id(self, client, org):
        first = await create(client, org.rep)
        response = await client.post(
            TASKS, json={"id": first["id"], "title": "x", "due_at": due()}, headers=access_headers(org.rep)
        )
        assert_problem(response, 409, "task.already_exists")

    @pytest.mark.parametrize(
        ("who", "whose", "status", "code"),
        [
            ("rep", "pool", 403, "forbidden"),  # visible, but not theirs
            ("rep", "mate", 404, "not_found"),
            ("manager", "other", 404, "not_found"),
        ],
    )
    async def test_customer_rules(self, client, org, cust, who, whose, status, code):
        response = await client.post(
            TASKS,
            headers=access_headers(getattr(org, who)),
            json={"title": "x", "due_at": due(), "customer_id": str(getattr(cust, whose).id)},
        )
        assert_problem(response, status, code)

    async def test_assignees(self, client, org, cust):
        # Reps assign to themselves only; managers within their teams; directors anyone active.
        response = await client.post(
            TASKS,
            headers=access_headers(org.rep),
            json={"title": "x", "due_at": due(), "assignee_id": str(org.rep2.id)},
        )
        assert_problem(response, 403, "forbidden")
        body = await create(client, org.manager, assignee_id=str(org.rep2.id), customer_id=str(cust.mate.id))
        assert body["assignee_id"] == str(org.rep2.id) and body["created_by"] == str(org.manager.id)
        response = await client.post(
            TASKS,
            headers=access_headers(org.manager),
            json={"title": "x", "due_at": due(), "assignee_id": str(org.other_rep.id)},
        )
        assert_problem(response, 403, "forbidden")
        body = await create(client, org.director, assignee_id=str(org.other_rep.id))
        assert body["assignee_id"] == str(org.other_rep.id)
        for nobody in (org.finance.id, uuid.uuid4()):
            response = await client.post(
                TASKS,
                headers=access_headers(org.director),
                json={"title": "x", "due_at": due(), "assignee_id": str(nobody)},
            )
            assert_problem(response, 422, "task.invalid_assignee")

    @pytest.mark.parametrize(
        ("patch", "loc"),
        [
            ({"title": ""}, ["body", "title"]),
            ({"title": "   "}, ["body", "title"]),
            ({"due_at": "2026-12-01T10:00:00"}, ["body", "due_at"]),
            ({"status": "later"}, ["body", "status"]),
            ({"source": "follow_up"}, ["body", "source"]),
        ],
    )
    async def test_validation(self, client, org, patch, loc):
        response = await client.post(
            TASKS, headers=access_headers(org.rep), json={"title": "x", "due_at": due(), **patch}
        )
        problem = assert_problem(response, 422)
        assert problem["errors"][0]["loc"] == loc


class TestListTasks:
    @pytest.fixture
    async def tasks(self, client, org, cust):
        return SimpleNamespace(
            rep_own=await create(client, org.rep, customer_id=str(cust.own.id), due_at=due(1)),
            rep_loose=await create(client, org.rep, due_at=due(0)),
            for_rep_by_manager=await create(client, org.manager, assignee_id=str(org.rep.id), due_at=due(2)),
            on_rep_customer=await create(
                client,
                org.director,
                assignee_id=str(org.manager.id),
                customer_id=str(cust.own.id),
                due_at=due(3),
            ),
            rep2=await create(client, org.rep2, due_at=due(4)),
            other=await create(client, org.other_rep, due_at=due(5)),
        )

    async def test_anonymous(self, client):
        assert_problem(await client.get(TASKS), 401, "unauthorized")

    async def test_scope_and_order(self, client, org, tasks):
        t = tasks
        assert await listed(client, org.rep) == [
            t.rep_loose["id"],
            t.rep_own["id"],
            t.for_rep_by_manager["id"],
            t.on_rep_customer["id"],
        ]
        # The manager: the team's members' tasks and the tasks on the team's customers.
        assert set(await listed(client, org.manager)) == {
            t.rep_own["id"],
            t.rep_loose["id"],
            t.for_rep_by_manager["id"],
            t.on_rep_customer["id"],
            t.rep2["id"],
        }
        assert await listed(client, org.other_rep) == [t.other["id"]]
        assert len(await listed(client, org.director)) == 6
        assert len(await listed(client, org.finance)) == 6
        assert (await listed(client, org.director, sort="-due_at"))[0] == t.other["id"]

    async def test_filters_and_pages(self, client, org, cust, tasks):
        t = tasks
        assert await listed(client, org.director, customer_id=str(cust.own.id)) == [
            t.rep_own["id"],
            t.on_rep_customer["id"],
        ]
        by_manager = await listed(client, org.director, assignee_id=str(org.manager.id))
        assert by_manager == [t.on_rep_customer["id"]]
        assert await listed(client, org.director, due_from=due(4)) == [t.rep2["id"], t.other["id"]]
        assert await listed(client, org.director, due_to=due(1)) == [t.rep_loose["id"]]
        assert await listed(client, org.director, status="done") == []
        seen = [x["id"] for x in await walk_pages(client, TASKS, access_headers(org.director), limit=4)]
        assert seen == await listed(client, org.director)


class TestGetTask:
    async def test_scope(self, client, org):
        task = await create(client, org.rep)
        target = f"{TASKS}/{task['id']}"
        assert_problem(await client.get(target), 401, "unauthorized")
        assert (await client.get(target, headers=access_headers(org.manager))).status_code == 200
        assert_problem(await client.get(target, headers=access_headers(org.rep2)), 404, "not_found")
        assert_problem(await client.get(target, headers=access_headers(org.other_manager)), 404, "not_found")
        assert_problem(
            await client.get(f"{TASKS}/{uuid.uuid4()}", headers=access_headers(org.rep)), 404, "not_found"
        )


class TestUpdateTask:
    async def test_complete_reopen_and_if_match(self, client, org):
        task = await create(client, org.rep)
        target, headers = f"{TASKS}/{task['id']}", access_headers(org.rep)
        response = await client.patch(target, json={"status": "done"}, headers={**headers, "If-Match": '"1"'})
        assert response.status_code == 200, response.text
        done = response.json()
        assert response.headers["etag"] == '"2"' and done["status"] == "done" and done["completed_at"]
        stale = await client.patch(target, json={"title": "y"}, headers={**headers, "If-Match": '"1"'})
        assert_problem(stale, 412, "conflict.version_mismatch")
        response = await client.patch(target, json={"status": "cancelled"}, headers=headers)
        assert response.json()["completed_at"] == done["completed_at"]  # closed once, at that time
        response = await client.patch(target, json={"status": "open", "due_at": due(7)}, headers=headers)
        assert response.json()["completed_at"] is None and response.json()["due_at"] == due(7)

    async def test_who_may_change(self, client, org, cust):
        by_manager = await create(client, org.manager, customer_id=str(cust.own.id))
        target = f"{TASKS}/{by_manager['id']}"
        # The rep sees it (on their customer) but it is neither assigned to nor created by them.
        assert_problem(
            await client.patch(target, json={"title": "x"}, headers=access_headers(org.rep)), 403, "forbidden"
        )
        assert_problem(
            await client.patch(target, json={"title": "x"}, headers=access_headers(org.finance)),
            403,
            "forbidden",
        )
        assert_problem(
            await client.patch(target, json={"title": "x"}, headers=access_headers(org.rep2)),
            404,
            "not_found",
        )
        response = await client.patch(
            target, json={"assignee_id": str(org.rep.id)}, headers=access_headers(org.manager)
        )
        assert response.status_code == 200 and response.json()["assignee_id"] == str(org.rep.id)
        response = await client.patch(target, json={"status": "done"}, headers=access_headers(org.rep))
        assert response.status_code == 200
        response = await client.patch(
            target, json={"assignee_id": str(org.rep2.id)}, headers=access_headers(org.rep)
        )
        assert_problem(response, 403, "forbidden")

    @pytest.mark.parametrize(
        "patch",
        [
            {"title": None},
            {"due_at": None},
            {"status": None},
            {"assignee_id": None},
            {"customer_id": str(uuid.uuid4())},
            {"completed_at": "2026-01-01T00:00:00Z"},
        ],
    )
    async def test_validation(self, client, org, patch):
        task = await create(client, org.rep)
        response = await client.patch(f"{TASKS}/{task['id']}", json=patch, headers=access_headers(org.rep))
        assert_problem(response, 422, "validation_error")


class TestDeleteTask:
    async def test_soft_delete(self, client, org):
        keep, gone = await create(client, org.rep), await create(client, org.rep)
        target, headers = f"{TASKS}/{gone['id']}", access_headers(org.rep)
        assert_problem(await client.delete(target), 401, "unauthorized")
        assert_problem(await client.delete(target, headers=access_headers(org.rep2)), 404, "not_found")
        assert_problem(await client.delete(target, headers=access_headers(org.finance)), 403, "forbidden")
        assert_problem(
            await client.delete(target, headers={**headers, "If-Match": '"2"'}),
            412,
            "conflict.version_mismatch",
        )
        response = await client.delete(target, headers={**headers, "If-Match": '"1"'})
        assert response.status_code == 204 and response.content == b""
        assert await listed(client, org.rep) == [keep["id"]]
        assert_problem(await client.get(target, headers=headers), 404, "not_found")
        assert_problem(await client.delete(target, headers=headers), 404, "not_found")


class TestFollowUps:
    async def test_an_activity_with_a_follow_up_creates_a_task_for_its_author(self, client, org, cust):
        response = await client.post(
            ACTIVITIES,
            headers=access_headers(org.rep),
            json={
                "customer_id": str(cust.own.id),
                "type": "visit",
                "subject": "初访",
                "occurred_at": "2025-06-01T09:30:00+08:00",
                "next_follow_up_at": "2025-06-08T10:00:00+08:00",
            },
        )
        assert response.status_code == 201, response.text
        activity = response.json()
        [task] = (
            await client.get(TASKS, params={"activity_id": activity["id"]}, headers=access_headers(org.rep))
        ).json()["items"]
        assert task["title"] == "Follow up: 初访" and task["source"] == "follow_up"
        assert task["assignee_id"] == str(org.rep.id) and task["created_by"] == str(org.rep.id)
        assert task["customer_id"] == str(cust.own.id) and task["due_at"] == "2025-06-08T02:00:00Z"
        assert task["status"] == "open"
        # Without a follow-up time, no task.
        response = await client.post(
            ACTIVITIES,
            headers=access_headers(org.rep),
            json={
                "customer_id": str(cust.own.id),
                "type": "call",
                "occurred_at": "2025-06-02T09:30:00+08:00",
            },
        )
        assert await listed(client, org.rep, activity_id=response.json()["id"]) == []

    async def test_the_task_follows_the_activity(self, client, org, cust):
        headers = access_headers(org.rep)
        activity = (
            await client.post(
                ACTIVITIES,
                headers=headers,
                json={
                    "customer_id": str(cust.own.id),
                    "type": "call",
                    "occurred_at": "2025-06-01T09:30:00Z",
                    "next_follow_up_at": "2025-06-08T10:00:00Z",
                },
            )
        ).json()
        target = f"{ACTIVITIES}/{activity['id']}"

        async def follow_ups() -> list[dict]:
            response = await client.get(TASKS, params={"activity_id": activity["id"]}, headers=headers)
            return response.json()["items"]

        await client.patch(target, json={"next_follow_up_at": "2025-06-09T10:00:00Z"}, headers=headers)
        [task] = await follow_ups()
        assert task["due_at"] == "2025-06-09T10:00:00Z" and task["version"] == 2
        await client.patch(target, json={"next_follow_up_at": None}, headers=headers)
        [task] = await follow_ups()
        assert task["status"] == "cancelled" and task["completed_at"] is not None
        await client.patch(target, json={"next_follow_up_at": "2025-06-10T10:00:00Z"}, headers=headers)
        tasks = await follow_ups()
        assert sorted(t["status"] for t in tasks) == ["cancelled", "open"]
        assert (await client.delete(target, headers=headers)).status_code == 204
        assert sorted(t["status"] for t in await follow_ups()) == ["cancelled", "cancelled"]


async def test_dates_out_of_range_are_validation_errors(client, org):
    response = await client.post(
        TASKS, headers=access_headers(org.rep), json={"title": "x", "due_at": "0001-01-01T00:00:00+05:00"}
    )
    problem = assert_problem(response, 422, "validation_error")
    assert problem["errors"][0]["loc"] == ["body", "due_at"]

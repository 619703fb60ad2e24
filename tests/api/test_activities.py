"""Activities: logging calls and visits (client ids, location, last_contact_at), listing with
filters and scope, reading, changing with If-Match and soft deleting."""

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

ACTIVITIES = "/api/v1/activities"
CUSTOMERS = "/api/v1/customers"
T0 = dt.datetime(2025, 6, 1, 1, 30, tzinfo=dt.UTC)


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


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def at(days: float = 0) -> str:
    return iso(T0 + dt.timedelta(days=days))


async def log(client, user, customer, *, status: int = 201, **fields) -> dict:
    body = {"customer_id": str(customer.id), "type": "call", "occurred_at": at(), **fields}
    response = await client.post(ACTIVITIES, json=body, headers=access_headers(user))
    assert response.status_code == status, response.text
    return response.json()


async def last_contact(client, org, customer) -> str | None:
    """The customer's ``last_contact_at`` as a director (all scope) sees it."""
    response = await client.get(f"{CUSTOMERS}/{customer.id}", headers=access_headers(org.director))
    assert response.status_code == 200, response.text
    return response.json()["last_contact_at"]


async def listed(client, user, **params) -> list[str]:
    response = await client.get(ACTIVITIES, headers=access_headers(user), params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    return [a["id"] for a in response.json()["items"]]


class TestCreateActivity:
    async def test_anonymous(self, client, cust):
        response = await client.post(
            ACTIVITIES, json={"customer_id": str(cust.own.id), "type": "call", "occurred_at": at()}
        )
        assert_problem(response, 401, "unauthorized")

    async def test_finance_cannot_log(self, client, org, cust):
        response = await client.post(
            ACTIVITIES,
            headers=access_headers(org.finance),
            json={"customer_id": str(cust.own.id), "type": "call", "occurred_at": at()},
        )
        assert_problem(response, 403, "forbidden")

    async def test_rep_logs_a_visit_on_own_customer(self, client, org, cust):
        client_id = str(uuid.uuid4())
        contact_id = str(cust.own.contacts_[0].id)
        location = {"lat": 39.9042, "lng": 116.4074, "accuracy": 15.5, "address": "北京市东城区正义路2号"}
        response = await client.post(
            ACTIVITIES,
            headers=access_headers(org.rep),
            json={
                "id": client_id,
                "customer_id": str(cust.own.id),
                "contact_id": contact_id,
                "type": "visit",
                "occurred_at": "2025-06-01T09:30:00+08:00",
                "duration_minutes": 45,
                "subject": "上门拜访",
                "notes": "演示了产品",
                "outcome": "有兴趣",
                "next_follow_up_at": "2025-06-08T10:00:00+08:00",
                "location": location,
                "device_id": "iphone-7",
            },
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["id"] == client_id
        assert response.headers["etag"] == '"1"'
        assert response.headers["location"] == f"{ACTIVITIES}/{client_id}"
        assert body["customer_id"] == str(cust.own.id) and body["contact_id"] == contact_id
        assert body["type"] == "visit" and body["occurred_at"] == "2025-06-01T01:30:00Z"
        assert body["location"] == location
        assert body["next_follow_up_at"] == "2025-06-08T02:00:00Z"
        assert body["created_by"] == str(org.rep.id) and body["device_id"] == "iphone-7"
        assert body["duration_minutes"] == 45 and body["outcome"] == "有兴趣" and body["version"] == 1
        assert body["received_at"] is not None
        fetched = await client.get(f"{ACTIVITIES}/{client_id}", headers=access_headers(org.rep))
        assert fetched.status_code == 200 and fetched.json() == body
        assert await last_contact(client, org, cust.own) == "2025-06-01T01:30:00Z"

    async def test_server_generates_an_id_without_location(self, client, org, cust):
        body = await log(client, org.rep, cust.own)
        assert uuid.UUID(body["id"]) and body["location"] is None and body["contact_id"] is None

    async def test_last_contact_only_moves_forward(self, client, org, cust):
        await log(client, org.rep, cust.own, occurred_at=at(0))
        assert await last_contact(client, org, cust.own) == at(0)
        await log(client, org.rep, cust.own, occurred_at=at(-3))  # logged late, happened earlier
        assert await last_contact(client, org, cust.own) == at(0)
        await log(client, org.rep, cust.own, occurred_at=at(2))
        assert await last_contact(client, org, cust.own) == at(2)
        # The other customers are untouched.
        assert await last_contact(client, org, cust.mate) is None

    async def test_rep_on_pool_customer_is_forbidden(self, client, org, cust):
        response = await client.post(
            ACTIVITIES,
            headers=access_headers(org.rep),
            json={"customer_id": str(cust.pool.id), "type": "call", "occurred_at": at()},
        )
        assert_problem(response, 403, "forbidden")
        assert await last_contact(client, org, cust.pool) is None

    @pytest.mark.parametrize(
        ("who", "whose"), [("rep", "mate"), ("rep", "other"), ("manager", "other"), ("other_manager", "own")]
    )
    async def test_out_of_scope_customer_is_404(self, client, org, cust, who, whose):
        response = await client.post(
            ACTIVITIES,
            headers=access_headers(getattr(org, who)),
            json={"customer_id": str(getattr(cust, whose).id), "type": "call", "occurred_at": at()},
        )
        assert_problem(response, 404, "not_found")

    @pytest.mark.parametrize(
        ("who", "whose"),
        [
            ("manager", "own"),
            ("manager", "pool"),
            ("support", "other"),
            ("director", "mate"),
            ("admin", "pool"),
        ],
    )
    async def test_other_roles_log_in_their_scope(self, client, org, cust, who, whose):
        body = await log(client, getattr(org, who), getattr(cust, whose))
        assert body["created_by"] == str(getattr(org, who).id)

    async def test_unknown_or_deleted_customer(self, client, org, uow_factory):
        gone = await make_customer(uow_factory, owner=org.rep, deleted=True)
        for customer_id in (gone.id, uuid.uuid4()):
            response = await client.post(
                ACTIVITIES,
                headers=access_headers(org.rep),
                json={"customer_id": str(customer_id), "type": "call", "occurred_at": at()},
            )
            assert_problem(response, 404, "not_found")

    async def test_in_the_future(self, client, org, cust):
        soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        response = await client.post(
            ACTIVITIES,
            headers=access_headers(org.rep),
            json={"customer_id": str(cust.own.id), "type": "call", "occurred_at": iso(soon)},
        )
        body = assert_problem(response, 422, "validation_error")
        assert body["errors"] == [
            {
                "loc": ["body", "occurred_at"],
                "msg": "occurred_at is in the future",
                "type": "value_error.future",
            }
        ]
        assert await last_contact(client, org, cust.own) is None

    async def test_a_fast_device_clock_is_tolerated(self, client, org, cust):
        nearly_now = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
        await log(client, org.rep, cust.own, occurred_at=iso(nearly_now))

    async def test_duplicate_client_id(self, client, org, cust):
        client_id = str(uuid.uuid4())
        first = await log(client, org.rep, cust.own, id=client_id, subject="first")
        response = await client.post(
            ACTIVITIES,
            headers=access_headers(org.rep),
            json={
                "id": client_id,
                "customer_id": str(cust.own.id),
                "type": "email",
                "occurred_at": at(1),
                "subject": "second",
            },
        )
        body = assert_problem(response, 409, "activity.already_exists")
        assert body["id"] == client_id
        stored = await client.get(f"{ACTIVITIES}/{client_id}", headers=access_headers(org.rep))
        assert stored.json() == first
        assert await last_contact(client, org, cust.own) == at(0)

    async def test_a_deleted_activitys_id_stays_taken(self, client, org, cust):
        client_id = str(uuid.uuid4())
        await log(client, org.rep, cust.own, id=client_id)
        headers = access_headers(org.rep)
        assert (await client.delete(f"{ACTIVITIES}/{client_id}", headers=headers)).status_code == 204
        response = await client.post(
            ACTIVITIES,
            headers=headers,
            json={"id": client_id, "customer_id": str(cust.own.id), "type": "call", "occurred_at": at()},
        )
        assert_problem(response, 409, "activity.already_exists")

    async def test_contact_of_another_customer(self, client, org, cust, uow_factory):
        removed = await make_customer(uow_factory, owner=org.rep, contacts=[{"name": "丙"}])
        for contact_id in (cust.mate.contacts_[0].id, uuid.uuid4()):
            response = await client.post(
                ACTIVITIES,
                headers=access_headers(org.rep),
                json={
                    "customer_id": str(cust.own.id),
                    "contact_id": str(contact_id),
                    "type": "call",
                    "occurred_at": at(),
                },
            )
            body = assert_problem(response, 422, "validation_error")
            assert body["errors"][0]["loc"] == ["body", "contact_id"]
        # Correct customer, but the contact was deleted.
        contact = removed.contacts_[0]
        response = await client.delete(
            f"{CUSTOMERS}/{removed.id}/contacts/{contact.id}", headers=access_headers(org.rep)
        )
        assert response.status_code == 204
        response = await client.post(
            ACTIVITIES,
            headers=access_headers(org.rep),
            json={
                "customer_id": str(removed.id),
                "contact_id": str(contact.id),
                "type": "call",
                "occurred_at": at(),
            },
        )
        assert_problem(response, 422, "validation_error")

    @pytest.mark.parametrize(
        ("patch", "loc", "type_"),
        [
            ({"type": "fax"}, ["body", "type"], "enum"),
            ({"occurred_at": "2025-06-01T09:30:00"}, ["body", "occurred_at"], "timezone_aware"),
            ({"occurred_at": None}, ["body", "occurred_at"], "datetime_type"),
            ({"customer_id": "nope"}, ["body", "customer_id"], "uuid_parsing"),
            ({"id": "nope"}, ["body", "id"], "uuid_parsing"),
            ({"location": {"lat": 91, "lng": 0}}, ["body", "location", "lat"], "less_than_equal"),
            ({"location": {"lat": 0}}, ["body", "location", "lng"], "missing"),
            ({"duration_minutes": -1}, ["body", "duration_minutes"], "greater_than_equal"),
            ({"subject": "x" * 201}, ["body", "subject"], "string_too_long"),
            ({"next_follow_up_at": "tomorrow"}, ["body", "next_follow_up_at"], "datetime_from_date_parsing"),
            ({"mood": "good"}, ["body", "mood"], "extra_forbidden"),
        ],
    )
    async def test_validation(self, client, org, cust, patch, loc, type_):
        body = {"customer_id": str(cust.own.id), "type": "call", "occurred_at": at(), **patch}
        response = await client.post(ACTIVITIES, json=body, headers=access_headers(org.rep))
        problem = assert_problem(response, 422, "validation_error")
        assert any(e["loc"] == loc and e["type"] == type_ for e in problem["errors"]), problem["errors"]


class TestListActivities:
    @pytest.fixture
    async def acts(self, org, cust, uow_factory):
        def make(customer, user, type_, days, **kw):
            return make_activity(
                uow_factory,
                customer=customer,
                created_by=user,
                type=type_,
                occurred_at=T0 + dt.timedelta(days=days),
                **kw,
            )

        return SimpleNamespace(
            own_call=await make(cust.own, org.rep, "call", 0),
            own_visit=await make(cust.own, org.rep, "visit", 1),
            own_by_manager=await make(cust.own, org.manager, "meeting", 2),
            mate_call=await make(cust.mate, org.rep2, "call", 3),
            pool_call=await make(cust.pool, org.support, "call", 4),
            other_email=await make(cust.other, org.other_rep, "email", 5),
            deleted=await make(cust.own, org.rep, "call", 6, deleted_at=T0),
        )

    @staticmethod
    def ids(acts, *names) -> list[str]:
        return [str(getattr(acts, n).id) for n in names]

    async def test_anonymous(self, client):
        assert_problem(await client.get(ACTIVITIES), 401, "unauthorized")

    async def test_newest_first_for_director(self, client, org, acts):
        assert await listed(client, org.director) == self.ids(
            acts, "other_email", "pool_call", "mate_call", "own_by_manager", "own_visit", "own_call"
        )

    async def test_scope(self, client, org, acts):
        # A rep: own customers and the pool; not a teammate's or another team's.
        assert await listed(client, org.rep) == self.ids(
            acts, "pool_call", "own_by_manager", "own_visit", "own_call"
        )
        assert await listed(client, org.manager) == self.ids(
            acts, "pool_call", "mate_call", "own_by_manager", "own_visit", "own_call"
        )
        assert await listed(client, org.other_manager) == self.ids(acts, "other_email", "pool_call")
        assert len(await listed(client, org.finance)) == 6

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"type": "call"}, ["pool_call", "mate_call", "own_call"]),
            ({"type": "meeting"}, ["own_by_manager"]),
            (
                {"occurred_from": "2025-06-02T01:30:00Z"},
                ["other_email", "pool_call", "mate_call", "own_by_manager", "own_visit"],
            ),
            ({"occurred_to": "2025-06-02T01:30:00Z"}, ["own_call"]),
            # from is inclusive (09:30+08:00 is own_visit's 01:30Z), to exclusive (mate_call's time).
            (
                {"occurred_from": "2025-06-02T09:30:00+08:00", "occurred_to": "2025-06-04T01:30:00Z"},
                ["own_by_manager", "own_visit"],
            ),
            ({"type": "call", "occurred_from": "2025-06-03T00:00:00Z"}, ["pool_call", "mate_call"]),
        ],
    )
    async def test_filters(self, client, org, acts, params, expected):
        assert await listed(client, org.director, **params) == self.ids(acts, *expected)

    async def test_customer_and_creator_filters(self, client, org, cust, acts):
        assert await listed(client, org.director, customer_id=str(cust.own.id)) == self.ids(
            acts, "own_by_manager", "own_visit", "own_call"
        )
        assert await listed(client, org.director, created_by=str(org.rep.id)) == self.ids(
            acts, "own_visit", "own_call"
        )
        assert await listed(
            client, org.director, created_by=str(org.manager.id), customer_id=str(cust.own.id)
        ) == self.ids(acts, "own_by_manager")
        # Filtering by an out-of-scope customer shows nothing rather than its activities.
        assert await listed(client, org.rep, customer_id=str(cust.mate.id)) == []

    async def test_pagination_visits_every_row_once(self, client, org, acts):
        everything = await listed(client, org.director)
        seen = [a["id"] for a in await walk_pages(client, ACTIVITIES, access_headers(org.director), limit=4)]
        assert seen == everything

    @pytest.mark.parametrize(
        "params", [{"cursor": "garbage"}, {"type": "fax"}, {"occurred_from": "2025-06-01"}, {"limit": 0}]
    )
    async def test_bad_parameters(self, client, org, params):
        response = await client.get(ACTIVITIES, headers=access_headers(org.director), params=params)
        assert response.status_code in (400, 422)
        assert_problem(
            response,
            response.status_code,
            "pagination.invalid_cursor" if "cursor" in params else "validation_error",
        )


class TestGetActivity:
    async def test_anonymous(self, client, org, cust, uow_factory):
        activity = await make_activity(uow_factory, customer=cust.own, created_by=org.rep)
        assert_problem(await client.get(f"{ACTIVITIES}/{activity.id}"), 401, "unauthorized")

    async def test_scope(self, client, org, cust, uow_factory):
        activity = await make_activity(uow_factory, customer=cust.own, created_by=org.rep)
        target = f"{ACTIVITIES}/{activity.id}"
        for who in ("rep", "manager", "director", "finance", "support"):
            response = await client.get(target, headers=access_headers(getattr(org, who)))
            assert response.status_code == 200 and response.json()["id"] == str(activity.id)
            assert response.headers["etag"] == '"1"'
        for who in ("rep2", "other_rep", "other_manager"):
            assert_problem(
                await client.get(target, headers=access_headers(getattr(org, who))), 404, "not_found"
            )

    async def test_unknown(self, client, org):
        assert_problem(
            await client.get(f"{ACTIVITIES}/{uuid.uuid4()}", headers=access_headers(org.director)),
            404,
            "not_found",
        )


class TestUpdateActivity:
    @pytest.fixture
    async def mine(self, client, org, cust):
        return await log(
            client,
            org.rep,
            cust.own,
            type="visit",
            subject="初访",
            occurred_at=at(0),
            location={"lat": 31.23, "lng": 121.47},
        )

    async def test_anonymous(self, client, mine):
        assert_problem(
            await client.patch(f"{ACTIVITIES}/{mine['id']}", json={"subject": "x"}), 401, "unauthorized"
        )

    async def test_finance_may_not(self, client, org, mine):
        response = await client.patch(
            f"{ACTIVITIES}/{mine['id']}", json={"subject": "x"}, headers=access_headers(org.finance)
        )
        assert_problem(response, 403, "forbidden")

    async def test_out_of_scope(self, client, org, mine):
        response = await client.patch(
            f"{ACTIVITIES}/{mine['id']}", json={"subject": "x"}, headers=access_headers(org.rep2)
        )
        assert_problem(response, 404, "not_found")

    async def test_rep_changes_only_their_own_activities(self, client, org, cust):
        by_manager = await log(client, org.manager, cust.own)
        response = await client.patch(
            f"{ACTIVITIES}/{by_manager['id']}", json={"subject": "x"}, headers=access_headers(org.rep)
        )
        assert_problem(response, 403, "forbidden")

    async def test_if_match(self, client, org, cust, mine):
        headers = access_headers(org.rep)
        target = f"{ACTIVITIES}/{mine['id']}"
        response = await client.patch(
            target, json={"subject": "复访", "outcome": "签约意向"}, headers={**headers, "If-Match": '"1"'}
        )
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == '"2"'
        body = response.json()
        assert body["subject"] == "复访" and body["outcome"] == "签约意向" and body["version"] == 2
        assert body["location"] == {"lat": 31.23, "lng": 121.47, "accuracy": None, "address": None}
        stale = await client.patch(target, json={"subject": "再访"}, headers={**headers, "If-Match": '"1"'})
        assert_problem(stale, 412, "conflict.version_mismatch")
        assert (await client.get(target, headers=headers)).json()["subject"] == "复访"

    async def test_moving_occurred_at(self, client, org, cust, mine):
        target = f"{ACTIVITIES}/{mine['id']}"
        headers = access_headers(org.rep)
        response = await client.patch(target, json={"occurred_at": at(3)}, headers=headers)
        assert response.status_code == 200 and response.json()["occurred_at"] == at(3)
        assert await last_contact(client, org, cust.own) == at(3)
        # Back-dating it moves the customer's last contact back too (SPEC §5: derived from
        # the activities, so the protection period cannot be kept alive by an edit).
        response = await client.patch(target, json={"occurred_at": at(-1)}, headers=headers)
        assert response.status_code == 200
        assert await last_contact(client, org, cust.own) == at(-1)
        future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)
        response = await client.patch(target, json={"occurred_at": iso(future)}, headers=headers)
        assert_problem(response, 422, "validation_error")

    async def test_clearing_location_and_validation(self, client, org, cust, mine):
        target = f"{ACTIVITIES}/{mine['id']}"
        headers = access_headers(org.rep)
        response = await client.patch(target, json={"location": None}, headers=headers)
        assert response.status_code == 200 and response.json()["location"] is None
        for body in (
            {"type": None},
            {"occurred_at": None},
            {"customer_id": str(cust.mate.id)},
            {"created_by": str(org.rep2.id)},
            {"type": "fax"},
        ):
            assert_problem(await client.patch(target, json=body, headers=headers), 422, "validation_error")
        response = await client.patch(
            target, json={"contact_id": str(cust.mate.contacts_[0].id)}, headers=headers
        )
        problem = assert_problem(response, 422, "validation_error")
        assert problem["errors"][0]["loc"] == ["body", "contact_id"]
        response = await client.patch(
            target, json={"contact_id": str(cust.own.contacts_[0].id)}, headers=headers
        )
        assert response.status_code == 200 and response.json()["contact_id"] == str(cust.own.contacts_[0].id)


class TestDeleteActivity:
    async def test_anonymous(self, client, org, cust, uow_factory):
        activity = await make_activity(uow_factory, customer=cust.own, created_by=org.rep)
        assert_problem(await client.delete(f"{ACTIVITIES}/{activity.id}"), 401, "unauthorized")

    async def test_forbidden_and_out_of_scope(self, client, org, cust, uow_factory):
        by_manager = await make_activity(uow_factory, customer=cust.own, created_by=org.manager)
        target = f"{ACTIVITIES}/{by_manager.id}"
        assert_problem(await client.delete(target, headers=access_headers(org.finance)), 403, "forbidden")
        assert_problem(await client.delete(target, headers=access_headers(org.rep)), 403, "forbidden")
        assert_problem(await client.delete(target, headers=access_headers(org.rep2)), 404, "not_found")

    async def test_soft_delete(self, client, org, cust, uow_factory):
        keep = await make_activity(uow_factory, customer=cust.own, created_by=org.rep)
        gone = await make_activity(uow_factory, customer=cust.own, created_by=org.rep)
        headers = access_headers(org.rep)
        target = f"{ACTIVITIES}/{gone.id}"
        assert_problem(
            await client.delete(target, headers={**headers, "If-Match": '"2"'}),
            412,
            "conflict.version_mismatch",
        )
        response = await client.delete(target, headers={**headers, "If-Match": '"1"'})
        assert response.status_code == 204 and response.content == b""
        assert await listed(client, org.rep) == [str(keep.id)]
        assert_problem(await client.get(target, headers=headers), 404, "not_found")
        assert_problem(await client.delete(target, headers=headers), 404, "not_found")
        assert_problem(await client.patch(target, json={"subject": "x"}, headers=headers), 404, "not_found")

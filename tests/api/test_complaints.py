"""Complaints (SPEC §10) through HTTP: logging one with deadlines from the service settings,
scope per role, the status machine (409 on illegal moves), handler assignment, the overdue
flag and filter, the customer's history, and the handler's and owner's worklist."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import update

from app.db.base import utcnow
from app.db.models import Complaint
from tests.api import test_tasks
from tests.support.builders import access_headers, assert_problem

COMPLAINTS = "/api/v1/complaints"
SERVICE_SETTINGS = "/api/v1/settings/service"
HOUR = dt.timedelta(hours=1)


# The sales organisation and four customers: own (rep's), mate (rep2's), pool, other (another team's).
org, cust = test_tasks.org, test_tasks.cust


async def log(client, user, customer, *, status: int = 201, **fields) -> dict:
    body = {
        "customer_id": str(customer.id),
        "category": "delivery",
        "severity": "high",
        "subject": "  货物破损  ",
        **fields,
    }
    response = await client.post(COMPLAINTS, json=body, headers=access_headers(user))
    assert response.status_code == status, response.text
    return response.json()


async def patch(client, user, complaint: dict, *, expect: int = 200, **fields):
    response = await client.patch(
        f"{COMPLAINTS}/{complaint['id']}", json=fields, headers=access_headers(user)
    )
    assert response.status_code == expect, response.text
    return response


async def listed(client, user, **params) -> list[str]:
    response = await client.get(COMPLAINTS, headers=access_headers(user), params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["items"]]


async def backdate(uow_factory, complaint: dict, by: dt.timedelta) -> None:
    """Move a complaint's clock into the past (opening time and both deadlines)."""
    async with uow_factory() as uow:
        row = await uow.session.get(Complaint, uuid.UUID(complaint["id"]))
        assert row is not None
        values = {name: getattr(row, name) - by for name in ("created_at", "respond_by", "resolve_by")}
        await uow.session.execute(update(Complaint).where(Complaint.id == row.id).values(**values))
        await uow.commit()


def when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


class TestCreate:
    async def test_anonymous(self, client):
        assert_problem(await client.post(COMPLAINTS, json={}), 401, "unauthorized")

    async def test_support_logs_one_and_the_clock_starts(self, client, org, cust):
        before = utcnow()
        response = await client.post(
            COMPLAINTS,
            headers=access_headers(org.support),
            json={
                "customer_id": str(cust.other.id),
                "category": "product",
                "severity": "critical",
                "subject": "设备故障",
                "description": "无法开机",
                "handler_id": str(org.support.id),
            },
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert response.headers["etag"] == '"1"'
        assert response.headers["location"] == f"{COMPLAINTS}/{body['id']}"
        assert body["status"] == "open" and body["overdue"] is False
        assert body["responded_at"] is None and body["responded_on_time"] is False
        opened = when(body["created_at"])
        assert before - dt.timedelta(seconds=1) <= opened <= utcnow()
        assert when(body["respond_by"]) - opened == 4 * HOUR
        assert when(body["resolve_by"]) - opened == dt.timedelta(days=1)

    async def test_subject_is_trimmed_and_required(self, client, org, cust):
        assert (await log(client, org.rep, cust.own))["subject"] == "货物破损"
        response = await client.post(
            COMPLAINTS,
            headers=access_headers(org.rep),
            json={
                "customer_id": str(cust.own.id),
                "category": "delivery",
                "severity": "high",
                "subject": "   ",
            },
        )
        assert_problem(response, 422, "validation_error")

    @pytest.mark.parametrize(("field", "value"), [("category", "weather"), ("severity", "urgent")])
    async def test_unknown_category_or_severity(self, client, org, cust, field, value):
        body = {
            "customer_id": str(cust.own.id),
            "category": "delivery",
            "severity": "high",
            "subject": "x",
            field: value,
        }
        response = await client.post(COMPLAINTS, json=body, headers=access_headers(org.rep))
        assert_problem(response, 422, "validation_error")

    async def test_rep_only_on_own_customers(self, client, org, cust):
        await log(client, org.rep, cust.pool, status=403)
        await log(client, org.rep, cust.other, status=404)

    async def test_finance_reads_only(self, client, org, cust):
        await log(client, org.finance, cust.own, status=403)

    async def test_handler_must_be_an_active_worker(self, client, org, cust):
        body = await log(client, org.support, cust.own, status=422, handler_id=str(org.finance.id))
        assert body["code"] == "complaint.invalid_handler"

    async def test_deadlines_come_from_the_service_settings(self, client, org, cust):
        current = await client.get(SERVICE_SETTINGS, headers=access_headers(org.rep))
        assert current.status_code == 200
        doc = current.json()
        assert doc["respond_within_hours"] == {"low": 168, "medium": 72, "high": 24, "critical": 4}
        assert doc["resolve_within_days"] == {"low": 14, "medium": 7, "high": 3, "critical": 1}
        doc["respond_within_hours"]["high"] = 10
        doc["resolve_within_days"]["high"] = 2
        put = await client.put(
            SERVICE_SETTINGS, json=doc, headers={**access_headers(org.admin), "If-Match": '"0"'}
        )
        assert put.status_code == 200, put.text
        assert put.json()["version"] == 1 and put.headers["etag"] == '"1"'
        body = await log(client, org.rep, cust.own)
        opened = when(body["created_at"])
        assert when(body["respond_by"]) - opened == 10 * HOUR
        assert when(body["resolve_by"]) - opened == dt.timedelta(days=2)


class TestServiceSettings:
    async def test_only_admins_and_directors_edit(self, client, org):
        doc = (await client.get(SERVICE_SETTINGS, headers=access_headers(org.rep))).json()
        assert_problem(
            await client.put(SERVICE_SETTINGS, json=doc, headers=access_headers(org.support)),
            403,
            "forbidden",
        )

    @pytest.mark.parametrize(
        "change",
        [
            {"respond_within_hours": {"low": 168, "medium": 72, "high": 24, "critical": 0}},
            {"respond_within_hours": {"low": 168, "medium": 72, "high": 24}},
            {"respond_within_hours": {"low": 4, "medium": 72, "high": 24, "critical": 4}},
            {"resolve_within_days": {"low": 14, "medium": 7, "high": 3, "critical": 5}},
            {"respond_within_hours": {"low": 168, "medium": 72, "high": 24, "critical": 30}},
        ],
    )
    async def test_invalid_documents_change_nothing(self, client, org, change):
        doc = (await client.get(SERVICE_SETTINGS, headers=access_headers(org.admin))).json()
        response = await client.put(
            SERVICE_SETTINGS, json={**doc, **change}, headers=access_headers(org.admin)
        )
        assert_problem(response, 422, "validation_error")
        assert (await client.get(SERVICE_SETTINGS, headers=access_headers(org.admin))).json() == doc

    async def test_stale_version_is_refused(self, client, org):
        doc = (await client.get(SERVICE_SETTINGS, headers=access_headers(org.admin))).json()
        response = await client.put(
            SERVICE_SETTINGS, json=doc, headers={**access_headers(org.admin), "If-Match": '"3"'}
        )
        assert_problem(response, 412)


class TestScope:
    async def test_each_role_sees_the_complaints_of_customers_in_its_scope(self, client, org, cust):
        ids = {
            name: (await log(client, org.support, getattr(cust, name)))["id"]
            for name in ("own", "mate", "pool", "other")
        }
        assert set(await listed(client, org.rep)) == {ids["own"]}
        assert set(await listed(client, org.rep2)) == {ids["mate"]}
        assert set(await listed(client, org.manager)) == {ids["own"], ids["mate"]}
        assert set(await listed(client, org.other_manager)) == {ids["other"]}
        for user in (org.support, org.director, org.admin, org.finance):
            assert set(await listed(client, user)) == set(ids.values())
        other = await client.get(f"{COMPLAINTS}/{ids['other']}", headers=access_headers(org.rep))
        assert_problem(other, 404, "not_found")
        mine = await client.get(f"{COMPLAINTS}/{ids['own']}", headers=access_headers(org.rep))
        assert mine.status_code == 200 and mine.headers["etag"] == '"1"'

    async def test_a_handler_sees_what_they_handle(self, client, org, cust):
        complaint = await log(client, org.support, cust.other, handler_id=str(org.rep.id))
        assert await listed(client, org.rep) == [complaint["id"]]
        await patch(client, org.rep, complaint, status="in_progress")

    async def test_filters(self, client, org, cust):
        first = await log(client, org.support, cust.own, severity="low", category="billing")
        second = await log(client, org.support, cust.mate, handler_id=str(org.support.id))
        assert await listed(client, org.admin, customer_id=str(cust.own.id)) == [first["id"]]
        assert await listed(client, org.admin, handler_id=str(org.support.id)) == [second["id"]]
        assert await listed(client, org.admin, severity="low") == [first["id"]]
        assert await listed(client, org.admin, category="billing") == [first["id"]]
        assert await listed(client, org.admin) == [second["id"], first["id"]]
        assert await listed(client, org.admin, sort="created_at") == [first["id"], second["id"]]


class TestStatus:
    async def test_the_whole_life_with_a_reopen(self, client, org, cust):
        complaint = await log(client, org.support, cust.own)
        started = (await patch(client, org.support, complaint, status="in_progress")).json()
        assert started["responded_at"] is not None and started["responded_on_time"] is True
        resolved = (await patch(client, org.support, complaint, status="resolved", resolution="换货")).json()
        assert resolved["resolved_at"] is not None and resolved["resolution"] == "换货"
        reopened = (await patch(client, org.support, complaint, status="in_progress")).json()
        assert reopened["resolved_at"] is None and reopened["responded_at"] == started["responded_at"]
        await patch(client, org.support, complaint, status="resolved")
        closed = (await patch(client, org.support, complaint, status="closed")).json()
        assert closed["status"] == "closed" and closed["closed_at"] is not None
        assert closed["version"] == 6

    @pytest.mark.parametrize(
        ("path", "target"),
        [
            ([], "resolved"),
            ([], "closed"),
            (["in_progress"], "open"),
            (["in_progress"], "closed"),
            (["in_progress", "resolved"], "open"),
            (["in_progress", "resolved", "closed"], "in_progress"),
            (["in_progress", "resolved", "closed"], "open"),
        ],
    )
    async def test_illegal_moves_answer_409_and_change_nothing(self, client, org, cust, path, target):
        complaint = await log(client, org.support, cust.own)
        for step in path:
            await patch(client, org.support, complaint, status=step)
        url = f"{COMPLAINTS}/{complaint['id']}"
        before = (await client.get(url, headers=access_headers(org.support))).json()
        response = await client.patch(
            url, json={"status": target, "subject": "改"}, headers=access_headers(org.support)
        )
        problem = assert_problem(response, 409, "complaint.invalid_transition")
        assert (problem["from"], problem["to"]) == (before["status"], target)
        after = (await client.get(url, headers=access_headers(org.support))).json()
        assert after == before

    async def test_same_status_is_no_change(self, client, org, cust):
        complaint = await log(client, org.support, cust.own)
        assert (await patch(client, org.support, complaint, status="open")).json()["version"] == 1

    async def test_if_match(self, client, org, cust):
        complaint = await log(client, org.support, cust.own)
        response = await client.patch(
            f"{COMPLAINTS}/{complaint['id']}",
            json={"status": "in_progress"},
            headers={**access_headers(org.support), "If-Match": '"2"'},
        )
        assert_problem(response, 412)

    async def test_a_late_response_is_not_on_time(self, client, uow_factory, org, cust):
        complaint = await log(client, org.support, cust.own)
        await backdate(uow_factory, complaint, 25 * HOUR)
        started = (await patch(client, org.support, complaint, status="in_progress")).json()
        assert started["responded_on_time"] is False

    async def test_a_new_severity_moves_the_deadlines_from_the_opening(self, client, org, cust):
        complaint = await log(client, org.support, cust.own, severity="low")
        changed = (await patch(client, org.support, complaint, severity="critical")).json()
        opened = when(changed["created_at"])
        assert when(changed["respond_by"]) - opened == 4 * HOUR
        assert when(changed["resolve_by"]) - opened == dt.timedelta(days=1)

    async def test_reassigning_the_handler(self, client, org, cust):
        complaint = await log(client, org.support, cust.own)
        changed = await patch(client, org.manager, complaint, handler_id=str(org.rep.id))
        assert changed.json()["handler_id"] == str(org.rep.id)
        refused = await patch(client, org.support, complaint, expect=422, handler_id=str(org.finance.id))
        assert refused.json()["code"] == "complaint.invalid_handler"

    async def test_null_status_is_refused(self, client, org, cust):
        complaint = await log(client, org.support, cust.own)
        response = await client.patch(
            f"{COMPLAINTS}/{complaint['id']}", json={"status": None}, headers=access_headers(org.support)
        )
        assert_problem(response, 422, "validation_error")


class TestOverdue:
    async def test_flag_and_filter(self, client, uow_factory, org, cust):
        late = await log(client, org.support, cust.own)
        fresh = await log(client, org.support, cust.own)
        await backdate(uow_factory, late, 25 * HOUR)  # high: respond within 24 h
        got = (await client.get(f"{COMPLAINTS}/{late['id']}", headers=access_headers(org.rep))).json()
        assert got["overdue"] is True
        assert await listed(client, org.rep, overdue="true") == [late["id"]]
        assert await listed(client, org.rep, overdue="false") == [fresh["id"]]
        # Responding clears it until the resolution is due (3 days for high) ...
        assert (await patch(client, org.support, late, status="in_progress")).json()["overdue"] is False
        await backdate(uow_factory, late, 3 * 24 * HOUR)
        assert await listed(client, org.rep, overdue="true") == [late["id"]]
        # ... and resolving ends it.
        assert (await patch(client, org.support, late, status="resolved")).json()["overdue"] is False

    async def test_on_the_owners_and_the_handlers_worklist(self, client, uow_factory, org, cust):
        complaint = await log(client, org.support, cust.own, handler_id=str(org.rep2.id))

        async def reasons(user) -> dict[str, list[str]]:
            response = await client.get("/api/v1/me/worklist", headers=access_headers(user))
            assert response.status_code == 200, response.text
            return {i["customer"]["name"]: i["reasons"] for i in response.json()["items"]}

        def late(found: dict[str, list[str]], name: str) -> bool:
            return "complaint_overdue" in found.get(name, [])

        assert not late(await reasons(org.rep), "自己的")
        assert not late(await reasons(org.rep2), "自己的")
        await backdate(uow_factory, complaint, 25 * HOUR)
        assert late(await reasons(org.rep), "自己的")  # the owner's
        rep2 = await reasons(org.rep2)
        assert rep2["自己的"] == ["complaint_overdue"]  # the handler's: that reason only
        assert not late(rep2, "同事的")
        assert not late(await reasons(org.support), "自己的")
        await patch(client, org.support, complaint, status="in_progress")
        assert not late(await reasons(org.rep), "自己的")
        assert not late(await reasons(org.rep2), "自己的")


class TestHistory:
    async def test_every_change_is_in_the_customers_history(self, client, org, cust):
        complaint = await log(client, org.support, cust.own)
        await patch(client, org.support, complaint, status="in_progress")
        response = await client.get(
            f"/api/v1/customers/{cust.own.id}/history", headers=access_headers(org.rep), params={"limit": 100}
        )
        assert response.status_code == 200, response.text
        entries = [e for e in response.json()["items"] if e["entity"] == "complaint"]
        assert {e["action"] for e in entries} == {"complaint_create", "complaint_update"}
        assert {(e["entity_id"], e["actor_id"]) for e in entries} == {(complaint["id"], str(org.support.id))}
        update_entry = next(e for e in entries if e["action"] == "complaint_update")
        assert update_entry["changes"]["status"] == ["open", "in_progress"]
        create_entry = next(e for e in entries if e["action"] == "complaint_create")
        assert create_entry["changes"]["severity"] == [None, "high"]

"""Satisfaction surveys (SPEC §10) through HTTP: csat 1–5 and nps 0–10, tied to a complaint or a
contract of the same customer, scope per role; and the service figures per rep and team that
the performance report reads (complaints responded to on time, CSAT average, NPS)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from app.db.base import utcnow
from app.services.surveys import service_figures_in
from tests.api import test_tasks
from tests.support.builders import access_headers, assert_problem, make_contract

# The same organisation and customers (own, a team mate's, the pool's, another team's).
org, cust = test_tasks.org, test_tasks.cust

SURVEYS = "/api/v1/surveys"
COMPLAINTS = "/api/v1/complaints"


async def answer(client, user, customer, *, expect: int = 201, **fields) -> dict:
    body = {"customer_id": str(customer.id), "kind": "csat", "score": 4, **fields}
    response = await client.post(SURVEYS, json=body, headers=access_headers(user))
    assert response.status_code == expect, response.text
    return response.json()


async def listed(client, user, **params) -> list[str]:
    response = await client.get(SURVEYS, headers=access_headers(user), params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    return [s["id"] for s in response.json()["items"]]


async def complaint_on(client, user, customer) -> dict:
    response = await client.post(
        COMPLAINTS,
        headers=access_headers(user),
        json={
            "customer_id": str(customer.id),
            "category": "service",
            "severity": "medium",
            "subject": "态度",
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


class TestCreate:
    async def test_anonymous(self, client):
        assert_problem(await client.post(SURVEYS, json={}), 401, "unauthorized")

    async def test_an_answer_with_a_comment(self, client, org, cust):
        body = await answer(client, org.rep, cust.own, kind="nps", score=9, comment="很满意")
        assert {k: body[k] for k in ("kind", "score", "comment", "complaint_id", "contract_id")} == {
            "kind": "nps",
            "score": 9,
            "comment": "很满意",
            "complaint_id": None,
            "contract_id": None,
        }
        assert body["created_by"] == str(org.rep.id)

    @pytest.mark.parametrize(
        ("kind", "score"), [("csat", 0), ("csat", 6), ("nps", 11), ("nps", -1), ("ces", 3)]
    )
    async def test_scores_outside_the_kind_range(self, client, org, cust, kind, score):
        response = await client.post(
            SURVEYS,
            headers=access_headers(org.rep),
            json={"customer_id": str(cust.own.id), "kind": kind, "score": score},
        )
        assert_problem(response, 422, "validation_error")
        assert await listed(client, org.admin) == []

    async def test_for_a_complaint_and_a_contract_of_the_same_customer(self, client, org, cust):
        complaint = await complaint_on(client, org.support, cust.own)
        body = await answer(client, org.support, cust.own, complaint_id=complaint["id"])
        assert body["complaint_id"] == complaint["id"]
        assert await listed(client, org.admin, complaint_id=complaint["id"]) == [body["id"]]

    async def test_other_customers_records_are_refused(self, client, uow_factory, org, cust):
        complaint = await complaint_on(client, org.support, cust.mate)
        contract = await make_contract(uow_factory, customer=cust.mate, amount=100)
        for field, value in (("complaint_id", complaint["id"]), ("contract_id", str(contract.id))):
            problem = await answer(client, org.support, cust.own, expect=422, **{field: value})
            assert problem["errors"][0]["loc"] == ["body", field]
        own_contract = await make_contract(uow_factory, customer=cust.own, amount=100)
        body = await answer(client, org.support, cust.own, contract_id=str(own_contract.id))
        assert body["contract_id"] == str(own_contract.id)

    async def test_roles_and_scope(self, client, org, cust):
        await answer(client, org.finance, cust.own, expect=403)
        await answer(client, org.rep, cust.other, expect=404)
        mine = await answer(client, org.rep, cust.own)
        mate = await answer(client, org.support, cust.mate)
        other = await answer(client, org.support, cust.other)
        assert await listed(client, org.rep) == [mine["id"]]
        assert set(await listed(client, org.manager)) == {mine["id"], mate["id"]}
        assert set(await listed(client, org.director)) == {mine["id"], mate["id"], other["id"]}
        assert await listed(client, org.admin, kind="nps") == []

    async def test_in_the_customers_history(self, client, org, cust):
        body = await answer(client, org.rep, cust.own, score=2)
        response = await client.get(
            f"/api/v1/customers/{cust.own.id}/history", headers=access_headers(org.rep)
        )
        [entry] = [e for e in response.json()["items"] if e["entity"] == "survey"]
        assert (entry["entity_id"], entry["changes"]["score"]) == (body["id"], [None, 2])


class TestServiceFigures:
    async def test_per_owner_and_per_team(self, client, uow_factory, org, cust):
        # Two complaints on rep's customer (one responded to at once), none on rep2's.
        first = await complaint_on(client, org.support, cust.own)
        await complaint_on(client, org.support, cust.own)
        response = await client.patch(
            f"{COMPLAINTS}/{first['id']}", json={"status": "in_progress"}, headers=access_headers(org.support)
        )
        assert response.status_code == 200
        for score in (5, 4):
            await answer(client, org.rep, cust.own, score=score)
        for score in (10, 9, 3):
            await answer(client, org.rep, cust.own, kind="nps", score=score)
        await answer(client, org.rep2, cust.mate, kind="nps", score=6)
        start, end = utcnow() - dt.timedelta(hours=1), utcnow() + dt.timedelta(hours=1)
        async with uow_factory() as uow:
            by_owner = await service_figures_in(uow, start=start, end=end, group_by="owner")
            by_team = await service_figures_in(uow, start=start, end=end, group_by="team")
            before = await service_figures_in(
                uow, start=start - dt.timedelta(days=1), end=start, group_by="owner"
            )
        rep = by_owner[org.rep.id]
        assert (rep.complaints, rep.responded_on_time, rep.complaints_on_time_rate) == (2, 1, Decimal("0.50"))
        assert (rep.csat_avg, rep.nps, rep.nps_responses) == (Decimal("4.50"), Decimal("33.33"), 3)
        rep2 = by_owner[org.rep2.id]
        assert (rep2.complaints, rep2.complaints_on_time_rate, rep2.csat_avg, rep2.nps) == (
            0,
            None,
            None,
            Decimal("-100.00"),
        )
        team = by_team[org.group.id]
        assert (team.complaints, team.nps_responses, team.nps) == (2, 4, Decimal("0.00"))
        assert before == {}

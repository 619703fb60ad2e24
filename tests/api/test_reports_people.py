"""GET /reports/performance (per rep and per team) and GET /reports/churn-risk, against
hand-computed figures, per scope."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from app.db.base import utcnow
from app.db.models import Payment, StageTransition
from tests.api.test_reports_funnel import MARCH, get, utc
from tests.support.builders import (
    access_headers,
    assert_problem,
    make_activity,
    make_contract,
    make_customer,
    make_sales_org,
    walk_pages,
)

API = "/api/v1"


@pytest.fixture
async def org(uow_factory):
    """rep in March 2026: one contract of 12,000 signed (and one cancelled), 6,000 collected,
    2 claims (a third in April), 1 assignment, 1 allocation, 1 release, 1 customer of their
    own; three leads entered, one signed, one abandoned."""
    org = await make_sales_org(uow_factory)
    rep = org.rep
    a = await make_customer(uow_factory, owner=rep)
    await make_contract(uow_factory, customer=a, amount="12000", status="signed", signed_at=utc(5))
    await make_contract(uow_factory, customer=a, amount="999", status="cancelled", signed_at=utc(6))
    await make_customer(uow_factory, owner=rep, source="self_discovered", created_at=utc(5))
    await make_customer(uow_factory, owner=rep, source="self_discovered", created_at=utc(5, month=4))
    leads = [await make_customer(uow_factory, owner=rep) for _ in range(3)]
    async with uow_factory() as uow:
        uow.session.add(
            Payment(
                id=uuid.uuid4(),
                customer_id=a.id,
                amount=Decimal("6000"),
                unallocated_amount=Decimal(0),
                received_at=utc(7),
            )
        )
        for event, at in (
            ("claim", utc(2)),
            ("claim", utc(3)),
            ("claim", utc(2, month=4)),
            ("assign", utc(4)),
            ("allocate", utc(4)),
            ("recycle", utc(4)),
        ):
            uow.pool.record_ownership(
                customer_id=a.id,
                event=event,
                from_owner_id=None,
                to_owner_id=rep.id,
                actor_id=None,
                reason=None,
                at=at,
            )
        uow.pool.record_ownership(
            customer_id=a.id,
            event="release",
            from_owner_id=rep.id,
            to_owner_id=None,
            actor_id=rep.id,
            reason=None,
            at=utc(8),
        )
        moves = [(c, None, "lead", utc(3)) for c in leads] + [
            (leads[0], "lead", "intent", utc(4)),
            (leads[0], "intent", "signed", utc(6)),
            (leads[1], "lead", "abandoned", utc(9)),
        ]
        for customer, from_stage, to_stage, at in moves:
            uow.funnel.add_transition(
                StageTransition(
                    customer_id=customer.id,
                    from_stage=from_stage,
                    to_stage=to_stage,
                    kind="x",
                    at=at,
                    owner_id=rep.id,
                    team_id=rep.team_id,
                    reason="refused" if to_stage == "abandoned" else None,
                )
            )
        await uow.commit()
    return org


async def performance(client, user, **params) -> dict:
    response = await get(client, user, "/reports/performance", **params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_performance_per_rep(client, org) -> None:
    body = await performance(client, org.director, **MARCH)
    assert body["group_by"] == "rep"
    lines = {line["subject"]["id"]: line for line in body["items"]}
    assert set(lines) == {str(org.rep.id), str(org.rep2.id), str(org.other_rep.id)}
    rep = lines[str(org.rep.id)]
    assert rep == {
        "subject": {"type": "rep", "id": str(org.rep.id), "name": "Test rep"},
        "signed_amount": "12000.00",
        "collected_amount": "6000.00",
        "new_customers": {"total": 5, "claimed": 2, "assigned": 2, "self_discovered": 1},
        "lead_entered": 3,
        "lead_signed": 1,
        "conversion": "0.3333",
        "claims": 2,
        "releases": 1,
        "abandonments": 1,
        "abandon_claim_ratio": "0.5000",
        "complaints": 0,
        "complaints_on_time": 0,
        "complaints_on_time_rate": None,
        "csat_responses": 0,
        "csat_avg": None,
        "nps_responses": 0,
        "nps": None,
        "renewals_due": 0,
        "renewals_renewed": 0,
        "renewal_rate": None,
    }
    rep2 = lines[str(org.rep2.id)]
    # Nothing to divide: unknown rates, not zero.
    assert (rep2["conversion"], rep2["abandon_claim_ratio"], rep2["signed_amount"]) == (None, None, "0.00")


async def test_performance_per_team(client, org) -> None:
    body = await performance(client, org.director, group_by="team", **MARCH)
    lines = {line["subject"]["id"]: line for line in body["items"]}
    assert set(lines) == {str(org.region.id), str(org.group.id), str(org.other.id)}
    for team in (org.region, org.group):  # the region's figures include its group's
        line = lines[str(team.id)]
        assert (line["signed_amount"], line["claims"], line["conversion"]) == ("12000.00", 2, "0.3333")
    assert lines[str(org.other.id)]["signed_amount"] == "0.00"
    manager = await performance(client, org.manager, group_by="team", **MARCH)
    assert {line["subject"]["id"] for line in manager["items"]} == {str(org.region.id), str(org.group.id)}


async def test_performance_scope_and_bad_input(client, org) -> None:
    mine = await performance(client, org.rep, **MARCH)
    assert [line["subject"]["id"] for line in mine["items"]] == [str(org.rep.id)]
    assert (await performance(client, org.rep, group_by="team", **MARCH))["items"] == []
    assert_problem(await get(client, org.rep, "/reports/performance", owner_id=str(org.rep2.id)), 404)
    assert_problem(await get(client, org.manager, "/reports/performance", team_id=str(org.other.id)), 404)
    assert_problem(await get(client, org.director, "/reports/performance", group_by="customer"), 422)
    assert_problem(
        await get(client, org.director, "/reports/performance", **{"from": "2020-01-01", "to": "2026-01-01"}),
        422,
    )


@pytest.fixture
async def trading(uow_factory, org):
    """Y (rep): signed 40 and 20 days ago, 6 activities 91-180 days ago and 1 since: dropped.
    X (rep): signed 400, 300 and 200 days ago (median interval 100, 200 > 1.5 × 100): overdue.
    W (other_rep): 400, 300 and 10 days ago: fine. Z (rep2): one contract: not trading."""
    now = utcnow()

    def ago(days: float) -> dt.datetime:
        return now - dt.timedelta(days=days)

    customers = {}
    for name, owner, signings, amount in (
        ("Y", org.rep, (40, 20), "5000"),
        ("X", org.rep, (400, 300, 200), "1000"),
        ("W", org.other_rep, (400, 300, 10), "100"),
        ("Z", org.rep2, (50,), "90000"),
    ):
        customer = await make_customer(uow_factory, owner=owner, name=f"Trading {name}")
        for days in signings:
            await make_contract(
                uow_factory, customer=customer, amount=amount, status="completed", signed_at=ago(days)
            )
        customers[name] = customer
    await make_contract(
        uow_factory, customer=customers["Z"], amount="1", status="cancelled", signed_at=ago(5)
    )
    for days in (100, 110, 120, 130, 140, 150, 30):
        await make_activity(uow_factory, customer=customers["Y"], created_by=org.rep, occurred_at=ago(days))
    return customers


async def test_churn_risk(client, org, trading) -> None:
    items = await walk_pages(client, "/api/v1/reports/churn-risk", access_headers(org.director), limit=1)
    assert [item["name"] for item in items] == ["Trading Y", "Trading X"]  # most valuable first
    y, x = items
    assert (y["reasons"], y["value"], y["owner_id"]) == (["activity_drop"], "10000.00", str(org.rep.id))
    assert (
        y["figures"]["activities_last_90_days"],
        y["figures"]["activities_previous_90_days"],
        y["figures"]["activity_limit"],
    ) == (1, 6, "1.8")
    assert x["reasons"] == ["overdue_contract"]
    assert (
        x["figures"]["contracts"],
        x["figures"]["median_interval_days"],
        x["figures"]["interval_limit_days"],
        x["figures"]["days_since_last_contract"],
    ) == (3, "100.00", "150.00", "200.00")

    def names(user, **params):
        return walk_pages(client, "/api/v1/reports/churn-risk", access_headers(user), **params)

    assert [i["name"] for i in await names(org.manager)] == ["Trading Y", "Trading X"]
    assert await names(org.rep2) == []
    assert await names(org.other_manager) == []
    assert_problem(
        await client.get(
            f"{API}/reports/churn-risk", headers=access_headers(org.rep), params={"cursor": "nonsense"}
        ),
        400,
    )

"""GET /reports/performance: complaints responded to on time, CSAT average, NPS and the
renewal rate per rep and per team tree (SPEC §6, §9, §10), against hand-computed figures.
A team's rates come from its summed counts, never from averaging its reps' rates."""

from __future__ import annotations

import datetime as dt

import pytest

from app.db.base import utcnow
from tests.support.builders import access_headers, make_contract, make_customer, make_sales_org

API = "/api/v1"
RATES = ("complaints_on_time_rate", "csat_avg", "nps", "renewal_rate")
COUNTS = (
    "complaints",
    "complaints_on_time",
    "csat_responses",
    "nps_responses",
    "renewals_due",
    "renewals_renewed",
)


def around_today() -> dict[str, str]:
    """A period holding today whatever the business time zone (``to`` is exclusive)."""
    today = utcnow().date()
    return {
        "from": (today - dt.timedelta(days=2)).isoformat(),
        "to": (today + dt.timedelta(days=3)).isoformat(),
    }


async def post(client, user, path: str, body: dict) -> dict:
    response = await client.post(f"{API}{path}", json=body, headers=access_headers(user))
    assert response.status_code == 201, response.text
    return response.json()


async def complaint(client, user, customer, *, responded: bool) -> None:
    body = await post(
        client,
        user,
        "/complaints",
        {"customer_id": str(customer.id), "category": "service", "severity": "medium", "subject": "慢"},
    )
    if responded:  # at once: well before respond_by
        response = await client.patch(
            f"{API}/complaints/{body['id']}", json={"status": "in_progress"}, headers=access_headers(user)
        )
        assert response.status_code == 200, response.text


async def answers(client, user, customer, kind: str, *scores: int) -> None:
    for score in scores:
        await post(client, user, "/surveys", {"customer_id": str(customer.id), "kind": kind, "score": score})


@pytest.fixture
async def org(client, uow_factory):
    """rep: 2 complaints (one responded to on time), CSAT 4 and 5, NPS 10, 8 and 3, one service
    period ending today renewed by a contract signed yesterday. rep2 (same team): 1 complaint
    responded to on time, CSAT 2, NPS 9, one service period ending today not renewed.
    other_rep: nothing."""
    org = await make_sales_org(uow_factory)
    mine = await make_customer(uow_factory, owner=org.rep, stage="implemented")
    mate = await make_customer(uow_factory, owner=org.rep2, stage="implemented")
    await make_customer(uow_factory, owner=org.other_rep)
    await complaint(client, org.support, mine, responded=True)
    await complaint(client, org.support, mine, responded=False)
    await answers(client, org.support, mine, "csat", 4, 5)
    await answers(client, org.support, mine, "nps", 10, 8, 3)
    await complaint(client, org.support, mate, responded=True)
    await answers(client, org.support, mate, "csat", 2)
    await answers(client, org.support, mate, "nps", 9)
    now, today = utcnow(), utcnow().date()
    for customer in (mine, mate):
        await make_contract(
            uow_factory,
            customer=customer,
            amount="100",
            status="completed",
            signed_at=now - dt.timedelta(days=400),
            service_start=today - dt.timedelta(days=365),
            service_end=today,
        )
    await make_contract(
        uow_factory, customer=mine, amount="100", status="signed", signed_at=now - dt.timedelta(days=1)
    )
    return org


async def lines(client, user, **params) -> dict[str, dict]:
    response = await client.get(
        f"{API}/reports/performance", headers=access_headers(user), params={**around_today(), **params}
    )
    assert response.status_code == 200, response.text
    return {line["subject"]["id"]: line for line in response.json()["items"]}


def figures(line: dict) -> dict:
    return {k: line[k] for k in COUNTS + RATES}


async def test_per_rep(client, org) -> None:
    by_rep = await lines(client, org.director)
    assert figures(by_rep[str(org.rep.id)]) == {
        "complaints": 2,
        "complaints_on_time": 1,
        "complaints_on_time_rate": "0.50",
        "csat_responses": 2,
        "csat_avg": "4.50",
        "nps_responses": 3,
        "nps": "0.00",  # 1 promoter, 1 detractor of 3: (1 − 1) ÷ 3
        "renewals_due": 1,
        "renewals_renewed": 1,
        "renewal_rate": "1.0000",
    }
    assert figures(by_rep[str(org.rep2.id)]) == {
        "complaints": 1,
        "complaints_on_time": 1,
        "complaints_on_time_rate": "1.00",
        "csat_responses": 1,
        "csat_avg": "2.00",
        "nps_responses": 1,
        "nps": "100.00",
        "renewals_due": 1,
        "renewals_renewed": 0,
        "renewal_rate": "0.0000",
    }
    # Nothing to count: null, not zero.
    assert figures(by_rep[str(org.other_rep.id)]) == {**dict.fromkeys(COUNTS, 0), **dict.fromkeys(RATES)}


async def test_per_team_sums_the_counts_of_the_tree(client, org) -> None:
    by_team = await lines(client, org.director, group_by="team")
    # 3 complaints, 2 on time; CSAT (4 + 5 + 2) ÷ 3; NPS (2 promoters − 1 detractor) ÷ 4;
    # 2 due, 1 renewed. Averaging the reps' rates would give 0.75, 3.25, 50 instead.
    summed = {
        "complaints": 2 + 1,
        "complaints_on_time": 2,
        "complaints_on_time_rate": "0.67",
        "csat_responses": 3,
        "csat_avg": "3.67",
        "nps_responses": 4,
        "nps": "25.00",
        "renewals_due": 2,
        "renewals_renewed": 1,
        "renewal_rate": "0.5000",
    }
    for team in (org.group, org.region):  # the region holds the group
        assert figures(by_team[str(team.id)]) == summed
    assert figures(by_team[str(org.other.id)]) == {**dict.fromkeys(COUNTS, 0), **dict.fromkeys(RATES)}


async def test_outside_the_period_and_in_a_reps_scope(client, org) -> None:
    today = utcnow().date()
    before = await lines(
        client,
        org.director,
        **{
            "from": (today - dt.timedelta(days=40)).isoformat(),
            "to": (today - dt.timedelta(days=10)).isoformat(),
        },
    )
    assert figures(before[str(org.rep.id)]) == {**dict.fromkeys(COUNTS, 0), **dict.fromkeys(RATES)}
    assert list(await lines(client, org.rep2)) == [str(org.rep2.id)]

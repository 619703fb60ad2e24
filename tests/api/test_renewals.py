"""Renewals (SPEC §6): contracts carry a service period; an implemented customer whose service
ends within renewal_notice_days (default 60) is renewal-due until a contract is signed in the
window; GET /reports/renewals lists them and the renewal rate; a handover gives them to the
best sellers first."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from app.db.base import utcnow
from app.domain.credit import business_date
from tests.support.builders import (
    access_headers,
    api_draft_contract,
    assert_problem,
    make_contract,
    make_customer,
    make_funnel_customer,
    make_sales_org,
)

SH = ZoneInfo("Asia/Shanghai")
REPORT = "/api/v1/reports/renewals"


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


def today() -> dt.date:
    return business_date(utcnow(), SH)


def on(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=SH)


async def implemented(uow_factory, org, name, *, ends_in: int, signed_days_ago: int = 300):
    customer = await make_customer(uow_factory, name=name, owner=org.rep, stage="implemented")
    end = today() + dt.timedelta(days=ends_in)
    await make_contract(
        uow_factory,
        customer=customer,
        amount="1000.00",
        status="completed",
        signed_at=on(today() - dt.timedelta(days=signed_days_ago)),
        service_start=end - dt.timedelta(days=365),
        service_end=end,
    )
    return customer


async def report(client, user, **params) -> dict:
    response = await client.get(REPORT, headers=access_headers(user), params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_due_within_the_notice_window_until_renewed(client, uow_factory, org):
    soon = await implemented(uow_factory, org, "Soon Co", ends_in=60)
    await implemented(uow_factory, org, "Later Co", ends_in=61)
    lapsed = await implemented(uow_factory, org, "Lapsed Co", ends_in=-5)
    renewed = await implemented(uow_factory, org, "Renewed Co", ends_in=20)
    await make_contract(
        uow_factory,
        customer=renewed,
        amount="1200.00",
        status="signed",
        signed_at=on(today() - dt.timedelta(days=3)),
    )
    body = await report(client, org.rep)
    assert body["renewal_notice_days"] == 60
    assert [(d["name"], d["days_left"]) for d in body["due"]] == [("Lapsed Co", -5), ("Soon Co", 60)]
    assert body["due"][1]["customer_id"] == str(soon.id) and body["due"][0]["customer_id"] == str(lapsed.id)
    assert body["due"][1]["service_end"] == (today() + dt.timedelta(days=60)).isoformat()
    # Scope: another team's rep sees none of them.
    assert (await report(client, org.other_rep))["due"] == []


async def test_renewal_rate_over_a_period(client, uow_factory, org):
    # Two service periods ended last month; one customer signed again within its window.
    end = today() - dt.timedelta(days=40)
    kept = await implemented(uow_factory, org, "Kept Co", ends_in=-40)
    await implemented(uow_factory, org, "Lost Co", ends_in=-40)
    await make_contract(
        uow_factory,
        customer=kept,
        amount="900.00",
        status="signed",
        signed_at=on(end - dt.timedelta(days=10)),
    )
    body = await report(
        client,
        org.finance,
        **{"from": (end - dt.timedelta(days=1)).isoformat(), "to": (end + dt.timedelta(days=1)).isoformat()},
    )
    assert (body["due_count"], body["renewed_count"], Decimal(body["renewal_rate"])) == (2, 1, Decimal("0.5"))
    empty = await report(client, org.finance, **{"from": "2020-01-01", "to": "2020-12-31"})
    assert (empty["due_count"], empty["renewal_rate"]) == (0, None)
    assert_problem(
        await client.get(
            REPORT, headers=access_headers(org.finance), params={"from": "2021-01-01", "to": "2020-01-01"}
        ),
        422,
    )


async def test_service_period_on_contracts(client, uow_factory, org):
    customer = await make_funnel_customer(uow_factory, owner=org.rep, stage="intent")
    draft = await api_draft_contract(
        client, org.rep, customer.id, "100.00", service_start="2027-01-01", service_end="2027-12-31"
    )
    assert (draft["service_start"], draft["service_end"]) == ("2027-01-01", "2027-12-31")
    response = await client.post(
        "/api/v1/contracts",
        headers=access_headers(org.rep),
        json={
            "customer_id": str(customer.id),
            "number": "C-BAD",
            "amount": "1.00",
            "service_start": "2027-01-01",
            "service_end": "2026-12-31",
        },
    )
    assert_problem(response, 422, "validation_error")


async def test_handover_gives_renewal_due_customers_first(client, uow_factory, org):
    # rep2 is the best seller; the departing rep holds a renewal-due and a settled customer.
    sale = await make_customer(uow_factory, owner=org.rep2, stage="signed")
    await make_contract(
        uow_factory,
        customer=sale,
        amount="100000",
        status="signed",
        signed_at=utcnow() - dt.timedelta(days=7),
    )
    await implemented(uow_factory, org, "Quiet Co", ends_in=300)
    await implemented(uow_factory, org, "Renewing Co", ends_in=10)
    response = await client.post(
        f"/api/v1/users/{org.rep.id}/handover",
        headers=access_headers(org.director),
        json={"strategy": "fat_man", "dry_run": True},
    )
    assert response.status_code == 200, response.text
    items = [(i["name"], i["to_owner_id"], i["reason"]) for i in response.json()["items"]]
    assert items[0][0] == "Renewing Co" and items[0][1] == str(org.rep2.id)
    assert items[0][2].startswith("implemented customer (renewal due) to top seller")
    assert "renewal due" not in next(reason for name, _, reason in items if name == "Quiet Co")

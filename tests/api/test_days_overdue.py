"""One definition of overdue through HTTP (SPEC §6): the credit view (hold and warnings),
the overdue filter, AR aging and provision all count calendar days in Asia/Shanghai."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from app.db.base import utcnow
from app.domain.credit import business_date, business_day_start
from tests.support.builders import (
    access_headers,
    make_contract,
    make_customer,
    make_receivable,
    make_sales_org,
)

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


def today_start() -> dt.datetime:
    return business_day_start(business_date(utcnow(), SH), SH)


async def owing(uow_factory, org, name, due_at):
    customer = await make_customer(uow_factory, name=name, owner=org.rep, stage="signed")
    contract = await make_contract(uow_factory, customer=customer, amount="100.00", status="signed")
    await make_receivable(
        uow_factory,
        contract=contract,
        amount="100.00",
        due_at=due_at,
        issued_at=due_at - dt.timedelta(days=90),
    )
    return customer


async def figures(client, org, customer) -> dict:
    headers = access_headers(org.finance)
    credit = (await client.get(f"/api/v1/customers/{customer.id}/credit", headers=headers)).json()
    listed = (
        await client.get(
            "/api/v1/receivables",
            headers=headers,
            params={"customer_id": str(customer.id), "overdue": "true"},
        )
    ).json()
    aging = (await client.get("/api/v1/reports/ar-aging", headers=headers)).json()
    row = next(r for r in aging["rows"] if r["name"] == customer.name)
    provision = (await client.get("/api/v1/reports/bad-debt-provision", headers=headers)).json()
    return {
        "days": credit["max_days_overdue"],
        "count": credit["overdue_count"],
        "on_hold": credit["on_hold"],
        "warned": any(w["code"] == "credit.overdue" for w in credit["warnings"]),
        "listed": len(listed["items"]),
        "bucket": row["oldest_bucket"],
        "aging_date": aging["as_of"],
        "provision_date": provision["as_of"],
    }


async def test_due_at_shanghai_midnight_today_is_current_everywhere(client, uow_factory, org):
    customer = await owing(uow_factory, org, "Today Co", today_start())
    got = await figures(client, org, customer)
    assert got["days"] == 0 and got["count"] == 0 and got["listed"] == 0
    assert not got["warned"] and not got["on_hold"]
    assert got["bucket"] == "current"
    assert got["aging_date"] == got["provision_date"] == business_date(utcnow(), SH).isoformat()


async def test_due_a_microsecond_before_shanghai_midnight_is_one_day_overdue_everywhere(
    client, uow_factory, org
):
    customer = await owing(uow_factory, org, "Yesterday Co", today_start() - dt.timedelta(microseconds=1))
    got = await figures(client, org, customer)
    assert got["days"] == 1 and got["count"] == 1 and got["listed"] == 1 and got["warned"]
    assert got["bucket"] == "d1_30"


async def test_hold_starts_after_sixty_calendar_days(client, uow_factory, org):
    sixty = await owing(uow_factory, org, "Sixty Co", today_start() - dt.timedelta(days=60))
    sixty_one = await owing(
        uow_factory, org, "Sixty-one Co", today_start() - dt.timedelta(days=60, microseconds=1)
    )
    got = await figures(client, org, sixty)
    assert (got["days"], got["on_hold"], got["bucket"]) == (60, False, "d31_60")
    got = await figures(client, org, sixty_one)
    assert (got["days"], got["on_hold"], got["bucket"]) == (61, True, "d61_90")

"""GET /me/worklist (SPEC §5 上行原则): bottom of the funnel first, then urgency
(protection lapsing, follow-up due, stalled), then fast movers; each item with its reasons."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest

from app.db.base import utcnow
from tests.support.builders import (
    access_headers,
    add_transition_row,
    assert_problem,
    make_activity,
    make_contract,
    make_customer,
    make_receivable,
    make_sales_org,
)

WORKLIST = "/api/v1/me/worklist"
DAY = dt.timedelta(days=1)


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


@pytest.fixture
async def desk(uow_factory, org):
    """The rep's customers, created in an order unrelated to the expected one."""
    now = utcnow()

    async def mine(name, stage, **fields):
        return await make_customer(uow_factory, name=name, owner=org.rep, stage=stage, **fields)

    async def moved_in(customer, days):
        await add_transition_row(uow_factory, customer=customer, from_stage="contacted", to_stage="lead",
                                 owner=org.rep, at=now - DAY, days_in_from_stage=Decimal(days))

    desk = SimpleNamespace(
        resource=await mine("Resource", "resource"),
        lead_none=await mine("Lead without history", "lead"),
        lead_slow=await mine("Lead slow", "lead"),
        lead_stalled=await mine("Lead stalled", "lead", stage_entered_at=now - 11 * DAY),
        lead_follow=await mine("Lead follow-up", "lead", last_contact_at=now - 2 * DAY),
        lead_fast=await mine("Lead fast", "lead"),
        lead_lapsing=await mine("Lead lapsing", "lead", last_contact_at=now - 6 * DAY,
                                claimed_at=now - 10 * DAY),
        intent=await mine("Intent", "intent"),
        signed=await mine("Signed", "signed", claimed_at=now - 60 * DAY),
        implemented=await mine("Implemented", "implemented"),
    )
    await moved_in(desk.lead_slow, "4.50")
    await moved_in(desk.lead_fast, "0.75")
    await make_activity(uow_factory, customer=desk.lead_follow, created_by=org.rep,
                        next_follow_up_at=now - dt.timedelta(hours=1))
    # Someone else's customer never shows up on this rep's list.
    await make_customer(uow_factory, owner=org.rep2, stage="intent")
    return desk


async def worklist(client, user) -> list[dict]:
    response = await client.get(WORKLIST, headers=access_headers(user))
    assert response.status_code == 200, response.text
    return response.json()["items"]


class TestWorklist:
    async def test_anonymous(self, client):
        assert_problem(await client.get(WORKLIST), 401, "unauthorized")

    async def test_order_bottom_up_then_urgency_then_fast_movers(self, client, org, desk):
        items = await worklist(client, org.rep)
        assert [i["customer"]["name"] for i in items] == [
            "Implemented", "Signed", "Intent",
            "Lead lapsing", "Lead follow-up", "Lead stalled", "Lead fast", "Lead slow",
            "Lead without history", "Resource"]

    async def test_reasons_and_deadlines(self, client, org, desk):
        items = {i["customer"]["name"]: i for i in await worklist(client, org.rep)}
        assert {name: i["reasons"] for name, i in items.items() if i["reasons"]} == {
            "Lead lapsing": ["protection_lapsing"],
            "Lead follow-up": ["follow_up_due"],
            "Lead stalled": ["stalled"],
        }
        lapsing = dt.datetime.fromisoformat(items["Lead lapsing"]["protection_deadline"])
        assert abs(lapsing - (utcnow() + DAY)) < dt.timedelta(minutes=1)
        # Signed customers are outside the holding rules: no protection clock.
        assert items["Signed"]["protection_deadline"] is None
        assert items["Lead follow-up"]["follow_up_at"] is not None
        assert items["Resource"]["follow_up_at"] is None

    async def test_several_reasons_are_listed_most_urgent_first(self, client, uow_factory, org):
        now = utcnow()
        both = await make_customer(uow_factory, name="Both", owner=org.rep, stage="contacted",
                                   stage_entered_at=now - 30 * DAY, last_contact_at=now - 6 * DAY,
                                   claimed_at=now - 40 * DAY)
        await make_activity(uow_factory, customer=both, created_by=org.rep,
                            next_follow_up_at=now - dt.timedelta(minutes=5))
        [item] = await worklist(client, org.rep)
        assert item["reasons"] == ["protection_lapsing", "follow_up_due", "stalled"]

    async def test_a_follow_up_already_made_is_not_due(self, client, uow_factory, org):
        now = utcnow()
        customer = await make_customer(uow_factory, owner=org.rep, stage="lead",
                                       last_contact_at=now - dt.timedelta(hours=1))
        await make_activity(uow_factory, customer=customer, created_by=org.rep,
                            next_follow_up_at=now - dt.timedelta(hours=2))
        [item] = await worklist(client, org.rep)
        assert item["reasons"] == []

    async def test_only_the_callers_own_customers(self, client, org, desk):
        assert len(await worklist(client, org.rep2)) == 1
        assert await worklist(client, org.manager) == []

    async def test_payment_overdue(self, client, uow_factory, org):
        now = utcnow()
        customer = await make_customer(uow_factory, name="Owes us", owner=org.rep, stage="signed")
        contract = await make_contract(uow_factory, customer=customer, amount="1000.00", status="signed")
        await make_receivable(uow_factory, contract=contract, amount="1000.00", due_at=now - DAY)
        paid_up = await make_customer(uow_factory, name="Paid up", owner=org.rep, stage="signed")
        settled = await make_contract(uow_factory, customer=paid_up, amount="500.00", status="signed")
        await make_receivable(uow_factory, contract=settled, amount="500.00", due_at=now - DAY,
                              paid_amount="500.00")
        items = {i["customer"]["name"]: i["reasons"] for i in await worklist(client, org.rep)}
        assert items["Owes us"] == ["payment_overdue"]
        assert items["Paid up"] == []

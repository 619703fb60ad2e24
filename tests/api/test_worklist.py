"""GET /me/worklist (SPEC §5 上行原则): only customers with something to do today, bottom
of the funnel first, then urgency (payment overdue, protection lapsing, follow-up or task
due, stalled, new claim not contacted), then fast movers; each item with its reasons;
paged; a manager's team variant."""

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
    walk_pages,
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
        await add_transition_row(
            uow_factory,
            customer=customer,
            from_stage="contacted",
            to_stage="lead",
            owner=org.rep,
            at=now - DAY,
            days_in_from_stage=Decimal(days),
        )

    desk = SimpleNamespace(
        resource=await mine("Resource", "resource"),
        lead_none=await mine("Lead without history", "lead"),
        lead_slow=await mine("Lead slow", "lead"),
        lead_stalled=await mine("Lead stalled", "lead", stage_entered_at=now - 11 * DAY),
        lead_follow=await mine("Lead follow-up", "lead", last_contact_at=now - 2 * DAY),
        lead_fast=await mine("Lead fast", "lead"),
        lead_lapsing=await mine(
            "Lead lapsing", "lead", last_contact_at=now - 6 * DAY, claimed_at=now - 10 * DAY
        ),
        intent=await mine("Intent", "intent"),
        signed=await mine("Signed", "signed", claimed_at=now - 60 * DAY),
        implemented=await mine("Implemented", "implemented"),
    )
    await moved_in(desk.lead_slow, "4.50")
    await moved_in(desk.lead_fast, "0.75")
    await make_activity(
        uow_factory,
        customer=desk.lead_follow,
        created_by=org.rep,
        next_follow_up_at=now - dt.timedelta(hours=1),
    )
    # Someone else's customer never shows up on this rep's list.
    await make_customer(uow_factory, owner=org.rep2, stage="intent")
    return desk


async def worklist(client, user, **params) -> list[dict]:
    response = await client.get(WORKLIST, headers=access_headers(user), params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


class TestWorklist:
    async def test_anonymous(self, client):
        assert_problem(await client.get(WORKLIST), 401, "unauthorized")

    async def test_order_bottom_up_then_urgency_then_fast_movers(self, client, org, desk):
        items = await worklist(client, org.rep)
        # Idle signed and implemented customers have nothing to do today: not listed.
        assert [i["customer"]["name"] for i in items] == [
            "Intent",
            "Lead lapsing",
            "Lead follow-up",
            "Lead stalled",
            "Lead fast",
            "Lead slow",
            "Lead without history",
            "Resource",
        ]

    async def test_reasons_and_deadlines(self, client, org, desk):
        items = {i["customer"]["name"]: i for i in await worklist(client, org.rep)}
        assert {name: i["reasons"] for name, i in items.items()} == {
            "Intent": ["not_contacted"],
            "Lead lapsing": ["protection_lapsing"],
            "Lead follow-up": ["follow_up_due", "not_contacted"],
            "Lead stalled": ["stalled", "not_contacted"],
            "Lead fast": ["not_contacted"],
            "Lead slow": ["not_contacted"],
            "Lead without history": ["not_contacted"],
            "Resource": ["not_contacted"],
        }
        lapsing = dt.datetime.fromisoformat(items["Lead lapsing"]["protection_deadline"])
        assert abs(lapsing - (utcnow() + DAY)) < dt.timedelta(minutes=1)
        assert items["Lead follow-up"]["follow_up_at"] is not None
        assert items["Resource"]["follow_up_at"] is None

    async def test_an_idle_implemented_customer_is_not_above_a_lapsing_intent(self, client, uow_factory, org):
        now = utcnow()
        for n in range(3):
            await make_customer(
                uow_factory, name=f"Idle {n}", owner=org.rep, stage="implemented", claimed_at=now - 300 * DAY
            )
        await make_customer(
            uow_factory,
            name="Intent lapsing",
            owner=org.rep,
            stage="intent",
            last_contact_at=now - 6 * DAY,
            claimed_at=now - 20 * DAY,
        )
        assert [i["customer"]["name"] for i in await worklist(client, org.rep)] == ["Intent lapsing"]

    async def test_several_reasons_are_listed_most_urgent_first(self, client, uow_factory, org):
        now = utcnow()
        both = await make_customer(
            uow_factory,
            name="Both",
            owner=org.rep,
            stage="contacted",
            stage_entered_at=now - 30 * DAY,
            last_contact_at=now - 6 * DAY,
            claimed_at=now - 40 * DAY,
        )
        await make_activity(
            uow_factory, customer=both, created_by=org.rep, next_follow_up_at=now - dt.timedelta(minutes=5)
        )
        [item] = await worklist(client, org.rep)
        assert item["reasons"] == ["protection_lapsing", "follow_up_due", "stalled"]

    async def test_a_follow_up_already_made_leaves_nothing_to_do(self, client, uow_factory, org):
        now = utcnow()
        customer = await make_customer(
            uow_factory,
            owner=org.rep,
            stage="lead",
            last_contact_at=now - dt.timedelta(hours=1),
            claimed_at=now - 2 * DAY,
        )
        await make_activity(
            uow_factory, customer=customer, created_by=org.rep, next_follow_up_at=now - dt.timedelta(hours=2)
        )
        assert await worklist(client, org.rep) == []

    async def test_a_due_open_task_puts_it_on_the_list(self, client, uow_factory, org):
        now = utcnow()
        contacted = {"last_contact_at": now - dt.timedelta(hours=1), "claimed_at": now - 2 * DAY}
        customer = await make_customer(uow_factory, name="Task Co", owner=org.rep, stage="lead", **contacted)
        later = await make_customer(uow_factory, name="Later Co", owner=org.rep, stage="lead", **contacted)
        for target, due in ((customer, now - dt.timedelta(hours=1)), (later, now + 3 * DAY)):
            response = await client.post(
                "/api/v1/tasks",
                headers=access_headers(org.rep),
                json={"title": "Send the quote", "customer_id": str(target.id), "due_at": due.isoformat()},
            )
            assert response.status_code == 201, response.text
        items = await worklist(client, org.rep)
        assert [(i["customer"]["name"], i["reasons"]) for i in items] == [("Task Co", ["task_due"])]

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
        await make_receivable(
            uow_factory, contract=settled, amount="500.00", due_at=now - DAY, paid_amount="500.00"
        )
        items = {i["customer"]["name"]: i["reasons"] for i in await worklist(client, org.rep)}
        assert items == {"Owes us": ["payment_overdue"]}

    async def test_pages(self, client, org, desk):
        everything = await worklist(client, org.rep)
        seen = [
            i["customer"]["id"] for i in await walk_pages(client, WORKLIST, access_headers(org.rep), limit=3)
        ]
        assert seen == [i["customer"]["id"] for i in everything]
        bad = await client.get(WORKLIST, headers=access_headers(org.rep), params={"cursor": "nonsense"})
        assert_problem(bad, 400, "pagination.invalid_cursor")

    async def test_team_scope_for_managers(self, client, uow_factory, org, desk):
        other = await make_customer(uow_factory, name="Other team", owner=org.other_rep, stage="lead")
        team = [i["customer"]["name"] for i in await worklist(client, org.manager, scope="team")]
        # rep's and rep2's customers (sub-team of the manager's region), not other_rep's.
        assert len(team) == 9 and "Other team" not in team
        assert "Intent" in team[:2]  # both intent customers (rep's and rep2's) come first
        mine = [i["customer"]["name"] for i in await worklist(client, org.other_manager, scope="team")]
        assert mine == [other.name]
        for role in ("rep", "director", "support"):
            response = await client.get(
                WORKLIST, headers=access_headers(getattr(org, role)), params={"scope": "team"}
            )
            assert_problem(response, 403, "forbidden")
        assert_problem(
            await client.get(WORKLIST, headers=access_headers(org.manager), params={"scope": "everyone"}),
            422,
            "validation_error",
        )

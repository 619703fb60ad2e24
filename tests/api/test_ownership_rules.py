"""SPEC §5 ownership rules that close the loopholes of issue 13, over HTTP by role: the
protection period derived from activities, the reclaim block after a release or a lapse,
claims outside the caller's scope, reactivation by team, handover of signed customers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.db.base import utcnow
from app.db.models import OwnershipEvent
from tests.support.builders import (
    access_headers,
    assert_problem,
    make_activity,
    make_customer,
    make_sales_org,
    set_pool_policy,
)

CUSTOMERS = "/api/v1/customers"
ACTIVITIES = "/api/v1/activities"
RECYCLE = "/api/v1/pool/recycle"
ALLOCATE = "/api/v1/pool/allocate"
DAY = dt.timedelta(days=1)


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


async def post(client, user, path, **body):
    return await client.post(path, headers=access_headers(user), json=body or None)


def act(customer_id, verb: str) -> str:
    return f"{CUSTOMERS}/{customer_id}/{verb}"


async def customer_row(uow_factory, customer_id):
    async with uow_factory() as uow:
        return await uow.customers.get_unscoped(customer_id)


async def last_event(uow_factory, customer_id) -> OwnershipEvent:
    async with uow_factory() as uow:
        rows = await uow.session.scalars(
            select(OwnershipEvent)
            .where(OwnershipEvent.customer_id == customer_id)
            .order_by(OwnershipEvent.at.desc())
        )
        return rows.first()


async def age_events(uow_factory, customer_id, by: dt.timedelta) -> None:
    """Move a customer's ownership events into the past (the clock moving on)."""
    async with uow_factory() as uow:
        for event in (
            await uow.session.scalars(select(OwnershipEvent).where(OwnershipEvent.customer_id == customer_id))
        ).all():
            event.at = event.at - by
        await uow.commit()


class TestLastContactIsDerived:
    async def test_deleting_the_latest_activity_moves_last_contact_back(self, client, uow_factory, org):
        now = utcnow()
        customer = await make_customer(
            uow_factory, owner=org.rep, stage="contacted", claimed_at=now - 30 * DAY
        )
        await make_activity(uow_factory, customer=customer, created_by=org.rep, occurred_at=now - 10 * DAY)
        logged = await post(
            client,
            org.rep,
            ACTIVITIES,
            customer_id=str(customer.id),
            type="call",
            occurred_at=(now - DAY).isoformat(),
        )
        assert logged.status_code == 201, logged.text
        assert (await customer_row(uow_factory, customer.id)).last_contact_at > now - 2 * DAY
        body = logged.json()
        deleted = await client.delete(
            f"{ACTIVITIES}/{body['id']}", headers={**access_headers(org.rep), "If-Match": '"1"'}
        )
        assert deleted.status_code == 204, deleted.text
        after = (await customer_row(uow_factory, customer.id)).last_contact_at
        assert abs(after - (now - 10 * DAY)) < dt.timedelta(seconds=1)
        # ... and so the sweep now takes the customer back to the pool.
        swept = await post(client, org.support, RECYCLE)
        assert [r["customer_id"] for r in swept.json()["released"]] == [str(customer.id)]

    async def test_deleting_the_only_activity_clears_it(self, client, uow_factory, org):
        customer = await make_customer(uow_factory, owner=org.rep, stage="contacted")
        logged = await post(
            client,
            org.rep,
            ACTIVITIES,
            customer_id=str(customer.id),
            type="visit",
            occurred_at=utcnow().isoformat(),
        )
        assert logged.status_code == 201, logged.text
        await client.delete(f"{ACTIVITIES}/{logged.json()['id']}", headers=access_headers(org.rep))
        assert (await customer_row(uow_factory, customer.id)).last_contact_at is None

    async def test_back_dating_an_activity_moves_last_contact_back(self, client, uow_factory, org):
        now = utcnow()
        customer = await make_customer(uow_factory, owner=org.rep, stage="contacted")
        logged = await post(
            client,
            org.rep,
            ACTIVITIES,
            customer_id=str(customer.id),
            type="call",
            occurred_at=now.isoformat(),
        )
        assert logged.status_code == 201, logged.text
        moved = await client.patch(
            f"{ACTIVITIES}/{logged.json()['id']}",
            headers=access_headers(org.rep),
            json={"occurred_at": (now - 9 * DAY).isoformat()},
        )
        assert moved.status_code == 200, moved.text
        after = (await customer_row(uow_factory, customer.id)).last_contact_at
        assert abs(after - (now - 9 * DAY)) < dt.timedelta(seconds=1)


class TestReclaimBlock:
    async def test_release_then_reclaim_is_blocked(self, client, uow_factory, org):
        customer = await make_customer(uow_factory)
        assert (await post(client, org.rep, act(customer.id, "claim"))).status_code == 200
        assert (await post(client, org.rep, act(customer.id, "release"))).status_code == 200
        body = assert_problem(
            await post(client, org.rep, act(customer.id, "claim")), 409, "pool.reclaim_blocked"
        )
        until = dt.datetime.fromisoformat(body["blocked_until"])
        assert abs(until - (utcnow() + 7 * DAY)) < dt.timedelta(minutes=1)
        assert (await customer_row(uow_factory, customer.id)).owner_id is None
        # The next rep to register it gets it (归续登业务员).
        assert (await post(client, org.rep2, act(customer.id, "claim"))).status_code == 200

    async def test_lapse_then_reclaim_is_blocked(self, client, uow_factory, org):
        now = utcnow()
        customer = await make_customer(
            uow_factory, owner=org.rep, stage="lead", last_contact_at=now - 8 * DAY, claimed_at=now - 8 * DAY
        )
        swept = await post(client, org.support, RECYCLE)
        assert [r["customer_id"] for r in swept.json()["released"]] == [str(customer.id)]
        assert_problem(await post(client, org.rep, act(customer.id, "claim")), 409, "pool.reclaim_blocked")

    async def test_block_ends_after_reclaim_block_days(self, client, uow_factory, org):
        await set_pool_policy(uow_factory, org.director, reclaim_block_days=3)
        customer = await make_customer(uow_factory)
        await post(client, org.rep, act(customer.id, "claim"))
        await post(client, org.rep, act(customer.id, "release"))
        await age_events(uow_factory, customer.id, 2 * DAY)
        assert_problem(await post(client, org.rep, act(customer.id, "claim")), 409, "pool.reclaim_blocked")
        await age_events(uow_factory, customer.id, 2 * DAY)
        assert (await post(client, org.rep, act(customer.id, "claim"))).status_code == 200

    async def test_zero_block_days_switch_it_off(self, client, uow_factory, org):
        await set_pool_policy(uow_factory, org.director, reclaim_block_days=0)
        customer = await make_customer(uow_factory)
        await post(client, org.rep, act(customer.id, "claim"))
        await post(client, org.rep, act(customer.id, "release"))
        assert (await post(client, org.rep, act(customer.id, "claim"))).status_code == 200

    async def test_support_cannot_assign_it_back(self, client, uow_factory, org):
        customer = await make_customer(uow_factory)
        await post(client, org.rep, act(customer.id, "claim"))
        await post(client, org.rep, act(customer.id, "release"))
        response = await post(client, org.support, act(customer.id, "assign"), owner_id=str(org.rep.id))
        assert_problem(response, 409, "pool.reclaim_blocked")

    @pytest.mark.parametrize("role", ["manager", "director"])
    async def test_a_managers_manual_assignment_overrides_and_is_recorded(
        self, client, uow_factory, org, role
    ):
        customer = await make_customer(uow_factory)
        await post(client, org.rep, act(customer.id, "claim"))
        await post(client, org.rep, act(customer.id, "release"))
        response = await post(
            client, getattr(org, role), act(customer.id, "assign"), owner_id=str(org.rep.id)
        )
        assert response.status_code == 200, response.text
        event = await last_event(uow_factory, customer.id)
        assert (event.event, event.to_owner_id) == ("assign", org.rep.id)
        assert "reclaim block" in event.reason and f"overridden by {role}" in event.reason

    async def test_allocation_passes_over_the_blocked_rep(self, client, uow_factory, org):
        customer = await make_customer(uow_factory, grade="A")
        await post(client, org.rep, act(customer.id, "claim"))
        await post(client, org.rep, act(customer.id, "release"))
        for strategy in ("fat_man", "round_robin"):
            plan = await post(
                client,
                org.support,
                ALLOCATE,
                strategy=strategy,
                dry_run=True,
                customer_ids=[str(customer.id)],
                user_ids=[str(org.rep.id)],
            )
            assert plan.status_code == 200, plan.text
            assert plan.json()["assignments"] == []
            plan = await post(
                client,
                org.support,
                ALLOCATE,
                strategy=strategy,
                dry_run=True,
                customer_ids=[str(customer.id)],
                user_ids=[str(org.rep.id), str(org.rep2.id)],
            )
            assert [a["owner_id"] for a in plan.json()["assignments"]] == [str(org.rep2.id)]
        manual = await post(
            client,
            org.support,
            ALLOCATE,
            strategy="manual",
            assignments=[{"customer_id": str(customer.id), "owner_id": str(org.rep.id)}],
        )
        assert manual.json()["assignments"] == []
        assert manual.json()["unassigned"][0]["reason"].startswith("reclaim blocked until")

    async def test_abandonment_and_reassignment_do_not_block(self, client, uow_factory, org):
        customer = await make_customer(
            uow_factory, owner=org.rep, stage="lead", target_amount=Decimal("1000.00")
        )
        response = await post(client, org.manager, act(customer.id, "assign"), owner_id=str(org.rep2.id))
        assert response.status_code == 200, response.text
        response = await post(client, org.manager, act(customer.id, "assign"), owner_id=str(org.rep.id))
        assert response.status_code == 200, response.text


class TestReactivationScope:
    @pytest.fixture
    async def abandoned_by(self, client, uow_factory):
        async def abandon(owner):
            customer = await make_customer(
                uow_factory,
                owner=owner,
                stage="lead",
                grade="A",
                recommended_products=["ERP"],
                target_amount=Decimal("100.00"),
            )
            response = await client.post(
                f"{CUSTOMERS}/{customer.id}/transitions",
                headers=access_headers(owner),
                json={"to_stage": "abandoned", "reason": "unreachable", "note": "Number disconnected"},
            )
            assert response.status_code == 200, response.text
            await _end_cooldown(uow_factory, customer.id)
            return customer

        return abandon

    async def test_another_teams_manager_may_not_reactivate(self, client, uow_factory, org, abandoned_by):
        customer = await abandoned_by(org.rep)
        response = await client.post(
            f"{CUSTOMERS}/{customer.id}/transitions",
            headers=access_headers(org.other_manager),
            json={"to_stage": "resource"},
        )
        assert_problem(response, 403, "funnel.reactivation_out_of_scope")
        assert (await customer_row(uow_factory, customer.id)).stage == "abandoned"

    async def test_the_manager_of_a_parent_team_may(self, client, uow_factory, org, abandoned_by):
        customer = await abandoned_by(org.rep)  # rep is in group, a sub-team of manager's region
        response = await client.post(
            f"{CUSTOMERS}/{customer.id}/transitions",
            headers=access_headers(org.manager),
            json={"to_stage": "resource"},
        )
        assert response.status_code == 200, response.text
        other = await abandoned_by(org.other_rep)
        response = await client.post(
            f"{CUSTOMERS}/{other.id}/transitions",
            headers=access_headers(org.other_manager),
            json={"to_stage": "resource"},
        )
        assert response.status_code == 200, response.text

    @pytest.mark.parametrize("role", ["support", "director"])
    async def test_support_and_directors_are_not_limited(self, client, uow_factory, org, abandoned_by, role):
        customer = await abandoned_by(org.other_rep)
        response = await client.post(
            f"{CUSTOMERS}/{customer.id}/transitions",
            headers=access_headers(getattr(org, role)),
            json={"to_stage": "resource"},
        )
        assert response.status_code == 200, response.text

    async def test_never_owned_is_out_of_a_managers_scope(self, client, uow_factory, org):
        customer = await make_customer(uow_factory, stage="abandoned")
        response = await client.post(
            f"{CUSTOMERS}/{customer.id}/transitions",
            headers=access_headers(org.manager),
            json={"to_stage": "resource"},
        )
        assert_problem(response, 403, "funnel.reactivation_out_of_scope")


async def _end_cooldown(uow_factory, customer_id) -> None:
    from tests.support.builders import update_customer_row

    await update_customer_row(uow_factory, customer_id, cooldown_until=utcnow() - dt.timedelta(minutes=1))

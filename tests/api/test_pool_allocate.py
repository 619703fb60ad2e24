"""POST /pool/allocate (SPEC §5): the fat-man principle ranked by signed amounts in the
ranking window, discoverer priority, capacity, round robin, manual, and who may allocate."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from types import SimpleNamespace

import pytest

from app.db.base import utcnow
from tests.support.builders import (
    access_headers,
    assert_problem,
    make_contract,
    make_customer,
    make_customers,
    make_sales_org,
    set_pool_policy,
)

ALLOCATE = "/api/v1/pool/allocate"
DAY = dt.timedelta(days=1)


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


async def signed_sale(uow_factory, owner, amount: str, *, days_ago: int) -> None:
    """A contract ``owner`` signed ``days_ago``: what the ranking reads."""
    customer = await make_customer(uow_factory, owner=owner, stage="signed")
    await make_contract(
        uow_factory, customer=customer, amount=amount, status="signed", signed_at=utcnow() - days_ago * DAY
    )


@pytest.fixture
async def market(uow_factory, org):
    """rep2 sold most in the window, then rep; other_rep's big sale is outside the window.
    Limit 3: rep2 already holds one active customer, so has room for two."""
    await set_pool_policy(uow_factory, org.director, max_active_customers=3)
    await signed_sale(uow_factory, org.rep2, "100000", days_ago=10)
    await signed_sale(uow_factory, org.rep, "30000", days_ago=5)
    await signed_sale(uow_factory, org.rep, "20000", days_ago=80)
    await signed_sale(uow_factory, org.other_rep, "500000", days_ago=200)
    await make_customers(uow_factory, 1, owner=org.rep2, stage="lead")

    async def pooled(name, grade):
        return await make_customer(uow_factory, name=name, grade=grade)

    # Created in this order, so the pool lists them in it within a grade.
    return SimpleNamespace(
        c1=await pooled("C One", "C"),
        u1=await pooled("Ungraded One", None),
        a1=await pooled("A One", "A"),
        b1=await pooled("B One", "B"),
        a2=await pooled("A Two", "A"),
        u2=await pooled("Ungraded Two", None),
    )


async def allocate(client, user, **body):
    return await client.post(ALLOCATE, headers=access_headers(user), json=body)


async def owner_of(uow_factory, customer):
    async with uow_factory() as uow:
        return (await uow.customers.get_unscoped(customer.id)).owner_id


class TestAllocate:
    async def test_anonymous(self, client):
        assert_problem(await client.post(ALLOCATE, json={"strategy": "fat_man"}), 401, "unauthorized")

    @pytest.mark.parametrize("role", ["rep", "finance", "admin"])
    async def test_roles_that_do_not_allocate(self, client, org, role):
        response = await allocate(client, getattr(org, role), strategy="fat_man", dry_run=True)
        assert_problem(response, 403, "forbidden")

    async def test_unknown_strategy(self, client, org):
        response = await allocate(client, org.director, strategy="lottery")
        body = assert_problem(response, 422, "validation_error")
        assert body["errors"][0]["loc"] == ["body", "strategy"]

    async def test_fat_man_dry_run(self, client, uow_factory, org, market):
        response = await allocate(client, org.director, strategy="fat_man", dry_run=True)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["strategy"], body["dry_run"], body["unassigned"]) == ("fat_man", True, [])
        plan = [(a["customer_id"], a["owner_id"]) for a in body["assignments"]]
        m = market
        # Grade A first to the best seller with room (rep2 has two slots), then rep (three),
        # then other_rep, whose sale lies outside the 90-day window.
        assert plan == [
            (str(c.id), str(u.id))
            for c, u in (
                (m.a1, org.rep2),
                (m.a2, org.rep2),
                (m.b1, org.rep),
                (m.c1, org.rep),
                (m.u1, org.rep),
                (m.u2, org.other_rep),
            )
        ]
        reasons = [a["reason"] for a in body["assignments"]]
        assert reasons[0] == "grade A to top seller (signed 100000.00 in ranking window)"
        assert reasons[2] == "grade B to top seller (signed 50000.00 in ranking window)"
        assert reasons[5] == "ungraded to top seller (signed 0.00 in ranking window)"
        assert all(a["applied"] is False for a in body["assignments"])
        assert all(a["team_id"] for a in body["assignments"])
        assert await owner_of(uow_factory, m.a1) is None

    async def test_the_ranking_window_comes_from_the_settings(self, client, uow_factory, org, market):
        await set_pool_policy(uow_factory, org.director, ranking_days=365)
        body = (await allocate(client, org.director, strategy="fat_man", dry_run=True)).json()
        first = body["assignments"][0]
        assert (first["customer_id"], first["owner_id"]) == (str(market.a1.id), str(org.other_rep.id))
        assert first["reason"] == "grade A to top seller (signed 500000.00 in ranking window)"

    async def test_discoverers_get_their_own_finds_first(self, client, uow_factory, org, market):
        found = await make_customer(
            uow_factory, name="Found Co", grade="C", source="self_discovered", discovered_by=org.other_rep.id
        )
        body = (await allocate(client, org.director, strategy="fat_man", dry_run=True)).json()
        line = next(a for a in body["assignments"] if a["customer_id"] == str(found.id))
        assert (line["owner_id"], line["reason"]) == (str(org.other_rep.id), "discoverer priority")

    async def test_real_run_applies_within_capacity(self, client, uow_factory, org, market):
        extra = await make_customers(uow_factory, 4, grade="C")
        response = await allocate(client, org.director, strategy="fat_man")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["dry_run"] is False
        assert all(a["applied"] for a in body["assignments"])
        per_owner = Counter(a["owner_id"] for a in body["assignments"])
        assert per_owner == {str(org.rep2.id): 2, str(org.rep.id): 3, str(org.other_rep.id): 3}
        # 10 candidates, 8 free slots: the last two wait in the pool, with the reason.
        assert [u["reason"] for u in body["unassigned"]] == ["no capacity", "no capacity"]
        assert {u["customer_id"] for u in body["unassigned"]} <= {
            str(c.id) for c in (*extra, market.u1, market.u2)
        }
        assert await owner_of(uow_factory, market.a1) == org.rep2.id
        for rep in (org.rep, org.rep2, org.other_rep):
            async with uow_factory() as uow:
                assert await uow.customers.count_active_owned(rep.id) == 3
        again = (await allocate(client, org.director, strategy="fat_man")).json()
        assert again["assignments"] == []

    async def test_only_the_customers_asked_for(self, client, uow_factory, org, market):
        owned = await make_customer(uow_factory, owner=org.rep)
        body = (
            await allocate(
                client,
                org.support,
                strategy="fat_man",
                dry_run=True,
                customer_ids=[str(market.b1.id), str(owned.id)],
            )
        ).json()
        assert [a["customer_id"] for a in body["assignments"]] == [str(market.b1.id)]
        assert body["unassigned"] == [{"customer_id": str(owned.id), "reason": "not claimable"}]

    async def test_round_robin_spreads(self, client, uow_factory, org, market):
        await set_pool_policy(uow_factory, org.director, max_active_customers=30)
        body = (await allocate(client, org.support, strategy="round_robin")).json()
        assert len(body["assignments"]) == 6
        assert Counter(a["owner_id"] for a in body["assignments"]) == {
            str(org.rep.id): 2,
            str(org.rep2.id): 2,
            str(org.other_rep.id): 2,
        }
        grade_a = [a["owner_id"] for a in body["assignments"][:2]]
        assert len(set(grade_a)) == 2
        assert body["assignments"][0]["reason"] == "round robin (grade A)"

    async def test_round_robin_to_chosen_reps(self, client, uow_factory, org, market):
        body = (
            await allocate(
                client, org.support, strategy="round_robin", dry_run=True, user_ids=[str(org.other_rep.id)]
            )
        ).json()
        assert {a["owner_id"] for a in body["assignments"]} == {str(org.other_rep.id)}
        assert len(body["assignments"]) == 3  # other_rep's free capacity

    async def test_manual(self, client, uow_factory, org, market):
        owned = await make_customer(uow_factory, owner=org.rep2)
        response = await allocate(
            client,
            org.director,
            strategy="manual",
            assignments=[
                {"customer_id": str(market.c1.id), "owner_id": str(org.rep2.id)},
                {"customer_id": str(market.u1.id), "owner_id": str(org.rep.id)},
                {"customer_id": str(owned.id), "owner_id": str(org.rep.id)},
            ],
        )
        assert response.status_code == 200, response.text
        body = response.json()
        lines = [(a["customer_id"], a["owner_id"], a["reason"], a["applied"]) for a in body["assignments"]]
        assert lines == [
            (str(market.c1.id), str(org.rep2.id), "manual", True),
            (str(market.u1.id), str(org.rep.id), "manual", True),
        ]
        assert body["unassigned"] == [{"customer_id": str(owned.id), "reason": "not claimable"}]
        assert await owner_of(uow_factory, market.c1) == org.rep2.id

    async def test_manual_respects_capacity(self, client, uow_factory, org, market):
        body = (
            await allocate(
                client,
                org.director,
                strategy="manual",
                dry_run=True,
                assignments=[
                    {"customer_id": str(c.id), "owner_id": str(org.rep2.id)}
                    for c in (market.a1, market.a2, market.b1)
                ],
            )
        ).json()
        assert len(body["assignments"]) == 2
        assert body["unassigned"] == [{"customer_id": str(market.b1.id), "reason": "no capacity"}]

    async def test_manual_needs_assignments(self, client, org):
        response = await allocate(client, org.director, strategy="manual")
        body = assert_problem(response, 422, "validation_error")
        assert body["errors"][0]["loc"] == ["body", "assignments"]

    async def test_manual_to_an_invalid_owner(self, client, org, market):
        response = await allocate(
            client,
            org.director,
            strategy="manual",
            assignments=[{"customer_id": str(market.a1.id), "owner_id": str(uuid.uuid4())}],
        )
        assert_problem(response, 422, "customer.invalid_owner")

    async def test_a_manager_allocates_to_their_own_reps_only(self, client, uow_factory, org, market):
        body = (await allocate(client, org.manager, strategy="fat_man")).json()
        assert {a["owner_id"] for a in body["assignments"]} == {str(org.rep.id), str(org.rep2.id)}
        assert len(body["assignments"]) == 5
        assert await owner_of(uow_factory, market.u2) is None
        response = await allocate(
            client,
            org.manager,
            strategy="manual",
            assignments=[{"customer_id": str(market.u2.id), "owner_id": str(org.other_rep.id)}],
        )
        assert_problem(response, 403, "forbidden")

    async def test_by_team_ranks_teams_first(self, client, uow_factory, org, market):
        # The other team's single rep out-sells either group rep, not the group together.
        await signed_sale(uow_factory, org.other_rep, "120000", days_ago=3)
        by_rep = (await allocate(client, org.director, strategy="fat_man", dry_run=True)).json()
        assert by_rep["assignments"][0]["owner_id"] == str(org.other_rep.id)
        by_team = (
            await allocate(client, org.director, strategy="fat_man", dry_run=True, by_team=True)
        ).json()
        assert by_team["assignments"][0]["owner_id"] == str(org.rep2.id)
        assert by_team["assignments"][0]["reason"].startswith("grade A to top team (team signed 150000.00")

    async def test_a_reps_own_find_over_the_limit_waits_for_them(self, client, uow_factory, org):
        await set_pool_policy(uow_factory, org.director, max_active_customers=1, discovery_bonus=0)
        under = await client.post(
            "/api/v1/customers", headers=access_headers(org.rep2), json={"name": "Within Limit Co"}
        )
        assert under.status_code == 201, under.text
        assert (under.json()["owner_id"], under.json()["source"]) == (str(org.rep2.id), "self_discovered")
        over = await client.post(
            "/api/v1/customers", headers=access_headers(org.rep2), json={"name": "Over Limit Co"}
        )
        assert over.status_code == 201, over.text
        found = over.json()
        assert (found["owner_id"], found["discovered_by"]) == (None, str(org.rep2.id))
        # rep out-sells rep2, but once rep2 has room again the find is theirs.
        await signed_sale(uow_factory, org.rep, "100000", days_ago=3)
        abandoned = await client.post(
            f"/api/v1/customers/{under.json()['id']}/transitions",
            headers=access_headers(org.rep2),
            json={"to_stage": "abandoned", "reason": "unsuitable", "note": "Too small"},
        )
        assert abandoned.status_code == 200, abandoned.text
        other = await make_customer(uow_factory, name="Someone Else's Co", grade="A")
        body = (await allocate(client, org.manager, strategy="fat_man", dry_run=True)).json()
        lines = {a["customer_id"]: (a["owner_id"], a["reason"]) for a in body["assignments"]}
        assert lines == {
            found["id"]: (str(org.rep2.id), "discoverer priority"),
            str(other.id): (str(org.rep.id), "grade A to top seller (signed 100000.00 in ranking window)"),
        }


class TestCapacityAwareFatMan:
    async def test_top_seller_stops_at_the_ideal_holding(self, client, uow_factory, org):
        # rep is the top seller with plenty of room, but already holds 2 intent customers
        # (the ideal holding); rep2 ranks next and takes the intent customers.
        await signed_sale(uow_factory, org.rep, "90000", days_ago=3)
        await signed_sale(uow_factory, org.rep2, "1000", days_ago=3)
        await make_customers(uow_factory, 2, owner=org.rep, stage="intent")
        intents = await make_customers(uow_factory, 2, stage="intent", grade="A")
        graded = await make_customer(uow_factory, stage="graded", grade="B")
        body = (
            await allocate(
                client,
                org.support,
                strategy="fat_man",
                dry_run=True,
                user_ids=[str(org.rep.id), str(org.rep2.id)],
            )
        ).json()
        lines = {a["customer_id"]: a for a in body["assignments"]}
        assert {lines[str(c.id)]["owner_id"] for c in intents} == {str(org.rep2.id)}
        assert lines[str(graded.id)]["owner_id"] == str(org.rep.id)
        first = lines[str(intents[0].id)]["explanation"]
        assert (
            first["rule"],
            first["rank"],
            first["stage"],
            first["stage_holding"],
            first["stage_cap"],
            first["free_capacity"],
        ) == ("fat-man", 2, "intent", 0, 2, 30)
        assert first["signed_amount"] == "1000.00"
        top = lines[str(graded.id)]["explanation"]
        assert (top["rank"], top["stage_holding"], top["stage_cap"], top["free_capacity"]) == (1, 0, 10, 28)

    async def test_the_stored_ownership_event_carries_the_explanation(self, client, uow_factory, org):
        from sqlalchemy import select

        from app.db.models import OwnershipEvent

        await signed_sale(uow_factory, org.rep, "90000", days_ago=3)
        customer = await make_customer(uow_factory, grade="A")
        body = (
            await allocate(client, org.support, strategy="fat_man", customer_ids=[str(customer.id)])
        ).json()
        assert body["assignments"][0]["applied"] is True
        async with uow_factory() as uow:
            event = (
                await uow.session.scalars(
                    select(OwnershipEvent).where(OwnershipEvent.customer_id == customer.id)
                )
            ).one()
        assert event.event == "allocate" and event.to_owner_id == org.rep.id
        assert "rule fat-man; rank 1, signed 90000.00 in ranking window, free capacity 30" in event.reason

    async def test_managers_who_sell_are_ranked(self, client, uow_factory, org):
        await signed_sale(uow_factory, org.manager, "500000", days_ago=3)
        await signed_sale(uow_factory, org.rep, "1000", days_ago=3)
        customer = await make_customer(uow_factory, grade="A")
        body = (
            await allocate(
                client, org.director, strategy="fat_man", dry_run=True, customer_ids=[str(customer.id)]
            )
        ).json()
        assert body["assignments"][0]["owner_id"] == str(org.manager.id)
        # A manager who has not sold in the window is not ranked; round robin stays with reps.
        body = (
            await allocate(
                client, org.director, strategy="round_robin", dry_run=True, customer_ids=[str(customer.id)]
            )
        ).json()
        assert body["assignments"][0]["owner_id"] != str(org.manager.id)
        assert body["assignments"][0]["explanation"]["rule"] == "round robin"

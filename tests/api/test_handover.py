"""POST /users/{id}/handover (SPEC §5 staff departure) and the deactivation guard."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from app.db.base import utcnow
from app.db.models import OwnershipEvent
from tests.support.builders import (
    access_headers,
    assert_problem,
    make_contract,
    make_customer,
    make_customers,
    make_sales_org,
    make_team,
    make_user,
    set_pool_policy,
)

USERS = "/api/v1/users"


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


@pytest.fixture
async def book(uow_factory, org):
    """``org.rep`` is leaving. rep2 out-sells other_rep but has a single free slot (limit 3)."""
    await set_pool_policy(uow_factory, org.director, max_active_customers=3)
    for seller, amount in ((org.rep2, "100000"), (org.other_rep, "50000")):
        sale = await make_customer(uow_factory, owner=seller, stage="signed", target_amount=Decimal(amount))
        await make_contract(
            uow_factory,
            customer=sale,
            amount=amount,
            status="signed",
            signed_at=utcnow() - dt.timedelta(days=7),
        )
    await make_customers(uow_factory, 2, owner=org.rep2, stage="lead")

    async def held(name, stage, grade=None):
        return await make_customer(uow_factory, name=name, owner=org.rep, stage=stage, grade=grade)

    return SimpleNamespace(
        intent_b=await held("Intent B", "intent", "B"),
        intent_a=await held("Intent A", "intent", "A"),
        signed=await held("Signed Co", "signed", "C"),
        lead=await held("Lead Co", "lead", "A"),
        resource=await held("Resource Co", "resource"),
    )


def handover_url(user) -> str:
    return f"{USERS}/{user.id}/handover"


async def handover(client, actor, user, **body):
    return await client.post(handover_url(user), headers=access_headers(actor), json=body)


async def owners(uow_factory, book) -> dict[str, uuid.UUID | None]:
    async with uow_factory() as uow:
        return {name: (await uow.customers.get_unscoped(c.id)).owner_id for name, c in vars(book).items()}


class TestHandover:
    async def test_anonymous(self, client):
        assert_problem(
            await client.post(f"{USERS}/{uuid.uuid4()}/handover", json={"strategy": "pool"}),
            401,
            "unauthorized",
        )

    @pytest.mark.parametrize("role", ["rep", "support", "finance"])
    async def test_roles_that_do_not_hand_over(self, client, org, role):
        response = await handover(client, getattr(org, role), org.rep2, strategy="pool", dry_run=True)
        assert_problem(response, 403, "forbidden")

    async def test_unknown_or_out_of_scope_user(self, client, org):
        response = await client.post(
            f"{USERS}/{uuid.uuid4()}/handover",
            headers=access_headers(org.director),
            json={"strategy": "pool"},
        )
        assert_problem(response, 404, "not_found")
        assert_problem(await handover(client, org.other_manager, org.rep, strategy="pool"), 404, "not_found")

    async def test_fat_man_dry_run(self, client, uow_factory, org, book):
        response = await handover(client, org.director, org.rep, strategy="fat_man", dry_run=True)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["user_id"], body["strategy"], body["dry_run"]) == (str(org.rep.id), "fat_man", True)
        went = {item["name"]: (item["stage"], item["to_owner_id"]) for item in body["items"]}
        # Signed first (takes no slot), then intent grade A first: rep2 has one slot, so
        # the second intent goes to the next best seller; earlier stages go to the pool.
        assert went == {
            "Signed Co": ("signed", str(org.rep2.id)),
            "Intent A": ("intent", str(org.rep2.id)),
            "Intent B": ("intent", str(org.other_rep.id)),
            "Lead Co": ("lead", None),
            "Resource Co": ("resource", None),
        }
        reasons = {item["name"]: item["reason"] for item in body["items"]}
        assert reasons["Intent A"] == "intent customer to top seller (signed 100000.00 in ranking window)"
        assert reasons["Signed Co"].endswith("not counted against the holding limit")
        assert reasons["Lead Co"] == "back to pool (lead)"
        assert set((await owners(uow_factory, book)).values()) == {org.rep.id}

    async def test_fat_man_real_run_and_then_deactivation(self, client, uow_factory, org, book):
        refused = await client.post(f"{USERS}/{org.rep.id}/deactivate", headers=access_headers(org.admin))
        body = assert_problem(refused, 409, "user.owns_customers")
        assert body["owned_customers"] == 5

        response = await handover(client, org.admin, org.rep, strategy="fat_man")
        assert response.status_code == 200, response.text
        assert response.json()["dry_run"] is False
        assert await owners(uow_factory, book) == {
            "signed": org.rep2.id,
            "intent_a": org.rep2.id,
            "intent_b": org.other_rep.id,
            "lead": None,
            "resource": None,
        }
        async with uow_factory() as uow:
            events = (
                await uow.session.scalars(
                    select(OwnershipEvent).where(OwnershipEvent.from_owner_id == org.rep.id)
                )
            ).all()
            handed = await uow.customers.get_unscoped(book.intent_a.id)
        # History keeps the previous owner of every customer.
        assert len(events) == 5 and {e.event for e in events} == {"handover"}
        assert {e.customer_id: e.to_owner_id for e in events}[book.lead.id] is None
        assert handed.team_id == org.rep2.team_id and handed.claimed_at is not None
        history = await client.get(
            f"/api/v1/customers/{book.intent_b.id}/history", headers=access_headers(org.director)
        )
        entry = next(h for h in history.json()["items"] if h["action"] == "handover")
        assert entry["changes"]["owner_id"] == [str(org.rep.id), str(org.other_rep.id)]

        deactivated = await client.post(f"{USERS}/{org.rep.id}/deactivate", headers=access_headers(org.admin))
        assert deactivated.status_code == 200, deactivated.text
        assert deactivated.json()["is_active"] is False

    async def test_a_manager_hands_over_within_the_team(self, client, uow_factory, org, book):
        body = (await handover(client, org.manager, org.rep, strategy="fat_man", dry_run=True)).json()
        went = {item["name"]: item["to_owner_id"] for item in body["items"]}
        # other_rep is outside the manager's teams: the second intent finds no capacity.
        assert went["Intent A"] == str(org.rep2.id)
        assert went["Intent B"] is None
        assert {i["name"]: i["reason"] for i in body["items"]}["Intent B"] == "no capacity"

    async def test_pool_strategy(self, client, uow_factory, org, book):
        response = await handover(client, org.director, org.rep, strategy="pool")
        assert response.status_code == 200, response.text
        # Everything goes back to the pool except the signed customer: it goes to a person
        # (the best seller with room), never to the pool (SPEC §5).
        assert await owners(uow_factory, book) == {
            "signed": org.rep2.id,
            "intent_a": None,
            "intent_b": None,
            "lead": None,
            "resource": None,
        }
        went = {item["name"]: item["to_owner_id"] for item in response.json()["items"]}
        assert went["Signed Co"] == str(org.rep2.id) and went["Intent A"] is None

    @pytest.mark.parametrize("strategy", ["pool", "fat_man"])
    async def test_signed_customers_go_to_the_manager_when_no_seller_has_room(
        self, client, uow_factory, org, strategy
    ):
        await set_pool_policy(uow_factory, org.director, max_active_customers=1)
        # Everybody else in scope is full; a manager of the region hands over.
        for rep in (org.rep2,):
            await make_customers(uow_factory, 1, owner=rep, stage="lead")
        signed = await make_customer(uow_factory, owner=org.rep, stage="signed")
        implemented = await make_customer(uow_factory, owner=org.rep, stage="implemented")
        response = await handover(client, org.manager, org.rep, strategy=strategy)
        assert response.status_code == 200, response.text
        async with uow_factory() as uow:
            for customer in (signed, implemented):
                assert (await uow.customers.get_unscoped(customer.id)).owner_id == org.manager.id
        reasons = {item["reason"] for item in response.json()["items"]}
        assert reasons == {
            "signed customer to the manager: no seller has room",
            "implemented customer to the manager: no seller has room",
        }

    async def test_signed_customers_with_nobody_to_take_them(self, client, uow_factory):
        # A lone rep in a team without a manager, and no other rep anywhere: nobody can take
        # the signed customer, so the handover is refused and nothing moves.
        team = await make_team(uow_factory, name="lonely")
        director = await make_user(uow_factory, role="director")
        rep = await make_user(uow_factory, role="rep", team=team)
        signed = await make_customer(uow_factory, owner=rep, stage="signed")
        lead = await make_customer(uow_factory, owner=rep, stage="lead")
        response = await handover(client, director, rep, strategy="pool")
        assert_problem(response, 422, "handover.no_recipient")
        async with uow_factory() as uow:
            for customer in (signed, lead):
                assert (await uow.customers.get_unscoped(customer.id)).owner_id == rep.id

    async def test_to_user(self, client, uow_factory, org, book):
        await set_pool_policy(uow_factory, org.director, max_active_customers=30)
        response = await handover(
            client, org.director, org.rep, strategy="to_user", to_user_id=str(org.rep2.id)
        )
        assert response.status_code == 200, response.text
        assert {item["reason"] for item in response.json()["items"]} == {"handed to the named user"}
        assert set((await owners(uow_factory, book)).values()) == {org.rep2.id}

    async def test_to_user_over_the_holding_limit(self, client, uow_factory, org, book):
        # rep2 holds 2 of 3; the four active customers do not fit.
        response = await handover(
            client, org.director, org.rep, strategy="to_user", to_user_id=str(org.rep2.id)
        )
        body = assert_problem(response, 409, "pool.quota_exceeded")
        assert (body["limit"], body["active"]) == (3, 2)
        assert set((await owners(uow_factory, book)).values()) == {org.rep.id}

    async def test_to_user_needs_a_valid_other_user(self, client, uow_factory, org, book):
        body = assert_problem(
            await handover(client, org.director, org.rep, strategy="to_user"), 422, "validation_error"
        )
        assert body["errors"][0]["loc"] == ["body", "to_user_id"]
        response = await handover(
            client, org.director, org.rep, strategy="to_user", to_user_id=str(org.rep.id)
        )
        assert_problem(response, 422, "handover.same_user")
        response = await handover(
            client, org.director, org.rep, strategy="to_user", to_user_id=str(org.finance.id)
        )
        assert_problem(response, 422, "customer.invalid_owner")

    async def test_nothing_to_hand_over(self, client, org):
        response = await handover(client, org.director, org.rep, strategy="fat_man")
        assert response.status_code == 200, response.text
        assert response.json()["items"] == []

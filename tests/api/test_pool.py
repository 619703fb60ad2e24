"""The pool over HTTP (SPEC §5): what is claimable, claim, release and assign, the holding
limit and cooldown, by role."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.db.base import utcnow
from app.db.models import OwnershipEvent
from tests.support.builders import (
    access_headers,
    assert_problem,
    make_customer,
    make_customers,
    make_funnel_customer,
    make_sales_org,
    make_user,
    set_pool_policy,
    walk_pages,
)

POOL = "/api/v1/pool"
CUSTOMERS = "/api/v1/customers"
GRADED = {"grade": "A", "recommended_products": ["ERP"], "target_amount": Decimal("50000.00")}


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


def action(customer_id, verb: str) -> str:
    return f"{CUSTOMERS}/{customer_id}/{verb}"


async def post(client, user, customer_id, verb: str, **body):
    return await client.post(action(customer_id, verb), headers=access_headers(user), json=body or None)


async def ownership_events(uow_factory, customer_id) -> list[OwnershipEvent]:
    async with uow_factory() as uow:
        rows = await uow.session.scalars(
            select(OwnershipEvent)
            .where(OwnershipEvent.customer_id == customer_id)
            .order_by(OwnershipEvent.at)
        )
        return list(rows.all())


async def pool_ids(client, user, **params) -> list[str]:
    response = await client.get(POOL, headers=access_headers(user), params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def close_to_now(value: str | None) -> bool:
    assert value is not None
    return abs(dt.datetime.fromisoformat(value) - utcnow()) < dt.timedelta(minutes=1)


class TestListPool:
    async def test_anonymous(self, client):
        assert_problem(await client.get(POOL), 401, "unauthorized")

    async def test_lists_claimable_customers_only(self, client, uow_factory, org):
        now = utcnow()
        claimable = await make_customer(uow_factory, name="Free Co")
        cooled = await make_customer(
            uow_factory, name="Cooled Co", cooldown_until=now - dt.timedelta(hours=1)
        )
        await make_customer(uow_factory, name="Owned Co", owner=org.rep)
        await make_customer(
            uow_factory, name="Abandoned Co", stage="abandoned", cooldown_until=now + dt.timedelta(days=30)
        )
        await make_customer(uow_factory, name="Abandoned Cool Co", stage="abandoned")
        await make_customer(uow_factory, name="Cooling Co", cooldown_until=now + dt.timedelta(days=1))
        await make_customer(uow_factory, name="Deleted Co", deleted=True)
        for user in (org.rep, org.manager, org.support, org.director, org.finance):
            assert sorted(await pool_ids(client, user)) == sorted([str(claimable.id), str(cooled.id)])

    async def test_contacts_are_masked_for_reps_only(self, client, uow_factory, org):
        await make_customer(
            uow_factory,
            name="Masked Co",
            contacts=[
                {
                    "name": "Li Lei",
                    "phones": ["13812345678"],
                    "emails": ["li.lei@example.com"],
                    "wechat": "lilei1988",
                    "notes": "prefers mornings",
                }
            ],
        )
        as_rep = (await client.get(POOL, headers=access_headers(org.rep))).json()["items"][0]["contacts"][0]
        assert as_rep["masked"] is True
        assert as_rep["phones"] != ["+8613812345678"] and "5678" in as_rep["phones"][0]
        assert as_rep["emails"] != ["li.lei@example.com"]
        assert as_rep["wechat"] != "lilei1988" and as_rep["notes"] is None
        for user in (org.support, org.manager):
            contact = (await client.get(POOL, headers=access_headers(user))).json()["items"][0]["contacts"][0]
            assert contact["masked"] is False
            assert (contact["phones"], contact["emails"], contact["wechat"]) == (
                ["+8613812345678"],
                ["li.lei@example.com"],
                "lilei1988",
            )

    async def test_filters_and_pages(self, client, uow_factory, org):
        grade_a = [await make_customer(uow_factory, grade="A") for _ in range(3)]
        await make_customer(uow_factory, grade="B")
        seen = [
            item["id"] for item in await walk_pages(client, POOL, access_headers(org.rep), grade="A", limit=2)
        ]
        assert sorted(seen) == sorted(str(c.id) for c in grade_a)

    async def test_bad_grade_filter(self, client, org):
        body = assert_problem(
            await client.get(POOL, headers=access_headers(org.rep), params={"grade": "Z"}),
            422,
            "validation_error",
        )
        assert body["errors"][0]["loc"] == ["query", "grade"]


class TestClaim:
    async def test_anonymous(self, client):
        assert_problem(await client.post(action(uuid.uuid4(), "claim")), 401, "unauthorized")

    @pytest.mark.parametrize("role", ["support", "director", "finance", "admin"])
    async def test_roles_that_do_not_claim(self, client, uow_factory, org, role):
        customer = await make_customer(uow_factory)
        assert_problem(await post(client, getattr(org, role), customer.id, "claim"), 403, "forbidden")

    async def test_unknown_or_deleted_customer(self, client, uow_factory, org):
        deleted = await make_customer(uow_factory, deleted=True)
        for customer_id in (uuid.uuid4(), deleted.id):
            response = await post(client, org.rep, customer_id, "claim")
            assert_problem(response, 404, "not_found")

    async def test_happy_path(self, client, uow_factory, org):
        customer = await make_customer(uow_factory)
        response = await post(client, org.rep, customer.id, "claim")
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["owner_id"], body["team_id"]) == (str(org.rep.id), str(org.group.id))
        assert close_to_now(body["claimed_at"])
        assert response.headers["ETag"] == f'"{body["version"]}"'
        assert body["version"] > customer.version
        events = await ownership_events(uow_factory, customer.id)
        assert [(e.event, e.from_owner_id, e.to_owner_id, e.actor_id) for e in events] == [
            ("claim", None, org.rep.id, org.rep.id)
        ]
        history = await client.get(f"{CUSTOMERS}/{customer.id}/history", headers=access_headers(org.rep))
        assert "claim" in [h["action"] for h in history.json()["items"]]
        assert str(customer.id) not in await pool_ids(client, org.rep2)

    async def test_a_manager_may_claim(self, client, uow_factory, org):
        customer = await make_customer(uow_factory)
        response = await post(client, org.manager, customer.id, "claim")
        assert response.status_code == 200, response.text
        assert response.json()["owner_id"] == str(org.manager.id)

    async def test_already_claimed(self, client, uow_factory, org):
        customer = await make_customer(uow_factory)
        assert (await post(client, org.rep2, customer.id, "claim")).status_code == 200
        # The loser of the race for a pool customer learns it lost, not that it vanished.
        response = await post(client, org.rep, customer.id, "claim")
        assert_problem(response, 409, "pool.already_claimed")
        response = await post(client, org.rep2, customer.id, "claim")
        assert_problem(response, 409, "pool.already_claimed")

    async def test_someone_elses_customer_is_not_found(self, client, uow_factory, org):
        # Owned for a while (no recent take from the pool): its existence does not leak.
        customer = await make_customer(uow_factory, owner=org.rep2)
        for user in (org.rep, org.other_rep, org.other_manager):
            assert_problem(await post(client, user, customer.id, "claim"), 404, "not_found")
        # A manager who can see it learns it is owned.
        assert_problem(await post(client, org.manager, customer.id, "claim"), 409, "pool.already_claimed")

    async def test_a_race_window_long_past_is_not_found(self, client, uow_factory, org):
        customer = await make_customer(uow_factory)
        assert (await post(client, org.rep2, customer.id, "claim")).status_code == 200
        async with uow_factory() as uow:
            for event in (
                await uow.session.scalars(
                    select(OwnershipEvent).where(OwnershipEvent.customer_id == customer.id)
                )
            ).all():
                event.at = event.at - dt.timedelta(minutes=5)
            await uow.commit()
        assert_problem(await post(client, org.rep, customer.id, "claim"), 404, "not_found")

    async def test_abandoned_customer(self, client, uow_factory, org):
        for cooldown in (utcnow() + dt.timedelta(days=30), None):
            customer = await make_customer(uow_factory, stage="abandoned", cooldown_until=cooldown)
            response = await post(client, org.rep, customer.id, "claim")
            assert_problem(response, 409, "pool.not_claimable")

    async def test_customer_in_cooldown(self, client, uow_factory, org):
        customer = await make_customer(uow_factory, cooldown_until=utcnow() + dt.timedelta(days=3))
        body = assert_problem(await post(client, org.rep, customer.id, "claim"), 409, "pool.cooldown_active")
        assert "cooldown_until" in body

    async def test_holding_limit(self, client, uow_factory, org):
        settings = await client.put(
            "/api/v1/settings/pool",
            headers=access_headers(org.director),
            json={"max_active_customers": 3, "protection_days": 7, "cooldown_days": 90, "ranking_days": 90},
        )
        assert settings.status_code == 200, settings.text
        await make_customers(uow_factory, 2, owner=org.rep, stage="lead")
        # Signed, implemented and abandoned customers do not count against the limit.
        await make_customers(uow_factory, 2, owner=org.rep, stage="signed")
        await make_customers(uow_factory, 1, owner=org.rep, stage="implemented")
        first, second = await make_customer(uow_factory), await make_customer(uow_factory)
        assert (await post(client, org.rep, first.id, "claim")).status_code == 200
        body = assert_problem(await post(client, org.rep, second.id, "claim"), 409, "pool.quota_exceeded")
        assert (body["limit"], body["active"]) == (3, 3)
        # Another rep is not affected, and a non-active-stage pool customer fits anyway.
        assert (await post(client, org.rep2, second.id, "claim")).status_code == 200
        signed = await make_customer(uow_factory, stage="signed")
        assert (await post(client, org.rep, signed.id, "claim")).status_code == 200

    async def test_abandoning_frees_a_slot(self, client, uow_factory, org):
        await set_pool_policy(uow_factory, org.director, max_active_customers=1)
        held = await make_funnel_customer(uow_factory, owner=org.rep, stage="lead", **GRADED)
        wanted = await make_customer(uow_factory)
        assert_problem(await post(client, org.rep, wanted.id, "claim"), 409, "pool.quota_exceeded")
        abandon = await client.post(
            f"{CUSTOMERS}/{held.id}/transitions",
            headers=access_headers(org.rep),
            json={"to_stage": "abandoned", "reason": "refused", "note": "No"},
        )
        assert abandon.status_code == 200, abandon.text
        assert (await post(client, org.rep, wanted.id, "claim")).status_code == 200


class TestRelease:
    async def test_anonymous(self, client):
        assert_problem(await client.post(action(uuid.uuid4(), "release")), 401, "unauthorized")

    async def test_unknown_or_out_of_scope(self, client, uow_factory, org):
        others = await make_customer(uow_factory, owner=org.rep2)
        for customer_id in (uuid.uuid4(), others.id):
            response = await post(client, org.rep, customer_id, "release")
            assert_problem(response, 404, "not_found")
        other_team = await make_customer(uow_factory, owner=org.other_rep)
        response = await post(client, org.manager, other_team.id, "release")
        assert_problem(response, 404, "not_found")

    @pytest.mark.parametrize("role", ["finance", "admin"])
    async def test_roles_that_do_not_release(self, client, uow_factory, org, role):
        customer = await make_customer(uow_factory, owner=org.rep)
        response = await post(client, getattr(org, role), customer.id, "release")
        assert_problem(response, 403, "forbidden")

    async def test_owner_releases_to_the_pool(self, client, uow_factory, org):
        customer = await make_customer(uow_factory, owner=org.rep, stage="contacted")
        response = await client.post(
            action(customer.id, "release"), headers=access_headers(org.rep), json={"reason": "not my region"}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["owner_id"], body["team_id"], body["claimed_at"], body["stage"]) == (
            None,
            None,
            None,
            "contacted",
        )
        assert response.headers["ETag"] == f'"{body["version"]}"'
        events = await ownership_events(uow_factory, customer.id)
        # The release event is what the claim/release ratio KPI counts.
        assert [(e.event, e.from_owner_id, e.to_owner_id, e.reason) for e in events] == [
            ("release", org.rep.id, None, "not my region")
        ]
        # A release has no cooldown: anyone may claim it at once.
        assert str(customer.id) in await pool_ids(client, org.rep2)
        assert (await post(client, org.rep2, customer.id, "claim")).status_code == 200

    async def test_release_without_a_body(self, client, uow_factory, org):
        customer = await make_customer(uow_factory, owner=org.rep)
        response = await post(client, org.rep, customer.id, "release")
        assert response.status_code == 200, response.text

    async def test_manager_releases_a_team_customer(self, client, uow_factory, org):
        customer = await make_customer(uow_factory, owner=org.rep2)
        response = await post(client, org.manager, customer.id, "release")
        assert response.status_code == 200, response.text
        assert (await ownership_events(uow_factory, customer.id))[0].actor_id == org.manager.id

    async def test_already_in_the_pool(self, client, uow_factory, org):
        customer = await make_customer(uow_factory)
        response = await post(client, org.rep, customer.id, "release")
        assert_problem(response, 409, "pool.not_owned")

    @pytest.mark.parametrize("stage", ["signed", "implemented"])
    async def test_signed_customers_are_not_released(self, client, uow_factory, org, stage):
        customer = await make_customer(uow_factory, owner=org.rep, stage=stage)
        response = await post(client, org.rep, customer.id, "release")
        assert_problem(response, 422, "pool.not_releasable")


class TestAssign:
    async def test_anonymous(self, client):
        response = await client.post(action(uuid.uuid4(), "assign"), json={"owner_id": str(uuid.uuid4())})
        assert_problem(response, 401, "unauthorized")

    @pytest.mark.parametrize("role", ["rep", "finance", "admin"])
    async def test_roles_that_do_not_assign(self, client, uow_factory, org, role):
        customer = await make_customer(uow_factory)
        response = await post(client, getattr(org, role), customer.id, "assign", owner_id=str(org.rep.id))
        assert_problem(response, 403, "forbidden")

    async def test_unknown_customer(self, client, org):
        response = await client.post(
            action(uuid.uuid4(), "assign"),
            headers=access_headers(org.manager),
            json={"owner_id": str(org.rep.id)},
        )
        assert_problem(response, 404, "not_found")

    async def test_manager_assigns_within_the_team(self, client, uow_factory, org):
        customer = await make_customer(uow_factory)
        response = await post(client, org.manager, customer.id, "assign", owner_id=str(org.rep.id))
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["owner_id"], body["team_id"]) == (str(org.rep.id), str(org.group.id))
        assert close_to_now(body["claimed_at"])
        assert response.headers["ETag"] == f'"{body["version"]}"'
        events = await ownership_events(uow_factory, customer.id)
        assert [(e.event, e.to_owner_id, e.actor_id) for e in events] == [
            ("assign", org.rep.id, org.manager.id)
        ]

    async def test_manager_reassigns_within_the_team(self, client, uow_factory, org):
        customer = await make_customer(uow_factory, owner=org.rep)
        response = await post(client, org.manager, customer.id, "assign", owner_id=str(org.rep2.id))
        assert response.status_code == 200, response.text
        assert response.json()["owner_id"] == str(org.rep2.id)
        events = await ownership_events(uow_factory, customer.id)
        assert sorted((e.event, e.from_owner_id, e.to_owner_id) for e in events) == sorted(
            [("reassign", org.rep.id, None), ("assign", None, org.rep2.id)]
        )

    async def test_manager_cannot_assign_outside_the_team(self, client, uow_factory, org):
        customer = await make_customer(uow_factory)
        response = await post(client, org.manager, customer.id, "assign", owner_id=str(org.other_rep.id))
        assert_problem(response, 403, "forbidden")
        owned = await make_customer(uow_factory, owner=org.other_rep)
        response = await post(client, org.manager, owned.id, "assign", owner_id=str(org.rep.id))
        assert_problem(response, 404, "not_found")

    async def test_support_and_director_assign_anywhere(self, client, uow_factory, org):
        for user, owner in ((org.support, org.other_rep), (org.director, org.rep)):
            customer = await make_customer(uow_factory)
            response = await post(client, user, customer.id, "assign", owner_id=str(owner.id))
            assert response.status_code == 200, response.text
            assert response.json()["owner_id"] == str(owner.id)

    async def test_assigning_to_the_current_owner_changes_nothing(self, client, uow_factory, org):
        customer = await make_customer(uow_factory, owner=org.rep)
        response = await post(client, org.manager, customer.id, "assign", owner_id=str(org.rep.id))
        assert response.status_code == 200, response.text
        assert response.json()["version"] == customer.version
        assert await ownership_events(uow_factory, customer.id) == []

    @pytest.mark.parametrize("kind", ["inactive", "finance", "unknown"])
    async def test_invalid_owner(self, client, uow_factory, org, kind):
        customer = await make_customer(uow_factory)
        owner_id = {
            "inactive": lambda: make_user(uow_factory, role="rep", team=org.group, is_active=False),
            "finance": lambda: make_user(uow_factory, role="finance"),
        }
        target = uuid.uuid4() if kind == "unknown" else (await owner_id[kind]()).id
        response = await post(client, org.director, customer.id, "assign", owner_id=str(target))
        body = assert_problem(response, 422, "customer.invalid_owner")
        assert body["owner_id"] == str(target)

    async def test_holding_limit(self, client, uow_factory, org):
        await set_pool_policy(uow_factory, org.director, max_active_customers=2)
        await make_customers(uow_factory, 2, owner=org.rep, stage="resource")
        customer = await make_customer(uow_factory)
        response = await post(client, org.manager, customer.id, "assign", owner_id=str(org.rep.id))
        body = assert_problem(response, 409, "pool.quota_exceeded")
        assert (body["limit"], body["active"]) == (2, 2)
        # A refused reassignment leaves the customer with its owner.
        owned = await make_customer(uow_factory, owner=org.rep2)
        response = await post(client, org.manager, owned.id, "assign", owner_id=str(org.rep.id))
        assert_problem(response, 409, "pool.quota_exceeded")
        detail = await client.get(f"{CUSTOMERS}/{owned.id}", headers=access_headers(org.manager))
        assert detail.json()["owner_id"] == str(org.rep2.id)

    async def test_abandoned_customers_must_be_reactivated_first(self, client, uow_factory, org):
        customer = await make_customer(
            uow_factory, stage="abandoned", cooldown_until=utcnow() + dt.timedelta(days=60)
        )
        for body in ({}, {"director_override": True}):
            response = await post(
                client, org.director, customer.id, "assign", owner_id=str(org.rep.id), **body
            )
            assert_problem(response, 409, "pool.not_claimable")

    async def test_director_override_of_a_cooldown(self, client, uow_factory, org):
        customer = await make_customer(uow_factory, cooldown_until=utcnow() + dt.timedelta(days=60))
        response = await post(client, org.director, customer.id, "assign", owner_id=str(org.rep.id))
        assert_problem(response, 409, "pool.cooldown_active")
        response = await post(
            client, org.director, customer.id, "assign", owner_id=str(org.rep.id), director_override=True
        )
        assert response.status_code == 200, response.text
        assert response.json()["owner_id"] == str(org.rep.id)

    @pytest.mark.parametrize("role", ["manager", "support"])
    async def test_only_directors_override(self, client, uow_factory, org, role):
        customer = await make_customer(uow_factory, cooldown_until=utcnow() + dt.timedelta(days=60))
        response = await post(
            client,
            getattr(org, role),
            customer.id,
            "assign",
            owner_id=str(org.rep.id),
            director_override=True,
        )
        assert_problem(response, 403, "forbidden")

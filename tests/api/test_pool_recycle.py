"""POST /pool/recycle (SPEC §5 protection period): lapsed customers go back to the pool with
reason ``protection_expired``; finished cooldowns end; dry runs and look-ahead change nothing."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from app.db.base import utcnow
from app.db.models import OwnershipEvent
from app.services import pool as pool_service
from tests.support.builders import (
    access_headers,
    assert_problem,
    make_customer,
    make_sales_org,
    set_pool_policy,
)

RECYCLE = "/api/v1/pool/recycle"
DAY = dt.timedelta(days=1)


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


@pytest.fixture
async def clocks(uow_factory, org):
    """Owned customers around the default 7-day protection period."""
    now = utcnow()

    async def owned(name, **fields):
        return await make_customer(uow_factory, name=name, owner=org.rep, **fields)

    return SimpleNamespace(
        now=now,
        silent=await owned(
            "Silent Co", stage="lead", last_contact_at=now - 8 * DAY, claimed_at=now - 30 * DAY
        ),
        never_called=await owned("Never Called Co", claimed_at=now - 8 * DAY),
        recent=await owned(
            "Recent Co", stage="intent", last_contact_at=now - 6 * DAY, claimed_at=now - 30 * DAY
        ),
        fresh_claim=await owned("Fresh Claim Co", last_contact_at=now - 20 * DAY, claimed_at=now - 3 * DAY),
        signed=await owned(
            "Signed Co", stage="signed", last_contact_at=now - 90 * DAY, claimed_at=now - 90 * DAY
        ),
        pooled=await make_customer(uow_factory, name="Pooled Co", last_contact_at=now - 90 * DAY),
    )


async def owners(uow_factory, *customers) -> list:
    async with uow_factory() as uow:
        return [(await uow.customers.get_unscoped(c.id)).owner_id for c in customers]


async def events(uow_factory) -> list[OwnershipEvent]:
    async with uow_factory() as uow:
        return list((await uow.session.scalars(select(OwnershipEvent))).all())


class TestRecycle:
    async def test_anonymous(self, client):
        assert_problem(await client.post(RECYCLE, json={}), 401, "unauthorized")

    @pytest.mark.parametrize("role", ["rep", "finance"])
    async def test_roles_that_do_not_recycle(self, client, org, role):
        response = await client.post(RECYCLE, headers=access_headers(getattr(org, role)), json={})
        assert_problem(response, 403, "forbidden")

    async def test_dry_run_lists_without_moving(self, client, uow_factory, org, clocks):
        response = await client.post(RECYCLE, headers=access_headers(org.support), json={"dry_run": True})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["dry_run"] is True
        released = {item["customer_id"]: item for item in body["released"]}
        assert set(released) == {str(clocks.silent.id), str(clocks.never_called.id)}
        silent = released[str(clocks.silent.id)]
        assert silent["owner_id"] == str(org.rep.id) and silent["name"] == "Silent Co"
        deadline = dt.datetime.fromisoformat(silent["protection_deadline"])
        assert abs(deadline - (clocks.now - DAY)) < dt.timedelta(seconds=5)
        assert await owners(uow_factory, clocks.silent, clocks.never_called) == [org.rep.id, org.rep.id]
        assert await events(uow_factory) == []

    async def test_real_run_returns_lapsed_customers_to_the_pool(self, client, uow_factory, org, clocks):
        response = await client.post(RECYCLE, headers=access_headers(org.manager), json={})
        assert response.status_code == 200, response.text
        assert {i["customer_id"] for i in response.json()["released"]} == {
            str(clocks.silent.id),
            str(clocks.never_called.id),
        }
        assert await owners(uow_factory, clocks.silent, clocks.never_called) == [None, None]
        assert await owners(uow_factory, clocks.recent, clocks.fresh_claim, clocks.signed) == [org.rep.id] * 3

        recorded = await events(uow_factory)
        assert sorted(
            (e.customer_id, e.event, e.from_owner_id, e.to_owner_id, e.reason, e.actor_id) for e in recorded
        ) == sorted(
            (c.id, "recycle", org.rep.id, None, "protection_expired", org.manager.id)
            for c in (clocks.silent, clocks.never_called)
        )
        history = await client.get(
            f"/api/v1/customers/{clocks.silent.id}/history", headers=access_headers(org.support)
        )
        entry = next(h for h in history.json()["items"] if h["action"] == "recycle")
        assert entry["changes"]["owner_id"] == [str(org.rep.id), None]
        assert entry["changes"]["reason"] == [None, "protection_expired"]

        # Back in the pool for anyone to claim; a second sweep finds nothing more.
        pool = await client.get("/api/v1/pool", headers=access_headers(org.rep2))
        assert {str(clocks.silent.id), str(clocks.never_called.id)} <= {c["id"] for c in pool.json()["items"]}
        again = await client.post(RECYCLE, headers=access_headers(org.manager), json={})
        assert again.json()["released"] == []
        assert len(await events(uow_factory)) == 2

    async def test_a_logged_contact_restarts_the_protection_period(self, client, uow_factory, org, clocks):
        logged = await client.post(
            "/api/v1/activities",
            headers=access_headers(org.rep),
            json={"customer_id": str(clocks.silent.id), "type": "call", "occurred_at": utcnow().isoformat()},
        )
        assert logged.status_code == 201, logged.text
        response = await client.post(RECYCLE, headers=access_headers(org.support), json={})
        assert {i["customer_id"] for i in response.json()["released"]} == {str(clocks.never_called.id)}
        assert await owners(uow_factory, clocks.silent) == [org.rep.id]

    async def test_as_of_needs_dry_run(self, client, org, clocks):
        response = await client.post(
            RECYCLE, headers=access_headers(org.support), json={"as_of": (clocks.now + 2 * DAY).isoformat()}
        )
        body = assert_problem(response, 422, "validation_error")
        assert body["errors"][0]["loc"] == ["body", "as_of"]

    async def test_as_of_must_carry_a_timezone(self, client, org):
        response = await client.post(
            RECYCLE,
            headers=access_headers(org.support),
            json={"dry_run": True, "as_of": "2030-01-01T00:00:00"},
        )
        assert_problem(response, 422, "validation_error")

    async def test_look_ahead_shows_what_will_lapse(self, client, uow_factory, org, clocks):
        as_of = clocks.now + 2 * DAY
        response = await client.post(
            RECYCLE, headers=access_headers(org.director), json={"dry_run": True, "as_of": as_of.isoformat()}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert dt.datetime.fromisoformat(body["as_of"]) == as_of
        assert {i["customer_id"] for i in body["released"]} == {
            str(clocks.silent.id),
            str(clocks.never_called.id),
            str(clocks.recent.id),
        }
        assert await owners(uow_factory, clocks.recent) == [org.rep.id]

    async def test_protection_days_come_from_the_settings(self, client, uow_factory, org, clocks):
        await set_pool_policy(uow_factory, org.director, protection_days=5)
        response = await client.post(RECYCLE, headers=access_headers(org.support), json={"dry_run": True})
        assert {i["customer_id"] for i in response.json()["released"]} == {
            str(clocks.silent.id),
            str(clocks.never_called.id),
            str(clocks.recent.id),
        }

    async def test_finished_cooldowns_are_cleared(self, client, uow_factory, org):
        now = utcnow()
        ended = await make_customer(uow_factory, stage="abandoned", cooldown_until=now - DAY)
        running = await make_customer(uow_factory, stage="abandoned", cooldown_until=now + DAY)
        dry = await client.post(RECYCLE, headers=access_headers(org.support), json={"dry_run": True})
        assert [c["customer_id"] for c in dry.json()["cooldowns_ended"]] == [str(ended.id)]
        async with uow_factory() as uow:
            assert (await uow.customers.get_unscoped(ended.id)).cooldown_until is not None
        response = await client.post(RECYCLE, headers=access_headers(org.support), json={})
        assert [c["customer_id"] for c in response.json()["cooldowns_ended"]] == [str(ended.id)]
        async with uow_factory() as uow:
            assert (await uow.customers.get_unscoped(ended.id)).cooldown_until is None
            assert (await uow.customers.get_unscoped(running.id)).cooldown_until is not None
        # The cooldown is over, but an abandoned customer still needs reactivating.
        reactivated = await client.post(
            f"/api/v1/customers/{ended.id}/transitions",
            headers=access_headers(org.support),
            json={"to_stage": "resource"},
        )
        assert reactivated.status_code == 200, reactivated.text

    async def test_the_scheduled_sweep_has_no_actor(self, uow_factory, org, clocks):
        result = await pool_service.recycle(uow_factory(), None)
        assert {i.customer_id for i in result.released} == {clocks.silent.id, clocks.never_called.id}
        assert {(e.event, e.actor_id, e.reason) for e in await events(uow_factory)} == {
            ("recycle", None, "protection_expired")
        }

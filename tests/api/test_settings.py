"""GET|PUT /settings/funnel and /settings/pool: SPEC defaults, who may edit, validation,
If-Match and versions, and the effect of a change on claims and the worklist."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.db.base import utcnow
from app.db.models import SettingHistory
from tests.support.builders import (
    access_headers,
    assert_problem,
    make_customer,
    make_customers,
    make_sales_org,
)

FUNNEL = "/api/v1/settings/funnel"
POOL = "/api/v1/settings/pool"
POOL_DEFAULTS = {
    "max_active_customers": 30,
    "protection_days": 7,
    "cooldown_days": 90,
    "ranking_days": 90,
    "reclaim_block_days": 7,
    "discovery_bonus": 5,
    "lapse_warning_days": 2,
}
# SPEC §4, the ideal funnel: (from, to, ideal days, ideal conversion, holding per rep).
IDEAL_FUNNEL = [
    ("resource", "graded", "1", "1.00", None),
    ("graded", "contacted", "1", "0.90", 10),
    ("contacted", "lead", "5", "0.50", 13),
    ("lead", "intent", "5", "0.30", 7),
    ("intent", "signed", "5", "0.10", 2),
    ("signed", "implemented", "5", None, None),
]


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


def as_table(body: dict) -> list[tuple]:
    return [
        (
            s["from_stage"],
            s["to_stage"],
            Decimal(s["ideal_days"]),
            None if s["ideal_conversion"] is None else Decimal(s["ideal_conversion"]),
            s["ideal_holding_per_rep"],
        )
        for s in body["steps"]
    ]


async def funnel_doc(client, user) -> dict:
    body = (await client.get(FUNNEL, headers=access_headers(user))).json()
    return {k: v for k, v in body.items() if k != "version"}


class TestGetSettings:
    @pytest.mark.parametrize("url", [FUNNEL, POOL])
    async def test_anonymous(self, client, url):
        assert_problem(await client.get(url), 401, "unauthorized")

    @pytest.mark.parametrize("role", ["rep", "finance", "support", "admin"])
    async def test_funnel_defaults_match_the_spec(self, client, org, role):
        response = await client.get(FUNNEL, headers=access_headers(getattr(org, role)))
        assert response.status_code == 200, response.text
        body = response.json()
        assert Decimal(body["stall_factor"]) == 2
        assert as_table(body) == [
            (f, t, Decimal(d), None if c is None else Decimal(c), h) for f, t, d, c, h in IDEAL_FUNNEL
        ]
        assert body["version"] == 0 and response.headers["ETag"] == '"0"'

    async def test_pool_defaults_match_the_spec(self, client, org):
        response = await client.get(POOL, headers=access_headers(org.rep))
        assert response.status_code == 200, response.text
        assert response.json() == {**POOL_DEFAULTS, "version": 0}


class TestPutPoolSettings:
    async def test_anonymous(self, client):
        assert_problem(await client.put(POOL, json=POOL_DEFAULTS), 401, "unauthorized")

    @pytest.mark.parametrize("role", ["rep", "manager", "support", "finance"])
    async def test_roles_that_do_not_edit(self, client, org, role):
        response = await client.put(POOL, headers=access_headers(getattr(org, role)), json=POOL_DEFAULTS)
        assert_problem(response, 403, "forbidden")

    async def test_director_then_admin_each_make_a_version(self, client, uow_factory, org):
        first = await client.put(
            POOL, headers=access_headers(org.director), json={**POOL_DEFAULTS, "protection_days": 10}
        )
        assert first.status_code == 200, first.text
        assert first.json() == {**POOL_DEFAULTS, "protection_days": 10, "version": 1}
        assert first.headers["ETag"] == '"1"'
        second = await client.put(
            POOL,
            headers={**access_headers(org.admin), "If-Match": '"1"'},
            json={**POOL_DEFAULTS, "cooldown_days": 0},
        )
        assert second.status_code == 200, second.text
        assert second.json()["version"] == 2
        assert (await client.get(POOL, headers=access_headers(org.rep))).json() == {
            **POOL_DEFAULTS,
            "cooldown_days": 0,
            "version": 2,
        }
        async with uow_factory() as uow:
            history = (
                await uow.session.scalars(
                    select(SettingHistory)
                    .where(SettingHistory.key == "pool")
                    .order_by(SettingHistory.version)
                )
            ).all()
        assert [
            (h.version, h.actor_id, h.value["protection_days"], h.value["cooldown_days"]) for h in history
        ] == [(1, org.director.id, 10, 90), (2, org.admin.id, 7, 0)]

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("protection_days", -1),
            ("protection_days", 0),
            ("max_active_customers", 0),
            ("cooldown_days", -5),
            ("ranking_days", 0),
            ("max_active_customers", "many"),
            ("protection_days", 1.5),
            ("reclaim_block_days", -1),
            ("discovery_bonus", -1),
            ("lapse_warning_days", -1),
            ("reclaim_block_days", 366),
            ("discovery_bonus", "five"),
        ],
    )
    async def test_validation(self, client, org, field, value):
        response = await client.put(
            POOL, headers=access_headers(org.director), json={**POOL_DEFAULTS, field: value}
        )
        body = assert_problem(response, 422, "validation_error")
        assert body["errors"][0]["loc"] == ["body", field]

    async def test_new_ownership_settings_are_versioned(self, client, org):
        response = await client.put(
            POOL,
            headers=access_headers(org.director),
            json={**POOL_DEFAULTS, "reclaim_block_days": 0, "discovery_bonus": 2, "lapse_warning_days": 1},
        )
        assert response.status_code == 200, response.text
        assert (await client.get(POOL, headers=access_headers(org.rep))).json() == {
            **POOL_DEFAULTS,
            "reclaim_block_days": 0,
            "discovery_bonus": 2,
            "lapse_warning_days": 1,
            "version": 1,
        }

    async def test_missing_and_unknown_fields(self, client, org):
        body = assert_problem(
            await client.put(POOL, headers=access_headers(org.director), json={"protection_days": 3}),
            422,
            "validation_error",
        )
        assert {tuple(e["loc"]) for e in body["errors"]} == {
            ("body", "max_active_customers"),
            ("body", "cooldown_days"),
            ("body", "ranking_days"),
        }
        assert_problem(
            await client.put(POOL, headers=access_headers(org.director), json={**POOL_DEFAULTS, "vip": True}),
            422,
            "validation_error",
        )

    async def test_stale_if_match(self, client, org):
        first = await client.put(
            POOL, headers={**access_headers(org.director), "If-Match": '"0"'}, json=POOL_DEFAULTS
        )
        assert first.status_code == 200, first.text
        stale = await client.put(
            POOL,
            headers={**access_headers(org.admin), "If-Match": '"0"'},
            json={**POOL_DEFAULTS, "ranking_days": 30},
        )
        body = assert_problem(stale, 412, "conflict.version_mismatch")
        assert body["current_version"] == 1
        assert (await client.get(POOL, headers=access_headers(org.rep))).json()["ranking_days"] == 90

    async def test_if_match_before_any_change_must_be_zero(self, client, org):
        response = await client.put(
            POOL, headers={**access_headers(org.director), "If-Match": '"4"'}, json=POOL_DEFAULTS
        )
        assert_problem(response, 412, "conflict.version_mismatch")

    async def test_malformed_if_match(self, client, org):
        response = await client.put(
            POOL, headers={**access_headers(org.director), "If-Match": "yesterday"}, json=POOL_DEFAULTS
        )
        assert_problem(response, 400)

    async def test_a_new_holding_limit_applies_to_the_next_claim(self, client, uow_factory, org):
        await make_customers(uow_factory, 2, owner=org.rep, stage="lead")
        customer = await make_customer(uow_factory)
        response = await client.put(
            POOL, headers=access_headers(org.director), json={**POOL_DEFAULTS, "max_active_customers": 2}
        )
        assert response.status_code == 200, response.text
        claim = await client.post(f"/api/v1/customers/{customer.id}/claim", headers=access_headers(org.rep))
        body = assert_problem(claim, 409, "pool.quota_exceeded")
        assert (body["limit"], body["active"]) == (2, 2)
        await client.put(
            POOL, headers=access_headers(org.admin), json={**POOL_DEFAULTS, "max_active_customers": 3}
        )
        claim = await client.post(f"/api/v1/customers/{customer.id}/claim", headers=access_headers(org.rep))
        assert claim.status_code == 200, claim.text


class TestPutFunnelSettings:
    async def test_anonymous(self, client):
        assert_problem(await client.put(FUNNEL, json={}), 401, "unauthorized")

    @pytest.mark.parametrize("role", ["rep", "manager", "support", "finance"])
    async def test_roles_that_do_not_edit(self, client, org, role):
        doc = await funnel_doc(client, org.rep)
        response = await client.put(FUNNEL, headers=access_headers(getattr(org, role)), json=doc)
        assert_problem(response, 403, "forbidden")

    async def test_round_trip(self, client, org):
        doc = await funnel_doc(client, org.rep)
        doc["stall_factor"] = "3.5"
        doc["steps"][3]["ideal_days"] = "7"
        doc["steps"][3]["ideal_conversion"] = "0.25"
        response = await client.put(
            FUNNEL, headers={**access_headers(org.admin), "If-Match": '"0"'}, json=doc
        )
        assert response.status_code == 200, response.text
        assert response.json()["version"] == 1 and response.headers["ETag"] == '"1"'
        body = (await client.get(FUNNEL, headers=access_headers(org.rep))).json()
        assert Decimal(body["stall_factor"]) == Decimal("3.5")
        assert as_table(body)[3] == ("lead", "intent", Decimal(7), Decimal("0.25"), 7)

    @pytest.mark.parametrize(
        ("change", "loc"),
        [
            (
                lambda d: d["steps"][2].update(ideal_conversion="1.5"),
                ["body", "steps", 2, "ideal_conversion"],
            ),
            (lambda d: d["steps"][1].update(ideal_days="-1"), ["body", "steps", 1, "ideal_days"]),
            (lambda d: d["steps"][1].update(ideal_days="0"), ["body", "steps", 1, "ideal_days"]),
            (
                lambda d: d["steps"][4].update(ideal_holding_per_rep=-2),
                ["body", "steps", 4, "ideal_holding_per_rep"],
            ),
            (lambda d: d.update(stall_factor="0.5"), ["body", "stall_factor"]),
            (lambda d: d["steps"].pop(), ["body", "steps"]),
            (lambda d: d["steps"].append(copy.deepcopy(d["steps"][0])), ["body", "steps"]),
        ],
    )
    async def test_validation(self, client, org, change, loc):
        doc = await funnel_doc(client, org.rep)
        change(doc)
        response = await client.put(FUNNEL, headers=access_headers(org.director), json=doc)
        body = assert_problem(response, 422, "validation_error")
        assert body["errors"][0]["loc"] == loc

    async def test_steps_must_be_the_funnels_pairs(self, client, org):
        doc = await funnel_doc(client, org.rep)
        doc["steps"][1]["to_stage"] = "lead"  # graded → lead is not a step
        body = assert_problem(
            await client.put(FUNNEL, headers=access_headers(org.director), json=doc), 422, "validation_error"
        )
        locs = [e["loc"] for e in body["errors"]]
        assert ["body", "steps", 1, "to_stage"] in locs
        # Two identical steps leave another one missing.
        doc = await funnel_doc(client, org.rep)
        doc["steps"][5] = copy.deepcopy(doc["steps"][4])
        body = assert_problem(
            await client.put(FUNNEL, headers=access_headers(org.director), json=doc), 422, "validation_error"
        )
        assert any("signed → implemented" in e["msg"] for e in body["errors"]), body["errors"]
        assert (await client.get(FUNNEL, headers=access_headers(org.rep))).json()["version"] == 0

    async def test_stale_if_match(self, client, org):
        doc = await funnel_doc(client, org.rep)
        assert (await client.put(FUNNEL, headers=access_headers(org.director), json=doc)).status_code == 200
        response = await client.put(
            FUNNEL, headers={**access_headers(org.admin), "If-Match": '"0"'}, json=doc
        )
        assert_problem(response, 412, "conflict.version_mismatch")

    async def test_the_stall_factor_drives_the_worklist(self, client, uow_factory, org):
        # lead → intent ideally takes 5 days: 11 days in lead is stalled at factor 2, not at 3.
        now = utcnow()
        await make_customer(
            uow_factory,
            owner=org.rep,
            stage="lead",
            stage_entered_at=now - dt.timedelta(days=11),
            claimed_at=now - dt.timedelta(days=12),
            last_contact_at=now - dt.timedelta(hours=1),
        )
        worklist = await client.get("/api/v1/me/worklist", headers=access_headers(org.rep))
        assert worklist.json()["items"][0]["reasons"] == ["stalled"]
        doc = await funnel_doc(client, org.rep)
        doc["stall_factor"] = "3"
        assert (await client.put(FUNNEL, headers=access_headers(org.director), json=doc)).status_code == 200
        # Nothing else to do for it today: off the worklist.
        worklist = await client.get("/api/v1/me/worklist", headers=access_headers(org.rep))
        assert worklist.json()["items"] == []

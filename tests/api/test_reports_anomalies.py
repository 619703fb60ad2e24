"""GET /reports/anomalies and GET|PUT /settings/reports: a hand-computed March 2026 in which
each kind of SPEC §9 fires (or just does not), per rep and per team, within each scope."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.db.models import StageTransition
from tests.api.test_reports_funnel import MARCH, get, utc
from tests.support.builders import access_headers, assert_problem, make_customer, make_sales_org

API = "/api/v1"


async def _moves(uow_factory, owner, moves) -> None:
    async with uow_factory() as uow:
        for customer, from_stage, to_stage, at, *reason in moves:
            uow.funnel.add_transition(
                StageTransition(
                    customer_id=customer.id,
                    from_stage=from_stage,
                    to_stage=to_stage,
                    kind="x",
                    at=at,
                    owner_id=owner.id,
                    team_id=owner.team_id,
                    reason=(reason or [None])[0],
                    out_of_funnel=(from_stage, to_stage) == ("graded", "intent"),
                )
            )
        await uow.commit()


@pytest.fixture
async def org(uow_factory):
    """rep: 10 resources on 2 Mar, 4 graded on 3 Mar (4/10 = 0.40 < 0.50 × 100%); of those
    one abandoned, one contacted after 1 day, one skipped to intent after 6 days (graded
    median 3.50 > 2 × 1) and signed (1 of 1 signing out of funnel), one stays graded;
    1 claim for 1 abandonment. rep2: 4 intent customers held, no signing; 2 resources
    abandoned without a forward exit (2 of 2 exits)."""
    org = await make_sales_org(uow_factory)
    rep, rep2 = org.rep, org.rep2
    stages = ["resource"] * 6 + ["abandoned", "intent_signed", "contacted", "graded"]
    customers = []
    for stage in stages:
        final = {"intent_signed": "signed"}.get(stage, stage)
        customers.append(
            await make_customer(uow_factory, owner=None if final == "abandoned" else rep, stage=final)
        )
    moves = [(c, None, "resource", utc(2)) for c in customers]
    moves += [(c, "resource", "graded", utc(3)) for c in customers[6:]]
    abandoned, skipper, contacted, _ = customers[6:]
    moves += [
        (abandoned, "graded", "abandoned", utc(5), "unreachable"),
        (contacted, "graded", "contacted", utc(4)),
        (skipper, "graded", "intent", utc(9)),
        (skipper, "intent", "signed", utc(10)),
    ]
    await _moves(uow_factory, rep, moves)
    async with uow_factory() as uow:
        uow.pool.record_ownership(
            customer_id=customers[0].id,
            event="claim",
            from_owner_id=None,
            to_owner_id=rep.id,
            actor_id=rep.id,
            reason=None,
            at=utc(2),
        )
        await uow.commit()
    for _ in range(4):
        await make_customer(uow_factory, owner=rep2, stage="intent")
    dropped = [await make_customer(uow_factory, owner=None, stage="abandoned") for _ in range(2)]
    await _moves(
        uow_factory,
        rep2,
        [(c, None, "resource", utc(2)) for c in dropped]
        + [(c, "resource", "abandoned", utc(3), "refused") for c in dropped],
    )
    return org


def findings(body: dict, subject_id) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for item in body["items"]:
        if item["subject"]["id"] == str(subject_id):
            found.setdefault(item["kind"], []).append(item)
    return found


async def anomalies(client, user, **params) -> dict:
    response = await get(client, user, "/reports/anomalies", **params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_each_kind_with_its_figures_and_threshold(client, org) -> None:
    body = await anomalies(client, org.director, **MARCH)
    assert body["period"] == MARCH
    rep = findings(body, org.rep.id)
    assert set(rep) == {
        "low_conversion",
        "long_cycle",
        "out_of_funnel_signings",
        "high_abandon_claim_ratio",
        "holding_off_ideal",
    }
    (low,) = rep["low_conversion"]
    assert low["subject"] == {"type": "rep", "id": str(org.rep.id), "name": "Test rep"}
    assert (low["value"], low["threshold"]) == ("0.4000", "0.5000")
    assert low["detail"] == {
        "from_stage": "resource",
        "to_stage": "graded",
        "entered": 10,
        "converted": 4,
        "ideal_conversion": "1.00",
    }
    (cycle,) = rep["long_cycle"]
    assert (cycle["value"], cycle["threshold"], cycle["detail"]["from_stage"]) == ("3.50", "2.00", "graded")
    (share,) = rep["out_of_funnel_signings"]
    assert (share["value"], share["threshold"], share["detail"]) == (
        "1.0000",
        "0.30",
        {"signed": 1, "out_of_funnel_signed": 1},
    )
    (ratio,) = rep["high_abandon_claim_ratio"]
    assert (ratio["value"], ratio["threshold"], ratio["detail"]) == (
        "1.0000",
        "0.5",
        {"abandoned": 1, "claims": 1},
    )
    # Holding now: graded 1 (ideal 10), contacted 1 (13), lead 0 (7), intent 0 (2).
    assert {h["detail"]["stage"]: h["value"] for h in rep["holding_off_ideal"]} == {
        "graded": "0.9000",
        "contacted": "0.9231",
        "lead": "1.0000",
        "intent": "1.0000",
    }

    rep2 = findings(body, org.rep2.id)
    (intent,) = rep2["intent_without_signings"]
    assert (intent["value"], intent["threshold"]) == ("4.00", "4.00")  # ≥ 2 × ideal 2
    (dropped,) = rep2["high_abandonment"]
    assert (dropped["value"], dropped["threshold"]) == ("1.0000", "0.40")
    assert dropped["detail"]["exits"] == 2 and dropped["detail"]["by_reason"]["refused"] == 2
    assert "low_conversion" not in rep2  # 0 of 2 converted, but fewer than 10 entered
    assert {h["detail"]["stage"] for h in rep2["holding_off_ideal"]} == {
        "graded",
        "contacted",
        "lead",
        "intent",
    }  # intent: 4 is 100% above 2

    group = findings(body, org.group.id)
    # The group's two reps: 12 entered resource, 4 converted; 3 abandonments for 1 claim;
    # intent holding 4 ÷ 2 reps = the ideal exactly, so neither intent finding fires.
    assert {i["subject"]["type"] for v in group.values() for i in v} == {"team"}
    assert group["low_conversion"][0]["detail"]["entered"] == 12
    assert group["high_abandon_claim_ratio"][0]["value"] == "3.0000"
    assert "intent" not in {h["detail"]["stage"] for h in group["holding_off_ideal"]}
    assert "intent_without_signings" not in group
    assert findings(body, org.region.id)["low_conversion"][0]["detail"]["entered"] == 12
    assert set(findings(body, org.other_rep.id)) == {"holding_off_ideal"}


async def test_thresholds_come_from_the_settings(client, org) -> None:
    director = access_headers(org.director)
    current = await client.get(f"{API}/settings/reports", headers=director)
    assert current.status_code == 200
    assert current.headers["ETag"] == '"0"'
    assert current.json() == {
        "out_of_funnel_share": "0.30",
        "intent_holding_factor": "2",
        "low_conversion_factor": "0.5",
        "low_conversion_min_entered": 10,
        "abandonment_share": "0.40",
        "long_cycle_factor": "2",
        "holding_deviation": "0.50",
        "abandon_claim_ratio": "0.5",
        "churn_interval_factor": "1.5",
        "activity_drop_ratio": "0.3",
        "version": 0,
    }
    changed = {
        **current.json(),
        "low_conversion_min_entered": 11,
        "out_of_funnel_share": "1",
        "holding_deviation": "1",
    }
    del changed["version"]
    put = await client.put(f"{API}/settings/reports", headers={**director, "If-Match": '"0"'}, json=changed)
    assert put.status_code == 200, put.text
    assert put.json()["version"] == 1 and put.headers["ETag"] == '"1"'
    rep = findings(await anomalies(client, org.director, **MARCH), org.rep.id)
    # 10 entered is now below the minimum; a share of 1 is not above 1; nothing is more
    # than 100% off the ideal.
    assert set(rep) == {"long_cycle", "high_abandon_claim_ratio"}
    stale = await client.put(f"{API}/settings/reports", headers={**director, "If-Match": '"0"'}, json=changed)
    assert_problem(stale, 412)


@pytest.mark.parametrize(
    "change",
    [
        {"out_of_funnel_share": "1.5"},
        {"long_cycle_factor": "0"},
        {"low_conversion_min_entered": 0},
        {"abandonment_share": "abc"},
        {"unknown": 1},
    ],
)
async def test_bad_thresholds_are_422_and_change_nothing(client, org, change) -> None:
    director = access_headers(org.director)
    body = (await client.get(f"{API}/settings/reports", headers=director)).json()
    del body["version"]
    assert_problem(
        await client.put(f"{API}/settings/reports", headers=director, json={**body, **change}), 422
    )
    assert (await client.get(f"{API}/settings/reports", headers=director)).json()["version"] == 0


async def test_only_admins_and_directors_set_thresholds(client, org) -> None:
    body = (await client.get(f"{API}/settings/reports", headers=access_headers(org.rep))).json()
    del body["version"]
    for user in (org.manager, org.rep, org.finance):
        assert_problem(
            await client.put(f"{API}/settings/reports", headers=access_headers(user), json=body), 403
        )
    assert (
        await client.put(f"{API}/settings/reports", headers=access_headers(org.admin), json=body)
    ).status_code == 200


async def test_each_role_sees_the_anomalies_of_its_scope(client, org) -> None:
    subjects = {
        (i["subject"]["type"], i["subject"]["id"])
        for i in (await anomalies(client, org.rep, **MARCH))["items"]
    }
    assert subjects == {("rep", str(org.rep.id))}
    subjects = {
        (i["subject"]["type"], i["subject"]["id"])
        for i in (await anomalies(client, org.manager, **MARCH))["items"]
    }
    assert subjects == {
        ("rep", str(org.rep.id)),
        ("rep", str(org.rep2.id)),
        ("team", str(org.region.id)),
        ("team", str(org.group.id)),
    }
    only_rep2 = await anomalies(client, org.manager, owner_id=str(org.rep2.id), **MARCH)
    assert {i["subject"]["id"] for i in only_rep2["items"]} == {str(org.rep2.id)}
    assert_problem(await get(client, org.manager, "/reports/anomalies", team_id=str(org.other.id)), 404)
    assert_problem(await get(client, org.rep, "/reports/anomalies", owner_id=str(org.rep2.id)), 404)
    assert_problem(
        await get(client, org.director, "/reports/anomalies", **{"from": "2026-03-02", "to": "2026-03-01"}),
        422,
    )
    assert Decimal((await anomalies(client, org.finance, **MARCH))["items"][0]["value"]) >= 0

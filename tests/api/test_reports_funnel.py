"""GET /reports/funnel and /reports/funnel/weekly: a hand-computed March 2026 (business time
zone Asia/Shanghai, UTC+8), every figure against the definitions of SPEC §9, the scope of
each role, and bad periods."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from app.db.base import utcnow
from app.db.models import StageTransition
from tests.support.builders import (
    access_headers,
    assert_problem,
    make_contract,
    make_customer,
    make_sales_org,
)

API = "/api/v1"
MARCH = {"from": "2026-03-01", "to": "2026-04-01"}


def utc(day: int, hour: int = 1, month: int = 3, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=dt.UTC)


async def history(uow_factory, customer, owner, *moves) -> None:
    """Store a customer's transitions (as the services do: the aggregates follow)."""
    async with uow_factory() as uow:
        for from_stage, to_stage, at, *extra in moves:
            reason = extra[0] if extra else None
            uow.funnel.add_transition(
                StageTransition(
                    customer_id=customer.id,
                    from_stage=from_stage,
                    to_stage=to_stage,
                    kind="x",
                    at=at,
                    owner_id=owner.id,
                    team_id=owner.team_id,
                    reason=reason,
                    out_of_funnel=(from_stage, to_stage) == ("graded", "lead"),
                )
            )
        await uow.commit()


@pytest.fixture
async def march(uow_factory):
    """A (rep): resource 2 Mar → graded 3 Mar (1 d) → contacted 5 Mar (2 d) → lead 10 Mar (5 d).
    B (rep): resource 2 Mar → graded 4 Mar (2 d) → lead 6 Mar, skipping contacted (2 d)
      → back to contacted 7 Mar → lead 8 Mar → intent 12 Mar (6 d since lead was entered)
      → signed 13 Mar (1 d): an out-of-funnel signing, contract 5,000.
    C (rep2): resource 5 Mar → graded 6 Mar 13:00 (1.5 d) → abandoned 8 Mar (refused).
    D (rep): resource 27 Feb → graded 1 Mar 09:00 Shanghai; stalled in graded since.
    E (other_rep): resource 3 Mar. F (rep): resource 1 Apr 00:30 Shanghai (31 Mar UTC).
    G (rep2): resource 1 Mar 00:30 Shanghai (28 Feb UTC)."""
    org = await make_sales_org(uow_factory)
    now = utcnow()
    c = {}
    c["A"] = await make_customer(
        uow_factory, owner=org.rep, stage="lead", target_amount=Decimal("2000"), stage_entered_at=utc(10)
    )
    c["B"] = await make_customer(
        uow_factory, owner=org.rep, stage="signed", target_amount=Decimal("9999"), stage_entered_at=now
    )
    c["C"] = await make_customer(
        uow_factory, owner=None, stage="abandoned", target_amount=Decimal("300"), stage_entered_at=utc(8)
    )
    c["D"] = await make_customer(
        uow_factory, owner=org.rep, stage="graded", target_amount=Decimal("1000"), stage_entered_at=utc(1)
    )
    c["E"] = await make_customer(
        uow_factory, owner=org.other_rep, stage="resource", stage_entered_at=now - dt.timedelta(hours=1)
    )
    c["F"] = await make_customer(
        uow_factory, owner=org.rep, stage="resource", stage_entered_at=now - dt.timedelta(days=3)
    )
    c["G"] = await make_customer(
        uow_factory, owner=org.rep2, stage="resource", stage_entered_at=now - dt.timedelta(days=1)
    )
    await make_contract(uow_factory, customer=c["B"], amount="5000", status="signed")
    await make_contract(uow_factory, customer=c["B"], amount="700", status="cancelled")
    await history(
        uow_factory,
        c["A"],
        org.rep,
        (None, "resource", utc(2)),
        ("resource", "graded", utc(3)),
        ("graded", "contacted", utc(5)),
        ("contacted", "lead", utc(10)),
    )
    await history(
        uow_factory,
        c["B"],
        org.rep,
        (None, "resource", utc(2)),
        ("resource", "graded", utc(4)),
        ("graded", "lead", utc(6)),
        ("lead", "contacted", utc(7), "not ready"),
        ("contacted", "lead", utc(8)),
        ("lead", "intent", utc(12)),
        ("intent", "signed", utc(13)),
    )
    await history(
        uow_factory,
        c["C"],
        org.rep2,
        (None, "resource", utc(5)),
        ("resource", "graded", utc(6, 13)),
        ("graded", "abandoned", utc(8), "refused"),
    )
    await history(
        uow_factory, c["D"], org.rep, (None, "resource", utc(27, month=2)), ("resource", "graded", utc(1))
    )
    await history(uow_factory, c["E"], org.other_rep, (None, "resource", utc(3)))
    await history(uow_factory, c["F"], org.rep, (None, "resource", utc(31, 16, minute=30)))
    await history(uow_factory, c["G"], org.rep2, (None, "resource", utc(28, 16, month=2, minute=30)))
    org.customers = c
    return org


def steps_of(body: dict) -> dict[str, dict]:
    return {step["from_stage"]: step for step in body["steps"]}


def stages_of(body: dict) -> dict[str, dict]:
    return {stage["stage"]: stage for stage in body["stages"]}


async def get(client, user, path="/reports/funnel", **params):
    return await client.get(f"{API}{path}", headers=access_headers(user), params=params)


async def test_the_company_funnel_in_march(client, march) -> None:
    response = await get(client, march.director, **MARCH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["period"] == MARCH
    assert body["subject"] == {"type": "company", "id": None, "name": ""}
    steps = steps_of(body)
    expected = {  # entered, converted, conversion, median days
        "resource": (5, 3, "0.6000", "1.50"),  # A B C E G; F is April's, D February's
        "graded": (4, 2, "0.5000", "2.00"),  # A B C D; B's skip counts as conversion
        "contacted": (1, 1, "1.0000", "5.00"),  # only A: B came back to it, not an entry
        "lead": (2, 1, "0.5000", "6.00"),  # A B; B's backward step was not an exit
        "intent": (1, 1, "1.0000", "1.00"),
        "signed": (1, 0, "0.0000", None),
    }
    for stage, (entered, converted, conversion, median) in expected.items():
        step = steps[stage]
        assert (step["entered"], step["converted"], step["conversion"], step["median_days"]) == (
            entered,
            converted,
            conversion,
            median,
        ), stage
    assert steps["graded"]["to_stage"] == "contacted"
    assert (steps["graded"]["ideal_conversion"], steps["graded"]["ideal_days"]) == ("0.90", "1")
    assert steps["signed"]["ideal_conversion"] is None
    assert body["abandoned"] == {
        "count": 1,
        "by_reason": {
            "refused": 1,
            "unreachable": 0,
            "unsuitable": 0,
            "bought_competitor": 0,
            "duplicate": 0,
            "other": 0,
        },
    }
    assert (body["signed"], body["out_of_funnel_signed"]) == (1, 1)
    assert body["forward_exits"] == 10  # A 3, B 5, C 1, D 1

    stages = stages_of(body)
    assert [s["stage"] for s in body["stages"]] == [
        "resource",
        "graded",
        "contacted",
        "lead",
        "intent",
        "signed",
        "implemented",
        "abandoned",
    ]
    # Three active reps in the company: holding per rep is owned customers ÷ 3.
    assert stages["resource"] | {} == {
        "stage": "resource",
        "count": 3,
        "amount": "0.00",
        "holding_per_rep": "1.00",
        "ideal_holding": None,
        "stalled": 1,
    }  # F: 3 days > 1 day × 2
    assert (
        stages["graded"]["count"],
        stages["graded"]["amount"],
        stages["graded"]["stalled"],
        stages["graded"]["ideal_holding"],
        stages["graded"]["holding_per_rep"],
    ) == (1, "1000.00", 1, 10, "0.33")
    assert (stages["lead"]["count"], stages["lead"]["amount"], stages["lead"]["ideal_holding"]) == (
        1,
        "2000.00",
        7,
    )
    # Signed: the live contract's amount, not the target; the cancelled one does not count.
    assert (stages["signed"]["count"], stages["signed"]["amount"], stages["signed"]["stalled"]) == (
        1,
        "5000.00",
        0,
    )
    assert (stages["abandoned"]["count"], stages["abandoned"]["holding_per_rep"]) == (1, "0.00")
    assert stages["contacted"] == {
        "stage": "contacted",
        "count": 0,
        "amount": "0.00",
        "holding_per_rep": "0.00",
        "ideal_holding": 13,
        "stalled": 0,
    }


async def test_a_team_tree_and_a_rep(client, march) -> None:
    region = (await get(client, march.director, team_id=str(march.region.id), **MARCH)).json()
    assert region["subject"] == {"type": "team", "id": str(march.region.id), "name": "region"}
    # E belongs to the other team: the region (with its group) entered A B C G in resource.
    assert (steps_of(region)["resource"]["entered"], steps_of(region)["resource"]["converted"]) == (4, 3)
    assert stages_of(region)["resource"]["count"] == 2  # F G (the pool's C is nobody's team)

    rep2 = (await get(client, march.director, owner_id=str(march.rep2.id), **MARCH)).json()
    assert rep2["subject"]["type"] == "rep"
    assert (steps_of(rep2)["resource"]["entered"], steps_of(rep2)["resource"]["converted"]) == (2, 1)
    assert rep2["abandoned"]["count"] == 1
    other = (await get(client, march.director, owner_id=str(march.other_rep.id), **MARCH)).json()
    # Nothing entered graded: the conversion and the median are unknown, not zero.
    assert steps_of(other)["graded"] | {} == {
        "from_stage": "graded",
        "to_stage": "contacted",
        "entered": 0,
        "converted": 0,
        "conversion": None,
        "ideal_conversion": "0.90",
        "median_days": None,
        "ideal_days": "1",
    }
    assert steps_of(other)["resource"]["entered"] == 1
    assert stages_of(other)["resource"]["holding_per_rep"] == "1.00"


async def test_the_business_day_boundaries(client, march) -> None:
    """G entered on 1 March 00:30 in Shanghai (still February in UTC), F on 1 April 00:30."""
    feb = (await get(client, march.director, **{"from": "2026-02-01", "to": "2026-03-01"})).json()
    assert steps_of(feb)["resource"]["entered"] == 1  # D
    april = (await get(client, march.director, **{"from": "2026-04-01"})).json()
    assert april["period"] == {"from": "2026-04-01", "to": "2026-05-01"}
    assert steps_of(april)["resource"]["entered"] == 1  # F
    one_day = (await get(client, march.director, **{"from": "2026-03-01", "to": "2026-03-02"})).json()
    assert steps_of(one_day)["resource"]["entered"] == 1  # G
    assert steps_of(one_day)["graded"]["entered"] == 1  # D, at 09:00 on 1 March


async def test_the_weekly_series(client, march) -> None:
    response = await get(client, march.manager, "/reports/funnel/weekly", **MARCH)
    assert response.status_code == 200, response.text
    weeks = response.json()["weeks"]
    # 1 March 2026 is a Sunday: the first ISO week is clipped to one day.
    assert [(w["week"], w["period"]["from"], w["period"]["to"]) for w in weeks] == [
        ("2026-W09", "2026-03-01", "2026-03-02"),
        ("2026-W10", "2026-03-02", "2026-03-09"),
        ("2026-W11", "2026-03-09", "2026-03-16"),
        ("2026-W12", "2026-03-16", "2026-03-23"),
        ("2026-W13", "2026-03-23", "2026-03-30"),
        ("2026-W14", "2026-03-30", "2026-04-01"),
    ]
    # The manager's region: G (W09); A B C (W10); E is the other team's.
    assert [steps_of(w)["resource"]["entered"] for w in weeks] == [1, 3, 0, 0, 0, 0]
    assert [steps_of(w)["graded"]["entered"] for w in weeks] == [1, 3, 0, 0, 0, 0]
    assert [w["signed"] for w in weeks] == [0, 0, 1, 0, 0, 0]
    assert steps_of(weeks[1])["graded"]["median_days"] == "2.00"  # A 2 d, B 2 d; C abandoned
    assert weeks[1]["abandoned"]["count"] == 1


async def test_each_role_sees_its_scope(client, march) -> None:
    rep = (await get(client, march.rep, **MARCH)).json()
    assert rep["subject"]["id"] == str(march.rep.id)
    assert steps_of(rep)["resource"]["entered"] == 2  # A B (F is April's)
    assert (await get(client, march.rep, owner_id=str(march.rep.id), **MARCH)).status_code == 200
    for params in ({"owner_id": str(march.rep2.id)}, {"team_id": str(march.group.id)}):
        assert_problem(await get(client, march.rep, **params), 404, "not_found")

    manager = (await get(client, march.manager, **MARCH)).json()
    assert manager["subject"]["type"] == "team"
    assert steps_of(manager)["resource"]["entered"] == 4
    assert (await get(client, march.manager, team_id=str(march.group.id))).status_code == 200
    assert (await get(client, march.manager, owner_id=str(march.rep2.id))).status_code == 200
    for params in (
        {"owner_id": str(march.other_rep.id)},
        {"team_id": str(march.other.id)},
        {"team_id": "00000000-0000-0000-0000-000000000001"},
    ):
        assert_problem(await get(client, march.manager, **params), 404, "not_found")

    for user in (march.finance, march.admin):
        body = (await get(client, user, **MARCH)).json()
        assert steps_of(body)["resource"]["entered"] == 5
    assert (await get(client, march.director, team_id=str(march.other.id))).status_code == 200
    assert_problem(await get(client, march.support), 403, "forbidden")


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-03-02", "to": "2026-03-01"},
        {"from": "2026-03-01", "to": "2026-03-01"},
        {"from": "2023-03-01", "to": "2026-03-02"},
        {"from": "2026-13-01"},
    ],
)
async def test_bad_periods_are_422(client, march, params) -> None:
    for path in ("/reports/funnel", "/reports/funnel/weekly"):
        problem = assert_problem(await get(client, march.director, path, **params), 422)
        assert problem["code"] in {"report.invalid_period", "validation_error"}


async def test_three_years_exactly_is_allowed_and_the_default_is_this_month(client, march) -> None:
    ok = await get(client, march.director, **{"from": "2023-03-01", "to": "2026-03-01"})
    assert ok.status_code == 200
    assert steps_of(ok.json())["resource"]["entered"] == 1  # D, 27 Feb 2026
    body = (await get(client, march.director)).json()
    today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    assert body["period"]["from"] == today.replace(day=1).isoformat()


async def test_moves_through_the_api_update_the_report(client, march) -> None:
    """The real endpoints keep the aggregates: a rep creates a customer and grades it."""
    headers = access_headers(march.rep2)
    before = steps_of((await get(client, march.rep2)).json())["resource"]
    created = await client.post(
        f"{API}/customers", headers=headers, json={"name": "Hangzhou Report Test Co", "kind": "company"}
    )
    assert created.status_code == 201, created.text
    moved = await client.post(
        f"{API}/customers/{created.json()['id']}/transitions",
        headers=headers,
        json={"to_stage": "graded", "grade": "A", "recommended_products": ["ERP"], "target_amount": "800.00"},
    )
    assert moved.status_code == 200, moved.text
    after = (await get(client, march.rep2)).json()
    assert steps_of(after)["resource"]["entered"] == before["entered"] + 1
    assert steps_of(after)["resource"]["converted"] == before["converted"] + 1
    assert steps_of(after)["graded"]["entered"] >= 1
    assert stages_of(after)["graded"]["amount"] == "800.00"


async def test_the_workbook(client, march) -> None:
    import io

    import openpyxl

    response = await get(client, march.director, format="xlsx", **MARCH)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response.headers["content-disposition"] == (
        'attachment; filename="funnel_2026-03-01_2026-04-01.xlsx"'
    )
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == [
        "漏斗汇总",
        "客户资源",
        "已分级客户",
        "已接触客户",
        "有线索客户",
        "意向客户",
        "签约客户",
        "已实施客户",
        "放弃客户",
    ]
    summary = book["漏斗汇总"]
    rows = [list(row) for row in summary.iter_rows(values_only=True)]
    assert rows[3][:6] == ["阶段", "客户数", "金额", "人均持有", "理想持有", "停滞客户数"]
    assert rows[4][:6] == ["客户资源", 3, 0, 1, None, 1]
    assert rows[5][:6] == ["已分级客户", 1, 1000, 0.33, 10, 1]
    assert rows[9][:3] == ["签约客户", 1, 5000]
    steps = {row[0]: row for row in rows if row and isinstance(row[0], str) and "→" in row[0]}
    assert steps["客户资源 → 已分级客户"][:7] == ["客户资源 → 已分级客户", 5, 3, 0.6, 1, 1.5, 1]
    assert ["漏斗外签约", 1] in [list(r[:2]) for r in rows]
    (chart,) = summary._charts
    assert chart.type == "bar" and len(chart.series) == 2  # actual against ideal

    graded = [list(r) for r in book["已分级客户"].iter_rows(values_only=True)]
    assert graded[0] == ["客户名称", "负责人", "在本阶段天数", "最近联系", "下次跟进"]
    assert len(graded) == 2 and graded[1][0] == march.customers["D"].name
    assert graded[1][1] == "Test rep" and graded[1][2] > 200
    abandoned = [list(r) for r in book["放弃客户"].iter_rows(values_only=True)]
    assert abandoned[1][1] == "（公海）"

    mine = openpyxl.load_workbook(io.BytesIO((await get(client, march.rep2, format="xlsx")).content))
    assert [r[0] for r in mine["客户资源"].iter_rows(min_row=2, values_only=True)] == [
        march.customers["G"].name
    ]
    assert_problem(await get(client, march.director, format="pdf"), 422)

"""GET /reports/ar-aging and /reports/bad-debt-provision (SPEC §6) against hand-computed
figures: receivables set up directly with partial payments, payments after the report date,
write-offs before and after it, and a receivable at each bucket boundary."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from app.db.base import utcnow
from app.domain.credit import bucket_for
from tests.support.builders import (
    access_headers,
    assert_problem,
    make_contract,
    make_customer,
    make_receivable,
    make_sales_org,
)
from tests.support.credit_data import make_payment, noon, write_off

AGING = "/api/v1/reports/ar-aging"
PROVISION = "/api/v1/reports/bad-debt-provision"
AS_OF = dt.date(2026, 3, 31)
BUCKETS = ("current", "d1_30", "d31_60", "d61_90", "d91_180", "over_180")


def amounts(**values: str) -> dict[str, str]:
    return {b: values.get(b, "0.00") for b in BUCKETS}


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


@pytest.fixture
async def ledger(uow_factory, org):
    """Four customers' receivables at AS_OF (days past due in brackets):

    A (rep, team group): 1000.00 [0], 2000.50 [1], 3000.00 [30] less 500.00 paid before,
       4000.00 [31], 5000.00 [60] with 1000.00 paid after AS_OF
    B (rep2, team group): 6000 [61], 7000 [90], 8000 [91], 9000 [180], 10000 [181]
    C (other_rep, team other): 11000 [-5], 12000 [200] written off after AS_OF,
       13000 [250] less 3000 paid, written off before AS_OF, 14000 paid in full,
       1500 issued after AS_OF
    D (pool: no owner, no team): 1600 [45]
    """
    a = await make_customer(uow_factory, name="Alpha Co", owner=org.rep, stage="signed")
    b = await make_customer(uow_factory, name="Beta Co", owner=org.rep2, stage="signed")
    c = await make_customer(uow_factory, name="Gamma Co", owner=org.other_rep, stage="signed")
    d = await make_customer(uow_factory, name="Delta Co", stage="signed")
    r = {}

    async def bill(key, customer, amount, days_past_due, **kwargs):
        contract = await make_contract(
            uow_factory, customer=customer, amount="100000.00", status="signed", signed_at=noon(AS_OF, 400)
        )
        r[key] = await make_receivable(
            uow_factory,
            contract=contract,
            amount=amount,
            due_at=kwargs.pop("due_at", noon(AS_OF, days_past_due)),
            issued_at=kwargs.pop("issued_at", noon(AS_OF, 365)),
        )

    await bill("a0", a, "1000.00", 0)
    await bill("a1", a, "2000.50", 1)
    await bill("a30", a, "3000.00", 30)
    await bill("a31", a, "4000.00", 31)
    await bill("a60", a, "5000.00", 60)
    for key, amount, days in (
        ("b61", "6000", 61),
        ("b90", "7000", 90),
        ("b91", "8000", 91),
        ("b180", "9000", 180),
        ("b181", "10000", 181),
    ):
        await bill(key, b, amount, days)
    await bill("c_future", c, "11000", -5)
    await bill("c_wo_after", c, "12000", 200)
    await bill("c_wo_before", c, "13000", 250)
    await bill("c_paid", c, "14000", 100)
    await bill("c_late_issue", c, "1500", 0, issued_at=noon(AS_OF, -1), due_at=noon(AS_OF, -30))
    await bill("d45", d, "1600", 45)

    await make_payment(
        uow_factory,
        customer=a,
        amount="500.00",
        received_at=noon(AS_OF, 3),
        allocations=[(r["a30"], "500.00")],
    )
    await make_payment(
        uow_factory,
        customer=a,
        amount="1000.00",
        received_at=noon(AS_OF, -3),
        allocations=[(r["a60"], "1000.00")],
    )
    await make_payment(
        uow_factory,
        customer=c,
        amount="3000.00",
        received_at=noon(AS_OF, 20),
        allocations=[(r["c_wo_before"], "3000.00")],
    )
    # Fully paid, with 250.00 left over as customer credit (which is not a receivable).
    await make_payment(
        uow_factory,
        customer=c,
        amount="14250.00",
        received_at=noon(AS_OF, 50),
        allocations=[(r["c_paid"], "14000")],
    )
    await write_off(uow_factory, r["c_wo_before"], at=noon(AS_OF, 10))
    await write_off(uow_factory, r["c_wo_after"], at=noon(AS_OF, -5))
    return SimpleNamespace(a=a, b=b, c=c, d=d, r=r)


async def get_aging(client, user, **params):
    response = await client.get(AGING, headers=access_headers(user), params=params)
    assert response.status_code == 200, response.text
    return response.json()


def by_name(report) -> dict[str | None, dict]:
    return {row["name"]: row for row in report["rows"]}


ROW_A = amounts(current="1000.00", d1_30="4500.50", d31_60="9000.00")
ROW_B = amounts(d61_90="13000.00", d91_180="17000.00", over_180="10000.00")
ROW_C = amounts(current="11000.00", over_180="12000.00")
ROW_D = amounts(d31_60="1600.00")
TOTALS = amounts(
    current="12000.00",
    d1_30="4500.50",
    d31_60="10600.00",
    d61_90="13000.00",
    d91_180="17000.00",
    over_180="22000.00",
)


class TestArAging:
    async def test_anonymous(self, client):
        assert_problem(await client.get(AGING), 401, "unauthorized")

    @pytest.mark.parametrize("role", ["admin", "support"])
    async def test_roles_without_reports(self, client, org, role):
        assert_problem(await client.get(AGING, headers=access_headers(getattr(org, role))), 403, "forbidden")

    async def test_bad_parameters(self, client, org):
        headers = access_headers(org.finance)
        assert_problem(
            await client.get(AGING, headers=headers, params={"group_by": "region"}), 422, "validation_error"
        )
        assert_problem(
            await client.get(AGING, headers=headers, params={"as_of": "31/03/2026"}), 422, "validation_error"
        )
        assert_problem(
            await client.get(AGING, headers=headers, params={"as_of": "0001-01-01"}), 422, "validation_error"
        )
        assert_problem(
            await client.get(PROVISION, headers=headers, params={"as_of": "0001-01-01"}),
            422,
            "validation_error",
        )
        response = await client.get(AGING, headers=headers, params={"as_of": "9999-12-31"})
        assert response.status_code == 200, response.text

    def test_the_boundaries_used_match_the_domain(self):
        for days, bucket in (
            (0, "current"),
            (1, "d1_30"),
            (30, "d1_30"),
            (31, "d31_60"),
            (60, "d31_60"),
            (61, "d61_90"),
            (90, "d61_90"),
            (91, "d91_180"),
            (180, "d91_180"),
            (181, "over_180"),
            (-5, "current"),
        ):
            assert bucket_for(days).value == bucket

    async def test_by_customer(self, client, org, ledger):
        report = await get_aging(client, org.finance, as_of=AS_OF.isoformat())
        assert report["as_of"] == "2026-03-31"
        assert report["group_by"] == "customer"
        rows = by_name(report)
        assert set(rows) == {"Alpha Co", "Beta Co", "Gamma Co", "Delta Co"}
        assert rows["Alpha Co"]["amounts"] == ROW_A
        assert rows["Alpha Co"]["total"] == "14500.50"
        assert rows["Alpha Co"]["key"] == str(ledger.a.id)
        assert rows["Beta Co"]["amounts"] == ROW_B
        assert rows["Beta Co"]["total"] == "40000.00"
        assert rows["Gamma Co"]["amounts"] == ROW_C
        assert rows["Gamma Co"]["total"] == "23000.00"
        assert rows["Delta Co"]["amounts"] == ROW_D
        assert report["totals"] == TOTALS
        assert report["total"] == "79100.50"
        # Largest balance first.
        assert [r["name"] for r in report["rows"]] == ["Beta Co", "Gamma Co", "Alpha Co", "Delta Co"]

    async def test_collection_actions(self, client, org, ledger):
        report = await get_aging(client, org.finance, as_of=AS_OF.isoformat())
        assert [
            (b["code"], b["label"], b["min_days_past_due"], b["max_days_past_due"], b["collection_action"])
            for b in report["buckets"]
        ] == [
            ("current", "current", None, 0, "none"),
            ("d1_30", "1-30", 1, 30, "reminder"),
            ("d31_60", "31-60", 31, 60, "call"),
            ("d61_90", "61-90", 61, 90, "manager_visit"),
            ("d91_180", "91-180", 91, 180, "escalation"),
            ("over_180", ">180", 181, None, "legal"),
        ]
        rows = by_name(report)
        alpha = rows["Alpha Co"]
        assert alpha["oldest_bucket"] == "d31_60"
        assert alpha["collection_action"] == "call"
        assert alpha["actions"] == {
            "current": "none",
            "d1_30": "reminder",
            "d31_60": "call",
            "d61_90": None,
            "d91_180": None,
            "over_180": None,
        }
        assert rows["Beta Co"]["collection_action"] == "legal"
        assert rows["Delta Co"]["collection_action"] == "call"

    async def test_by_owner(self, client, org, ledger):
        report = await get_aging(client, org.director, as_of=AS_OF.isoformat(), group_by="owner")
        rows = {row["key"]: row for row in report["rows"]}
        assert set(rows) == {str(org.rep.id), str(org.rep2.id), str(org.other_rep.id), None}
        assert rows[str(org.rep.id)]["amounts"] == ROW_A
        assert rows[str(org.rep.id)]["name"] == org.rep.full_name
        assert rows[str(org.rep2.id)]["total"] == "40000.00"
        assert rows[str(org.other_rep.id)]["total"] == "23000.00"
        assert rows[None]["amounts"] == ROW_D
        assert rows[None]["name"] is None
        assert report["totals"] == TOTALS

    async def test_by_team(self, client, org, ledger):
        report = await get_aging(client, org.finance, as_of=AS_OF.isoformat(), group_by="team")
        rows = {row["key"]: row for row in report["rows"]}
        assert set(rows) == {str(org.group.id), str(org.other.id), None}
        group = rows[str(org.group.id)]
        assert group["name"] == "group"
        assert group["amounts"] == amounts(
            current="1000.00",
            d1_30="4500.50",
            d31_60="9000.00",
            d61_90="13000.00",
            d91_180="17000.00",
            over_180="10000.00",
        )
        assert group["total"] == "54500.50"
        assert rows[str(org.other.id)]["amounts"] == ROW_C
        assert rows[None]["total"] == "1600.00"
        assert report["total"] == "79100.50"

    async def test_a_later_date_moves_buckets_payments_and_write_offs(self, client, org, ledger):
        later = AS_OF + dt.timedelta(days=10)
        rows = by_name(await get_aging(client, org.finance, as_of=later.isoformat()))
        # 0 → 10, 1 → 11, 30 → 40, 31 → 41 days; the 1000.00 paid on day 3 now counts.
        assert rows["Alpha Co"]["amounts"] == amounts(d1_30="3000.50", d31_60="6500.00", d61_90="4000.00")
        assert rows["Alpha Co"]["total"] == "13500.50"
        # Written off on day 5: gone; issued on day 1: now there, current.
        assert rows["Gamma Co"]["amounts"] == amounts(current="1500.00", d1_30="11000.00")

    async def test_an_earlier_date_ignores_later_payments_and_receivables(self, client, org, ledger):
        earlier = AS_OF - dt.timedelta(days=30)
        rows = by_name(await get_aging(client, org.finance, as_of=earlier.isoformat()))
        # 30 days past due at AS_OF is 0 days a month earlier, and its 500.00 came later.
        assert rows["Alpha Co"]["amounts"] == amounts(current="6000.50", d1_30="9000.00")
        # Written off and partly paid later: all 13000 open; paid in full before: gone.
        assert rows["Gamma Co"]["amounts"] == amounts(
            current="11000.00", d91_180="12000.00", over_180="13000.00"
        )
        assert rows["Gamma Co"]["total"] == "36000.00"

    async def test_exact_day_boundaries(self, client, uow_factory, org):
        customer = await make_customer(uow_factory, name="Edge Co", owner=org.rep)
        contract = await make_contract(uow_factory, customer=customer, amount="1000000", status="signed")
        # Days are counted in the business time zone (default Asia/Shanghai, UTC+8).
        start = dt.datetime.combine(AS_OF, dt.time.min, tzinfo=ZoneInfo("Asia/Shanghai"))
        # (due instant, amount): the first and last instant of each boundary day.
        dues = [
            (start, "1.00"),  # due at midnight on as_of: 0 days → current
            (start + dt.timedelta(hours=23, minutes=59), "2.00"),  # same day → current
            (start - dt.timedelta(microseconds=1), "4.00"),  # 23:59:59.999999 the day before → 1
            (start - dt.timedelta(days=30), "8.00"),  # 30 days → 1-30
            (start - dt.timedelta(days=30, microseconds=1), "16.00"),  # 31 days → 31-60
            (start - dt.timedelta(days=180), "32.00"),  # 180 → 91-180
            (start - dt.timedelta(days=180, microseconds=1), "64.00"),  # 181 → >180
        ]
        for due_at, amount in dues:
            await make_receivable(
                uow_factory,
                contract=contract,
                amount=amount,
                due_at=due_at,
                issued_at=start - dt.timedelta(days=400),
            )
        row = by_name(await get_aging(client, org.rep, as_of=AS_OF.isoformat()))["Edge Co"]
        assert row["amounts"] == amounts(
            current="3.00", d1_30="12.00", d31_60="16.00", d91_180="32.00", over_180="64.00"
        )

    async def test_default_date_is_today_and_future_dates_are_allowed(self, client, org, ledger):
        report = await get_aging(client, org.finance)
        assert report["as_of"] == utcnow().date().isoformat()
        future = utcnow().date() + dt.timedelta(days=3650)
        report = await get_aging(client, org.finance, as_of=future.isoformat())
        assert report["as_of"] == future.isoformat()
        # Ten years on, everything still open is over 180 days past due.
        assert report["totals"]["over_180"] == report["total"]
        assert Decimal(report["total"]) > 0

    async def test_scope(self, client, org, ledger):
        # Reps: their own customers and the unowned ones (SPEC §2); managers: their teams'.
        rep = by_name(await get_aging(client, org.rep, as_of=AS_OF.isoformat()))
        assert set(rep) == {"Alpha Co", "Delta Co"}
        manager = by_name(await get_aging(client, org.manager, as_of=AS_OF.isoformat()))
        assert set(manager) == {"Alpha Co", "Beta Co", "Delta Co"}
        other = await get_aging(client, org.other_manager, as_of=AS_OF.isoformat(), group_by="team")
        assert {r["key"] for r in other["rows"]} == {str(org.other.id), None}
        assert other["total"] == "24600.00"

    async def test_empty(self, client, org):
        report = await get_aging(client, org.finance)
        assert report["rows"] == []
        assert report["totals"] == amounts()
        assert report["total"] == "0.00"


class TestBadDebtProvision:
    async def test_anonymous(self, client):
        assert_problem(await client.get(PROVISION), 401, "unauthorized")

    async def test_support_may_not(self, client, org):
        assert_problem(await client.get(PROVISION, headers=access_headers(org.support)), 403)

    async def test_figures(self, client, org, ledger):
        response = await client.get(
            PROVISION, headers=access_headers(org.finance), params={"as_of": AS_OF.isoformat()}
        )
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["as_of"] == "2026-03-31"
        assert [
            (b["bucket"], b["label"], b["outstanding"], b["rate"], b["provision"]) for b in report["buckets"]
        ] == [
            ("current", "current", "12000.00", "0.00", "0.00"),
            ("d1_30", "1-30", "4500.50", "0.01", "45.01"),  # 45.005 rounds half up
            ("d31_60", "31-60", "10600.00", "0.05", "530.00"),
            ("d61_90", "61-90", "13000.00", "0.10", "1300.00"),
            ("d91_180", "91-180", "17000.00", "0.30", "5100.00"),
            ("over_180", ">180", "22000.00", "0.50", "11000.00"),
        ]
        assert report["outstanding_total"] == "79100.50"
        # 13000 less 3000 paid, written off before as_of, provided for in full.
        assert report["written_off"] == {"amount": "10000.00", "rate": "1.00", "provision": "10000.00"}
        assert report["total_provision"] == "27975.01"

    async def test_write_off_after_the_date_counts_once_it_happened(self, client, org, ledger):
        later = AS_OF + dt.timedelta(days=10)
        report = (
            await client.get(
                PROVISION, headers=access_headers(org.finance), params={"as_of": later.isoformat()}
            )
        ).json()
        assert report["written_off"]["amount"] == "22000.00"
        # Beta's 180 and 181 days are now 190 and 191; Gamma's 12000 is written off.
        assert report["buckets"][5]["outstanding"] == "19000.00"

    async def test_rates_follow_the_settings(self, client, org, ledger):
        headers = access_headers(org.director)
        settings = (await client.get("/api/v1/settings/credit", headers=headers)).json()
        settings.pop("version")
        settings["provision_rates"]["d1_30"] = "0.02"
        response = await client.put("/api/v1/settings/credit", headers=headers, json=settings)
        assert response.status_code == 200, response.text
        report = (
            await client.get(
                PROVISION, headers=access_headers(org.finance), params={"as_of": AS_OF.isoformat()}
            )
        ).json()
        assert report["buckets"][1]["provision"] == "90.01"
        assert report["total_provision"] == "28020.01"

    async def test_scope(self, client, org, ledger):
        report = (
            await client.get(
                PROVISION, headers=access_headers(org.other_rep), params={"as_of": AS_OF.isoformat()}
            )
        ).json()
        # Gamma (own) and Delta (pool): 11000 current, 12000 >180, 1600 in 31-60.
        assert [b["outstanding"] for b in report["buckets"]] == [
            "11000.00",
            "0.00",
            "1600.00",
            "0.00",
            "0.00",
            "12000.00",
        ]
        assert report["written_off"]["amount"] == "10000.00"
        assert report["total_provision"] == "16080.00"
        rep = (
            await client.get(PROVISION, headers=access_headers(org.rep), params={"as_of": AS_OF.isoformat()})
        ).json()
        assert rep["written_off"]["amount"] == "0.00"
        assert rep["outstanding_total"] == "16100.50"

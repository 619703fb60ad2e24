"""Renewal rules (SPEC §6) as pure functions: the notice window, renewal by a contract
signed in it, the cohort behind the renewal rate, and handover order."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from app.domain.allocation import Assignee, HandoverItem, plan_handover
from app.domain.contracts import (
    ServicedContract,
    check_service_period,
    renewal_cohort,
    renewal_due,
    renewal_rate,
)
from app.domain.errors import InvalidInput
from app.domain.funnel import Stage

TODAY = dt.date(2026, 6, 1)


def c(cid, signed, end=None):
    return ServicedContract(contract_id=cid, signed_on=signed, service_end=end)


def test_window_edges_and_stage():
    ends_60 = [c("a", dt.date(2025, 8, 1), TODAY + dt.timedelta(days=60))]
    ends_61 = [c("a", dt.date(2025, 8, 1), TODAY + dt.timedelta(days=61))]
    assert renewal_due(ends_60, stage=Stage.implemented, today=TODAY, notice_days=60).contract_id == "a"
    assert renewal_due(ends_61, stage=Stage.implemented, today=TODAY, notice_days=60) is None
    assert renewal_due(ends_60, stage=Stage.signed, today=TODAY, notice_days=60) is None
    assert renewal_due([c("a", TODAY)], stage=Stage.implemented, today=TODAY, notice_days=60) is None


def test_a_contract_signed_in_the_window_renews_the_latest_period():
    end = TODAY + dt.timedelta(days=30)
    before = [c("a", dt.date(2025, 1, 1), end), c("b", end - dt.timedelta(days=61))]
    inside = [c("a", dt.date(2025, 1, 1), end), c("b", end - dt.timedelta(days=60))]
    assert renewal_due(before, stage=Stage.implemented, today=TODAY, notice_days=60) is not None
    assert renewal_due(inside, stage=Stage.implemented, today=TODAY, notice_days=60) is None


def test_cohort_and_rate():
    end = dt.date(2026, 3, 31)
    contracts = [
        c("a", dt.date(2025, 4, 1), end),
        c("b", dt.date(2026, 3, 1)),
        c("x", dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
    ]
    assert renewal_cohort(contracts, start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 31), notice_days=60) == (
        1,
        1,
    )
    assert renewal_cohort(
        contracts, start=dt.date(2025, 12, 1), end=dt.date(2025, 12, 31), notice_days=60
    ) == (1, 0)
    assert renewal_rate(0, 0) is None
    assert renewal_rate(3, 1) == Decimal("0.3333")


def test_service_period_must_not_end_before_it_starts():
    check_service_period(dt.date(2026, 1, 1), dt.date(2026, 1, 1))
    with pytest.raises(InvalidInput):
        check_service_period(dt.date(2026, 1, 2), dt.date(2026, 1, 1))


def test_handover_puts_renewal_due_first():
    people = [
        Assignee(user_id="best", signed_amount=Decimal(9), free_capacity=1),
        Assignee(user_id="next", signed_amount=Decimal(1), free_capacity=5),
    ]
    items = [
        HandoverItem(customer_id="intent", stage=Stage.intent, grade="A"),
        HandoverItem(customer_id="impl", stage=Stage.implemented),
        HandoverItem(customer_id="renew", stage=Stage.implemented, renewal_due=True),
    ]
    plan = plan_handover(items, people)
    assert [a.customer_id for a in plan.assignments] == ["renew", "impl", "intent"]
    assert "(renewal due)" in plan.assignments[0].reason and plan.assignments[0].user_id == "best"

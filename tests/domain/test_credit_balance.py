"""Credit balance rules (SPEC §6): applied oldest due first from the oldest credit, never
more than either side holds; refunds from the oldest credit, never above the balance."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.credit import (
    CreditItem,
    CreditState,
    OpenItem,
    RefundExceedsBalance,
    apply_credit,
    decide_signing,
    take_refund,
)
from app.domain.errors import InvalidInput

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def credit(pid, remaining, day=0):
    return CreditItem(payment_id=pid, received_at=T0 + dt.timedelta(days=day), remaining=D(remaining))


def item(rid, outstanding, due_day):
    return OpenItem(
        receivable_id=rid, due_at=dt.date(2026, 2, 1) + dt.timedelta(days=due_day), outstanding=D(outstanding)
    )


def test_oldest_due_first_from_oldest_credit():
    parts = apply_credit(
        credits=[credit("late", "50", day=2), credit("early", "100", day=1)],
        open_items=[item("r-later", "80", 9), item("r-sooner", "60", 3)],
    )
    assert [(p.payment_id, p.receivable_id, p.amount) for p in parts] == [
        ("early", "r-sooner", D("60")),
        ("early", "r-later", D("40")),
        ("late", "r-later", D("40")),
    ]


def test_refund_takes_oldest_credit_and_refuses_more_than_the_balance():
    credits = [credit("b", "30", day=2), credit("a", "20", day=1)]
    assert take_refund(credits=credits, amount=D("25")) == (("a", D("20")), ("b", D("5")))
    with pytest.raises(RefundExceedsBalance):
        take_refund(credits=credits, amount=D("50.01"))
    with pytest.raises(InvalidInput):
        take_refund(credits=credits, amount=D("0"))


def test_a_deposit_covers_a_contract_against_a_zero_limit():
    state = CreditState(credit_limit=D("0"), credit_balance=D("50000"))
    decision = decide_signing(state=state, amount=D("10000"), actor_role="rep")
    assert (decision.shortfall, decision.exposure_after) == (D("0.00"), D("0.00"))
    assert not decision.override_used
    assert state.exposure == D("0.00")


money = st.integers(min_value=0, max_value=10_000_00).map(lambda c: D(c) / 100)


@given(credits=st.lists(money, max_size=5), owed=st.lists(money, max_size=5))
def test_application_never_creates_or_loses_a_cent(credits, owed):
    items = [item(f"r{i}", amount, i % 3) for i, amount in enumerate(owed)]
    sources = [credit(f"p{i}", amount, day=-i) for i, amount in enumerate(credits)]
    parts = apply_credit(credits=sources, open_items=items)
    assert all(p.amount > 0 for p in parts)
    for source in sources:
        assert sum((p.amount for p in parts if p.payment_id == source.payment_id), D(0)) <= source.remaining
    for it in items:
        assert sum((p.amount for p in parts if p.receivable_id == it.receivable_id), D(0)) <= it.outstanding
    assert sum((p.amount for p in parts), D(0)) == min(sum(credits, D(0)), sum(owed, D(0)))

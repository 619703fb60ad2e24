"""Property test of the cash side on a real database (SPEC §6): for any sequence of bills,
payments, refunds and write-offs, no cent is created or lost.

After every step: each payment's amount = its applications + what it still holds as credit
+ what was refunded from it; so payments = applications + credit balance + refunds in total;
every receivable's paid amount = the sum of its applications and never above its amount;
the credit view's balance is the payments' unapplied money; a credit balance and an open
receivable never coexist (credit is applied when a bill is issued, payments are applied to
open bills at once); every amount is a Decimal.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.db.base import utcnow
from app.db.models import CreditRefund, Payment, PaymentApplication, Receivable
from app.domain.credit import RefundExceedsBalance
from app.services import credit as credit_service
from app.services import receivables as receivables_service
from tests.support.builders import make_contract, make_funnel_customer, make_sales_org, principal_of

cents = st.integers(min_value=1, max_value=500_00).map(lambda c: Decimal(c) / 100)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("bill"), cents, st.integers(min_value=-90, max_value=90)),
        st.tuples(st.just("pay"), cents, st.integers(min_value=0, max_value=90)),
        st.tuples(st.just("refund"), st.integers(min_value=1, max_value=120), st.just(0)),
        st.tuples(st.just("write_off"), st.integers(min_value=0, max_value=5), st.just(0)),
    ),
    min_size=1,
    max_size=12,
)


@pytest.fixture
async def org(uow_factory):
    org = await make_sales_org(uow_factory)
    org.finance_principal = await principal_of(uow_factory, org.finance)
    return org


async def ledger(uow_factory, customer_id):
    async with uow_factory() as uow:
        session = uow.session
        payments = list(
            (await session.scalars(select(Payment).where(Payment.customer_id == customer_id))).all()
        )
        receivables = list(
            (await session.scalars(select(Receivable).where(Receivable.customer_id == customer_id))).all()
        )
        applications = list(
            (
                await session.scalars(
                    select(PaymentApplication).where(
                        PaymentApplication.payment_id.in_([p.id for p in payments])
                    )
                )
            ).all()
        )
        refunds = list(
            (await session.scalars(select(CreditRefund).where(CreditRefund.customer_id == customer_id))).all()
        )
    return payments, receivables, applications, refunds


def total(values) -> Decimal:
    return sum(values, Decimal(0))


def summary(payments, receivables, applications, refunds) -> tuple:
    return (
        sorted((str(p.id), p.unallocated_amount, p.refunded_amount) for p in payments),
        sorted((str(r.id), r.paid_amount) for r in receivables),
        len(applications),
        len(refunds),
    )


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps)
async def test_no_cent_is_created_or_lost(uow_factory, org, plan):
    finance = org.finance_principal
    customer = await make_funnel_customer(uow_factory, owner=org.rep, stage="signed")
    contract = await make_contract(uow_factory, customer=customer, amount="1000000.00", status="signed")
    now = utcnow()
    for kind, value, days in plan:
        if kind == "bill":
            await receivables_service.create_receivable(
                uow_factory(),
                finance,
                contract_id=contract.id,
                amount=value,
                issued_at=now - dt.timedelta(days=max(-days, 0) + 1),
                due_at=now + dt.timedelta(days=days),
            )
        elif kind == "pay":
            await receivables_service.record_payment(
                uow_factory(),
                finance,
                customer_id=customer.id,
                amount=value,
                received_at=now - dt.timedelta(days=days),
            )
        elif kind == "refund":
            view = await credit_service.get_credit(uow_factory(), finance, customer_id=customer.id)
            amount = (view.credit_balance * value / 100).quantize(Decimal("0.01"))
            if amount <= 0:
                continue
            if amount > view.credit_balance:  # asked for more than there is: refused, nothing changes
                before = summary(*await ledger(uow_factory, customer.id))
                with pytest.raises(RefundExceedsBalance):
                    await receivables_service.refund_credit(
                        uow_factory(), finance, customer_id=customer.id, amount=amount, reason="returned"
                    )
                assert summary(*await ledger(uow_factory, customer.id)) == before
                continue
            await receivables_service.refund_credit(
                uow_factory(), finance, customer_id=customer.id, amount=amount, reason="returned"
            )
        else:
            _, receivables, _, _ = await ledger(uow_factory, customer.id)
            open_ones = sorted(
                (r for r in receivables if r.written_off_at is None and r.paid_amount < r.amount),
                key=lambda r: (r.due_at, str(r.id)),
            )
            if not open_ones:
                continue
            await receivables_service.write_off(
                uow_factory(),
                finance,
                receivable_id=open_ones[value % len(open_ones)].id,
                reason="uncollectable",
            )

        payments, receivables, applications, refunds = await ledger(uow_factory, customer.id)
        amounts = (
            [p.amount for p in payments]
            + [p.unallocated_amount for p in payments]
            + [r.amount for r in receivables]
            + [r.paid_amount for r in receivables]
            + [a.amount for a in applications]
            + [r.amount for r in refunds]
        )
        assert all(type(x) is Decimal for x in amounts)
        for p in payments:
            mine = total(a.amount for a in applications if a.payment_id == p.id)
            assert p.amount == mine + p.unallocated_amount + p.refunded_amount
            assert p.unallocated_amount >= 0 and p.refunded_amount >= 0
        balance = total(p.unallocated_amount for p in payments)
        assert total(p.amount for p in payments) == (
            total(a.amount for a in applications) + balance + total(r.amount for r in refunds)
        )
        for r in receivables:
            assert r.paid_amount == total(a.amount for a in applications if a.receivable_id == r.id)
            assert 0 <= r.paid_amount <= r.amount
        view = await credit_service.get_credit(uow_factory(), finance, customer_id=customer.id)
        assert view.credit_balance == balance
        still_open = [r for r in receivables if r.written_off_at is None and r.paid_amount < r.amount]
        assert balance == 0 or not still_open

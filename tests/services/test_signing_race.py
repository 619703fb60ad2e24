"""Concurrent signings and payments on really committed transactions (SPEC §6).

The credit check and the signing run in one transaction holding the customer's rows
(customer, credit profile) locked, so signings that together exceed the limit cannot
both pass; payments lock the customer and its open receivables, so concurrent payments
never apply more than a receivable's amount. On SQLite the writers queue at BEGIN
IMMEDIATE; on PostgreSQL the row locks decide — the real proof.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select

from app.db.base import utcnow
from app.db.models import Contract, Customer, Payment, PaymentApplication, Receivable, StageTransition
from app.db.uow import UnitOfWork
from app.domain.credit import CreditLimitExceeded
from app.domain.errors import InvalidInput
from app.services import contracts as contracts_service
from app.services import receivables as receivables_service
from tests.support.builders import (
    access_headers,
    make_contract,
    make_funnel_customer,
    make_receivable,
    make_team,
    make_user,
    principal_of,
    set_credit_limit,
    set_team_manager,
)


@pytest.fixture
def committed_uow(committed_factory):
    return lambda: UnitOfWork(committed_factory)


async def _sales_team(committed_uow):
    team = await make_team(committed_uow)
    manager = await make_user(committed_uow, role="manager", team=team)
    await set_team_manager(committed_uow, team, manager)
    rep = await make_user(committed_uow, role="rep", team=team)
    finance = await make_user(committed_uow, role="finance")
    return {"rep": rep, "manager": manager, "finance": finance}


async def _customer_with_drafts(committed_uow, owner, *, limit: str, amounts: list[str]):
    customer = await make_funnel_customer(committed_uow, owner=owner, stage="intent")
    await set_credit_limit(committed_uow, customer.id, limit)
    drafts = [await make_contract(committed_uow, customer=customer, amount=a) for a in amounts]
    return customer, drafts


async def _signed_state(committed_uow, customer) -> tuple[int, str, int]:
    """(signed contracts, customer stage, stored moves into `signed`)."""
    async with committed_uow() as uow:
        signed = await uow.session.scalar(
            select(func.count())
            .select_from(Contract)
            .where(Contract.customer_id == customer.id, Contract.status == "signed")
        )
        stage = await uow.session.scalar(select(Customer.stage).where(Customer.id == customer.id))
        moves = await uow.session.scalar(
            select(func.count())
            .select_from(StageTransition)
            .where(StageTransition.customer_id == customer.id, StageTransition.to_stage == "signed")
        )
        return int(signed or 0), str(stage), int(moves or 0)


@pytest.mark.parametrize("role", ["rep", "manager"])
@pytest.mark.parametrize(
    ("amounts", "winners", "exposure", "available"),
    [
        (["60000.00"] * 2, 1, "60000.00", "40000.00"),
        (["30000.00"] * 5, 3, "90000.00", "10000.00"),
    ],
)
async def test_concurrent_signings_never_overspend_the_limit(
    committed_uow, committed_factory, role, amounts, winners, exposure, available
):
    people = await _sales_team(committed_uow)
    customer, drafts = await _customer_with_drafts(
        committed_uow, people["rep"], limit="100000.00", amounts=amounts
    )
    actor = await principal_of(committed_uow, people[role])

    results = await asyncio.gather(
        *[
            contracts_service.sign_contract(UnitOfWork(committed_factory), actor, contract_id=c.id)
            for c in drafts
        ],
        return_exceptions=True,
    )

    signed = [r for r in results if isinstance(r, Contract)]
    refused = [r for r in results if not isinstance(r, Contract)]
    assert len(signed) == winners, results
    assert all(isinstance(r, CreditLimitExceeded) for r in refused), refused
    for error in refused:
        assert error.code == "credit.limit_exceeded"
        assert error.extra == {
            "limit": "100000.00",
            "exposure": exposure,
            "available": available,
            "shortfall": str(Decimal(amounts[0]) - Decimal(available)),
        }
    assert all(c.status == "signed" and c.override_reason is None for c in signed)
    assert await _signed_state(committed_uow, customer) == (winners, "signed", 1)


async def test_sequential_signings_refuse_the_same_way(committed_uow, committed_factory):
    # The control: without a race the second signing meets the same limit.
    people = await _sales_team(committed_uow)
    customer, (first, second) = await _customer_with_drafts(
        committed_uow, people["rep"], limit="100000.00", amounts=["60000.00", "60000.00"]
    )
    actor = await principal_of(committed_uow, people["rep"])
    await contracts_service.sign_contract(UnitOfWork(committed_factory), actor, contract_id=first.id)
    with pytest.raises(CreditLimitExceeded) as refused:
        await contracts_service.sign_contract(UnitOfWork(committed_factory), actor, contract_id=second.id)
    assert refused.value.extra["available"] == "40000.00"
    assert await _signed_state(committed_uow, customer) == (1, "signed", 1)


async def test_concurrent_signings_over_http(app, committed_uow, committed_factory):
    people = await _sales_team(committed_uow)
    customer, drafts = await _customer_with_drafts(
        committed_uow, people["rep"], limit="100000.00", amounts=["60000.00", "60000.00"]
    )
    previous = app.state.session_factory
    app.state.session_factory = committed_factory
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            responses = await asyncio.gather(
                *[
                    client.post(
                        f"/api/v1/contracts/{c.id}/sign", headers=access_headers(people["rep"]), json={}
                    )
                    for c in drafts
                ]
            )
    finally:
        app.state.session_factory = previous

    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    [refused] = [r for r in responses if r.status_code == 409]
    assert refused.headers["content-type"].startswith("application/problem+json")
    body = refused.json()
    assert body["code"] == "credit.limit_exceeded"
    assert (body["limit"], body["exposure"], body["available"], body["shortfall"]) == (
        "100000.00",
        "60000.00",
        "40000.00",
        "20000.00",
    )
    assert await _signed_state(committed_uow, customer) == (1, "signed", 1)


async def _billed_customer(committed_uow, owner, amounts: list[str]):
    customer = await make_funnel_customer(committed_uow, owner=owner, stage="signed")
    total = sum((Decimal(a) for a in amounts), Decimal(0))
    contract = await make_contract(committed_uow, customer=customer, amount=total, status="signed")
    now = utcnow()
    receivables = [
        await make_receivable(
            committed_uow, contract=contract, amount=a, due_at=now + dt.timedelta(days=i + 1)
        )
        for i, a in enumerate(amounts)
    ]
    return customer, receivables


async def _application_facts(committed_uow, customer):
    async with committed_uow() as uow:
        receivables = list(
            (await uow.session.scalars(select(Receivable).where(Receivable.customer_id == customer.id))).all()
        )
        payments = list(
            (await uow.session.scalars(select(Payment).where(Payment.customer_id == customer.id))).all()
        )
        applications = list(
            (
                await uow.session.scalars(
                    select(PaymentApplication).where(
                        PaymentApplication.payment_id.in_([p.id for p in payments])
                    )
                )
            ).all()
        )
        return receivables, payments, applications


def _sums(applications, key) -> dict:
    sums: dict = {}
    for a in applications:
        sums[getattr(a, key)] = sums.get(getattr(a, key), Decimal(0)) + a.amount
    return sums


@pytest.mark.parametrize("payers", [2, 6])
async def test_concurrent_payments_never_over_apply(committed_uow, committed_factory, payers):
    people = await _sales_team(committed_uow)
    customer, _ = await _billed_customer(committed_uow, people["rep"], ["100.00", "100.00"])
    actor = await principal_of(committed_uow, people["finance"])
    received = utcnow() - dt.timedelta(minutes=1)

    results = await asyncio.gather(
        *[
            receivables_service.record_payment(
                UnitOfWork(committed_factory),
                actor,
                customer_id=customer.id,
                amount=Decimal("45.00"),
                received_at=received,
            )
            for _ in range(payers)
        ]
    )

    assert len(results) == payers
    receivables, payments, applications = await _application_facts(committed_uow, customer)
    assert len(payments) == payers
    by_receivable = _sums(applications, "receivable_id")
    for r in receivables:
        assert r.paid_amount == by_receivable.get(r.id, Decimal(0))
        assert r.paid_amount <= r.amount
    by_payment = _sums(applications, "payment_id")
    for p in payments:
        assert by_payment.get(p.id, Decimal(0)) + p.unallocated_amount == p.amount
    paid_in = Decimal("45.00") * payers
    applied = min(paid_in, Decimal("200.00"))
    assert sum(by_receivable.values(), Decimal(0)) == applied
    assert sum((p.unallocated_amount for p in payments), Decimal(0)) == paid_in - applied


async def test_concurrent_explicit_applications_to_one_receivable(committed_uow, committed_factory):
    people = await _sales_team(committed_uow)
    customer, (receivable,) = await _billed_customer(committed_uow, people["rep"], ["100.00"])
    actor = await principal_of(committed_uow, people["finance"])
    received = utcnow() - dt.timedelta(minutes=1)

    results = await asyncio.gather(
        *[
            receivables_service.record_payment(
                UnitOfWork(committed_factory),
                actor,
                customer_id=customer.id,
                amount=Decimal("60.00"),
                received_at=received,
                apply_to=[(receivable.id, Decimal("60.00"))],
            )
            for _ in range(2)
        ],
        return_exceptions=True,
    )

    recorded = [r for r in results if isinstance(r, receivables_service.PaymentView)]
    refused = [r for r in results if not isinstance(r, receivables_service.PaymentView)]
    assert len(recorded) == 1, results
    assert len(refused) == 1 and isinstance(refused[0], InvalidInput), refused
    assert refused[0].code == "payment.allocation_invalid"
    receivables, payments, applications = await _application_facts(committed_uow, customer)
    assert [r.paid_amount for r in receivables] == [Decimal("60.00")]
    assert len(payments) == 1 and sum(a.amount for a in applications) == Decimal("60.00")

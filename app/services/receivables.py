"""Use cases for billing (receivables), collecting (payments) and writing off."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from app.db.base import utcnow
from app.db.models import CreditRefund, Customer, Payment, PaymentApplication, Receivable
from app.db.repositories.pagination import Page
from app.db.uow import UnitOfWork
from app.domain.contracts import ContractStatus, check_billable
from app.domain.credit import (
    CreditItem,
    OpenItem,
    apply_credit,
    apply_payment,
    overdue_before,
    take_refund,
)
from app.domain.errors import (
    InvalidInput,
    OverBilled,
    ReceivablePaid,
    ReceivableWrittenOff,
)
from app.domain.roles import Principal, Role
from app.services import settings as settings_service
from app.services.common import business_tz, found, jsonable
from app.services.contracts import _future, complete_if_settled_in

FINANCE_ROLES = frozenset({Role.finance, Role.director})


@dataclass(frozen=True, slots=True)
class PaymentView:
    payment: Payment
    applications: list[PaymentApplication]


@dataclass(frozen=True, slots=True)
class ReceivableView:
    """A receivable with the money applied to it (payments and credit balance)."""

    receivable: Receivable
    applications: list[PaymentApplication]


async def _views_in(uow: UnitOfWork, receivables: Sequence[Receivable]) -> list[ReceivableView]:
    rows = await uow.receivables.applications_to([r.id for r in receivables])
    by_receivable: dict[uuid.UUID, list[PaymentApplication]] = {}
    for row in rows:
        by_receivable.setdefault(row.receivable_id, []).append(row)
    return [ReceivableView(r, by_receivable.get(r.id, [])) for r in receivables]


async def list_receivables(
    uow: UnitOfWork,
    actor: Principal,
    *,
    customer_id: uuid.UUID | None,
    contract_id: uuid.UUID | None,
    status: Literal["open", "paid", "written_off"] | None,
    overdue: bool | None,
    updated_since: dt.datetime | None = None,
    cursor: str | None,
    limit: int,
) -> Page[ReceivableView]:
    async with uow:
        page = await uow.receivables.list(
            actor,
            customer_id=customer_id,
            contract_id=contract_id,
            status=status,
            overdue_at=overdue_before(utcnow(), business_tz()) if overdue else None,
            updated_since=updated_since,
            cursor=cursor,
            limit=limit,
        )
        return Page(items=await _views_in(uow, page.items), next_cursor=page.next_cursor)


async def get_receivable(uow: UnitOfWork, actor: Principal, *, receivable_id: uuid.UUID) -> ReceivableView:
    async with uow:
        receivable = found(await uow.receivables.get(receivable_id, principal=actor), "Receivable")
        return (await _views_in(uow, [receivable]))[0]


async def apply_credit_in(
    uow: UnitOfWork, customer: Customer, *, actor_id: uuid.UUID | None, now: dt.datetime
) -> list[PaymentApplication]:
    """Apply the customer's credit balance (deposits, prepayments, overpayments) to its open
    receivables, oldest due first, inside the caller's transaction, which holds the customer
    row. Each part is recorded as an application of the payment the credit came from."""
    credit = await uow.receivables.credit_of(customer.id)
    if not credit:
        return []
    open_items = await uow.receivables.open_of(customer.id)
    receivables = {r.id: r for r in open_items}
    payments = {p.id: p for p in credit}
    parts = apply_credit(
        credits=[
            CreditItem(payment_id=p.id, received_at=p.received_at, remaining=p.unallocated_amount)
            for p in credit
        ],
        open_items=[_open_item(r) for r in open_items],
    )
    positions = await uow.receivables.next_positions([p.id for p in credit])
    rows = []
    for part in parts:
        payment, receivable = payments[part.payment_id], receivables[part.receivable_id]  # type: ignore[index]
        payment.unallocated_amount = payment.unallocated_amount - part.amount
        receivable.paid_amount = receivable.paid_amount + part.amount
        row = PaymentApplication(
            payment_id=payment.id,
            receivable_id=receivable.id,
            amount=part.amount,
            position=positions[payment.id],
            applied_at=max(payment.received_at, receivable.issued_at),
            from_credit=True,
        )
        positions[payment.id] += 1
        uow.receivables.add(row)
        rows.append(row)
        uow.history.record(
            customer_id=customer.id,
            actor_id=actor_id,
            action="credit_applied",
            entity="receivable",
            entity_id=receivable.id,
            at=now,
            changes={"credit_applied": [None, jsonable(part.amount)], "payment": [None, str(payment.id)]},
        )
    await uow.flush()
    for contract_id in sorted({receivables[p.receivable_id].contract_id for p in parts}):  # type: ignore[index]
        contract = found(await uow.contracts.get_unscoped(contract_id, for_update=True), "Contract")
        await complete_if_settled_in(uow, contract, customer, actor_id=actor_id, now=now)
    return rows


def _open_item(receivable: Receivable) -> OpenItem:
    return OpenItem(
        receivable_id=receivable.id,
        due_at=receivable.due_at.date(),
        outstanding=receivable.amount - receivable.paid_amount,
    )


async def create_receivable(
    uow: UnitOfWork,
    actor: Principal,
    *,
    contract_id: uuid.UUID,
    amount: Decimal,
    issued_at: dt.datetime,
    due_at: dt.datetime | None = None,
) -> ReceivableView:
    """Bill (part of) a signed contract; the bills never add up to more than the contract.
    Without ``due_at`` it is due the contract's payment terms after the issue date. The
    customer's credit balance is applied to it (oldest due first) in the same transaction."""
    if due_at is not None and due_at < issued_at:
        raise InvalidInput(
            "The due date is before the issue date",
            errors=[
                {
                    "loc": ["body", "due_at"],
                    "msg": "due_at must not be before issued_at",
                    "type": "value_error",
                }
            ],
        )
    now = utcnow()
    async with uow:
        unlocked = found(await uow.contracts.get(contract_id, principal=actor), "Contract")
        customer = found(await uow.customers.get_unscoped(unlocked.customer_id, for_update=True), "Customer")
        contract = found(await uow.contracts.get_unscoped(contract_id, for_update=True), "Contract")
        check_billable(ContractStatus(contract.status))
        if due_at is None:
            due_at = issued_at + dt.timedelta(days=contract.payment_terms_days)
        billed = await uow.contracts.billed(contract.id)
        if billed + amount > contract.amount:
            raise OverBilled(
                "Billing this would exceed the contract amount",
                contract_amount=jsonable(contract.amount),
                billed=jsonable(billed),
                remaining=jsonable(contract.amount - billed),
            )
        receivable = Receivable(
            contract_id=contract.id,
            customer_id=contract.customer_id,
            amount=amount,
            paid_amount=Decimal(0),
            issued_at=issued_at,
            due_at=due_at,
            created_by=actor.user_id,
            created_at=now,
            updated_at=now,
        )
        uow.receivables.add(receivable)
        await uow.flush()
        uow.history.record(
            customer_id=contract.customer_id,
            actor_id=actor.user_id,
            action="receivable_create",
            entity="receivable",
            entity_id=receivable.id,
            at=now,
            changes={
                "contract": [None, contract.number],
                "amount": [None, jsonable(amount)],
                "due_at": [None, due_at.isoformat()],
            },
        )
        await apply_credit_in(uow, customer, actor_id=actor.user_id, now=now)
        view = (await _views_in(uow, [receivable]))[0]
        await uow.commit()
        return view


async def write_off(
    uow: UnitOfWork, actor: Principal, *, receivable_id: uuid.UUID, reason: str
) -> ReceivableView:
    """Finance writes off what is still owed on a receivable (provisioned at 100%)."""
    now = utcnow()
    async with uow:
        unlocked = found(await uow.receivables.get(receivable_id, principal=actor), "Receivable")
        found(await uow.customers.get_unscoped(unlocked.customer_id, for_update=True), "Customer")
        receivable = found(await uow.receivables.get_unscoped(receivable_id, for_update=True), "Receivable")
        if receivable.written_off_at is not None:
            raise ReceivableWrittenOff("The receivable is already written off")
        if receivable.paid_amount >= receivable.amount:
            raise ReceivablePaid("The receivable is paid in full")
        receivable.written_off_at = now
        receivable.write_off_reason = reason
        receivable.written_off_by = actor.user_id
        uow.history.record(
            customer_id=receivable.customer_id,
            actor_id=actor.user_id,
            action="receivable_write_off",
            entity="receivable",
            entity_id=receivable.id,
            at=now,
            changes={
                "written_off": [None, jsonable(receivable.amount - receivable.paid_amount)],
                "reason": [None, reason],
            },
        )
        view = (await _views_in(uow, [receivable]))[0]
        await uow.commit()
        return view


async def record_payment(
    uow: UnitOfWork,
    actor: Principal,
    *,
    customer_id: uuid.UUID,
    amount: Decimal,
    received_at: dt.datetime,
    apply_to: Sequence[tuple[uuid.UUID, Decimal]] | None = None,
    reference: str | None = None,
) -> PaymentView:
    """Record money received: applied to open receivables oldest-due first (or as given);
    what is left stays with the customer as credit. Settled, accepted contracts complete."""
    now = utcnow()
    if received_at > now:
        raise _future("received_at", received_at, now)
    async with uow:
        customer = found(await uow.customers.get(customer_id, principal=actor, for_update=True), "Customer")
        policy = await settings_service.credit_policy_in(uow)
        await uow.credit.lock_profile(
            customer.id,
            default_limit=await settings_service.default_credit_limit_in(uow, customer.grade),
            default_terms=policy.default_payment_terms_days,
        )
        open_items = await uow.receivables.open_of(customer.id)
        by_id = {r.id: r for r in open_items}
        result = apply_payment(
            amount=amount,
            open_items=[_open_item(r) for r in open_items],
            explicit=None if apply_to is None else list(apply_to),
        )
        payment = Payment(
            customer_id=customer.id,
            amount=amount,
            unallocated_amount=result.unapplied,
            received_at=received_at,
            reference=reference,
            created_by=actor.user_id,
            created_at=now,
        )
        uow.receivables.add(payment)
        await uow.flush()
        rows = []
        for position, part in enumerate(result.parts):
            receivable = by_id[part.receivable_id]  # type: ignore[index]
            receivable.paid_amount = receivable.paid_amount + part.amount
            row = PaymentApplication(
                payment_id=payment.id,
                receivable_id=receivable.id,
                amount=part.amount,
                position=position,
                applied_at=max(received_at, receivable.issued_at),
            )
            uow.receivables.add(row)
            rows.append(row)
        await uow.flush()
        for contract_id in sorted({by_id[a.receivable_id].contract_id for a in result.parts}):  # type: ignore[index]
            contract = found(await uow.contracts.get_unscoped(contract_id, for_update=True), "Contract")
            await complete_if_settled_in(uow, contract, customer, actor_id=actor.user_id, now=now)
        uow.history.record(
            customer_id=customer.id,
            actor_id=actor.user_id,
            action="payment",
            entity="payment",
            entity_id=payment.id,
            at=now,
            changes={
                "amount": [None, jsonable(amount)],
                # History keys as clients know them (API.md).
                "allocated": [None, jsonable(result.applied)],
                "unallocated": [None, jsonable(result.unapplied)],
            },
        )
        await uow.commit()
        return PaymentView(payment, rows)


async def list_payments(
    uow: UnitOfWork,
    actor: Principal,
    *,
    customer_id: uuid.UUID | None,
    updated_since: dt.datetime | None = None,
    cursor: str | None,
    limit: int,
) -> Page[PaymentView]:
    async with uow:
        page = await uow.receivables.list_payments(
            actor, customer_id=customer_id, updated_since=updated_since, cursor=cursor, limit=limit
        )
        applications = await uow.receivables.applications_of([p.id for p in page.items])
        by_payment: dict[uuid.UUID, list[PaymentApplication]] = {}
        for row in applications:
            by_payment.setdefault(row.payment_id, []).append(row)
        return Page(
            items=[PaymentView(p, by_payment.get(p.id, [])) for p in page.items], next_cursor=page.next_cursor
        )


async def get_payment(uow: UnitOfWork, actor: Principal, *, payment_id: uuid.UUID) -> PaymentView:
    async with uow:
        payment = found(await uow.receivables.get_payment(payment_id, principal=actor), "Payment")
        return PaymentView(payment, await uow.receivables.applications_of([payment.id]))


async def refund_credit(
    uow: UnitOfWork,
    actor: Principal,
    *,
    customer_id: uuid.UUID,
    amount: Decimal,
    refunded_at: dt.datetime | None = None,
    reason: str,
    reference: str | None = None,
) -> CreditRefund:
    """Finance pays (part of) a customer's credit balance back; taken from the oldest credit
    first and recorded on each payment it came from."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput(
            "A refund needs a reason",
            errors=[{"loc": ["body", "reason"], "msg": "must not be empty", "type": "value_error"}],
        )
    now = utcnow()
    if refunded_at is not None and refunded_at > now:
        raise _future("refunded_at", refunded_at, now)
    async with uow:
        customer = found(await uow.customers.get(customer_id, principal=actor, for_update=True), "Customer")
        credit = await uow.receivables.credit_of(customer.id)
        payments = {p.id: p for p in credit}
        taken = take_refund(
            credits=[
                CreditItem(payment_id=p.id, received_at=p.received_at, remaining=p.unallocated_amount)
                for p in credit
            ],
            amount=amount,
        )
        for payment_id, part in taken:
            payment = payments[payment_id]  # type: ignore[index]
            payment.unallocated_amount = payment.unallocated_amount - part
            payment.refunded_amount = payment.refunded_amount + part
        refund = CreditRefund(
            customer_id=customer.id,
            amount=amount,
            refunded_at=refunded_at or now,
            reason=reason,
            reference=reference,
            created_by=actor.user_id,
            created_at=now,
        )
        uow.receivables.add(refund)
        await uow.flush()
        uow.history.record(
            customer_id=customer.id,
            actor_id=actor.user_id,
            action="credit_refund",
            entity="credit_refund",
            entity_id=refund.id,
            at=now,
            changes={"refunded": [None, jsonable(amount)], "reason": [None, reason]},
        )
        await uow.commit()
        return refund


async def list_refunds(uow: UnitOfWork, actor: Principal, *, customer_id: uuid.UUID) -> list[CreditRefund]:
    """Refunds of the customer's credit balance, newest first."""
    async with uow:
        customer = found(await uow.customers.get(customer_id, principal=actor), "Customer")
        return await uow.receivables.refunds_of(customer.id)

"""Receivables history set up directly in the database for credit and report tests: payments
with their allocations and write-offs (contracts and receivables come from ``builders``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import update

from app.db.models import Payment, PaymentApplication, Receivable
from app.db.uow import UnitOfWork


def noon(day: dt.date, days_before: int = 0) -> dt.datetime:
    """Noon UTC ``days_before`` days before ``day``."""
    return dt.datetime.combine(day - dt.timedelta(days=days_before), dt.time(12), tzinfo=dt.UTC)


async def make_payment(
    uow_factory: Callable[[], UnitOfWork],
    *,
    customer: Any,
    amount: Any,
    received_at: dt.datetime,
    allocations: Sequence[tuple[Any, Any]] = (),
) -> Payment:
    """A payment row, its allocations to ``(receivable, amount)`` pairs and the receivables'
    ``paid_amount``; whatever is not allocated stays as customer credit."""
    amount = Decimal(str(amount))
    allocated = sum((Decimal(str(a)) for _, a in allocations), Decimal(0))
    payment = Payment(
        id=uuid.uuid4(),
        customer_id=customer.id,
        amount=amount,
        unallocated_amount=amount - allocated,
        received_at=received_at,
        created_at=received_at,
    )
    async with uow_factory() as uow:
        uow.receivables.add(payment)
        await uow.flush()
        for receivable, part in allocations:
            part = Decimal(str(part))
            uow.receivables.add(
                PaymentApplication(
                    payment_id=payment.id, receivable_id=receivable.id, amount=part, applied_at=received_at
                )
            )
            await uow.session.execute(
                update(Receivable)
                .where(Receivable.id == receivable.id)
                .values(paid_amount=Receivable.paid_amount + part)
            )
        await uow.commit()
    return payment


async def write_off(
    uow_factory: Callable[[], UnitOfWork], receivable: Any, *, at: dt.datetime, reason: str = "uncollectable"
) -> None:
    async with uow_factory() as uow:
        await uow.session.execute(
            update(Receivable)
            .where(Receivable.id == receivable.id)
            .values(written_off_at=at, write_off_reason=reason)
        )
        await uow.commit()

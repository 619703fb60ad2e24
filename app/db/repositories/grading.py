"""Grading queries: trading facts computed in SQL per chunk of customers, stored gradings."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, inspect, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from app.db.changes import note_changed
from app.db.models import Contract, Customer, CustomerGrading, Payment, PaymentApplication, Receivable
from app.db.types import Money
from app.domain.contracts import TRADING_STATUSES

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class TradingRow:
    customer_id: uuid.UUID
    grade: str | None
    signed_amount: Decimal
    billed: Decimal
    paid: Decimal
    outstanding: Decimal
    first_signed_at: dt.datetime | None


class GradingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def trading_customer_ids(self, *, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
        """Customers that have ever signed a contract, in id order (keyset chunks)."""
        stmt = (
            select(Contract.customer_id)
            .join(Customer, Customer.id == Contract.customer_id)
            .where(Contract.status.in_(TRADING_STATUSES), Customer.deleted_at.is_(None))
            .group_by(Contract.customer_id)
            .order_by(Contract.customer_id)
            .limit(limit)
        )
        if after is not None:
            # Both sides, so the planner can start either index scan at the cursor.
            stmt = stmt.where(Contract.customer_id > after, Customer.id > after)
        return list((await self.session.scalars(stmt)).all())

    async def trading_facts(
        self, customer_ids: Sequence[uuid.UUID], *, since: dt.datetime, until: dt.datetime
    ) -> list[TradingRow]:
        """Signed, billed and paid in the window [since, until], what is still owed at its
        end, and the first signing date — four grouped queries for the whole chunk."""
        ids = list(customer_ids)
        if not ids:
            return []
        zero = literal(0, Money)

        # One pass over the customers' contracts; the window is a FILTER, not a WHERE, so the
        # plan stays an index lookup by customer whatever the (prepared) window values are.
        in_window = (Contract.signed_at >= since) & (Contract.signed_at <= until)
        signed, first = {}, {}
        for customer_id, amount, first_at in (
            await self.session.execute(
                select(
                    Contract.customer_id,
                    func.coalesce(func.sum(Contract.amount).filter(in_window), zero),
                    func.min(Contract.signed_at),
                )
                .where(Contract.customer_id.in_(ids), Contract.status.in_(TRADING_STATUSES))
                .group_by(Contract.customer_id)
            )
        ).all():
            signed[customer_id], first[customer_id] = amount, first_at
        billed = dict(
            (
                await self.session.execute(
                    select(Receivable.customer_id, func.coalesce(func.sum(Receivable.amount), zero))
                    .where(
                        Receivable.customer_id.in_(ids),
                        Receivable.issued_at >= since,
                        Receivable.issued_at <= until,
                    )
                    .group_by(Receivable.customer_id)
                )
            ).all()
        )
        paid = dict(
            (
                await self.session.execute(
                    select(Payment.customer_id, func.coalesce(func.sum(PaymentApplication.amount), zero))
                    .join(Payment, Payment.id == PaymentApplication.payment_id)
                    .where(
                        Payment.customer_id.in_(ids),
                        Payment.received_at >= since,
                        Payment.received_at <= until,
                    )
                    .group_by(Payment.customer_id)
                )
            ).all()
        )
        paid_by_end = (
            select(func.coalesce(func.sum(PaymentApplication.amount), zero))
            .join(Payment, Payment.id == PaymentApplication.payment_id)
            .where(PaymentApplication.receivable_id == Receivable.id, Payment.received_at <= until)
            .correlate(Receivable)
            .scalar_subquery()
        )
        outstanding = dict(
            (
                await self.session.execute(
                    select(
                        Receivable.customer_id, func.coalesce(func.sum(Receivable.amount - paid_by_end), zero)
                    )
                    .where(
                        Receivable.customer_id.in_(ids),
                        Receivable.issued_at <= until,
                        (Receivable.written_off_at.is_(None)) | (Receivable.written_off_at > until),
                    )
                    .group_by(Receivable.customer_id)
                )
            ).all()
        )
        grades = dict(
            (
                await self.session.execute(select(Customer.id, Customer.grade).where(Customer.id.in_(ids)))
            ).all()
        )
        return [
            TradingRow(
                customer_id=cid,
                grade=grades.get(cid),
                signed_amount=signed.get(cid, ZERO),
                billed=billed.get(cid, ZERO),
                paid=paid.get(cid, ZERO),
                outstanding=max(outstanding.get(cid, ZERO), ZERO),
                first_signed_at=first.get(cid),
            )
            for cid in ids
        ]

    async def latest(self, customer_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, CustomerGrading]:
        """The newest stored grading of each customer."""
        if not customer_ids:
            return {}
        newest = (
            select(CustomerGrading.customer_id, func.max(CustomerGrading.at).label("at"))
            .where(CustomerGrading.customer_id.in_(list(customer_ids)))
            .group_by(CustomerGrading.customer_id)
            .subquery()
        )
        rows = await self.session.scalars(
            select(CustomerGrading).join(
                newest,
                (newest.c.customer_id == CustomerGrading.customer_id) & (newest.c.at == CustomerGrading.at),
            )
        )
        return {g.customer_id: g for g in rows}

    async def history(self, customer_id: uuid.UUID, *, limit: int = 20) -> list[CustomerGrading]:
        stmt = (
            select(CustomerGrading)
            .where(CustomerGrading.customer_id == customer_id)
            .order_by(CustomerGrading.at.desc(), CustomerGrading.id.desc())
            .limit(limit)
        )
        return list((await self.session.scalars(stmt)).all())

    async def add_many(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            # Core insert: one batch, whatever mix of empty fields the rows have.
            await self.session.execute(CustomerGrading.__table__.insert(), list(rows))

    async def set_grades(self, grades: dict[uuid.UUID, str], *, now: dt.datetime) -> None:
        """Write new grades; the version moves so clients holding the old one see a change."""
        by_grade: dict[str, list[uuid.UUID]] = {}
        for customer_id, grade in grades.items():
            by_grade.setdefault(grade, []).append(customer_id)
        for grade, customer_ids in by_grade.items():
            await self.session.execute(
                update(Customer)
                .where(Customer.id.in_(customer_ids))
                .values(grade=grade, version=Customer.version + 1, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        note_changed(self.session, "customer", list(grades), event="customer.grade_changed")
        # Customers this session has already loaded show the rows just written.
        for customer_id, grade in grades.items():
            loaded = self.session.identity_map.get(identity_key(Customer, customer_id))
            if loaded is not None and "version" not in inspect(loaded).unloaded:
                set_committed_value(loaded, "grade", grade)
                set_committed_value(loaded, "version", loaded.version + 1)
                set_committed_value(loaded, "updated_at", now)

    async def recent_drop(self, customer_id: uuid.UUID, *, since: dt.datetime) -> bool:
        stmt = (
            select(CustomerGrading.id)
            .where(
                CustomerGrading.customer_id == customer_id,
                CustomerGrading.change == "down",
                CustomerGrading.at >= since,
            )
            .limit(1)
        )
        return await self.session.scalar(stmt) is not None

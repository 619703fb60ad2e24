"""Receivable and payment queries: scoped lookups and lists, open items to apply a payment
to, billing history, and the aging report's sums (done in SQL)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Select, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    Contract,
    CreditRefund,
    Customer,
    Payment,
    PaymentApplication,
    Receivable,
    Team,
    User,
)
from app.db.repositories.customers import customer_scope, scoped_by_customer
from app.db.repositories.pagination import Page, paginate
from app.db.types import Money
from app.domain.roles import Principal

ZERO = Decimal(0)


class ReceivableRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, record: Receivable | Payment | PaymentApplication | CreditRefund) -> None:
        self.session.add(record)

    async def get(self, receivable_id: uuid.UUID, *, principal: Principal) -> Receivable | None:
        """The receivable, if its customer is in the caller's scope."""
        stmt = scoped_by_customer(
            select(Receivable).where(Receivable.id == receivable_id), principal, Receivable.customer_id
        )
        return await self.session.scalar(stmt)

    async def get_unscoped(self, receivable_id: uuid.UUID, *, for_update: bool = False) -> Receivable | None:
        """The receivable whoever may see it: for a service that has already checked scope."""
        stmt = select(Receivable).where(Receivable.id == receivable_id)
        if for_update:
            stmt = stmt.with_for_update(of=Receivable, key_share=True)
        return await self.session.scalar(stmt)

    async def list(
        self,
        principal: Principal,
        *,
        customer_id: uuid.UUID | None,
        contract_id: uuid.UUID | None,
        status: Literal["open", "paid", "written_off"] | None,
        overdue_at: dt.datetime | None,
        updated_since: dt.datetime | None = None,
        cursor: str | None,
        limit: int,
    ) -> Page[Receivable]:
        stmt = self.filtered(
            principal,
            customer_id=customer_id,
            contract_id=contract_id,
            status=status,
            overdue_at=overdue_at,
            updated_since=updated_since,
        )
        return await paginate(
            self.session,
            stmt,
            sort="due_at",
            keys=[Receivable.due_at, Receivable.id],
            key_of=lambda r: [r.due_at, r.id],
            cursor=cursor,
            limit=limit,
        )

    def filtered(
        self,
        principal: Principal,
        *,
        customer_id: uuid.UUID | None,
        contract_id: uuid.UUID | None,
        status: Literal["open", "paid", "written_off"] | None,
        overdue_at: dt.datetime | None,
        updated_since: dt.datetime | None,
    ) -> Select[tuple[Receivable]]:
        """Receivables in the caller's scope matching the list filters (the list and the export)."""
        stmt = scoped_by_customer(select(Receivable), principal, Receivable.customer_id)
        if customer_id is not None:
            stmt = stmt.where(Receivable.customer_id == customer_id)
        if contract_id is not None:
            stmt = stmt.where(Receivable.contract_id == contract_id)
        outstanding = Receivable.amount - Receivable.paid_amount
        if status == "written_off":
            stmt = stmt.where(Receivable.written_off_at.is_not(None))
        elif status == "paid":
            stmt = stmt.where(Receivable.written_off_at.is_(None), outstanding <= 0)
        elif status == "open":
            stmt = stmt.where(Receivable.written_off_at.is_(None), outstanding > 0)
        if overdue_at is not None:
            stmt = stmt.where(
                Receivable.written_off_at.is_(None), outstanding > 0, Receivable.due_at < overdue_at
            )
        if updated_since is not None:
            stmt = stmt.where(Receivable.updated_at >= updated_since)
        return stmt

    async def open_of(self, customer_id: uuid.UUID) -> list[Receivable]:
        """Open items of a customer, oldest due first, locked for a payment to be applied."""
        stmt = (
            select(Receivable)
            .where(
                Receivable.customer_id == customer_id,
                Receivable.written_off_at.is_(None),
                Receivable.amount > Receivable.paid_amount,
            )
            .order_by(Receivable.due_at, Receivable.id)
            .with_for_update(key_share=True)
        )
        return list((await self.session.scalars(stmt)).all())

    async def credit_of(self, customer_id: uuid.UUID) -> list[Payment]:
        """Payments of which some credit balance is left, oldest first, locked to be used."""
        stmt = (
            select(Payment)
            .where(Payment.customer_id == customer_id, Payment.unallocated_amount > 0)
            .order_by(Payment.received_at, Payment.id)
            .with_for_update(key_share=True)
        )
        return list((await self.session.scalars(stmt)).all())

    async def next_positions(self, payment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        """The position the next application of each payment takes (0 if it has none)."""
        if not payment_ids:
            return {}
        stmt = (
            select(PaymentApplication.payment_id, func.max(PaymentApplication.position))
            .where(PaymentApplication.payment_id.in_(list(payment_ids)))
            .group_by(PaymentApplication.payment_id)
        )
        last = {pid: pos for pid, pos in (await self.session.execute(stmt)).all()}
        return {pid: (last[pid] + 1 if pid in last else 0) for pid in payment_ids}

    async def applications_to(self, receivable_ids: Sequence[uuid.UUID]) -> list[PaymentApplication]:
        """The money applied to each receivable, in the order it arrived (credit balance in
        the order it was used: the oldest payment first)."""
        if not receivable_ids:
            return []
        stmt = (
            select(PaymentApplication)
            .join(Payment, Payment.id == PaymentApplication.payment_id)
            .where(PaymentApplication.receivable_id.in_(list(receivable_ids)))
            .order_by(
                PaymentApplication.receivable_id,
                PaymentApplication.applied_at,
                Payment.received_at,
                Payment.id,
            )
        )
        return list((await self.session.scalars(stmt)).all())

    async def refunds_of(self, customer_id: uuid.UUID) -> list[CreditRefund]:
        stmt = (
            select(CreditRefund)
            .where(CreditRefund.customer_id == customer_id)
            .order_by(CreditRefund.refunded_at.desc(), CreditRefund.id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def list_payments(
        self,
        principal: Principal,
        *,
        customer_id: uuid.UUID | None,
        updated_since: dt.datetime | None = None,
        cursor: str | None,
        limit: int,
    ) -> Page[Payment]:
        stmt = self.payments_filtered(principal, customer_id=customer_id, updated_since=updated_since)
        return await paginate(
            self.session,
            stmt,
            sort="-received_at",
            keys=[Payment.received_at, Payment.id],
            key_of=lambda p: [p.received_at, p.id],
            cursor=cursor,
            limit=limit,
            direction="desc",
        )

    def payments_filtered(
        self, principal: Principal, *, customer_id: uuid.UUID | None, updated_since: dt.datetime | None
    ) -> Select[tuple[Payment]]:
        """Payments in the caller's scope matching the list filters (the list and the export).
        A payment never changes once recorded, so "changed since" is "recorded since"."""
        stmt = scoped_by_customer(select(Payment), principal, Payment.customer_id)
        if customer_id is not None:
            stmt = stmt.where(Payment.customer_id == customer_id)
        if updated_since is not None:
            stmt = stmt.where(Payment.created_at >= updated_since)
        return stmt

    async def get_payment(self, payment_id: uuid.UUID, *, principal: Principal) -> Payment | None:
        stmt = scoped_by_customer(
            select(Payment).where(Payment.id == payment_id), principal, Payment.customer_id
        )
        return await self.session.scalar(stmt)

    async def applications_of(self, payment_ids: Sequence[uuid.UUID]) -> list[PaymentApplication]:
        """How each payment was applied, in the order it was applied."""
        if not payment_ids:
            return []
        stmt = (
            select(PaymentApplication)
            .where(PaymentApplication.payment_id.in_(list(payment_ids)))
            .order_by(PaymentApplication.payment_id, PaymentApplication.position, PaymentApplication.id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def monthly_billed(
        self, customer_id: uuid.UUID, *, since: dt.datetime
    ) -> tuple[list[Decimal], Decimal, Decimal]:
        """Billed per issue month since ``since`` (oldest first), and billed and paid in total."""
        rows = (
            await self.session.execute(
                select(Receivable.issued_at, Receivable.amount, Receivable.paid_amount).where(
                    Receivable.customer_id == customer_id, Receivable.issued_at >= since
                )
            )
        ).all()
        months: dict[tuple[int, int], Decimal] = {}
        for issued_at, amount, _ in rows:
            key = (issued_at.year, issued_at.month)
            months[key] = months.get(key, ZERO) + amount
        return (
            [months[k] for k in sorted(months)],
            sum((r.amount for r in rows), ZERO),
            sum((r.paid_amount for r in rows), ZERO),
        )

    def _open_at(
        self,
        principal: Principal,
        *,
        as_of: dt.datetime,
        bucket_edges: Sequence[tuple[str, dt.datetime | None]],
    ) -> tuple[Select[Any], Any, Any]:
        """Receivables in scope still owed at ``as_of``, with their aging bucket.

        Outstanding at a past date adds back money applied after it and counts
        receivables written off after it as still open. ``bucket_edges`` are (bucket, the
        earliest due date still in it) from the youngest bucket to the oldest (None = any).
        Answers the select (from receivable joined to customer) and the outstanding and
        bucket expressions, for the caller to group.
        """
        paid_by_then = (
            select(func.coalesce(func.sum(PaymentApplication.amount), literal(0, Money)))
            .where(PaymentApplication.receivable_id == Receivable.id, PaymentApplication.applied_at <= as_of)
            .correlate(Receivable)
            .scalar_subquery()
        )
        outstanding = Receivable.amount - paid_by_then
        bucket = case(
            *[(Receivable.due_at >= edge, literal(name)) for name, edge in bucket_edges if edge is not None],
            else_=literal(bucket_edges[-1][0]),
        )
        stmt = (
            select()
            .select_from(Receivable)
            .join(Customer, Customer.id == Receivable.customer_id)
            .where(
                Receivable.issued_at <= as_of,
                (Receivable.written_off_at.is_(None)) | (Receivable.written_off_at > as_of),
                outstanding > 0,
            )
        )
        scope = customer_scope(principal)
        if scope is not None:
            stmt = stmt.where(scope)
        return stmt, outstanding, bucket

    async def aging_rows(
        self,
        principal: Principal,
        *,
        as_of: dt.datetime,
        bucket_edges: Sequence[tuple[str, dt.datetime | None]],
        group_by: Literal["customer", "owner", "team"],
    ) -> list[tuple[Any, str | None, str, Decimal]]:
        """Outstanding at ``as_of`` per group and aging bucket, computed in SQL."""
        base, outstanding, bucket = self._open_at(principal, as_of=as_of, bucket_edges=bucket_edges)
        if group_by == "customer":
            key, label = Customer.id, Customer.name
        elif group_by == "owner":
            key, label = Customer.owner_id, User.full_name
        else:
            key, label = Customer.team_id, Team.name
        stmt = base.add_columns(key, label, bucket.label("bucket"), func.sum(outstanding))
        if group_by == "owner":
            stmt = stmt.outerjoin(User, User.id == Customer.owner_id)
        elif group_by == "team":
            stmt = stmt.outerjoin(Team, Team.id == Customer.team_id)
        stmt = stmt.group_by(key, label, bucket)
        return [
            (k, name, b, Decimal(total or 0))
            for k, name, b, total in (await self.session.execute(stmt)).all()
        ]

    async def aging_bucket_totals(
        self,
        principal: Principal,
        *,
        as_of: dt.datetime,
        bucket_edges: Sequence[tuple[str, dt.datetime | None]],
    ) -> dict[str, Decimal]:
        """Outstanding at ``as_of`` per aging bucket over every receivable in scope, in SQL."""
        base, outstanding, bucket = self._open_at(principal, as_of=as_of, bucket_edges=bucket_edges)
        rows = base.add_columns(bucket.label("bucket"), outstanding.label("outstanding")).subquery()
        stmt = select(rows.c.bucket, func.sum(rows.c.outstanding)).group_by(rows.c.bucket)
        return {b: Decimal(total or 0) for b, total in (await self.session.execute(stmt)).all()}

    async def outstanding_at(
        self, principal: Principal, customer_id: uuid.UUID, *, as_of: dt.datetime
    ) -> Decimal:
        """What the customer owed at ``as_of``, exactly as AR aging counts it."""
        base, outstanding, _ = self._open_at(principal, as_of=as_of, bucket_edges=[("all", None)])
        rows = (
            base.add_columns(outstanding.label("outstanding"))
            .where(Receivable.customer_id == customer_id)
            .subquery()
        )
        total = await self.session.scalar(
            select(func.coalesce(func.sum(rows.c.outstanding), literal(0, Money)))
        )
        return Decimal(total or 0)

    async def credit_balance_at(self, customer_id: uuid.UUID, *, as_of: dt.datetime) -> Decimal:
        """The customer's credit balance at ``as_of``: received − applied − refunded by then."""
        received = await self.session.scalar(
            select(func.coalesce(func.sum(Payment.amount), literal(0, Money))).where(
                Payment.customer_id == customer_id, Payment.received_at <= as_of
            )
        )
        applied = await self.session.scalar(
            select(func.coalesce(func.sum(PaymentApplication.amount), literal(0, Money)))
            .join(Payment, Payment.id == PaymentApplication.payment_id)
            .where(Payment.customer_id == customer_id, PaymentApplication.applied_at <= as_of)
        )
        refunded = await self.session.scalar(
            select(func.coalesce(func.sum(CreditRefund.amount), literal(0, Money))).where(
                CreditRefund.customer_id == customer_id, CreditRefund.refunded_at <= as_of
            )
        )
        return Decimal(received or 0) - Decimal(applied or 0) - Decimal(refunded or 0)

    async def statement_facts(
        self, customer_id: uuid.UUID, *, start: dt.datetime, end: dt.datetime
    ) -> tuple[list[tuple[Receivable, str]], list[Payment], list[tuple[PaymentApplication, Payment, str]]]:
        """For a statement: receivables issued or written off in [start, end] with their
        contract number, payments received in it, and money applied in it (with its payment
        and the receivable's contract number)."""
        receivables = (
            await self.session.execute(
                select(Receivable, Contract.number)
                .join(Contract, Contract.id == Receivable.contract_id)
                .where(
                    Receivable.customer_id == customer_id,
                    ((Receivable.issued_at >= start) & (Receivable.issued_at <= end))
                    | ((Receivable.written_off_at >= start) & (Receivable.written_off_at <= end)),
                )
            )
        ).all()
        payments = (
            await self.session.scalars(
                select(Payment).where(
                    Payment.customer_id == customer_id,
                    Payment.received_at >= start,
                    Payment.received_at <= end,
                )
            )
        ).all()
        applications = (
            await self.session.execute(
                select(PaymentApplication, Payment, Contract.number)
                .join(Payment, Payment.id == PaymentApplication.payment_id)
                .join(Receivable, Receivable.id == PaymentApplication.receivable_id)
                .join(Contract, Contract.id == Receivable.contract_id)
                .where(
                    Payment.customer_id == customer_id,
                    PaymentApplication.applied_at >= start,
                    PaymentApplication.applied_at <= end,
                )
            )
        ).all()
        return ([(r, n) for r, n in receivables], list(payments), [(a, p, n) for a, p, n in applications])

    async def written_off_total(self, principal: Principal, *, as_of: dt.datetime) -> Decimal:
        outstanding = Receivable.amount - Receivable.paid_amount
        stmt = (
            select(func.coalesce(func.sum(outstanding), literal(0, Money)))
            .select_from(Receivable)
            .join(Customer, Customer.id == Receivable.customer_id)
            .where(Receivable.written_off_at.is_not(None), Receivable.written_off_at <= as_of)
        )
        scope = customer_scope(principal)
        if scope is not None:
            stmt = stmt.where(scope)
        return Decimal(await self.session.scalar(stmt) or 0)


__all__ = ["ReceivableRepository"]

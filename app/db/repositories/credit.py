"""Contracts, receivables, payments and credit queries; money sums are done in SQL."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Select, case, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    Contract,
    CreditLimitChange,
    CreditLimitRequest,
    CreditProfile,
    Customer,
    Payment,
    PaymentAllocation,
    Receivable,
    Team,
    User,
)
from app.db.repositories.customers import customer_scope
from app.db.repositories.pagination import Page, paginate
from app.db.types import Money
from app.domain.roles import Principal

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class ExposureFacts:
    open_receivables: Decimal
    signed_unbilled: Decimal
    oldest_overdue_due_at: dt.datetime | None
    overdue_count: int
    credit_balance: Decimal


@dataclass(frozen=True, slots=True)
class ContractFacts:
    has_signed_contract: bool
    contract_cancelled: bool
    contract_fully_paid: bool
    acceptance_recorded: bool


class CreditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _scoped(self, stmt: Select[Any], principal: Principal, customer_column: Any) -> Select[Any]:
        scope = customer_scope(principal)
        if scope is None:
            return stmt
        return stmt.join(Customer, Customer.id == customer_column).where(scope)

    async def _newest_first(
        self, stmt: Select[Any], model: Any, *, cursor: str | None, limit: int
    ) -> Page[Any]:
        return await paginate(
            self.session,
            stmt,
            sort="-created_at",
            keys=[model.created_at, model.id],
            key_of=lambda row: [row.created_at, row.id],
            cursor=cursor,
            limit=limit,
            direction="desc",
        )

    # --- credit profile ------------------------------------------------------------------------

    async def lock_profile(
        self, customer_id: uuid.UUID, *, default_limit: Decimal, default_terms: int
    ) -> CreditProfile:
        """The customer's credit row, created on first use, locked until the transaction ends."""
        values = {
            "customer_id": customer_id,
            "credit_limit": default_limit,
            "payment_terms_days": default_terms,
            "version": 1,
        }
        insert = pg_insert if self.session.bind.dialect.name == "postgresql" else sqlite_insert  # type: ignore[union-attr]
        await self.session.execute(
            insert(CreditProfile).values(**values).on_conflict_do_nothing(index_elements=["customer_id"])
        )
        stmt = (
            select(CreditProfile)
            .where(CreditProfile.customer_id == customer_id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(stmt)).one()

    async def profile(self, customer_id: uuid.UUID) -> CreditProfile | None:
        return await self.session.get(CreditProfile, customer_id)

    async def exposure(self, customer_id: uuid.UUID, *, now: dt.datetime) -> ExposureFacts:
        outstanding = Receivable.amount - Receivable.paid_amount
        open_rows = (
            Receivable.customer_id == customer_id,
            Receivable.written_off_at.is_(None),
            outstanding > 0,
        )
        open_total, oldest_due, overdue = (
            await self.session.execute(
                select(
                    func.coalesce(func.sum(outstanding), literal(0, Money)),
                    func.min(case((Receivable.due_at < now, Receivable.due_at))),
                    func.count(case((Receivable.due_at < now, Receivable.id))),
                ).where(*open_rows)
            )
        ).one()
        billed = (
            select(func.coalesce(func.sum(Receivable.amount), literal(0, Money)))
            .where(Receivable.contract_id == Contract.id)
            .correlate(Contract)
            .scalar_subquery()
        )
        unbilled = await self.session.scalar(
            select(func.coalesce(func.sum(Contract.amount - billed), literal(0, Money))).where(
                Contract.customer_id == customer_id, Contract.status == "signed"
            )
        )
        balance = await self.session.scalar(
            select(func.coalesce(func.sum(Payment.unallocated_amount), literal(0, Money))).where(
                Payment.customer_id == customer_id
            )
        )
        return ExposureFacts(
            open_receivables=Decimal(open_total or 0),
            signed_unbilled=Decimal(unbilled or 0),
            oldest_overdue_due_at=oldest_due,
            overdue_count=int(overdue or 0),
            credit_balance=Decimal(balance or 0),
        )

    # --- contracts ----------------------------------------------------------------------------

    def add(self, record: Any) -> None:
        self.session.add(record)

    async def contract(
        self, contract_id: uuid.UUID, *, principal: Principal | None = None, for_update: bool = False
    ) -> Contract | None:
        stmt = select(Contract).where(Contract.id == contract_id)
        if principal is not None:
            stmt = self._scoped(stmt, principal, Contract.customer_id)
        if for_update:
            # Re-read under the lock: an earlier unlocked read may sit in the session.
            stmt = stmt.with_for_update(of=Contract, key_share=True).execution_options(populate_existing=True)
        return await self.session.scalar(stmt)

    async def number_taken(self, number: str, *, exclude: uuid.UUID | None = None) -> bool:
        stmt = select(Contract.id).where(Contract.number == number)
        if exclude is not None:
            stmt = stmt.where(Contract.id != exclude)
        return await self.session.scalar(stmt.limit(1)) is not None

    async def contracts(
        self,
        principal: Principal,
        *,
        customer_id: uuid.UUID | None,
        status: str | None,
        cursor: str | None,
        limit: int,
    ) -> Page[Contract]:
        stmt = self._scoped(select(Contract), principal, Contract.customer_id)
        if customer_id is not None:
            stmt = stmt.where(Contract.customer_id == customer_id)
        if status is not None:
            stmt = stmt.where(Contract.status == status)
        return await self._newest_first(stmt, Contract, cursor=cursor, limit=limit)

    async def billed(self, contract_id: uuid.UUID) -> Decimal:
        total = await self.session.scalar(
            select(func.coalesce(func.sum(Receivable.amount), literal(0, Money))).where(
                Receivable.contract_id == contract_id
            )
        )
        return Decimal(total or 0)

    async def paid(self, contract_id: uuid.UUID) -> Decimal:
        total = await self.session.scalar(
            select(func.coalesce(func.sum(Receivable.paid_amount), literal(0, Money))).where(
                Receivable.contract_id == contract_id
            )
        )
        return Decimal(total or 0)

    async def contract_facts(self, customer_id: uuid.UUID) -> ContractFacts:
        """What the funnel's signed/implemented entry conditions need to know.

        `implemented` needs one contract both fully paid and accepted; when none is, the
        facts name what the most advanced contract still lacks.
        """
        rows = (
            await self.session.execute(
                select(
                    Contract.id, Contract.status, Contract.amount, Contract.accepted_at, Contract.signed_at
                ).where(Contract.customer_id == customer_id)
            )
        ).all()
        live = [r for r in rows if r.status in ("signed", "completed")]
        states = [(await self.paid(r.id) >= r.amount, r.accepted_at is not None) for r in live]
        if (True, True) in states:
            fully_paid = accepted = True
        else:
            fully_paid = any(paid for paid, _ in states)
            # Paid on one contract and accepted on another is not an implementation.
            accepted = not fully_paid and any(done for _, done in states)
        return ContractFacts(
            has_signed_contract=bool(live),
            contract_cancelled=not live and any(r.status == "cancelled" and r.signed_at for r in rows),
            contract_fully_paid=fully_paid,
            acceptance_recorded=accepted,
        )

    async def signed_contracts_of(self, customer_id: uuid.UUID) -> list[Contract]:
        stmt = select(Contract).where(Contract.customer_id == customer_id, Contract.status == "signed")
        return list((await self.session.scalars(stmt)).all())

    async def signed_amounts(
        self, owner_ids: Sequence[uuid.UUID], *, since: dt.datetime
    ) -> dict[uuid.UUID, Decimal]:
        """Amount signed per owner in the window (cancelled contracts do not count)."""
        if not owner_ids:
            return {}
        stmt = (
            select(Contract.owner_id, func.sum(Contract.amount))
            .where(
                Contract.owner_id.in_(list(owner_ids)),
                Contract.signed_at >= since,
                Contract.status.in_(("signed", "completed")),
            )
            .group_by(Contract.owner_id)
        )
        return {owner: Decimal(total or 0) for owner, total in (await self.session.execute(stmt)).all()}

    # --- receivables and payments ---------------------------------------------------------------

    async def receivable(
        self, receivable_id: uuid.UUID, *, principal: Principal | None = None, for_update: bool = False
    ) -> Receivable | None:
        stmt = select(Receivable).where(Receivable.id == receivable_id)
        if principal is not None:
            stmt = self._scoped(stmt, principal, Receivable.customer_id)
        if for_update:
            stmt = stmt.with_for_update(of=Receivable, key_share=True)
        return await self.session.scalar(stmt)

    async def receivables(
        self,
        principal: Principal,
        *,
        customer_id: uuid.UUID | None,
        contract_id: uuid.UUID | None,
        status: Literal["open", "paid", "written_off"] | None,
        overdue_at: dt.datetime | None,
        cursor: str | None,
        limit: int,
    ) -> Page[Receivable]:
        stmt = self._scoped(select(Receivable), principal, Receivable.customer_id)
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
        return await paginate(
            self.session,
            stmt,
            sort="due_at",
            keys=[Receivable.due_at, Receivable.id],
            key_of=lambda r: [r.due_at, r.id],
            cursor=cursor,
            limit=limit,
        )

    async def open_receivables(self, customer_id: uuid.UUID) -> list[Receivable]:
        """Open items of a customer, oldest due first, locked for allocation."""
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

    async def payments(
        self, principal: Principal, *, customer_id: uuid.UUID | None, cursor: str | None, limit: int
    ) -> Page[Payment]:
        stmt = self._scoped(select(Payment), principal, Payment.customer_id)
        if customer_id is not None:
            stmt = stmt.where(Payment.customer_id == customer_id)
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

    async def payment(self, payment_id: uuid.UUID, *, principal: Principal) -> Payment | None:
        stmt = self._scoped(select(Payment).where(Payment.id == payment_id), principal, Payment.customer_id)
        return await self.session.scalar(stmt)

    async def allocations_of(self, payment_ids: Sequence[uuid.UUID]) -> list[PaymentAllocation]:
        if not payment_ids:
            return []
        stmt = (
            select(PaymentAllocation)
            .where(PaymentAllocation.payment_id.in_(list(payment_ids)))
            .order_by(PaymentAllocation.payment_id, PaymentAllocation.position, PaymentAllocation.id)
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

    # --- credit limits --------------------------------------------------------------------------

    async def limit_request(
        self, request_id: uuid.UUID, *, principal: Principal, for_update: bool = False
    ) -> CreditLimitRequest | None:
        stmt = self._scoped(
            select(CreditLimitRequest).where(CreditLimitRequest.id == request_id),
            principal,
            CreditLimitRequest.customer_id,
        )
        if for_update:
            # Re-read under the lock: an earlier unlocked read may sit in the session.
            stmt = stmt.with_for_update(of=CreditLimitRequest, key_share=True).execution_options(
                populate_existing=True
            )
        return await self.session.scalar(stmt)

    async def limit_requests(
        self,
        principal: Principal,
        *,
        status: str | None,
        customer_id: uuid.UUID | None,
        cursor: str | None,
        limit: int,
    ) -> Page[CreditLimitRequest]:
        stmt = self._scoped(select(CreditLimitRequest), principal, CreditLimitRequest.customer_id)
        if status is not None:
            stmt = stmt.where(CreditLimitRequest.status == status)
        if customer_id is not None:
            stmt = stmt.where(CreditLimitRequest.customer_id == customer_id)
        return await self._newest_first(stmt, CreditLimitRequest, cursor=cursor, limit=limit)

    async def limit_changes(self, customer_id: uuid.UUID) -> list[CreditLimitChange]:
        stmt = (
            select(CreditLimitChange)
            .where(CreditLimitChange.customer_id == customer_id)
            .order_by(CreditLimitChange.at.desc(), CreditLimitChange.id)
        )
        return list((await self.session.scalars(stmt)).all())

    # --- reports --------------------------------------------------------------------------------

    def _open_at(
        self,
        principal: Principal,
        *,
        as_of: dt.datetime,
        bucket_edges: Sequence[tuple[str, dt.datetime | None]],
    ) -> tuple[Select[Any], Any, Any]:
        """Receivables in scope still owed at ``as_of``, with their aging bucket.

        Outstanding at a past date adds back payments received after it and counts
        receivables written off after it as still open. ``bucket_edges`` are (bucket, the
        earliest due date still in it) from the youngest bucket to the oldest (None = any).
        Answers the select (from receivable joined to customer) and the outstanding and
        bucket expressions, for the caller to group.
        """
        paid_by_then = (
            select(func.coalesce(func.sum(PaymentAllocation.amount), literal(0, Money)))
            .join(Payment, Payment.id == PaymentAllocation.payment_id)
            .where(PaymentAllocation.receivable_id == Receivable.id, Payment.received_at <= as_of)
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

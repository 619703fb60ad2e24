"""Credit queries: the customer's credit row, exposure (summed in SQL), and limit requests
and changes."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import case, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Contract, CreditLimitChange, CreditLimitRequest, CreditProfile, Payment, Receivable
from app.db.repositories.customers import scoped_by_customer
from app.db.repositories.pagination import Page, newest_first
from app.db.types import Money
from app.domain.contracts import ContractStatus
from app.domain.roles import Principal


@dataclass(frozen=True, slots=True)
class ExposureFacts:
    open_receivables: Decimal
    signed_unbilled: Decimal
    oldest_overdue_due_at: dt.datetime | None
    overdue_count: int
    credit_balance: Decimal


class CreditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, record: CreditLimitRequest | CreditLimitChange) -> None:
        self.session.add(record)

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

    async def exposure(self, customer_id: uuid.UUID, *, overdue_before: dt.datetime) -> ExposureFacts:
        """Sums for the credit check; a receivable due before ``overdue_before`` (the start
        of today in the business time zone, ``domain.credit.overdue_before``) is overdue."""
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
                    func.min(case((Receivable.due_at < overdue_before, Receivable.due_at))),
                    func.count(case((Receivable.due_at < overdue_before, Receivable.id))),
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
                Contract.customer_id == customer_id, Contract.status == ContractStatus.signed
            )
        )
        balance = await self.session.scalar(
            select(func.coalesce(func.sum(Payment.unallocated_amount), literal(0, Money))).where(
                Payment.customer_id == customer_id, Payment.unallocated_amount > 0
            )
        )
        return ExposureFacts(
            open_receivables=Decimal(open_total or 0),
            signed_unbilled=Decimal(unbilled or 0),
            oldest_overdue_due_at=oldest_due,
            overdue_count=int(overdue or 0),
            credit_balance=Decimal(balance or 0),
        )

    async def limit_request(
        self, request_id: uuid.UUID, *, principal: Principal, for_update: bool = False
    ) -> CreditLimitRequest | None:
        stmt = scoped_by_customer(
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
        stmt = scoped_by_customer(select(CreditLimitRequest), principal, CreditLimitRequest.customer_id)
        if status is not None:
            stmt = stmt.where(CreditLimitRequest.status == status)
        if customer_id is not None:
            stmt = stmt.where(CreditLimitRequest.customer_id == customer_id)
        return await newest_first(self.session, stmt, CreditLimitRequest, cursor=cursor, limit=limit)

    async def limit_changes(self, customer_id: uuid.UUID) -> list[CreditLimitChange]:
        stmt = (
            select(CreditLimitChange)
            .where(CreditLimitChange.customer_id == customer_id)
            .order_by(CreditLimitChange.at.desc(), CreditLimitChange.id)
        )
        return list((await self.session.scalars(stmt)).all())


__all__ = ["CreditRepository", "ExposureFacts"]

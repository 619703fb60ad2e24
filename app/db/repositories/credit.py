"""Credit queries: the customer's credit row, exposure (summed in SQL), and limit requests
and changes."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import case, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    Contract,
    CreditLimitChange,
    CreditLimitRequest,
    CreditOverrideRequest,
    CreditProfile,
    Payment,
    Receivable,
)
from app.db.repositories.customers import scoped_by_customer
from app.db.repositories.pagination import Page, newest_first
from app.db.types import Money
from app.domain.contracts import ContractStatus
from app.domain.roles import Principal

Request = TypeVar("Request", CreditLimitRequest, CreditOverrideRequest)


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

    def add(self, record: CreditLimitRequest | CreditLimitChange | CreditOverrideRequest) -> None:
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

    async def _request(
        self, model: type[Request], request_id: uuid.UUID, *, principal: Principal, for_update: bool
    ) -> Request | None:
        stmt = scoped_by_customer(select(model).where(model.id == request_id), principal, model.customer_id)
        if for_update:
            # Re-read under the lock: an earlier unlocked read may sit in the session.
            stmt = stmt.with_for_update(of=model, key_share=True).execution_options(populate_existing=True)
        return await self.session.scalar(stmt)

    async def _requests(
        self,
        model: type[Request],
        principal: Principal,
        *,
        status: str | None,
        customer_id: uuid.UUID | None,
        cursor: str | None,
        limit: int,
    ) -> Page[Request]:
        stmt = scoped_by_customer(select(model), principal, model.customer_id)
        if status is not None:
            stmt = stmt.where(model.status == status)
        if customer_id is not None:
            stmt = stmt.where(model.customer_id == customer_id)
        return await newest_first(self.session, stmt, model, cursor=cursor, limit=limit)

    async def limit_request(
        self, request_id: uuid.UUID, *, principal: Principal, for_update: bool = False
    ) -> CreditLimitRequest | None:
        return await self._request(CreditLimitRequest, request_id, principal=principal, for_update=for_update)

    async def limit_requests(
        self,
        principal: Principal,
        *,
        status: str | None,
        customer_id: uuid.UUID | None,
        cursor: str | None,
        limit: int,
    ) -> Page[CreditLimitRequest]:
        return await self._requests(
            CreditLimitRequest, principal, status=status, customer_id=customer_id, cursor=cursor, limit=limit
        )

    async def override_request(
        self, request_id: uuid.UUID, *, principal: Principal, for_update: bool = False
    ) -> CreditOverrideRequest | None:
        return await self._request(
            CreditOverrideRequest, request_id, principal=principal, for_update=for_update
        )

    async def override_requests(
        self,
        principal: Principal,
        *,
        status: str | None,
        customer_id: uuid.UUID | None,
        cursor: str | None,
        limit: int,
    ) -> Page[CreditOverrideRequest]:
        return await self._requests(
            CreditOverrideRequest,
            principal,
            status=status,
            customer_id=customer_id,
            cursor=cursor,
            limit=limit,
        )

    async def approved_override_for(self, contract_id: uuid.UUID) -> CreditOverrideRequest | None:
        """The contract's approved, unused override request (the newest), locked to be used."""
        stmt = (
            select(CreditOverrideRequest)
            .where(
                CreditOverrideRequest.contract_id == contract_id, CreditOverrideRequest.status == "approved"
            )
            .order_by(CreditOverrideRequest.decided_at.desc(), CreditOverrideRequest.id)
            .limit(1)
            .with_for_update(key_share=True)
        )
        return await self.session.scalar(stmt)

    async def limit_changes(self, customer_id: uuid.UUID) -> list[CreditLimitChange]:
        stmt = (
            select(CreditLimitChange)
            .where(CreditLimitChange.customer_id == customer_id)
            .order_by(CreditLimitChange.at.desc(), CreditLimitChange.id)
        )
        return list((await self.session.scalars(stmt)).all())


__all__ = ["CreditRepository", "ExposureFacts"]

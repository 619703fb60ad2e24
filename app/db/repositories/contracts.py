"""Contract queries: scoped lookups and lists, numbers, what is billed and paid on a
contract, the facts the funnel needs, and amounts signed per owner."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Contract, Customer, Receivable
from app.db.repositories.customers import customer_scope, scoped_by_customer
from app.db.repositories.pagination import Page, newest_first
from app.db.types import Money
from app.domain.contracts import TRADING_STATUSES, ContractStatus
from app.domain.roles import Principal


@dataclass(frozen=True, slots=True)
class ContractFacts:
    has_signed_contract: bool
    contract_cancelled: bool
    contract_fully_paid: bool
    acceptance_recorded: bool


class ContractRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, contract: Contract) -> None:
        self.session.add(contract)

    async def get(self, contract_id: uuid.UUID, *, principal: Principal) -> Contract | None:
        """The contract, if its customer is in the caller's scope."""
        stmt = scoped_by_customer(
            select(Contract).where(Contract.id == contract_id), principal, Contract.customer_id
        )
        return await self.session.scalar(stmt)

    async def get_unscoped(self, contract_id: uuid.UUID, *, for_update: bool = False) -> Contract | None:
        """The contract whoever may see it: for a service that has already checked scope."""
        stmt = select(Contract).where(Contract.id == contract_id)
        if for_update:
            # Re-read under the lock: an earlier unlocked read may sit in the session.
            stmt = stmt.with_for_update(of=Contract, key_share=True).execution_options(populate_existing=True)
        return await self.session.scalar(stmt)

    async def number_taken(self, number: str, *, exclude: uuid.UUID | None = None) -> bool:
        stmt = select(Contract.id).where(Contract.number == number)
        if exclude is not None:
            stmt = stmt.where(Contract.id != exclude)
        return await self.session.scalar(stmt.limit(1)) is not None

    async def list(
        self,
        principal: Principal,
        *,
        customer_id: uuid.UUID | None,
        status: ContractStatus | None,
        updated_since: dt.datetime | None = None,
        cursor: str | None,
        limit: int,
    ) -> Page[Contract]:
        stmt = self.filtered(principal, customer_id=customer_id, status=status, updated_since=updated_since)
        return await newest_first(self.session, stmt, Contract, cursor=cursor, limit=limit)

    def filtered(
        self,
        principal: Principal,
        *,
        customer_id: uuid.UUID | None,
        status: ContractStatus | None,
        updated_since: dt.datetime | None,
    ) -> Select[tuple[Contract]]:
        """Contracts in the caller's scope matching the list filters (the list and the export)."""
        stmt = scoped_by_customer(select(Contract), principal, Contract.customer_id)
        if customer_id is not None:
            stmt = stmt.where(Contract.customer_id == customer_id)
        if status is not None:
            stmt = stmt.where(Contract.status == status)
        if updated_since is not None:
            stmt = stmt.where(Contract.updated_at >= updated_since)
        return stmt

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

    async def facts(self, customer_id: uuid.UUID) -> ContractFacts:
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
        live = [r for r in rows if r.status in TRADING_STATUSES]
        states = [(await self.paid(r.id) >= r.amount, r.accepted_at is not None) for r in live]
        if (True, True) in states:
            fully_paid = accepted = True
        else:
            fully_paid = any(paid for paid, _ in states)
            # Paid on one contract and accepted on another is not an implementation.
            accepted = not fully_paid and any(done for _, done in states)
        return ContractFacts(
            has_signed_contract=bool(live),
            contract_cancelled=not live
            and any(r.status == ContractStatus.cancelled and r.signed_at for r in rows),
            contract_fully_paid=fully_paid,
            acceptance_recorded=accepted,
        )

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
                Contract.status.in_(TRADING_STATUSES),
            )
            .group_by(Contract.owner_id)
        )
        return {owner: Decimal(total or 0) for owner, total in (await self.session.execute(stmt)).all()}

    def _with_service_periods(self) -> Select[Any]:
        with_period = select(Contract.customer_id).where(
            Contract.service_end.is_not(None), Contract.status.in_(list(TRADING_STATUSES))
        )
        return (
            select(Contract, Customer)
            .join(Customer, Customer.id == Contract.customer_id)
            .where(
                Contract.status.in_(list(TRADING_STATUSES)),
                Contract.customer_id.in_(with_period),
                Customer.deleted_at.is_(None),
            )
        )

    async def with_service_periods(self, principal: Principal) -> list[tuple[Contract, Customer]]:
        """Trading contracts of the customers in scope that have at least one trading
        contract with a service period, with their customer: what renewals are judged on."""
        stmt = self._with_service_periods()
        scope = customer_scope(principal)
        if scope is not None:
            stmt = stmt.where(scope)
        return [(c, cu) for c, cu in (await self.session.execute(stmt)).all()]

    async def with_service_periods_unscoped(
        self, customer_ids: Sequence[uuid.UUID]
    ) -> list[tuple[Contract, Customer]]:
        """The same for the given customers, whoever may see them (a handover)."""
        stmt = self._with_service_periods().where(Contract.customer_id.in_(list(customer_ids)))
        return [(c, cu) for c, cu in (await self.session.execute(stmt)).all()]

    async def with_service_periods_owned_by(
        self, owner_ids: Sequence[uuid.UUID]
    ) -> list[tuple[Contract, Customer]]:
        """The same for the customers these reps own now (the performance report, whose
        scope is the reps it lists)."""
        if not owner_ids:
            return []
        stmt = self._with_service_periods().where(Customer.owner_id.in_(list(owner_ids)))
        return [(c, cu) for c, cu in (await self.session.execute(stmt)).all()]


__all__ = ["ContractFacts", "ContractRepository"]

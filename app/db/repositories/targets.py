"""Sales targets and the actuals they are tracked against (contracts signed, payments)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from decimal import Decimal

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Contract, Customer, Payment, Target
from app.db.repositories.pagination import Page, paginate
from app.db.repositories.reports import SIGNED_BUSINESS
from app.domain.roles import Principal, Scope


class TargetRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def visible_to(self, principal: Principal) -> Select[tuple[Target]]:
        """Everything for all-scope roles; a manager's team trees; a rep's own targets."""
        stmt = select(Target)
        if principal.scope is Scope.team:
            stmt = stmt.where(Target.team_id.in_(list(principal.team_ids)))
        elif principal.scope is Scope.own:
            stmt = stmt.where(Target.owner_id == principal.user_id)
        return stmt

    async def get(
        self, target_id: uuid.UUID, *, principal: Principal, for_update: bool = False
    ) -> Target | None:
        stmt = self.visible_to(principal).where(Target.id == target_id)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def by_key(self, key: str) -> Target | None:
        return await self.session.scalar(select(Target).where(Target.subject_key == key))

    async def list(
        self, principal: Principal, *, period: str | None, level: str | None, cursor: str | None, limit: int
    ) -> Page[Target]:
        stmt = self.visible_to(principal)
        if period is not None:
            stmt = stmt.where(Target.period == period)
        if level is not None:
            stmt = stmt.where(Target.level == level)
        return await paginate(
            self.session,
            stmt,
            sort="id",
            keys=[Target.id],
            key_of=lambda t: [t.id],
            cursor=cursor,
            limit=limit,
        )

    async def in_period(self, principal: Principal, period: str) -> list[Target]:
        stmt = self.visible_to(principal).where(Target.period == period).order_by(Target.id)
        return list((await self.session.scalars(stmt)).all())

    async def children_sums(
        self, parent_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[Decimal, Decimal, int]]:
        """Per parent: the children's signed and collected amounts and how many they are."""
        if not parent_ids:
            return {}
        stmt = (
            select(
                Target.parent_id,
                func.sum(Target.signed_amount),
                func.sum(Target.collected_amount),
                func.count(),
            )
            .where(Target.parent_id.in_(list(parent_ids)))
            .group_by(Target.parent_id)
        )
        return {
            parent: (Decimal(signed or 0), Decimal(collected or 0), int(n))
            for parent, signed, collected, n in await self.session.execute(stmt)
        }

    def add(self, target: Target) -> None:
        self.session.add(target)

    async def delete(self, target: Target) -> None:
        await self.session.delete(target)

    async def actual_signed(
        self,
        start: dt.datetime,
        end: dt.datetime,
        *,
        owner_id: uuid.UUID | None,
        team_ids: Collection[uuid.UUID] | None,
        region: str | None,
    ) -> Decimal:
        """Contracts signed in ``[start, end)`` (not cancelled), credited to the owner and
        team of the customer when it was signed (stored on the contract)."""
        stmt = select(func.sum(Contract.amount)).where(
            Contract.status.in_(SIGNED_BUSINESS), Contract.signed_at >= start, Contract.signed_at < end
        )
        if owner_id is not None:
            stmt = stmt.where(Contract.owner_id == owner_id)
        if team_ids is not None:
            stmt = stmt.where(Contract.team_id.in_(list(team_ids)))
        if region is not None:
            stmt = stmt.join(Customer, Customer.id == Contract.customer_id).where(Customer.region == region)
        return Decimal(await self.session.scalar(stmt) or 0).quantize(Decimal("0.01"))

    async def actual_collected(
        self,
        start: dt.datetime,
        end: dt.datetime,
        *,
        owner_id: uuid.UUID | None,
        team_ids: Collection[uuid.UUID] | None,
        region: str | None,
    ) -> Decimal:
        """Payments received in ``[start, end)``, credited to the customer's owner and team."""
        stmt = (
            select(func.sum(Payment.amount))
            .join(Customer, Customer.id == Payment.customer_id)
            .where(Payment.received_at >= start, Payment.received_at < end)
        )
        if owner_id is not None:
            stmt = stmt.where(Customer.owner_id == owner_id)
        if team_ids is not None:
            stmt = stmt.where(Customer.team_id.in_(list(team_ids)))
        if region is not None:
            stmt = stmt.where(Customer.region == region)
        return Decimal(await self.session.scalar(stmt) or 0).quantize(Decimal("0.01"))


__all__ = ["TargetRepository"]

"""Complaints and surveys, every query limited to the caller's scope."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Complaint, Customer, Survey
from app.db.repositories.lookup import by_id
from app.db.repositories.pagination import Page, paginate
from app.domain.roles import Principal, Scope

ComplaintSort = Literal["created_at", "-created_at"]
SurveySort = Literal["created_at", "-created_at"]
# Per owner or per team: the customer's current owner or team gets the credit.
GroupBy = Literal["owner", "team"]


def service_scope(principal: Principal) -> ColumnElement[bool] | None:
    """Complaints and surveys follow their customer (SPEC §2), without the unowned pool: a rep
    sees those of their own customers, a manager those of their teams' customers; a handler
    also sees the complaints assigned to them. Everyone else sees all."""
    if principal.scope is Scope.own:
        return Customer.owner_id == principal.user_id
    if principal.scope is Scope.team:
        return or_(Customer.team_id.in_(principal.team_ids), Customer.owner_id == principal.user_id)
    return None


def overdue_clause(now: dt.datetime) -> ColumnElement[bool]:
    """SQL twin of ``domain.service.is_overdue``."""
    return or_(
        and_(Complaint.status == "open", Complaint.respond_by < now),
        and_(Complaint.status.in_(("open", "in_progress")), Complaint.resolve_by < now),
    )


@dataclass(frozen=True, slots=True)
class ComplaintFilters:
    customer_id: uuid.UUID | None = None
    handler_id: uuid.UUID | None = None
    status: str | None = None
    severity: str | None = None
    category: str | None = None
    overdue: bool | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class SurveyFilters:
    customer_id: uuid.UUID | None = None
    kind: str | None = None
    complaint_id: uuid.UUID | None = None
    contract_id: uuid.UUID | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None


def _created_between(
    stmt: Select[Any], column: Any, start: dt.datetime | None, end: dt.datetime | None
) -> Select[Any]:
    if start is not None:
        stmt = stmt.where(column >= start)
    if end is not None:
        stmt = stmt.where(column < end)
    return stmt


class ComplaintRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def visible_to(self, principal: Principal) -> Select[tuple[Complaint]]:
        stmt = (
            select(Complaint)
            .join(Customer, Customer.id == Complaint.customer_id)
            .where(Customer.deleted_at.is_(None))
        )
        scope = service_scope(principal)
        if scope is not None:
            stmt = stmt.where(or_(scope, Complaint.handler_id == principal.user_id))
        return stmt

    async def get(
        self, complaint_id: uuid.UUID, *, principal: Principal, for_update: bool = False
    ) -> Complaint | None:
        """The complaint, if the caller may see it."""
        return await by_id(
            self.session, self.visible_to(principal), Complaint, complaint_id, for_update=for_update
        )

    async def list(
        self,
        principal: Principal,
        filters: ComplaintFilters,
        *,
        now: dt.datetime,
        sort: ComplaintSort,
        cursor: str | None,
        limit: int,
    ) -> Page[Complaint]:
        stmt = self.visible_to(principal)
        for column, value in (
            (Complaint.customer_id, filters.customer_id),
            (Complaint.handler_id, filters.handler_id),
            (Complaint.status, filters.status),
            (Complaint.severity, filters.severity),
            (Complaint.category, filters.category),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if filters.overdue is not None:
            stmt = stmt.where(overdue_clause(now) if filters.overdue else ~overdue_clause(now))
        stmt = _created_between(stmt, Complaint.created_at, filters.created_from, filters.created_to)
        direction: Literal["asc", "desc"] = "desc" if sort.startswith("-") else "asc"
        return await paginate(
            self.session,
            stmt,
            sort=sort,
            keys=[Complaint.created_at, Complaint.id],
            key_of=lambda c: [c.created_at, c.id],
            cursor=cursor,
            limit=limit,
            direction=direction,
        )

    async def overdue_for(self, user_id: uuid.UUID, *, now: dt.datetime) -> list[tuple[uuid.UUID, bool]]:
        """Customers with an overdue complaint that ``user_id`` handles or whose customer they
        own, each with whether they own that customer."""
        stmt = (
            select(Complaint.customer_id, Customer.owner_id == user_id)
            .join(Customer, Customer.id == Complaint.customer_id)
            .where(
                Customer.deleted_at.is_(None),
                overdue_clause(now),
                or_(Complaint.handler_id == user_id, Customer.owner_id == user_id),
            )
            .distinct()
        )
        return [(row[0], bool(row[1])) for row in (await self.session.execute(stmt)).all()]

    async def opened_between(
        self,
        *,
        start: dt.datetime,
        end: dt.datetime,
        group_by: GroupBy,
    ) -> list[tuple[uuid.UUID | None, dt.datetime | None, dt.datetime]]:
        """``(owner or team, responded_at, respond_by)`` of every complaint opened in the period."""
        key = Customer.owner_id if group_by == "owner" else Customer.team_id
        stmt = (
            select(key, Complaint.responded_at, Complaint.respond_by)
            .join(Customer, Customer.id == Complaint.customer_id)
            .where(Complaint.created_at >= start, Complaint.created_at < end)
        )
        return [tuple(row) for row in (await self.session.execute(stmt)).all()]  # type: ignore[misc]

    def add(self, complaint: Complaint) -> None:
        self.session.add(complaint)


class SurveyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def visible_to(self, principal: Principal) -> Select[tuple[Survey]]:
        stmt = (
            select(Survey)
            .join(Customer, Customer.id == Survey.customer_id)
            .where(Customer.deleted_at.is_(None))
        )
        scope = service_scope(principal)
        return stmt if scope is None else stmt.where(scope)

    async def list(
        self,
        principal: Principal,
        filters: SurveyFilters,
        *,
        sort: SurveySort,
        cursor: str | None,
        limit: int,
    ) -> Page[Survey]:
        stmt = self.visible_to(principal)
        for column, value in (
            (Survey.customer_id, filters.customer_id),
            (Survey.kind, filters.kind),
            (Survey.complaint_id, filters.complaint_id),
            (Survey.contract_id, filters.contract_id),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        stmt = _created_between(stmt, Survey.created_at, filters.created_from, filters.created_to)
        direction: Literal["asc", "desc"] = "desc" if sort.startswith("-") else "asc"
        return await paginate(
            self.session,
            stmt,
            sort=sort,
            keys=[Survey.created_at, Survey.id],
            key_of=lambda s: [s.created_at, s.id],
            cursor=cursor,
            limit=limit,
            direction=direction,
        )

    async def answered_between(
        self,
        *,
        start: dt.datetime,
        end: dt.datetime,
        group_by: GroupBy,
    ) -> list[tuple[uuid.UUID | None, str, int]]:
        """``(owner or team, kind, score)`` of every survey answer of the period."""
        key = Customer.owner_id if group_by == "owner" else Customer.team_id
        stmt = (
            select(key, Survey.kind, Survey.score)
            .join(Customer, Customer.id == Survey.customer_id)
            .where(Survey.created_at >= start, Survey.created_at < end)
        )
        return [tuple(row) for row in (await self.session.execute(stmt)).all()]  # type: ignore[misc]

    def add(self, survey: Survey) -> None:
        self.session.add(survey)


__all__ = [
    "ComplaintFilters",
    "ComplaintRepository",
    "ComplaintSort",
    "GroupBy",
    "SurveyFilters",
    "SurveyRepository",
    "SurveySort",
    "overdue_clause",
    "service_scope",
]

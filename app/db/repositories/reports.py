"""Management report queries (SPEC §9): sums over the funnel aggregates, and the stages now.

Every query takes the report's subject as ``owner_ids`` and/or ``team_ids`` (None: no
limit on that column, i.e. the whole company); the service builds them from the caller's
scope, so nothing outside it is ever summed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    Activity,
    Contract,
    Customer,
    OwnershipEvent,
    Payment,
    ReportFunnelCount,
    ReportFunnelDuration,
    Team,
    User,
)
from app.db.models.reports import NIL
from app.domain.contracts import TRADING_STATUSES
from app.domain.funnel import Stage
from app.domain.reports import Period, StageSnapshot

_SIGNED_STAGES = (Stage.signed.value, Stage.implemented.value)
# Signed business: the trading statuses (a cancelled contract was never business done).
SIGNED_BUSINESS = sorted(s.value for s in TRADING_STATUSES)


def _ids(values: Collection[uuid.UUID | None]) -> list[uuid.UUID]:
    return [NIL if v is None else v for v in values]


def _subject(
    owner_col: Any,
    team_col: Any,
    owner_ids: Collection[uuid.UUID] | None,
    team_ids: Collection[uuid.UUID] | None,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if owner_ids is not None:
        conditions.append(owner_col.in_(_ids(owner_ids)))
    if team_ids is not None:
        conditions.append(team_col.in_(_ids(team_ids)))
    return conditions


By = Literal["day", "owner", "team", "all"]


def _group(table: Any, by: By) -> Any:
    """The column to sum per (``all``: a constant, so the sums span the whole period)."""
    return {"day": table.day, "owner": table.owner_id, "team": table.team_id, "all": literal(0)}[by]


def _back(value: Any) -> Any:
    """The nil UUID of the aggregates is "nobody" again."""
    return None if value == NIL else value


class ReportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def flow_counts(
        self,
        period: Period,
        *,
        owner_ids: Collection[uuid.UUID] | None,
        team_ids: Collection[uuid.UUID] | None,
        by: By = "day",
    ) -> list[tuple[Any, str, str, int]]:
        """(day, owner or team; metric, key, count) summed over the subject in the period."""
        c = ReportFunnelCount
        group = _group(c, by)
        stmt = (
            select(group, c.metric, c.key, func.sum(c.count))
            .where(
                c.day >= period.start,
                c.day < period.end,
                *_subject(c.owner_id, c.team_id, owner_ids, team_ids),
            )
            .group_by(*([] if by == "all" else [group]), c.metric, c.key)
        )
        return [(_back(g), metric, key, int(n)) for g, metric, key, n in await self.session.execute(stmt)]

    async def flow_durations(
        self,
        period: Period,
        *,
        owner_ids: Collection[uuid.UUID] | None,
        team_ids: Collection[uuid.UUID] | None,
        by: By = "day",
    ) -> list[tuple[Any, str, int, int]]:
        """(entry day, owner or team; stage, hundredths of a day, count) over the subject."""
        d = ReportFunnelDuration
        group = _group(d, by)
        stmt = (
            select(group, d.stage, d.centidays, func.sum(d.count))
            .where(
                d.day >= period.start,
                d.day < period.end,
                *_subject(d.owner_id, d.team_id, owner_ids, team_ids),
            )
            .group_by(*([] if by == "all" else [group]), d.stage, d.centidays)
        )
        return [(_back(g), stage, value, int(n)) for g, stage, value, n in await self.session.execute(stmt)]

    async def owned_by_stage(
        self,
        *,
        owner_ids: Collection[uuid.UUID] | None,
        team_ids: Collection[uuid.UUID] | None,
        by: Literal["owner", "team"],
    ) -> list[tuple[uuid.UUID, str, int]]:
        """(owner or team, stage, owned live customers) now."""
        group = Customer.owner_id if by == "owner" else Customer.team_id
        stmt = (
            select(group, Customer.stage, func.count())
            .where(
                Customer.deleted_at.is_(None),
                Customer.owner_id.is_not(None),
                group.is_not(None),
                *_subject(Customer.owner_id, Customer.team_id, owner_ids, team_ids),
            )
            .group_by(group, Customer.stage)
        )
        return [(g, stage, int(n)) for g, stage, n in await self.session.execute(stmt)]

    async def claims_by_owner(
        self, start: dt.datetime, end: dt.datetime, *, owner_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, int]:
        """Customers each owner claimed from the pool in ``[start, end)``."""
        if not owner_ids:
            return {}
        e = OwnershipEvent
        stmt = (
            select(e.to_owner_id, func.count())
            .where(e.to_owner_id.in_(list(owner_ids)), e.event == "claim", e.at >= start, e.at < end)
            .group_by(e.to_owner_id)
        )
        return {owner: int(n) for owner, n in await self.session.execute(stmt)}

    async def signed_by_owner(
        self, start: dt.datetime, end: dt.datetime, *, owner_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, Decimal]:
        """Contracts signed in ``[start, end)`` and not cancelled, per owner at signing."""
        if not owner_ids:
            return {}
        stmt = (
            select(Contract.owner_id, func.sum(Contract.amount))
            .where(
                Contract.owner_id.in_(list(owner_ids)),
                Contract.status.in_(SIGNED_BUSINESS),
                Contract.signed_at >= start,
                Contract.signed_at < end,
            )
            .group_by(Contract.owner_id)
        )
        return {owner: Decimal(n or 0) for owner, n in await self.session.execute(stmt)}

    async def collected_by_owner(
        self, start: dt.datetime, end: dt.datetime, *, owner_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, Decimal]:
        """Payments received in ``[start, end)`` per the customer's owner."""
        if not owner_ids:
            return {}
        stmt = (
            select(Customer.owner_id, func.sum(Payment.amount))
            .join(Customer, Customer.id == Payment.customer_id)
            .where(
                Customer.owner_id.in_(list(owner_ids)),
                Payment.received_at >= start,
                Payment.received_at < end,
            )
            .group_by(Customer.owner_id)
        )
        return {owner: Decimal(n or 0) for owner, n in await self.session.execute(stmt)}

    async def ownership_counts(
        self, start: dt.datetime, end: dt.datetime, *, owner_ids: Collection[uuid.UUID]
    ) -> dict[tuple[uuid.UUID, str], int]:
        """(owner, event) → how many customers each rep took (claim, assign, allocate,
        handover: as the new owner) or released (release: as the former owner)."""
        if not owner_ids:
            return {}
        e = OwnershipEvent
        taken = (
            select(e.to_owner_id, e.event, func.count())
            .where(
                e.to_owner_id.in_(list(owner_ids)),
                e.at >= start,
                e.at < end,
                e.event.in_(["claim", "assign", "allocate", "handover"]),
            )
            .group_by(e.to_owner_id, e.event)
        )
        released = (
            select(e.from_owner_id, e.event, func.count())
            .where(e.from_owner_id.in_(list(owner_ids)), e.at >= start, e.at < end, e.event == "release")
            .group_by(e.from_owner_id, e.event)
        )
        counts = {}
        for stmt in (taken, released):
            counts.update({(owner, event): int(n) for owner, event, n in await self.session.execute(stmt)})
        return counts

    async def self_discovered(
        self, start: dt.datetime, end: dt.datetime, *, owner_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, int]:
        """Customers created in ``[start, end)`` as the rep's own find, per owner."""
        if not owner_ids:
            return {}
        stmt = (
            select(Customer.owner_id, func.count())
            .where(
                Customer.owner_id.in_(list(owner_ids)),
                Customer.source == "self_discovered",
                Customer.created_at >= start,
                Customer.created_at < end,
            )
            .group_by(Customer.owner_id)
        )
        return {owner: int(n) for owner, n in await self.session.execute(stmt)}

    async def churn_candidates(
        self,
        *,
        owner_ids: Collection[uuid.UUID] | None,
        team_ids: Collection[uuid.UUID] | None,
        after: tuple[Decimal, uuid.UUID] | None,
        limit: int,
    ) -> list[tuple[uuid.UUID, str, uuid.UUID | None, Decimal]]:
        """Live trading customers (two or more signed contracts) of the subject, most
        valuable (total contract amount) first: (id, name, owner, value)."""
        value = func.sum(Contract.amount)
        stmt = (
            select(Customer.id, Customer.name, Customer.owner_id, value)
            .join(Contract, Contract.customer_id == Customer.id)
            .where(
                Customer.deleted_at.is_(None),
                Contract.status.in_(SIGNED_BUSINESS),
                *_subject(Customer.owner_id, Customer.team_id, owner_ids, team_ids),
            )
            .group_by(Customer.id, Customer.name, Customer.owner_id)
            .having(func.count(Contract.id) >= 2)
        )
        if after is not None:
            stmt = stmt.having(or_(value < after[0], and_(value == after[0], Customer.id > after[1])))
        stmt = stmt.order_by(value.desc(), Customer.id).limit(limit)
        return [
            (cid, name, owner, Decimal(total)) for cid, name, owner, total in await self.session.execute(stmt)
        ]

    async def signings(self, customer_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, list[dt.datetime]]:
        stmt = select(Contract.customer_id, Contract.signed_at).where(
            Contract.customer_id.in_(list(customer_ids)),
            Contract.status.in_(SIGNED_BUSINESS),
            Contract.signed_at.is_not(None),
        )
        found: dict[uuid.UUID, list[dt.datetime]] = {}
        for customer_id, at in await self.session.execute(stmt):
            found.setdefault(customer_id, []).append(at)
        return found

    async def activity_windows(
        self, customer_ids: Collection[uuid.UUID], *, now: dt.datetime, window: dt.timedelta
    ) -> dict[uuid.UUID, tuple[int, int]]:
        """Per customer: live activities in the last ``window`` and in the one before it."""
        recent = func.sum(case((Activity.occurred_at >= now - window, 1), else_=0))
        earlier = func.sum(case((Activity.occurred_at < now - window, 1), else_=0))
        stmt = (
            select(Activity.customer_id, recent, earlier)
            .where(
                Activity.customer_id.in_(list(customer_ids)),
                Activity.deleted_at.is_(None),
                Activity.occurred_at >= now - 2 * window,
                Activity.occurred_at < now,
            )
            .group_by(Activity.customer_id)
        )
        return {cid: (int(r or 0), int(e or 0)) for cid, r, e in await self.session.execute(stmt)}

    async def stage_customers(
        self,
        stage: str,
        *,
        owner_ids: Collection[uuid.UUID] | None,
        team_ids: Collection[uuid.UUID] | None,
        limit: int,
    ) -> list[tuple[str, str | None, dt.datetime, Any, Any]]:
        """Live customers in ``stage``, longest there first: (name, owner's name, entered
        the stage at, last contact, next follow-up of the latest activity)."""
        follow_up = (
            select(func.max(Activity.next_follow_up_at))
            .where(Activity.customer_id == Customer.id, Activity.deleted_at.is_(None))
            .correlate(Customer)
            .scalar_subquery()
        )
        owner = func.coalesce(func.nullif(User.full_name, ""), User.username)
        stmt = (
            select(Customer.name, owner, Customer.stage_entered_at, Customer.last_contact_at, follow_up)
            .outerjoin(User, User.id == Customer.owner_id)
            .where(
                Customer.deleted_at.is_(None),
                Customer.stage == stage,
                *_subject(Customer.owner_id, Customer.team_id, owner_ids, team_ids),
            )
            .order_by(Customer.stage_entered_at, Customer.id)
            .limit(limit)
        )
        return [tuple(row) for row in await self.session.execute(stmt)]  # type: ignore[misc]

    async def reps(
        self, *, owner_ids: Collection[uuid.UUID] | None, team_ids: Collection[uuid.UUID] | None
    ) -> list[User]:
        """Active reps the subject covers, by name."""
        stmt = (
            select(User)
            .where(
                User.role == "rep",
                User.is_active.is_(True),
                *_subject(User.id, User.team_id, owner_ids, team_ids),
            )
            .order_by(User.full_name, User.username, User.id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def teams(self, team_ids: Collection[uuid.UUID] | None) -> list[Team]:
        stmt = select(Team).order_by(Team.path)
        if team_ids is not None:
            stmt = stmt.where(Team.id.in_(list(team_ids)))
        return list((await self.session.scalars(stmt)).all())

    async def stage_snapshot(
        self,
        *,
        owner_ids: Collection[uuid.UUID] | None,
        team_ids: Collection[uuid.UUID] | None,
        stalled_before: dict[Stage, dt.datetime],
    ) -> dict[Stage, StageSnapshot]:
        """Live customers per stage now: how many, how many owned, the target amount of the
        unsigned, and how many entered their stage before its stall limit."""
        scope = _subject(Customer.owner_id, Customer.team_id, owner_ids, team_ids)
        stalled = func.sum(
            case(
                *[
                    (and_(Customer.stage == stage.value, Customer.stage_entered_at < limit), 1)
                    for stage, limit in stalled_before.items()
                ],
                else_=0,
            )
        )
        stmt = (
            select(
                Customer.stage,
                func.count(),
                func.count(Customer.owner_id),
                func.sum(Customer.target_amount),
                stalled,
            )
            .where(Customer.deleted_at.is_(None), *scope)
            .group_by(Customer.stage)
        )
        rows = (await self.session.execute(stmt)).all()
        contracted = dict(
            (
                await self.session.execute(
                    select(Customer.stage, func.sum(Contract.amount))
                    .join(Contract, Contract.customer_id == Customer.id)
                    .where(
                        Customer.deleted_at.is_(None),
                        Customer.stage.in_(_SIGNED_STAGES),
                        Contract.status.in_(SIGNED_BUSINESS),
                        *scope,
                    )
                    .group_by(Customer.stage)
                )
            ).all()
        )
        snapshots = {}
        for stage, count, owned, target, stalled_count in rows:
            amount = contracted.get(stage) if stage in _SIGNED_STAGES else target
            snapshots[Stage(stage)] = StageSnapshot(
                stage=Stage(stage),
                count=int(count),
                owned=int(owned),
                amount=Decimal(amount or 0).quantize(Decimal("0.01")),
                stalled=int(stalled_count or 0),
            )
        return snapshots

    async def rep_count(
        self, *, owner_ids: Collection[uuid.UUID] | None, team_ids: Collection[uuid.UUID] | None
    ) -> int:
        """Active reps the subject covers (the divisor of the holding per rep)."""
        stmt = (
            select(func.count())
            .select_from(User)
            .where(
                User.role == "rep",
                User.is_active.is_(True),
                *_subject(User.id, User.team_id, owner_ids, team_ids),
            )
        )
        return int(await self.session.scalar(stmt) or 0)


__all__ = ["ReportRepository"]

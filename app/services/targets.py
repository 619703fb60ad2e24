"""Sales targets (销售目标分解): directors set company and team targets, managers their reps'
within their teams; the report tracks each against the actuals (SPEC §9)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.config import get_settings
from app.db.base import utcnow
from app.db.models import Target
from app.db.repositories.pagination import Page
from app.db.uow import UnitOfWork
from app.domain.errors import Forbidden, NotFound, TargetExists, TargetHasChildren
from app.domain.reports import ratio
from app.domain.roles import Principal, Role
from app.domain.targets import (
    Level,
    check_parent,
    check_shape,
    expected_to_date,
    parse_period,
    subject_key,
)
from app.services.common import check_version, found
from app.services.reports_funnel import business_today

TARGET_READERS = frozenset({Role.rep, Role.manager, Role.director, Role.admin, Role.finance})
_SETTERS: dict[Level, frozenset[Role]] = {
    Level.company: frozenset({Role.director, Role.admin}),
    Level.team: frozenset({Role.director, Role.admin}),
    Level.rep: frozenset({Role.director, Role.admin, Role.manager}),
}


def _check_setter(actor: Principal, level: Level, team_id: uuid.UUID | None) -> None:
    if actor.role not in _SETTERS[level]:
        raise Forbidden(f"Your role does not set {level} targets")
    if actor.role is Role.manager and team_id not in actor.team_ids:
        raise NotFound("User not found")


async def _subject_team(
    uow: UnitOfWork, level: Level, *, team_id: uuid.UUID | None, owner_id: uuid.UUID | None
) -> uuid.UUID | None:
    """The team a target is kept under: its team, or the rep's team."""
    if level is Level.team:
        assert team_id is not None
        found(await uow.teams.get_unscoped(team_id), "Team")
        return team_id
    if level is Level.rep:
        assert owner_id is not None
        user = found(await uow.users.get_unscoped(owner_id), "User")
        return user.team_id
    return None


async def _check_parent(uow: UnitOfWork, actor: Principal, target: Target) -> None:
    if target.parent_id is None:
        return
    parent = found(await uow.targets.get(target.parent_id, principal=actor), "Parent target")
    covers = True
    if parent.team_id is not None:
        covers = target.team_id in await uow.teams.subtree_ids([parent.team_id])
    check_parent(
        level=Level(target.level),
        period=target.period,
        parent_level=Level(parent.level),
        parent_period=parent.period,
        parent_covers_subject=covers and parent.id != target.id,
    )


async def create_target(
    uow: UnitOfWork,
    actor: Principal,
    *,
    period: str,
    level: Level,
    team_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
    parent_id: uuid.UUID | None,
    signed_amount: Decimal,
    collected_amount: Decimal,
    product: str | None,
    region: str | None,
) -> Target:
    span = parse_period(period)
    check_shape(level, team_id=team_id, owner_id=owner_id)
    now = utcnow()
    async with uow:
        team = await _subject_team(uow, level, team_id=team_id, owner_id=owner_id)
        _check_setter(actor, level, team)
        key = subject_key(
            period=period, level=level, team_id=team, owner_id=owner_id, product=product, region=region
        )
        if await uow.targets.by_key(key) is not None:
            raise TargetExists("A target for this period, subject, product and region exists")
        target = Target(
            period=period,
            period_start=span.start,
            period_end=span.end,
            level=level.value,
            team_id=team,
            owner_id=owner_id,
            parent_id=parent_id,
            signed_amount=signed_amount,
            collected_amount=collected_amount,
            product=product,
            region=region,
            subject_key=key,
            created_by=actor.user_id,
            created_at=now,
            updated_at=now,
        )
        await _check_parent(uow, actor, target)
        uow.targets.add(target)
        await uow.commit()
        return target


async def get_target(uow: UnitOfWork, actor: Principal, *, target_id: uuid.UUID) -> Target:
    async with uow:
        return found(await uow.targets.get(target_id, principal=actor), "Target")


async def list_targets(
    uow: UnitOfWork,
    actor: Principal,
    *,
    period: str | None,
    level: Level | None,
    cursor: str | None,
    limit: int,
) -> Page[Target]:
    if period is not None:
        parse_period(period)
    async with uow:
        return await uow.targets.list(
            actor, period=period, level=None if level is None else level.value, cursor=cursor, limit=limit
        )


async def update_target(
    uow: UnitOfWork,
    actor: Principal,
    *,
    target_id: uuid.UUID,
    expected_version: int | None,
    changes: dict[str, Any],
) -> Target:
    """Amounts, product, region and parent may change; the period and subject may not."""
    async with uow:
        target = found(await uow.targets.get(target_id, principal=actor, for_update=True), "Target")
        _check_setter(actor, Level(target.level), target.team_id)
        check_version(target, expected_version)
        for name, value in changes.items():
            setattr(target, name, value)
        target.subject_key = subject_key(
            period=target.period,
            level=Level(target.level),
            team_id=target.team_id,
            owner_id=target.owner_id,
            product=target.product,
            region=target.region,
        )
        other = await uow.targets.by_key(target.subject_key)
        if other is not None and other.id != target.id:
            raise TargetExists("A target for this period, subject, product and region exists")
        await _check_parent(uow, actor, target)
        target.updated_at = utcnow()
        await uow.commit()
        return target


async def delete_target(
    uow: UnitOfWork, actor: Principal, *, target_id: uuid.UUID, expected_version: int | None
) -> None:
    async with uow:
        target = found(await uow.targets.get(target_id, principal=actor, for_update=True), "Target")
        _check_setter(actor, Level(target.level), target.team_id)
        check_version(target, expected_version)
        if await uow.targets.children_sums([target.id]):
            raise TargetHasChildren("Delete or re-parent the targets that decompose this one first")
        await uow.targets.delete(target)
        await uow.commit()


@dataclass(frozen=True, kw_only=True, slots=True)
class TargetLine:
    target: Target
    subject_name: str
    actual_signed: Decimal | None
    actual_collected: Decimal | None
    completion_signed: Decimal | None
    completion_collected: Decimal | None
    expected_to_date: Decimal
    expected_collected_to_date: Decimal
    unallocated_signed: Decimal | None
    unallocated_collected: Decimal | None
    children: int


async def target_report(
    uow: UnitOfWork, actor: Principal, *, period: str | None, now: dt.datetime | None = None
) -> tuple[str, list[TargetLine]]:
    """Every target of the period in the caller's scope against its actuals: signed
    (contracts signed in the period, credited to the owner then) and collected (payments
    received), completion, the even pace to date, and what the children leave unallocated
    (negative: over-allocated). A product target's actuals are null: contracts name no product."""
    today = business_today(now or utcnow())
    period = period or f"{today.year}-{today.month:02d}"
    span = parse_period(period)
    start, end = span.utc_bounds(get_settings().tz)
    async with uow:
        targets = await uow.targets.in_period(actor, period)
        children = await uow.targets.children_sums([t.id for t in targets])
        lines = []
        for target in targets:
            tree = (
                None
                if target.team_id is None or target.level == Level.rep.value
                else await uow.teams.subtree_ids([target.team_id])
            )
            actual_signed = actual_collected = None
            if target.product is None:
                actual_signed = await uow.targets.actual_signed(
                    start, end, owner_id=target.owner_id, team_ids=tree, region=target.region
                )
                actual_collected = await uow.targets.actual_collected(
                    start, end, owner_id=target.owner_id, team_ids=tree, region=target.region
                )
            sums = children.get(target.id)
            lines.append(
                TargetLine(
                    target=target,
                    subject_name=await _name(uow, target),
                    actual_signed=actual_signed,
                    actual_collected=actual_collected,
                    completion_signed=None
                    if actual_signed is None
                    else ratio(actual_signed, target.signed_amount),
                    completion_collected=None
                    if actual_collected is None
                    else ratio(actual_collected, target.collected_amount),
                    expected_to_date=expected_to_date(target.signed_amount, span, today=today),
                    expected_collected_to_date=expected_to_date(target.collected_amount, span, today=today),
                    unallocated_signed=None
                    if target.level == Level.rep.value
                    else target.signed_amount - (sums[0] if sums else 0),
                    unallocated_collected=None
                    if target.level == Level.rep.value
                    else target.collected_amount - (sums[1] if sums else 0),
                    children=sums[2] if sums else 0,
                )
            )
        return period, lines


async def _name(uow: UnitOfWork, target: Target) -> str:
    if target.owner_id is not None:
        user = await uow.users.get_unscoped(target.owner_id)
        return "" if user is None else user.full_name or user.username
    if target.team_id is not None:
        team = await uow.teams.get_unscoped(target.team_id)
        return "" if team is None else team.name
    return ""

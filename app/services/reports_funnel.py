"""The funnel report against the ideal (SPEC §9), for the company, a team tree or a rep.

Flow figures (entered, converted, medians, abandonments, signings) are sums over the
report aggregates, never a scan of the transitions; the stage figures are the customers'
stages now.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Literal

from app.config import get_settings
from app.db import report_aggregates
from app.db.base import utcnow
from app.db.engine import make_engine, make_session_factory
from app.db.models import Team, User
from app.db.uow import UnitOfWork
from app.domain.errors import NotFound
from app.domain.funnel import FunnelPolicy
from app.domain.reports import (
    FlowFigures,
    Period,
    StageFigures,
    flow_figures,
    iso_weeks,
    resolve_period,
    stage_figures,
    stall_limits,
)
from app.domain.roles import Principal, Role, Scope
from app.services import settings as settings_service

# Who reads management reports; each sees only their scope.
REPORT_READERS = frozenset({Role.rep, Role.manager, Role.director, Role.admin, Role.finance})


@dataclass(frozen=True, kw_only=True, slots=True)
class Subject:
    """Whose figures: ``owner_ids``/``team_ids`` limit the sums (None: no limit)."""

    type: Literal["company", "team", "rep"]
    id: uuid.UUID | None
    name: str
    owner_ids: frozenset[uuid.UUID] | None = None
    team_ids: frozenset[uuid.UUID] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class FunnelReport:
    subject: Subject
    period: Period
    as_of: dt.datetime
    stages: tuple[StageFigures, ...]
    flow: FlowFigures


@dataclass(frozen=True, kw_only=True, slots=True)
class WeeklyFunnel:
    subject: Subject
    period: Period
    weeks: tuple[FlowFigures, ...]


def business_today(now: dt.datetime) -> dt.date:
    return now.astimezone(get_settings().tz).date()


async def resolve_subject_in(
    uow: UnitOfWork, actor: Principal, *, team_id: uuid.UUID | None, owner_id: uuid.UUID | None
) -> Subject:
    """The report's subject within the caller's scope; a team or user outside it is not
    found. Without either: a rep's own figures, a manager's teams, everyone else the company."""
    team_ids: frozenset[uuid.UUID] | None = None
    subject: Subject | None = None
    if team_id is not None:
        team = await uow.teams.get_unscoped(team_id)
        if team is None or not (
            actor.scope is Scope.all or (actor.scope is Scope.team and team.id in actor.team_ids)
        ):
            raise NotFound("Team not found")
        team_ids = await uow.teams.subtree_ids([team.id])
        subject = Subject(type="team", id=team.id, name=team.name, team_ids=team_ids)
    if owner_id is not None:
        user = await uow.users.get_unscoped(owner_id)
        visible = user is not None and (
            actor.scope is Scope.all
            or (actor.scope is Scope.team and user.team_id in actor.team_ids)
            or user.id == actor.user_id
        )
        if user is None or not visible:
            raise NotFound("User not found")
        return Subject(
            type="rep",
            id=user.id,
            name=user.full_name or user.username,
            owner_ids=frozenset({user.id}),
            team_ids=team_ids,
        )
    if subject is not None:
        return subject
    if actor.scope is Scope.own:
        user = await uow.users.get_unscoped(actor.user_id)
        name = "" if user is None else user.full_name or user.username
        return Subject(type="rep", id=actor.user_id, name=name, owner_ids=frozenset({actor.user_id}))
    if actor.scope is Scope.team:
        return Subject(type="team", id=actor.team_id, name="", team_ids=actor.team_ids)
    return Subject(type="company", id=None, name="")


async def reps_and_teams_in(uow: UnitOfWork, subject: Subject) -> tuple[list[User], list[Team]]:
    """The active reps and the teams a subject covers (a rep subject: no teams)."""
    reps = await uow.reports.reps(owner_ids=subject.owner_ids, team_ids=subject.team_ids)
    teams = [] if subject.type == "rep" else await uow.reports.teams(subject.team_ids)
    return reps, teams


def team_tree(team: Team, teams: list[Team]) -> set[uuid.UUID]:
    """The team and those of ``teams`` below it."""
    return {t.id for t in teams if t.path.startswith(team.path)}


async def _flow_in(
    uow: UnitOfWork,
    subject: Subject,
    period: Period,
    *,
    policy: FunnelPolicy,
    weeks: list[Period] | None = None,
) -> list[FlowFigures]:
    """Flow figures of ``period`` (or of each of ``weeks``, which partition it)."""
    parts = weeks or [period]
    counts: dict[int, Counter[tuple[str, str]]] = defaultdict(Counter)
    histograms: dict[int, dict[str, Counter[int]]] = defaultdict(lambda: defaultdict(Counter))

    def part_of(day: object) -> int:
        if weeks is None:
            return 0
        return next(i for i, p in enumerate(parts) if p.start <= day < p.end)  # type: ignore[operator]

    by = "all" if weeks is None else "day"
    for day, metric, key, n in await uow.reports.flow_counts(
        period, owner_ids=subject.owner_ids, team_ids=subject.team_ids, by=by
    ):
        counts[part_of(day)][(metric, key)] += n
    for day, stage, value, n in await uow.reports.flow_durations(
        period, owner_ids=subject.owner_ids, team_ids=subject.team_ids, by=by
    ):
        histograms[part_of(day)][stage][value] += n
    return [flow_figures(part, policy, counts[i], histograms[i]) for i, part in enumerate(parts)]


async def funnel_report(
    uow: UnitOfWork,
    actor: Principal,
    *,
    start: dt.date | None,
    end: dt.date | None,
    team_id: uuid.UUID | None = None,
    owner_id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> FunnelReport:
    now = now or utcnow()
    period = resolve_period(start, end, today=business_today(now))
    async with uow:
        subject = await resolve_subject_in(uow, actor, team_id=team_id, owner_id=owner_id)
        return await funnel_report_in(uow, subject, period, now=now)


async def funnel_report_in(
    uow: UnitOfWork, subject: Subject, period: Period, *, now: dt.datetime
) -> FunnelReport:
    policy = await settings_service.funnel_policy_in(uow)
    snapshots = await uow.reports.stage_snapshot(
        owner_ids=subject.owner_ids, team_ids=subject.team_ids, stalled_before=stall_limits(policy, now=now)
    )
    reps = await uow.reports.rep_count(owner_ids=subject.owner_ids, team_ids=subject.team_ids)
    (flow,) = await _flow_in(uow, subject, period, policy=policy)
    return FunnelReport(
        subject=subject,
        period=period,
        as_of=now,
        stages=stage_figures(snapshots, reps=reps, policy=policy),
        flow=flow,
    )


async def funnel_weekly(
    uow: UnitOfWork,
    actor: Principal,
    *,
    start: dt.date | None,
    end: dt.date | None,
    team_id: uuid.UUID | None = None,
    owner_id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> WeeklyFunnel:
    period = resolve_period(start, end, today=business_today(now or utcnow()))
    async with uow:
        subject = await resolve_subject_in(uow, actor, team_id=team_id, owner_id=owner_id)
        policy = await settings_service.funnel_policy_in(uow)
        weeks = await _flow_in(uow, subject, period, policy=policy, weeks=iso_weeks(period))
        return WeeklyFunnel(subject=subject, period=period, weeks=tuple(weeks))


async def rebuild_aggregates(uow: UnitOfWork) -> int:
    """Recompute the report aggregates from every stored transition (after a change of the
    business time zone, or to repair them); answers the number of customers replayed."""
    zone = get_settings().tz
    async with uow:
        replayed = await uow.session.run_sync(
            lambda session: report_aggregates.rebuild(session.connection(), zone)
        )
        await uow.commit()
        return int(replayed)


async def rebuild_aggregates_now() -> int:
    """``crm rebuild-report-aggregates``: the rebuild on the configured database."""
    engine = make_engine(get_settings().database_url)
    try:
        return await rebuild_aggregates(UnitOfWork(make_session_factory(engine)))
    finally:
        await engine.dispose()

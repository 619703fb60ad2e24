"""Anomalies (意外状态, SPEC §9): every rep and team of the caller's scope held against the
thresholds of ``/settings/reports`` over a period, with the figures behind each finding."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from app.config import get_settings
from app.db.base import utcnow
from app.db.uow import UnitOfWork
from app.domain.funnel import FunnelPolicy, Stage
from app.domain.reports import (
    Anomaly,
    Period,
    SubjectFigures,
    detect_anomalies,
    flow_figures,
    resolve_period,
)
from app.domain.roles import Principal
from app.services import settings as settings_service
from app.services.reports_funnel import (
    business_today,
    reps_and_teams_in,
    resolve_subject_in,
    team_tree,
)

_CENT = Decimal("0.01")


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    subject_type: str
    subject_id: uuid.UUID
    subject_name: str
    anomaly: Anomaly


@dataclass(frozen=True, kw_only=True, slots=True)
class AnomalyReport:
    period: Period
    items: tuple[Finding, ...]


class _Sums:
    """Counters, duration histograms, owned customers per stage and claims of one key."""

    def __init__(self) -> None:
        self.counts: dict[uuid.UUID | None, Counter[tuple[str, str]]] = defaultdict(Counter)
        self.durations: dict[uuid.UUID | None, dict[str, Counter[int]]] = defaultdict(
            lambda: defaultdict(Counter)
        )
        self.owned: dict[uuid.UUID | None, Counter[str]] = defaultdict(Counter)

    def merged(
        self, keys: Iterable[uuid.UUID]
    ) -> tuple[Counter[tuple[str, str]], dict[str, Counter[int]], Counter[str]]:
        counts: Counter[tuple[str, str]] = Counter()
        durations: dict[str, Counter[int]] = defaultdict(Counter)
        owned: Counter[str] = Counter()
        for key in keys:
            counts.update(self.counts.get(key, Counter()))
            for stage, histogram in self.durations.get(key, {}).items():
                durations[stage].update(histogram)
            owned.update(self.owned.get(key, Counter()))
        return counts, durations, owned


async def _sums(
    uow: UnitOfWork,
    period: Period,
    *,
    by: str,
    owner_ids: frozenset[uuid.UUID] | None,
    team_ids: frozenset[uuid.UUID] | None,
) -> _Sums:
    sums = _Sums()
    for key, metric, name, n in await uow.reports.flow_counts(
        period, owner_ids=owner_ids, team_ids=team_ids, by=by
    ):  # type: ignore[arg-type]
        sums.counts[key][(metric, name)] += n
    for key, stage, value, n in await uow.reports.flow_durations(
        period, owner_ids=owner_ids, team_ids=team_ids, by=by
    ):  # type: ignore[arg-type]
        sums.durations[key][stage][value] += n
    for key, stage, n in await uow.reports.owned_by_stage(owner_ids=owner_ids, team_ids=team_ids, by=by):  # type: ignore[arg-type]
        sums.owned[key][stage] += n
    return sums


def _figures(
    period: Period,
    funnel: FunnelPolicy,
    merged: tuple[Counter[tuple[str, str]], dict[str, Counter[int]], Counter[str]],
    *,
    reps: int,
    claims: int,
) -> SubjectFigures:
    counts, durations, owned = merged
    holding = {
        stage: None
        if reps == 0
        else (Decimal(owned.get(stage.value, 0)) / reps).quantize(_CENT, rounding=ROUND_HALF_UP)
        for stage in Stage
    }
    return SubjectFigures(
        flow=flow_figures(period, funnel, counts, durations), holding_per_rep=holding, claims=claims
    )


async def anomalies(
    uow: UnitOfWork,
    actor: Principal,
    *,
    start: dt.date | None,
    end: dt.date | None,
    team_id: uuid.UUID | None = None,
    owner_id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> AnomalyReport:
    period = resolve_period(start, end, today=business_today(now or utcnow()))
    async with uow:
        subject = await resolve_subject_in(uow, actor, team_id=team_id, owner_id=owner_id)
        funnel = await settings_service.funnel_policy_in(uow)
        policy = await settings_service.anomaly_policy_in(uow)
        reps, teams = await reps_and_teams_in(uow, subject)
        by_owner = await _sums(
            uow, period, by="owner", owner_ids=subject.owner_ids, team_ids=subject.team_ids
        )
        start_at, end_at = period.utc_bounds(get_settings().tz)
        claims = await uow.reports.claims_by_owner(start_at, end_at, owner_ids=[rep.id for rep in reps])
        findings: list[Finding] = []
        for rep in reps:
            figures = _figures(
                period, funnel, by_owner.merged([rep.id]), reps=1, claims=claims.get(rep.id, 0)
            )
            findings += [
                Finding(
                    subject_type="rep",
                    subject_id=rep.id,
                    subject_name=rep.full_name or rep.username,
                    anomaly=a,
                )
                for a in detect_anomalies(figures, policy=policy, funnel=funnel)
            ]
        if teams:
            by_team = await _sums(
                uow, period, by="team", owner_ids=subject.owner_ids, team_ids=subject.team_ids
            )
            for team in teams:
                tree = team_tree(team, teams)
                members = [rep for rep in reps if rep.team_id in tree]
                figures = _figures(
                    period,
                    funnel,
                    by_team.merged(tree),
                    reps=len(members),
                    claims=sum(claims.get(rep.id, 0) for rep in members),
                )
                findings += [
                    Finding(subject_type="team", subject_id=team.id, subject_name=team.name, anomaly=a)
                    for a in detect_anomalies(figures, policy=policy, funnel=funnel)
                ]
        return AnomalyReport(period=period, items=tuple(findings))

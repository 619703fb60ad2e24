"""Performance per rep or team (SPEC §9): amounts signed and collected, new customers,
lead → signed conversion, claims, releases, abandonments, complaints responded to on
time, CSAT average, NPS and renewal rate — each null where there is nothing to count."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from app.config import get_settings
from app.db.base import utcnow
from app.db.uow import UnitOfWork
from app.domain.funnel import Stage
from app.domain.reports import (
    ABANDONED,
    ENTERED,
    REACHED_SIGNED,
    Performance,
    PerformanceCounts,
    Period,
    performance,
    resolve_period,
)
from app.domain.roles import Principal
from app.domain.service import ServiceCounts
from app.services.contracts import renewal_counts_in
from app.services.reports_funnel import (
    business_today,
    reps_and_teams_in,
    resolve_subject_in,
    team_tree,
)
from app.services.surveys import service_counts_in


@dataclass(frozen=True, kw_only=True, slots=True)
class PerformanceLine:
    subject_type: Literal["rep", "team"]
    subject_id: uuid.UUID
    subject_name: str
    figures: Performance


async def performance_report(
    uow: UnitOfWork,
    actor: Principal,
    *,
    group_by: Literal["rep", "team"],
    start: dt.date | None,
    end: dt.date | None,
    team_id: uuid.UUID | None = None,
    owner_id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> tuple[Period, list[PerformanceLine]]:
    """One line per active rep (or per team, summing its current reps and sub-teams') of
    the subject within the caller's scope."""
    period = resolve_period(start, end, today=business_today(now or utcnow()))
    start_at, end_at = period.utc_bounds(get_settings().tz)
    async with uow:
        subject = await resolve_subject_in(uow, actor, team_id=team_id, owner_id=owner_id)
        reps, teams = await reps_and_teams_in(uow, subject)
        ids = [rep.id for rep in reps]
        signed = await uow.reports.signed_by_owner(start_at, end_at, owner_ids=ids)
        collected = await uow.reports.collected_by_owner(start_at, end_at, owner_ids=ids)
        moves = await uow.reports.ownership_counts(start_at, end_at, owner_ids=ids)
        found = await uow.reports.self_discovered(start_at, end_at, owner_ids=ids)
        flow: Counter[tuple[uuid.UUID, str, str]] = Counter()
        for owner, metric, key, n in await uow.reports.flow_counts(
            period, owner_ids=frozenset(ids), team_ids=None, by="owner"
        ):
            flow[(owner, metric, key)] += n
        service = await service_counts_in(uow, start=start_at, end=end_at, group_by="owner")
        renewals = await renewal_counts_in(
            uow, start=period.start, end=period.end - dt.timedelta(days=1), owner_ids=ids
        )
        per_rep = {
            rep.id: PerformanceCounts(
                signed_amount=signed.get(rep.id, Decimal("0.00")),
                collected_amount=collected.get(rep.id, Decimal("0.00")),
                claimed=moves.get((rep.id, "claim"), 0),
                assigned=sum(moves.get((rep.id, e), 0) for e in ("assign", "allocate", "handover")),
                self_discovered=found.get(rep.id, 0),
                lead_entered=flow[(rep.id, ENTERED, Stage.lead.value)],
                lead_signed=flow[(rep.id, REACHED_SIGNED, Stage.lead.value)],
                releases=moves.get((rep.id, "release"), 0),
                abandonments=sum(
                    n for (owner, metric, _), n in flow.items() if owner == rep.id and metric == ABANDONED
                ),
                service=service.get(rep.id, ServiceCounts()),
                renewals_due=renewals.get(rep.id, (0, 0))[0],
                renewals_renewed=renewals.get(rep.id, (0, 0))[1],
            )
            for rep in reps
        }
        if group_by == "rep":
            return period, [
                PerformanceLine(
                    subject_type="rep",
                    subject_id=rep.id,
                    subject_name=rep.full_name or rep.username,
                    figures=performance(per_rep[rep.id]),
                )
                for rep in reps
            ]
        lines = []
        for team in teams:
            tree = team_tree(team, teams)
            total = sum((per_rep[rep.id] for rep in reps if rep.team_id in tree), PerformanceCounts())
            lines.append(
                PerformanceLine(
                    subject_type="team",
                    subject_id=team.id,
                    subject_name=team.name,
                    figures=performance(total),
                )
            )
        return period, lines

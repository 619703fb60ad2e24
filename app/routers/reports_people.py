"""Performance per rep or team, and the customers at risk of churning (SPEC §8, §9)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from app.domain import errors
from app.routers.deps import Cursor, Limit, UoW
from app.routers.problems import PAGED, responses
from app.routers.reports_funnel import From, OwnerId, Reader, TeamId, To, period_read
from app.routers.schemas.common import Page
from app.routers.schemas.reports_funnel import (
    AnomalySubjectRead,
    ChurnRiskRead,
    NewCustomersRead,
    PerformanceRead,
    PerformanceReportRead,
)
from app.services import reports_churn, reports_performance

router = APIRouter(prefix="/reports", tags=["reports"])


@router.get(
    "/performance",
    operation_id="reports_performance",
    response_model=PerformanceReportRead,
    responses=responses(errors.Forbidden, errors.NotFound, errors.ReportInvalidPeriod),
)
async def performance(
    actor: Reader,
    uow: UoW,
    group_by: Literal["rep", "team"] = "rep",
    from_: From = None,
    to: To = None,
    team_id: TeamId = None,
    owner_id: OwnerId = None,
) -> PerformanceReportRead:
    """Per active rep (or per team with its sub-teams, summing its reps) of the scope:
    signed and collected amounts, new customers, lead → signed conversion, claims,
    releases, abandonments and their ratio to claims; complaints responded to on time, CSAT
    average and NPS (of the customers owned, SPEC §10) and the renewal rate (§6), with the
    counts behind them. A team's figures come from its whole tree's summed counts; a rate is
    null (not zero) where there is nothing to count."""
    period, lines = await reports_performance.performance_report(
        uow, actor, group_by=group_by, start=from_, end=to, team_id=team_id, owner_id=owner_id
    )
    items = []
    for line in lines:
        f, c = line.figures, line.figures.counts
        items.append(
            PerformanceRead(
                subject=AnomalySubjectRead(
                    type=line.subject_type, id=line.subject_id, name=line.subject_name
                ),
                signed_amount=c.signed_amount,
                collected_amount=c.collected_amount,
                new_customers=NewCustomersRead(
                    total=f.new_customers,
                    claimed=c.claimed,
                    assigned=c.assigned,
                    self_discovered=c.self_discovered,
                ),
                lead_entered=c.lead_entered,
                lead_signed=c.lead_signed,
                conversion=f.conversion,
                claims=c.claimed,
                releases=c.releases,
                abandonments=c.abandonments,
                abandon_claim_ratio=f.abandon_claim_ratio,
                complaints=c.service.complaints,
                complaints_on_time=c.service.responded_on_time,
                complaints_on_time_rate=f.complaints_on_time_rate,
                csat_responses=c.service.csat_responses,
                csat_avg=f.csat_avg,
                nps_responses=c.service.nps_responses,
                nps=f.nps,
                renewals_due=c.renewals_due,
                renewals_renewed=c.renewals_renewed,
                renewal_rate=f.renewal_rate,
            )
        )
    return PerformanceReportRead(period=period_read(period), group_by=group_by, items=items)


@router.get(
    "/churn-risk",
    operation_id="reports_churn_risk",
    response_model=Page[ChurnRiskRead],
    responses=responses(errors.Forbidden, errors.NotFound, *PAGED),
)
async def churn_risk(
    actor: Reader,
    uow: UoW,
    cursor: Cursor = None,
    limit: Limit = 50,
    team_id: TeamId = None,
    owner_id: OwnerId = None,
) -> Page[ChurnRiskRead]:
    """Trading customers (two or more signed contracts) of the scope at risk: days since
    the last contract above `churn_interval_factor` × their median interval, or activities
    in the last 90 days below `activity_drop_ratio` × the 90 days before (which had at
    least 5). Most valuable first, with the reasons and the figures behind them. A page
    may be short when many customers had to be examined; follow `next_cursor`."""
    page = await reports_churn.churn_risk_list(
        uow, actor, team_id=team_id, owner_id=owner_id, cursor=cursor, limit=limit
    )
    return Page[ChurnRiskRead](
        items=[
            ChurnRiskRead(
                customer_id=item.customer_id,
                name=item.name,
                owner_id=item.owner_id,
                value=item.value,
                reasons=list(item.risk.reasons),
                figures=item.risk.figures,
            )  # type: ignore[arg-type]
            for item in page.items
        ],
        next_cursor=page.next_cursor,
    )

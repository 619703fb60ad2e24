"""Anomalies (意外状态) of the reps and teams in the caller's scope (SPEC §9)."""

from __future__ import annotations

from fastapi import APIRouter

from app.domain import errors
from app.routers.deps import UoW
from app.routers.problems import responses
from app.routers.reports_funnel import From, OwnerId, Reader, TeamId, To, period_read
from app.routers.schemas.reports_funnel import AnomalyRead, AnomalyReportRead, AnomalySubjectRead
from app.services import reports_anomalies as service

router = APIRouter(prefix="/reports", tags=["reports"])


@router.get(
    "/anomalies",
    operation_id="reports_anomalies",
    response_model=AnomalyReportRead,
    responses=responses(errors.Forbidden, errors.NotFound, errors.ReportInvalidPeriod),
)
async def anomalies(
    actor: Reader,
    uow: UoW,
    from_: From = None,
    to: To = None,
    team_id: TeamId = None,
    owner_id: OwnerId = None,
) -> AnomalyReportRead:
    """Every rep and team of the scope (or of `team_id`/`owner_id`) with a high share of
    out-of-funnel signings, many intent customers but no signing, a step converting below
    its threshold, a high abandonment share of exits, a long median cycle, a stage holding
    off the ideal, or a high abandon-to-claim ratio; each with its value, its threshold
    (`/settings/reports`) and the counts behind it."""
    report = await service.anomalies(uow, actor, start=from_, end=to, team_id=team_id, owner_id=owner_id)
    return AnomalyReportRead(
        period=period_read(report.period),
        items=[
            AnomalyRead(
                kind=f.anomaly.kind.value,
                subject=AnomalySubjectRead(
                    type=f.subject_type,
                    id=f.subject_id,  # type: ignore[arg-type]
                    name=f.subject_name,
                ),
                value=f.anomaly.value,
                threshold=f.anomaly.threshold,
                detail=f.anomaly.detail,
            )
            for f in report.items
        ],
    )

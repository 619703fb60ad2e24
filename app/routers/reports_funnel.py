"""The funnel report against the ideal funnel, as a whole and week by week (SPEC §9)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from app.domain import errors
from app.domain.reports import FlowFigures, Period
from app.domain.roles import Principal
from app.routers.deps import UoW, allow
from app.routers.problems import responses
from app.routers.schemas.reports_funnel import (
    FunnelReportRead,
    FunnelWeeklyRead,
    SubjectRead,
    WeekRead,
)
from app.services import reports_funnel as service
from app.services import reports_workbook
from app.services.reports_workbook import XLSX_MEDIA_TYPE

router = APIRouter(prefix="/reports", tags=["reports"])

Reader = Annotated[Principal, allow(*service.REPORT_READERS)]
From = Annotated[
    dt.date | None,
    Query(
        alias="from",
        description=("First day of the period (business time zone); default: the first of the current month"),
    ),
]
To = Annotated[
    dt.date | None,
    Query(description=("Day after the period (exclusive); default: the first of the month after `from`")),
]
TeamId = Annotated[uuid.UUID | None, Query(description="A team; its sub-teams are included")]
OwnerId = Annotated[uuid.UUID | None, Query(description="A rep (owner at the time)")]


def period_read(period: Period) -> dict[str, dt.date]:
    return {"from": period.start, "to": period.end}


def _subject(subject: service.Subject) -> SubjectRead:
    return SubjectRead(type=subject.type, id=subject.id, name=subject.name)


def _flow(flow: FlowFigures) -> dict[str, Any]:
    return {
        "steps": [asdict(step) for step in flow.steps],
        "abandoned": {"count": flow.abandoned, "by_reason": flow.abandoned_by_reason},
        "signed": flow.signed,
        "out_of_funnel_signed": flow.out_of_funnel_signed,
        "forward_exits": flow.forward_exits,
    }


@router.get(
    "/funnel",
    operation_id="reports_funnel",
    response_model=FunnelReportRead,
    responses={
        **responses(errors.Forbidden, errors.NotFound, errors.ReportInvalidPeriod),
        200: {
            "content": {XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            "description": "The report (JSON), or the workbook with `format=xlsx`",
        },
    },
)
async def funnel(
    actor: Reader,
    uow: UoW,
    from_: From = None,
    to: To = None,
    team_id: TeamId = None,
    owner_id: OwnerId = None,
    format: Literal["json", "xlsx"] = "json",
) -> FunnelReportRead | Response:
    """The funnel against the ideal for the company, a team (with sub-teams) or a rep:
    each stage now (count, amount, holding per rep, stalled) and each step over the period
    (entered, converted, conversion, median days), abandonments by reason and
    out-of-funnel signings. Reps see their own figures, managers their team trees.

    `format=xlsx` answers the seed's workbook (按漏斗层次设置子表): a summary sheet with a
    funnel chart of actual against ideal holding, and one sheet per stage listing its
    customers (owner, days in stage, last contact, next follow-up)."""
    if format == "xlsx":
        book = await reports_workbook.funnel_workbook(
            uow, actor, start=from_, end=to, team_id=team_id, owner_id=owner_id
        )
        return Response(
            content=book.content,
            media_type=XLSX_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{book.filename}"'},
        )
    report = await service.funnel_report(uow, actor, start=from_, end=to, team_id=team_id, owner_id=owner_id)
    return FunnelReportRead(
        subject=_subject(report.subject),
        period=period_read(report.period),
        as_of=report.as_of,
        stages=[asdict(stage) for stage in report.stages],
        **_flow(report.flow),
    )


@router.get(
    "/funnel/weekly",
    operation_id="reports_funnel_weekly",
    response_model=FunnelWeeklyRead,
    responses=responses(errors.Forbidden, errors.NotFound, errors.ReportInvalidPeriod),
)
async def funnel_weekly(
    actor: Reader,
    uow: UoW,
    from_: From = None,
    to: To = None,
    team_id: TeamId = None,
    owner_id: OwnerId = None,
) -> FunnelWeeklyRead:
    """The step figures, abandonments and signings per ISO week of the period (the first
    and last weeks clipped to it), for trend lines."""
    report = await service.funnel_weekly(uow, actor, start=from_, end=to, team_id=team_id, owner_id=owner_id)
    return FunnelWeeklyRead(
        subject=_subject(report.subject),
        period=period_read(report.period),
        weeks=[
            WeekRead(week=_iso_week(week.period.start), period=period_read(week.period), **_flow(week))
            for week in report.weeks
        ],
    )


def _iso_week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"

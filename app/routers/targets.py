"""Sales targets (销售目标分解): company → team → rep, and their tracking report."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.domain import errors
from app.domain.roles import Principal
from app.domain.targets import Level
from app.routers.deps import Cursor, IfMatch, Limit, UoW, allow, set_etag
from app.routers.problems import PAGED, VERSIONED, responses
from app.routers.schemas.common import Page
from app.routers.schemas.targets import (
    Level as LevelText,
)
from app.routers.schemas.targets import (
    PeriodText,
    TargetCreate,
    TargetLineRead,
    TargetRead,
    TargetReportRead,
    TargetSubject,
    TargetUpdate,
)
from app.services import targets as service

router = APIRouter(prefix="/targets", tags=["targets"])
report_router = APIRouter(prefix="/reports", tags=["reports"])

Reader = Annotated[Principal, allow(*service.TARGET_READERS)]
_WRITE_ERRORS = (errors.Forbidden, errors.NotFound, errors.TargetExists, errors.TargetInvalidParent)


@router.get(
    "",
    operation_id="targets_list",
    response_model=Page[TargetRead],
    responses=responses(errors.Forbidden, *PAGED),
)
async def list_targets(
    actor: Reader,
    uow: UoW,
    cursor: Cursor = None,
    limit: Limit = 50,
    period: Annotated[PeriodText | None, Query()] = None,
    level: LevelText | None = None,
) -> Page[TargetRead]:
    """Targets in the caller's scope: all for directors, admins and finance; a manager's
    team trees; a rep's own."""
    page = await service.list_targets(
        uow, actor, period=period, level=None if level is None else Level(level), cursor=cursor, limit=limit
    )
    return Page[TargetRead](
        items=[TargetRead.model_validate(t) for t in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "",
    operation_id="targets_create",
    response_model=TargetRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(*_WRITE_ERRORS),
)
async def create_target(body: TargetCreate, actor: Reader, uow: UoW, response: Response) -> TargetRead:
    """Directors and admins set company and team targets; managers set their reps'. A
    `parent_id` decomposes a target one level up of the same period."""
    target = await service.create_target(
        uow,
        actor,
        period=body.period,
        level=Level(body.level),
        team_id=body.team_id,
        owner_id=body.owner_id,
        parent_id=body.parent_id,
        signed_amount=body.signed_amount,
        collected_amount=body.collected_amount,
        product=body.product,
        region=body.region,
    )
    set_etag(response, target.version)
    response.headers["Location"] = f"/api/v1/targets/{target.id}"
    return TargetRead.model_validate(target)


@router.get(
    "/{target_id}",
    operation_id="targets_get",
    response_model=TargetRead,
    responses=responses(errors.Forbidden, errors.NotFound),
)
async def get_target(target_id: uuid.UUID, actor: Reader, uow: UoW, response: Response) -> TargetRead:
    target = await service.get_target(uow, actor, target_id=target_id)
    set_etag(response, target.version)
    return TargetRead.model_validate(target)


@router.patch(
    "/{target_id}",
    operation_id="targets_update",
    response_model=TargetRead,
    responses=responses(*_WRITE_ERRORS, *VERSIONED),
)
async def update_target(
    target_id: uuid.UUID,
    body: TargetUpdate,
    actor: Reader,
    uow: UoW,
    expected_version: IfMatch,
    response: Response,
) -> TargetRead:
    """Change the amounts, product, region or parent (not the period or subject)."""
    target = await service.update_target(
        uow,
        actor,
        target_id=target_id,
        expected_version=expected_version,
        changes=body.model_dump(exclude_unset=True),
    )
    set_etag(response, target.version)
    return TargetRead.model_validate(target)


@router.delete(
    "/{target_id}",
    operation_id="targets_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(errors.Forbidden, errors.NotFound, errors.TargetHasChildren, *VERSIONED),
)
async def delete_target(target_id: uuid.UUID, actor: Reader, uow: UoW, expected_version: IfMatch) -> None:
    """Delete a target that nothing decomposes (409 `target.has_children` otherwise)."""
    await service.delete_target(uow, actor, target_id=target_id, expected_version=expected_version)


@report_router.get(
    "/targets",
    operation_id="reports_targets",
    response_model=TargetReportRead,
    responses=responses(errors.Forbidden),
)
async def target_report(
    actor: Reader,
    uow: UoW,
    period: Annotated[PeriodText | None, Query(description="Default: the current month")] = None,
) -> TargetReportRead:
    """Each target of the period in scope against its actuals, completion, the even pace to
    date, and what is unallocated (negative: over-allocated) to the level below."""
    period_text, lines = await service.target_report(uow, actor, period=period)
    return TargetReportRead(
        period=period_text,
        items=[
            TargetLineRead(
                target_id=line.target.id,
                level=line.target.level,  # type: ignore[arg-type]
                subject=TargetSubject(
                    type=line.target.level,  # type: ignore[arg-type]
                    id=line.target.owner_id or line.target.team_id,
                    name=line.subject_name,
                ),
                product=line.target.product,
                region=line.target.region,
                parent_id=line.target.parent_id,
                target_signed=line.target.signed_amount,
                actual_signed=line.actual_signed,
                target_collected=line.target.collected_amount,
                actual_collected=line.actual_collected,
                completion_signed=line.completion_signed,
                completion_collected=line.completion_collected,
                expected_to_date=line.expected_to_date,
                expected_collected_to_date=line.expected_collected_to_date,
                unallocated_signed=line.unallocated_signed,
                unallocated_collected=line.unallocated_collected,
                children=line.children,
            )
            for line in lines
        ],
    )

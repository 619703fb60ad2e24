"""Activities: calls, visits, emails, messages and meetings logged against customers."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Response, status

from app.domain import errors
from app.domain.roles import Principal
from app.routers.deps import Caller, Cursor, IfMatch, Limit, UoW, UpdatedSince, allow, set_etag
from app.routers.problems import IDEMPOTENT, PAGED, VERSIONED, WRITES, responses
from app.routers.schemas.common import Page, UtcDateTime
from app.routers.schemas.customers import (
    ActivityCreate,
    ActivityRead,
    ActivityType,
    ActivityUpdate,
    activity_read,
    activity_values,
)
from app.services import activities as activities_service

router = APIRouter(prefix="/activities", tags=["activities"])

Logger = Annotated[Principal, allow(*activities_service.LOGGERS)]


@router.get(
    "", operation_id="activities_list", response_model=Page[ActivityRead], responses=responses(*PAGED)
)
async def list_activities(
    actor: Caller,
    uow: UoW,
    cursor: Cursor = None,
    limit: Limit = 50,
    customer_id: uuid.UUID | None = None,
    type: ActivityType | None = None,
    created_by: uuid.UUID | None = None,
    occurred_from: UtcDateTime | None = None,
    occurred_to: UtcDateTime | None = None,
    updated_since: UpdatedSince = None,
) -> Page[ActivityRead]:
    """Activities on customers in the caller's scope, newest first."""
    page = await activities_service.list_activities(
        uow,
        actor,
        customer_id=customer_id,
        type_=type,
        created_by=created_by,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
        updated_since=updated_since,
        cursor=cursor,
        limit=limit,
    )
    return Page[ActivityRead](items=[activity_read(a) for a in page.items], next_cursor=page.next_cursor)


@router.post(
    "",
    operation_id="activities_create",
    response_model=ActivityRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(
        errors.NotFound, errors.Forbidden, errors.ActivityAlreadyExists, *IDEMPOTENT, *WRITES
    ),
)
async def create_activity(body: ActivityCreate, actor: Logger, uow: UoW, response: Response) -> ActivityRead:
    """Log an activity (the client may supply its id). Moves the customer's `last_contact_at`."""
    values = activity_values(body.model_dump(exclude={"id"}, exclude_unset=True))
    values.setdefault("type", body.type)
    activity = await activities_service.log_activity(uow, actor, values=values, activity_id=body.id)
    set_etag(response, activity.version)
    response.headers["Location"] = f"/api/v1/activities/{activity.id}"
    return activity_read(activity)


@router.get(
    "/{activity_id}",
    operation_id="activities_get",
    response_model=ActivityRead,
    responses=responses(errors.NotFound),
)
async def get_activity(activity_id: uuid.UUID, actor: Caller, uow: UoW, response: Response) -> ActivityRead:
    activity = await activities_service.get_activity(uow, actor, activity_id=activity_id)
    set_etag(response, activity.version)
    return activity_read(activity)


@router.patch(
    "/{activity_id}",
    operation_id="activities_update",
    response_model=ActivityRead,
    responses=responses(errors.NotFound, errors.Forbidden, *VERSIONED, *WRITES),
)
async def update_activity(
    activity_id: uuid.UUID,
    body: ActivityUpdate,
    actor: Logger,
    uow: UoW,
    expected_version: IfMatch,
    response: Response,
) -> ActivityRead:
    activity = await activities_service.update_activity(
        uow,
        actor,
        activity_id=activity_id,
        expected_version=expected_version,
        changes=activity_values(body.model_dump(exclude_unset=True)),
    )
    set_etag(response, activity.version)
    return activity_read(activity)


@router.delete(
    "/{activity_id}",
    operation_id="activities_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(errors.NotFound, errors.Forbidden, *VERSIONED, *WRITES),
)
async def delete_activity(activity_id: uuid.UUID, actor: Logger, uow: UoW, expected_version: IfMatch) -> None:
    await activities_service.delete_activity(
        uow, actor, activity_id=activity_id, expected_version=expected_version
    )

"""Offline sync for mobile apps: push a batch of changes, pull everything in scope since a cursor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.domain import errors
from app.domain.roles import Principal
from app.domain.sync import DEFAULT_PULL_LIMIT, MAX_PULL_LIMIT
from app.routers.deps import Caller, Cursor, UoW, allow
from app.routers.problems import IDEMPOTENT, WRITES, responses
from app.routers.schemas.customers import ContactRead, CustomerRead, activity_read
from app.routers.schemas.sync import (
    CHANGE_OUT,
    SyncPullResponse,
    SyncPushRequest,
    SyncPushResponse,
    SyncPushResult,
    parse_change,
)
from app.routers.schemas.tasks import TaskRead
from app.services import sync as sync_service

router = APIRouter(prefix="/sync", tags=["sync"])

Pusher = Annotated[Principal, allow(*sync_service.PUSHERS)]

# Each record travels as its own GET answers it.
_READ: dict[str, Callable[[Any], Any]] = {
    "customer": CustomerRead.model_validate,
    "contact": ContactRead.model_validate,
    "activity": activity_read,
    "task": TaskRead.model_validate,
}


def _data(entity: str, record: Any) -> dict[str, Any]:
    return _READ[entity](record).model_dump(mode="json")  # type: ignore[no-any-return]


def _result(result: sync_service.PushResult) -> SyncPushResult:
    return SyncPushResult(
        id=None if result.id is None else str(result.id),
        status=result.status,  # type: ignore[arg-type]
        version=result.version,
        code=result.code,
        detail=result.detail,
        errors=result.errors,
        server=None
        if result.server is None or result.entity is None
        else _data(result.entity, result.server),
    )


@router.post(
    "/push",
    operation_id="sync_push",
    response_model=SyncPushResponse,
    response_model_exclude_none=True,
    responses=responses(errors.Forbidden, errors.SyncBatchTooLarge, *IDEMPOTENT, *WRITES),
)
async def push_changes(body: SyncPushRequest, actor: Pusher, uow: UoW) -> SyncPushResponse:
    """Apply a device's offline changes to activities and tasks, in order. Each is answered
    `applied` (with the new version), `conflict` (its `base_version` is stale: with the server's
    copy) or `rejected` (with the reasons); one bad change does not stop the others. Sending
    the same batch again (after a lost response) applies nothing twice."""
    results = await sync_service.push(
        uow, actor, device_id=body.device_id, items=[parse_change(c) for c in body.changes]
    )
    return SyncPushResponse(results=[_result(r) for r in results])


@router.get(
    "/pull",
    operation_id="sync_pull",
    response_model=SyncPullResponse,
    response_model_exclude_none=True,
    responses=responses(errors.SyncInvalidCursor),
)
async def pull_changes(
    actor: Caller,
    uow: UoW,
    cursor: Cursor = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PULL_LIMIT, description="Changes per page")
    ] = DEFAULT_PULL_LIMIT,
) -> SyncPullResponse:
    """Everything in the caller's scope changed since `cursor`: customers, contacts, activities
    and tasks, with tombstones (`delete`) and `scope_exit` for records that left the scope.
    Without a cursor: a full snapshot (`reset: true`). Page until `has_more` is false."""
    page = await sync_service.pull(uow, actor, cursor=cursor, limit=limit)
    return SyncPullResponse(
        changes=[
            CHANGE_OUT[c.entity](
                entity=c.entity,
                op=c.op,
                id=c.id,
                version=c.version,  # type: ignore[call-arg, arg-type]
                data=None if c.record is None else _data(c.entity, c.record),
            )
            for c in page.changes
        ],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
        reset=page.reset,
    )

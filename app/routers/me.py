"""The caller's own account."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from app.domain import errors
from app.routers.deps import Caller, Cursor, Limit, UoW, set_etag
from app.routers.problems import responses
from app.routers.schemas.customers import CustomerRead
from app.routers.schemas.funnel import WorkItemRead, Worklist
from app.routers.schemas.org import MeRead, UserRead
from app.services import pool as pool_service
from app.services import users as users_service

router = APIRouter(prefix="/me", tags=["me"])


@router.get("", operation_id="me_get", response_model=MeRead, responses=responses(errors.NotFound))
async def get_me(actor: Caller, uow: UoW, response: Response) -> MeRead:
    user = await users_service.get_user(uow, actor, user_id=actor.user_id)
    set_etag(response, user.version)
    return MeRead(
        **UserRead.model_validate(user).model_dump(),
        scope=actor.scope.value,
        team_ids=sorted(actor.team_ids, key=str),
    )


@router.get(
    "/worklist",
    operation_id="me_worklist",
    response_model=Worklist,
    responses=responses(errors.Forbidden, errors.InvalidCursor),
)
async def get_worklist(
    actor: Caller,
    uow: UoW,
    cursor: Cursor = None,
    limit: Limit = 50,
    scope: Annotated[
        Literal["own", "team"], Query(description="own: your customers; team: your teams' (managers)")
    ] = "own",
) -> Worklist:
    """The customers that need an action today (上行原则), each with its reasons: from the
    bottom of the funnel up, then by urgency — payment overdue, protection about to lapse,
    follow-up or task due, stalled, new claim not contacted — then the fastest movers.
    A customer with nothing to do is not listed."""
    page = await pool_service.worklist(uow, actor, scope=scope, cursor=cursor, limit=limit)
    return Worklist(
        items=[
            WorkItemRead(
                customer=CustomerRead.model_validate(i.customer),
                reasons=i.reasons,
                protection_deadline=i.protection_deadline,
                follow_up_at=i.follow_up_at,
            )
            for i in page.items
        ],
        next_cursor=page.next_cursor,
    )

"""The caller's own account."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.domain import errors
from app.routers.deps import Caller, UoW, set_etag
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
    return MeRead(**UserRead.model_validate(user).model_dump(), scope=actor.scope.value,
                  team_ids=sorted(actor.team_ids, key=str))


@router.get("/worklist", operation_id="me_worklist", response_model=Worklist, responses=responses())
async def get_worklist(actor: Caller, uow: UoW) -> Worklist:
    """Your customers from the bottom of the funnel up (上行原则), then by urgency — protection
    about to lapse, follow-up due, stalled, payment overdue — each with its reasons."""
    items = await pool_service.worklist(uow, actor)
    return Worklist(items=[WorkItemRead(customer=CustomerRead.model_validate(i.customer), reasons=i.reasons,
                                        protection_deadline=i.protection_deadline,
                                        follow_up_at=i.follow_up_at) for i in items])

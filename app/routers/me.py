"""The caller's own account."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.routers.deps import Caller, UoW, set_etag
from app.routers.problems import responses
from app.routers.schemas.org import MeRead, UserRead
from app.services import users as users_service

router = APIRouter(prefix="/me", tags=["me"])


@router.get("", operation_id="me_get", response_model=MeRead, responses=responses(401))
async def get_me(actor: Caller, uow: UoW, response: Response) -> MeRead:
    user = await users_service.get_user(uow, actor, user_id=actor.user_id)
    set_etag(response, user.version)
    return MeRead(**UserRead.model_validate(user).model_dump(), scope=actor.scope.value,
                  team_ids=sorted(actor.team_ids, key=str))

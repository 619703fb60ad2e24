"""Users: admins manage accounts; everyone reads the users in their scope."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Response, status

from app.domain import errors
from app.domain.roles import Principal, Role
from app.routers.deps import Caller, Cursor, IfMatch, Limit, UoW, allow, set_etag
from app.routers.problems import IDEMPOTENT, PAGED, VERSIONED, WRITES, responses
from app.routers.schemas.common import Page
from app.routers.schemas.funnel import HandoverRead, HandoverRequest
from app.routers.schemas.org import UserCreate, UserRead, UserUpdate
from app.services import pool as pool_service
from app.services import users as users_service

router = APIRouter(prefix="/users", tags=["users"])

Admin = Annotated[Principal, allow(Role.admin)]


@router.get("", operation_id="users_list", response_model=Page[UserRead], responses=responses(*PAGED))
async def list_users(
    actor: Caller,
    uow: UoW,
    cursor: Cursor = None,
    limit: Limit = 50,
    role: Role | None = None,
    team_id: uuid.UUID | None = None,
    is_active: bool | None = None,
) -> Page[UserRead]:
    page = await users_service.list_users(
        uow, actor, role=role, team_id=team_id, is_active=is_active, cursor=cursor, limit=limit
    )
    return Page[UserRead](
        items=[UserRead.model_validate(u) for u in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "",
    operation_id="users_create",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(
        errors.Forbidden,
        errors.UsernameTaken,
        errors.UserTeamNotFound,
        errors.WeakPassword,
        *IDEMPOTENT,
        *WRITES,
    ),
)
async def create_user(body: UserCreate, actor: Admin, uow: UoW, response: Response) -> UserRead:
    user = await users_service.create_user(uow, actor, **body.model_dump())
    set_etag(response, user.version)
    response.headers["Location"] = f"/api/v1/users/{user.id}"
    return UserRead.model_validate(user)


@router.get(
    "/{user_id}", operation_id="users_get", response_model=UserRead, responses=responses(errors.NotFound)
)
async def get_user(user_id: uuid.UUID, actor: Caller, uow: UoW, response: Response) -> UserRead:
    user = await users_service.get_user(uow, actor, user_id=user_id)
    set_etag(response, user.version)
    return UserRead.model_validate(user)


@router.patch(
    "/{user_id}",
    operation_id="users_update",
    response_model=UserRead,
    responses=responses(
        errors.NotFound, errors.Forbidden, errors.UserTeamNotFound, errors.WeakPassword, *VERSIONED, *WRITES
    ),
)
async def update_user(
    user_id: uuid.UUID,
    body: UserUpdate,
    actor: Admin,
    uow: UoW,
    expected_version: IfMatch,
    response: Response,
) -> UserRead:
    user = await users_service.update_user(
        uow,
        actor,
        user_id=user_id,
        expected_version=expected_version,
        changes=body.model_dump(exclude_unset=True),
    )
    set_etag(response, user.version)
    return UserRead.model_validate(user)


@router.post(
    "/{user_id}/deactivate",
    operation_id="users_deactivate",
    response_model=UserRead,
    responses=responses(
        errors.NotFound,
        errors.Forbidden,
        errors.CannotDeactivateSelf,
        errors.UserOwnsCustomers,
        *IDEMPOTENT,
        *WRITES,
    ),
)
async def deactivate_user(user_id: uuid.UUID, actor: Admin, uow: UoW, response: Response) -> UserRead:
    """Deactivate an account: it can no longer log in or refresh. Refused while it owns customers."""
    user = await users_service.deactivate_user(uow, actor, user_id=user_id)
    set_etag(response, user.version)
    return UserRead.model_validate(user)


Handover = Annotated[Principal, allow(*pool_service.HANDOVER_ROLES)]


@router.post(
    "/{user_id}/handover",
    operation_id="users_handover",
    response_model=HandoverRead,
    responses=responses(
        errors.NotFound,
        errors.Forbidden,
        errors.CustomerInvalidOwner,
        errors.QuotaExceeded,
        errors.HandoverSameUser,
        errors.HandoverNoRecipient,
        *IDEMPOTENT,
        *WRITES,
    ),
)
async def handover_user(user_id: uuid.UUID, body: HandoverRequest, actor: Handover, uow: UoW) -> HandoverRead:
    """Hand a departing user's customers over (fat-man, all to the pool, or to one user) and
    report what went where. `dry_run` answers the plan only."""
    result = await pool_service.handover(
        uow, actor, user_id=user_id, strategy=body.strategy, to_user_id=body.to_user_id, dry_run=body.dry_run
    )
    return HandoverRead.model_validate(result)

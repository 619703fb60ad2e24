"""Teams: a tree (region → group) with a manager each."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Response, status

from app.domain import errors
from app.domain.roles import Principal, Role
from app.routers.deps import Caller, Cursor, IfMatch, Limit, UoW, allow, set_etag
from app.routers.problems import IDEMPOTENT, PAGED, VERSIONED, WRITES, responses
from app.routers.schemas.common import Page
from app.routers.schemas.org import TeamCreate, TeamRead, TeamUpdate
from app.services import teams as teams_service

router = APIRouter(prefix="/teams", tags=["teams"])

Admin = Annotated[Principal, allow(Role.admin)]


@router.get("", operation_id="teams_list", response_model=Page[TeamRead], responses=responses(*PAGED))
async def list_teams(
    actor: Caller, uow: UoW, cursor: Cursor = None, limit: Limit = 50, parent_id: uuid.UUID | None = None
) -> Page[TeamRead]:
    page = await teams_service.list_teams(uow, actor, parent_id=parent_id, cursor=cursor, limit=limit)
    return Page[TeamRead](
        items=[TeamRead.model_validate(t) for t in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "",
    operation_id="teams_create",
    response_model=TeamRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(
        errors.Forbidden, errors.TeamInvalidManager, errors.TeamParentNotFound, *IDEMPOTENT, *WRITES
    ),
)
async def create_team(body: TeamCreate, actor: Admin, uow: UoW, response: Response) -> TeamRead:
    team = await teams_service.create_team(uow, actor, **body.model_dump())
    set_etag(response, team.version)
    response.headers["Location"] = f"/api/v1/teams/{team.id}"
    return TeamRead.model_validate(team)


@router.get(
    "/{team_id}", operation_id="teams_get", response_model=TeamRead, responses=responses(errors.NotFound)
)
async def get_team(team_id: uuid.UUID, actor: Caller, uow: UoW, response: Response) -> TeamRead:
    team = await teams_service.get_team(uow, actor, team_id=team_id)
    set_etag(response, team.version)
    return TeamRead.model_validate(team)


@router.patch(
    "/{team_id}",
    operation_id="teams_update",
    response_model=TeamRead,
    responses=responses(
        errors.NotFound,
        errors.Forbidden,
        errors.TeamInvalidManager,
        errors.TeamParentNotFound,
        errors.TeamCycle,
        *VERSIONED,
        *WRITES,
    ),
)
async def update_team(
    team_id: uuid.UUID,
    body: TeamUpdate,
    actor: Admin,
    uow: UoW,
    expected_version: IfMatch,
    response: Response,
) -> TeamRead:
    team = await teams_service.update_team(
        uow,
        actor,
        team_id=team_id,
        expected_version=expected_version,
        changes=body.model_dump(exclude_unset=True),
    )
    set_etag(response, team.version)
    return TeamRead.model_validate(team)

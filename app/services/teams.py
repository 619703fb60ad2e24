"""Use cases for the team tree (region → group)."""

from __future__ import annotations

import uuid
from typing import Any

from app.db.models import Team
from app.db.repositories.pagination import Page
from app.db.uow import UnitOfWork
from app.domain.errors import TeamCycle, TeamInvalidManager, TeamParentNotFound
from app.domain.roles import Principal, Role
from app.services.common import apply_changes, check_version, found

MANAGER_ROLES = {Role.manager.value, Role.director.value}


async def list_teams(
    uow: UnitOfWork, actor: Principal, *, parent_id: uuid.UUID | None, cursor: str | None, limit: int
) -> Page[Team]:
    async with uow:
        return await uow.teams.list(actor, parent_id=parent_id, cursor=cursor, limit=limit)


async def get_team(uow: UnitOfWork, actor: Principal, *, team_id: uuid.UUID) -> Team:
    async with uow:
        return found(await uow.teams.get(team_id, principal=actor), "Team")


async def _check_manager(uow: UnitOfWork, manager_id: uuid.UUID | None) -> None:
    if manager_id is None:
        return
    manager = await uow.users.get_unscoped(manager_id)
    if manager is None or not manager.is_active or manager.role not in MANAGER_ROLES:
        raise TeamInvalidManager(
            "A team's manager must be an active manager or director", manager_id=str(manager_id)
        )


async def _parent_path(uow: UnitOfWork, parent_id: uuid.UUID | None) -> str:
    if parent_id is None:
        return "/"
    parent = await uow.teams.get_unscoped(parent_id)
    if parent is None:
        raise TeamParentNotFound("The parent team does not exist", parent_id=str(parent_id))
    return parent.path


async def create_team(
    uow: UnitOfWork,
    actor: Principal,
    *,
    name: str,
    parent_id: uuid.UUID | None = None,
    manager_id: uuid.UUID | None = None,
) -> Team:
    async with uow:
        await _check_manager(uow, manager_id)
        team_id = uuid.uuid4()
        team = Team(
            id=team_id,
            name=name,
            parent_id=parent_id,
            manager_id=manager_id,
            path=f"{await _parent_path(uow, parent_id)}{team_id}/",
        )
        uow.teams.add(team)
        await uow.commit()
        return team


async def update_team(
    uow: UnitOfWork,
    actor: Principal,
    *,
    team_id: uuid.UUID,
    expected_version: int | None,
    changes: dict[str, Any],
) -> Team:
    async with uow:
        team = found(await uow.teams.get(team_id, principal=actor, for_update=True), "Team")
        check_version(team, expected_version)
        if "manager_id" in changes:
            await _check_manager(uow, changes["manager_id"])
        if "parent_id" in changes and changes["parent_id"] != team.parent_id:
            new_prefix = await _parent_path(uow, changes["parent_id"])
            if new_prefix.startswith(team.path):
                raise TeamCycle("A team cannot be moved under itself or its descendants")
            old_path, new_path = team.path, f"{new_prefix}{team.id}/"
            for child in await uow.teams.descendants(team):
                child.path = new_path + child.path[len(old_path) :]
            changes = {**changes, "path": new_path}
        apply_changes(team, changes)
        await uow.commit()
        return team

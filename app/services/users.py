"""Use cases for user accounts."""

from __future__ import annotations

import uuid
from typing import Any

from app.db.base import utcnow
from app.db.models import User
from app.db.repositories.pagination import Page
from app.db.uow import UnitOfWork
from app.domain.errors import (
    CannotDeactivateSelf,
    UsernameTaken,
    UserOwnsCustomers,
    UserTeamNotFound,
)
from app.domain.roles import Principal, Role
from app.services import security
from app.services.common import apply_changes, check_version, found


async def list_users(
    uow: UnitOfWork,
    actor: Principal,
    *,
    role: Role | None = None,
    team_id: uuid.UUID | None = None,
    is_active: bool | None = None,
    cursor: str | None,
    limit: int,
) -> Page[User]:
    async with uow:
        return await uow.users.list(
            actor, role=role, team_id=team_id, is_active=is_active, cursor=cursor, limit=limit
        )


async def get_user(uow: UnitOfWork, actor: Principal, *, user_id: uuid.UUID) -> User:
    async with uow:
        return found(await uow.users.get(user_id, principal=actor), "User")


async def _require_team(uow: UnitOfWork, team_id: uuid.UUID | None) -> None:
    if team_id is not None and await uow.teams.get_unscoped(team_id) is None:
        raise UserTeamNotFound("The team does not exist", team_id=str(team_id))


async def create_user(
    uow: UnitOfWork,
    actor: Principal,
    *,
    username: str,
    password: str,
    role: Role,
    team_id: uuid.UUID | None = None,
    full_name: str = "",
    email: str | None = None,
) -> User:
    async with uow:
        if await uow.users.get_by_username(username) is not None:
            raise UsernameTaken("That username is taken", username=username)
        await _require_team(uow, team_id)
        security.check_password_policy(password, user_inputs=(username, full_name, email or ""))
        user = User(
            username=username,
            password_hash=security.hash_password(password),
            role=role.value,
            team_id=team_id,
            full_name=full_name,
            email=email,
        )
        uow.users.add(user)
        await uow.commit()
        return user


async def update_user(
    uow: UnitOfWork,
    actor: Principal,
    *,
    user_id: uuid.UUID,
    expected_version: int | None,
    changes: dict[str, Any],
) -> User:
    async with uow:
        user = found(await uow.users.get(user_id, principal=actor, for_update=True), "User")
        check_version(user, expected_version)
        changes = dict(changes)
        if "password" in changes:
            security.check_password_policy(
                changes["password"],
                user_inputs=(user.username, changes.get("full_name") or user.full_name, user.email or ""),
            )
            changes["password_hash"] = security.hash_password(changes.pop("password"))
            await uow.refresh_tokens.revoke_all_for_user(user.id, utcnow())
        if "role" in changes and changes["role"] is not None:
            changes["role"] = Role(changes["role"]).value
        if "team_id" in changes:
            await _require_team(uow, changes["team_id"])
        apply_changes(user, changes)
        await uow.commit()
        return user


async def deactivate_user(uow: UnitOfWork, actor: Principal, *, user_id: uuid.UUID) -> User:
    async with uow:
        user = found(await uow.users.get(user_id, principal=actor, for_update=True), "User")
        if user.id == actor.user_id:
            raise CannotDeactivateSelf("You cannot deactivate yourself")
        if not user.is_active:
            return user
        owned = await uow.customers.count_owned(user.id)
        if owned:
            raise UserOwnsCustomers(
                "The user still owns customers; hand them over first",
                owned_customers=owned,
            )
        now = utcnow()
        user.is_active = False
        user.deactivated_at = now
        await uow.refresh_tokens.revoke_all_for_user(user.id, now)
        await uow.commit()
        return user

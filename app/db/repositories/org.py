"""Users and teams, with queries already limited to what the caller may see."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Team, User
from app.db.repositories.lookup import by_id
from app.db.repositories.pagination import Page, paginate
from app.domain.roles import Principal, Scope


class TeamRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def visible_to(self, principal: Principal) -> Select[tuple[Team]]:
        stmt = select(Team)
        if principal.scope is Scope.team:
            return stmt.where(Team.id.in_(principal.team_ids))
        if principal.scope is Scope.own:
            return stmt.where(Team.id == principal.team_id)
        return stmt

    async def get(self, team_id: uuid.UUID, *, principal: Principal, for_update: bool = False) -> Team | None:
        """The team, if the caller may see it."""
        return await by_id(self.session, self.visible_to(principal), Team, team_id, for_update=for_update)

    async def get_unscoped(self, team_id: uuid.UUID, *, for_update: bool = False) -> Team | None:
        """The team whoever may see it: for system work and already-checked references."""
        return await by_id(self.session, select(Team), Team, team_id, for_update=for_update)

    async def list(
        self, principal: Principal, *, parent_id: uuid.UUID | None, cursor: str | None, limit: int
    ) -> Page[Team]:
        stmt = self.visible_to(principal)
        if parent_id is not None:
            stmt = stmt.where(Team.parent_id == parent_id)
        return await paginate(
            self.session,
            stmt,
            sort="name",
            keys=[Team.name, Team.id],
            key_of=lambda t: [t.name, t.id],
            cursor=cursor,
            limit=limit,
        )

    async def subtree_ids(self, roots: Iterable[uuid.UUID]) -> frozenset[uuid.UUID]:
        """Ids of the given teams and all their descendants."""
        paths = (await self.session.scalars(select(Team.path).where(Team.id.in_(list(roots))))).all()
        if not paths:
            return frozenset()
        stmt = select(Team.id).where(or_(*[Team.path.startswith(p) for p in paths]))
        return frozenset((await self.session.scalars(stmt)).all())

    async def managed_by(self, user_id: uuid.UUID) -> list[uuid.UUID]:
        stmt = select(Team.id).where(Team.manager_id == user_id)
        return list((await self.session.scalars(stmt)).all())

    async def manager_above(
        self, team_id: uuid.UUID | None, *, exclude: uuid.UUID | None = None
    ) -> User | None:
        """The active manager of ``team_id`` or, failing that, of the nearest ancestor team
        (``exclude``: someone who does not count, e.g. a departing manager)."""
        while team_id is not None:
            team = await self.session.get(Team, team_id)
            if team is None:
                return None
            if team.manager_id is not None and team.manager_id != exclude:
                manager = await self.session.get(User, team.manager_id)
                if manager is not None and manager.is_active:
                    return manager
            team_id = team.parent_id
        return None

    async def descendants(self, team: Team) -> list[Team]:
        stmt = select(Team).where(Team.path.startswith(team.path), Team.id != team.id)
        return list((await self.session.scalars(stmt)).all())

    def add(self, team: Team) -> None:
        self.session.add(team)


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def visible_to(self, principal: Principal) -> Select[tuple[User]]:
        stmt = select(User)
        if principal.scope is Scope.team:
            return stmt.where(or_(User.team_id.in_(principal.team_ids), User.id == principal.user_id))
        if principal.scope is Scope.own:
            return stmt.where(User.id == principal.user_id)
        return stmt

    async def get(self, user_id: uuid.UUID, *, principal: Principal, for_update: bool = False) -> User | None:
        """The user, if the caller may see them."""
        return await by_id(self.session, self.visible_to(principal), User, user_id, for_update=for_update)

    async def get_unscoped(self, user_id: uuid.UUID, *, for_update: bool = False) -> User | None:
        """The user whoever may see them: for authentication, system work and already-checked
        references."""
        return await by_id(self.session, select(User), User, user_id, for_update=for_update)

    async def get_by_username(self, username: str) -> User | None:
        return await self.session.scalar(select(User).where(User.username == username))

    async def list(
        self,
        principal: Principal,
        *,
        role: str | None,
        team_id: uuid.UUID | None,
        is_active: bool | None,
        cursor: str | None,
        limit: int,
    ) -> Page[User]:
        stmt = self.visible_to(principal)
        if role is not None:
            stmt = stmt.where(User.role == role)
        if team_id is not None:
            stmt = stmt.where(User.team_id == team_id)
        if is_active is not None:
            stmt = stmt.where(User.is_active.is_(is_active))
        return await paginate(
            self.session,
            stmt,
            sort="username",
            keys=[User.username, User.id],
            key_of=lambda u: [u.username, u.id],
            cursor=cursor,
            limit=limit,
        )

    async def any_exists(self) -> bool:
        return await self.session.scalar(select(User.id).limit(1)) is not None

    def add(self, user: User) -> None:
        self.session.add(user)

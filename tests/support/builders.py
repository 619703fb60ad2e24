"""Small async builders for test data: ``await make_user(uow_factory, role="rep")``."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import lru_cache

import httpx

from app.db.models import Team, User
from app.db.uow import UnitOfWork
from app.services import security

PASSWORD = "correct-horse-battery"


@lru_cache(maxsize=1)
def _password_hash() -> str:
    # Argon2 is slow on purpose; hash the shared test password once.
    return security.hash_password(PASSWORD)


async def make_team(uow_factory: Callable[[], UnitOfWork], *, name: str | None = None,
                    parent: Team | None = None, manager: User | None = None) -> Team:
    async with uow_factory() as uow:
        team_id = uuid.uuid4()
        team = Team(id=team_id, name=name or f"team-{team_id.hex[:6]}",
                    parent_id=parent.id if parent else None,
                    path=f"{parent.path if parent else '/'}{team_id}/",
                    manager_id=manager.id if manager else None)
        uow.teams.add(team)
        await uow.commit()
        return team


async def make_user(uow_factory: Callable[[], UnitOfWork], *, role: str = "rep",
                    team: Team | None = None, username: str | None = None,
                    is_active: bool = True) -> User:
    async with uow_factory() as uow:
        user = User(username=username or f"{role}-{uuid.uuid4().hex[:8]}", role=role,
                    team_id=team.id if team else None, password_hash=_password_hash(),
                    full_name=f"Test {role}", is_active=is_active)
        uow.users.add(user)
        await uow.commit()
        return user


async def set_team_manager(uow_factory: Callable[[], UnitOfWork], team: Team, manager: User) -> None:
    async with uow_factory() as uow:
        stored = await uow.teams.get(team.id)
        assert stored is not None
        stored.manager_id = manager.id
        await uow.commit()


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Log in and answer the token pair."""
    response = await client.post("/api/v1/auth/token",
                                 data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


async def auth_headers(client: httpx.AsyncClient, user: User) -> dict[str, str]:
    tokens = await login(client, user.username)
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def access_headers(user: User) -> dict[str, str]:
    """Bearer headers with an access token minted directly: no login, no Argon2 verify."""
    from app.config import get_settings
    from app.db.base import utcnow

    settings = get_settings()
    token, _ = security.issue_access_token(
        user_id=user.id, role=user.role, secret=settings.effective_secret_key(),
        minutes=settings.access_token_minutes, now=utcnow())
    return {"Authorization": f"Bearer {token}"}


PROBLEM_KEYS = frozenset({"type", "title", "status", "detail", "code"})


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """Assert an RFC 9457 problem+json answer with ``status`` (and ``code``); answer the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert all(isinstance(body[k], str) and body[k] for k in ("type", "title", "detail", "code")), body
    if code is not None:
        assert body["code"] == code, body
    return body

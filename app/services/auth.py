"""Login, refresh-token rotation with reuse detection, logout, and resolving the caller."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass

from app.config import get_settings
from app.db.base import utcnow
from app.db.models import RefreshToken, User
from app.db.uow import UnitOfWork
from app.domain.errors import (
    InactiveUser,
    InvalidCredentials,
    InvalidRefreshToken,
    RefreshTokenReused,
    TooManyAttempts,
    Unauthorized,
)
from app.domain.roles import Principal, Role
from app.services import security


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"


_BAD_LOGIN = "Incorrect username or password"


def _throttle_key(client_address: str, username: str) -> str:
    return hashlib.sha256(f"{client_address}\n{username.casefold()}".encode()).hexdigest()


def lockout_seconds(failures: int) -> int:
    """How long a (client address, username) pair waits after its ``failures``-th failure:
    nothing for the first few, then a short delay doubling up to the maximum."""
    settings = get_settings()
    over = failures - settings.login_max_failures
    if over < 0:
        return 0
    longest = settings.login_lockout_minutes * 60
    return min(settings.login_first_lockout_seconds * 2 ** min(over, 20), longest)


async def login(uow: UnitOfWork, *, username: str, password: str, client_address: str) -> TokenPair:
    """Throttled per client address and username together, so an attacker elsewhere cannot
    lock the owner out, and the same whether or not the username exists (which therefore
    cannot be probed); every path verifies one Argon2 hash, so timing says nothing either."""
    now = utcnow()
    username = username.strip()
    key = _throttle_key(client_address, username)
    async with uow:
        throttle = await uow.login_throttle.get(key)
        if throttle is not None and throttle.locked_until is not None and throttle.locked_until > now:
            security.verify_password(password, None)
            raise TooManyAttempts(
                "Too many failed logins; try again later",
                retry_after=int((throttle.locked_until - now).total_seconds()) + 1,
            )
        user = await uow.users.get_by_username(username)
        verified = security.verify_password(password, user.password_hash if user else None)
        if user is None or not verified or not user.is_active:
            forget_at = now + dt.timedelta(minutes=get_settings().login_lockout_minutes)
            failures = await uow.login_throttle.count_failure(key, now=now, forget_at=forget_at)
            if wait := lockout_seconds(failures):
                await uow.login_throttle.lock(key, until=now + dt.timedelta(seconds=wait))
            await uow.commit()
            raise InvalidCredentials(_BAD_LOGIN)
        if throttle is not None:
            await uow.login_throttle.clear(key)
        pair = await _issue_pair(uow, user, family_id=uuid.uuid4(), now=now)
        await uow.commit()
        return pair


async def purge_login_throttle(uow: UnitOfWork) -> int:
    """Forget failures older than the lockout window (housekeeping)."""
    async with uow:
        removed = await uow.login_throttle.purge_expired(utcnow())
        await uow.commit()
        return removed


async def _issue_pair(uow: UnitOfWork, user: User, *, family_id: uuid.UUID, now: dt.datetime) -> TokenPair:
    settings = get_settings()
    access, expires_in = security.issue_access_token(
        user_id=user.id,
        role=user.role,
        secret=settings.effective_secret_key(),
        minutes=settings.access_token_minutes,
        now=now,
    )
    refresh, refresh_hash = security.new_refresh_token()
    uow.refresh_tokens.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=refresh_hash,
            created_at=now,
            expires_at=now + dt.timedelta(days=settings.refresh_token_days),
        )
    )
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=expires_in)


async def refresh(uow: UnitOfWork, *, refresh_token: str) -> TokenPair:
    now = utcnow()
    async with uow:
        stored = await uow.refresh_tokens.get_by_hash(security.hash_refresh_token(refresh_token))
        if stored is None or stored.revoked_at is not None or stored.expires_at <= now:
            raise InvalidRefreshToken("The refresh token is invalid or expired")
        if not await uow.refresh_tokens.mark_rotated(stored.id, now):
            # Presenting a token that was already rotated means it leaked: end the whole family.
            await uow.refresh_tokens.revoke_family(stored.family_id, now)
            await uow.commit()
            raise RefreshTokenReused("The refresh token was already used; please log in again")
        user = await uow.users.get_unscoped(stored.user_id)
        if user is None or not user.is_active:
            await uow.refresh_tokens.revoke_family(stored.family_id, now)
            await uow.commit()
            raise InactiveUser("The account is not active")
        pair = await _issue_pair(uow, user, family_id=stored.family_id, now=now)
        await uow.commit()
        return pair


async def logout(uow: UnitOfWork, *, refresh_token: str) -> None:
    now = utcnow()
    async with uow:
        stored = await uow.refresh_tokens.get_by_hash(security.hash_refresh_token(refresh_token))
        if stored is not None:
            await uow.refresh_tokens.revoke_family(stored.family_id, now)
            await uow.commit()


async def principal_for_token(uow: UnitOfWork, *, token: str) -> Principal:
    claims = security.decode_access_token(token, secret=get_settings().effective_secret_key())
    async with uow:
        user = await uow.users.get_unscoped(claims.user_id)
        if user is None or not user.is_active:
            raise Unauthorized("The account is not active")
        return await build_principal_in(uow, user)


async def build_principal_in(uow: UnitOfWork, user: User) -> Principal:
    role = Role(user.role)
    team_ids: frozenset[uuid.UUID] = frozenset()
    if role is Role.manager:
        roots = set(await uow.teams.managed_by(user.id))
        if user.team_id is not None:
            roots.add(user.team_id)
        team_ids = await uow.teams.subtree_ids(roots)
    return Principal(user_id=user.id, role=role, team_id=user.team_id, team_ids=team_ids)

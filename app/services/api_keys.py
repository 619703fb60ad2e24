"""Service accounts and their API keys: create, list, rotate, revoke, and resolving a caller."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass

from app.config import get_settings
from app.db.base import utcnow
from app.db.models import ApiKey, User
from app.db.repositories.pagination import Page
from app.db.uow import UnitOfWork
from app.domain import apikeys
from app.domain.errors import ApiKeyRevoked, ApiKeyTeamNotFound, Unauthorized
from app.domain.roles import Principal, Role, Scope
from app.services import security
from app.services.common import found


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key record with its secret, which is answered once (create, rotate) and never stored."""

    record: ApiKey
    key: str


_BAD_KEY = "The API key is invalid, expired or revoked"


async def list_keys(
    uow: UnitOfWork, actor: Principal, *, include_revoked: bool, cursor: str | None, limit: int
) -> Page[ApiKey]:
    async with uow:
        return await uow.api_keys.list(include_revoked=include_revoked, cursor=cursor, limit=limit)


async def get_key(uow: UnitOfWork, actor: Principal, *, key_id: uuid.UUID) -> ApiKey:
    async with uow:
        return found(await uow.api_keys.get(key_id), "API key")


async def create_key(
    uow: UnitOfWork,
    actor: Principal,
    *,
    name: str,
    scopes: list[str],
    team_id: uuid.UUID | None = None,
    expires_at: dt.datetime | None = None,
) -> IssuedKey:
    now = utcnow()
    granted = apikeys.validate_scopes(scopes)
    apikeys.validate_expiry(expires_at, now=now)
    async with uow:
        if team_id is not None and await uow.teams.get_unscoped(team_id) is None:
            raise ApiKeyTeamNotFound("The team does not exist", team_id=str(team_id))
        account_id = uuid.uuid4()
        # The service account: a user of role integration nobody can log in as (its
        # password is a random secret thrown away at once).
        uow.users.add(
            User(
                id=account_id,
                username=f"svc-{account_id.hex[:16]}",
                full_name=name,
                role=Role.integration.value,
                team_id=team_id,
                password_hash=security.hash_password(secrets.token_urlsafe(32)),
            )
        )
        await uow.flush()
        made = security.new_api_key()
        record = ApiKey(
            name=name,
            user_id=account_id,
            lookup=made.lookup,
            key_hash=made.key_hash,
            scopes=sorted(granted),
            team_id=team_id,
            created_by=actor.user_id,
            created_at=now,
            expires_at=expires_at,
        )
        uow.api_keys.add(record)
        await uow.commit()
        return IssuedKey(record=record, key=made.key)


async def rotate_key(uow: UnitOfWork, actor: Principal, *, key_id: uuid.UUID) -> IssuedKey:
    """A new secret for the same key (same id, scopes, service account); the old one stops
    working at once."""
    async with uow:
        record = found(await uow.api_keys.get(key_id, for_update=True), "API key")
        if record.revoked_at is not None:
            raise ApiKeyRevoked("A revoked key cannot be rotated")
        made = security.new_api_key()
        record.lookup, record.key_hash, record.rotated_at = made.lookup, made.key_hash, utcnow()
        await uow.commit()
        return IssuedKey(record=record, key=made.key)


async def revoke_key(uow: UnitOfWork, actor: Principal, *, key_id: uuid.UUID) -> None:
    now = utcnow()
    async with uow:
        record = found(await uow.api_keys.get(key_id, for_update=True), "API key")
        if record.revoked_at is None:
            record.revoked_at = now
            account = await uow.users.get_unscoped(record.user_id)
            if account is not None and account.is_active:
                account.is_active, account.deactivated_at = False, now
            await uow.commit()


async def principal_for_key(uow: UnitOfWork, *, key: str) -> Principal:
    """The caller a presented key stands for; any failure is one indistinct 401."""
    lookup = apikeys.lookup_of(key)
    now = utcnow()
    async with uow:
        record = await uow.api_keys.by_lookup(lookup) if lookup else None
        if record is None:
            security.api_key_matches(key, "0" * 64)  # the same work whether or not it exists
            raise Unauthorized(_BAD_KEY)
        if (
            not security.api_key_matches(key, record.key_hash)
            or record.revoked_at is not None
            or (record.expires_at is not None and record.expires_at <= now)
        ):
            raise Unauthorized(_BAD_KEY)
        account = await uow.users.get_unscoped(record.user_id)
        if account is None or not account.is_active:
            raise Unauthorized(_BAD_KEY)
        every = dt.timedelta(seconds=get_settings().api_key_touch_seconds)
        if apikeys.is_due_for_touch(record.last_used_at, now=now, every=every) and await uow.api_keys.touch(
            record.id, now=now, older_than=now - every
        ):
            await uow.commit()
        team_ids: frozenset[uuid.UUID] = frozenset()
        if record.team_id is not None:
            team_ids = await uow.teams.subtree_ids([record.team_id])
        return Principal(
            user_id=account.id,
            role=Role.integration,
            team_id=record.team_id,
            team_ids=team_ids,
            key_id=record.id,
            key_scopes=frozenset(record.scopes),
            restricted_scope=Scope.team if record.team_id is not None else None,
        )

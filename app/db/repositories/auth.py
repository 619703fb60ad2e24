"""Refresh tokens and idempotency records."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import IdempotencyRecord, LoginThrottle, RefreshToken


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, token: RefreshToken) -> None:
        self.session.add(token)

    async def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        return await self.session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_hash))

    async def mark_rotated(self, token_id: uuid.UUID, now: dt.datetime) -> bool:
        """Rotate a live token; false when another request rotated or revoked it first."""
        result = await self.session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.id == token_id,
                RefreshToken.rotated_at.is_(None),
                RefreshToken.revoked_at.is_(None),
            )
            .values(rotated_at=now)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    async def revoke_family(self, family_id: uuid.UUID, now: dt.datetime) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    async def revoke_all_for_user(self, user_id: uuid.UUID, now: dt.datetime) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID, key: str) -> IdempotencyRecord | None:
        return await self.session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key
            )
        )

    async def get_by_id(self, record_id: uuid.UUID) -> IdempotencyRecord | None:
        return await self.session.get(IdempotencyRecord, record_id)

    def add(self, record: IdempotencyRecord) -> None:
        self.session.add(record)

    async def delete(self, record_id: uuid.UUID) -> None:
        await self.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))

    async def take_over(
        self, record_id: uuid.UUID, *, attempt: int, now: dt.datetime, expires_at: dt.datetime
    ) -> bool:
        """Start attempt ``attempt + 1`` of an abandoned, uncommitted key; False if another
        retry got there first or the first run committed after all."""
        result = await self.session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.id == record_id,
                IdempotencyRecord.attempt == attempt,
                IdempotencyRecord.committed_at.is_(None),
                IdempotencyRecord.status_code.is_(None),
            )
            .values(attempt=attempt + 1, created_at=now, expires_at=expires_at)
        )
        return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]

    async def mark_committed(self, record_id: uuid.UUID, *, attempt: int, now: dt.datetime) -> bool:
        """Record, in the request's own transaction, that its effect is being committed;
        False if this run no longer holds the key (a retry took it over)."""
        result = await self.session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.id == record_id,
                IdempotencyRecord.attempt == attempt,
                IdempotencyRecord.committed_at.is_(None),
            )
            .values(committed_at=now)
        )
        return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]

    async def delete_expired(self, now: dt.datetime) -> int:
        result = await self.session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < now)
        )
        return result.rowcount  # type: ignore[attr-defined]


class LoginThrottleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, key: str) -> LoginThrottle | None:
        return await self.session.get(LoginThrottle, key)

    async def count_failure(self, key: str, *, now: dt.datetime, forget_at: dt.datetime) -> int:
        """Add one failure to ``key`` (atomically, whoever else fails at the same moment)
        and answer how many there are now; failures older than ``forget_at`` of a previous
        run were purged or are reset here."""
        dialect = postgresql if self.session.bind.dialect.name == "postgresql" else sqlite
        stale = LoginThrottle.expires_at < now
        stmt = dialect.insert(LoginThrottle).values(key=key, failures=1, expires_at=forget_at)
        stmt = stmt.on_conflict_do_update(
            index_elements=[LoginThrottle.key],
            set_={
                "failures": case((stale, 1), else_=LoginThrottle.failures + 1),
                "locked_until": case((stale, None), else_=LoginThrottle.locked_until),
                "expires_at": forget_at,
            },
        ).returning(LoginThrottle.failures)
        return int((await self.session.execute(stmt)).scalar_one())

    async def lock(self, key: str, *, until: dt.datetime) -> None:
        await self.session.execute(
            update(LoginThrottle).where(LoginThrottle.key == key).values(locked_until=until)
        )

    async def clear(self, key: str) -> None:
        await self.session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))

    async def purge_expired(self, now: dt.datetime) -> int:
        result = await self.session.execute(delete(LoginThrottle).where(LoginThrottle.expires_at < now))
        return result.rowcount  # type: ignore[attr-defined,no-any-return]

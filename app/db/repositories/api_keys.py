"""API keys: lookup by the key's public part, listing, and the throttled last-use stamp."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import or_, update
from sqlalchemy import select as sql_select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ApiKey
from app.db.repositories.pagination import Page, paginate


class ApiKeyRepository:
    """Keys are managed by admins only, so there is no data scope to apply."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, key: ApiKey) -> None:
        self.session.add(key)

    async def get(self, key_id: uuid.UUID, *, for_update: bool = False) -> ApiKey | None:
        stmt = sql_select(ApiKey).where(ApiKey.id == key_id)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def by_lookup(self, lookup: str) -> ApiKey | None:
        return await self.session.scalar(sql_select(ApiKey).where(ApiKey.lookup == lookup))

    async def list(self, *, include_revoked: bool, cursor: str | None, limit: int) -> Page[ApiKey]:
        stmt = sql_select(ApiKey)
        if not include_revoked:
            stmt = stmt.where(ApiKey.revoked_at.is_(None))
        return await paginate(
            self.session,
            stmt,
            sort="created_at",
            keys=[ApiKey.created_at, ApiKey.id],
            key_of=lambda k: (k.created_at, k.id),
            cursor=cursor,
            limit=limit,
        )

    async def touch(self, key_id: uuid.UUID, *, now: dt.datetime, older_than: dt.datetime) -> bool:
        """Stamp ``last_used_at`` unless another request did so after ``older_than``."""
        result = await self.session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < older_than))
            .values(last_used_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

"""Keyset chunks of any scoped query, for streamed exports."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession


class ExportRepository:
    """Reads a query the owning repository built (already limited to the caller's scope) in
    chunks ordered by id, so each chunk is one short transaction and no snapshot is held
    open for a whole download."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def chunk_after(
        self, stmt: Select[Any], *, id_column: Any, after_id: uuid.UUID | None, limit: int
    ) -> list[Any]:
        if after_id is not None:
            stmt = stmt.where(id_column > after_id)
        return list((await self.session.scalars(stmt.order_by(id_column).limit(limit))).all())

"""Looking one record up by id, in or out of the caller's scope."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


async def by_id(
    session: AsyncSession, stmt: Select[tuple[T]], model: Any, record_id: uuid.UUID, *, for_update: bool
) -> T | None:
    """The row of ``stmt`` whose id is ``record_id``; with ``for_update`` its row of ``model``
    (not of any table the scope joins) is locked until the transaction ends."""
    stmt = stmt.where(model.id == record_id)
    if for_update:
        stmt = stmt.with_for_update(of=model, key_share=True)
    return await session.scalar(stmt)

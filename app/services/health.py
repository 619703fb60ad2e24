"""Readiness: can we reach the database?"""

from __future__ import annotations

from sqlalchemy import text

from app.db.uow import UnitOfWork
from app.domain.errors import ServiceUnavailable


async def check_database(uow: UnitOfWork) -> None:
    try:
        async with uow:
            await uow.session.execute(text("SELECT 1"))
    except Exception as exc:
        raise ServiceUnavailable("The database is not reachable") from exc

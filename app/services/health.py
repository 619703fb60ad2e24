"""Readiness: can we reach the database?"""

from __future__ import annotations

from sqlalchemy import text

from app.db.engine import is_unavailable
from app.db.uow import RETRY_AFTER_SECONDS, UnitOfWork
from app.domain.errors import ServiceUnavailable


def outage(exc: BaseException) -> ServiceUnavailable | None:
    """The 503 to answer when ``exc`` means the database cannot be reached (for errors
    raised outside a unit of work, which translates its own), else None."""
    if isinstance(exc, ServiceUnavailable):
        return exc
    if is_unavailable(exc):
        return ServiceUnavailable(
            "The database is not reachable; retry the request", retry_after=RETRY_AFTER_SECONDS
        )
    return None


async def check_database(uow: UnitOfWork) -> None:
    try:
        async with uow:
            await uow.session.execute(text("SELECT 1"))
    except Exception as exc:
        raise ServiceUnavailable("The database is not reachable", retry_after=RETRY_AFTER_SECONDS) from exc

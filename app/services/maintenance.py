"""Periodic housekeeping that runs inside the service (safe with several processes)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.engine import is_unavailable
from app.db.uow import UnitOfWork
from app.services import auth as auth_service
from app.services import changes as changes_service
from app.services import idempotency as idempotency_service
from app.services import pool as pool_service

log = logging.getLogger("app.maintenance")


async def run_once(session_factory: async_sessionmaker[AsyncSession]) -> None:
    removed = await idempotency_service.purge_expired(UnitOfWork(session_factory))
    if removed:
        log.info("purged expired idempotency keys", extra={"count": removed})
    forgotten = await auth_service.purge_login_throttle(UnitOfWork(session_factory))
    if forgotten:
        log.info("forgot old failed logins", extra={"count": forgotten})
    purged = await changes_service.purge_expired(UnitOfWork(session_factory))
    if purged:
        log.info("purged expired change-log entries", extra={"count": purged})
    recycled = await pool_service.recycle(UnitOfWork(session_factory), None)
    if recycled.released or recycled.cooldowns_ended:
        log.info(
            "pool recycled",
            extra={"released": len(recycled.released), "cooldowns_ended": len(recycled.cooldowns_ended)},
        )


async def run_periodically(
    session_factory: async_sessionmaker[AsyncSession],
    interval_seconds: int,
    *,
    on_sweep: Callable[[str, float], None] | None = None,
) -> None:
    """Sweep every ``interval_seconds``; ``on_sweep(result, seconds)`` hears how each went
    ("ok", "failed", or "skipped" when the database was unreachable)."""
    while True:
        started = time.perf_counter()
        try:
            await run_once(session_factory)
            result = "ok"
        except Exception as exc:  # a failed sweep must not stop the next one
            if is_unavailable(exc):  # an outage: the next sweep catches up
                log.warning("maintenance sweep skipped: the database is not reachable")
                result = "skipped"
            else:
                log.exception("maintenance sweep failed")
                result = "failed"
        if on_sweep is not None:
            on_sweep(result, time.perf_counter() - started)
        await asyncio.sleep(interval_seconds)

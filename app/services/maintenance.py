"""Periodic housekeeping that runs inside the service (safe with several processes)."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.uow import UnitOfWork
from app.services import changes as changes_service
from app.services import idempotency as idempotency_service
from app.services import pool as pool_service

log = logging.getLogger("app.maintenance")


async def run_once(session_factory: async_sessionmaker[AsyncSession]) -> None:
    removed = await idempotency_service.purge_expired(UnitOfWork(session_factory))
    if removed:
        log.info("purged expired idempotency keys", extra={"count": removed})
    purged = await changes_service.purge_expired(UnitOfWork(session_factory))
    if purged:
        log.info("purged expired change-log entries", extra={"count": purged})
    recycled = await pool_service.recycle(UnitOfWork(session_factory), None)
    if recycled.released or recycled.cooldowns_ended:
        log.info("pool recycled", extra={"released": len(recycled.released),
                                         "cooldowns_ended": len(recycled.cooldowns_ended)})


async def run_periodically(session_factory: async_sessionmaker[AsyncSession],
                           interval_seconds: int) -> None:
    while True:
        try:
            await run_once(session_factory)
        except Exception:  # a failed sweep must not stop the next one
            log.exception("maintenance sweep failed")
        await asyncio.sleep(interval_seconds)

"""Idempotency keys: the first response to a creating POST is kept and replayed for 24 h.

A key is reserved before its request runs. The request's first commit also marks the key
committed, in the same transaction (``UnitOfWork(fence=...)``), so that if the process
dies before the response is stored, a retry can tell "nothing happened" (it may take the
key over once the lease has passed) from "it happened, the answer was lost" (409).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from app.config import get_settings
from app.db.base import utcnow
from app.db.models import IdempotencyRecord
from app.db.uow import UnitOfWork
from app.domain.errors import (
    Conflict,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    IdempotencyResponseLost,
)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: bytes
    content_type: str | None
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Begun:
    """Either a response to replay, or the record (and attempt) this request now holds."""

    replay: StoredResponse | None
    record_id: uuid.UUID | None
    attempt: int = 1


def _decode_headers(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    return dict(line.split(": ", 1) for line in raw.splitlines() if ": " in line)


async def begin(
    uow: UnitOfWork, *, user_id: uuid.UUID, key: str, method: str, path: str, request_hash: str
) -> Begun:
    now = utcnow()
    async with uow:
        existing = await uow.idempotency.get(user_id, key)
        if existing is not None and existing.expires_at <= now:
            await uow.idempotency.delete(existing.id)
            await uow.flush()
            existing = None
        if existing is None:
            record = IdempotencyRecord(
                user_id=user_id,
                key=key,
                method=method,
                path=path,
                request_hash=request_hash,
                created_at=now,
                expires_at=now + dt.timedelta(hours=get_settings().idempotency_hours),
            )
            uow.idempotency.add(record)
            try:
                await uow.commit()
                return Begun(replay=None, record_id=record.id)
            except Conflict:
                # Another request with the same key won the insert a moment ago.
                await uow.rollback()
                existing = await uow.idempotency.get(user_id, key)
                if existing is None:
                    raise
        if existing.request_hash != request_hash or existing.path != path:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was used with a different request",
            )
        if existing.status_code is None:
            return await _unanswered(uow, existing, now=now)
        return Begun(
            replay=StoredResponse(
                status_code=existing.status_code,
                body=existing.response_body or b"",
                content_type=existing.content_type,
                headers=_decode_headers(existing.response_headers),
            ),
            record_id=None,
        )


async def _unanswered(uow: UnitOfWork, record: IdempotencyRecord, *, now: dt.datetime) -> Begun:
    """The key's request has not answered: still running, died, or died after committing."""
    settings = get_settings()
    abandoned = record.created_at <= now - dt.timedelta(seconds=settings.idempotency_lease_seconds)
    if abandoned and record.committed_at is not None:
        raise IdempotencyResponseLost(
            "The request with this Idempotency-Key was carried out, but its response "
            "was lost; look the result up rather than retrying"
        )
    held_by = record.attempt  # read first: the update below refreshes the loaded record
    if abandoned and await uow.idempotency.take_over(
        record.id, attempt=held_by, now=now, expires_at=now + dt.timedelta(hours=settings.idempotency_hours)
    ):
        await uow.commit()
        return Begun(replay=None, record_id=record.id, attempt=held_by + 1)
    raise IdempotencyInProgress("A request with this Idempotency-Key is still being processed")


async def finish(uow: UnitOfWork, *, record_id: uuid.UUID, response: StoredResponse) -> None:
    async with uow:
        record = await uow.idempotency.get_by_id(record_id)
        if record is None:
            return
        record.status_code = response.status_code
        record.response_body = response.body
        record.content_type = response.content_type
        record.response_headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        await uow.commit()


async def release(uow: UnitOfWork, *, record_id: uuid.UUID) -> None:
    """Forget a key whose request failed, so the client may retry with it."""
    async with uow:
        await uow.idempotency.delete(record_id)
        await uow.commit()


async def purge_expired(uow: UnitOfWork) -> int:
    async with uow:
        removed = await uow.idempotency.delete_expired(utcnow())
        await uow.commit()
        return removed

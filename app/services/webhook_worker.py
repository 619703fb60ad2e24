"""The webhook delivery worker: claim due deliveries, POST them signed, log every attempt.

Runs inside the service (a background task) and as its own process (``crm worker``). Any
number of workers may share one PostgreSQL: claiming uses ``FOR UPDATE SKIP LOCKED`` and a
lease, so each delivery is attempted by one worker at a time, and one whose worker died
mid-attempt is attempted again when its lease runs out (delivery is at least once).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook

from app.config import get_settings
from app.db.base import utcnow
from app.db.engine import is_unavailable
from app.db.models import WebhookAttempt
from app.db.uow import UnitOfWork
from app.domain import webhooks as rules
from app.domain.errors import ServiceUnavailable

log = logging.getLogger("app.webhooks")
_BATCH = 100


class BlockedTarget(Exception):
    """The URL resolves to an address deliveries may not go to (SSRF guard)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    delivery_id: uuid.UUID
    at: dt.datetime
    status_code: int | None
    error: str | None
    latency_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def body_of(event: Any) -> bytes:
    return json.dumps(
        {
            "type": event.type,
            "timestamp": event.created_at.isoformat().replace("+00:00", "Z"),
            "data": event.data,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def signed_headers(*, secret: str, msg_id: str, at: dt.datetime, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers, signed with the maintained ``standardwebhooks`` package."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id=msg_id, timestamp=at, data=body),
        "content-type": "application/json",
        "user-agent": "sales-crm-webhooks/1",
    }


async def check_target(url: str, *, allow_private: bool) -> None:
    """Refuse URLs that resolve to private, loopback, link-local or otherwise non-public
    addresses (every address the name resolves to must be public)."""
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except OSError as exc:
        raise BlockedTarget(f"cannot resolve {host}") from exc
    addresses = {info[4][0] for info in infos}
    if not addresses or not all(rules.is_public_address(a) for a in addresses):
        raise BlockedTarget(f"{host} resolves to a private or reserved address")


async def attempt(client: httpx.AsyncClient, delivery: Any, event: Any, endpoint: Any) -> Outcome:
    settings = get_settings()
    at = utcnow()
    started = time.monotonic()
    status_code: int | None = None
    error: str | None = None
    try:
        await check_target(endpoint.url, allow_private=settings.webhook_allow_private)
        body = body_of(event)
        headers = signed_headers(secret=endpoint.secret, msg_id=str(event.id), at=at, body=body)
        # Redirects are never followed: a receiver must answer at the URL it registered.
        response = await client.post(
            endpoint.url,
            content=body,
            headers=headers,
            timeout=settings.webhook_timeout_seconds,
            follow_redirects=False,
        )
        status_code = response.status_code
        if response.is_redirect:
            error = "redirect not followed"
        elif not response.is_success:
            error = f"HTTP {status_code}"
    except BlockedTarget as exc:
        error = f"blocked: {exc}"
    except httpx.TimeoutException:
        error = "timeout"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    latency = int((time.monotonic() - started) * 1000)
    return Outcome(delivery.id, at, status_code, error, latency)


async def record(uow: UnitOfWork, outcome: Outcome) -> None:
    """Log the attempt and decide what comes next: done, retry later, or give up; and
    switch off an endpoint that has failed everything for too long."""
    settings = get_settings()
    async with uow:
        delivery = await uow.webhooks.lock_delivery(outcome.delivery_id)
        if delivery is None:  # the endpoint was deleted meanwhile
            return
        uow.webhooks.add(
            WebhookAttempt(
                delivery_id=delivery.id,
                attempted_at=outcome.at,
                status_code=outcome.status_code,
                error=outcome.error,
                latency_ms=outcome.latency_ms,
            )
        )
        delivery.attempts += 1
        delivery.last_status_code, delivery.last_error = outcome.status_code, outcome.error
        now = utcnow()
        if outcome.ok:
            delivery.status, delivery.next_attempt_at, delivery.completed_at = "succeeded", None, now
            await uow.webhooks.endpoint_recovered(delivery.endpoint_id)
        else:
            if rules.gives_up(delivery.created_at, now):
                delivery.status, delivery.next_attempt_at, delivery.completed_at = "failed", None, now
            else:
                delivery.next_attempt_at = now + rules.next_delay(delivery.attempts)
            await _note_failure(
                uow, delivery.endpoint_id, now, after=dt.timedelta(hours=settings.webhook_disable_after_hours)
            )
        await uow.commit()


async def _note_failure(
    uow: UnitOfWork, endpoint_id: uuid.UUID, now: dt.datetime, *, after: dt.timedelta
) -> None:
    await uow.webhooks.endpoint_failed(endpoint_id, now=now)
    disabled = await uow.webhooks.disable_if_failing_since(
        endpoint_id, before=now - after, reason=f"every delivery failed for {after} or longer"
    )
    if disabled is not None:
        # The owner is told through the log (alerting watches it) and the endpoint's state.
        log.warning(
            "webhook endpoint disabled after sustained failure",
            extra={
                "endpoint_id": str(disabled.id),
                "created_by": str(disabled.created_by),
                "url": disabled.url,
            },
        )


async def run_once(
    session_factory: async_sessionmaker[AsyncSession], client: httpx.AsyncClient, *, limit: int = _BATCH
) -> int:
    """Claim and attempt one batch of due deliveries; answers how many were attempted."""
    settings = get_settings()
    now = utcnow()
    async with UnitOfWork(session_factory) as uow:
        ids = await uow.webhooks.claim(
            now=now, limit=limit, lease_until=now + dt.timedelta(seconds=settings.webhook_lease_seconds)
        )
        await uow.commit()
    if not ids:
        return 0
    async with UnitOfWork(session_factory) as uow:
        jobs = await uow.webhooks.for_sending(ids)
    gate = asyncio.Semaphore(settings.webhook_concurrency)

    async def one(job: tuple[Any, Any, Any]) -> None:
        async with gate:
            outcome = await attempt(client, *job)
        await record(UnitOfWork(session_factory), outcome)

    await asyncio.gather(*(one(job) for job in jobs))
    return len(jobs)


async def run_forever(
    session_factory: async_sessionmaker[AsyncSession], client: httpx.AsyncClient | None = None
) -> None:
    """Deliver until cancelled; sleeps only when nothing was due. Never blocks a request:
    requests only write the outbox."""
    settings = get_settings()
    own = client is None
    client = client or httpx.AsyncClient()
    try:
        while True:
            try:
                if await run_once(session_factory, client):
                    continue
            except Exception as exc:  # one bad batch must not stop delivery
                if is_unavailable(exc) or isinstance(exc, ServiceUnavailable):
                    # An outage: the deliveries wait in the outbox until the database is back.
                    log.warning("webhook delivery skipped: the database is not reachable")
                else:
                    log.exception("webhook delivery batch failed")
            await asyncio.sleep(settings.webhook_poll_seconds)
    finally:
        if own:
            await client.aclose()

"""Webhooks' pure rules: event types, the retry schedule, giving up, and allowed targets."""

from __future__ import annotations

import datetime as dt
import ipaddress
import random
from urllib.parse import urlsplit

from app.domain.errors import InvalidInput

# SPEC §11's event types this service emits. (receivable.overdue, credit.warning and
# complaint.created need the jobs and the complaints of other issues; they are listed in
# docs/integration.md as not emitted yet.)
EVENT_TYPES = (
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "customer.merged",
    "customer.stage_changed",
    "customer.owner_changed",
    "customer.grade_changed",
    "contract.signed",
    "contract.cancelled",
    "payment.received",
)
TEST_EVENT = "webhook.test"

# Retries: exponential from FIRST_DELAY, capped at MAX_DELAY, with full jitter; a delivery is
# given up (failed, replayable) once RETRY_WINDOW has passed since the event.
FIRST_DELAY = dt.timedelta(seconds=10)
MAX_DELAY = dt.timedelta(hours=2)
RETRY_WINDOW = dt.timedelta(hours=26)


def next_delay(attempts: int, *, rng: random.Random | None = None) -> dt.timedelta:
    """How long to wait after the ``attempts``-th failed attempt: 10 s · 2^(n-1) capped at
    2 h, jittered to between half and all of it (so failing receivers are not hit in step)."""
    ceiling = min(FIRST_DELAY * (2 ** max(attempts - 1, 0)), MAX_DELAY)
    share = (rng or random).uniform(0.5, 1.0)
    return ceiling * share


def gives_up(event_at: dt.datetime, now: dt.datetime) -> bool:
    return now - event_at >= RETRY_WINDOW


def validate_events(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown or not events:
        raise InvalidInput(
            "Unknown or missing event types",
            errors=[
                {
                    "loc": ["body", "events"],
                    "type": "enum",
                    "msg": "must be a non-empty list of: " + ", ".join(EVENT_TYPES),
                }
            ],
        )
    return sorted(set(events))


def validate_url(url: str, *, allow_http: bool) -> str:
    parts = urlsplit(url)
    ok = parts.scheme == "https" or (allow_http and parts.scheme == "http")
    if not ok or not parts.hostname or parts.username or parts.password:
        raise InvalidInput(
            "The URL must be https://host/… without credentials",
            errors=[
                {
                    "loc": ["body", "url"],
                    "type": "value_error",
                    "msg": "must be an https URL (http only where private targets are allowed)",
                }
            ],
        )
    return url


def is_public_address(address: str) -> bool:
    """Whether a resolved address is on the public internet (SSRF guard)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )

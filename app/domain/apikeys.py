"""API keys of service accounts: the scope catalogue, which scope a route needs, key format."""

from __future__ import annotations

import datetime as dt

from app.domain.errors import InvalidInput, MissingScope

KEY_PREFIX = "crm_"
# ``crm_<12 lookup chars>_<secret>``: the lookup part is stored and shown in listings, the
# whole key only as a hash.
LOOKUP_LEN = 12

# Read scopes, one per collection an integrator pulls (SPEC §11). The integration role is
# read-only for business data (SPEC §2), so there are no write scopes for it to hold.
READ_RESOURCES = (
    "customers",
    "contacts",
    "activities",
    "tasks",
    "contracts",
    "receivables",
    "payments",
    "credit",
    "reports",
    "changes",
)
SCOPES: frozenset[str] = frozenset({f"{r}:read" for r in READ_RESOURCES} | {"webhooks:manage"})

# Path prefixes (under /api/v1, as route templates) to the resource they belong to; the
# longest matching prefix wins. A path that matches none is not open to API keys at all.
_RESOURCES: tuple[tuple[str, str], ...] = (
    ("/customers/{customer_id}/contacts", "contacts"),
    ("/customers/{customer_id}/credit", "credit"),
    ("/customers", "customers"),
    ("/activities", "activities"),
    ("/tasks", "tasks"),
    ("/contracts", "contracts"),
    ("/receivables", "receivables"),
    ("/payments", "payments"),
    ("/credit-limit-requests", "credit"),
    ("/reports", "reports"),
    ("/changes", "changes"),
    ("/webhooks", "webhooks"),
)
# Paths any key may call whatever its scopes (who am I).
_OPEN_PATHS = frozenset({"/me"})
_READ_METHODS = frozenset({"GET", "HEAD"})


def _matches(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def required_scope(method: str, path: str) -> str | None:
    """The scope a key needs for ``method path`` (a route template below /api/v1); None if
    the path is open to every key. Raises MissingScope when no key may call it."""
    if path in _OPEN_PATHS:
        return None
    matching = [(prefix, resource) for prefix, resource in _RESOURCES if _matches(path, prefix)]
    if not matching:
        raise MissingScope("API keys may not call this path; log in as a person", required_scope=None)
    resource = max(matching, key=lambda pair: len(pair[0]))[1]
    if resource == "webhooks":
        return "webhooks:manage"
    if method.upper() not in _READ_METHODS:
        raise MissingScope("API keys are read-only for this path", required_scope=None)
    return f"{resource}:read"


def check_scope(granted: frozenset[str], *, method: str, path: str) -> None:
    needed = required_scope(method, path)
    if needed is not None and needed not in granted:
        raise MissingScope(f"This API key lacks the scope '{needed}'", required_scope=needed)


def validate_scopes(scopes: list[str]) -> frozenset[str]:
    unknown = sorted(set(scopes) - SCOPES)
    if unknown or not scopes:
        raise InvalidInput(
            "Unknown or missing scopes",
            errors=[
                {
                    "loc": ["body", "scopes"],
                    "type": "enum",
                    "msg": "must be a non-empty list of: " + ", ".join(sorted(SCOPES)),
                }
            ],
        )
    return frozenset(scopes)


def validate_expiry(expires_at: dt.datetime | None, *, now: dt.datetime) -> None:
    if expires_at is not None and expires_at <= now:
        raise InvalidInput(
            "The expiry is in the past",
            errors=[{"loc": ["body", "expires_at"], "type": "value_error", "msg": "must be in the future"}],
        )


def looks_like_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def lookup_of(key: str) -> str | None:
    """The stored lookup part of a presented key, or None if it is not shaped like one."""
    body = key[len(KEY_PREFIX) :]
    lookup, sep, secret = body.partition("_")
    if not sep or len(lookup) != LOOKUP_LEN or not secret:
        return None
    return lookup


def display_prefix(lookup: str) -> str:
    """What listings show so a person can tell keys apart: ``crm_<lookup>``."""
    return KEY_PREFIX + lookup


def is_due_for_touch(last_used_at: dt.datetime | None, *, now: dt.datetime, every: dt.timedelta) -> bool:
    """Record use only when the stored time is older than ``every``: no write per request."""
    return last_used_at is None or now - last_used_at >= every

"""Small helpers every service shares."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from app.config import get_settings
from app.domain.errors import NotFound, VersionMismatch

T = TypeVar("T")


class Versioned(Protocol):
    version: int


def check_version(record: Versioned, expected: int | None) -> None:
    """Honour ``If-Match``: refuse a change based on a version that is no longer current."""
    if expected is not None and record.version != expected:
        raise VersionMismatch(
            f"The record is at version {record.version}, not {expected}; reload it",
            current_version=record.version,
        )


def business_tz() -> dt.tzinfo:
    """The business time zone (``CRM_TIMEZONE``) in which days overdue are counted."""
    return get_settings().tz


def found(record: T | None, what: str) -> T:
    if record is None:
        raise NotFound(f"{what} not found")
    return record


def jsonable(value: Any) -> Any:
    """A value as it is stored in history and audit JSON."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def apply_changes(record: Any, changes: dict[str, Any]) -> dict[str, list[Any]]:
    """Set the changed attributes; answer {field: [old, new]} for what really changed."""
    diff: dict[str, list[Any]] = {}
    for name, value in changes.items():
        old = getattr(record, name)
        if old != value:
            setattr(record, name, value)
            diff[name] = [jsonable(old), jsonable(value)]
    return diff

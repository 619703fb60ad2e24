"""The integration change feed's pure parts: entry types, the opaque cursor, retention."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass

from app.domain.errors import CursorExpired, InvalidCursor, InvalidInput

FEED_TYPES = ("customer", "contact", "activity", "task", "contract", "receivable", "payment")
DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def encode_cursor(seq: int) -> str:
    raw = json.dumps({"f": "changes", "s": seq}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        seq = data["s"]
        if data.get("f") != "changes" or not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ValueError("not a change-feed cursor")
        return seq
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor("The cursor is malformed or belongs to another listing") from exc


def parse_types(raw: str | None) -> tuple[str, ...] | None:
    """``types=customer,contract`` → the entry types wanted; None means all."""
    if raw is None or not raw.strip():
        return None
    wanted = tuple(dict.fromkeys(t.strip() for t in raw.split(",") if t.strip()))
    unknown = [t for t in wanted if t not in FEED_TYPES]
    if unknown:
        raise InvalidInput(
            "Unknown change types",
            errors=[
                {
                    "loc": ["query", "types"],
                    "type": "enum",
                    "msg": "must be a comma-separated list of: " + ", ".join(FEED_TYPES),
                }
            ],
        )
    return wanted


def check_retained(after: int, *, purged_through: int) -> None:
    """A cursor before the retained log would skip the purged entries: refuse it."""
    if after < purged_through:
        raise CursorExpired(
            "The cursor is older than the change feed keeps; resync: note a fresh cursor "
            "(GET /changes?from=now), export the collections, then follow the feed from it",
            purged_through=purged_through,
        )


@dataclass(frozen=True, slots=True)
class FeedOp:
    """How a change-log row reads in the feed."""

    op: str  # upsert | delete | merge
    merged_into: object | None = None


def feed_op(log_op: str, *, merged_into: object | None) -> FeedOp:
    """A deleted customer that was merged reads as ``merge`` with the survivor's id."""
    if log_op == "delete" and merged_into is not None:
        return FeedOp("merge", merged_into)
    return FeedOp(log_op)


def retention_horizon(now: dt.datetime, *, days: int) -> dt.datetime:
    return now - dt.timedelta(days=days)

"""Keyset (cursor) pagination: pages stay as fast at page 200 as at page 1."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.domain.errors import InvalidCursor

T = TypeVar("T")

MAX_LIMIT = 500
DEFAULT_LIMIT = 50


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def _tag(value: Any) -> list[Any]:
    if isinstance(value, dt.datetime):
        return ["dt", value.isoformat()]
    if isinstance(value, uuid.UUID):
        return ["uuid", str(value)]
    if isinstance(value, Decimal):
        return ["dec", str(value)]
    if value is None or isinstance(value, str | int | float | bool):
        return ["v", value]
    raise TypeError(f"cannot put {type(value).__name__} in a cursor")


def _untag(item: Any) -> Any:
    tag, value = item
    if tag == "dt":
        return dt.datetime.fromisoformat(value)
    if tag == "uuid":
        return uuid.UUID(value)
    if tag == "dec":
        return Decimal(value)
    if tag == "v":
        return value
    raise ValueError(tag)


def encode_cursor(sort: str, values: Sequence[Any]) -> str:
    raw = json.dumps({"s": sort, "k": [_tag(v) for v in values]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, width: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if data["s"] != sort or len(data["k"]) != width:
            raise ValueError("cursor belongs to another ordering")
        return [_untag(item) for item in data["k"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidCursor("The cursor is malformed or belongs to another query") from exc


def _check_types(keys: Sequence[ColumnElement[Any]], values: Sequence[Any]) -> None:
    # A hand-made cursor can carry well-formed JSON of the wrong types; that is the
    # client's mistake (400), not a database error (500).
    for key, value in zip(keys, values, strict=True):
        try:
            expected = key.type.python_type
        except NotImplementedError:
            continue
        if value is None:
            continue
        if not isinstance(value, expected) or (isinstance(value, dt.datetime) and value.tzinfo is None):
            raise InvalidCursor("The cursor is malformed or belongs to another query")


def _after(
    columns: Sequence[ColumnElement[Any]], values: Sequence[Any], direction: Literal["asc", "desc"]
) -> ColumnElement[bool]:
    # (a, b, c) > (x, y, z) spelled out, so it works the same on every database. The extra
    # bound on the leading key lets the index seek to the page instead of filtering up to
    # it: page 200 costs what page 1 costs.
    clauses = []
    for i, column in enumerate(columns):
        beyond = column > values[i] if direction == "asc" else column < values[i]
        clauses.append(and_(*[columns[j] == values[j] for j in range(i)], beyond))
    lead = columns[0] >= values[0] if direction == "asc" else columns[0] <= values[0]
    return and_(lead, or_(*clauses))


def page_window(
    stmt: Select[Any],
    *,
    sort: str,
    keys: Sequence[ColumnElement[Any]],
    cursor: str | None,
    limit: int,
    direction: Literal["asc", "desc"] = "asc",
) -> Select[Any]:
    """``stmt`` narrowed to the page after ``cursor``: ordered by ``keys``, ``limit + 1`` rows
    (the extra one tells whether another page follows)."""
    if cursor:
        values = decode_cursor(cursor, sort, len(keys))
        _check_types(keys, values)
        stmt = stmt.where(_after(keys, values, direction))
    return stmt.order_by(*ordered(keys, direction)).limit(limit + 1)


def ordered(keys: Sequence[ColumnElement[Any]], direction: Literal["asc", "desc"]) -> list[Any]:
    return [k.asc() if direction == "asc" else k.desc() for k in keys]


def to_page(rows: Sequence[T], *, sort: str, key_of: Any, limit: int) -> Page[T]:
    """The page of a ``page_window`` result; ``key_of(row)`` gives the next cursor's values."""
    items = list(rows[:limit])
    has_more = len(rows) > limit
    next_cursor = encode_cursor(sort, key_of(items[-1])) if has_more and items else None
    return Page(items=items, next_cursor=next_cursor)


async def paginate(
    session: AsyncSession,
    stmt: Select[tuple[T]],
    *,
    sort: str,
    keys: Sequence[ColumnElement[Any]],
    key_of: Any,
    cursor: str | None,
    limit: int,
    direction: Literal["asc", "desc"] = "asc",
) -> Page[T]:
    """Run ``stmt`` ordered by ``keys`` (the last one unique), one page after ``cursor``.

    ``key_of(row)`` returns the row's values for ``keys``; they become the next cursor.
    """
    window = page_window(stmt, sort=sort, keys=keys, cursor=cursor, limit=limit, direction=direction)
    rows = (await session.scalars(window)).all()
    return to_page(rows, sort=sort, key_of=key_of, limit=limit)


async def newest_first(
    session: AsyncSession, stmt: Select[Any], model: Any, *, cursor: str | None, limit: int
) -> Page[Any]:
    """A page of ``model`` rows by ``created_at`` descending (ties by id)."""
    return await paginate(
        session,
        stmt,
        sort="-created_at",
        keys=[model.created_at, model.id],
        key_of=lambda row: [row.created_at, row.id],
        cursor=cursor,
        limit=limit,
        direction="desc",
    )

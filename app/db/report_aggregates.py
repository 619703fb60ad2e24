"""Keeps the funnel report aggregates current in the transaction that stores a transition.

A flush listener on every unit-of-work session sees each new ``StageTransition`` (whoever
adds it: HTTP moves, contract signing, customer creation and import) and, on the same
connection and so in the same transaction, advances the customer's run state and adds the
counter changes (:func:`app.domain.reports.advance`). A rolled back transaction or
savepoint takes its aggregate changes with it. :func:`rebuild` recomputes everything from
the stored transitions (the migration that adds the tables and ``crm reports rebuild``).

Rows are upserted in key order, so concurrent transactions lock counter rows in the same
order; the services already hold the customer's row lock, which serialises its state row.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, delete, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.config import get_settings
from app.db.models import StageTransition
from app.db.models.reports import NIL, ReportFunnelCount, ReportFunnelDuration, ReportFunnelState
from app.domain.reports import Aggregates, Move, RunState, advance

_COUNT = ReportFunnelCount.__table__
_DURATION = ReportFunnelDuration.__table__
_STATE = ReportFunnelState.__table__
_CHUNK = 2_000


def attach(session: AsyncSession) -> None:
    event.listen(session.sync_session, "after_flush", _after_flush)


def _after_flush(session: Session, _context: Any) -> None:
    # In after_flush the session still lists what this flush inserted, in insertion order.
    new = [obj for obj in session.new if isinstance(obj, StageTransition)]
    if new:
        record(session.connection(), [move_of(t) for t in new], get_settings().tz)


def move_of(transition: Any) -> Move:
    return Move(
        customer_id=transition.customer_id,
        from_stage=transition.from_stage,
        to_stage=transition.to_stage,
        at=transition.at,
        owner_id=transition.owner_id,
        team_id=transition.team_id,
        reason=transition.reason,
        out_of_funnel=bool(transition.out_of_funnel),
    )


def record(conn: Connection, moves: list[Move], tz: ZoneInfo) -> None:
    """Advance the aggregates by ``moves`` (in the order they happened)."""
    by_customer: dict[uuid.UUID, list[Move]] = defaultdict(list)
    for move in sorted(moves, key=lambda m: m.at):  # stable: equal times keep their order
        by_customer[move.customer_id].append(move)
    states = {
        row.customer_id: RunState.from_doc(
            {"out_of_funnel": row.out_of_funnel, "visits": row.visits["visits"]}
        )
        for row in conn.execute(select(_STATE).where(_STATE.c.customer_id.in_(list(by_customer))))
    }
    total = Aggregates()
    for customer_id, history in by_customer.items():
        state = states.get(customer_id)
        for move in history:
            state, delta = advance(state, move, tz)
            total.add(delta)
        assert state is not None
        states[customer_id] = state
    _write_states(conn, {c: states[c] for c in by_customer})
    _add(conn, total)


def _upsert(
    conn: Connection, table: Any, rows: list[dict[str, Any]], *, keys: list[str], increment: str | None
) -> None:
    if not rows:
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table)
    if increment is None:
        values = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
    else:
        values = {increment: table.c[increment] + stmt.excluded[increment]}
    conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=values), rows)


def _write_states(conn: Connection, states: dict[uuid.UUID, RunState]) -> None:
    rows = [
        {
            "customer_id": customer_id,
            "out_of_funnel": state.out_of_funnel,
            "visits": {"visits": state.to_doc()["visits"]},
        }
        for customer_id, state in sorted(states.items())
    ]
    _upsert(conn, _STATE, rows, keys=["customer_id"], increment=None)


def _nil(value: uuid.UUID | None) -> uuid.UUID:
    return NIL if value is None else value


def _add(conn: Connection, aggregates: Aggregates) -> None:
    counts = [
        {"day": day, "owner_id": _nil(owner), "team_id": _nil(team), "metric": metric, "key": key, "count": n}
        for (day, owner, team, metric, key), n in aggregates.counts.items()
        if n
    ]
    counts.sort(key=lambda r: (r["day"], r["owner_id"], r["team_id"], r["metric"], r["key"]))
    durations = [
        {
            "day": day,
            "owner_id": _nil(owner),
            "team_id": _nil(team),
            "stage": stage,
            "centidays": value,
            "count": n,
        }
        for (day, owner, team, stage, value), n in aggregates.durations.items()
        if n
    ]
    durations.sort(key=lambda r: (r["day"], r["owner_id"], r["team_id"], r["stage"], r["centidays"]))
    for start in range(0, len(counts), _CHUNK):
        _upsert(
            conn,
            _COUNT,
            counts[start : start + _CHUNK],
            keys=["day", "owner_id", "team_id", "metric", "key"],
            increment="count",
        )
    for start in range(0, len(durations), _CHUNK):
        _upsert(
            conn,
            _DURATION,
            durations[start : start + _CHUNK],
            keys=["day", "owner_id", "team_id", "stage", "centidays"],
            increment="count",
        )


def histories(conn: Connection, transitions: Any = None) -> Iterator[list[Move]]:
    """Every customer's stored moves, in order, one customer at a time, read in pages by
    customer id (so the caller may write between pages on the same connection)."""
    table = transitions if transitions is not None else StageTransition.__table__
    columns = (
        table.c.customer_id,
        table.c.from_stage,
        table.c.to_stage,
        table.c.at,
        table.c.owner_id,
        table.c.team_id,
        table.c.reason,
        table.c.out_of_funnel,
    )
    order = (table.c.customer_id, table.c.at, table.c.id)
    after: uuid.UUID | None = None
    while True:
        stmt = select(*columns).order_by(*order).limit(_CHUNK)
        if after is not None:
            stmt = stmt.where(table.c.customer_id > after)
        rows = [move_of(row) for row in conn.execute(stmt)]
        if not rows:
            return
        if len(rows) == _CHUNK:
            last = rows[-1].customer_id
            rows = [m for m in rows if m.customer_id != last]
            if not rows:  # one customer with a page of history or more: read it whole
                rows = [
                    move_of(row)
                    for row in conn.execute(
                        select(*columns).where(table.c.customer_id == last).order_by(*order)
                    )
                ]
        grouped: dict[uuid.UUID, list[Move]] = {}
        for move in rows:
            grouped.setdefault(move.customer_id, []).append(move)
        yield from grouped.values()
        after = rows[-1].customer_id


def rebuild(conn: Connection, tz: ZoneInfo, *, transitions: Any = None) -> int:
    """Empty the aggregates and recompute them from the transitions; answers the number of
    customers replayed."""
    for table in (_COUNT, _DURATION, _STATE):
        conn.execute(delete(table))
    pending = Aggregates()
    states: dict[uuid.UUID, RunState] = {}
    customers = 0
    for history in histories(conn, transitions):
        state: RunState | None = None
        for move in history:
            state, delta = advance(state, move, tz)
            pending.add(delta)
        assert state is not None
        states[history[0].customer_id] = state
        customers += 1
        if len(states) >= _CHUNK:
            _write_states(conn, states)
            states = {}
        if len(pending.counts) + len(pending.durations) >= 10 * _CHUNK:
            _add(conn, pending)
            pending = Aggregates()
    _write_states(conn, states)
    _add(conn, pending)
    return customers

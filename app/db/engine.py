"""Engine and session factory for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path
from typing import Any, Final

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


# How long opening a PostgreSQL connection may take (asyncpg's default is a minute).
CONNECT_TIMEOUT_SECONDS: Final = 10
# SQLSTATEs that say the server cannot serve now: class 08 (connection exceptions), admin or
# crash shutdown, "the database system is starting up", too many connections.
_UNAVAILABLE_SQLSTATES: Final = frozenset({"57P01", "57P02", "57P03", "53300"})
_SQLITE_UNAVAILABLE: Final = ("unable to open database file", "disk i/o error")


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) means the database cannot be reached right now,
    as opposed to a bug or a refused statement: the request may be retried later."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, sa_exc.TimeoutError):  # no pooled connection came free in time
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, ConnectionError | TimeoutError | socket.gaierror):
            return True
        sqlstate = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES):
            return True
        if isinstance(current, sqlite3.OperationalError) and str(current).lower().startswith(
            _SQLITE_UNAVAILABLE
        ):
            return True
        pending += [getattr(current, "orig", None), current.__cause__, current.__context__]
    return False


def make_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> AsyncEngine:
    kwargs: dict[str, Any] = {"echo": echo}
    if url.startswith("sqlite"):
        _prepare_sqlite_file(url)
        # The driver's own busy wait, so concurrent writers queue instead of failing.
        kwargs["connect_args"] = {"timeout": 30}
    else:
        # No pool_pre_ping: on asyncpg it costs three round trips (BEGIN, ";", ROLLBACK) per
        # checkout, which is more than a typical request's own queries. _drop_closed catches
        # what it would catch in practice — connections the server closed (restart, idle
        # timeout, pg_terminate_backend) — without a round trip. A connection lost while
        # in use fails that unit of work with 503 (see UnitOfWork) and leaves the pool.
        # pool_recycle renews connections every 30 minutes.
        kwargs.update(
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_recycle=1800,
            connect_args={"timeout": CONNECT_TIMEOUT_SECONDS},
        )
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    else:
        event.listen(engine.sync_engine, "checkout", _drop_closed)
    return engine


def _drop_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    # The driver notices at once when the server closes the socket; the pool then discards
    # this connection and checks out (or opens) another one.
    driver_connection = getattr(dbapi_connection, "driver_connection", None)
    if driver_connection is not None and driver_connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    # Take transaction control from the driver, so SAVEPOINTs work and BEGIN is ours.
    dbapi_connection.isolation_level = None


def _sqlite_begin(connection: Any) -> None:
    # One writer at a time, decided at BEGIN: a transaction that reads and then writes can
    # never fail half-way with "database is locked", and check-then-act stays race-free.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(bind: Any) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(bind=bind, expire_on_commit=False, autoflush=False)

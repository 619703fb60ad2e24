"""Alembic environment: async engine, batch mode on SQLite, type comparison on."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from app.config import get_settings
from app.db.engine import make_engine
from app.db.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().database_url


def _for_dialect(dialect: str):  # type: ignore[no-untyped-def]
    """Leave out of comparisons the indexes declared for another database only (ddl_if)."""

    def include_object(obj, name, type_, reflected, compare_to) -> bool:  # type: ignore[no-untyped-def]
        ddl_if = getattr(obj, "_ddl_if", None)
        return not (type_ == "index" and ddl_if is not None and ddl_if.dialect and ddl_if.dialect != dialect)

    return include_object


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    is_sqlite = (url or str(connection.engine.url)).startswith("sqlite")  # type: ignore[union-attr]
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        include_object=_for_dialect("sqlite" if is_sqlite else "postgresql"),
        compare_type=True,
        render_as_batch=is_sqlite,
        literal_binds=connection is None,
    )


def run_offline() -> None:
    _configure(url=_url())
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        # Batch mode rebuilds tables; foreign keys would refuse to drop a referenced one.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    engine = make_engine(_url())
    async with engine.connect() as conn:
        await conn.run_sync(_run_sync)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    run_offline()
elif (given := config.attributes.get("connection")) is not None:
    _run_sync(given)  # the caller (tests, the CLI inside a loop) holds the connection
else:
    asyncio.run(run_online())

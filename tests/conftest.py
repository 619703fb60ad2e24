"""Test fixtures: one database built by the migrations per run, one rolled-back transaction
per test, and an HTTP client on the app.

Runs on SQLite by default; set ``CRM_TEST_DATABASE_URL`` (postgresql+asyncpg://…) for PostgreSQL.
The PostgreSQL database named there is wiped at the start of the run.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

_TMP = Path(tempfile.mkdtemp(prefix="crm-test-"))
TEST_DATABASE_URL = os.environ.get("CRM_TEST_DATABASE_URL") or f"sqlite+aiosqlite:///{_TMP}/test.db"
os.environ.update(
    CRM_ENV="test",
    CRM_DATABASE_URL=TEST_DATABASE_URL,
    CRM_SECRET_KEY="test-secret-key-0123456789-abcdefghijklmnop",
)

from app.config import get_settings  # noqa: E402
from app.db.engine import make_engine  # noqa: E402
from app.db.uow import UnitOfWork  # noqa: E402
from app.main import create_app  # noqa: E402
from tests.support.declared_codes import DeclaredCodes  # noqa: E402

get_settings.cache_clear()
IS_POSTGRES = TEST_DATABASE_URL.startswith("postgresql")
ROOT = Path(__file__).resolve().parent.parent


def _upgrade(connection: Any) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


@pytest.fixture(scope="session")
async def engine() -> AsyncIterator[AsyncEngine]:
    engine = make_engine(TEST_DATABASE_URL)
    async with engine.begin() as conn:
        if IS_POSTGRES:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await conn.run_sync(_upgrade)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session_factory(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions joined to one outer transaction that is rolled back after the test."""
    async with engine.connect() as conn:
        outer = await conn.begin()
        yield async_sessionmaker(
            bind=conn, expire_on_commit=False, autoflush=False, join_transaction_mode="create_savepoint"
        )
        await outer.rollback()


@pytest.fixture
def uow_factory(session_factory: async_sessionmaker[AsyncSession]) -> Callable[[], UnitOfWork]:
    return lambda: UnitOfWork(session_factory)


@pytest.fixture(scope="session")
def app() -> FastAPI:
    return create_app(get_settings(), session_factory=async_sessionmaker())


@pytest.fixture
async def client(
    app: FastAPI, session_factory: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    # One app per run (building it is slow); each test points it at its own transaction.
    app.state.session_factory = session_factory
    checked = DeclaredCodes(app)
    transport = httpx.ASGITransport(app=checked)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c
    assert not checked.undeclared, (
        "answers whose code the route's responses= does not list (add the catalogue entry): "
        f"{sorted(set(checked.undeclared))}"
    )


@pytest.fixture
async def committed_factory(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Real, committing sessions for concurrency tests; every table is emptied afterwards."""
    from app.db.models import Base

    yield async_sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
    async with engine.begin() as conn:
        if IS_POSTGRES:
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} CASCADE"))
        else:
            await conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())

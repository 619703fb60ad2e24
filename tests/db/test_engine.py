"""The PostgreSQL pool replaces connections the server closed, without pinging each checkout."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from app.db.engine import make_engine
from tests.conftest import IS_POSTGRES, TEST_DATABASE_URL

pytestmark = pytest.mark.skipif(not IS_POSTGRES, reason="PostgreSQL connection pool")


async def test_a_connection_the_server_closed_is_replaced_on_checkout() -> None:
    engine = make_engine(TEST_DATABASE_URL, pool_size=1)
    other = make_engine(TEST_DATABASE_URL, pool_size=1)
    try:
        async with engine.connect() as conn:
            first_pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        # The connection is back in the pool; the server now ends its backend.
        async with other.connect() as admin:
            terminated = (await admin.execute(
                text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid})).scalar_one()
        assert terminated is True
        await asyncio.sleep(0.2)  # the event loop reads the server's goodbye

        async with engine.connect() as conn:
            second_pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert second_pid != first_pid
    finally:
        await engine.dispose()
        await other.dispose()

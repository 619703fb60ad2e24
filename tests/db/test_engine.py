"""The PostgreSQL pool replaces connections the server closed, without pinging each checkout,
and a connection lost in the middle of a unit of work is a 503 to retry, not a 500."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from app.db.engine import make_engine, make_session_factory
from app.db.uow import UnitOfWork
from app.domain.errors import ServiceUnavailable
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
            terminated = (
                await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid})
            ).scalar_one()
        assert terminated is True
        await asyncio.sleep(0.2)  # the event loop reads the server's goodbye

        async with engine.connect() as conn:
            second_pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert second_pid != first_pid
    finally:
        await engine.dispose()
        await other.dispose()


async def test_a_connection_lost_mid_transaction_is_service_unavailable() -> None:
    engine = make_engine(TEST_DATABASE_URL, pool_size=1)
    other = make_engine(TEST_DATABASE_URL, pool_size=1)
    try:
        uow = UnitOfWork(make_session_factory(engine))
        with pytest.raises(ServiceUnavailable) as raised:
            async with uow:
                pid = (await uow.session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                async with other.connect() as admin:
                    await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                await uow.session.execute(text("SELECT 1"))
        assert raised.value.extra == {"retry_after": 1}
        # The pool has let the dead connection go: the next unit of work just works.
        async with uow:
            assert (await uow.session.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()
        await other.dispose()

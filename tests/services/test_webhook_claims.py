"""Several delivery workers on one PostgreSQL: each due delivery is claimed by one of them."""

from __future__ import annotations

import datetime as dt

import pytest

from app.db.base import utcnow
from app.db.models import WebhookEndpoint
from app.db.uow import UnitOfWork
from tests.conftest import IS_POSTGRES
from tests.support.builders import make_user


@pytest.mark.skipif(not IS_POSTGRES, reason="SKIP LOCKED is PostgreSQL's; SQLite runs one writer")
async def test_workers_claiming_at_once_never_share_a_delivery(committed_factory):
    admin = await make_user(lambda: UnitOfWork(committed_factory), role="admin")
    now = utcnow()
    async with UnitOfWork(committed_factory) as uow:
        endpoint = WebhookEndpoint(
            url="https://receiver.example/",
            events=["webhook.test"],
            secret="whsec_dGVzdA==",
            created_by=admin.id,
        )
        uow.webhooks.add(endpoint)
        await uow.flush()
        for _ in range(10):
            await uow.webhooks.enqueue_one(endpoint.id, "webhook.test", {}, at=now)
        await uow.commit()
    lease = now + dt.timedelta(minutes=1)
    first = UnitOfWork(committed_factory)
    await first.__aenter__()
    taken_first = await first.webhooks.claim(now=now, lease_until=lease, limit=6)  # locked, not committed
    async with UnitOfWork(committed_factory) as second:
        taken_second = await second.webhooks.claim(now=now, lease_until=lease, limit=6)
        await second.commit()
    await first.commit()
    await first.__aexit__(None, None, None)
    assert len(taken_first) == 6 and len(taken_second) == 4
    assert not set(taken_first) & set(taken_second)
    async with UnitOfWork(committed_factory) as third:
        assert await third.webhooks.claim(now=now, lease_until=lease, limit=10) == []

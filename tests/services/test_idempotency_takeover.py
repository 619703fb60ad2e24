"""Retries racing for an abandoned Idempotency-Key, on really committed transactions: one
takes it over, the others are told it is in progress; and the first run, should it still
be alive, can no longer commit.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from sqlalchemy import update

from app.db.base import utcnow
from app.db.models import IdempotencyRecord
from app.db.uow import UnitOfWork
from app.domain.errors import Conflict
from app.services import idempotency as idempotency_service


@pytest.mark.parametrize("contenders", [2, 5])
async def test_an_abandoned_key_is_taken_over_once(committed_factory, contenders):
    user_id = uuid.uuid4()

    async def begin() -> idempotency_service.Begun:
        return await idempotency_service.begin(
            UnitOfWork(committed_factory),
            user_id=user_id,
            key="race",
            method="POST",
            path="/x",
            request_hash="h",
        )

    first = await begin()
    async with UnitOfWork(committed_factory) as uow:  # its process died an hour ago
        await uow.session.execute(
            update(IdempotencyRecord).values(created_at=utcnow() - dt.timedelta(hours=1))
        )
        await uow.commit()

    outcomes = await asyncio.gather(*(begin() for _ in range(contenders)), return_exceptions=True)
    took_over = [o for o in outcomes if isinstance(o, idempotency_service.Begun)]
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert [(b.record_id, b.attempt) for b in took_over] == [(first.record_id, 2)]
    assert len(refused) == contenders - 1
    assert {c.code for c in refused} == {"idempotency.in_progress"}

    with pytest.raises(Conflict) as late:
        async with UnitOfWork(committed_factory, fence=(first.record_id, 1)) as uow:
            await uow.commit()
    assert late.value.code == "idempotency.superseded"
    async with UnitOfWork(committed_factory, fence=(first.record_id, 2)) as uow:
        await uow.commit()

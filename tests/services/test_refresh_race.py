"""Concurrent refreshes of one token, on really committed transactions: exactly one wins.

On SQLite the writers queue (BEGIN IMMEDIATE); on PostgreSQL the conditional UPDATE of
``mark_rotated`` decides. Either way the loser is treated as a reuse and the family dies.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from app.db.models import RefreshToken
from app.db.uow import UnitOfWork
from app.domain.errors import Unauthorized
from app.services import auth as auth_service
from app.services import security
from tests.support.builders import PASSWORD, make_user


@pytest.fixture
def committed_uow(committed_factory):
    return lambda: UnitOfWork(committed_factory)


async def _family_tokens(committed_uow, refresh_token: str) -> list[RefreshToken]:
    async with committed_uow() as uow:
        first = await uow.refresh_tokens.get_by_hash(security.hash_refresh_token(refresh_token))
        assert first is not None
        rows = await uow.session.scalars(
            select(RefreshToken).where(RefreshToken.family_id == first.family_id)
        )
        return list(rows.all())


@pytest.mark.parametrize("contenders", [2, 6])
async def test_concurrent_refreshes_of_one_token(committed_uow, contenders):
    user = await make_user(committed_uow, role="rep")
    pair = await auth_service.login(
        committed_uow(), username=user.username, password=PASSWORD, client_address="127.0.0.1"
    )
    other_family = await auth_service.login(
        committed_uow(), username=user.username, password=PASSWORD, client_address="127.0.0.1"
    )

    results = await asyncio.gather(
        *[auth_service.refresh(committed_uow(), refresh_token=pair.refresh_token) for _ in range(contenders)],
        return_exceptions=True,
    )

    winners = [r for r in results if isinstance(r, auth_service.TokenPair)]
    losers = [r for r in results if not isinstance(r, auth_service.TokenPair)]
    assert len(winners) == 1, results
    assert len(losers) == contenders - 1
    assert all(isinstance(loser, Unauthorized) for loser in losers), losers
    codes = [loser.code for loser in losers]
    # The first loser detects the reuse and revokes the family; a later one may already
    # find the token revoked.
    if contenders == 2:
        assert codes == ["auth.refresh_token_reused"]
    else:
        assert "auth.refresh_token_reused" in codes
        assert set(codes) <= {"auth.refresh_token_reused", "auth.invalid_refresh_token"}

    # The reuse revoked the family, the winner's fresh token included ...
    with pytest.raises(Unauthorized) as dead:
        await auth_service.refresh(committed_uow(), refresh_token=winners[0].refresh_token)
    assert dead.value.code == "auth.invalid_refresh_token"
    family = await _family_tokens(committed_uow, pair.refresh_token)
    assert len(family) == 2  # the original and the single token issued from it
    assert all(t.revoked_at is not None for t in family)
    # ... and nothing else: the user's other login still refreshes.
    renewed = await auth_service.refresh(committed_uow(), refresh_token=other_family.refresh_token)
    assert renewed.refresh_token != other_family.refresh_token


async def test_sequential_refreshes_rotate_without_revoking(committed_uow):
    # The control: without a race, each refresh hands on a working token.
    user = await make_user(committed_uow, role="rep")
    pair = await auth_service.login(
        committed_uow(), username=user.username, password=PASSWORD, client_address="127.0.0.1"
    )
    for _ in range(3):
        pair = await auth_service.refresh(committed_uow(), refresh_token=pair.refresh_token)
    family = await _family_tokens(committed_uow, pair.refresh_token)
    assert len(family) == 4
    assert all(t.revoked_at is None for t in family)
    assert sum(t.rotated_at is None for t in family) == 1

"""Claims, assignments, transitions and the recycle sweep under real concurrency.

Every contender gets its own UnitOfWork on really committed sessions and they run at once
(asyncio.gather). On PostgreSQL that is real concurrency and the database decides (row locks
on the claimant, the conditional UPDATE of the customer, SKIP LOCKED in the sweep); on SQLite
the writers queue (BEGIN IMMEDIATE). The invariants must hold on both.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy import func, select

from app.db.base import utcnow
from app.db.models import OwnershipEvent, StageTransition
from app.db.uow import UnitOfWork
from app.domain.errors import DomainError
from app.domain.funnel import InvalidTransition, Stage, replay
from app.domain.ownership import AlreadyClaimed, QuotaExceeded
from app.services import funnel as funnel_service
from app.services import pool as pool_service
from tests.support.builders import (
    access_headers,
    make_customer,
    make_customers,
    make_team,
    make_user,
    principal_of,
    record_created,
    set_pool_policy,
)

LIMIT = 5


@pytest.fixture
def committed_uow(committed_factory):
    return lambda: UnitOfWork(committed_factory)


@pytest.fixture
async def committed_client(app, committed_factory):
    """The app on committed sessions; requests gathered on it run concurrently in one loop."""
    previous = app.state.session_factory
    app.state.session_factory = committed_factory
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            yield c
    finally:
        app.state.session_factory = previous


@pytest.fixture
async def team(committed_uow):
    team = await make_team(committed_uow, name="floor")
    director = await make_user(committed_uow, role="director")
    manager = await make_user(committed_uow, role="manager", team=team)
    reps = [await make_user(committed_uow, role="rep", team=team) for _ in range(10)]
    await set_pool_policy(committed_uow, director, max_active_customers=LIMIT)
    return SimpleNamespace(team=team, director=director, manager=manager, reps=reps)


def split(results, error: type[DomainError]) -> tuple[list, list]:
    """Winners and losers; anything else than ``error`` fails the test loudly."""
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    unexpected = [r for r in losers if not isinstance(r, error)]
    assert not unexpected, unexpected
    return winners, losers


async def owner_of(committed_uow, customer_id):
    async with committed_uow() as uow:
        return (await uow.customers.get_unscoped(customer_id)).owner_id


async def event_counts(committed_uow, event: str) -> Counter:
    async with committed_uow() as uow:
        rows = await uow.session.execute(
            select(OwnershipEvent.customer_id, func.count())
            .where(OwnershipEvent.event == event)
            .group_by(OwnershipEvent.customer_id)
        )
        return Counter({customer_id: n for customer_id, n in rows.all()})


async def test_ten_reps_claim_the_same_customer(committed_uow, team):
    customer = await make_customer(committed_uow)
    principals = [await principal_of(committed_uow, rep) for rep in team.reps]

    results = await asyncio.gather(
        *[pool_service.claim(committed_uow(), p, customer_id=customer.id) for p in principals],
        return_exceptions=True,
    )

    winners, losers = split(results, AlreadyClaimed)
    assert len(winners) == 1 and len(losers) == 9
    assert {loser.code for loser in losers} == {"pool.already_claimed"}
    assert await owner_of(committed_uow, customer.id) == winners[0].owner_id
    assert await event_counts(committed_uow, "claim") == {customer.id: 1}


async def test_one_rep_claims_five_customers_at_once_at_the_limit(committed_uow, team):
    rep = team.reps[0]
    await make_customers(committed_uow, LIMIT - 1, owner=rep, stage="lead")
    wanted = await make_customers(committed_uow, 5)
    principal = await principal_of(committed_uow, rep)

    results = await asyncio.gather(
        *[pool_service.claim(committed_uow(), principal, customer_id=c.id) for c in wanted],
        return_exceptions=True,
    )

    winners, losers = split(results, QuotaExceeded)
    assert len(winners) == 1 and len(losers) == 4
    assert {loser.code for loser in losers} == {"pool.quota_exceeded"}
    assert {loser.extra["active"] for loser in losers} == {LIMIT}
    async with committed_uow() as uow:
        assert await uow.customers.count_active_owned(rep.id) == LIMIT


async def test_assignments_to_one_rep_at_once_respect_the_limit(committed_uow, team):
    rep = team.reps[1]
    await make_customers(committed_uow, LIMIT - 2, owner=rep, stage="intent")
    wanted = await make_customers(committed_uow, 6)
    manager = await principal_of(committed_uow, team.manager)

    results = await asyncio.gather(
        *[pool_service.assign(committed_uow(), manager, customer_id=c.id, owner_id=rep.id) for c in wanted],
        return_exceptions=True,
    )

    winners, losers = split(results, QuotaExceeded)
    assert (len(winners), len(losers)) == (2, 4)
    async with committed_uow() as uow:
        assert await uow.customers.count_active_owned(rep.id) == LIMIT


async def test_over_http_one_claim_wins(committed_client, committed_uow, team):
    customer = await make_customer(committed_uow)

    responses = await asyncio.gather(
        *[
            committed_client.post(f"/api/v1/customers/{customer.id}/claim", headers=access_headers(rep))
            for rep in team.reps
        ]
    )

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 409: 9}, [r.text for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"pool.already_claimed"}
    winner = next(r for r in responses if r.status_code == 200).json()
    assert str(await owner_of(committed_uow, customer.id)) == winner["owner_id"]


async def test_over_http_one_rep_cannot_pass_the_limit(committed_client, committed_uow, team):
    rep = team.reps[2]
    await make_customers(committed_uow, LIMIT - 1, owner=rep, stage="graded")
    wanted = await make_customers(committed_uow, 5)

    responses = await asyncio.gather(
        *[
            committed_client.post(f"/api/v1/customers/{c.id}/claim", headers=access_headers(rep))
            for c in wanted
        ]
    )

    assert Counter(r.status_code for r in responses) == {200: 1, 409: 4}
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"pool.quota_exceeded"}
    async with committed_uow() as uow:
        assert await uow.customers.count_active_owned(rep.id) == LIMIT


async def test_concurrent_sweeps_release_each_customer_once(committed_uow, team):
    now = utcnow()
    lapsed = []
    for rep in team.reps[:3]:
        lapsed += await make_customers(
            committed_uow,
            4,
            owner=rep,
            stage="lead",
            last_contact_at=now - dt.timedelta(days=9),
            claimed_at=now - dt.timedelta(days=20),
        )
    kept = await make_customers(committed_uow, 2, owner=team.reps[3], stage="lead")
    cooled = await make_customer(committed_uow, stage="abandoned", cooldown_until=now - dt.timedelta(days=1))

    results = await asyncio.gather(*[pool_service.recycle(committed_uow(), None) for _ in range(4)])

    released = Counter(item.customer_id for result in results for item in result.released)
    assert released == {c.id: 1 for c in lapsed}
    assert await event_counts(committed_uow, "recycle") == {c.id: 1 for c in lapsed}
    async with committed_uow() as uow:
        rows = await uow.session.scalars(select(OwnershipEvent).where(OwnershipEvent.event == "recycle"))
        assert {(e.reason, e.to_owner_id) for e in rows} == {("protection_expired", None)}
        assert [(await uow.customers.get_unscoped(c.id)).owner_id for c in lapsed] == [None] * len(lapsed)
        assert [(await uow.customers.get_unscoped(c.id)).owner_id for c in kept] == [team.reps[3].id] * 2
        assert (await uow.customers.get_unscoped(cooled.id)).cooldown_until is None
    ended = Counter(item.customer_id for result in results for item in result.cooldowns_ended)
    assert set(ended) == {cooled.id}


async def test_concurrent_moves_of_one_customer_store_one_history(committed_uow, team):
    rep = team.reps[4]
    customer = await make_customer(committed_uow, owner=rep, stage="lead")
    await record_created(committed_uow, customer)
    principal = await principal_of(committed_uow, rep)

    results = await asyncio.gather(
        *[
            funnel_service.transition_customer(
                committed_uow(), principal, customer_id=customer.id, to_stage=Stage.intent
            )
            for _ in range(5)
        ],
        return_exceptions=True,
    )

    winners, losers = split(results, InvalidTransition)
    assert (len(winners), len(losers)) == (1, 4)
    async with committed_uow() as uow:
        rows = (
            await uow.session.scalars(
                select(StageTransition)
                .where(StageTransition.customer_id == customer.id)
                .order_by(StageTransition.at)
            )
        ).all()
        current = (await uow.customers.get_unscoped(customer.id)).stage
    assert [r.kind for r in rows] == ["created", "forward"]
    assert replay(rows[1:], start=Stage(rows[0].to_stage)) == Stage(current) == Stage.intent  # type: ignore[arg-type]

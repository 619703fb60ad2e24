"""Property test of the ownership services on a real database (SPEC §5, issue 13): random
sequences of claim / release / log activity / delete activity / the recycle sweep /
fat-man allocation / handover, under a simulated clock.

After every step these hold:
- no rep holds more than ``max_active_customers + discovery_bonus`` active customers;
- ``last_contact_at`` is the latest live activity of the customer;
- no active customer is held past its protection deadline plus one sweep interval (the
  clock only moves by at most one interval, and the sweep runs after every move);
- a rep never takes back a customer within ``reclaim_block_days`` of releasing it or
  losing it to lapse (checked on the stored ownership events);
- signed and implemented customers never enter the pool;
- an allocation never takes a rep past the ideal holding of the stage.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from contextlib import ExitStack
from types import SimpleNamespace
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.db.base import utcnow
from app.db.models import Activity, Customer, OwnershipEvent
from app.domain.errors import DomainError
from app.domain.funnel import ACTIVE_STAGES, Stage
from app.domain.ownership import protection_deadline
from app.services import activities as activities_service
from app.services import pool as pool_service
from tests.support.builders import make_customer, make_team, make_user, principal_of, set_pool_policy

LIMIT, BONUS, BLOCK_DAYS, PROTECTION_DAYS = 2, 1, 3, 2
SWEEP = dt.timedelta(hours=6)
CAPS = {Stage.graded: 10, Stage.contacted: 13, Stage.lead: 7, Stage.intent: 2}
REPS, CUSTOMERS = 3, 6
# Claims, releases and activities pick from two reps and three customers, so that the same
# pair meets again often (a release then a re-claim, a lapse then a re-claim).
rep_index, customer_index = st.integers(0, 1), st.integers(0, 2)

steps = st.lists(
    st.one_of(
        st.tuples(st.just("tick"), st.integers(1, int(SWEEP.total_seconds() // 3600))),
        st.tuples(st.just("claim"), rep_index, customer_index),
        st.tuples(st.just("claim"), rep_index, customer_index),
        st.tuples(st.just("release"), rep_index, customer_index),
        st.tuples(st.just("log"), rep_index, customer_index, st.integers(0, 60)),
        st.tuples(st.just("delete"), st.integers(0, 20)),
        st.tuples(st.just("allocate"), st.booleans()),
        st.tuples(st.just("handover"), st.integers(0, REPS - 1), st.sampled_from(["pool", "fat_man"])),
    ),
    min_size=1,
    max_size=24,
)


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now


async def _world(uow_factory, clock: Clock) -> SimpleNamespace:
    team = await make_team(uow_factory)
    manager = await make_user(uow_factory, role="manager", team=team)
    reps = [await make_user(uow_factory, role="rep", team=team) for _ in range(REPS)]
    stages = ["resource", "graded", "intent", "intent", "lead", "contacted"]
    customers = [
        await make_customer(uow_factory, stage=stage, grade="A", claimed_at=None) for stage in stages
    ]
    signed = await make_customer(uow_factory, owner=reps[0], stage="signed", claimed_at=clock.now)
    return SimpleNamespace(
        team=team,
        manager=manager,
        reps=reps,
        customers=customers,
        signed=signed,
        rep_principals=[await principal_of(uow_factory, r) for r in reps],
        director=await principal_of(uow_factory, await make_user(uow_factory, role="director")),
        support=await principal_of(uow_factory, await make_user(uow_factory, role="support")),
        activities=[],
    )


async def _run(uow_factory, world: SimpleNamespace, clock: Clock, step: tuple) -> None:
    kind, *args = step
    clock.now += dt.timedelta(milliseconds=1)  # every step at its own instant: events stay ordered
    try:
        if kind == "tick":
            clock.now += dt.timedelta(hours=args[0])
        elif kind == "claim":
            await pool_service.claim(
                uow_factory(), world.rep_principals[args[0]], customer_id=world.customers[args[1]].id
            )
        elif kind == "release":
            await pool_service.release(
                uow_factory(), world.rep_principals[args[0]], customer_id=world.customers[args[1]].id
            )
        elif kind == "log":
            activity = await activities_service.log_activity(
                uow_factory(),
                world.rep_principals[args[0]],
                values={
                    "customer_id": world.customers[args[1]].id,
                    "type": "call",
                    "occurred_at": clock.now - dt.timedelta(hours=args[2]),
                },
            )
            world.activities.append((activity.id, args[0]))
        elif kind == "delete" and world.activities:
            activity_id, author = world.activities[args[0] % len(world.activities)]
            await activities_service.delete_activity(
                uow_factory(), world.rep_principals[author], activity_id=activity_id, expected_version=None
            )
        elif kind == "allocate":
            await pool_service.allocate(
                uow_factory(),
                world.support,
                strategy="fat_man" if args[0] else "round_robin",
                user_ids=[r.id for r in world.reps],
            )
        elif kind == "handover":
            await pool_service.handover(
                uow_factory(), world.director, user_id=world.reps[args[0]].id, strategy=args[1]
            )
    except DomainError:
        pass  # refused: nothing changed (the invariants below check that too)
    # The sweep runs at least once per interval: after every step.
    await pool_service.recycle(uow_factory(), None)


async def _check(uow_factory, world: SimpleNamespace, clock: Clock, before: dict) -> dict:
    ids = [c.id for c in world.customers] + [world.signed.id]
    async with uow_factory() as uow:
        rows = list((await uow.session.scalars(select(Customer).where(Customer.id.in_(ids)))).all())
        latest = dict(
            (
                await uow.session.execute(
                    select(Activity.customer_id, func.max(Activity.occurred_at))
                    .where(Activity.customer_id.in_(ids), Activity.deleted_at.is_(None))
                    .group_by(Activity.customer_id)
                )
            ).all()
        )
        events = list(
            (
                await uow.session.scalars(
                    select(OwnershipEvent)
                    .where(OwnershipEvent.customer_id.in_(ids))
                    .order_by(OwnershipEvent.at, OwnershipEvent.id)
                )
            ).all()
        )
    active = Counter(c.owner_id for c in rows if c.owner_id and Stage(c.stage) in ACTIVE_STAGES)
    rep_ids = {r.id for r in world.reps}
    for owner, count in active.items():
        if owner in rep_ids:
            assert count <= LIMIT + BONUS
    for customer in rows:
        assert customer.last_contact_at == latest.get(customer.id)
        if Stage(customer.stage) in (Stage.signed, Stage.implemented):
            assert customer.owner_id is not None, "a signed customer entered the pool"
        if customer.owner_id is not None and Stage(customer.stage) in ACTIVE_STAGES:
            deadline = protection_deadline(
                last_contact_at=customer.last_contact_at,
                claimed_at=customer.claimed_at,
                policy=SimpleNamespace(protection_days=PROTECTION_DAYS),
            )  # type: ignore[arg-type]
            assert deadline is not None and deadline + SWEEP >= clock.now
    lost: dict[tuple, dt.datetime] = {}
    for event in events:
        if event.event in ("release", "recycle") and event.from_owner_id is not None:
            lost[event.customer_id, event.from_owner_id] = event.at
        elif event.to_owner_id is not None and event.event in ("claim", "allocate", "handover"):
            when = lost.get((event.customer_id, event.to_owner_id))
            assert when is None or event.at >= when + dt.timedelta(days=BLOCK_DAYS), (
                "a blocked rep regained the customer"
            )
    holding = Counter((c.owner_id, Stage(c.stage)) for c in rows if c.owner_id is not None)
    for event in events:
        if event.event == "allocate" and event.id not in before.get("events", set()):
            stage = Stage(next(c.stage for c in rows if c.id == event.customer_id))
            cap = CAPS.get(stage)
            # Holding may only have shrunk since: the allocation itself respected the cap.
            assert cap is None or holding[event.to_owner_id, stage] <= cap
    return {"events": {e.id for e in events}}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps)
async def test_ownership_invariants_hold_over_random_sequences(uow_factory, plan):
    clock = Clock()
    with ExitStack() as patches:
        for module in (pool_service, activities_service):
            patches.enter_context(mock.patch.object(module, "utcnow", clock))
        world = await _world(uow_factory, clock)
        director_user = await make_user(uow_factory, role="director")
        await set_pool_policy(
            uow_factory,
            director_user,
            max_active_customers=LIMIT,
            discovery_bonus=BONUS,
            reclaim_block_days=BLOCK_DAYS,
            protection_days=PROTECTION_DAYS,
            lapse_warning_days=1,
        )
        seen: dict = {}
        for step in plan:
            await _run(uow_factory, world, clock, step)
            seen = await _check(uow_factory, world, clock, seen)

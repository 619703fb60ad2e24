"""``crm seed-demo``: the demo organisation and a few hundred realistic customers spread
over the whole funnel, each with contacts, a transition history that replays to its stage,
activities consistent with that history, ownership events and an audit entry; then contracts,
bills and payments for the most advanced ones.

Everything is generated deterministically from ``random.Random(DEMO_SEED)`` relative to
"now", planned in memory first (``app.demo.scenarios`` tells each customer's life as a
``Story`` whose every move is checked by the funnel rules), then written in one transaction
with a handful of flushes. Trading goes through the real use cases (``app.demo.trading``).

To extend the demo (more contracts, tasks...): add a ``plan_*`` scenario that tells more
stories (``Story.move`` checks the same rules the API does) and a writer called from
``seed_demo_with``.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.db.base import utcnow
from app.db.uow import UnitOfWork
from app.demo.org import PEOPLE, seed_org
from app.demo.scenarios import plan_customers
from app.demo.story import Draft, Gen
from app.demo.trading import seed_trading
from app.domain.funnel import ACTIVE_STAGES, FUNNEL_ORDER, Stage
from app.domain.ownership import lapses_within, protection_deadline
from app.services import security
from app.services import settings as settings_service
from app.services.common import jsonable

DEMO_PASSWORD = "demo-pass-2026"
DEMO_SEED = 2026


@dataclass
class SeedResult:
    password: str
    users: list[tuple[str, str]]
    summary: list[str] = field(default_factory=list)


async def seed_demo_with(
    uow: UnitOfWork, *, if_empty: bool, now: dt.datetime | None = None
) -> SeedResult | None:
    """Seed the demo organisation and customers in one transaction (nothing if ``if_empty``
    and users exist). ``now`` anchors every generated time (default: the current time)."""
    now = now or utcnow()
    password_hash = security.hash_password(DEMO_PASSWORD)
    async with uow:
        if if_empty and await uow.users.any_exists():
            return None
        org = await seed_org(uow, password_hash)
        policy = await settings_service.pool_policy_in(uow)
        gen = Gen(rng=random.Random(DEMO_SEED), now=now, policy=policy, org=org)  # noqa: S311
        drafts = plan_customers(gen)
        await _seed_customers(uow, drafts)
        await _seed_contacts(uow, drafts)
        await _seed_history(uow, drafts)
        await _seed_activities(uow, drafts)
        await uow.commit()
    trading = await seed_trading(uow, org, [d.customer for d in drafts], now=now)
    async with uow:
        # Signing moved some customers on; summarise what the database now holds.
        for draft in drafts:
            stored = await uow.customers.get_unscoped(draft.customer.id)
            if stored is not None:
                draft.customer.stage = stored.stage
    return SeedResult(
        password=DEMO_PASSWORD,
        users=[(u, r.value) for u, r, _, _ in PEOPLE],
        summary=[*_summary(gen, drafts), trading],
    )


# ----------------------------------------------------------------------------------------
# Writing (one transaction, a few flushes)
# ----------------------------------------------------------------------------------------


async def _seed_customers(uow: UnitOfWork, drafts: Sequence[Draft]) -> None:
    # Referrers were planned first, so they are inserted before the customers they referred.
    uow.session.add_all([d.customer for d in drafts])
    await uow.flush()


async def _seed_contacts(uow: UnitOfWork, drafts: Sequence[Draft]) -> None:
    contacts = [c for d in drafts for c in d.contacts]
    uow.session.add_all(contacts)
    await uow.flush()
    await uow.contacts.add_points(contacts)


async def _seed_history(uow: UnitOfWork, drafts: Sequence[Draft]) -> None:
    """Stage transitions, ownership events, the audit entry; then the abandonment reviews."""
    uow.session.add_all([t for d in drafts for t in d.transitions])
    uow.session.add_all([e for d in drafts for e in d.ownership])
    uow.session.add_all([h for d in drafts for h in d.history])
    await uow.flush()
    uow.session.add_all([r for d in drafts for r in d.reviews])


async def _seed_activities(uow: UnitOfWork, drafts: Sequence[Draft]) -> None:
    uow.session.add_all([a for d in drafts for a in d.activities])
    await uow.flush()


# ----------------------------------------------------------------------------------------
# What was seeded, for the command's output
# ----------------------------------------------------------------------------------------


def _summary(gen: Gen, drafts: Sequence[Draft]) -> list[str]:
    now, policy = gen.now, gen.policy
    customers = [d.customer for d in drafts]
    stages = Counter(c.stage for c in customers)
    per_stage = ", ".join(
        f"{s.value} {stages[s.value]}" for s in (*FUNNEL_ORDER, Stage.abandoned) if stages[s.value]
    )
    pool = [c for c in customers if c.owner_id is None]
    claimable = [
        c
        for c in pool
        if c.stage != Stage.abandoned.value and (c.cooldown_until is None or c.cooldown_until <= now)
    ]
    cooling = [c for c in pool if c.cooldown_until is not None and c.cooldown_until > now]
    cooled = [c for c in pool if c.cooldown_until is not None and c.cooldown_until <= now]
    active = Counter(
        c.owner_id for c in customers if c.owner_id is not None and Stage(c.stage) in ACTIVE_STAGES
    )
    reps = ", ".join(f"{rep.username} {active[rep.id]}" for rep in gen.org.reps)
    owned = [c for c in customers if c.owner_id is not None]
    lapsing = [
        c
        for c in owned
        if lapses_within(last_contact_at=c.last_contact_at, claimed_at=c.claimed_at, now=now, policy=policy)
    ]
    horizon = now + dt.timedelta(days=2)
    lapsed_by_horizon = [
        c
        for c in owned
        if (
            deadline := protection_deadline(
                last_contact_at=c.last_contact_at, claimed_at=c.claimed_at, policy=policy
            )
        )
        and deadline < horizon
    ]
    follow_ups: dict[uuid.UUID, dt.datetime] = {}
    for d in drafts:
        planned = [a.next_follow_up_at for a in d.activities if a.next_follow_up_at is not None]
        if planned:
            follow_ups[d.customer.id] = max(planned)
    due = [
        c
        for c in owned
        if (f := follow_ups.get(c.id)) is not None
        and f <= now
        and (c.last_contact_at is None or c.last_contact_at < f)
    ]
    transitions = [t for d in drafts for t in d.transitions]
    kinds = Counter(t.kind for t in transitions)
    out_of_funnel = sum(1 for c in customers if c.out_of_funnel)
    reviews = sum(len(d.reviews) for d in drafts)
    return [
        "teams: 华东大区 → 上海一组 (manager1: rep1, rep2), 杭州二组 (manager2: rep3, rep4)",
        f"customers: {len(customers)} — {per_stage}",
        f"pool: {len(pool)} unowned — {len(claimable)} claimable, {len(cooling)} abandoned in "
        f"cooldown, {len(cooled)} abandoned with cooldown ended",
        f"active customers per rep (limit {policy.max_active_customers}): {reps}",
        f"contacts: {sum(len(d.contacts) for d in drafts)}; activities: "
        f"{sum(len(d.activities) for d in drafts)}; transitions: {len(transitions)} "
        f"({kinds['forward']} forward, {kinds['backward']} backward, {kinds['abandon']} abandon, "
        f"{kinds['reactivate']} reactivate); {out_of_funnel} out-of-funnel customers; "
        f"{reviews} abandonment reviews",
        f"worklists: {len(lapsing)} customers with protection lapsing within 2 days, "
        f"{len(due)} follow-ups due",
        f"try: POST /api/v1/auth/token as rep1 / {DEMO_PASSWORD}, then GET /api/v1/me/worklist",
        f'try: POST /api/v1/pool/recycle {{"dry_run": true, "as_of": "{jsonable(horizon)}"}} '
        f"as support → {len(lapsed_by_horizon)} would lapse, {len(cooled)} cooldowns end",
        "try: as rep2 (at the holding limit) GET /api/v1/pool, then POST /api/v1/customers/{id}/claim "
        "→ 409 pool.quota_exceeded",
    ]

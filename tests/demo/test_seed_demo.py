"""``crm seed-demo``: the demo customers form a consistent funnel the API's rules accept."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import defaultdict

from sqlalchemy import func, select

from app.db.base import utcnow
from app.db.models import (
    AbandonmentReview,
    Activity,
    Contact,
    ContactPoint,
    Customer,
    CustomerHistory,
    OwnershipEvent,
    StageTransition,
    Team,
    User,
)
from app.demo import org as demo_org
from app.demo import seed as demo_seed
from app.demo.scenarios import plan_customers
from app.demo.story import Gen
from app.domain import normalize
from app.domain.funnel import (
    ACTIVE_STAGES,
    AbandonReason,
    Stage,
    Transition,
    TransitionKind,
    days_in_stage,
    is_out_of_funnel_on_create,
    replay,
    stage_position,
)
from app.domain.ownership import DEFAULT_POOL_POLICY, is_protection_lapsed
from app.domain.roles import Principal, Role
from app.services import pool as pool_service
from app.services.customers import completeness_of

# Every stage: signed and implemented ones come from seeded contracts.
SEEDED_STAGES = set(Stage)


async def _all(uow, model, *order):
    return list((await uow.session.scalars(select(model).order_by(*order))).all())


def _check_history(customer: Customer, transitions: list[StageTransition]) -> None:
    """The stored rows replay from creation to the current stage, with consistent timing."""
    first, *moves = transitions
    assert first.from_stage is None and first.kind == "created"
    assert first.at == customer.created_at
    assert first.out_of_funnel == is_out_of_funnel_on_create(Stage(first.to_stage))
    domain = [
        Transition(from_stage=Stage(t.from_stage), to_stage=Stage(t.to_stage), kind=TransitionKind(t.kind))
        for t in moves
    ]
    assert replay(domain, start=Stage(first.to_stage)) == Stage(customer.stage), customer.name
    previous = first
    for t in moves:
        assert t.at > previous.at
        assert t.days_in_from_stage == days_in_stage(previous.at, now=t.at)
        if t.kind == "backward":
            assert t.reason, "a backward step needs a reason"
        if t.kind == "forward":
            assert t.out_of_funnel == bool(t.skipped)
        previous = t
    assert customer.stage_entered_at == transitions[-1].at
    assert customer.out_of_funnel == any(t.out_of_funnel for t in transitions)


async def test_seed_demo_builds_a_consistent_funnel(uow_factory):
    now = utcnow()
    result = await demo_seed.seed_demo_with(uow_factory(), if_empty=False, now=now)
    assert result is not None
    assert any("claimable" in line for line in result.summary)
    assert any("/me/worklist" in line for line in result.summary)

    async with uow_factory() as uow:
        customers = await _all(uow, Customer, Customer.id)
        users = {u.username: u for u in await _all(uow, User, User.username)}
        transitions = await _all(
            uow, StageTransition, StageTransition.customer_id, StageTransition.at, StageTransition.id
        )
        activities = await _all(uow, Activity, Activity.occurred_at)
        contacts = await _all(uow, Contact, Contact.id)
        events = await _all(uow, OwnershipEvent, OwnershipEvent.at)
        history = await _all(uow, CustomerHistory, CustomerHistory.at)
        reviews = await _all(uow, AbandonmentReview, AbandonmentReview.at)
        points = await uow.session.scalar(select(func.count()).select_from(ContactPoint))
        active_counts = {
            name: await uow.customers.count_active_owned(users[name].id) for name in demo_org.REP_NAMES
        }

    assert 250 <= len(customers) <= 400
    by_stage = defaultdict(list)
    for c in customers:
        by_stage[Stage(c.stage)].append(c)
    assert set(by_stage) == SEEDED_STAGES

    # Holding limit: nobody over it, somebody near it.
    limit = DEFAULT_POOL_POLICY.max_active_customers
    assert all(n <= limit for n in active_counts.values()), active_counts
    assert max(active_counts.values()) >= limit - 2
    reps = {users[name].id: users[name] for name in demo_org.REP_NAMES}
    owned = [c for c in customers if c.owner_id is not None]
    assert {c.owner_id for c in owned} == set(reps)
    assert all(Stage(c.stage) in ACTIVE_STAGES | {Stage.signed, Stage.implemented} for c in owned)
    assert all(c.team_id == reps[c.owner_id].team_id and c.claimed_at is not None for c in owned)
    pool = [c for c in customers if c.owner_id is None]
    assert len(pool) > len(owned)
    assert all(c.team_id is None and c.claimed_at is None for c in pool)

    # Every history replays to the current stage.
    per_customer = defaultdict(list)
    for t in transitions:
        per_customer[t.customer_id].append(t)
    assert set(per_customer) == {c.id for c in customers}
    for c in customers:
        _check_history(c, per_customer[c.id])
    kinds = {t.kind for t in transitions}
    assert {"created", "forward", "backward", "abandon", "reactivate"} <= kinds
    assert any(t.skipped for t in transitions), "some skipped stages (out of funnel)"

    # Activities: before entering a contact stage, last_contact_at is the latest one.
    acts = defaultdict(list)
    for a in activities:
        acts[a.customer_id].append(a)
        assert a.occurred_at <= now
    for c in customers:
        mine = acts[c.id]
        reached = [
            t
            for t in per_customer[c.id]
            if t.to_stage != "abandoned"
            and stage_position(Stage(t.to_stage)) >= stage_position(Stage.contacted)
        ]
        if reached:
            assert mine, f"{c.name} reached {reached[0].to_stage} without an activity"
            assert mine[0].occurred_at <= reached[0].at
        assert c.last_contact_at == (mine[-1].occurred_at if mine else None)
    visits = [a for a in activities if a.type == "visit"]
    assert visits and all(a.location_lat is not None and a.location_address for a in visits)
    assert {"call", "visit", "email"} <= {a.type for a in activities}

    # Abandoned customers wait in the pool in cooldown (some cooldowns are already over).
    for c in by_stage[Stage.abandoned]:
        assert c.owner_id is None and c.cooldown_until is not None
        last = per_customer[c.id][-1]
        assert last.kind == "abandon" and last.reason in set(AbandonReason) and last.note
    assert any(c.cooldown_until > now for c in by_stage[Stage.abandoned])
    assert any(c.cooldown_until <= now for c in by_stage[Stage.abandoned])
    assert all(c.cooldown_until is None for c in customers if c.stage != "abandoned")
    assert reviews and all(r.verdict in ("agree", "disagree") for r in reviews)

    # Protection: nobody lapsed yet, a few about to; some follow-ups due.
    for c in owned:
        assert not is_protection_lapsed(
            last_contact_at=c.last_contact_at, claimed_at=c.claimed_at, now=now, policy=DEFAULT_POOL_POLICY
        ), c.name

    # Master data: valid codes, phones and emails, graded fields, completeness, audit entry.
    assert len({c.uscc for c in customers}) == len(customers)
    assert len({c.name_key for c in customers}) == len(customers)
    for c in customers:
        assert normalize.is_valid_uscc(c.uscc), c.uscc
        assert c.name_key == normalize.dedup_name_key(c.name)
        assert c.name.endswith(("有限公司", "股份有限公司"))
        assert c.region and c.industry
        graded = any(
            t.to_stage == "graded" or t.from_stage == "graded" for t in per_customer[c.id]
        ) or stage_position(Stage(per_customer[c.id][0].to_stage)) >= stage_position(Stage.graded)
        if graded:
            assert c.grade in ("A", "B", "C") and c.recommended_products and c.target_amount > 0
    customer_contacts = defaultdict(list)
    for contact in contacts:
        customer_contacts[contact.customer_id].append(contact)
        assert contact.phones and contact.emails
        for phone in contact.phones:
            assert normalize.normalize_phone(phone) == phone and phone.startswith("+861")
        for email in contact.emails:
            assert normalize.normalize_email(email) == email
    assert points == sum(len(x.phones) + len(x.emails) for x in contacts)
    for c in customers:
        mine = customer_contacts[c.id]
        assert 1 <= len(mine) <= 3 and sum(x.is_primary for x in mine) == 1
        assert c.completeness == completeness_of(c, mine)
    seeded = [h for h in history if h.action == "seed"]
    assert sorted(h.customer_id for h in seeded) == sorted(c.id for c in customers)

    # Ownership events tell how owned customers got their owner.
    event_kinds = {e.event for e in events}
    assert {"claim", "assign", "release", "recycle", "abandon"} <= event_kinds
    recycled = [e for e in events if e.event == "recycle"]
    assert all(e.reason == "protection_expired" and e.to_owner_id is None for e in recycled)

    # The API's views show the demo's point: a worklist with reasons, a recycle preview.
    rep1 = users["rep1"]
    principal = Principal(user_id=rep1.id, role=Role.rep, team_id=rep1.team_id)
    worklist = (await pool_service.worklist(uow_factory(), principal, limit=500)).items
    # Only customers with something to do today, each with at least one reason.
    assert 0 < len(worklist) <= sum(1 for c in owned if c.owner_id == users["rep1"].id)
    assert all(item.reasons and item.customer.owner_id == rep1.id for item in worklist)
    all_reasons = {r for item in worklist for r in item.reasons}
    support = Principal(user_id=users["support"].id, role=Role.support, team_id=None)
    everyone = [
        (
            await pool_service.worklist(
                uow_factory(),
                Principal(user_id=users[n].id, role=Role.rep, team_id=users[n].team_id),
                limit=500,
            )
        ).items
        for n in demo_org.REP_NAMES
    ]
    all_reasons |= {r for items in everyone for item in items for r in item.reasons}
    assert {"protection_lapsing", "follow_up_due", "stalled"} <= all_reasons
    preview = await pool_service.recycle(
        uow_factory(), support, dry_run=True, as_of=now + dt.timedelta(days=7)
    )
    assert preview.released and preview.cooldowns_ended
    soon = await pool_service.recycle(uow_factory(), support, dry_run=True, as_of=now + dt.timedelta(days=2))
    assert 0 < len(soon.released) < len(owned)

    # A second run on a database with users does nothing.
    assert await demo_seed.seed_demo_with(uow_factory(), if_empty=True) is None
    async with uow_factory() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Customer)) == len(customers)
        assert await uow.session.scalar(select(func.count()).select_from(User)) == len(users)


def test_seed_plan_is_deterministic():
    """The same seed and clock plan the same customers (names, stages, owners, times)."""
    now = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)

    def plan():
        east, west = uuid.UUID(int=1), uuid.UUID(int=2)
        teams = {"region": Team(id=uuid.UUID(int=3)), "east": Team(id=east), "west": Team(id=west)}
        users = {
            name: User(
                id=uuid.UUID(int=10 + i),
                username=name,
                team_id=east if name in ("manager1", "rep1", "rep2") else west,
            )
            for i, (name, *_rest) in enumerate(demo_org.PEOPLE)
        }
        gen = Gen(
            rng=random.Random(demo_seed.DEMO_SEED),
            now=now,
            policy=DEFAULT_POOL_POLICY,
            org=demo_org.Org(teams=teams, users=users),
        )
        return [
            (
                d.customer.id,
                d.customer.name,
                d.customer.stage,
                d.customer.owner_id,
                d.customer.created_at,
                len(d.transitions),
                len(d.activities),
            )
            for d in plan_customers(gen)
        ]

    assert plan() == plan()


async def test_seed_demo_trades_through_contracts(uow_factory):
    """Contracts, instalments and payments are seeded through the real use cases: the reports
    have something in several aging buckets, one customer is on credit hold, one implemented."""
    from app.db.models import Contract, Receivable
    from app.services import credit as credit_service

    await demo_seed.seed_demo_with(uow_factory(), if_empty=False)
    async with uow_factory() as uow:
        statuses = (
            await uow.session.execute(select(Contract.status, func.count()).group_by(Contract.status))
        ).all()
        assert dict(statuses) == {"signed": 7, "completed": 1}
        overdue = await uow.session.scalar(
            select(func.count())
            .select_from(Receivable)
            .where(Receivable.due_at < utcnow(), Receivable.amount > Receivable.paid_amount)
        )
        assert overdue >= 3
        finance = await uow.users.get_by_username("finance")
    actor = Principal(user_id=finance.id, role=Role.finance, team_id=None)
    aging = await credit_service.ar_aging(uow_factory(), actor, group_by="customer", as_of=None)
    assert sum(1 for amount in aging.totals.values() if amount > 0) >= 3

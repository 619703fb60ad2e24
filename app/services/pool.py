"""Use cases for the pool (公海) and ownership (SPEC §5): claim, release, assign, recycle,
allocate (fat-man principle), staff handover, and the rep's worklist."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from app.db.base import utcnow
from app.db.models import Customer, User
from app.db.repositories.customers import CustomerFilters
from app.db.repositories.pagination import Page
from app.db.uow import UnitOfWork
from app.domain import allocation
from app.domain.credit import overdue_before
from app.domain.errors import (
    Conflict,
    Forbidden,
    HandoverSameUser,
    InvalidInput,
    NotClaimable,
    NotOwned,
    NotReleasable,
)
from app.domain.funnel import ACTIVE_STAGES, Stage, is_stalled
from app.domain.ownership import (
    AlreadyClaimed,
    PoolPolicy,
    WorkItemFacts,
    check_claimable,
    check_quota,
    is_protection_lapsed,
    lapses_within,
    protection_deadline,
    reasons,
    worklist_sort_key,
)
from app.domain.roles import Principal, Role, masks_contact_details
from app.services import contracts as contracts_service
from app.services import settings as settings_service
from app.services.common import business_tz, found
from app.services.customers import CustomerView, check_owner_in, contact_view

ALLOCATORS = frozenset({Role.support, Role.manager, Role.director})
CLAIMERS = frozenset({Role.rep, Role.manager})
HANDOVER_ROLES = frozenset({Role.admin, Role.director, Role.manager})
RECYCLE_BATCH = 500


# --- pool listing ------------------------------------------------------------------------------


async def list_pool(uow: UnitOfWork, actor: Principal, *, grade: str | None, region: str | None,
                    industry: str | None, tag: str | None, cursor: str | None,
                    limit: int) -> Page[CustomerView]:
    """Claimable customers, best first by recency; reps see contact details masked."""
    filters = CustomerFilters(grade=grade, region=region, industry=industry, tag=tag,
                              claimable_at=utcnow())
    async with uow:
        page = await uow.customers.list(actor, filters, sort="-updated_at", cursor=cursor, limit=limit)
        contacts = await uow.contacts.for_customers([c.id for c in page.items])
        by_customer: dict[uuid.UUID, list] = {}
        for contact in contacts:
            by_customer.setdefault(contact.customer_id, []).append(contact)
        masked = masks_contact_details(actor, owner_id=None)
        return Page(items=[CustomerView(c, [contact_view(x, masked=masked)
                                            for x in by_customer.get(c.id, [])]) for c in page.items],
                    next_cursor=page.next_cursor)


# --- claim, release, assign ---------------------------------------------------------------------


async def _take(uow: UnitOfWork, actor: Principal, customer: Customer, owner: User, *,
                policy: PoolPolicy, now: dt.datetime, event: str, override: bool = False) -> Customer:
    """Give ``customer`` to ``owner`` within the holding limit; the owner's row is locked."""
    if Stage(customer.stage) is Stage.abandoned:
        raise NotClaimable("An abandoned customer must be reactivated before anyone takes it")
    check_claimable(owner_id=customer.owner_id, cooldown_until=customer.cooldown_until, now=now,
                    director_override=override)
    if Stage(customer.stage) in ACTIVE_STAGES:
        check_quota(await uow.customers.count_active_owned(owner.id), policy=policy)
    if not await uow.pool.take_from_pool(customer.id, owner_id=owner.id, team_id=owner.team_id,
                                           now=now, ignore_cooldown=override):
        raise AlreadyClaimed("Someone else took this customer a moment ago")
    uow.pool.record_ownership(customer_id=customer.id, event=event, from_owner_id=None,
                                to_owner_id=owner.id, actor_id=actor.user_id, reason=None, at=now)
    uow.history.record(customer_id=customer.id, actor_id=actor.user_id, action=event, at=now,
                       changes={"owner_id": [None, str(owner.id)],
                                "team_id": [None, None if owner.team_id is None else str(owner.team_id)]})
    return await uow.customers.reload(customer.id)


async def claim(uow: UnitOfWork, actor: Principal, *, customer_id: uuid.UUID) -> Customer:
    """A rep takes a pool customer; under concurrency exactly one claimant wins."""
    now = utcnow()
    async with uow:
        # The claimant's row guards their holding limit: concurrent claims queue here.
        me = found(await uow.users.get_unscoped(actor.user_id, for_update=True), "User")
        # Not limited to the caller's scope: a claim that lost a race must answer 409
        # `pool.already_claimed`, not 404, although the winner now owns the customer.
        customer = found(await uow.customers.get_unscoped(customer_id), "Customer")
        policy = await settings_service.pool_policy_in(uow)
        customer = await _take(uow, actor, customer, me, policy=policy, now=now, event="claim")
        await uow.commit()
        return customer


async def release(uow: UnitOfWork, actor: Principal, *, customer_id: uuid.UUID,
                  reason: str | None = None) -> Customer:
    """Return a customer to the pool (a rep their own; managers/support/directors any visible)."""
    now = utcnow()
    async with uow:
        customer = found(await uow.customers.get(customer_id, principal=actor, for_update=True),
                         "Customer")
        if customer.owner_id is None:
            raise NotOwned("The customer is already in the pool")
        if actor.role is Role.rep and customer.owner_id != actor.user_id:
            raise Forbidden("Reps release only their own customers")
        if actor.role not in (*CLAIMERS, *ALLOCATORS):
            raise Forbidden("Your role does not release customers")
        if Stage(customer.stage) not in ACTIVE_STAGES:
            raise NotReleasable("Signed and implemented customers are not returned to the pool",
                                stage=customer.stage)
        _to_pool(uow, actor, customer, event="release", reason=reason, now=now)
        await uow.commit()
        return customer


def _to_pool(uow: UnitOfWork, actor: Principal | None, customer: Customer, *, event: str,
             reason: str | None, now: dt.datetime) -> None:
    previous = customer.owner_id
    customer.owner_id = None
    customer.team_id = None
    customer.claimed_at = None
    actor_id = actor.user_id if actor else None
    uow.pool.record_ownership(customer_id=customer.id, event=event, from_owner_id=previous,
                                to_owner_id=None, actor_id=actor_id, reason=reason, at=now)
    uow.history.record(customer_id=customer.id, actor_id=actor_id, action=event, at=now,
                       changes={"owner_id": [None if previous is None else str(previous), None],
                                **({"reason": [None, reason]} if reason else {})})


async def assign(uow: UnitOfWork, actor: Principal, *, customer_id: uuid.UUID, owner_id: uuid.UUID,
                 director_override: bool = False) -> Customer:
    """Give a customer to a rep (from the pool, or reassign it within the actor's teams)."""
    if director_override and actor.role is not Role.director:
        raise Forbidden("Only a director may override a cooldown")
    now = utcnow()
    async with uow:
        customer = found(await uow.customers.get(customer_id, principal=actor, for_update=True),
                         "Customer")
        owner = await check_owner_in(uow, actor, owner_id)
        policy = await settings_service.pool_policy_in(uow)
        if customer.owner_id == owner.id:
            return customer
        if customer.owner_id is not None:
            if actor.role is Role.manager and customer.team_id not in actor.team_ids:
                raise Forbidden("Managers reassign customers within their own teams only")
            _to_pool(uow, actor, customer, event="reassign", reason=f"to {owner.id}", now=now)
            await uow.flush()
        customer = await _take(uow, actor, customer, owner, policy=policy, now=now, event="assign",
                               override=director_override)
        await uow.commit()
        return customer


# --- protection period: recycling lapsed customers -----------------------------------------------


@dataclass(frozen=True, slots=True)
class RecycledItem:
    customer_id: uuid.UUID
    name: str
    owner_id: uuid.UUID | None
    last_contact_at: dt.datetime | None
    claimed_at: dt.datetime | None
    protection_deadline: dt.datetime | None


@dataclass(frozen=True, slots=True)
class CooldownItem:
    customer_id: uuid.UUID
    name: str
    cooldown_until: dt.datetime


@dataclass(slots=True)
class RecycleResult:
    dry_run: bool
    as_of: dt.datetime
    released: list[RecycledItem] = field(default_factory=list)
    cooldowns_ended: list[CooldownItem] = field(default_factory=list)


async def recycle(uow: UnitOfWork, actor: Principal | None, *, dry_run: bool = False,
                  as_of: dt.datetime | None = None) -> RecycleResult:
    """Return lapsed customers to the pool (reason ``protection_expired``) and end finished
    cooldowns. Safe with several processes: rows are taken with SKIP LOCKED and re-checked."""
    now = utcnow()
    if as_of is not None and not dry_run:
        raise InvalidInput("as_of is only allowed with dry_run", errors=[{
            "loc": ["body", "as_of"], "msg": "as_of needs dry_run: true", "type": "value_error"}])
    at = as_of or now
    result = RecycleResult(dry_run=dry_run, as_of=at)
    while True:
        async with uow:
            policy = await settings_service.pool_policy_in(uow)
            cutoff = at - dt.timedelta(days=policy.protection_days)
            batch = await uow.pool.lapsed(cutoff=cutoff, limit=RECYCLE_BATCH)
            lapsed = [c for c in batch if is_protection_lapsed(
                last_contact_at=c.last_contact_at, claimed_at=c.claimed_at, now=at, policy=policy)]
            ended = await uow.pool.cooldowns_ended(now=at, limit=RECYCLE_BATCH)
            for customer in lapsed:
                result.released.append(RecycledItem(
                    customer_id=customer.id, name=customer.name, owner_id=customer.owner_id,
                    last_contact_at=customer.last_contact_at, claimed_at=customer.claimed_at,
                    protection_deadline=protection_deadline(
                        last_contact_at=customer.last_contact_at, claimed_at=customer.claimed_at,
                        policy=policy)))
                if not dry_run:
                    _to_pool(uow, actor, customer, event="recycle", reason="protection_expired", now=now)
            for customer in ended:
                assert customer.cooldown_until is not None
                result.cooldowns_ended.append(CooldownItem(customer_id=customer.id, name=customer.name,
                                                           cooldown_until=customer.cooldown_until))
                if not dry_run:
                    customer.cooldown_until = None
            if dry_run or (len(batch) < RECYCLE_BATCH and len(ended) < RECYCLE_BATCH):
                if not dry_run:
                    await uow.commit()
                return result
            await uow.commit()


# --- allocation (manual, round robin, fat-man) -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedAssignment:
    customer_id: uuid.UUID
    owner_id: uuid.UUID
    team_id: uuid.UUID | None
    reason: str
    applied: bool


@dataclass(frozen=True, slots=True)
class Skipped:
    customer_id: uuid.UUID
    reason: str


@dataclass(frozen=True, slots=True)
class AllocationResult:
    strategy: str
    dry_run: bool
    assignments: list[PlannedAssignment]
    unassigned: list[Skipped]


async def _assignees(uow: UnitOfWork, actor: Principal, *, user_ids: Sequence[uuid.UUID] | None,
                     exclude: uuid.UUID | None, policy: PoolPolicy,
                     now: dt.datetime) -> list[allocation.Assignee]:
    team_ids = sorted(actor.team_ids) if actor.role is Role.manager else None
    users = await uow.pool.assignable_users(team_ids=team_ids, user_ids=user_ids, exclude=exclude)
    ids = [u.id for u in users]
    counts = await uow.pool.active_counts(ids)
    amounts = await uow.contracts.signed_amounts(ids, since=now - dt.timedelta(days=policy.ranking_days))
    return [allocation.Assignee(user_id=u.id, team_id=u.team_id, signed_amount=amounts.get(u.id, 0),
                                free_capacity=policy.max_active_customers - counts.get(u.id, 0))
            for u in users]


async def allocate(uow: UnitOfWork, actor: Principal, *,
                   strategy: Literal["fat_man", "round_robin", "manual"],
                   customer_ids: Sequence[uuid.UUID] | None = None,
                   assignments: Sequence[tuple[uuid.UUID, uuid.UUID]] = (),
                   user_ids: Sequence[uuid.UUID] | None = None, by_team: bool = False,
                   dry_run: bool = False, limit: int = 500) -> AllocationResult:
    """Plan (and unless ``dry_run``, carry out) an allocation of pool customers."""
    now = utcnow()
    async with uow:
        policy = await settings_service.pool_policy_in(uow)
        if strategy == "manual":
            plan = await _manual_plan(uow, actor, assignments, policy=policy, now=now)
        else:
            if user_ids is not None:
                # Lock the assignees (in id order) so the capacities planned stay true.
                for user_id in sorted(user_ids):
                    await uow.users.get_unscoped(user_id, for_update=True)
            candidates = await uow.pool.pool_candidates(now=now, customer_ids=customer_ids, limit=limit)
            people = await _assignees(uow, actor, user_ids=user_ids, exclude=None, policy=policy, now=now)
            inputs = [allocation.Candidate(customer_id=c.id, grade=c.grade, discovered_by=c.discovered_by)
                      for c in candidates]
            plan = (allocation.plan_fat_man(inputs, people, by_team=by_team) if strategy == "fat_man"
                    else allocation.plan_round_robin(inputs, people))
            if customer_ids is not None:
                missing = set(customer_ids) - {c.id for c in candidates}
                plan = allocation.Plan(assignments=plan.assignments, unassigned=(
                    *plan.unassigned, *(allocation.Unassigned(customer_id=m, reason="not claimable")
                                        for m in sorted(missing))))
        done: list[PlannedAssignment] = []
        skipped = [Skipped(customer_id=u.customer_id, reason=u.reason) for u in plan.unassigned]
        for item in plan.assignments:
            applied = False
            if not dry_run:
                customer = await uow.customers.get(item.customer_id, principal=actor)
                owner = await check_owner_in(uow, actor, item.user_id)
                if customer is None:
                    skipped.append(Skipped(customer_id=item.customer_id, reason="not found"))
                    continue
                try:
                    await _take(uow, actor, customer, owner, policy=policy, now=now, event="allocate")
                    applied = True
                except Conflict as exc:  # taken or filled up since the plan was made
                    skipped.append(Skipped(customer_id=item.customer_id, reason=exc.detail))
                    continue
            done.append(PlannedAssignment(customer_id=item.customer_id, owner_id=item.user_id,
                                          team_id=item.team_id, reason=item.reason, applied=applied))
        if not dry_run:
            await uow.commit()
        return AllocationResult(strategy=strategy, dry_run=dry_run, assignments=done, unassigned=skipped)


async def _manual_plan(uow: UnitOfWork, actor: Principal,
                       assignments: Sequence[tuple[uuid.UUID, uuid.UUID]], *, policy: PoolPolicy,
                       now: dt.datetime) -> allocation.Plan:
    if not assignments:
        raise InvalidInput("Manual allocation needs assignments", errors=[{
            "loc": ["body", "assignments"], "msg": "give at least one {customer_id, owner_id}",
            "type": "missing"}])
    planned, unassigned = [], []
    load: dict[uuid.UUID, int] = {}
    for customer_id, owner_id in assignments:
        owner = await check_owner_in(uow, actor, owner_id)
        customer = await uow.customers.get(customer_id, principal=actor)
        if customer is None or customer.owner_id is not None or customer.stage == Stage.abandoned.value \
                or (customer.cooldown_until is not None and customer.cooldown_until > now):
            unassigned.append(allocation.Unassigned(customer_id=customer_id, reason="not claimable"))
            continue
        if owner.id not in load:
            load[owner.id] = await uow.customers.count_active_owned(owner.id)
        if load[owner.id] >= policy.max_active_customers:
            unassigned.append(allocation.Unassigned(customer_id=customer_id, reason="no capacity"))
            continue
        load[owner.id] += 1
        planned.append(allocation.Assignment(customer_id=customer_id, user_id=owner.id,
                                             team_id=owner.team_id, reason="manual"))
    return allocation.Plan(assignments=tuple(planned), unassigned=tuple(unassigned))


# --- staff departure ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HandoverItemResult:
    customer_id: uuid.UUID
    name: str
    stage: str
    to_owner_id: uuid.UUID | None
    reason: str


@dataclass(frozen=True, slots=True)
class HandoverResult:
    user_id: uuid.UUID
    strategy: str
    dry_run: bool
    items: list[HandoverItemResult]


async def handover(uow: UnitOfWork, actor: Principal, *, user_id: uuid.UUID,
                   strategy: Literal["fat_man", "pool", "to_user"], to_user_id: uuid.UUID | None = None,
                   dry_run: bool = False) -> HandoverResult:
    """Hand a departing user's customers over: opportunities and customers with contracts to
    the best sellers with room (fat-man), the rest to the pool; or all to the pool or one user."""
    now = utcnow()
    async with uow:
        departing = found(await uow.users.get(user_id, principal=actor, for_update=True), "User")
        policy = await settings_service.pool_policy_in(uow)
        customers = await uow.pool.owned_by(departing.id)
        by_id = {c.id: c for c in customers}
        if strategy == "to_user":
            if to_user_id is None:
                raise InvalidInput("to_user needs to_user_id", errors=[{
                    "loc": ["body", "to_user_id"], "msg": "required for strategy to_user",
                    "type": "missing"}])
            if to_user_id == departing.id:
                raise HandoverSameUser("Hand over to someone else")
            target = await check_owner_in(uow, actor, to_user_id)
            active = sum(1 for c in customers if Stage(c.stage) in ACTIVE_STAGES)
            check_quota(await uow.customers.count_active_owned(target.id), policy=policy, adding=active)
            plan = allocation.Plan(assignments=tuple(
                allocation.Assignment(customer_id=c.id, user_id=target.id, team_id=target.team_id,
                                      reason="handed to the named user") for c in customers))
        elif strategy == "pool":
            plan = allocation.Plan(unassigned=tuple(
                allocation.Unassigned(customer_id=c.id, reason="back to pool") for c in customers))
        else:
            people = await _assignees(uow, actor, user_ids=None, exclude=departing.id, policy=policy, now=now)
            renewing = await contracts_service.renewal_due_ids_in(uow, [c.id for c in customers], now=now)
            items = [allocation.HandoverItem(customer_id=c.id, stage=Stage(c.stage), grade=c.grade,
                                             renewal_due=c.id in renewing)
                     for c in customers]
            plan = allocation.plan_handover(items, people)
        results: list[HandoverItemResult] = []
        for item in plan.assignments:
            customer = by_id[item.customer_id]
            results.append(HandoverItemResult(customer_id=customer.id, name=customer.name,
                                              stage=customer.stage, to_owner_id=item.user_id,
                                              reason=item.reason))
            if not dry_run:
                customer.owner_id = item.user_id
                customer.team_id = item.team_id
                customer.claimed_at = now
                uow.pool.record_ownership(customer_id=customer.id, event="handover",
                                            from_owner_id=departing.id, to_owner_id=item.user_id,
                                            actor_id=actor.user_id, reason=item.reason, at=now)
                uow.history.record(customer_id=customer.id, actor_id=actor.user_id, action="handover",
                                   at=now, changes={"owner_id": [str(departing.id), str(item.user_id)]})
        for left in plan.unassigned:
            customer = by_id[left.customer_id]
            results.append(HandoverItemResult(customer_id=customer.id, name=customer.name,
                                              stage=customer.stage, to_owner_id=None, reason=left.reason))
            if not dry_run:
                _to_pool(uow, actor, customer, event="handover", reason=left.reason, now=now)
        if not dry_run:
            await uow.commit()
        return HandoverResult(user_id=departing.id, strategy=strategy, dry_run=dry_run, items=results)


# --- the rep's worklist (上行原则) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkItem:
    customer: Customer
    reasons: list[str]
    protection_deadline: dt.datetime | None
    follow_up_at: dt.datetime | None


async def worklist(uow: UnitOfWork, actor: Principal) -> list[WorkItem]:
    """The caller's customers, bottom of the funnel first, then by urgency, with reasons."""
    now = utcnow()
    async with uow:
        pool_policy = await settings_service.pool_policy_in(uow)
        funnel_policy = await settings_service.funnel_policy_in(uow)
        rows = await uow.pool.worklist_rows(
            actor.user_id, overdue_before=overdue_before(now, business_tz()))
    keyed = []
    for customer, follow_up, previous_days, overdue in rows:
        stage = Stage(customer.stage)
        active = stage in ACTIVE_STAGES
        facts = WorkItemFacts(
            customer_id=customer.id, stage=stage,
            protection_lapsing=active and lapses_within(
                last_contact_at=customer.last_contact_at, claimed_at=customer.claimed_at, now=now,
                policy=pool_policy),
            follow_up_due=follow_up is not None and follow_up <= now
            and (customer.last_contact_at is None or customer.last_contact_at < follow_up),
            stalled=is_stalled(stage, stage_entered_at=customer.stage_entered_at, now=now,
                               policy=funnel_policy),
            payment_overdue=bool(overdue),
            days_in_previous_stage=previous_days,
        )
        deadline = protection_deadline(last_contact_at=customer.last_contact_at,
                                       claimed_at=customer.claimed_at, policy=pool_policy) if active else None
        keyed.append((worklist_sort_key(facts), WorkItem(customer=customer, reasons=reasons(facts),
                                                         protection_deadline=deadline,
                                                         follow_up_at=follow_up)))
    keyed.sort(key=lambda pair: pair[0])
    return [item for _, item in keyed]

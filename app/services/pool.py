"""Use cases for the pool (公海) and ownership (SPEC §5): claim, release, assign, recycle,
allocate (fat-man principle), staff handover, and the rep's worklist."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from app.db.base import utcnow
from app.db.models import Customer, User
from app.db.repositories.customers import CustomerFilters
from app.db.repositories.pagination import Page, decode_cursor, encode_cursor
from app.db.uow import UnitOfWork
from app.domain import allocation
from app.domain.credit import overdue_before
from app.domain.errors import (
    Conflict,
    Forbidden,
    HandoverNoRecipient,
    HandoverSameUser,
    InvalidCursor,
    InvalidInput,
    NotClaimable,
    NotFound,
    NotOwned,
    NotReleasable,
)
from app.domain.funnel import ACTIVE_STAGES, Stage, is_stalled
from app.domain.ownership import (
    RECLAIM_BLOCKING_EVENTS,
    AlreadyClaimed,
    PoolPolicy,
    WorkItemFacts,
    check_claimable,
    check_discovery_quota,
    check_not_reclaim_blocked,
    check_quota,
    is_protection_lapsed,
    protection_deadline,
    reasons,
    reclaim_blocked_until,
    work_reasons,
    worklist_sort_key,
)
from app.domain.roles import Principal, Role, masks_contact_details
from app.services import complaints as complaints_service
from app.services import contracts as contracts_service
from app.services import settings as settings_service
from app.services.common import business_tz, found
from app.services.customers import CustomerView, check_owner_in, contact_view

ALLOCATORS = frozenset({Role.support, Role.manager, Role.director})
CLAIMERS = frozenset({Role.rep, Role.manager})
HANDOVER_ROLES = frozenset({Role.admin, Role.director, Role.manager})
RECYCLE_BATCH = 500
# A claim that arrives this soon after someone else took the customer from the pool lost a
# race for it (409 `pool.already_claimed`); later, the customer is simply out of scope (404).
CLAIM_RACE_WINDOW = dt.timedelta(seconds=30)


# --- pool listing ------------------------------------------------------------------------------


async def list_pool(
    uow: UnitOfWork,
    actor: Principal,
    *,
    grade: str | None,
    region: str | None,
    industry: str | None,
    tag: str | None,
    cursor: str | None,
    limit: int,
) -> Page[CustomerView]:
    """Claimable customers, best first by recency; reps see contact details masked."""
    filters = CustomerFilters(grade=grade, region=region, industry=industry, tag=tag, claimable_at=utcnow())
    async with uow:
        page = await uow.customers.list(actor, filters, sort="-updated_at", cursor=cursor, limit=limit)
        contacts = await uow.contacts.for_customers([c.id for c in page.items])
        by_customer: dict[uuid.UUID, list] = {}
        for contact in contacts:
            by_customer.setdefault(contact.customer_id, []).append(contact)
        masked = masks_contact_details(actor, owner_id=None)
        return Page(
            items=[
                CustomerView(c, [contact_view(x, masked=masked) for x in by_customer.get(c.id, [])])
                for c in page.items
            ],
            next_cursor=page.next_cursor,
        )


# --- claim, release, assign ---------------------------------------------------------------------


async def _lost_at(
    uow: UnitOfWork,
    customer_ids: Sequence[uuid.UUID],
    *,
    policy: PoolPolicy,
    now: dt.datetime,
    user_ids: Sequence[uuid.UUID] | None = None,
) -> dict[tuple[uuid.UUID, uuid.UUID], dt.datetime]:
    """(customer, rep) pairs still under the reclaim block, with when the rep lost it."""
    return await uow.pool.losses(
        customer_ids,
        events=RECLAIM_BLOCKING_EVENTS,
        user_ids=user_ids,
        since=now - dt.timedelta(days=policy.reclaim_block_days),
    )


async def _take(
    uow: UnitOfWork,
    actor: Principal,
    customer: Customer,
    owner: User,
    *,
    policy: PoolPolicy,
    now: dt.datetime,
    event: str,
    override: bool = False,
    manual: bool = False,
    reason: str | None = None,
) -> Customer:
    """Give ``customer`` to ``owner`` within the holding limit; the owner's row is locked.

    ``manual``: a manager's or director's own choice of owner, which may override the
    reclaim block (recorded in the ownership event)."""
    if Stage(customer.stage) is Stage.abandoned:
        raise NotClaimable("An abandoned customer must be reactivated before anyone takes it")
    check_claimable(
        owner_id=customer.owner_id,
        cooldown_until=customer.cooldown_until,
        now=now,
        director_override=override,
    )
    lost = (await _lost_at(uow, [customer.id], policy=policy, now=now, user_ids=[owner.id])).get(
        (customer.id, owner.id)
    )
    may_override = manual and actor.role in (Role.manager, Role.director)
    if check_not_reclaim_blocked(lost, now=now, policy=policy, manual_override=may_override):
        until = reclaim_blocked_until(lost, policy=policy)
        assert until is not None
        note = f"reclaim block until {until.isoformat()} overridden by {actor.role.value}"
        reason = f"{reason}; {note}" if reason else note
    if Stage(customer.stage) in ACTIVE_STAGES:
        active = await uow.customers.count_active_owned(owner.id)
        if customer.discovered_by == owner.id:  # the discoverer's bonus applies to their finds
            check_discovery_quota(
                active, policy=policy, discovered_active=await uow.customers.count_active_discovered(owner.id)
            )
        else:
            check_quota(active, policy=policy)
    if not await uow.pool.take_from_pool(
        customer.id, owner_id=owner.id, team_id=owner.team_id, now=now, ignore_cooldown=override
    ):
        raise AlreadyClaimed("Someone else took this customer a moment ago")
    uow.pool.record_ownership(
        customer_id=customer.id,
        event=event,
        from_owner_id=None,
        to_owner_id=owner.id,
        actor_id=actor.user_id,
        reason=reason,
        at=now,
    )
    uow.history.record(
        customer_id=customer.id,
        actor_id=actor.user_id,
        action=event,
        at=now,
        changes={
            "owner_id": [None, str(owner.id)],
            "team_id": [None, None if owner.team_id is None else str(owner.team_id)],
        },
    )
    return await uow.customers.reload(customer.id)


async def claim(uow: UnitOfWork, actor: Principal, *, customer_id: uuid.UUID) -> Customer:
    """A rep takes a pool customer; under concurrency exactly one claimant wins."""
    now = utcnow()
    async with uow:
        # The claimant's row guards their holding limit: concurrent claims queue here.
        me = found(await uow.users.get_unscoped(actor.user_id, for_update=True), "User")
        customer = await uow.customers.get(customer_id, principal=actor)
        if customer is None:
            # Out of the caller's scope: 404 like every other action on it, unless it was in
            # the pool (visible to all) moments ago and the caller lost the race for it.
            customer = await uow.customers.get_unscoped(customer_id)
            if customer is None or not await uow.pool.taken_from_pool_since(
                customer_id, since=now - CLAIM_RACE_WINDOW
            ):
                raise NotFound("Customer not found")
        policy = await settings_service.pool_policy_in(uow)
        customer = await _take(uow, actor, customer, me, policy=policy, now=now, event="claim")
        await uow.commit()
        return customer


async def release(
    uow: UnitOfWork, actor: Principal, *, customer_id: uuid.UUID, reason: str | None = None
) -> Customer:
    """Return a customer to the pool (a rep their own; managers/support/directors any visible)."""
    now = utcnow()
    async with uow:
        customer = found(await uow.customers.get(customer_id, principal=actor, for_update=True), "Customer")
        if customer.owner_id is None:
            raise NotOwned("The customer is already in the pool")
        if actor.role is Role.rep and customer.owner_id != actor.user_id:
            raise Forbidden("Reps release only their own customers")
        if actor.role not in (*CLAIMERS, *ALLOCATORS):
            raise Forbidden("Your role does not release customers")
        if Stage(customer.stage) not in ACTIVE_STAGES:
            raise NotReleasable(
                "Signed and implemented customers are not returned to the pool", stage=customer.stage
            )
        _to_pool(uow, actor, customer, event="release", reason=reason, now=now)
        await uow.commit()
        return customer


def _to_pool(
    uow: UnitOfWork,
    actor: Principal | None,
    customer: Customer,
    *,
    event: str,
    reason: str | None,
    now: dt.datetime,
) -> None:
    previous = customer.owner_id
    customer.owner_id = None
    customer.team_id = None
    customer.claimed_at = None
    actor_id = actor.user_id if actor else None
    uow.pool.record_ownership(
        customer_id=customer.id,
        event=event,
        from_owner_id=previous,
        to_owner_id=None,
        actor_id=actor_id,
        reason=reason,
        at=now,
    )
    uow.history.record(
        customer_id=customer.id,
        actor_id=actor_id,
        action=event,
        at=now,
        changes={
            "owner_id": [None if previous is None else str(previous), None],
            **({"reason": [None, reason]} if reason else {}),
        },
    )


async def assign(
    uow: UnitOfWork,
    actor: Principal,
    *,
    customer_id: uuid.UUID,
    owner_id: uuid.UUID,
    director_override: bool = False,
) -> Customer:
    """Give a customer to a rep (from the pool, or reassign it within the actor's teams)."""
    if director_override and actor.role is not Role.director:
        raise Forbidden("Only a director may override a cooldown")
    now = utcnow()
    async with uow:
        customer = found(await uow.customers.get(customer_id, principal=actor, for_update=True), "Customer")
        owner = await check_owner_in(uow, actor, owner_id)
        policy = await settings_service.pool_policy_in(uow)
        if customer.owner_id == owner.id:
            return customer
        if customer.owner_id is not None:
            if actor.role is Role.manager and customer.team_id not in actor.team_ids:
                raise Forbidden("Managers reassign customers within their own teams only")
            _to_pool(uow, actor, customer, event="reassign", reason=f"to {owner.id}", now=now)
            await uow.flush()
        customer = await _take(
            uow,
            actor,
            customer,
            owner,
            policy=policy,
            now=now,
            event="assign",
            override=director_override,
            manual=True,
        )
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


async def recycle(
    uow: UnitOfWork, actor: Principal | None, *, dry_run: bool = False, as_of: dt.datetime | None = None
) -> RecycleResult:
    """Return lapsed customers to the pool (reason ``protection_expired``) and end finished
    cooldowns. Safe with several processes: rows are taken with SKIP LOCKED and re-checked."""
    now = utcnow()
    if as_of is not None and not dry_run:
        raise InvalidInput(
            "as_of is only allowed with dry_run",
            errors=[{"loc": ["body", "as_of"], "msg": "as_of needs dry_run: true", "type": "value_error"}],
        )
    at = as_of or now
    result = RecycleResult(dry_run=dry_run, as_of=at)
    while True:
        async with uow:
            policy = await settings_service.pool_policy_in(uow)
            cutoff = at - dt.timedelta(days=policy.protection_days)
            batch = await uow.pool.lapsed(cutoff=cutoff, limit=RECYCLE_BATCH)
            lapsed = [
                c
                for c in batch
                if is_protection_lapsed(
                    last_contact_at=c.last_contact_at, claimed_at=c.claimed_at, now=at, policy=policy
                )
            ]
            ended = await uow.pool.cooldowns_ended(now=at, limit=RECYCLE_BATCH)
            for customer in lapsed:
                result.released.append(
                    RecycledItem(
                        customer_id=customer.id,
                        name=customer.name,
                        owner_id=customer.owner_id,
                        last_contact_at=customer.last_contact_at,
                        claimed_at=customer.claimed_at,
                        protection_deadline=protection_deadline(
                            last_contact_at=customer.last_contact_at,
                            claimed_at=customer.claimed_at,
                            policy=policy,
                        ),
                    )
                )
                if not dry_run:
                    _to_pool(uow, actor, customer, event="recycle", reason="protection_expired", now=now)
            for customer in ended:
                assert customer.cooldown_until is not None
                result.cooldowns_ended.append(
                    CooldownItem(
                        customer_id=customer.id, name=customer.name, cooldown_until=customer.cooldown_until
                    )
                )
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
    explanation: allocation.Explanation | None = None


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


async def _assignees(
    uow: UnitOfWork,
    actor: Principal,
    *,
    user_ids: Sequence[uuid.UUID] | None,
    exclude: uuid.UUID | None,
    policy: PoolPolicy,
    now: dt.datetime,
    selling_managers: bool = False,
) -> list[allocation.Assignee]:
    """The reps in the actor's scope with their capacity, holding per stage and trailing
    signed amount; ``selling_managers`` adds managers who signed in the ranking window."""
    team_ids = sorted(actor.team_ids) if actor.role is Role.manager else None
    roles = ("rep", "manager") if selling_managers else ("rep",)
    users = await uow.pool.assignable_users(
        team_ids=team_ids, user_ids=user_ids, exclude=exclude, roles=roles
    )
    ids = [u.id for u in users]
    held = await uow.pool.active_counts_by_stage(ids)
    amounts = await uow.contracts.signed_amounts(ids, since=now - dt.timedelta(days=policy.ranking_days))
    return [
        allocation.Assignee(
            user_id=u.id,
            team_id=u.team_id,
            signed_amount=amounts.get(u.id, 0),
            free_capacity=policy.max_active_customers - sum(held.get(u.id, {}).values()),
            held={Stage(stage): n for stage, n in held.get(u.id, {}).items()},
        )
        for u in users
        if u.role == "rep" or amounts.get(u.id, 0) > 0
    ]


async def allocate(
    uow: UnitOfWork,
    actor: Principal,
    *,
    strategy: Literal["fat_man", "round_robin", "manual"],
    customer_ids: Sequence[uuid.UUID] | None = None,
    assignments: Sequence[tuple[uuid.UUID, uuid.UUID]] = (),
    user_ids: Sequence[uuid.UUID] | None = None,
    by_team: bool = False,
    dry_run: bool = False,
    limit: int = 500,
) -> AllocationResult:
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
            people = await _assignees(
                uow,
                actor,
                user_ids=user_ids,
                exclude=None,
                policy=policy,
                now=now,
                selling_managers=strategy == "fat_man",
            )
            caps = allocation.ideal_holding_caps(await settings_service.funnel_policy_in(uow))
            lost = await _lost_at(
                uow, [c.id for c in candidates], policy=policy, now=now, user_ids=[p.user_id for p in people]
            )
            blocked: dict[uuid.UUID, set[str]] = {}
            for customer_id, user_id in lost:
                blocked.setdefault(customer_id, set()).add(str(user_id))
            inputs = [
                allocation.Candidate(
                    customer_id=c.id,
                    grade=c.grade,
                    discovered_by=c.discovered_by,
                    stage=Stage(c.stage),
                    blocked=frozenset(blocked.get(c.id, ())),
                )
                for c in candidates
            ]
            plan = (
                allocation.plan_fat_man(inputs, people, by_team=by_team, caps=caps)
                if strategy == "fat_man"
                else allocation.plan_round_robin(inputs, people, caps=caps)
            )
            if customer_ids is not None:
                missing = set(customer_ids) - {c.id for c in candidates}
                plan = allocation.Plan(
                    assignments=plan.assignments,
                    unassigned=(
                        *plan.unassigned,
                        *(
                            allocation.Unassigned(customer_id=m, reason="not claimable")
                            for m in sorted(missing)
                        ),
                    ),
                )
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
                    explained = (
                        item.reason
                        if item.explanation is None
                        else (f"{item.reason}; {item.explanation.sentence()}")
                    )
                    await _take(
                        uow,
                        actor,
                        customer,
                        owner,
                        policy=policy,
                        now=now,
                        event="allocate",
                        manual=strategy == "manual",
                        reason=explained,
                    )
                    applied = True
                except Conflict as exc:  # taken or filled up since the plan was made
                    skipped.append(Skipped(customer_id=item.customer_id, reason=exc.detail))
                    continue
            done.append(
                PlannedAssignment(
                    customer_id=item.customer_id,
                    owner_id=item.user_id,
                    team_id=item.team_id,
                    reason=item.reason,
                    applied=applied,
                    explanation=item.explanation,
                )
            )
        if not dry_run:
            await uow.commit()
        return AllocationResult(strategy=strategy, dry_run=dry_run, assignments=done, unassigned=skipped)


async def _manual_plan(
    uow: UnitOfWork,
    actor: Principal,
    assignments: Sequence[tuple[uuid.UUID, uuid.UUID]],
    *,
    policy: PoolPolicy,
    now: dt.datetime,
) -> allocation.Plan:
    if not assignments:
        raise InvalidInput(
            "Manual allocation needs assignments",
            errors=[
                {
                    "loc": ["body", "assignments"],
                    "msg": "give at least one {customer_id, owner_id}",
                    "type": "missing",
                }
            ],
        )
    planned, unassigned = [], []
    load: dict[uuid.UUID, int] = {}
    for customer_id, owner_id in assignments:
        owner = await check_owner_in(uow, actor, owner_id)
        customer = await uow.customers.get(customer_id, principal=actor)
        if (
            customer is None
            or customer.owner_id is not None
            or customer.stage == Stage.abandoned.value
            or (customer.cooldown_until is not None and customer.cooldown_until > now)
        ):
            unassigned.append(allocation.Unassigned(customer_id=customer_id, reason="not claimable"))
            continue
        lost = (await _lost_at(uow, [customer.id], policy=policy, now=now, user_ids=[owner.id])).get(
            (customer.id, owner.id)
        )
        if lost is not None and actor.role not in (Role.manager, Role.director):
            unassigned.append(
                allocation.Unassigned(
                    customer_id=customer_id,
                    reason=f"reclaim blocked until {reclaim_blocked_until(lost, policy=policy).isoformat()}",
                )
            )
            continue
        if owner.id not in load:
            load[owner.id] = await uow.customers.count_active_owned(owner.id)
        if load[owner.id] >= policy.max_active_customers:
            unassigned.append(allocation.Unassigned(customer_id=customer_id, reason="no capacity"))
            continue
        load[owner.id] += 1
        planned.append(
            allocation.Assignment(
                customer_id=customer_id, user_id=owner.id, team_id=owner.team_id, reason="manual"
            )
        )
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


async def handover(
    uow: UnitOfWork,
    actor: Principal,
    *,
    user_id: uuid.UUID,
    strategy: Literal["fat_man", "pool", "to_user"],
    to_user_id: uuid.UUID | None = None,
    dry_run: bool = False,
) -> HandoverResult:
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
                raise InvalidInput(
                    "to_user needs to_user_id",
                    errors=[
                        {
                            "loc": ["body", "to_user_id"],
                            "msg": "required for strategy to_user",
                            "type": "missing",
                        }
                    ],
                )
            if to_user_id == departing.id:
                raise HandoverSameUser("Hand over to someone else")
            target = await check_owner_in(uow, actor, to_user_id)
            active = sum(1 for c in customers if Stage(c.stage) in ACTIVE_STAGES)
            check_quota(await uow.customers.count_active_owned(target.id), policy=policy, adding=active)
            plan = allocation.Plan(
                assignments=tuple(
                    allocation.Assignment(
                        customer_id=c.id,
                        user_id=target.id,
                        team_id=target.team_id,
                        reason="handed to the named user",
                    )
                    for c in customers
                )
            )
        else:
            # Signed and implemented customers go to a person under either strategy.
            people = await _assignees(uow, actor, user_ids=None, exclude=departing.id, policy=policy, now=now)
            lost = await _lost_at(
                uow, [c.id for c in customers], policy=policy, now=now, user_ids=[p.user_id for p in people]
            )
            renewing = await contracts_service.renewal_due_ids_in(uow, [c.id for c in customers], now=now)
            items = [
                allocation.HandoverItem(
                    customer_id=c.id,
                    stage=Stage(c.stage),
                    grade=c.grade,
                    renewal_due=c.id in renewing,
                    blocked=frozenset(str(u) for (cid, u) in lost if cid == c.id),
                )
                for c in customers
            ]
            manager = await uow.teams.manager_above(departing.team_id, exclude=departing.id)
            fallback = (
                None if manager is None else allocation.Assignee(user_id=manager.id, team_id=manager.team_id)
            )
            plan = allocation.plan_handover(
                items,
                people,
                fallback=fallback,
                to_people=allocation.HANDOVER_PRIORITY_STAGES if strategy == "fat_man" else frozenset(),
            )
            if any(Stage(by_id[u.customer_id].stage) in allocation.CONTRACT_STAGES for u in plan.unassigned):
                raise HandoverNoRecipient(
                    "Nobody can take this user's signed customers: add a rep or name a user"
                )
        results: list[HandoverItemResult] = []
        for item in plan.assignments:
            customer = by_id[item.customer_id]
            results.append(
                HandoverItemResult(
                    customer_id=customer.id,
                    name=customer.name,
                    stage=customer.stage,
                    to_owner_id=item.user_id,
                    reason=item.reason,
                )
            )
            if not dry_run:
                customer.owner_id = item.user_id
                customer.team_id = item.team_id
                customer.claimed_at = now
                uow.pool.record_ownership(
                    customer_id=customer.id,
                    event="handover",
                    from_owner_id=departing.id,
                    to_owner_id=item.user_id,
                    actor_id=actor.user_id,
                    reason=item.reason,
                    at=now,
                )
                uow.history.record(
                    customer_id=customer.id,
                    actor_id=actor.user_id,
                    action="handover",
                    at=now,
                    changes={"owner_id": [str(departing.id), str(item.user_id)]},
                )
        for left in plan.unassigned:
            customer = by_id[left.customer_id]
            results.append(
                HandoverItemResult(
                    customer_id=customer.id,
                    name=customer.name,
                    stage=customer.stage,
                    to_owner_id=None,
                    reason=left.reason,
                )
            )
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


_WORKLIST_SORT = "worklist"


async def worklist(
    uow: UnitOfWork,
    actor: Principal,
    *,
    scope: Literal["own", "team"] = "own",
    cursor: str | None = None,
    limit: int = 50,
) -> Page[WorkItem]:
    """The customers that need an action today, each with its reasons, bottom of the funnel
    first, then by urgency, then fast movers (上行原则). ``scope="team"``: a manager's teams."""
    if scope == "team" and actor.role is not Role.manager:
        raise Forbidden("Only managers have a team worklist")
    now = utcnow()
    after = None if cursor is None else decode_cursor(cursor, _WORKLIST_SORT, 5)
    async with uow:
        pool_policy = await settings_service.pool_policy_in(uow)
        funnel_policy = await settings_service.funnel_policy_in(uow)
        overdue_cut = overdue_before(now, business_tz())
        if scope == "team":
            rows = await uow.pool.worklist_rows(
                team_ids=sorted(actor.team_ids), now=now, overdue_before=overdue_cut
            )
            complaints = []
        else:
            rows = await uow.pool.worklist_rows(owner_id=actor.user_id, now=now, overdue_before=overdue_cut)
            complaints = await complaints_service.overdue_complaints_in(uow, user_id=actor.user_id, now=now)
        # Customers the caller handles an overdue complaint on without owning them.
        handled_only = [
            c
            for c in [
                await uow.customers.get_unscoped(customer_id)
                for customer_id, owned in complaints
                if not owned
            ]
            if c is not None
        ]
    complaint_overdue = {customer_id for customer_id, _ in complaints}
    handled_ids = {c.id for c in handled_only}
    rows = [*rows, *((c, None, None, 0, False) for c in handled_only)]
    keyed = []
    for customer, follow_up, previous_days, overdue, task_due in rows:
        stage = Stage(customer.stage)
        facts = WorkItemFacts(
            customer_id=customer.id,
            stage=stage,
            days_in_previous_stage=previous_days,
            reasons=work_reasons(
                stage=stage,
                now=now,
                policy=pool_policy,
                last_contact_at=customer.last_contact_at,
                claimed_at=customer.claimed_at,
                follow_up_at=follow_up,
                task_due=bool(task_due),
                stalled=is_stalled(
                    stage, stage_entered_at=customer.stage_entered_at, now=now, policy=funnel_policy
                ),
                payment_overdue=bool(overdue),
                complaint_overdue=customer.id in complaint_overdue,
            )
            if customer.id not in handled_ids
            else frozenset({"complaint_overdue"}),
        )
        if not facts.reasons:
            continue  # nothing to do today: not on the list
        key = worklist_sort_key(facts)
        if after is not None and list(key) <= _cursor_key(after):
            continue
        owned_active = stage in ACTIVE_STAGES and customer.id not in handled_ids
        deadline = (
            protection_deadline(
                last_contact_at=customer.last_contact_at, claimed_at=customer.claimed_at, policy=pool_policy
            )
            if owned_active
            else None
        )
        keyed.append(
            (
                key,
                WorkItem(
                    customer=customer,
                    reasons=reasons(facts),
                    protection_deadline=deadline,
                    follow_up_at=follow_up,
                ),
            )
        )
    keyed.sort(key=lambda pair: pair[0])
    page = keyed[:limit]
    next_cursor = encode_cursor(_WORKLIST_SORT, list(page[-1][0])) if len(keyed) > limit else None
    return Page(items=[item for _, item in page], next_cursor=next_cursor)


def _cursor_key(values: list) -> list:
    """A decoded cursor as a sort key again (JSON keeps the Decimal as a tagged string)."""
    try:
        stage, urgency, missing, speed, customer_id = values
        return [int(stage), int(urgency), bool(missing), Decimal(speed), str(customer_id)]
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise InvalidCursor("The cursor is malformed or belongs to another query") from exc

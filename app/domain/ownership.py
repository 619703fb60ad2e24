"""Pool and ownership rules of SPEC §5: holding limit, claims, protection, cooldown, worklist."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from app.domain.customers import Source
from app.domain.errors import (
    AlreadyClaimed,
    Forbidden,
    InCooldown,
    InvalidInput,
    QuotaExceeded,
    ReclaimBlocked,
)
from app.domain.funnel import ACTIVE_STAGES, Stage
from app.domain.roles import Principal, Role


@dataclass(frozen=True, kw_only=True, slots=True)
class PoolPolicy:
    max_active_customers: int = 30
    protection_days: int = 7
    cooldown_days: int = 90
    ranking_days: int = 90
    # Days a rep who released a customer, or lost it to lapse, may not take it back.
    reclaim_block_days: int = 7
    # Self-discovered customers a discoverer may hold beyond ``max_active_customers``.
    discovery_bonus: int = 5
    # The worklist warns this many days before the protection period lapses.
    lapse_warning_days: int = 2


DEFAULT_POOL_POLICY = PoolPolicy()

# Smallest sensible value per setting; a zero cooldown is legitimate (no 冷处理 at all).
_POOL_MINIMUMS: dict[str, int] = {
    "max_active_customers": 1,
    "protection_days": 1,
    "cooldown_days": 0,
    "ranking_days": 1,
    "reclaim_block_days": 0,
    "discovery_bonus": 0,
    "lapse_warning_days": 0,
}


def validate_pool_policy(policy: PoolPolicy) -> PoolPolicy:
    """Return ``policy`` unchanged if usable, else raise InvalidInput listing every problem."""
    errors: list[dict[str, Any]] = []
    for name, minimum in _POOL_MINIMUMS.items():
        value = getattr(policy, name)
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append({"loc": [name], "msg": "must be an integer", "type": "type_error"})
        elif value < minimum:
            errors.append({"loc": [name], "msg": f"must be at least {minimum}", "type": "value_error"})
    if errors:
        raise InvalidInput("The pool policy is not valid.", errors=errors)
    return policy


# --- protection period (客户确认期) --------------------------------------------------------


def protection_deadline(
    *, last_contact_at: datetime | None, claimed_at: datetime | None, policy: PoolPolicy
) -> datetime | None:
    """When the owner loses the customer unless contact is made: the later of the last
    contact and the claim, plus ``protection_days``. None when neither is known (a pool
    customer has no clock running)."""
    known = [moment for moment in (last_contact_at, claimed_at) if moment is not None]
    if not known:
        return None
    return max(known) + timedelta(days=policy.protection_days)


def is_protection_lapsed(
    *,
    last_contact_at: datetime | None,
    claimed_at: datetime | None,
    now: datetime,
    policy: PoolPolicy,
) -> bool:
    """Contact interrupted for *more than* ``protection_days``: the deadline itself is kept."""
    deadline = protection_deadline(last_contact_at=last_contact_at, claimed_at=claimed_at, policy=policy)
    return deadline is not None and now > deadline


def lapses_within(
    *,
    last_contact_at: datetime | None,
    claimed_at: datetime | None,
    now: datetime,
    policy: PoolPolicy,
    days: int | None = None,
) -> bool:
    """Not lapsed yet, but will be within ``days`` (default: the policy's
    ``lapse_warning_days``; the worklist's "about to lapse")."""
    deadline = protection_deadline(last_contact_at=last_contact_at, claimed_at=claimed_at, policy=policy)
    window = policy.lapse_warning_days if days is None else days
    return deadline is not None and now <= deadline <= now + timedelta(days=window)


# --- holding limit, claims, cooldown -------------------------------------------------------


def check_quota(active_count: int, *, policy: PoolPolicy, adding: int = 1) -> None:
    """Raise QuotaExceeded unless ``adding`` more active customers fit under the limit."""
    if active_count + adding > policy.max_active_customers:
        raise QuotaExceeded(
            f"The owner holds {active_count} active customers; the limit is {policy.max_active_customers}.",
            limit=policy.max_active_customers,
            active=active_count,
        )


def check_discovery_quota(active_count: int, *, discovered_active: int, policy: PoolPolicy) -> None:
    """A rep's own find (个人发掘) may take them past the holding limit by up to
    ``discovery_bonus``, as long as every customer past the limit is one they discovered
    (``discovered_active``: the self-discovered active customers they already hold)."""
    allowance = policy.max_active_customers + min(policy.discovery_bonus, discovered_active + 1)
    if active_count + 1 > allowance:
        raise QuotaExceeded(
            f"The owner holds {active_count} active customers; the limit is "
            f"{policy.max_active_customers} plus {policy.discovery_bonus} self-discovered.",
            limit=policy.max_active_customers,
            active=active_count,
            discovery_bonus=policy.discovery_bonus,
        )


def fits_discovery_quota(active_count: int, *, discovered_active: int, policy: PoolPolicy) -> bool:
    try:
        check_discovery_quota(active_count, discovered_active=discovered_active, policy=policy)
    except QuotaExceeded:
        return False
    return True


def check_claimable(
    *,
    owner_id: UUID | str | None,
    cooldown_until: datetime | None,
    now: datetime,
    director_override: bool = False,
) -> None:
    """Raise unless a pool customer may be claimed or assigned now.

    The database still decides races (a conditional update); this is the rule, so that a
    customer that is visibly owned or cooling answers the right code before trying.
    Ownership is checked first: an owned customer is never claimable, override or not.
    """
    if owner_id is not None:
        raise AlreadyClaimed("The customer already has an owner.")
    if cooldown_until is not None and now < cooldown_until and not director_override:
        raise InCooldown(
            f"The customer is in cooldown until {cooldown_until.isoformat()}; "
            "only a director can override it.",
            cooldown_until=cooldown_until.isoformat(),
        )


# --- reclaim block (the protection period cannot be gamed) ----------------------------------

# Ownership events after which the former owner is blocked: a release and a lapse.
RECLAIM_BLOCKING_EVENTS: frozenset[str] = frozenset({"release", "recycle"})


def reclaim_blocked_until(lost_at: datetime | None, *, policy: PoolPolicy) -> datetime | None:
    """When a rep who lost a customer at ``lost_at`` may take it again (None: never lost)."""
    if lost_at is None:
        return None
    return lost_at + timedelta(days=policy.reclaim_block_days)


def is_reclaim_blocked(lost_at: datetime | None, *, now: datetime, policy: PoolPolicy) -> bool:
    until = reclaim_blocked_until(lost_at, policy=policy)
    return until is not None and now < until


def check_not_reclaim_blocked(
    lost_at: datetime | None, *, now: datetime, policy: PoolPolicy, manual_override: bool = False
) -> bool:
    """Raise ReclaimBlocked while the block runs, unless a manager's or director's manual
    assignment overrides it; answer whether an override was needed (to record it)."""
    if not is_reclaim_blocked(lost_at, now=now, policy=policy):
        return False
    if manual_override:
        return True
    until = reclaim_blocked_until(lost_at, policy=policy)
    assert until is not None
    raise ReclaimBlocked(
        f"This rep lost the customer recently; it cannot go back to them before "
        f"{until.isoformat()}. A manager or director may assign it manually.",
        blocked_until=until.isoformat(),
    )


def cooldown_end(abandoned_at: datetime, *, policy: PoolPolicy) -> datetime:
    return abandoned_at + timedelta(days=policy.cooldown_days)


# --- a new customer's owner ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class InitialOwner:
    owner_id: UUID | None  # None: the customer starts in the pool
    discovered_by: UUID | None


def decide_initial_owner(
    *,
    creator: Principal,
    requested_owner_id: UUID | None,
    source: str,
    policy: PoolPolicy,
    creator_active: int | None = None,
    creator_discovered: int | None = None,
    found_by_owner: bool = False,
) -> InitialOwner:
    """Who owns a customer being created, and who found it (SPEC §5).

    A rep creates customers for themselves only; naming no owner, the rep owns it unless
    they already hold ``policy.max_active_customers`` active customers (``creator_active``,
    required then). An own find (``self_discovered``) may take them up to ``discovery_bonus``
    past the limit (``creator_discovered``: the self-discovered active customers they hold);
    past that their find waits in the pool, still marked as theirs.
    Other roles leave it in the pool unless they name an owner. A self-discovered customer
    records its finder: the creator, or the named owner when ``found_by_owner`` (an import
    names the owner who found it, not the steward who uploads the file).

    The named owner's own checks (an active rep or manager in the creator's scope, under the
    holding limit) need the database and stay with the caller.
    """
    owner_id = requested_owner_id
    if creator.role is Role.rep:
        if owner_id is not None and owner_id != creator.user_id:
            raise Forbidden("Reps create customers for themselves only")
        if owner_id is None:
            if creator_active is None:
                raise ValueError("creator_active is needed for a rep who names no owner")
            if creator_active < policy.max_active_customers:
                owner_id = creator.user_id
            elif (
                source == Source.self_discovered
                and creator_discovered is not None
                and fits_discovery_quota(creator_active, discovered_active=creator_discovered, policy=policy)
            ):
                owner_id = creator.user_id  # past the limit, within the discovery bonus
    finder = owner_id if found_by_owner else creator.user_id
    return InitialOwner(owner_id=owner_id, discovered_by=finder if source == Source.self_discovered else None)


# --- worklist order (上行原则) ---------------------------------------------------------------

# Bottom of the funnel first; abandoned customers have no owner but sort last if present.
WORKLIST_STAGE_PRIORITY: dict[Stage, int] = {
    stage: rank
    for rank, stage in enumerate(
        (
            Stage.implemented,
            Stage.signed,
            Stage.intent,
            Stage.lead,
            Stage.contacted,
            Stage.graded,
            Stage.resource,
            Stage.abandoned,
        )
    )
}


# Why a customer needs an action today, most urgent first (SPEC §5 上行原则: overdue payment,
# lapsing protection, due follow-up or task, stalled; then a new claim not yet contacted).
# A later change adds its own reasons here (a renewal due goes before all of them).
WORK_REASONS: tuple[str, ...] = (
    "payment_overdue",
    "complaint_overdue",
    "protection_lapsing",
    "follow_up_due",
    "task_due",
    "stalled",
    "not_contacted",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkItemFacts:
    customer_id: UUID | str
    stage: Stage
    # Codes from WORK_REASONS that apply to the customer today.
    reasons: frozenset[str] = frozenset()
    # Days the customer spent in the stage before its current one; None if it has none.
    days_in_previous_stage: Decimal | None = None


def work_reasons(
    *,
    stage: Stage,
    now: datetime,
    policy: PoolPolicy,
    last_contact_at: datetime | None,
    claimed_at: datetime | None,
    follow_up_at: datetime | None,
    task_due: bool,
    stalled: bool,
    payment_overdue: bool,
    complaint_overdue: bool = False,
) -> frozenset[str]:
    """The reasons a customer is on its owner's worklist today (empty: nothing to do)."""
    active = stage in ACTIVE_STAGES
    raised = {
        "payment_overdue": payment_overdue,
        "complaint_overdue": complaint_overdue,
        "protection_lapsing": active
        and lapses_within(last_contact_at=last_contact_at, claimed_at=claimed_at, now=now, policy=policy),
        "follow_up_due": follow_up_at is not None
        and follow_up_at <= now
        and (last_contact_at is None or last_contact_at < follow_up_at),
        "task_due": task_due,
        "stalled": stalled,
        "not_contacted": active
        and claimed_at is not None
        and (last_contact_at is None or last_contact_at < claimed_at),
    }
    return frozenset(code for code, flag in raised.items() if flag)


def worklist_sort_key(facts: WorkItemFacts) -> tuple[int, int, bool, Decimal, str]:
    """Sort key: stage (bottom of the funnel up), then urgency (the most urgent reason),
    then the fastest mover through its last stage; customers with no previous stage come
    after those with one; the id keeps the order total."""
    previous = facts.days_in_previous_stage
    urgency = min((WORK_REASONS.index(code) for code in facts.reasons), default=len(WORK_REASONS))
    return (
        WORKLIST_STAGE_PRIORITY[facts.stage],
        urgency,
        previous is None,
        previous if previous is not None else Decimal(0),
        str(facts.customer_id),
    )


def reasons(facts: WorkItemFacts) -> list[str]:
    """Why an item is on the list, most urgent first."""
    return [code for code in WORK_REASONS if code in facts.reasons]

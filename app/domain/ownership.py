"""Pool and ownership rules of SPEC §5: holding limit, claims, protection, cooldown, worklist."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from app.domain.customers import Source
from app.domain.errors import AlreadyClaimed, Forbidden, InCooldown, InvalidInput, QuotaExceeded
from app.domain.funnel import Stage
from app.domain.roles import Principal, Role


@dataclass(frozen=True, kw_only=True, slots=True)
class PoolPolicy:
    max_active_customers: int = 30
    protection_days: int = 7
    cooldown_days: int = 90
    ranking_days: int = 90


DEFAULT_POOL_POLICY = PoolPolicy()

# Smallest sensible value per setting; a zero cooldown is legitimate (no 冷处理 at all).
_POOL_MINIMUMS: dict[str, int] = {
    "max_active_customers": 1,
    "protection_days": 1,
    "cooldown_days": 0,
    "ranking_days": 1,
}


def validate_pool_policy(policy: PoolPolicy) -> PoolPolicy:
    """Return ``policy`` unchanged if usable, else raise InvalidInput listing every problem."""
    errors: list[dict[str, Any]] = []
    for name, minimum in _POOL_MINIMUMS.items():
        value = getattr(policy, name)
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append({"loc": [name], "msg": "must be an integer", "type": "type_error"})
        elif value < minimum:
            errors.append(
                {"loc": [name], "msg": f"must be at least {minimum}", "type": "value_error"}
            )
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
    deadline = protection_deadline(
        last_contact_at=last_contact_at, claimed_at=claimed_at, policy=policy
    )
    return deadline is not None and now > deadline


def lapses_within(
    *,
    last_contact_at: datetime | None,
    claimed_at: datetime | None,
    now: datetime,
    policy: PoolPolicy,
    days: int = 2,
) -> bool:
    """Not lapsed yet, but will be within ``days`` (the worklist's "about to lapse")."""
    deadline = protection_deadline(
        last_contact_at=last_contact_at, claimed_at=claimed_at, policy=policy
    )
    return deadline is not None and now <= deadline <= now + timedelta(days=days)


# --- holding limit, claims, cooldown -------------------------------------------------------


def check_quota(active_count: int, *, policy: PoolPolicy, adding: int = 1) -> None:
    """Raise QuotaExceeded unless ``adding`` more active customers fit under the limit."""
    if active_count + adding > policy.max_active_customers:
        raise QuotaExceeded(
            f"The owner holds {active_count} active customers; the limit is "
            f"{policy.max_active_customers}.",
            limit=policy.max_active_customers,
            active=active_count,
        )


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
    found_by_owner: bool = False,
) -> InitialOwner:
    """Who owns a customer being created, and who found it (SPEC §5).

    A rep creates customers for themselves only; naming no owner, the rep owns it unless
    they already hold ``policy.max_active_customers`` active customers (``creator_active``,
    required then): over the limit their find waits in the pool, still marked as theirs.
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
    finder = owner_id if found_by_owner else creator.user_id
    return InitialOwner(owner_id=owner_id,
                        discovered_by=finder if source == Source.self_discovered else None)


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


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkItemFacts:
    customer_id: UUID | str
    stage: Stage
    protection_lapsing: bool = False
    follow_up_due: bool = False
    stalled: bool = False
    payment_overdue: bool = False
    # Days the customer spent in the stage before its current one; None if it has none.
    days_in_previous_stage: Decimal | None = None


def worklist_sort_key(
    facts: WorkItemFacts,
) -> tuple[int, bool, bool, bool, bool, bool, Decimal, str]:
    """Sort key: stage (bottom up), then urgency flags in SPEC order, then fast movers.

    Flags compare lexicographically (protection outranks follow-up, etc.); customers with
    no previous stage come after those with one; the id keeps the order total.
    """
    previous = facts.days_in_previous_stage
    return (
        WORKLIST_STAGE_PRIORITY[facts.stage],
        not facts.protection_lapsing,
        not facts.follow_up_due,
        not facts.stalled,
        not facts.payment_overdue,
        previous is None,
        previous if previous is not None else Decimal(0),
        str(facts.customer_id),
    )


def reasons(facts: WorkItemFacts) -> list[str]:
    """Why an item is urgent, most urgent first."""
    flags = (
        ("protection_lapsing", facts.protection_lapsing),
        ("follow_up_due", facts.follow_up_due),
        ("stalled", facts.stalled),
        ("payment_overdue", facts.payment_overdue),
    )
    return [code for code, raised in flags if raised]

"""Allocation plans of SPEC §5: fat-man principle, round robin and staff handover."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from app.domain.errors import InvalidInput
from app.domain.funnel import ACTIVE_STAGES, Stage, stage_position

Id = UUID | str

_GRADE_RANK: dict[str | None, int] = {"A": 0, "B": 1, "C": 2}
_UNGRADED_RANK = len(_GRADE_RANK)
_CENT = Decimal("0.01")
# Handover gives these to the best sellers; everything earlier goes back to the pool.
HANDOVER_PRIORITY_STAGES: frozenset[Stage] = frozenset(
    {Stage.intent, Stage.signed, Stage.implemented}
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Candidate:
    customer_id: Id
    grade: str | None = None
    discovered_by: Id | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Assignee:
    user_id: Id
    team_id: Id | None = None
    # Signed amount over the trailing `ranking_days`.
    signed_amount: Decimal = Decimal(0)
    # Active-stage customers the user may still take; negative (limit lowered) counts as 0.
    free_capacity: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class HandoverItem:
    customer_id: Id
    stage: Stage
    grade: str | None = None
    # An implemented customer whose service is about to end (SPEC §6 Renewals): the renewal
    # goes to the best sellers first (已实施客户,续费销售事务优先分配给销售额最高的小组或销售员).
    renewal_due: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class Assignment:
    customer_id: Id
    user_id: Id
    team_id: Id | None
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Unassigned:
    """A customer the plan leaves in (or returns to) the pool, and why."""

    customer_id: Id
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    assignments: tuple[Assignment, ...] = ()
    unassigned: tuple[Unassigned, ...] = ()


def grade_rank(grade: str | None) -> int:
    """A before B before C before ungraded (an unknown grade counts as ungraded)."""
    return _GRADE_RANK.get(grade, _UNGRADED_RANK)


def _money(amount: Decimal) -> str:
    return str(Decimal(amount).quantize(_CENT))


def _grade_label(grade: str | None) -> str:
    return f"grade {grade}" if grade in _GRADE_RANK else "ungraded"


def _check_unique(customer_ids: Sequence[Id], assignees: Sequence[Assignee]) -> None:
    # A duplicate would let one customer be planned twice or one user be counted twice.
    errors: list[dict[str, Any]] = []
    for label, ids in (
        ("customers", customer_ids),
        ("assignees", [assignee.user_id for assignee in assignees]),
    ):
        seen: set[str] = set()
        for index, value in enumerate(ids):
            if str(value) in seen:
                errors.append(
                    {"loc": [label, index], "msg": f"duplicate id {value}", "type": "value_error"}
                )
            seen.add(str(value))
    if errors:
        raise InvalidInput("Allocation input has duplicates.", errors=errors)


class _Pool:
    """Free capacity per assignee; ids compared as strings so UUID and str ids mix."""

    def __init__(self, assignees: Sequence[Assignee]) -> None:
        self.assignees = list(assignees)
        self.by_id = {str(assignee.user_id): assignee for assignee in assignees}
        self.free = {
            str(assignee.user_id): max(assignee.free_capacity, 0) for assignee in assignees
        }

    def has_room(self, assignee: Assignee) -> bool:
        return self.free[str(assignee.user_id)] > 0

    def take(self, assignee: Assignee) -> None:
        self.free[str(assignee.user_id)] -= 1

    def discoverer(self, discovered_by: Id | None) -> Assignee | None:
        if discovered_by is None:
            return None
        assignee = self.by_id.get(str(discovered_by))
        return assignee if assignee is not None and self.has_room(assignee) else None


def _by_grade(candidates: Sequence[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: grade_rank(c.grade))  # stable: input order kept


def _seller_ranking(assignees: Sequence[Assignee], *, by_team: bool) -> list[Assignee]:
    """Best first: highest signed amount (or team total, then rep), ties by id string."""
    if not by_team:
        return sorted(assignees, key=lambda a: (-a.signed_amount, str(a.user_id)))
    team_total: dict[str, Decimal] = {}
    for assignee in assignees:
        team = str(assignee.team_id)
        team_total[team] = team_total.get(team, Decimal(0)) + assignee.signed_amount
    return sorted(
        assignees,
        key=lambda a: (
            -team_total[str(a.team_id)],
            str(a.team_id),
            -a.signed_amount,
            str(a.user_id),
        ),
    )


def _seller_label(assignee: Assignee, ranking: list[Assignee], *, by_team: bool) -> str:
    if not by_team:
        return f"top seller (signed {_money(assignee.signed_amount)} in ranking window)"
    team_total = sum(
        (a.signed_amount for a in ranking if str(a.team_id) == str(assignee.team_id)),
        Decimal(0),
    )
    return (
        f"top team (team signed {_money(team_total)}, rep signed "
        f"{_money(assignee.signed_amount)} in ranking window)"
    )


def _assign(assignee: Assignee, customer_id: Id, reason: str) -> Assignment:
    return Assignment(
        customer_id=customer_id, user_id=assignee.user_id, team_id=assignee.team_id, reason=reason
    )


def _plan(
    customers: Sequence[Candidate],
    assignees: Sequence[Assignee],
    choose: Callable[[_Pool, Candidate], tuple[Assignee, str] | None],
) -> Plan:
    """Shared skeleton: discoverers first, then ``choose`` for the rest, grade A first."""
    _check_unique([candidate.customer_id for candidate in customers], assignees)
    pool = _Pool(assignees)
    ordered = _by_grade(customers)
    placed: dict[str, Assignment] = {}
    for candidate in ordered:
        discoverer = pool.discoverer(candidate.discovered_by)
        if discoverer is not None:
            pool.take(discoverer)
            placed[str(candidate.customer_id)] = _assign(
                discoverer, candidate.customer_id, "discoverer priority"
            )
    unassigned: list[Unassigned] = []
    for candidate in ordered:
        if str(candidate.customer_id) in placed:
            continue
        choice = choose(pool, candidate)
        if choice is None:
            unassigned.append(Unassigned(customer_id=candidate.customer_id, reason="no capacity"))
            continue
        assignee, reason = choice
        pool.take(assignee)
        placed[str(candidate.customer_id)] = _assign(assignee, candidate.customer_id, reason)
    # Report in processing order (grade order), the order the customers were decided in.
    assignments = tuple(
        placed[str(candidate.customer_id)]
        for candidate in ordered
        if str(candidate.customer_id) in placed
    )
    return Plan(assignments=assignments, unassigned=tuple(unassigned))


def plan_fat_man(
    customers: Sequence[Candidate], assignees: Sequence[Assignee], *, by_team: bool = False
) -> Plan:
    """胖子原则: discoverers keep their own finds (capacity permitting); then, grade A
    first, each customer goes to the best seller over the ranking window with free
    capacity. ``by_team`` ranks teams by their members' total first, then reps within.
    """
    ranking = _seller_ranking(assignees, by_team=by_team)

    def choose(pool: _Pool, candidate: Candidate) -> tuple[Assignee, str] | None:
        best = next((assignee for assignee in ranking if pool.has_room(assignee)), None)
        if best is None:
            return None
        label = _seller_label(best, ranking, by_team=by_team)
        return best, f"{_grade_label(candidate.grade)} to {label}"

    return _plan(customers, assignees, choose)


def plan_round_robin(customers: Sequence[Candidate], assignees: Sequence[Assignee]) -> Plan:
    """Discoverers first, then rotate over ``assignees`` in the order given, skipping those
    without capacity. Customers are taken grade A first so good ones are spread evenly too.
    The caller controls the rotation start through the order of ``assignees``.
    """
    turn = 0

    def choose(pool: _Pool, candidate: Candidate) -> tuple[Assignee, str] | None:
        nonlocal turn
        count = len(pool.assignees)
        for step in range(count):
            index = (turn + step) % count
            assignee = pool.assignees[index]
            if pool.has_room(assignee):
                turn = index + 1
                return assignee, f"round robin ({_grade_label(candidate.grade)})"
        return None

    return _plan(customers, assignees, choose)


def plan_handover(
    customers: Sequence[HandoverItem], assignees: Sequence[Assignee], *, by_team: bool = False
) -> Plan:
    """Staff departure (人员变动): hand over the valuable customers, pool the rest.

    Intent, signed and implemented customers go, renewal-due customers first, then bottom
    of the funnel first, then grade A first, to the best seller with free capacity
    (fat-man). Only active-stage customers (intent here) consume capacity: the holding
    limit counts nothing else. A signed or implemented customer still prefers a seller
    with room; if nobody has any it goes to the best seller anyway, since it breaks no
    limit and must not go to the pool.
    Everything earlier in the funnel goes back to the pool. ``assignees`` must not
    include the departing user.
    """
    _check_unique([item.customer_id for item in customers], assignees)
    pool = _Pool(assignees)
    ranking = _seller_ranking(assignees, by_team=by_team)
    priority = sorted(
        (item for item in customers if item.stage in HANDOVER_PRIORITY_STAGES),
        key=lambda item: (
            not item.renewal_due, -stage_position(item.stage), grade_rank(item.grade)
        ),
    )
    assignments: list[Assignment] = []
    unassigned: list[Unassigned] = []
    for item in priority:
        consumes = item.stage in ACTIVE_STAGES
        best = next((assignee for assignee in ranking if pool.has_room(assignee)), None)
        if best is None and not consumes and ranking:
            best = ranking[0]
        if best is None:
            reason = "no capacity" if ranking else "no assignee"
            unassigned.append(Unassigned(customer_id=item.customer_id, reason=reason))
            continue
        what = f"{item.stage} customer" + (" (renewal due)" if item.renewal_due else "")
        reason = f"{what} to {_seller_label(best, ranking, by_team=by_team)}"
        if consumes:
            pool.take(best)
        else:
            reason += "; not counted against the holding limit"
        assignments.append(_assign(best, item.customer_id, reason))
    for item in customers:
        if item.stage not in HANDOVER_PRIORITY_STAGES:
            unassigned.append(
                Unassigned(customer_id=item.customer_id, reason=f"back to pool ({item.stage})")
            )
    return Plan(assignments=tuple(assignments), unassigned=tuple(unassigned))

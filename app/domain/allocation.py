"""Allocation plans of SPEC §5: fat-man principle, round robin and staff handover."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from app.domain.errors import InvalidInput
from app.domain.funnel import ACTIVE_STAGES, FunnelPolicy, Stage, stage_position

Id = UUID | str

_GRADE_RANK: dict[str | None, int] = {"A": 0, "B": 1, "C": 2}
_UNGRADED_RANK = len(_GRADE_RANK)
_CENT = Decimal("0.01")
# Customers with a contract: they always go to a person, never to the pool.
CONTRACT_STAGES: frozenset[Stage] = frozenset({Stage.signed, Stage.implemented})
# Handover gives these to the best sellers; everything earlier goes back to the pool.
HANDOVER_PRIORITY_STAGES: frozenset[Stage] = CONTRACT_STAGES | {Stage.intent}


@dataclass(frozen=True, kw_only=True, slots=True)
class Candidate:
    customer_id: Id
    grade: str | None = None
    discovered_by: Id | None = None
    # The funnel stage the customer is in: the ideal holding per rep is counted per stage.
    stage: Stage = Stage.resource
    # Users under the reclaim block for this customer (they released it or let it lapse).
    blocked: frozenset[str] = frozenset()

    def allows(self, assignee: Assignee) -> bool:
        return str(assignee.user_id) not in self.blocked


@dataclass(frozen=True, kw_only=True, slots=True)
class Assignee:
    user_id: Id
    team_id: Id | None = None
    # Signed amount over the trailing `ranking_days`.
    signed_amount: Decimal = Decimal(0)
    # Active-stage customers the user may still take; negative (limit lowered) counts as 0.
    free_capacity: int = 0
    # Active customers the user holds now, per stage (for the ideal holding per stage).
    held: Mapping[Stage, int] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, kw_only=True, slots=True)
class HandoverItem:
    customer_id: Id
    stage: Stage
    grade: str | None = None
    # An implemented customer whose service is about to end (SPEC §6 Renewals): the renewal
    # goes to the best sellers first (已实施客户,续费销售事务优先分配给销售额最高的小组或销售员).
    renewal_due: bool = False
    # Users under the reclaim block for this customer: it does not go back to them.
    blocked: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True, slots=True)
class Explanation:
    """Why a customer went to whom: the facts the rule looked at when it decided."""

    rule: str  # "discoverer priority", "fat-man", "round robin"
    rank: int  # 1 = best seller of those considered
    signed_amount: Decimal
    free_capacity: int  # before this assignment
    stage: Stage
    stage_holding: int  # customers in ``stage`` the user held before this assignment
    stage_cap: int | None  # the ideal holding per rep for ``stage`` (None: no cap)

    def sentence(self) -> str:
        cap = "no ideal cap" if self.stage_cap is None else f"ideal {self.stage_cap}"
        return (
            f"rule {self.rule}; rank {self.rank}, signed {_money(self.signed_amount)} in "
            f"ranking window, free capacity {self.free_capacity}, holds {self.stage_holding} "
            f"{self.stage} ({cap})"
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Assignment:
    customer_id: Id
    user_id: Id
    team_id: Id | None
    reason: str
    explanation: Explanation | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Unassigned:
    """A customer the plan leaves in (or returns to) the pool, and why."""

    customer_id: Id
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    assignments: tuple[Assignment, ...] = ()
    unassigned: tuple[Unassigned, ...] = ()


def ideal_holding_caps(policy: FunnelPolicy) -> dict[Stage, int | None]:
    """The ideal holding per rep of each stage (the §4 table, in the ``from`` stage)."""
    return {step.from_stage: step.ideal_holding_per_rep for step in policy.steps}


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
                errors.append({"loc": [label, index], "msg": f"duplicate id {value}", "type": "value_error"})
            seen.add(str(value))
    if errors:
        raise InvalidInput("Allocation input has duplicates.", errors=errors)


class _Pool:
    """Free capacity and per-stage holding per assignee; ids compared as strings so UUID
    and str ids mix. ``caps`` is the ideal holding per rep per stage (SPEC §4)."""

    def __init__(self, assignees: Sequence[Assignee], caps: Mapping[Stage, int | None] | None = None) -> None:
        self.assignees = list(assignees)
        self.by_id = {str(assignee.user_id): assignee for assignee in assignees}
        self.free = {str(assignee.user_id): max(assignee.free_capacity, 0) for assignee in assignees}
        self.caps = dict(caps or {})
        self.load = {
            (str(assignee.user_id), stage): count
            for assignee in assignees
            for stage, count in assignee.held.items()
        }

    def has_room(self, assignee: Assignee, stage: Stage | None = None) -> bool:
        if self.free[str(assignee.user_id)] <= 0:
            return False
        cap = None if stage is None else self.caps.get(stage)
        return cap is None or self.load.get((str(assignee.user_id), stage), 0) < cap

    def take(self, assignee: Assignee, stage: Stage | None = None) -> None:
        self.free[str(assignee.user_id)] -= 1
        if stage is not None:
            key = (str(assignee.user_id), stage)
            self.load[key] = self.load.get(key, 0) + 1

    def explain(self, assignee: Assignee, stage: Stage, *, rule: str, rank: int) -> Explanation:
        return Explanation(
            rule=rule,
            rank=rank,
            signed_amount=assignee.signed_amount,
            free_capacity=self.free[str(assignee.user_id)],
            stage=stage,
            stage_holding=self.load.get((str(assignee.user_id), stage), 0),
            stage_cap=self.caps.get(stage),
        )

    def discoverer(self, candidate: Candidate) -> Assignee | None:
        if candidate.discovered_by is None:
            return None
        assignee = self.by_id.get(str(candidate.discovered_by))
        if assignee is None or not self.has_room(assignee, candidate.stage) or not candidate.allows(assignee):
            return None
        return assignee


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


def _assign(
    assignee: Assignee, customer_id: Id, reason: str, explanation: Explanation | None = None
) -> Assignment:
    return Assignment(
        customer_id=customer_id,
        user_id=assignee.user_id,
        team_id=assignee.team_id,
        reason=reason,
        explanation=explanation,
    )


def _plan(
    customers: Sequence[Candidate],
    assignees: Sequence[Assignee],
    choose: Callable[[_Pool, Candidate], tuple[Assignee, str, str] | None],
    *,
    caps: Mapping[Stage, int | None] | None = None,
    by_team: bool = False,
) -> Plan:
    """Shared skeleton: discoverers first, then ``choose`` for the rest, grade A first.
    ``choose`` answers the assignee, the reason and the rule applied."""
    _check_unique([candidate.customer_id for candidate in customers], assignees)
    pool = _Pool(assignees, caps)
    rank = {str(a.user_id): index + 1 for index, a in enumerate(_seller_ranking(assignees, by_team=by_team))}
    ordered = _by_grade(customers)
    placed: dict[str, Assignment] = {}

    def place(candidate: Candidate, assignee: Assignee, reason: str, rule: str) -> None:
        explanation = pool.explain(assignee, candidate.stage, rule=rule, rank=rank[str(assignee.user_id)])
        pool.take(assignee, candidate.stage)
        placed[str(candidate.customer_id)] = _assign(assignee, candidate.customer_id, reason, explanation)

    for candidate in ordered:
        discoverer = pool.discoverer(candidate)
        if discoverer is not None:
            place(candidate, discoverer, "discoverer priority", "discoverer priority")
    unassigned: list[Unassigned] = []
    for candidate in ordered:
        if str(candidate.customer_id) in placed:
            continue
        choice = choose(pool, candidate)
        if choice is None:
            unassigned.append(Unassigned(customer_id=candidate.customer_id, reason="no capacity"))
            continue
        place(candidate, *choice)
    # Report in processing order (grade order), the order the customers were decided in.
    assignments = tuple(
        placed[str(candidate.customer_id)] for candidate in ordered if str(candidate.customer_id) in placed
    )
    return Plan(assignments=assignments, unassigned=tuple(unassigned))


def plan_fat_man(
    customers: Sequence[Candidate],
    assignees: Sequence[Assignee],
    *,
    by_team: bool = False,
    caps: Mapping[Stage, int | None] | None = None,
) -> Plan:
    """胖子原则, capacity-aware: discoverers keep their own finds (room permitting); then,
    grade A first, each customer goes to the best seller over the ranking window who has
    room: free capacity under the holding limit **and** fewer than the ideal holding per
    rep (``caps``, SPEC §4) in the customer's stage. The next-ranked seller takes the rest.
    ``by_team`` ranks teams by their members' total first, then reps within.
    """
    ranking = _seller_ranking(assignees, by_team=by_team)

    def choose(pool: _Pool, candidate: Candidate) -> tuple[Assignee, str, str] | None:
        best = next(
            (
                assignee
                for assignee in ranking
                if pool.has_room(assignee, candidate.stage) and candidate.allows(assignee)
            ),
            None,
        )
        if best is None:
            return None
        label = _seller_label(best, ranking, by_team=by_team)
        return best, f"{_grade_label(candidate.grade)} to {label}", "fat-man"

    return _plan(customers, assignees, choose, caps=caps, by_team=by_team)


def plan_round_robin(
    customers: Sequence[Candidate],
    assignees: Sequence[Assignee],
    *,
    caps: Mapping[Stage, int | None] | None = None,
) -> Plan:
    """Discoverers first, then rotate over ``assignees`` in the order given, skipping those
    without capacity. Customers are taken grade A first so good ones are spread evenly too.
    The caller controls the rotation start through the order of ``assignees``.
    """
    turn = 0

    def choose(pool: _Pool, candidate: Candidate) -> tuple[Assignee, str, str] | None:
        nonlocal turn
        count = len(pool.assignees)
        for step in range(count):
            index = (turn + step) % count
            assignee = pool.assignees[index]
            if pool.has_room(assignee, candidate.stage) and candidate.allows(assignee):
                turn = index + 1
                return assignee, f"round robin ({_grade_label(candidate.grade)})", "round robin"
        return None

    return _plan(customers, assignees, choose, caps=caps)


def plan_handover(
    customers: Sequence[HandoverItem],
    assignees: Sequence[Assignee],
    *,
    by_team: bool = False,
    to_people: frozenset[Stage] = HANDOVER_PRIORITY_STAGES,
    fallback: Assignee | None = None,
) -> Plan:
    """Staff departure (人员变动): hand over the valuable customers, pool the rest.

    Customers in ``to_people`` (intent, signed, implemented by default) go, renewal-due
    customers first, then bottom of the funnel first, then grade A first, to the best seller
    with free capacity (fat-man). Only
    active-stage customers (intent here) consume capacity: the holding limit counts nothing
    else. Signed and implemented customers never go to the pool, whatever ``to_people``
    says: without a seller with room they go to ``fallback`` (the departing user's
    manager), else to the best seller anyway, since they break no limit. Everything else
    goes back to the pool. ``assignees`` must not include the departing user.
    """
    _check_unique([item.customer_id for item in customers], assignees)
    pool = _Pool(assignees)
    ranking = _seller_ranking(assignees, by_team=by_team)
    to_person = to_people | CONTRACT_STAGES
    priority = sorted(
        (item for item in customers if item.stage in to_person),
        key=lambda item: (not item.renewal_due, -stage_position(item.stage), grade_rank(item.grade)),
    )
    assignments: list[Assignment] = []
    unassigned: list[Unassigned] = []
    for item in priority:
        consumes = item.stage in ACTIVE_STAGES
        allowed = [assignee for assignee in ranking if str(assignee.user_id) not in item.blocked]
        best = next((assignee for assignee in allowed if pool.has_room(assignee)), None)
        if best is None and not consumes:
            if fallback is not None:
                assignments.append(
                    _assign(
                        fallback,
                        item.customer_id,
                        f"{item.stage} customer to the manager: no seller has room",
                    )
                )
                continue
            best = allowed[0] if allowed else None
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
        if item.stage not in to_person:
            unassigned.append(Unassigned(customer_id=item.customer_id, reason=f"back to pool ({item.stage})"))
    return Plan(assignments=tuple(assignments), unassigned=tuple(unassigned))

"""Allocation plans (SPEC §5): fat-man principle, round robin, staff handover."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.allocation import (
    Assignee,
    Candidate,
    HandoverItem,
    Plan,
    grade_rank,
    plan_fat_man,
    plan_handover,
    plan_round_robin,
)
from app.domain.errors import InvalidInput
from app.domain.funnel import ACTIVE_STAGES, Stage


def rep(user_id: str, signed: str = "0", capacity: int = 5, team: str = "t1") -> Assignee:
    return Assignee(user_id=user_id, team_id=team, signed_amount=Decimal(signed), free_capacity=capacity)


def cust(customer_id: str, grade: str | None = None, by: str | None = None) -> Candidate:
    return Candidate(customer_id=customer_id, grade=grade, discovered_by=by)


def owners(plan: Plan) -> dict[str, str]:
    return {str(a.customer_id): str(a.user_id) for a in plan.assignments}


# --- fat man -------------------------------------------------------------------------------


def test_fat_man_best_seller_first_with_reason() -> None:
    plan = plan_fat_man([cust("c1", "A")], [rep("low", "10"), rep("top", "120000"), rep("mid", "5000")])
    (assignment,) = plan.assignments
    assert assignment.user_id == "top"
    assert assignment.team_id == "t1"
    assert assignment.reason == "grade A to top seller (signed 120000.00 in ranking window)"
    assert plan.unassigned == ()


def test_fat_man_fills_best_seller_then_next() -> None:
    customers = [cust(f"c{i}", "B") for i in range(5)]
    plan = plan_fat_man(customers, [rep("top", "900", capacity=2), rep("second", "800")])
    assert owners(plan) == {
        "c0": "top",
        "c1": "top",
        "c2": "second",
        "c3": "second",
        "c4": "second",
    }


def test_fat_man_grade_a_before_b_before_c_when_short() -> None:
    customers = [
        cust("c1", "C"),
        cust("u1", None),
        cust("b1", "B"),
        cust("a1", "A"),
        cust("b2", "B"),
        cust("a2", "A"),
    ]
    plan = plan_fat_man(customers, [rep("top", "100", capacity=3), rep("next", "50", capacity=1)])
    assert [str(a.customer_id) for a in plan.assignments] == ["a1", "a2", "b1", "b2"]
    assert owners(plan) == {"a1": "top", "a2": "top", "b1": "top", "b2": "next"}
    assert [(str(u.customer_id), u.reason) for u in plan.unassigned] == [
        ("c1", "no capacity"),
        ("u1", "no capacity"),
    ]


def test_fat_man_ungraded_reason_and_unknown_grade() -> None:
    plan = plan_fat_man([cust("x", "Z"), cust("y", "C")], [rep("r", "1", capacity=1)])
    assert owners(plan) == {"y": "r"}
    assert plan.unassigned[0].customer_id == "x"
    assert grade_rank("Z") == grade_rank(None) > grade_rank("C")


def test_fat_man_ties_by_user_id_string() -> None:
    plan = plan_fat_man([cust("c1", "A")], [rep("zoe", "100"), rep("amy", "100")])
    assert owners(plan) == {"c1": "amy"}


def test_fat_man_skips_full_and_negative_capacity() -> None:
    plan = plan_fat_man([cust("c1", "A")], [rep("top", "900", capacity=0), rep("over", "800", capacity=-3)])
    assert plan.assignments == ()
    assert plan.unassigned[0].reason == "no capacity"


def test_fat_man_discoverer_priority() -> None:
    customers = [cust("a1", "A"), cust("mine", "C", by="small"), cust("gone", "B", by="left")]
    plan = plan_fat_man(customers, [rep("top", "900"), rep("small", "1", capacity=1)])
    assert owners(plan) == {"a1": "top", "mine": "small", "gone": "top"}
    reasons = {str(a.customer_id): a.reason for a in plan.assignments}
    assert reasons["mine"] == "discoverer priority"


def test_fat_man_discoverer_without_capacity_falls_back() -> None:
    customers = [cust("d1", "B", by="small"), cust("d2", "A", by="small")]
    plan = plan_fat_man(customers, [rep("top", "900"), rep("small", "1", capacity=1)])
    # The discoverer's one slot takes their best find; the other goes by the fat-man rule.
    assert owners(plan) == {"d2": "small", "d1": "top"}


def test_fat_man_discoverer_outranks_grade_when_short() -> None:
    customers = [cust("a1", "A"), cust("c1", "C", by="r")]
    plan = plan_fat_man(customers, [rep("r", "1", capacity=1)])
    assert owners(plan) == {"c1": "r"}
    assert [str(u.customer_id) for u in plan.unassigned] == ["a1"]


def test_fat_man_by_team() -> None:
    assignees = [
        rep("star", "1000", team="solo"),
        rep("x1", "600", team="crowd"),
        rep("x2", "500", team="crowd"),
    ]
    assert owners(plan_fat_man([cust("c", "A")], assignees)) == {"c": "star"}
    plan = plan_fat_man([cust("c", "A")], assignees, by_team=True)
    assert owners(plan) == {"c": "x1"}
    assert plan.assignments[0].team_id == "crowd"
    assert "team signed 1100.00" in plan.assignments[0].reason


def test_uuid_and_string_ids_mix() -> None:
    user = UUID("00000000-0000-0000-0000-000000000001")
    plan = plan_fat_man(
        [cust("c", "A", by=str(user))], [Assignee(user_id=user, free_capacity=1), rep("top", "9")]
    )
    assert plan.assignments[0].user_id == user
    assert plan.assignments[0].reason == "discoverer priority"


@pytest.mark.parametrize(
    ("customers", "assignees", "loc"),
    [
        ([cust("c"), cust("c")], [rep("r")], ["customers", 1]),
        ([cust("c")], [rep("r"), rep("r")], ["assignees", 1]),
    ],
)
def test_duplicates_rejected(
    customers: list[Candidate], assignees: list[Assignee], loc: list[object]
) -> None:
    for planner in (plan_fat_man, plan_round_robin):
        with pytest.raises(InvalidInput) as caught:
            planner(customers, assignees)
        assert [e["loc"] for e in caught.value.errors] == [loc]


def test_empty_inputs() -> None:
    assert plan_fat_man([], [rep("r")]) == Plan()
    assert plan_round_robin([cust("c")], []).unassigned[0].reason == "no capacity"


# --- round robin ---------------------------------------------------------------------------


def test_round_robin_rotates_in_given_order() -> None:
    customers = [cust(f"c{i}", "B") for i in range(5)]
    plan = plan_round_robin(customers, [rep("r2"), rep("r1"), rep("r3")])
    assert [str(a.user_id) for a in plan.assignments] == ["r2", "r1", "r3", "r2", "r1"]
    assert plan.assignments[0].reason == "round robin (grade B)"


def test_round_robin_spreads_grade_a_and_skips_full() -> None:
    customers = [cust("c1", "C"), cust("a1", "A"), cust("a2", "A"), cust("b1", "B")]
    plan = plan_round_robin(customers, [rep("r1", capacity=1), rep("r2", capacity=2)])
    assert owners(plan) == {"a1": "r1", "a2": "r2", "b1": "r2"}
    assert [str(u.customer_id) for u in plan.unassigned] == ["c1"]


def test_round_robin_discoverer_priority_does_not_take_a_turn() -> None:
    customers = [cust("x", "A"), cust("mine", "C", by="r2"), cust("y", "A")]
    plan = plan_round_robin(customers, [rep("r1"), rep("r2")])
    assert owners(plan) == {"mine": "r2", "x": "r1", "y": "r2"}


def test_round_robin_is_deterministic() -> None:
    customers = [cust(f"c{i}", g) for i, g in enumerate("ABCABC")]
    assignees = [rep("r1", capacity=2), rep("r2", capacity=2), rep("r3", capacity=1)]
    assert plan_round_robin(customers, assignees) == plan_round_robin(customers, assignees)


# --- handover ------------------------------------------------------------------------------


def hand(customer_id: str, stage: Stage, grade: str | None = None) -> HandoverItem:
    return HandoverItem(customer_id=customer_id, stage=stage, grade=grade)


def test_handover_valuable_first_rest_to_pool() -> None:
    items = [
        hand("res", Stage.resource),
        hand("lead", Stage.lead),
        hand("int", Stage.intent, "A"),
        hand("sig", Stage.signed),
        hand("imp", Stage.implemented),
        hand("gra", Stage.graded),
    ]
    plan = plan_handover(items, [rep("top", "900", capacity=1), rep("next", "100", capacity=1)])
    assert owners(plan) == {"imp": "top", "sig": "top", "int": "top"}
    assert [str(a.customer_id) for a in plan.assignments] == ["imp", "sig", "int"]
    assert plan.assignments[0].reason == (
        "implemented customer to top seller (signed 900.00 in ranking window)"
        "; not counted against the holding limit"
    )
    assert [(str(u.customer_id), u.reason) for u in plan.unassigned] == [
        ("res", "back to pool (resource)"),
        ("lead", "back to pool (lead)"),
        ("gra", "back to pool (graded)"),
    ]


def test_handover_only_intent_consumes_capacity() -> None:
    items = [hand("i1", Stage.intent, "B"), hand("i2", Stage.intent, "A"), hand("s", Stage.signed)]
    plan = plan_handover(items, [rep("top", "900", capacity=1), rep("next", "100", capacity=1)])
    assert owners(plan) == {"s": "top", "i2": "top", "i1": "next"}


def test_handover_intent_without_capacity_goes_to_pool() -> None:
    items = [hand("i1", Stage.intent), hand("s", Stage.signed)]
    plan = plan_handover(items, [rep("top", "900", capacity=0), rep("next", "100", capacity=0)])
    # A signed customer breaks no limit, so it still goes to the best seller.
    assert owners(plan) == {"s": "top"}
    assert [(str(u.customer_id), u.reason) for u in plan.unassigned] == [("i1", "no capacity")]


def test_handover_without_assignees() -> None:
    plan = plan_handover([hand("s", Stage.signed), hand("l", Stage.lead)], [])
    assert plan.assignments == ()
    assert [u.reason for u in plan.unassigned] == ["no assignee", "back to pool (lead)"]


def test_handover_duplicates_rejected() -> None:
    with pytest.raises(InvalidInput):
        plan_handover([hand("s", Stage.signed), hand("s", Stage.lead)], [rep("r")])


# --- properties ----------------------------------------------------------------------------

USERS = ["u0", "u1", "u2", "u3"]
assignee_lists = st.lists(
    st.builds(
        Assignee,
        user_id=st.sampled_from(USERS),
        team_id=st.sampled_from(["t1", "t2"]),
        signed_amount=st.decimals(min_value=0, max_value=10**6, places=2),
        free_capacity=st.integers(min_value=-2, max_value=4),
    ),
    max_size=4,
    unique_by=lambda a: a.user_id,
)
candidate_lists = st.lists(
    st.builds(
        Candidate,
        customer_id=st.integers(min_value=0, max_value=10**6).map(lambda n: f"c{n}"),
        grade=st.sampled_from(["A", "B", "C", None]),
        discovered_by=st.one_of(st.none(), st.sampled_from([*USERS, "stranger"])),
    ),
    max_size=25,
    unique_by=lambda c: c.customer_id,
)


def check_plan_basics(plan: Plan, customer_ids: list[str], assignees: list[Assignee]) -> None:
    planned = [str(a.customer_id) for a in plan.assignments] + [str(u.customer_id) for u in plan.unassigned]
    assert Counter(planned) == Counter(customer_ids)  # every customer exactly once
    known = {a.user_id: a for a in assignees}
    for assignment in plan.assignments:
        assert assignment.user_id in known
        assert assignment.team_id == known[assignment.user_id].team_id


def check_capacity(plan: Plan, assignees: list[Assignee], counted: set[str]) -> None:
    load = Counter(str(a.user_id) for a in plan.assignments if str(a.customer_id) in counted)
    for assignee in assignees:
        assert load[assignee.user_id] <= max(assignee.free_capacity, 0)


@pytest.mark.parametrize("planner", [plan_fat_man, plan_round_robin])
@given(customers=candidate_lists, assignees=assignee_lists)
def test_plans_respect_capacity_and_grades(
    planner: object, customers: list[Candidate], assignees: list[Assignee]
) -> None:
    plan = planner(customers, assignees)  # type: ignore[operator]
    ids = [str(c.customer_id) for c in customers]
    check_plan_basics(plan, ids, assignees)
    check_capacity(plan, assignees, set(ids))
    total_free = sum(max(a.free_capacity, 0) for a in assignees)
    # Nobody is left out while capacity remains.
    assert len(plan.assignments) == min(len(customers), total_free)
    grades = {str(c.customer_id): c.grade for c in customers}
    by_rule = [a for a in plan.assignments if a.reason != "discoverer priority"]
    if plan.unassigned:
        # Capacity was short: no customer placed by grade ranks below one left out.
        worst_placed = max((grade_rank(grades[str(a.customer_id)]) for a in by_rule), default=-1)
        best_left = min(grade_rank(grades[str(u.customer_id)]) for u in plan.unassigned)
        assert worst_placed <= best_left
    for assignment in plan.assignments:
        if assignment.reason == "discoverer priority":
            customer = next(c for c in customers if c.customer_id == assignment.customer_id)
            assert customer.discovered_by == assignment.user_id


@given(customers=candidate_lists, assignees=assignee_lists)
def test_fat_man_never_skips_a_better_seller_with_room(
    customers: list[Candidate], assignees: list[Assignee]
) -> None:
    plan = plan_fat_man(customers, assignees)
    free = {a.user_id: max(a.free_capacity, 0) for a in assignees}
    rank = sorted(assignees, key=lambda a: (-a.signed_amount, a.user_id))
    for assignment in plan.assignments:
        if assignment.reason == "discoverer priority":
            free[str(assignment.user_id)] -= 1
    for assignment in plan.assignments:
        if assignment.reason == "discoverer priority":
            continue
        best = next(a for a in rank if free[a.user_id] > 0)
        assert assignment.user_id == best.user_id
        free[best.user_id] -= 1


handover_lists = st.lists(
    st.builds(
        HandoverItem,
        customer_id=st.integers(min_value=0, max_value=10**6).map(lambda n: f"c{n}"),
        stage=st.sampled_from([s for s in Stage if s != Stage.abandoned]),
        grade=st.sampled_from(["A", "B", "C", None]),
    ),
    max_size=25,
    unique_by=lambda c: c.customer_id,
)


@given(items=handover_lists, assignees=assignee_lists)
def test_handover_properties(items: list[HandoverItem], assignees: list[Assignee]) -> None:
    plan = plan_handover(items, assignees)
    check_plan_basics(plan, [str(i.customer_id) for i in items], assignees)
    active = {str(i.customer_id) for i in items if i.stage in ACTIVE_STAGES}
    check_capacity(plan, assignees, active)
    stage_of = {str(i.customer_id): i.stage for i in items}
    for assignment in plan.assignments:
        assert stage_of[str(assignment.customer_id)] in (
            Stage.intent,
            Stage.signed,
            Stage.implemented,
        )
    if assignees:
        # Signed and implemented customers are never sent to the pool.
        for left in plan.unassigned:
            assert stage_of[str(left.customer_id)] not in (Stage.signed, Stage.implemented)


# --- capacity-aware fat-man: the ideal holding per stage (SPEC §5) -------------------------

CAPS = {Stage.resource: None, Stage.graded: 10, Stage.contacted: 13, Stage.lead: 7, Stage.intent: 2}


def test_fat_man_stops_at_the_ideal_holding_and_the_next_seller_takes_the_rest() -> None:
    # The probe of issue 13: the top seller has 20 free slots but already holds 9 graded
    # customers and 2 intent; of 3 graded and 2 intent customers it takes 1 graded only.
    top = Assignee(
        user_id="top",
        team_id="t1",
        signed_amount=Decimal("900000"),
        free_capacity=20,
        held={Stage.graded: 9, Stage.intent: 2},
    )
    second = Assignee(user_id="second", team_id="t1", signed_amount=Decimal("100"), free_capacity=20)
    customers = [Candidate(customer_id=f"g{i}", grade="A", stage=Stage.graded) for i in range(3)]
    customers += [Candidate(customer_id=f"i{i}", grade="A", stage=Stage.intent) for i in range(2)]
    plan = plan_fat_man(customers, [second, top], caps=CAPS)
    assert owners(plan) == {"g0": "top", "g1": "second", "g2": "second", "i0": "second", "i1": "second"}
    first = plan.assignments[0]
    assert first.explanation is not None
    assert (
        first.explanation.rule,
        first.explanation.rank,
        first.explanation.free_capacity,
        first.explanation.stage_holding,
        first.explanation.stage_cap,
    ) == ("fat-man", 1, 20, 9, 10)
    assert first.explanation.signed_amount == Decimal("900000")
    later = next(a for a in plan.assignments if a.customer_id == "i1")
    assert later.explanation is not None
    assert (later.explanation.rank, later.explanation.stage_holding, later.explanation.stage_cap) == (2, 1, 2)
    assert "rank 2" in later.explanation.sentence() and "ideal 2" in later.explanation.sentence()


def test_nobody_under_the_ideal_holding_leaves_it_in_the_pool() -> None:
    full = Assignee(user_id="full", free_capacity=30, held={Stage.intent: 2})
    plan = plan_fat_man([Candidate(customer_id="c", stage=Stage.intent)], [full], caps=CAPS)
    assert plan.assignments == () and plan.unassigned[0].reason == "no capacity"


staged_candidates = st.lists(
    st.builds(
        Candidate,
        customer_id=st.integers(min_value=0, max_value=10**6).map(lambda n: f"c{n}"),
        grade=st.sampled_from(["A", "B", "C", None]),
        stage=st.sampled_from(sorted(ACTIVE_STAGES, key=str)),
        discovered_by=st.one_of(st.none(), st.sampled_from(["u0", "u1", "u2"])),
    ),
    max_size=30,
    unique_by=lambda c: c.customer_id,
)
staged_assignees = st.lists(
    st.builds(
        Assignee,
        user_id=st.sampled_from(["u0", "u1", "u2", "u3"]),
        team_id=st.sampled_from(["t1", "t2"]),
        signed_amount=st.integers(0, 5).map(Decimal),
        free_capacity=st.integers(-1, 12),
        held=st.dictionaries(st.sampled_from(sorted(ACTIVE_STAGES, key=str)), st.integers(0, 14)),
    ),
    max_size=4,
    unique_by=lambda a: a.user_id,
)


@pytest.mark.parametrize("planner", [plan_fat_man, plan_round_robin])
@given(customers=staged_candidates, assignees=staged_assignees)
def test_every_allocation_respects_the_ideal_holding_caps(
    planner: object, customers: list[Candidate], assignees: list[Assignee]
) -> None:
    plan = planner(customers, assignees, caps=CAPS)  # type: ignore[operator]
    check_plan_basics(plan, [str(c.customer_id) for c in customers], assignees)
    check_capacity(plan, assignees, {str(c.customer_id) for c in customers})
    stage_of = {str(c.customer_id): c.stage for c in customers}
    added = Counter((str(a.user_id), stage_of[str(a.customer_id)]) for a in plan.assignments)
    by_id = {a.user_id: a for a in assignees}
    for (user, stage), count in added.items():
        cap = CAPS[stage]
        if cap is not None:
            assert by_id[user].held.get(stage, 0) + count <= cap
    for assignment in plan.assignments:  # every line explains itself
        explanation = assignment.explanation
        assert explanation is not None and explanation.free_capacity > 0
        assert explanation.stage == stage_of[str(assignment.customer_id)]
        assert explanation.stage_cap is None or explanation.stage_holding < explanation.stage_cap


@given(customers=staged_candidates, assignees=staged_assignees)
def test_capacity_aware_fat_man_never_skips_a_better_seller_with_room(
    customers: list[Candidate], assignees: list[Assignee]
) -> None:
    plan = plan_fat_man(customers, assignees, caps=CAPS)
    rank = sorted(assignees, key=lambda a: (-a.signed_amount, a.user_id))
    free = {a.user_id: max(a.free_capacity, 0) for a in assignees}
    load = Counter({(a.user_id, s): n for a in assignees for s, n in a.held.items()})
    stage_of = {str(c.customer_id): c.stage for c in customers}

    def room(user: str, stage: Stage) -> bool:
        cap = CAPS[stage]
        return free[user] > 0 and (cap is None or load[user, stage] < cap)

    def take(user: str, stage: Stage) -> None:
        free[user] -= 1
        load[user, stage] += 1

    for assignment in plan.assignments:
        if assignment.reason == "discoverer priority":
            take(str(assignment.user_id), stage_of[str(assignment.customer_id)])
    for assignment in plan.assignments:
        if assignment.reason == "discoverer priority":
            continue
        stage = stage_of[str(assignment.customer_id)]
        best = next(a for a in rank if room(a.user_id, stage))
        assert assignment.user_id == best.user_id
        assert assignment.explanation is not None
        assert assignment.explanation.rank == rank.index(best) + 1
        take(best.user_id, stage)

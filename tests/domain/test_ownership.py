"""Pool and ownership rules (SPEC §5): limits, claims, protection, cooldown, worklist."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import Conflict, Forbidden, InvalidInput
from app.domain.funnel import Stage
from app.domain.ownership import (
    DEFAULT_POOL_POLICY,
    WORK_REASONS,
    AlreadyClaimed,
    InCooldown,
    InitialOwner,
    PoolPolicy,
    QuotaExceeded,
    ReclaimBlocked,
    WorkItemFacts,
    check_claimable,
    check_discovery_quota,
    check_not_reclaim_blocked,
    check_quota,
    cooldown_end,
    decide_initial_owner,
    fits_discovery_quota,
    is_protection_lapsed,
    is_reclaim_blocked,
    lapses_within,
    protection_deadline,
    reasons,
    reclaim_blocked_until,
    validate_pool_policy,
    work_reasons,
    worklist_sort_key,
)
from app.domain.roles import Principal, Role

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)
POLICY = DEFAULT_POOL_POLICY


# --- policy --------------------------------------------------------------------------------


def test_default_pool_policy() -> None:
    assert validate_pool_policy(POLICY) is POLICY
    assert (
        POLICY.max_active_customers,
        POLICY.protection_days,
        POLICY.cooldown_days,
        POLICY.ranking_days,
    ) == (30, 7, 90, 90)
    validate_pool_policy(PoolPolicy(max_active_customers=1, protection_days=1, cooldown_days=0))


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"max_active_customers": 0}, "max_active_customers"),
        ({"protection_days": 0}, "protection_days"),
        ({"cooldown_days": -1}, "cooldown_days"),
        ({"ranking_days": 0}, "ranking_days"),
        ({"ranking_days": True}, "ranking_days"),
        ({"protection_days": 7.5}, "protection_days"),
    ],
)
def test_invalid_pool_policy(changes: dict[str, object], loc: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_pool_policy(replace(POLICY, **changes))
    assert [error["loc"] for error in caught.value.errors] == [[loc]]


# --- protection period ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last_contact_at", "claimed_at", "deadline"),
    [
        (None, None, None),
        (NOW, None, NOW + 7 * DAY),
        (None, NOW, NOW + 7 * DAY),
        (NOW - 3 * DAY, NOW, NOW + 7 * DAY),  # claim later than contact
        (NOW, NOW - 3 * DAY, NOW + 7 * DAY),  # contact later than claim
    ],
)
def test_protection_deadline(
    last_contact_at: datetime | None, claimed_at: datetime | None, deadline: datetime | None
) -> None:
    assert (
        protection_deadline(last_contact_at=last_contact_at, claimed_at=claimed_at, policy=POLICY) == deadline
    )


@pytest.mark.parametrize(
    ("age", "lapsed", "lapsing"),
    [
        (timedelta(0), False, False),
        (5 * DAY - TICK, False, False),  # deadline 2 days + 1 µs away
        (5 * DAY, False, True),  # exactly 2 days away
        (7 * DAY - TICK, False, True),
        (7 * DAY, False, True),  # "more than 7 days": the deadline itself still holds
        (7 * DAY + TICK, True, False),
        (30 * DAY, True, False),
    ],
)
def test_protection_boundaries(age: timedelta, lapsed: bool, lapsing: bool) -> None:
    facts = {"last_contact_at": NOW - age, "claimed_at": NOW - 20 * DAY, "policy": POLICY}
    assert is_protection_lapsed(now=NOW, **facts) is lapsed
    assert lapses_within(now=NOW, **facts) is lapsing


def test_no_clock_never_lapses() -> None:
    assert not is_protection_lapsed(last_contact_at=None, claimed_at=None, now=NOW, policy=POLICY)
    assert not lapses_within(last_contact_at=None, claimed_at=None, now=NOW, policy=POLICY)


def test_lapses_within_custom_window_and_policy() -> None:
    policy = replace(POLICY, protection_days=3)
    contact = NOW - DAY  # deadline in 2 days
    assert not lapses_within(last_contact_at=contact, claimed_at=None, now=NOW, policy=policy, days=1)
    assert lapses_within(last_contact_at=contact, claimed_at=None, now=NOW, policy=policy, days=2)


# --- quota and claims ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("active", "adding", "ok"),
    [
        (0, 1, True),
        (29, 1, True),
        (30, 1, False),
        (31, 1, False),
        (28, 2, True),
        (29, 2, False),
        (30, 0, True),
    ],
)
def test_check_quota(active: int, adding: int, ok: bool) -> None:
    if ok:
        check_quota(active, policy=POLICY, adding=adding)
        return
    with pytest.raises(QuotaExceeded) as caught:
        check_quota(active, policy=POLICY, adding=adding)
    assert isinstance(caught.value, Conflict)
    assert caught.value.code == "pool.quota_exceeded"
    assert caught.value.extra == {"limit": 30, "active": active}


def test_check_quota_uses_policy() -> None:
    with pytest.raises(QuotaExceeded) as caught:
        check_quota(2, policy=replace(POLICY, max_active_customers=2))
    assert caught.value.extra["limit"] == 2


@pytest.mark.parametrize("override", [False, True])
def test_owned_customer_is_never_claimable(override: bool) -> None:
    with pytest.raises(AlreadyClaimed) as caught:
        check_claimable(owner_id="u-1", cooldown_until=None, now=NOW, director_override=override)
    assert caught.value.code == "pool.already_claimed"
    assert isinstance(caught.value, Conflict)


@pytest.mark.parametrize(
    ("cooldown_until", "override", "ok"),
    [
        (None, False, True),
        (NOW - TICK, False, True),
        (NOW, False, True),
        (NOW + TICK, False, False),
        (NOW + 30 * DAY, False, False),
        (NOW + 30 * DAY, True, True),
    ],
)
def test_check_claimable_cooldown(cooldown_until: datetime | None, override: bool, ok: bool) -> None:
    kwargs = {"owner_id": None, "cooldown_until": cooldown_until, "now": NOW}
    if ok:
        check_claimable(director_override=override, **kwargs)
        return
    with pytest.raises(InCooldown) as caught:
        check_claimable(director_override=override, **kwargs)
    assert caught.value.code == "pool.cooldown_active"
    assert caught.value.extra == {"cooldown_until": cooldown_until.isoformat()}


def test_cooldown_end() -> None:
    assert cooldown_end(NOW, policy=POLICY) == NOW + 90 * DAY
    assert cooldown_end(NOW, policy=replace(POLICY, cooldown_days=0)) == NOW


# --- worklist ------------------------------------------------------------------------------


def item(
    customer_id: str, stage: Stage = Stage.lead, *codes: str, days: Decimal | None = None
) -> WorkItemFacts:
    return WorkItemFacts(
        customer_id=customer_id, stage=stage, reasons=frozenset(codes), days_in_previous_stage=days
    )


def ordered(*items: WorkItemFacts) -> list[str]:
    return [str(i.customer_id) for i in sorted(items, key=worklist_sort_key)]


def test_worklist_stage_order_bottom_up() -> None:
    stages = [
        Stage.resource,
        Stage.graded,
        Stage.contacted,
        Stage.lead,
        Stage.intent,
        Stage.signed,
        Stage.implemented,
    ]
    items = [item(f"c{i}", stage, "stalled") for i, stage in enumerate(stages)]
    assert ordered(*items) == ["c6", "c5", "c4", "c3", "c2", "c1", "c0"]


def test_worklist_stage_beats_urgency() -> None:
    urgent_resource = item("r", Stage.resource, "protection_lapsing", "follow_up_due")
    calm_signed = item("s", Stage.signed, "not_contacted")
    assert ordered(urgent_resource, calm_signed) == ["s", "r"]


def test_worklist_urgency_order_is_the_most_urgent_reason() -> None:
    items = [
        item("new", Stage.lead, "not_contacted"),
        item("overdue", Stage.lead, "payment_overdue"),
        item("stalled", Stage.lead, "stalled"),
        item("follow", Stage.lead, "follow_up_due"),
        item("task", Stage.lead, "task_due"),
        item("lapsing", Stage.lead, "protection_lapsing"),
    ]
    assert ordered(*items) == ["overdue", "lapsing", "follow", "task", "stalled", "new"]


def test_fast_movers_break_ties_within_the_same_urgency_not_after_all_flags() -> None:
    # Both lapse: the fast mover comes first although the slow one is also stalled.
    fast = item("fast", Stage.intent, "protection_lapsing", days=Decimal("0.5"))
    slow = item("slow", Stage.intent, "protection_lapsing", "stalled", days=Decimal("9"))
    none = item("none", Stage.intent, "protection_lapsing")
    assert ordered(slow, none, fast) == ["fast", "slow", "none"]


def test_worklist_ties_broken_by_id() -> None:
    assert ordered(
        item("b", Stage.lead, "stalled"), item("a", Stage.lead, "stalled"), item("c", Stage.lead, "stalled")
    ) == ["a", "b", "c"]


def test_reasons_most_urgent_first() -> None:
    assert reasons(item("x")) == []
    assert reasons(item("x", Stage.lead, *WORK_REASONS)) == list(WORK_REASONS)
    assert reasons(item("x", Stage.lead, "stalled", "payment_overdue")) == ["payment_overdue", "stalled"]


def facts(**overrides: object) -> frozenset[str]:
    base: dict[str, object] = dict(
        stage=Stage.lead,
        now=NOW,
        policy=POLICY,
        last_contact_at=NOW - DAY,
        claimed_at=NOW - 3 * DAY,
        follow_up_at=None,
        task_due=False,
        stalled=False,
        payment_overdue=False,
    )
    base.update(overrides)
    return work_reasons(**base)  # type: ignore[arg-type]


def test_work_reasons() -> None:
    assert facts() == frozenset()  # contacted yesterday: nothing to do today
    assert facts(last_contact_at=None) == {"not_contacted"}
    assert facts(last_contact_at=NOW - 6 * DAY, claimed_at=NOW - 9 * DAY) == {"protection_lapsing"}
    assert (
        facts(
            last_contact_at=NOW - 6 * DAY,
            claimed_at=NOW - 9 * DAY,
            policy=replace(POLICY, lapse_warning_days=0),
        )
        == frozenset()
    )
    assert facts(follow_up_at=NOW - TICK) == {"follow_up_due"}
    assert facts(follow_up_at=NOW - 2 * DAY) == frozenset()  # contact made since
    assert facts(follow_up_at=NOW + DAY) == frozenset()
    assert facts(task_due=True, stalled=True, payment_overdue=True) == {
        "task_due",
        "stalled",
        "payment_overdue",
    }
    # A signed customer has no protection clock and is not a "new claim".
    assert facts(stage=Stage.signed, last_contact_at=None, claimed_at=NOW - 30 * DAY) == frozenset()


work_items = st.builds(
    WorkItemFacts,
    customer_id=st.uuids().map(str),
    stage=st.sampled_from([s for s in Stage if s != Stage.abandoned]),
    reasons=st.frozensets(st.sampled_from(WORK_REASONS)),
    days_in_previous_stage=st.one_of(st.none(), st.decimals(min_value=0, max_value=400, places=2)),
)
BOTTOM_UP = [
    Stage.implemented,
    Stage.signed,
    Stage.intent,
    Stage.lead,
    Stage.contacted,
    Stage.graded,
    Stage.resource,
]


@given(st.lists(work_items, max_size=30))
def test_worklist_order_properties(items: list[WorkItemFacts]) -> None:
    result = sorted(items, key=worklist_sort_key)
    assert sorted(reversed(items), key=worklist_sort_key) == result  # input order irrelevant
    for first, second in pairwise(result):
        rank_first, rank_second = BOTTOM_UP.index(first.stage), BOTTOM_UP.index(second.stage)
        assert rank_first <= rank_second
        if rank_first == rank_second:
            # Within a stage the most urgent reason never comes second ...
            top = [min((WORK_REASONS.index(c) for c in i.reasons), default=99) for i in (first, second)]
            assert top[0] <= top[1]
            # ... and within the same urgency, the faster mover comes first.
            if top[0] == top[1] and None not in (first.days_in_previous_stage, second.days_in_previous_stage):
                assert first.days_in_previous_stage <= second.days_in_previous_stage


# --- a new customer's owner ---------------------------------------------------------------

_REP = Principal(user_id=uuid.UUID(int=1), role=Role.rep, team_id=uuid.UUID(int=9))
_SUPPORT = Principal(user_id=uuid.UUID(int=2), role=Role.support, team_id=None)
_OTHER = uuid.UUID(int=3)


def test_a_rep_owns_the_customer_they_create_while_under_the_limit():
    limit = DEFAULT_POOL_POLICY.max_active_customers
    decision = decide_initial_owner(
        creator=_REP,
        requested_owner_id=None,
        source="self_discovered",
        policy=DEFAULT_POOL_POLICY,
        creator_active=limit - 1,
    )
    assert decision == InitialOwner(owner_id=_REP.user_id, discovered_by=_REP.user_id)


def test_a_rep_at_the_limit_leaves_their_find_in_the_pool_marked_as_theirs():
    limit = DEFAULT_POOL_POLICY.max_active_customers
    decision = decide_initial_owner(
        creator=_REP,
        requested_owner_id=None,
        source="self_discovered",
        policy=DEFAULT_POOL_POLICY,
        creator_active=limit,
    )
    assert decision == InitialOwner(owner_id=None, discovered_by=_REP.user_id)


def test_a_rep_names_only_themselves_as_owner():
    with pytest.raises(Forbidden):
        decide_initial_owner(
            creator=_REP, requested_owner_id=_OTHER, source="web", policy=DEFAULT_POOL_POLICY
        )
    decision = decide_initial_owner(
        creator=_REP, requested_owner_id=_REP.user_id, source="web", policy=DEFAULT_POOL_POLICY
    )
    assert decision == InitialOwner(owner_id=_REP.user_id, discovered_by=None)


def test_a_rep_naming_no_owner_needs_their_active_count():
    with pytest.raises(ValueError, match="creator_active"):
        decide_initial_owner(creator=_REP, requested_owner_id=None, source="web", policy=DEFAULT_POOL_POLICY)


def test_other_roles_leave_the_customer_in_the_pool_unless_they_name_an_owner():
    assert decide_initial_owner(
        creator=_SUPPORT, requested_owner_id=None, source="web", policy=DEFAULT_POOL_POLICY
    ) == InitialOwner(owner_id=None, discovered_by=None)
    assert decide_initial_owner(
        creator=_SUPPORT, requested_owner_id=_OTHER, source="referral", policy=DEFAULT_POOL_POLICY
    ) == InitialOwner(owner_id=_OTHER, discovered_by=None)


def test_the_finder_of_a_self_discovered_customer():
    # Created in the API: whoever creates it found it.
    assert (
        decide_initial_owner(
            creator=_SUPPORT, requested_owner_id=_OTHER, source="self_discovered", policy=DEFAULT_POOL_POLICY
        ).discovered_by
        == _SUPPORT.user_id
    )
    # Imported: the owner the file names found it; with no owner nobody is recorded.
    assert (
        decide_initial_owner(
            creator=_SUPPORT,
            requested_owner_id=_OTHER,
            source="self_discovered",
            policy=DEFAULT_POOL_POLICY,
            found_by_owner=True,
        ).discovered_by
        == _OTHER
    )
    assert (
        decide_initial_owner(
            creator=_SUPPORT,
            requested_owner_id=None,
            source="self_discovered",
            policy=DEFAULT_POOL_POLICY,
            found_by_owner=True,
        ).discovered_by
        is None
    )


# --- reclaim block ---------------------------------------------------------------------


def test_reclaim_block_runs_reclaim_block_days_from_the_loss():
    policy = PoolPolicy(reclaim_block_days=7)
    lost = NOW - timedelta(days=3)
    assert reclaim_blocked_until(lost, policy=policy) == lost + timedelta(days=7)
    assert reclaim_blocked_until(None, policy=policy) is None
    assert is_reclaim_blocked(lost, now=NOW, policy=policy)
    assert not is_reclaim_blocked(lost, now=lost + timedelta(days=7), policy=policy)
    assert not is_reclaim_blocked(None, now=NOW, policy=policy)
    assert not is_reclaim_blocked(lost, now=NOW, policy=PoolPolicy(reclaim_block_days=0))


def test_check_reclaim_block_raises_with_until_unless_overridden():
    policy = PoolPolicy(reclaim_block_days=7)
    lost = NOW - timedelta(days=1)
    with pytest.raises(ReclaimBlocked) as caught:
        check_not_reclaim_blocked(lost, now=NOW, policy=policy)
    assert caught.value.code == "pool.reclaim_blocked"
    assert caught.value.extra["blocked_until"] == (lost + timedelta(days=7)).isoformat()
    assert check_not_reclaim_blocked(lost, now=NOW, policy=policy, manual_override=True) is True
    assert check_not_reclaim_blocked(None, now=NOW, policy=policy) is False


# --- discovery bonus -------------------------------------------------------------------


@given(
    active=st.integers(0, 60),
    discovered=st.integers(0, 60),
    limit=st.integers(1, 30),
    bonus=st.integers(0, 10),
)
def test_the_discovery_bonus_never_exceeds_limit_plus_bonus(active, discovered, limit, bonus):
    policy = PoolPolicy(max_active_customers=limit, discovery_bonus=bonus)
    discovered = min(discovered, active)
    fits = fits_discovery_quota(active, discovered_active=discovered, policy=policy)
    if fits:
        assert active + 1 <= limit + bonus
    # Under the limit an own find always fits; the bonus never lends slots to other finds.
    if active < limit:
        assert fits
    if fits and active + 1 > limit:
        assert active + 1 - limit <= discovered + 1


def test_check_discovery_quota_names_the_bonus():
    policy = PoolPolicy(max_active_customers=2, discovery_bonus=1)
    check_discovery_quota(2, discovered_active=0, policy=policy)
    with pytest.raises(QuotaExceeded) as caught:
        check_discovery_quota(3, discovered_active=3, policy=policy)
    assert (caught.value.extra["limit"], caught.value.extra["discovery_bonus"]) == (2, 1)


def test_a_reps_own_find_past_the_limit_uses_the_discovery_bonus():
    policy = PoolPolicy(max_active_customers=2, discovery_bonus=1)
    own = decide_initial_owner(
        creator=_REP,
        requested_owner_id=None,
        source="self_discovered",
        policy=policy,
        creator_active=2,
        creator_discovered=0,
    )
    assert own == InitialOwner(owner_id=_REP.user_id, discovered_by=_REP.user_id)
    full = decide_initial_owner(
        creator=_REP,
        requested_owner_id=None,
        source="self_discovered",
        policy=policy,
        creator_active=3,
        creator_discovered=1,
    )
    assert full == InitialOwner(owner_id=None, discovered_by=_REP.user_id)
    bought = decide_initial_owner(
        creator=_REP,
        requested_owner_id=None,
        source="web",
        policy=policy,
        creator_active=2,
        creator_discovered=0,
    )
    assert bought.owner_id is None

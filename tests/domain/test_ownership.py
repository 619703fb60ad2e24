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
    AlreadyClaimed,
    InCooldown,
    InitialOwner,
    PoolPolicy,
    QuotaExceeded,
    WorkItemFacts,
    check_claimable,
    check_quota,
    cooldown_end,
    decide_initial_owner,
    is_protection_lapsed,
    lapses_within,
    protection_deadline,
    reasons,
    validate_pool_policy,
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
        protection_deadline(last_contact_at=last_contact_at, claimed_at=claimed_at, policy=POLICY)
        == deadline
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
    assert not lapses_within(
        last_contact_at=contact, claimed_at=None, now=NOW, policy=policy, days=1
    )
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
def test_check_claimable_cooldown(
    cooldown_until: datetime | None, override: bool, ok: bool
) -> None:
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


def item(customer_id: str, stage: Stage = Stage.lead, **flags: object) -> WorkItemFacts:
    return WorkItemFacts(customer_id=customer_id, stage=stage, **flags)  # type: ignore[arg-type]


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
    items = [item(f"c{i}", stage, stalled=True) for i, stage in enumerate(stages)]
    assert ordered(*items) == ["c6", "c5", "c4", "c3", "c2", "c1", "c0"]


def test_worklist_stage_beats_urgency() -> None:
    urgent_resource = item("r", Stage.resource, protection_lapsing=True, follow_up_due=True)
    calm_signed = item("s", Stage.signed)
    assert ordered(urgent_resource, calm_signed) == ["s", "r"]


def test_worklist_urgency_order() -> None:
    items = [
        item("none"),
        item("overdue", payment_overdue=True),
        item("stalled", stalled=True),
        item("follow", follow_up_due=True),
        item("lapsing", protection_lapsing=True),
        item("follow+stalled", follow_up_due=True, stalled=True),
    ]
    assert ordered(*items) == ["lapsing", "follow+stalled", "follow", "stalled", "overdue", "none"]


def test_worklist_fast_movers_first() -> None:
    items = [
        item("slow", days_in_previous_stage=Decimal("9.50")),
        item("none"),
        item("fast", days_in_previous_stage=Decimal("0.25")),
        item("mid", days_in_previous_stage=Decimal("3")),
    ]
    assert ordered(*items) == ["fast", "mid", "slow", "none"]


def test_worklist_ties_broken_by_id() -> None:
    assert ordered(item("b"), item("a"), item("c")) == ["a", "b", "c"]


def test_reasons() -> None:
    assert reasons(item("x")) == []
    everything = item(
        "x", protection_lapsing=True, follow_up_due=True, stalled=True, payment_overdue=True
    )
    assert reasons(everything) == [
        "protection_lapsing",
        "follow_up_due",
        "stalled",
        "payment_overdue",
    ]
    assert reasons(item("x", stalled=True, payment_overdue=True)) == ["stalled", "payment_overdue"]


work_items = st.builds(
    WorkItemFacts,
    customer_id=st.uuids().map(str),
    stage=st.sampled_from([s for s in Stage if s != Stage.abandoned]),
    protection_lapsing=st.booleans(),
    follow_up_due=st.booleans(),
    stalled=st.booleans(),
    payment_overdue=st.booleans(),
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
        if rank_first == rank_second and reasons(first) != reasons(second):
            # Among the same stage, the more urgent flag set never comes second.
            flags = ["protection_lapsing", "follow_up_due", "stalled", "payment_overdue"]
            as_bits = [[code in reasons(i) for code in flags] for i in (first, second)]
            assert as_bits[0] >= as_bits[1]


# --- a new customer's owner ---------------------------------------------------------------

_REP = Principal(user_id=uuid.UUID(int=1), role=Role.rep, team_id=uuid.UUID(int=9))
_SUPPORT = Principal(user_id=uuid.UUID(int=2), role=Role.support, team_id=None)
_OTHER = uuid.UUID(int=3)


def test_a_rep_owns_the_customer_they_create_while_under_the_limit():
    limit = DEFAULT_POOL_POLICY.max_active_customers
    decision = decide_initial_owner(creator=_REP, requested_owner_id=None, source="self_discovered",
                                    policy=DEFAULT_POOL_POLICY, creator_active=limit - 1)
    assert decision == InitialOwner(owner_id=_REP.user_id, discovered_by=_REP.user_id)


def test_a_rep_at_the_limit_leaves_their_find_in_the_pool_marked_as_theirs():
    limit = DEFAULT_POOL_POLICY.max_active_customers
    decision = decide_initial_owner(creator=_REP, requested_owner_id=None, source="self_discovered",
                                    policy=DEFAULT_POOL_POLICY, creator_active=limit)
    assert decision == InitialOwner(owner_id=None, discovered_by=_REP.user_id)


def test_a_rep_names_only_themselves_as_owner():
    with pytest.raises(Forbidden):
        decide_initial_owner(creator=_REP, requested_owner_id=_OTHER, source="web",
                             policy=DEFAULT_POOL_POLICY)
    decision = decide_initial_owner(creator=_REP, requested_owner_id=_REP.user_id, source="web",
                                    policy=DEFAULT_POOL_POLICY)
    assert decision == InitialOwner(owner_id=_REP.user_id, discovered_by=None)


def test_a_rep_naming_no_owner_needs_their_active_count():
    with pytest.raises(ValueError, match="creator_active"):
        decide_initial_owner(creator=_REP, requested_owner_id=None, source="web",
                             policy=DEFAULT_POOL_POLICY)


def test_other_roles_leave_the_customer_in_the_pool_unless_they_name_an_owner():
    assert decide_initial_owner(creator=_SUPPORT, requested_owner_id=None, source="web",
                                policy=DEFAULT_POOL_POLICY) == InitialOwner(owner_id=None,
                                                                              discovered_by=None)
    assert decide_initial_owner(creator=_SUPPORT, requested_owner_id=_OTHER, source="referral",
                                policy=DEFAULT_POOL_POLICY) == InitialOwner(owner_id=_OTHER,
                                                                              discovered_by=None)


def test_the_finder_of_a_self_discovered_customer():
    # Created in the API: whoever creates it found it.
    assert decide_initial_owner(creator=_SUPPORT, requested_owner_id=_OTHER, source="self_discovered",
                                policy=DEFAULT_POOL_POLICY).discovered_by == _SUPPORT.user_id
    # Imported: the owner the file names found it; with no owner nobody is recorded.
    assert decide_initial_owner(creator=_SUPPORT, requested_owner_id=_OTHER, source="self_discovered",
                                policy=DEFAULT_POOL_POLICY, found_by_owner=True).discovered_by == _OTHER
    assert decide_initial_owner(creator=_SUPPORT, requested_owner_id=None, source="self_discovered",
                                policy=DEFAULT_POOL_POLICY, found_by_owner=True).discovered_by is None

"""Service rules (SPEC §10): the complaint state machine (every pair of statuses), deadlines
across days, overdue, responded on time, the settings' validation, CSAT and NPS."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from decimal import Decimal

import pytest

from app.domain.errors import ComplaintInvalidTransition, InvalidInput
from app.domain.service import (
    DEFAULT_SERVICE_POLICY,
    ComplaintStatus,
    ServicePolicy,
    Severity,
    csat_average,
    deadlines,
    is_overdue,
    net_promoter_score,
    responded_on_time,
    service_figures,
    transition,
    validate_score,
    validate_service_policy,
)

S = ComplaintStatus
NOW = dt.datetime(2026, 12, 4, 22, 30, tzinfo=dt.UTC)  # a Friday evening
EARLIER = NOW - dt.timedelta(hours=5)

LEGAL = {
    (S.open, S.in_progress),
    (S.in_progress, S.resolved),
    (S.resolved, S.closed),
    (S.resolved, S.in_progress),
}


def move(current: S, target: S, **stamps):
    values = {"responded_at": None, "resolved_at": None, "closed_at": None, **stamps}
    return transition(current=current, target=target, now=NOW, **values)


@pytest.mark.parametrize(("current", "target"), sorted(LEGAL))
def test_each_legal_move(current: S, target: S) -> None:
    assert move(current, target).status is target


@pytest.mark.parametrize(("current", "target"), [p for p in itertools.product(S, S) if p not in LEGAL])
def test_every_other_move_is_refused_with_the_allowed_targets(current: S, target: S) -> None:
    with pytest.raises(ComplaintInvalidTransition) as caught:
        move(current, target)
    assert caught.value.code == "complaint.invalid_transition"
    assert caught.value.extra == {
        "from": current.value,
        "to": target.value,
        "allowed": sorted(t.value for c, t in LEGAL if c is current),
    }


def test_closed_is_final() -> None:
    assert all((S.closed, t) not in LEGAL for t in S)


def test_first_response_is_stamped_once_and_survives_a_reopen() -> None:
    started = move(S.open, S.in_progress)
    assert started.responded_at == NOW and started.resolved_at is None
    resolved = move(S.in_progress, S.resolved, responded_at=EARLIER)
    assert (resolved.responded_at, resolved.resolved_at) == (EARLIER, NOW)
    reopened = move(S.resolved, S.in_progress, responded_at=EARLIER, resolved_at=EARLIER)
    assert reopened.responded_at == EARLIER and reopened.resolved_at is None
    closed = move(S.resolved, S.closed, responded_at=EARLIER, resolved_at=EARLIER)
    assert (closed.resolved_at, closed.closed_at) == (EARLIER, NOW)


def at(day: int, hour: int = 22, minute: int = 30) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("severity", "respond", "resolve"),
    [
        (Severity.critical, at(5, 2), at(5)),  # 4 h: past midnight into Saturday
        (Severity.high, at(5), at(7)),
        (Severity.medium, at(7), at(11)),  # 72 h over the weekend: Monday evening
        (Severity.low, at(11), at(18)),
    ],
)
def test_default_deadlines_run_around_the_clock(severity, respond, resolve) -> None:
    assert deadlines(severity=severity, opened_at=NOW, policy=DEFAULT_SERVICE_POLICY) == (respond, resolve)


def test_deadlines_cross_month_and_year_ends() -> None:
    opened = dt.datetime(2026, 12, 31, 23, 0, tzinfo=dt.UTC)
    respond, resolve = deadlines(severity=Severity.low, opened_at=opened, policy=DEFAULT_SERVICE_POLICY)
    assert respond == dt.datetime(2027, 1, 7, 23, 0, tzinfo=dt.UTC)
    assert resolve == dt.datetime(2027, 1, 14, 23, 0, tzinfo=dt.UTC)


def test_deadlines_follow_the_policy() -> None:
    policy = dataclasses.replace(
        DEFAULT_SERVICE_POLICY,
        respond_within_hours={**DEFAULT_SERVICE_POLICY.respond_within_hours, Severity.high: 30},
    )
    respond, _ = deadlines(severity=Severity.high, opened_at=NOW, policy=policy)
    assert respond == NOW + dt.timedelta(hours=30)


class TestOverdue:
    RESPOND = NOW
    RESOLVE = NOW + dt.timedelta(days=2)

    def overdue(self, status: S, at: dt.datetime) -> bool:
        return is_overdue(status=status, respond_by=self.RESPOND, resolve_by=self.RESOLVE, now=at)

    def test_open_is_overdue_only_after_respond_by(self) -> None:
        assert not self.overdue(S.open, NOW)
        assert self.overdue(S.open, NOW + dt.timedelta(seconds=1))

    def test_in_progress_is_overdue_only_after_resolve_by(self) -> None:
        assert not self.overdue(S.in_progress, NOW + dt.timedelta(days=1))
        assert not self.overdue(S.in_progress, self.RESOLVE)
        assert self.overdue(S.in_progress, self.RESOLVE + dt.timedelta(seconds=1))

    @pytest.mark.parametrize("status", [S.resolved, S.closed])
    def test_resolved_and_closed_are_never_overdue(self, status: S) -> None:
        assert not self.overdue(status, self.RESOLVE + dt.timedelta(days=30))


def test_responded_on_time() -> None:
    assert responded_on_time(responded_at=NOW, respond_by=NOW)
    assert not responded_on_time(responded_at=NOW + dt.timedelta(seconds=1), respond_by=NOW)
    assert not responded_on_time(responded_at=None, respond_by=NOW)


class TestPolicyValidation:
    def test_defaults_are_valid(self) -> None:
        assert validate_service_policy(DEFAULT_SERVICE_POLICY) is DEFAULT_SERVICE_POLICY

    @pytest.mark.parametrize(
        ("hours", "days", "loc"),
        [
            ({Severity.critical: 0}, {}, ["respond_within_hours", "critical"]),
            ({}, {Severity.low: 366}, ["resolve_within_days", "low"]),
            ({Severity.critical: 48}, {}, ["respond_within_hours"]),  # more than high's 24
            ({Severity.critical: 30, Severity.high: 30}, {}, ["respond_within_hours", "critical"]),  # > 1 day
            ({}, {Severity.low: 5}, ["resolve_within_days"]),  # low shorter than medium
        ],
    )
    def test_refused(self, hours, days, loc) -> None:
        policy = ServicePolicy(
            respond_within_hours={**DEFAULT_SERVICE_POLICY.respond_within_hours, **hours},
            resolve_within_days={**DEFAULT_SERVICE_POLICY.resolve_within_days, **days},
        )
        with pytest.raises(InvalidInput) as caught:
            validate_service_policy(policy)
        assert loc in [e["loc"] for e in caught.value.errors]

    def test_missing_severity(self) -> None:
        hours = dict(DEFAULT_SERVICE_POLICY.respond_within_hours)
        del hours[Severity.low]
        with pytest.raises(InvalidInput):
            validate_service_policy(ServicePolicy(respond_within_hours=hours))


class TestSurveys:
    @pytest.mark.parametrize(
        ("kind", "score", "ok"),
        [
            ("csat", 1, True),
            ("csat", 5, True),
            ("csat", 0, False),
            ("csat", 6, False),
            ("nps", 0, True),
            ("nps", 10, True),
            ("nps", 11, False),
            ("nps", -1, False),
        ],
    )
    def test_score_ranges(self, kind, score, ok) -> None:
        from app.domain.service import SurveyKind

        if ok:
            assert validate_score(SurveyKind(kind), score) == score
        else:
            with pytest.raises(InvalidInput):
                validate_score(SurveyKind(kind), score)

    def test_nps_is_promoters_minus_detractors_in_percent(self) -> None:
        # 3 promoters (9, 10, 9), 2 passives (7, 8), 3 detractors (0, 6, 5) of 8: 37.5 − 37.5.
        assert net_promoter_score([9, 10, 9, 7, 8, 0, 6, 5]) == Decimal("0.00")
        assert net_promoter_score([10, 9, 7]) == Decimal("66.67")
        assert net_promoter_score([6, 6]) == Decimal("-100.00")
        assert net_promoter_score([]) is None

    def test_csat_average(self) -> None:
        assert csat_average([5, 4, 4]) == Decimal("4.33")
        assert csat_average([]) is None

    def test_figures(self) -> None:
        figures = service_figures(
            complaints=[(NOW, NOW), (NOW + dt.timedelta(hours=1), NOW), (None, NOW)],
            csat_scores=[5, 3],
            nps_scores=[10],
        )
        assert (figures.complaints, figures.responded_on_time) == (3, 1)
        assert figures.complaints_on_time_rate == Decimal("0.33")
        assert (figures.csat_avg, figures.nps) == (Decimal("4.00"), Decimal("100.00"))
        empty = service_figures(complaints=[], csat_scores=[], nps_scores=[])
        assert (empty.complaints_on_time_rate, empty.csat_avg, empty.nps) == (None, None, None)

"""Service (SPEC §10): complaints with their state machine and deadlines, satisfaction surveys,
and the figures they give the performance report (responded on time, CSAT average, NPS)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from itertools import pairwise

from app.domain.errors import ComplaintInvalidTransition, InvalidInput


class ComplaintCategory(StrEnum):
    product = "product"
    service = "service"
    delivery = "delivery"
    billing = "billing"
    staff = "staff"
    other = "other"


class Severity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class ComplaintStatus(StrEnum):
    open = "open"
    in_progress = "in_progress"
    resolved = "resolved"
    closed = "closed"


# open → in_progress → resolved → closed; a resolved complaint may be reopened to in_progress.
TRANSITIONS: Mapping[ComplaintStatus, frozenset[ComplaintStatus]] = {
    ComplaintStatus.open: frozenset({ComplaintStatus.in_progress}),
    ComplaintStatus.in_progress: frozenset({ComplaintStatus.resolved}),
    ComplaintStatus.resolved: frozenset({ComplaintStatus.closed, ComplaintStatus.in_progress}),
    ComplaintStatus.closed: frozenset(),
}


@dataclass(frozen=True, slots=True)
class StatusChange:
    """The complaint's timestamps after a move: ``None`` in a field means "clear it"."""

    status: ComplaintStatus
    responded_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None


def transition(
    *,
    current: ComplaintStatus,
    target: ComplaintStatus,
    responded_at: dt.datetime | None,
    resolved_at: dt.datetime | None,
    closed_at: dt.datetime | None,
    now: dt.datetime,
) -> StatusChange:
    """Move a complaint from ``current`` to ``target`` or raise ``complaint.invalid_transition``.

    The first move to ``in_progress`` is the response (``responded_at``); resolving stamps
    ``resolved_at`` and reopening clears it; closing stamps ``closed_at``."""
    allowed = TRANSITIONS[current]
    if target not in allowed:
        raise ComplaintInvalidTransition(
            f"A complaint cannot move from {current.value} to {target.value}",
            allowed=sorted(s.value for s in allowed),
            **{"from": current.value, "to": target.value},
        )
    if target is ComplaintStatus.in_progress:
        return StatusChange(target, responded_at or now, None, None)
    if target is ComplaintStatus.resolved:
        return StatusChange(target, responded_at, now, None)
    return StatusChange(target, responded_at, resolved_at, now)


# --- deadlines --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServicePolicy:
    """How long a complaint of each severity may wait for a response (hours) and a resolution (days)."""

    respond_within_hours: Mapping[Severity, int] = field(
        default_factory=lambda: {
            Severity.critical: 4,
            Severity.high: 24,
            Severity.medium: 72,
            Severity.low: 7 * 24,
        }
    )
    resolve_within_days: Mapping[Severity, int] = field(
        default_factory=lambda: {Severity.critical: 1, Severity.high: 3, Severity.medium: 7, Severity.low: 14}
    )


DEFAULT_SERVICE_POLICY = ServicePolicy()

MAX_RESPOND_HOURS = 24 * 365
MAX_RESOLVE_DAYS = 365


def validate_service_policy(policy: ServicePolicy) -> ServicePolicy:
    """Every severity has both deadlines, each positive and bounded, the response due no later
    than the resolution, and a more severe complaint never given longer than a milder one."""
    errors: list[dict[str, object]] = []
    for name, values, limit in (
        ("respond_within_hours", policy.respond_within_hours, MAX_RESPOND_HOURS),
        ("resolve_within_days", policy.resolve_within_days, MAX_RESOLVE_DAYS),
    ):
        for severity in Severity:
            value = values.get(severity)
            if value is None:
                errors.append({"loc": [name, severity.value], "msg": "missing", "type": "missing"})
            elif isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
                errors.append(
                    {
                        "loc": [name, severity.value],
                        "type": "value_error",
                        "msg": f"must be a whole number from 1 to {limit}",
                    }
                )
        ordered = [values.get(s) for s in Severity]  # low → critical
        if not errors and any(a < b for a, b in pairwise(ordered)):  # type: ignore[operator]
            errors.append(
                {
                    "loc": [name],
                    "type": "value_error",
                    "msg": "a more severe complaint may not get longer than a milder one",
                }
            )
    if not errors:
        for severity in Severity:
            if policy.respond_within_hours[severity] > policy.resolve_within_days[severity] * 24:
                errors.append(
                    {
                        "loc": ["respond_within_hours", severity.value],
                        "msg": "the response cannot be due after the resolution",
                        "type": "value_error",
                    }
                )
    if errors:
        raise InvalidInput("The service settings are not valid", errors=errors)
    return policy


def deadlines(
    *, severity: Severity, opened_at: dt.datetime, policy: ServicePolicy
) -> tuple[dt.datetime, dt.datetime]:
    """``(respond_by, resolve_by)`` of a complaint opened at ``opened_at``: elapsed clock time
    (the SPEC counts calendar hours and days, around the clock, weekends included)."""
    return (
        opened_at + dt.timedelta(hours=policy.respond_within_hours[severity]),
        opened_at + dt.timedelta(days=policy.resolve_within_days[severity]),
    )


def is_overdue(
    *, status: ComplaintStatus, respond_by: dt.datetime, resolve_by: dt.datetime, now: dt.datetime
) -> bool:
    """Overdue: still ``open`` after ``respond_by``, or not yet resolved after ``resolve_by``."""
    if status is ComplaintStatus.open and now > respond_by:
        return True
    return status in (ComplaintStatus.open, ComplaintStatus.in_progress) and now > resolve_by


def responded_on_time(*, responded_at: dt.datetime | None, respond_by: dt.datetime) -> bool:
    """Responded on time = moved to ``in_progress`` before ``respond_by``."""
    return responded_at is not None and responded_at <= respond_by


# --- surveys ---------------------------------------------------------------------------------


class SurveyKind(StrEnum):
    csat = "csat"
    nps = "nps"


SCORE_RANGE: Mapping[SurveyKind, tuple[int, int]] = {SurveyKind.csat: (1, 5), SurveyKind.nps: (0, 10)}


def validate_score(kind: SurveyKind, score: int) -> int:
    low, high = SCORE_RANGE[kind]
    if not low <= score <= high:
        raise InvalidInput(
            f"A {kind.value} score is from {low} to {high}",
            errors=[
                {
                    "loc": ["body", "score"],
                    "msg": f"must be from {low} to {high} for {kind.value}",
                    "type": "value_error",
                }
            ],
        )
    return score


def _rounded(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class ServiceCounts:
    """The counts behind a rep's or team's service figures; they add up over reps and teams
    (rates and averages do not)."""

    complaints: int = 0
    responded_on_time: int = 0
    csat_responses: int = 0
    csat_total: int = 0
    nps_responses: int = 0
    nps_promoters: int = 0
    nps_detractors: int = 0

    def __add__(self, other: ServiceCounts) -> ServiceCounts:
        return ServiceCounts(
            *(getattr(self, name) + getattr(other, name) for name in self.__dataclass_fields__)
        )


def service_counts(
    *,
    complaints: Iterable[tuple[dt.datetime | None, dt.datetime]],
    csat_scores: Iterable[int],
    nps_scores: Iterable[int],
) -> ServiceCounts:
    """``complaints`` are ``(responded_at, respond_by)`` pairs of the complaints opened in the
    period; a promoter answers 9–10, a detractor 0–6."""
    pairs, csat, nps = list(complaints), list(csat_scores), list(nps_scores)
    return ServiceCounts(
        complaints=len(pairs),
        responded_on_time=sum(
            1
            for responded_at, respond_by in pairs
            if responded_on_time(responded_at=responded_at, respond_by=respond_by)
        ),
        csat_responses=len(csat),
        csat_total=sum(csat),
        nps_responses=len(nps),
        nps_promoters=sum(1 for s in nps if s >= 9),
        nps_detractors=sum(1 for s in nps if s <= 6),
    )


def csat_average(scores: Iterable[int]) -> Decimal | None:
    counts = service_counts(complaints=[], csat_scores=scores, nps_scores=[])
    return service_figures_of(counts).csat_avg


def net_promoter_score(scores: Iterable[int]) -> Decimal | None:
    """NPS = % promoters (9–10) − % detractors (0–6), from −100 to 100; ``None`` without answers."""
    counts = service_counts(complaints=[], csat_scores=[], nps_scores=scores)
    return service_figures_of(counts).nps


@dataclass(frozen=True, slots=True)
class ServiceFigures:
    """What service adds to a rep's or team's performance over a period."""

    complaints: int
    responded_on_time: int
    complaints_on_time_rate: Decimal | None
    csat_responses: int
    csat_avg: Decimal | None
    nps_responses: int
    nps: Decimal | None


def _share(part: int, whole: int, *, scale: int = 1) -> Decimal | None:
    return _rounded(Decimal(scale * part) / whole) if whole else None


def service_figures_of(counts: ServiceCounts) -> ServiceFigures:
    """The on-time rate (share of complaints responded to before their ``respond_by``), the
    CSAT average and the NPS of these counts; each ``None`` where there is nothing to count."""
    c = counts
    return ServiceFigures(
        complaints=c.complaints,
        responded_on_time=c.responded_on_time,
        complaints_on_time_rate=_share(c.responded_on_time, c.complaints),
        csat_responses=c.csat_responses,
        csat_avg=_share(c.csat_total, c.csat_responses),
        nps_responses=c.nps_responses,
        nps=_share(c.nps_promoters - c.nps_detractors, c.nps_responses, scale=100),
    )


def service_figures(
    *,
    complaints: Iterable[tuple[dt.datetime | None, dt.datetime]],
    csat_scores: Iterable[int],
    nps_scores: Iterable[int],
) -> ServiceFigures:
    """The figures of these complaints and answers (see ``service_counts``)."""
    return service_figures_of(
        service_counts(complaints=complaints, csat_scores=csat_scores, nps_scores=nps_scores)
    )


__all__ = [
    "DEFAULT_SERVICE_POLICY",
    "TRANSITIONS",
    "ComplaintCategory",
    "ComplaintStatus",
    "ServiceCounts",
    "ServiceFigures",
    "ServicePolicy",
    "Severity",
    "StatusChange",
    "SurveyKind",
    "csat_average",
    "deadlines",
    "is_overdue",
    "net_promoter_score",
    "responded_on_time",
    "service_counts",
    "service_figures",
    "service_figures_of",
    "transition",
    "validate_score",
    "validate_service_policy",
]

"""Funnel report aggregates and figures (SPEC §9): pure rules, no I/O.

The reports never scan the stage transitions. Each transition updates small counters,
kept in the same transaction (see ``app/db/report_aggregates.py``):

- counters per business day x owner x team x (metric, key), where the metrics are
  ``entered`` (key: the stage), ``converted`` (key: the stage; credited to the day, owner
  and team of the *entry*), ``exit_forward`` (key: the stage left forward),
  ``abandoned`` (key: the reason), ``abandoned_from`` (key: the stage abandoned from) and
  ``signed_out_of_funnel`` (key: ``signed``) and ``reached_signed`` (key: a stage before
  ``signed``; credited to the entry, once the run first reaches ``signed`` or beyond — the
  lead → signed conversion of the performance report);
- a duration histogram per entry day x owner x team x stage x duration in hundredths
  of a day (the precision the transitions store), so medians are exact at that precision;
- per customer, the stages it has entered in its current run and whether it left them
  forward.

The definitions, made exact:

- A customer *enters* a stage when it reaches it for the first time in a *run*: a run
  starts when the customer is created (in whatever stage) or reactivated (into
  ``resource``), and ends when it is abandoned. Forward moves enter their target.
  A backward step neither ends a visit nor enters a stage, so going back and forward
  again counts nothing twice. Stages skipped by a forward move are not entered.
- An entry of stage S is *converted* once a later forward move of the same run reaches
  a stage beyond S: a skip counts as conversion through. Its duration is the time from
  the entry to that move (``median_days``). Abandoning ends the run unconverted.
- ``signed_out_of_funnel``: entries into ``signed`` of customers flagged out of funnel
  (created beyond ``graded`` or having skipped a stage at any time before or in that move).

:func:`advance` is the incremental rule; :func:`recompute` computes the same figures from
a whole history by the definitions above, written independently, so tests can hold one
against the other.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from app.domain.contracts import renewal_rate
from app.domain.errors import InvalidInput, ReportInvalidPeriod
from app.domain.funnel import (
    FUNNEL_ORDER,
    AbandonReason,
    FunnelPolicy,
    Stage,
    days_in_stage,
    is_later,
)
from app.domain.service import ServiceCounts, service_figures_of

ENTERED = "entered"
CONVERTED = "converted"
EXIT_FORWARD = "exit_forward"
ABANDONED = "abandoned"
ABANDONED_FROM = "abandoned_from"
SIGNED_OUT_OF_FUNNEL = "signed_out_of_funnel"
REACHED_SIGNED = "reached_signed"
METRICS = (ENTERED, CONVERTED, EXIT_FORWARD, ABANDONED, ABANDONED_FROM, SIGNED_OUT_OF_FUNNEL, REACHED_SIGNED)


@dataclass(frozen=True, kw_only=True, slots=True)
class Move:
    """One stored stage transition, as the aggregates need it."""

    customer_id: uuid.UUID
    from_stage: str | None
    to_stage: str
    at: dt.datetime
    owner_id: uuid.UUID | None
    team_id: uuid.UUID | None
    reason: str | None = None
    out_of_funnel: bool = False


# (business day, owner, team, metric, key) and (entry day, owner, team, stage, centidays).
CountKey = tuple[dt.date, uuid.UUID | None, uuid.UUID | None, str, str]
DurationKey = tuple[dt.date, uuid.UUID | None, uuid.UUID | None, str, int]


@dataclass(slots=True)
class Aggregates:
    counts: Counter[CountKey] = field(default_factory=Counter)
    durations: Counter[DurationKey] = field(default_factory=Counter)

    def add(self, other: Aggregates) -> None:
        self.counts.update(other.counts)
        self.durations.update(other.durations)

    def cleaned(self) -> Aggregates:
        """Without zero entries, for comparisons."""
        return Aggregates(
            Counter({k: v for k, v in self.counts.items() if v}),
            Counter({k: v for k, v in self.durations.items() if v}),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Visit:
    stage: str
    at: dt.datetime
    owner_id: uuid.UUID | None
    team_id: uuid.UUID | None
    done: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class RunState:
    """What a customer's next transition needs from its past: its current run's entries."""

    out_of_funnel: bool = False
    visits: tuple[Visit, ...] = ()

    def to_doc(self) -> dict[str, Any]:
        return {
            "out_of_funnel": self.out_of_funnel,
            "visits": [
                {
                    "stage": v.stage,
                    "at": v.at.isoformat(),
                    "owner_id": None if v.owner_id is None else str(v.owner_id),
                    "team_id": None if v.team_id is None else str(v.team_id),
                    "done": v.done,
                }
                for v in self.visits
            ],
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> RunState:
        return cls(
            out_of_funnel=bool(doc.get("out_of_funnel")),
            visits=tuple(
                Visit(
                    stage=v["stage"],
                    at=dt.datetime.fromisoformat(v["at"]),
                    owner_id=None if v["owner_id"] is None else uuid.UUID(v["owner_id"]),
                    team_id=None if v["team_id"] is None else uuid.UUID(v["team_id"]),
                    done=bool(v["done"]),
                )
                for v in doc.get("visits", ())
            ),
        )


def business_day(at: dt.datetime, tz: ZoneInfo) -> dt.date:
    return at.astimezone(tz).date()


def centidays(start: dt.datetime, end: dt.datetime) -> int:
    """Whole hundredths of a day between two instants, rounded like ``days_in_from_stage``."""
    return int(days_in_stage(start, now=end) * 100)


def _starts_run(move: Move) -> bool:
    return move.from_stage is None or move.from_stage == Stage.abandoned.value


def _is_forward(move: Move) -> bool:
    return (
        move.from_stage is not None
        and move.to_stage != Stage.abandoned.value
        and move.from_stage != Stage.abandoned.value
        and is_later(Stage(move.to_stage), Stage(move.from_stage))
    )


def _position(stage: str) -> int:
    return FUNNEL_ORDER.index(Stage(stage))


_SIGNED = FUNNEL_ORDER.index(Stage.signed)


def advance(state: RunState | None, move: Move, tz: ZoneInfo) -> tuple[RunState, Aggregates]:
    """The customer's state after ``move`` and the counter changes it causes."""
    state = state or RunState()
    delta = Aggregates()
    day = business_day(move.at, tz)
    here = (day, move.owner_id, move.team_id)
    out_of_funnel = state.out_of_funnel or move.out_of_funnel
    visits = list(state.visits)
    if _starts_run(move):
        visits = []
    elif move.to_stage == Stage.abandoned.value:
        delta.counts[(*here, ABANDONED, move.reason or "other")] += 1
        delta.counts[(*here, ABANDONED_FROM, move.from_stage or "")] += 1
        return RunState(out_of_funnel=out_of_funnel, visits=()), delta
    elif _is_forward(move):
        delta.counts[(*here, EXIT_FORWARD, move.from_stage or "")] += 1
        target = _position(move.to_stage)
        if target >= _SIGNED and all(_position(v.stage) < _SIGNED for v in visits):
            for visit in visits:
                entry = (business_day(visit.at, tz), visit.owner_id, visit.team_id)
                delta.counts[(*entry, REACHED_SIGNED, visit.stage)] += 1
        for index, visit in enumerate(visits):
            if not visit.done and _position(visit.stage) < target:
                visits[index] = Visit(
                    stage=visit.stage, at=visit.at, owner_id=visit.owner_id, team_id=visit.team_id, done=True
                )
                entry = (business_day(visit.at, tz), visit.owner_id, visit.team_id)
                delta.counts[(*entry, CONVERTED, visit.stage)] += 1
                delta.durations[(*entry, visit.stage, centidays(visit.at, move.at))] += 1
    else:  # a backward step: not an exit, not an entry
        return RunState(out_of_funnel=out_of_funnel, visits=tuple(visits)), delta
    if all(visit.stage != move.to_stage for visit in visits):
        visits.append(Visit(stage=move.to_stage, at=move.at, owner_id=move.owner_id, team_id=move.team_id))
        delta.counts[(*here, ENTERED, move.to_stage)] += 1
        if move.to_stage == Stage.signed.value and out_of_funnel:
            delta.counts[(*here, SIGNED_OUT_OF_FUNNEL, Stage.signed.value)] += 1
    return RunState(out_of_funnel=out_of_funnel, visits=tuple(visits)), delta


def recompute(histories: Iterable[Sequence[Move]], tz: ZoneInfo) -> Aggregates:
    """The aggregates of whole histories (each one customer's moves in order), from the
    definitions: independent of :func:`advance`, which must agree with it."""
    result = Aggregates()
    for history in histories:
        runs: list[list[Move]] = []
        flagged = False
        flagged_at: list[bool] = []
        for move in history:
            if _starts_run(move) or not runs:
                runs.append([])
            runs[-1].append(move)
            flagged = flagged or move.out_of_funnel
            flagged_at.append(flagged)
        position = 0
        for run in runs:
            _recompute_run(run, flagged_at[position : position + len(run)], tz, result)
            position += len(run)
    return result


def _recompute_run(run: list[Move], flagged: list[bool], tz: ZoneInfo, result: Aggregates) -> None:
    reached: set[str] = set()
    for index, move in enumerate(run):
        here = (business_day(move.at, tz), move.owner_id, move.team_id)
        if move.to_stage == Stage.abandoned.value:
            result.counts[(*here, ABANDONED, move.reason or "other")] += 1
            result.counts[(*here, ABANDONED_FROM, move.from_stage or "")] += 1
            continue
        forward = _is_forward(move)
        if forward:
            result.counts[(*here, EXIT_FORWARD, move.from_stage or "")] += 1
        if not (forward or _starts_run(move)) or move.to_stage in reached:
            continue
        reached.add(move.to_stage)
        result.counts[(*here, ENTERED, move.to_stage)] += 1
        if move.to_stage == Stage.signed.value and flagged[index]:
            result.counts[(*here, SIGNED_OUT_OF_FUNNEL, Stage.signed.value)] += 1
        beyond = next(
            (
                later
                for later in run[index + 1 :]
                if _is_forward(later) and _position(later.to_stage) > _position(move.to_stage)
            ),
            None,
        )
        if _position(move.to_stage) < _SIGNED and any(
            _is_forward(later) and _position(later.to_stage) >= _SIGNED for later in run[index + 1 :]
        ):
            result.counts[(*here, REACHED_SIGNED, move.to_stage)] += 1
        if beyond is not None:
            result.counts[(*here, CONVERTED, move.to_stage)] += 1
            result.durations[(*here, move.to_stage, centidays(move.at, beyond.at))] += 1


# --- figures -------------------------------------------------------------------------------

_CENT = Decimal("0.01")
_RATE = Decimal("0.0001")


def ratio(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    """part ÷ whole to four places; None (not zero) when there is nothing to divide by."""
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(_RATE, rounding=ROUND_HALF_UP)


def median_days(histogram: Mapping[int, int]) -> Decimal | None:
    """The exact median of a histogram of hundredths of a day, in days (two places);
    the mean of the two middle values when the count is even."""
    total = sum(histogram.values())
    if total == 0:
        return None
    ordered = sorted((value, count) for value, count in histogram.items() if count)
    wanted = [(total - 1) // 2, total // 2]
    found: list[int] = []
    seen = 0
    for value, count in ordered:
        while len(found) < 2 and wanted[len(found)] < seen + count:
            found.append(value)
        seen += count
        if len(found) == 2:
            break
    middle = Decimal(found[0] + found[1]) / 2 / 100
    return middle.quantize(_CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, kw_only=True, slots=True)
class Period:
    """``[start, end)`` in business-time-zone dates."""

    start: dt.date
    end: dt.date

    def utc_bounds(self, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
        def at_midnight(day: dt.date) -> dt.datetime:
            return dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(dt.UTC)

        return at_midnight(self.start), at_midnight(self.end)


MAX_PERIOD_DAYS = 3 * 366


def month_of(day: dt.date) -> Period:
    start = day.replace(day=1)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return Period(start=start, end=end)


def iso_weeks(period: Period) -> list[Period]:
    """The ISO weeks (Monday to Monday) that overlap ``period``, clipped to it."""
    weeks: list[Period] = []
    monday = period.start - dt.timedelta(days=period.start.weekday())
    while monday < period.end:
        following = monday + dt.timedelta(days=7)
        weeks.append(Period(start=max(monday, period.start), end=min(following, period.end)))
        monday = following
    return weeks


PERIOD_EARLIEST = dt.date(1970, 1, 1)
PERIOD_LATEST = dt.date(2100, 1, 1)


def resolve_period(start: dt.date | None, end: dt.date | None, *, today: dt.date) -> Period:
    """The report period ``[start, end)``: by default the current month; a missing ``end`` is
    the first day of the month after ``start``, a missing ``start`` the first day of the
    month of the day before ``end``. ``start`` must be before ``end`` and at most 3 years
    before it, and both within the years stored timestamps may take (1970–2100)."""
    if start is None and end is None:
        return month_of(today)
    outside = [
        {
            "loc": ["query", name],
            "msg": f"must lie between {PERIOD_EARLIEST} and {PERIOD_LATEST}",
            "type": "value_error",
        }
        for name, day in (("from", start), ("to", end))
        if day is not None and not PERIOD_EARLIEST <= day <= PERIOD_LATEST
    ]
    if outside:  # before any arithmetic: year 1 or 9999 would overflow it
        raise ReportInvalidPeriod("The report period is not valid.", errors=outside)
    if start is None:
        assert end is not None
        start = month_of(end - dt.timedelta(days=1)).start
    if end is None:
        end = month_of(start).end
    errors: list[dict[str, Any]] = []
    if start >= end:
        errors.append({"loc": ["query", "from"], "msg": "must be before `to`", "type": "value_error"})
    elif end > _years_after(start, 3):
        errors.append(
            {"loc": ["query", "to"], "msg": "the period may be at most 3 years long", "type": "value_error"}
        )
    if errors:
        raise ReportInvalidPeriod("The report period is not valid.", errors=errors)
    return Period(start=start, end=end)


def _years_after(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


# --- the funnel report -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class StageSnapshot:
    """A stage now: customers in it (owned ones apart), their amount, the stalled ones."""

    stage: Stage
    count: int
    owned: int
    amount: Decimal
    stalled: int


@dataclass(frozen=True, kw_only=True, slots=True)
class StageFigures:
    stage: Stage
    count: int
    amount: Decimal
    holding_per_rep: Decimal | None
    ideal_holding: int | None
    stalled: int


@dataclass(frozen=True, kw_only=True, slots=True)
class StepFigures:
    from_stage: Stage
    to_stage: Stage
    entered: int
    converted: int
    conversion: Decimal | None
    ideal_conversion: Decimal | None
    median_days: Decimal | None
    ideal_days: Decimal


@dataclass(frozen=True, kw_only=True, slots=True)
class FlowFigures:
    """What happened in a period (or a week of it)."""

    period: Period
    steps: tuple[StepFigures, ...]
    abandoned: int
    abandoned_by_reason: dict[str, int]
    signed: int
    out_of_funnel_signed: int
    forward_exits: int


def flow_figures(
    period: Period,
    policy: FunnelPolicy,
    counts: Mapping[tuple[str, str], int],
    histograms: Mapping[str, Mapping[int, int]],
) -> FlowFigures:
    """The step figures of §9 from summed counters ((metric, key) → n) and per-stage
    duration histograms, beside the ideal."""
    steps = []
    for step in policy.steps:
        entered = counts.get((ENTERED, step.from_stage.value), 0)
        converted = counts.get((CONVERTED, step.from_stage.value), 0)
        steps.append(
            StepFigures(
                from_stage=step.from_stage,
                to_stage=step.to_stage,
                entered=entered,
                converted=converted,
                conversion=ratio(converted, entered),
                ideal_conversion=step.ideal_conversion,
                median_days=median_days(histograms.get(step.from_stage.value, {})),
                ideal_days=step.ideal_days,
            )
        )
    by_reason = {reason.value: counts.get((ABANDONED, reason.value), 0) for reason in AbandonReason}
    return FlowFigures(
        period=period,
        steps=tuple(steps),
        abandoned=sum(by_reason.values()),
        abandoned_by_reason=by_reason,
        signed=counts.get((ENTERED, Stage.signed.value), 0),
        out_of_funnel_signed=counts.get((SIGNED_OUT_OF_FUNNEL, Stage.signed.value), 0),
        forward_exits=sum(n for (metric, _), n in counts.items() if metric == EXIT_FORWARD),
    )


REPORT_STAGES: tuple[Stage, ...] = (*FUNNEL_ORDER, Stage.abandoned)


def stage_figures(
    snapshots: Mapping[Stage, StageSnapshot], *, reps: int, policy: FunnelPolicy
) -> tuple[StageFigures, ...]:
    """Each stage now, with the holding per rep (owned customers ÷ reps in scope) against
    the ideal holding of the step out of it."""
    figures = []
    for stage in REPORT_STAGES:
        snap = snapshots.get(stage) or StageSnapshot(
            stage=stage, count=0, owned=0, amount=Decimal("0.00"), stalled=0
        )
        step = policy.step_from(stage)
        figures.append(
            StageFigures(
                stage=stage,
                count=snap.count,
                amount=snap.amount,
                holding_per_rep=None
                if reps == 0
                else (Decimal(snap.owned) / reps).quantize(_CENT, rounding=ROUND_HALF_UP),
                ideal_holding=None if step is None else step.ideal_holding_per_rep,
                stalled=snap.stalled,
            )
        )
    return tuple(figures)


def stall_limits(policy: FunnelPolicy, *, now: dt.datetime) -> dict[Stage, dt.datetime]:
    """Per stage with a step out of it: customers that entered it before this are stalled."""
    return {
        step.from_stage: now - dt.timedelta(seconds=float(step.ideal_days * policy.stall_factor * 86_400))
        for step in policy.steps
    }


# --- anomalies (意外状态) ---------------------------------------------------------------------


class AnomalyKind(StrEnum):
    out_of_funnel_signings = "out_of_funnel_signings"
    intent_without_signings = "intent_without_signings"
    low_conversion = "low_conversion"
    high_abandonment = "high_abandonment"
    long_cycle = "long_cycle"
    holding_off_ideal = "holding_off_ideal"
    high_abandon_claim_ratio = "high_abandon_claim_ratio"


@dataclass(frozen=True, kw_only=True, slots=True)
class AnomalyPolicy:
    """Thresholds of SPEC §9's anomalies (defaults in brackets there)."""

    out_of_funnel_share: Decimal = Decimal("0.30")
    intent_holding_factor: Decimal = Decimal("2")
    low_conversion_factor: Decimal = Decimal("0.5")
    low_conversion_min_entered: int = 10
    abandonment_share: Decimal = Decimal("0.40")
    long_cycle_factor: Decimal = Decimal("2")
    holding_deviation: Decimal = Decimal("0.50")
    abandon_claim_ratio: Decimal = Decimal("0.5")
    # Churn (SPEC §8): days since the last contract over this × the median interval…
    churn_interval_factor: Decimal = Decimal("1.5")
    # …or activities in the last 90 days below this × the 90 days before (at least 5).
    activity_drop_ratio: Decimal = Decimal("0.3")


DEFAULT_ANOMALY_POLICY = AnomalyPolicy()
_SHARES = (
    "out_of_funnel_share",
    "low_conversion_factor",
    "abandonment_share",
    "holding_deviation",
    "activity_drop_ratio",
)
_FACTORS = ("intent_holding_factor", "long_cycle_factor", "abandon_claim_ratio", "churn_interval_factor")


def validate_anomaly_policy(policy: AnomalyPolicy) -> AnomalyPolicy:
    """Return ``policy`` if usable, else raise InvalidInput listing every problem."""
    errors: list[dict[str, Any]] = []
    for name in _SHARES:
        value = getattr(policy, name)
        if not isinstance(value, Decimal) or not value.is_finite() or not 0 <= value <= 1:
            errors.append({"loc": [name], "msg": "must be a number from 0 to 1", "type": "value_error"})
    for name in _FACTORS:
        value = getattr(policy, name)
        if not isinstance(value, Decimal) or not value.is_finite() or not 0 < value <= 1000:
            errors.append(
                {"loc": [name], "msg": "must be a number above 0 (at most 1000)", "type": "value_error"}
            )
    count = policy.low_conversion_min_entered
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 1_000_000:
        errors.append(
            {
                "loc": ["low_conversion_min_entered"],
                "msg": "must be a whole number from 1 to 1000000",
                "type": "value_error",
            }
        )
    if errors:
        raise InvalidInput("The report thresholds are not valid.", errors=errors)
    return policy


@dataclass(frozen=True, kw_only=True, slots=True)
class SubjectFigures:
    """What the anomaly rules read about one rep or team over a period."""

    flow: FlowFigures
    # Owned customers per stage now ÷ the subject's reps (None without reps).
    holding_per_rep: Mapping[Stage, Decimal | None]
    claims: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Anomaly:
    kind: AnomalyKind
    value: Decimal
    threshold: Decimal
    detail: dict[str, Any]


def _above(value: Decimal, threshold: Decimal) -> bool:
    return value > threshold


def detect_anomalies(
    figures: SubjectFigures, *, policy: AnomalyPolicy, funnel: FunnelPolicy
) -> list[Anomaly]:
    """Every anomaly of SPEC §9 the figures show, each with its value, threshold and the
    counts behind it."""
    flow = figures.flow
    found: list[Anomaly] = []
    share = ratio(flow.out_of_funnel_signed, flow.signed)
    if share is not None and _above(share, policy.out_of_funnel_share):
        found.append(
            Anomaly(
                kind=AnomalyKind.out_of_funnel_signings,
                value=share,
                threshold=policy.out_of_funnel_share,
                detail={"signed": flow.signed, "out_of_funnel_signed": flow.out_of_funnel_signed},
            )
        )
    intent_step = funnel.step_from(Stage.intent)
    intent_holding = figures.holding_per_rep.get(Stage.intent)
    if (
        intent_step is not None
        and intent_step.ideal_holding_per_rep
        and intent_holding is not None
        and flow.signed == 0
    ):
        limit = policy.intent_holding_factor * intent_step.ideal_holding_per_rep
        if intent_holding >= limit:
            found.append(
                Anomaly(
                    kind=AnomalyKind.intent_without_signings,
                    value=intent_holding,
                    threshold=limit.quantize(_CENT),
                    detail={
                        "intent_holding_per_rep": str(intent_holding),
                        "ideal_holding": intent_step.ideal_holding_per_rep,
                        "signed": 0,
                    },
                )
            )
    for step in flow.steps:
        step_detail = {
            "from_stage": step.from_stage.value,
            "to_stage": step.to_stage.value,
            "entered": step.entered,
            "converted": step.converted,
        }
        if (
            step.conversion is not None
            and step.ideal_conversion is not None
            and step.entered >= policy.low_conversion_min_entered
        ):
            limit = (step.ideal_conversion * policy.low_conversion_factor).quantize(_RATE)
            if step.conversion < limit:
                found.append(
                    Anomaly(
                        kind=AnomalyKind.low_conversion,
                        value=step.conversion,
                        threshold=limit,
                        detail={**step_detail, "ideal_conversion": str(step.ideal_conversion)},
                    )
                )
        if step.median_days is not None:
            limit = (step.ideal_days * policy.long_cycle_factor).quantize(_CENT)
            if _above(step.median_days, limit):
                found.append(
                    Anomaly(
                        kind=AnomalyKind.long_cycle,
                        value=step.median_days,
                        threshold=limit,
                        detail={**step_detail, "ideal_days": str(step.ideal_days)},
                    )
                )
    exits = flow.forward_exits + flow.abandoned
    abandon_share = ratio(flow.abandoned, exits)
    if abandon_share is not None and _above(abandon_share, policy.abandonment_share):
        found.append(
            Anomaly(
                kind=AnomalyKind.high_abandonment,
                value=abandon_share,
                threshold=policy.abandonment_share,
                detail={"abandoned": flow.abandoned, "exits": exits, "by_reason": flow.abandoned_by_reason},
            )
        )
    for ideal in funnel.steps:
        holding = figures.holding_per_rep.get(ideal.from_stage)
        if holding is None or not ideal.ideal_holding_per_rep:
            continue
        off = ratio(abs(holding - ideal.ideal_holding_per_rep), ideal.ideal_holding_per_rep)
        assert off is not None
        if _above(off, policy.holding_deviation):
            found.append(
                Anomaly(
                    kind=AnomalyKind.holding_off_ideal,
                    value=off,
                    threshold=policy.holding_deviation,
                    detail={
                        "stage": ideal.from_stage.value,
                        "holding_per_rep": str(holding),
                        "ideal_holding": ideal.ideal_holding_per_rep,
                    },
                )
            )
    claim_ratio = ratio(flow.abandoned, figures.claims)
    if claim_ratio is not None and _above(claim_ratio, policy.abandon_claim_ratio):
        found.append(
            Anomaly(
                kind=AnomalyKind.high_abandon_claim_ratio,
                value=claim_ratio,
                threshold=policy.abandon_claim_ratio,
                detail={"abandoned": flow.abandoned, "claims": figures.claims},
            )
        )
    return found


# --- performance per rep / team ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class PerformanceCounts:
    """The raw figures of one rep (or the sum of a team's reps) over a period."""

    signed_amount: Decimal = Decimal("0.00")
    collected_amount: Decimal = Decimal("0.00")
    claimed: int = 0
    assigned: int = 0
    self_discovered: int = 0
    lead_entered: int = 0
    lead_signed: int = 0
    releases: int = 0
    abandonments: int = 0
    # Of the customers the rep owns: complaints and survey answers of the period, and
    # the service periods ending in it that were due and renewed (SPEC §6, §10).
    service: ServiceCounts = field(default_factory=ServiceCounts)
    renewals_due: int = 0
    renewals_renewed: int = 0

    def __add__(self, other: PerformanceCounts) -> PerformanceCounts:
        return PerformanceCounts(
            **{name: getattr(self, name) + getattr(other, name) for name in self.__dataclass_fields__}
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Performance:
    counts: PerformanceCounts
    new_customers: int
    conversion: Decimal | None
    abandon_claim_ratio: Decimal | None
    # None where there is nothing to count (no complaint, no answer, nothing due): unknown, not zero.
    complaints_on_time_rate: Decimal | None
    csat_avg: Decimal | None
    nps: Decimal | None
    renewal_rate: Decimal | None


def performance(counts: PerformanceCounts) -> Performance:
    """New customers (claimed + assigned + self-discovered), lead → signed conversion (of
    the leads entered in the period, those that reached signed), abandon ÷ claim, and the
    service and renewal figures of the counts (so a team's are those of its summed counts)."""
    service = service_figures_of(counts.service)
    return Performance(
        counts=counts,
        new_customers=counts.claimed + counts.assigned + counts.self_discovered,
        conversion=ratio(counts.lead_signed, counts.lead_entered),
        abandon_claim_ratio=ratio(counts.abandonments, counts.claimed),
        complaints_on_time_rate=service.complaints_on_time_rate,
        csat_avg=service.csat_avg,
        nps=service.nps,
        renewal_rate=renewal_rate(counts.renewals_due, counts.renewals_renewed),
    )


# --- churn risk (流失预警, SPEC §8) -------------------------------------------------------------

ACTIVITY_WINDOW = dt.timedelta(days=90)
MIN_EARLIER_ACTIVITIES = 5


@dataclass(frozen=True, kw_only=True, slots=True)
class ChurnRisk:
    reasons: tuple[str, ...]
    figures: dict[str, Any]


def churn_risk(
    signings: Sequence[dt.datetime],
    *,
    recent_activities: int,
    earlier_activities: int,
    now: dt.datetime,
    policy: AnomalyPolicy,
) -> ChurnRisk | None:
    """A trading customer (two or more signed contracts) at risk, with the reasons and the
    figures behind them; None when not at risk (or not trading)."""
    if len(signings) < 2:
        return None
    ordered = sorted(signings)
    intervals = [centidays(a, b) for a, b in pairwise(ordered)]
    median_interval = median_days(Counter(intervals))
    since_last = days_in_stage(ordered[-1], now=now)
    figures: dict[str, Any] = {
        "contracts": len(ordered),
        "last_contract_at": ordered[-1].isoformat(),
        "days_since_last_contract": str(since_last),
        "median_interval_days": None if median_interval is None else str(median_interval),
        "activities_last_90_days": recent_activities,
        "activities_previous_90_days": earlier_activities,
    }
    reasons = []
    if median_interval and since_last > median_interval * policy.churn_interval_factor:
        reasons.append("overdue_contract")
        figures["interval_limit_days"] = str((median_interval * policy.churn_interval_factor).quantize(_CENT))
    if (
        earlier_activities >= MIN_EARLIER_ACTIVITIES
        and recent_activities < earlier_activities * policy.activity_drop_ratio
    ):
        reasons.append("activity_drop")
        figures["activity_limit"] = str(earlier_activities * policy.activity_drop_ratio)
    return ChurnRisk(reasons=tuple(reasons), figures=figures) if reasons else None

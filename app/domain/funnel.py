"""The sales funnel of SPEC §4: stages, the transition rules and the ideal funnel policy."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from itertools import pairwise
from typing import Any

from app.domain.errors import (
    CooldownActive,
    InvalidInput,
    InvalidTransition,
    RequirementUnmet,
)


class Stage(StrEnum):
    resource = "resource"
    graded = "graded"
    contacted = "contacted"
    lead = "lead"
    intent = "intent"
    signed = "signed"
    implemented = "implemented"
    abandoned = "abandoned"


class AbandonReason(StrEnum):
    refused = "refused"
    unreachable = "unreachable"
    unsuitable = "unsuitable"
    bought_competitor = "bought_competitor"
    duplicate = "duplicate"
    other = "other"


class TransitionKind(StrEnum):
    forward = "forward"
    backward = "backward"
    abandon = "abandon"
    reactivate = "reactivate"


# `abandoned` sits outside the ordered funnel: it is reached from and left to fixed stages.
FUNNEL_ORDER: tuple[Stage, ...] = (
    Stage.resource,
    Stage.graded,
    Stage.contacted,
    Stage.lead,
    Stage.intent,
    Stage.signed,
    Stage.implemented,
)
# The stages that count against a rep's holding limit (SPEC §5) and may be abandoned.
ACTIVE_STAGES: frozenset[Stage] = frozenset(FUNNEL_ORDER[: FUNNEL_ORDER.index(Stage.intent) + 1])
# Backward steps need a reason; signed → intent is handled apart (needs a cancelled contract).
_BACKWARD_STEPS: frozenset[tuple[Stage, Stage]] = frozenset(
    {
        (Stage.contacted, Stage.graded),
        (Stage.lead, Stage.contacted),
        (Stage.intent, Stage.lead),
    }
)
VALID_GRADES: frozenset[str] = frozenset({"A", "B", "C"})
_ABANDON_CODES: frozenset[str] = frozenset(code.value for code in AbandonReason)


def stage_position(stage: Stage) -> int:
    """Sort position: funnel order, with ``abandoned`` after ``implemented``."""
    if stage == Stage.abandoned:
        return len(FUNNEL_ORDER)
    return FUNNEL_ORDER.index(stage)


def sort_stages(stages: Iterable[Stage]) -> list[Stage]:
    return sorted(stages, key=stage_position)


def next_stage(stage: Stage) -> Stage | None:
    """The following funnel stage, or None for ``implemented`` and ``abandoned``."""
    if stage == Stage.abandoned or stage == FUNNEL_ORDER[-1]:
        return None
    return FUNNEL_ORDER[FUNNEL_ORDER.index(stage) + 1]


def previous_stage(stage: Stage) -> Stage | None:
    """The preceding funnel stage, or None for ``resource`` and ``abandoned``."""
    if stage == Stage.abandoned or stage == FUNNEL_ORDER[0]:
        return None
    return FUNNEL_ORDER[FUNNEL_ORDER.index(stage) - 1]


def is_later(stage: Stage, than: Stage) -> bool:
    """True when both are funnel stages and ``stage`` comes after ``than``."""
    if Stage.abandoned in (stage, than):
        return False
    return FUNNEL_ORDER.index(stage) > FUNNEL_ORDER.index(than)


def is_out_of_funnel_on_create(stage: Stage) -> bool:
    """A customer created directly beyond ``graded`` skipped the funnel (漏斗外客户)."""
    return is_later(stage, Stage.graded)


@dataclass(frozen=True, kw_only=True, slots=True)
class StageFacts:
    """What the service knows about the customer when a transition is asked for."""

    grade: str | None = None
    recommended_products: tuple[str, ...] = ()
    target_amount: Decimal | None = None
    activity_count: int = 0
    has_signed_contract: bool = False
    # The customer's signed contract was cancelled: the only way back from `signed`.
    contract_cancelled: bool = False
    contract_fully_paid: bool = False
    acceptance_recorded: bool = False
    cooldown_until: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class TransitionRequest:
    current: Stage
    target: Stage
    reason: str | None = None
    note: str | None = None
    now: datetime
    director_override: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class Transition:
    """An accepted transition: what the service stores and what it must do next."""

    from_stage: Stage
    to_stage: Stage
    kind: TransitionKind
    skipped: tuple[Stage, ...] = ()
    # Only says whether *this* move skipped stages; the customer's flag stays set once set.
    out_of_funnel: bool = False
    cooldown: bool = False
    releases_owner: bool = False
    # Normalised: stripped, None when blank; an AbandonReason when abandoning.
    reason: str | None = None
    note: str | None = None


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def _clean(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return value.strip()


def _cooldown_over(facts: StageFacts, now: datetime, director_override: bool) -> bool:
    return director_override or facts.cooldown_until is None or facts.cooldown_until <= now


def allowed_targets(
    current: Stage, facts: StageFacts, *, now: datetime, director_override: bool = False
) -> list[Stage]:
    """Targets the shape rules allow from ``current`` right now, in funnel order.

    Entry conditions of the target (grade, activity, contract...) are not considered:
    failing those is a 422 naming what is missing, not a move that is impossible.
    Conditions on the move itself are: signed → intent needs a cancelled contract and
    reactivation needs the cooldown to be over (or a director override).
    """
    if current == Stage.abandoned:
        return [Stage.resource] if _cooldown_over(facts, now, director_override) else []
    position = FUNNEL_ORDER.index(current)
    targets = list(FUNNEL_ORDER[position + 1 :])
    back = previous_stage(current)
    if back is not None and (current, back) in _BACKWARD_STEPS:
        targets.append(back)
    if current == Stage.signed and facts.contract_cancelled:
        targets.append(Stage.intent)
    if current in ACTIVE_STAGES:
        targets.append(Stage.abandoned)
    return sort_stages(targets)


def missing_requirements(stage: Stage, facts: StageFacts) -> list[str]:
    """Entry conditions of ``stage`` (SPEC §4 table) that ``facts`` do not satisfy.

    Also usable when a customer is created directly in a stage.
    """
    missing: list[str] = []
    if stage == Stage.graded:
        if facts.grade not in VALID_GRADES:
            missing.append("grade")
        if not any(not _blank(product) for product in facts.recommended_products):
            missing.append("recommended_products")
        if facts.target_amount is None or not facts.target_amount > 0:
            missing.append("target_amount")
    elif stage == Stage.contacted:
        if facts.activity_count < 1:
            missing.append("activity")
    elif stage == Stage.signed:
        if not facts.has_signed_contract:
            missing.append("signed_contract")
    elif stage == Stage.implemented:
        if not facts.contract_fully_paid:
            missing.append("contract_fully_paid")
        if not facts.acceptance_recorded:
            missing.append("acceptance")
    return missing


def _kind(current: Stage, target: Stage) -> TransitionKind:
    if target == Stage.abandoned:
        return TransitionKind.abandon
    if current == Stage.abandoned:
        return TransitionKind.reactivate
    if is_later(target, current):
        return TransitionKind.forward
    return TransitionKind.backward


def _invalid_detail(current: Stage, target: Stage) -> str:
    if current == target:
        return f"The customer is already in stage {current}."
    if target == Stage.abandoned and current in (Stage.signed, Stage.implemented):
        return f"A {current} customer cannot be abandoned; losing one is churn."
    if current == Stage.signed and target == Stage.intent:
        return "A signed customer goes back to intent only once its contract is cancelled."
    if current == Stage.abandoned:
        return "An abandoned customer can only be reactivated to resource."
    return f"A customer cannot move from {current} to {target}."


def decide_transition(req: TransitionRequest, facts: StageFacts) -> Transition:
    """Decide whether ``req`` may happen given ``facts``; raise the reason if not.

    Only the *target's* entry conditions are checked (SPEC: "each entry condition of the
    target must hold"): skipping stages is how out-of-funnel customers arise, so the
    conditions of the skipped stages cannot be demanded. Backward moves and reactivation
    check no entry conditions: a retreat must not be blocked by facts the skip never
    required, and moving forward again checks them.
    """
    current, target = req.current, req.target
    if (
        current == Stage.abandoned
        and target == Stage.resource
        and not _cooldown_over(facts, req.now, req.director_override)
    ):
        assert facts.cooldown_until is not None
        raise CooldownActive(
            "The abandoned customer is in cooldown until "
            f"{facts.cooldown_until.isoformat()}; only a director can override it.",
            cooldown_until=facts.cooldown_until.isoformat(),
        )

    allowed = allowed_targets(current, facts, now=req.now, director_override=req.director_override)
    if target not in allowed:
        raise InvalidTransition(
            _invalid_detail(current, target),
            allowed=[str(stage) for stage in allowed],
            **{"from": str(current), "to": str(target)},
        )

    kind = _kind(current, target)
    missing: list[str] = []
    extra: dict[str, Any] = {}
    reason: str | None = _clean(req.reason)
    skipped: tuple[Stage, ...] = ()
    if kind == TransitionKind.forward:
        missing += missing_requirements(target, facts)
        skipped = FUNNEL_ORDER[FUNNEL_ORDER.index(current) + 1 : FUNNEL_ORDER.index(target)]
    elif kind == TransitionKind.backward:
        if reason is None:
            missing.append("reason")
    elif kind == TransitionKind.abandon:
        if reason not in _ABANDON_CODES:
            missing.append("reason")
            extra["abandon_reasons"] = [str(code) for code in AbandonReason]
        else:
            reason = AbandonReason(reason)
        if _blank(req.note):
            missing.append("note")
    if missing:
        raise RequirementUnmet(
            f"Moving from {current} to {target} needs: {', '.join(missing)}.",
            missing=missing,
            **{"from": str(current), "to": str(target)},
            **extra,
        )

    abandoning = kind == TransitionKind.abandon
    return Transition(
        from_stage=current,
        to_stage=target,
        kind=kind,
        skipped=skipped,
        out_of_funnel=bool(skipped),
        cooldown=abandoning,
        releases_owner=abandoning,
        reason=reason,
        note=_clean(req.note),
    )


def replay(transitions: Iterable[Transition], *, start: Stage = Stage.resource) -> Stage:
    """The stage a stored history leads to; ValueError if the history has a gap."""
    stage = start
    for number, transition in enumerate(transitions):
        if transition.from_stage != stage:
            raise ValueError(
                f"transition {number} starts at {transition.from_stage} but the customer was in {stage}"
            )
        stage = transition.to_stage
    return stage


# --- the ideal funnel (理想状态) ---------------------------------------------------------

_DAY = Decimal(86_400)
_CENT = Decimal("0.01")


@dataclass(frozen=True, kw_only=True, slots=True)
class IdealStep:
    from_stage: Stage
    to_stage: Stage
    ideal_days: Decimal
    # A fraction 0..1; None where the handbook sets no target (signed → implemented).
    ideal_conversion: Decimal | None
    # Customers a rep should hold in `from_stage`; None where there is no target.
    ideal_holding_per_rep: int | None


# Each consecutive pair of funnel stages, exactly once, in order.
IDEAL_STEP_PAIRS: tuple[tuple[Stage, Stage], ...] = tuple(pairwise(FUNNEL_ORDER))


def _default_steps() -> tuple[IdealStep, ...]:
    table = (
        (1, "1.00", None),
        (1, "0.90", 10),
        (5, "0.50", 13),
        (5, "0.30", 7),
        (5, "0.10", 2),
        (5, None, None),
    )
    return tuple(
        IdealStep(
            from_stage=pair[0],
            to_stage=pair[1],
            ideal_days=Decimal(days),
            ideal_conversion=None if conversion is None else Decimal(conversion),
            ideal_holding_per_rep=holding,
        )
        for pair, (days, conversion, holding) in zip(IDEAL_STEP_PAIRS, table, strict=True)
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class FunnelPolicy:
    steps: tuple[IdealStep, ...] = field(default_factory=_default_steps)
    stall_factor: Decimal = Decimal(2)

    def step_from(self, stage: Stage) -> IdealStep | None:
        return next((step for step in self.steps if step.from_stage == stage), None)


DEFAULT_FUNNEL_POLICY = FunnelPolicy()


def _is_number(value: object) -> bool:
    # bool is an int; a float would bring binary rounding into Decimal arithmetic.
    return (
        isinstance(value, int | Decimal)
        and not isinstance(value, bool)
        and (not isinstance(value, Decimal) or value.is_finite())
    )


def _error(loc: list[str | int], msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


def validate_funnel_policy(policy: FunnelPolicy) -> FunnelPolicy:
    """Return ``policy`` unchanged if usable, else raise InvalidInput listing every problem."""
    errors: list[dict[str, Any]] = []
    if not _is_number(policy.stall_factor):
        errors.append(_error(["stall_factor"], "must be a decimal number", "type_error"))
    elif policy.stall_factor < 1:
        # Below 1 a customer would be "stalled" before even reaching its ideal time.
        errors.append(_error(["stall_factor"], "must be at least 1"))

    seen: set[tuple[Stage, Stage]] = set()
    for index, step in enumerate(policy.steps):
        loc: list[str | int] = ["steps", index]
        pair = (step.from_stage, step.to_stage)
        if pair not in IDEAL_STEP_PAIRS:
            errors.append(_error([*loc, "to_stage"], "must be the stage after from_stage"))
        elif pair in seen:
            errors.append(_error(loc, f"duplicate step {pair[0]} → {pair[1]}"))
        seen.add(pair)
        if not _is_number(step.ideal_days):
            errors.append(_error([*loc, "ideal_days"], "must be a decimal number", "type_error"))
        elif step.ideal_days <= 0:
            # Zero would stall every customer on entry and break per-day report ratios.
            errors.append(_error([*loc, "ideal_days"], "must be greater than 0"))
        conversion = step.ideal_conversion
        if conversion is not None:
            if not _is_number(conversion):
                errors.append(_error([*loc, "ideal_conversion"], "must be a decimal number", "type_error"))
            elif not 0 <= conversion <= 1:
                errors.append(_error([*loc, "ideal_conversion"], "must be between 0 and 1"))
        holding = step.ideal_holding_per_rep
        if holding is not None:
            if not isinstance(holding, int) or isinstance(holding, bool):
                errors.append(_error([*loc, "ideal_holding_per_rep"], "must be an integer", "type_error"))
            elif holding < 0:
                errors.append(_error([*loc, "ideal_holding_per_rep"], "must not be negative"))
    for from_stage, to_stage in IDEAL_STEP_PAIRS:
        if (from_stage, to_stage) not in seen:
            errors.append(_error(["steps"], f"missing step {from_stage} → {to_stage}", "missing"))
    if errors:
        raise InvalidInput("The funnel policy is not valid.", errors=errors)
    return policy


def _seconds(delta: timedelta) -> Decimal:
    # Exact, unlike timedelta.total_seconds() which goes through float.
    return Decimal(delta.days) * _DAY + Decimal(delta.seconds) + Decimal(delta.microseconds) / (10**6)


def days_in_stage(entered_at: datetime, *, now: datetime) -> Decimal:
    """Days since ``entered_at``, to two places; clock skew never gives a negative age."""
    days = max(_seconds(now - entered_at) / _DAY, Decimal(0))
    return days.quantize(_CENT, rounding=ROUND_HALF_UP)


def is_stalled(stage: Stage, *, stage_entered_at: datetime, now: datetime, policy: FunnelPolicy) -> bool:
    """Time in ``stage`` exceeds the ideal days of the step out of it × stall factor.

    ``signed`` uses the signed → implemented step; ``implemented`` and ``abandoned`` have
    no next step and are never stalled.
    """
    step = policy.step_from(stage)
    if step is None:
        return False
    limit = Decimal(step.ideal_days) * Decimal(policy.stall_factor) * _DAY
    return _seconds(now - stage_entered_at) > limit

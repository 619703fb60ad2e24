"""Customer grading: the suggested initial grade and the trading scorecard (SPEC §7)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, Decimal
from itertools import pairwise
from typing import Literal

from app.domain.customers import Source
from app.domain.errors import InvalidInput

GRADES: tuple[str, ...] = ("A", "B", "C")  # best first
_GRADE_RANK = {grade: rank for rank, grade in enumerate(GRADES)}

# Headcount bands for ``customer.size``; the last two count as a "larger company".
SIZE_BANDS: tuple[str, ...] = ("1-49", "50-199", "200-999", "1000+")
LARGER_SIZE_BANDS: frozenset[str] = frozenset({"200-999", "1000+"})
# Sources that mean the customer came to us (an inbound enquiry). ``web`` is left out:
# it covers scraped and form-filled leads alike, which say nothing about intent.
INBOUND_SOURCES: frozenset[str] = frozenset({Source.inbound_call})

# Points for bands 1..5 of every factor (SPEC §7.2); thresholds are policy, points are not.
BAND_SCORES: tuple[int, ...] = (10, 8, 6, 4, 2)

FACTOR_SIGNED_AMOUNT = "signed_amount"
FACTOR_REPAYMENT_RATE = "repayment_rate"
FACTOR_OUTSTANDING = "outstanding"
FACTORS: tuple[str, ...] = (FACTOR_SIGNED_AMOUNT, FACTOR_REPAYMENT_RATE, FACTOR_OUTSTANDING)
MIN_TOTAL = len(FACTORS) * BAND_SCORES[-1]  # 6
MAX_TOTAL = len(FACTORS) * BAND_SCORES[0]  # 30

_RATE_PLACES = Decimal("0.0001")


def _err(loc: Sequence[str | int], msg: str) -> dict[str, object]:
    return {"loc": list(loc), "msg": msg, "type": "value_error"}


# --------------------------------------------------------------------------- initial grade


@dataclass(frozen=True, kw_only=True)
class GradeSuggestion:
    grade: str
    reasons: tuple[str, ...]


def suggest_initial_grade(
    *,
    size: str | None,
    source: str | None,
    is_trial_user: bool,
    has_verified_contact: bool,
    has_fitting_product: bool,
    decision_maker_reachable: bool | None = None,
) -> GradeSuggestion:
    """Suggest A/B/C for a customer entering ``graded`` (the rep decides).

    A-signals win over C-signals: a customer who called us or is trying the product is
    worth the effort even while the decision maker is hard to reach. C is "unclear": the
    decision maker is known to be unreachable, or we know neither the company's size nor
    a verified way to reach it. Everything else is an ordinary B.
    """
    if size is not None and size not in SIZE_BANDS:
        raise InvalidInput(
            "Unknown company size band.", errors=[_err(["size"], f"expected one of {', '.join(SIZE_BANDS)}")]
        )

    a_reasons: list[str] = []
    if source in INBOUND_SOURCES:
        a_reasons.append("inbound enquiry")
    if is_trial_user:
        a_reasons.append("trial user")
    if size in LARGER_SIZE_BANDS and has_fitting_product and has_verified_contact:
        a_reasons.append(f"larger company ({size}) with a fitting product and verified contact")
    if a_reasons:
        return GradeSuggestion(grade="A", reasons=tuple(a_reasons))

    c_reasons: list[str] = []
    if decision_maker_reachable is False:
        c_reasons.append("decision maker hard to reach")
    if size is None and not has_verified_contact:
        c_reasons.append("situation unclear: size unknown and no verified contact")
    if c_reasons:
        return GradeSuggestion(grade="C", reasons=tuple(c_reasons))

    b_reasons = ["ordinary company: need uncertain but possible"]
    if size in LARGER_SIZE_BANDS:
        missing = [
            what
            for what, ok in (
                ("fitting product", has_fitting_product),
                ("verified contact", has_verified_contact),
            )
            if not ok
        ]
        b_reasons.append(f"larger company but missing {' and '.join(missing)}")
    return GradeSuggestion(grade="B", reasons=tuple(b_reasons))


# --------------------------------------------------------------------------- policy


def _decimals(*values: str) -> tuple[Decimal, ...]:
    return tuple(Decimal(v) for v in values)


@dataclass(frozen=True, kw_only=True)
class GradingPolicy:
    """Scorecard thresholds (SPEC §7.2 *defaults*); ``version`` is stored with each grading.

    Each threshold tuple holds the four boundaries of the 10/8/6/4 bands; a value
    beyond the last one scores 2. Amount and rate bands are "at least" (descending);
    outstanding bands are "at most" (ascending), since owing less is better.
    """

    version: int = 1
    signed_amount_thresholds: tuple[Decimal, ...] = _decimals("10000000", "8000000", "5000000", "1000000")
    repayment_rate_thresholds: tuple[Decimal, ...] = _decimals("1.00", "0.80", "0.50", "0.30")
    outstanding_thresholds: tuple[Decimal, ...] = _decimals("10000", "200000", "800000", "2000000")
    grade_a_min_total: int = 24
    grade_b_min_total: int = 16
    trailing_months: int = 12
    min_trading_days: int = 180


DEFAULT_GRADING_POLICY = GradingPolicy()


def validate_grading_policy(policy: GradingPolicy) -> GradingPolicy:
    """Return ``policy`` if coherent, else raise InvalidInput listing every problem."""
    errors: list[dict[str, object]] = []
    bands = len(BAND_SCORES) - 1
    for name, descending in (
        ("signed_amount_thresholds", True),
        ("repayment_rate_thresholds", True),
        ("outstanding_thresholds", False),
    ):
        values: tuple[Decimal, ...] = getattr(policy, name)
        if len(values) != bands:
            errors.append(_err(["policy", name], f"needs exactly {bands} thresholds"))
            continue
        if any(v < 0 for v in values):
            errors.append(_err(["policy", name], "thresholds must not be negative"))
        if descending and any(b >= a for a, b in pairwise(values)):
            errors.append(_err(["policy", name], "thresholds must be strictly descending"))
        if not descending and any(b <= a for a, b in pairwise(values)):
            errors.append(_err(["policy", name], "thresholds must be strictly ascending"))
    for name in ("grade_a_min_total", "grade_b_min_total"):
        if not MIN_TOTAL <= getattr(policy, name) <= MAX_TOTAL:
            errors.append(_err(["policy", name], f"must be within {MIN_TOTAL}..{MAX_TOTAL}"))
    if policy.grade_a_min_total <= policy.grade_b_min_total:
        errors.append(_err(["policy", "grade_a_min_total"], "must be greater than grade_b_min_total"))
    for name in ("version", "trailing_months", "min_trading_days"):
        if getattr(policy, name) <= 0:
            errors.append(_err(["policy", name], "must be positive"))
    if errors:
        raise InvalidInput("Grading policy is invalid.", errors=errors)
    return policy


# --------------------------------------------------------------------------- scorecard


@dataclass(frozen=True, kw_only=True)
class TradingFacts:
    """What the customer traded in the trailing window ending ``as_of``."""

    signed_amount: Decimal
    billed: Decimal
    paid: Decimal
    outstanding_at_period_end: Decimal
    first_trading_date: date | None
    as_of: date


@dataclass(frozen=True, kw_only=True)
class FactorScore:
    factor: str
    value: Decimal | None  # None: the repayment rate when nothing was billed
    score: int
    band: str  # the band the value fell in, e.g. "≥ 5,000,000"


@dataclass(frozen=True, kw_only=True)
class Scorecard:
    """A grading with everything needed to store and explain it."""

    eligible: bool
    grade: str | None  # None when not eligible
    total: int | None  # None when not eligible
    factors: tuple[FactorScore, ...]  # empty when not eligible
    reasons: tuple[str, ...]
    policy_version: int
    inputs: TradingFacts


def _fmt_amount(value: Decimal) -> str:
    return f"{value:,}"


def _fmt_rate(value: Decimal) -> str:
    return f"{(value * 100).normalize():f}%"


def _score_at_least(
    value: Decimal, thresholds: Sequence[Decimal], fmt: Callable[[Decimal], str]
) -> tuple[int, str]:
    for threshold, score in zip(thresholds, BAND_SCORES, strict=False):
        if value >= threshold:
            return score, f"≥ {fmt(threshold)}"
    return BAND_SCORES[-1], f"< {fmt(thresholds[-1])}"


def _score_at_most(
    value: Decimal, thresholds: Sequence[Decimal], fmt: Callable[[Decimal], str]
) -> tuple[int, str]:
    for threshold, score in zip(thresholds, BAND_SCORES, strict=False):
        if value <= threshold:
            return score, f"≤ {fmt(threshold)}"
    return BAND_SCORES[-1], f"> {fmt(thresholds[-1])}"


def _check_facts(facts: TradingFacts) -> None:
    errors = [
        _err(["facts", name], "must not be negative")
        for name in ("signed_amount", "billed", "paid", "outstanding_at_period_end")
        if getattr(facts, name) < 0
    ]
    if errors:
        raise InvalidInput("Trading facts are invalid.", errors=errors)


def repayment_rate(*, billed: Decimal, paid: Decimal) -> Decimal | None:
    """paid / billed, truncated to 4 places (so it never shows a band it did not reach).

    ``None`` when nothing was billed: there is no rate to speak of.
    """
    if billed == 0:
        return None
    return (paid / billed).quantize(_RATE_PLACES, rounding=ROUND_DOWN)


def grade_for_total(total: int, policy: GradingPolicy = DEFAULT_GRADING_POLICY) -> str:
    """A at or above the A cut-off, B at or above the B cut-off, else C."""
    if total >= policy.grade_a_min_total:
        return "A"
    if total >= policy.grade_b_min_total:
        return "B"
    return "C"


def score_customer(facts: TradingFacts, policy: GradingPolicy = DEFAULT_GRADING_POLICY) -> Scorecard:
    """Score the trailing window and grade it (A ≥ ``grade_a_min_total``, B ≥ ..., else C).

    Nothing billed in the window scores the repayment factor as 100%: nothing fell due
    that could go unpaid, and debt older than the window is already penalised by the
    outstanding factor.
    """
    _check_facts(facts)

    def ineligible(reason: str) -> Scorecard:
        return Scorecard(
            eligible=False,
            grade=None,
            total=None,
            factors=(),
            reasons=(reason,),
            policy_version=policy.version,
            inputs=facts,
        )

    if facts.first_trading_date is None:
        return ineligible("no trading history")
    days = (facts.as_of - facts.first_trading_date).days
    if days < policy.min_trading_days:
        return ineligible(f"trading for {days} days; scoring needs {policy.min_trading_days}")

    amount_score, amount_band = _score_at_least(
        facts.signed_amount, policy.signed_amount_thresholds, _fmt_amount
    )

    # Compare the exact ratio; the stored value is only for display.
    rate = repayment_rate(billed=facts.billed, paid=facts.paid)
    if rate is None:
        rate_score = BAND_SCORES[0]
        rate_band = "nothing billed: scored as 100%"
    else:
        rate_score, rate_band = _score_at_least(
            facts.paid / facts.billed, policy.repayment_rate_thresholds, _fmt_rate
        )

    outstanding_score, outstanding_band = _score_at_most(
        facts.outstanding_at_period_end, policy.outstanding_thresholds, _fmt_amount
    )

    factors = (
        FactorScore(
            factor=FACTOR_SIGNED_AMOUNT, value=facts.signed_amount, score=amount_score, band=amount_band
        ),
        FactorScore(factor=FACTOR_REPAYMENT_RATE, value=rate, score=rate_score, band=rate_band),
        FactorScore(
            factor=FACTOR_OUTSTANDING,
            value=facts.outstanding_at_period_end,
            score=outstanding_score,
            band=outstanding_band,
        ),
    )
    total = sum(f.score for f in factors)
    grade = grade_for_total(total, policy)
    cut = {
        "A": f"≥ {policy.grade_a_min_total}",
        "B": f"≥ {policy.grade_b_min_total}",
        "C": f"< {policy.grade_b_min_total}",
    }[grade]
    return Scorecard(
        eligible=True,
        grade=grade,
        total=total,
        factors=factors,
        reasons=(f"total {total} {cut}: grade {grade}",),
        policy_version=policy.version,
        inputs=facts,
    )


# --------------------------------------------------------------------------- changes

GradeChange = Literal["up", "down", "same", "new"]


def _check_grade(grade: str | None, loc: str) -> None:
    if grade is not None and grade not in _GRADE_RANK:
        raise InvalidInput("Unknown grade.", errors=[_err([loc], f"expected one of {', '.join(GRADES)}")])


def grade_change(old: str | None, new: str | None) -> GradeChange:
    """How a grade moved. No new grade (an ineligible scorecard) leaves it ``same``."""
    _check_grade(old, "old")
    _check_grade(new, "new")
    if new is None or old == new:
        return "same"
    if old is None:
        return "new"
    return "up" if _GRADE_RANK[new] < _GRADE_RANK[old] else "down"


def is_drop(old: str | None, new: str | None) -> bool:
    """Whether the move from ``old`` to ``new`` is a drop (raises a credit warning)."""
    return grade_change(old, new) == "down"

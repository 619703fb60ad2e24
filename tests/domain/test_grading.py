"""Grading domain: initial grade suggestion, scorecard bands, cut-offs and grade changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import InvalidInput
from app.domain.grading import (
    DEFAULT_GRADING_POLICY,
    SIZE_BANDS,
    GradingPolicy,
    Scorecard,
    TradingFacts,
    grade_change,
    grade_for_total,
    is_drop,
    repayment_rate,
    score_customer,
    suggest_initial_grade,
    validate_grading_policy,
)

D = Decimal
P = DEFAULT_GRADING_POLICY
AS_OF = date(2025, 6, 30)


# --------------------------------------------------------------------------- initial grade


def initial(**kw) -> tuple[str, tuple[str, ...]]:
    args = {
        "size": "50-199",
        "source": "web",
        "is_trial_user": False,
        "has_verified_contact": True,
        "has_fitting_product": True,
        "decision_maker_reachable": True,
    }
    args.update(kw)
    s = suggest_initial_grade(**args)
    return s.grade, s.reasons


class TestInitialGrade:
    def test_size_bands(self) -> None:
        assert SIZE_BANDS == ("1-49", "50-199", "200-999", "1000+")

    @pytest.mark.parametrize("size", ["200-999", "1000+"])
    def test_larger_company_with_product_and_contact_is_a(self, size: str) -> None:
        grade, reasons = initial(size=size)
        assert grade == "A"
        assert any("larger company" in r for r in reasons)

    @pytest.mark.parametrize(
        "kw",
        [
            {"size": "50-199"},
            {"size": "1-49"},
            {"size": "1000+", "has_fitting_product": False},
            {"size": "1000+", "has_verified_contact": False},
            {"size": None},
            {"decision_maker_reachable": None},
        ],
    )
    def test_ordinary_company_is_b(self, kw: dict) -> None:
        assert initial(**kw)[0] == "B"

    def test_larger_company_missing_things_explains_why(self) -> None:
        _, reasons = initial(size="1000+", has_fitting_product=False, has_verified_contact=False)
        assert any("fitting product and verified contact" in r for r in reasons)

    def test_trial_user_is_a(self) -> None:
        assert initial(
            size=None, is_trial_user=True, has_verified_contact=False, decision_maker_reachable=False
        ) == ("A", ("trial user",))

    def test_inbound_call_is_a(self) -> None:
        assert initial(source="inbound_call", size="1-49", has_fitting_product=False) == (
            "A",
            ("inbound enquiry",),
        )

    @pytest.mark.parametrize(
        "source", ["web", "exhibition", "referral", "self_discovered", "import", "other", None]
    )
    def test_other_sources_are_not_inbound(self, source: str | None) -> None:
        assert initial(source=source)[0] == "B"

    def test_all_a_reasons_listed(self) -> None:
        _, reasons = initial(source="inbound_call", is_trial_user=True, size="1000+")
        assert len(reasons) == 3

    def test_unreachable_decision_maker_is_c(self) -> None:
        assert initial(decision_maker_reachable=False) == ("C", ("decision maker hard to reach",))

    def test_unclear_situation_is_c(self) -> None:
        grade, reasons = initial(size=None, has_verified_contact=False)
        assert grade == "C"
        assert "situation unclear" in reasons[0]

    def test_a_signal_beats_c_signal(self) -> None:
        assert initial(source="inbound_call", decision_maker_reachable=False)[0] == "A"

    def test_unknown_size_rejected(self) -> None:
        with pytest.raises(InvalidInput):
            initial(size="huge")


# --------------------------------------------------------------------------- policy


class TestGradingPolicy:
    def test_defaults_follow_spec(self) -> None:
        assert P.version == 1
        assert P.signed_amount_thresholds == (D("10000000"), D("8000000"), D("5000000"), D("1000000"))
        assert P.repayment_rate_thresholds == (D("1"), D("0.8"), D("0.5"), D("0.3"))
        assert P.outstanding_thresholds == (D("10000"), D("200000"), D("800000"), D("2000000"))
        assert (P.grade_a_min_total, P.grade_b_min_total) == (24, 16)
        assert (P.trailing_months, P.min_trading_days) == (12, 180)
        assert validate_grading_policy(P) is P
        assert hash(GradingPolicy()) == hash(P)

    @pytest.mark.parametrize(
        ("changes", "loc"),
        [
            ({"signed_amount_thresholds": (D(3), D(2), D(1))}, "signed_amount_thresholds"),
            ({"signed_amount_thresholds": (D(4), D(3), D(3), D(1))}, "signed_amount_thresholds"),
            ({"signed_amount_thresholds": (D(1), D(2), D(3), D(4))}, "signed_amount_thresholds"),
            ({"signed_amount_thresholds": (D(3), D(2), D(1), D(-1))}, "signed_amount_thresholds"),
            (
                {"repayment_rate_thresholds": (D("1"), D("0.8"), D("0.8"), D("0.3"))},
                "repayment_rate_thresholds",
            ),
            ({"outstanding_thresholds": (D(4), D(3), D(2), D(1))}, "outstanding_thresholds"),
            ({"outstanding_thresholds": (D(1), D(2), D(2), D(3))}, "outstanding_thresholds"),
            ({"outstanding_thresholds": (D(1), D(2), D(3), D(4), D(5))}, "outstanding_thresholds"),
            ({"grade_a_min_total": 16}, "grade_a_min_total"),
            ({"grade_a_min_total": 15}, "grade_a_min_total"),
            ({"grade_a_min_total": 31}, "grade_a_min_total"),
            ({"grade_b_min_total": 5}, "grade_b_min_total"),
            ({"version": 0}, "version"),
            ({"trailing_months": 0}, "trailing_months"),
            ({"min_trading_days": 0}, "min_trading_days"),
            ({"min_trading_days": -1}, "min_trading_days"),
        ],
    )
    def test_invalid_policies(self, changes: dict, loc: str) -> None:
        with pytest.raises(InvalidInput) as exc:
            validate_grading_policy(replace(P, **changes))
        assert ["policy", loc] in [e["loc"] for e in exc.value.errors]

    def test_extreme_valid_cutoffs(self) -> None:
        validate_grading_policy(replace(P, grade_a_min_total=30, grade_b_min_total=6))
        validate_grading_policy(replace(P, grade_a_min_total=7, grade_b_min_total=6))

    def test_thresholds_may_start_at_zero(self) -> None:
        validate_grading_policy(
            replace(
                P,
                outstanding_thresholds=(D(0), D(1), D(2), D(3)),
                repayment_rate_thresholds=(D(3), D(2), D(1), D(0)),
            )
        )


# --------------------------------------------------------------------------- scorecard


def facts(
    *,
    signed: str = "0",
    billed: str = "100",
    paid: str = "100",
    outstanding: str = "0",
    days: int | None = 365,
) -> TradingFacts:
    return TradingFacts(
        signed_amount=D(signed),
        billed=D(billed),
        paid=D(paid),
        outstanding_at_period_end=D(outstanding),
        first_trading_date=None if days is None else AS_OF - timedelta(days=days),
        as_of=AS_OF,
    )


def factor(card: Scorecard, name: str) -> tuple[int, str]:
    (f,) = [f for f in card.factors if f.factor == name]
    return f.score, f.band


class TestSignedAmountBands:
    @pytest.mark.parametrize(
        ("signed", "score", "band"),
        [
            ("100000000", 10, "≥ 10,000,000"),
            ("10000000", 10, "≥ 10,000,000"),
            ("9999999.99", 8, "≥ 8,000,000"),
            ("8000000", 8, "≥ 8,000,000"),
            ("7999999.99", 6, "≥ 5,000,000"),
            ("5000000", 6, "≥ 5,000,000"),
            ("4999999.99", 4, "≥ 1,000,000"),
            ("1000000", 4, "≥ 1,000,000"),
            ("999999.99", 2, "< 1,000,000"),
            ("0", 2, "< 1,000,000"),
        ],
    )
    def test_band(self, signed: str, score: int, band: str) -> None:
        assert factor(score_customer(facts(signed=signed)), "signed_amount") == (score, band)


class TestRepaymentRateBands:
    @pytest.mark.parametrize(
        ("paid", "score", "band"),
        [
            ("150", 10, "≥ 100%"),
            ("100", 10, "≥ 100%"),
            ("99.99", 8, "≥ 80%"),
            ("80", 8, "≥ 80%"),
            ("79.99", 6, "≥ 50%"),
            ("50", 6, "≥ 50%"),
            ("49.99", 4, "≥ 30%"),
            ("30", 4, "≥ 30%"),
            ("29.99", 2, "< 30%"),
            ("0", 2, "< 30%"),
        ],
    )
    def test_band(self, paid: str, score: int, band: str) -> None:
        card = score_customer(facts(billed="100", paid=paid))
        assert factor(card, "repayment_rate") == (score, band)

    def test_rate_is_exact_not_rounded_for_scoring(self) -> None:
        # 7,999,999.99 / 10,000,000 = 0.799999999: shown truncated, scored below 80%
        card = score_customer(facts(billed="10000000", paid="7999999.99"))
        (f,) = [f for f in card.factors if f.factor == "repayment_rate"]
        assert f.value == D("0.7999")
        assert f.score == 6

    def test_rate_value(self) -> None:
        assert repayment_rate(billed=D("3"), paid=D("2")) == D("0.6666")
        assert repayment_rate(billed=D("100"), paid=D("150")) == D("1.5")
        assert repayment_rate(billed=D("0"), paid=D("5")) is None

    @pytest.mark.parametrize("paid", ["0", "50"])
    def test_nothing_billed_scores_full(self, paid: str) -> None:
        card = score_customer(facts(billed="0", paid=paid))
        (f,) = [f for f in card.factors if f.factor == "repayment_rate"]
        assert f.value is None
        assert f.score == 10
        assert "nothing billed" in f.band

    def test_nothing_billed_old_debt_still_costs_on_outstanding(self) -> None:
        card = score_customer(facts(billed="0", paid="0", outstanding="3000000"))
        assert factor(card, "repayment_rate")[0] == 10
        assert factor(card, "outstanding")[0] == 2


class TestOutstandingBands:
    @pytest.mark.parametrize(
        ("outstanding", "score", "band"),
        [
            ("0", 10, "≤ 10,000"),
            ("10000", 10, "≤ 10,000"),
            ("10000.01", 8, "≤ 200,000"),
            ("200000", 8, "≤ 200,000"),
            ("200000.01", 6, "≤ 800,000"),
            ("800000", 6, "≤ 800,000"),
            ("800000.01", 4, "≤ 2,000,000"),
            ("2000000", 4, "≤ 2,000,000"),
            ("2000000.01", 2, "> 2,000,000"),
            ("99000000", 2, "> 2,000,000"),
        ],
    )
    def test_band(self, outstanding: str, score: int, band: str) -> None:
        card = score_customer(facts(outstanding=outstanding))
        assert factor(card, "outstanding") == (score, band)


class TestGradeCutoffs:
    @pytest.mark.parametrize(
        ("total", "grade"),
        [
            (30, "A"),
            (24, "A"),
            (23, "B"),
            (16, "B"),
            (15, "C"),
            (6, "C"),
        ],
    )
    def test_grade_for_total(self, total: int, grade: str) -> None:
        assert grade_for_total(total, P) == grade

    def test_custom_cutoffs(self) -> None:
        policy = replace(P, grade_a_min_total=20, grade_b_min_total=10)
        assert grade_for_total(20, policy) == "A"
        assert grade_for_total(19, policy) == "B"
        assert grade_for_total(9, policy) == "C"

    @pytest.mark.parametrize(
        ("kw", "total", "grade"),
        [
            # 10 + 10 + 10
            ({"signed": "10000000"}, 30, "A"),
            # 6 + 10 + 8 = 24
            ({"signed": "5000000", "outstanding": "200000"}, 24, "A"),
            # 4 + 10 + 8 = 22
            ({"signed": "1000000", "outstanding": "200000"}, 22, "B"),
            # 2 + 6 + 8 = 16
            ({"paid": "50", "outstanding": "200000"}, 16, "B"),
            # 2 + 6 + 6 = 14
            ({"paid": "50", "outstanding": "800000"}, 14, "C"),
            # 2 + 2 + 2
            ({"paid": "0", "outstanding": "1E+7"}, 6, "C"),
        ],
    )
    def test_scorecard_totals(self, kw: dict, total: int, grade: str) -> None:
        card = score_customer(facts(**kw))
        assert card.eligible
        assert (card.total, card.grade) == (total, grade)
        assert card.reasons == (
            f"total {total} {'≥ 24' if grade == 'A' else '≥ 16' if grade == 'B' else '< 16'}: grade {grade}",
        )

    def test_scorecard_keeps_inputs_and_version(self) -> None:
        f = facts(signed="5000000")
        card = score_customer(f, replace(P, version=7))
        assert card.inputs is f
        assert card.policy_version == 7
        assert [x.factor for x in card.factors] == ["signed_amount", "repayment_rate", "outstanding"]
        assert card.factors[0].value == D("5000000")

    def test_thresholds_come_from_policy(self) -> None:
        policy = replace(P, signed_amount_thresholds=(D(400), D(300), D(200), D(100)))
        assert factor(score_customer(facts(signed="300"), policy), "signed_amount")[0] == 8


class TestEligibility:
    def test_exactly_min_trading_days_is_eligible(self) -> None:
        card = score_customer(facts(days=180))
        assert card.eligible and card.grade is not None

    def test_one_day_short_is_not(self) -> None:
        card = score_customer(facts(days=179))
        assert not card.eligible
        assert card.grade is None and card.total is None and card.factors == ()
        assert card.reasons == ("trading for 179 days; scoring needs 180",)
        assert card.policy_version == P.version

    def test_no_trading_history(self) -> None:
        card = score_customer(facts(days=None))
        assert not card.eligible and card.grade is None
        assert card.reasons == ("no trading history",)

    def test_first_trade_after_as_of(self) -> None:
        assert not score_customer(facts(days=-5)).eligible

    def test_window_from_policy(self) -> None:
        policy = replace(P, min_trading_days=30)
        assert score_customer(facts(days=30), policy).eligible
        assert not score_customer(facts(days=29), policy).eligible

    @pytest.mark.parametrize("field", ["signed", "billed", "paid", "outstanding"])
    def test_negative_facts_rejected(self, field: str) -> None:
        with pytest.raises(InvalidInput):
            score_customer(facts(**{field: "-0.01"}))


money = st.integers(min_value=0, max_value=2_000_000_000).map(lambda c: D(c).scaleb(-2))


@given(a=money, b=money, billed=money, paid=money, outstanding=money)
def test_score_monotone_in_signed_amount(
    a: Decimal, b: Decimal, billed: Decimal, paid: Decimal, outstanding: Decimal
) -> None:
    lo, hi = sorted((a, b))
    card_lo = score_customer(
        TradingFacts(
            signed_amount=lo,
            billed=billed,
            paid=paid,
            outstanding_at_period_end=outstanding,
            first_trading_date=date(2020, 1, 1),
            as_of=AS_OF,
        )
    )
    card_hi = score_customer(replace(card_lo.inputs, signed_amount=hi))
    assert card_lo.total is not None and card_hi.total is not None
    assert card_lo.total <= card_hi.total
    assert "ABC".index(card_hi.grade or "") <= "ABC".index(card_lo.grade or "")


@given(a=money, b=money, billed=money.filter(lambda v: v > 0), signed=money)
def test_score_monotone_in_paid_and_antitone_in_outstanding(
    a: Decimal, b: Decimal, billed: Decimal, signed: Decimal
) -> None:
    lo, hi = sorted((a, b))
    base = TradingFacts(
        signed_amount=signed,
        billed=billed,
        paid=lo,
        outstanding_at_period_end=lo,
        first_trading_date=date(2020, 1, 1),
        as_of=AS_OF,
    )

    def total(f: TradingFacts) -> int:
        card = score_customer(f)
        assert card.total is not None
        return card.total

    assert total(base) <= total(replace(base, paid=hi))
    assert total(replace(base, outstanding_at_period_end=hi)) <= total(base)


@given(signed=money, billed=money, paid=money, outstanding=money)
def test_scores_are_bounded(signed: Decimal, billed: Decimal, paid: Decimal, outstanding: Decimal) -> None:
    card = score_customer(
        TradingFacts(
            signed_amount=signed,
            billed=billed,
            paid=paid,
            outstanding_at_period_end=outstanding,
            first_trading_date=date(2020, 1, 1),
            as_of=AS_OF,
        )
    )
    assert all(f.score in (10, 8, 6, 4, 2) for f in card.factors)
    assert card.total == sum(f.score for f in card.factors)
    assert card.grade == grade_for_total(card.total or 0)


# --------------------------------------------------------------------------- changes


class TestGradeChange:
    @pytest.mark.parametrize(
        ("old", "new", "change", "drop"),
        [
            ("A", "A", "same", False),
            ("B", "B", "same", False),
            ("C", "C", "same", False),
            ("C", "B", "up", False),
            ("B", "A", "up", False),
            ("C", "A", "up", False),
            ("A", "B", "down", True),
            ("B", "C", "down", True),
            ("A", "C", "down", True),
            (None, "A", "new", False),
            (None, "C", "new", False),
            (None, None, "same", False),
            ("B", None, "same", False),
        ],
    )
    def test_changes(self, old: str | None, new: str | None, change: str, drop: bool) -> None:
        assert grade_change(old, new) == change
        assert is_drop(old, new) is drop

    @pytest.mark.parametrize(("old", "new"), [("D", "A"), ("A", "a")])
    def test_unknown_grades_rejected(self, old: str, new: str) -> None:
        with pytest.raises(InvalidInput):
            grade_change(old, new)

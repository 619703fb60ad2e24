"""Credit domain: limits, signing checks, approvals, suggestions, aging and allocation."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain import credit
from app.domain.credit import (
    DEFAULT_CREDIT_POLICY,
    AgingBucket,
    ApprovalNotAllowed,
    CreditLimitExceeded,
    CreditOnHold,
    CreditPolicy,
    CreditState,
    OpenItem,
    Override,
    OverrideNotAllowed,
    OverrideReasonRequired,
    PaymentApplicationInvalid,
    SelfApproval,
    apply_payment,
    available,
    bucket_for,
    can_approve,
    check_can_approve,
    collection_action,
    credit_warnings,
    decide_signing,
    exposure,
    is_on_hold,
    provision,
    provision_rate,
    required_approver_role,
    suggested_limit,
    validate_credit_policy,
)
from app.domain.errors import Conflict, Forbidden, InvalidInput

D = Decimal
P = DEFAULT_CREDIT_POLICY
ALL_ROLES = ("admin", "director", "manager", "rep", "support", "finance", "integration")


def state(
    limit: str = "10000", receivables: str = "0", unbilled: str = "0", *, overdue: int = 0, hold: bool = False
) -> CreditState:
    return CreditState(
        credit_limit=D(limit),
        open_receivables=D(receivables),
        signed_unbilled=D(unbilled),
        max_days_overdue=overdue,
        on_hold_flag=hold,
    )


# --------------------------------------------------------------------------- policy


class TestPolicy:
    def test_defaults_follow_spec(self) -> None:
        assert P.manager_limit_max == D("100000")
        assert P.finance_limit_max == D("1000000")
        assert P.hold_after_overdue_days == 60
        assert P.warn_ratio == D("0.80")
        assert P.default_payment_terms_days == 30
        assert P.min_repayment_rate == D("0.5")
        assert dict(P.grade_factors) == {"A": D("1.5"), "B": D("1.0"), "C": D("0.5")}
        assert [P.provision_rates[b] for b in AgingBucket] == [
            D("0"),
            D("0.01"),
            D("0.05"),
            D("0.10"),
            D("0.30"),
            D("0.50"),
        ]
        assert [P.collection_actions[b] for b in AgingBucket] == [
            "none",
            "reminder",
            "call",
            "manager_visit",
            "escalation",
            "legal",
        ]
        assert validate_credit_policy(P) is P

    def test_policy_is_frozen_and_maps_read_only(self) -> None:
        rates = {b: D("0") for b in AgingBucket}
        policy = CreditPolicy(provision_rates=rates)
        rates[AgingBucket.current] = D("1")  # the caller's dict no longer matters
        assert policy.provision_rates[AgingBucket.current] == D("0")
        with pytest.raises(TypeError):
            policy.grade_factors["A"] = D("9")  # type: ignore[index]
        with pytest.raises(AttributeError):
            policy.warn_ratio = D("0.5")  # type: ignore[misc]

    def test_policy_is_hashable_and_comparable(self) -> None:
        assert CreditPolicy() == P
        assert hash(CreditPolicy()) == hash(P)

    @pytest.mark.parametrize(
        ("changes", "loc"),
        [
            ({"manager_limit_max": D("-1")}, "manager_limit_max"),
            ({"finance_limit_max": D("-1"), "manager_limit_max": D("-2")}, "finance_limit_max"),
            ({"manager_limit_max": D("1000000.01")}, "manager_limit_max"),
            ({"hold_after_overdue_days": -1}, "hold_after_overdue_days"),
            ({"warn_ratio": D("0")}, "warn_ratio"),
            ({"warn_ratio": D("1.01")}, "warn_ratio"),
            ({"default_payment_terms_days": -1}, "default_payment_terms_days"),
            ({"min_repayment_rate": D("1.1")}, "min_repayment_rate"),
            ({"min_repayment_rate": D("-0.1")}, "min_repayment_rate"),
            ({"provision_rates": {b: D("0") for b in list(AgingBucket)[:-1]}}, "provision_rates"),
            ({"provision_rates": {b: D("1.5") for b in AgingBucket}}, "provision_rates"),
            ({"provision_rates": {**P.provision_rates, AgingBucket.over_180: D("0.2")}}, "provision_rates"),
            ({"collection_actions": {AgingBucket.current: "none"}}, "collection_actions"),
            ({"grade_factors": {}}, "grade_factors"),
            ({"grade_factors": {"A": D("-1")}}, "grade_factors"),
        ],
    )
    def test_invalid_policies(self, changes: dict, loc: str) -> None:
        with pytest.raises(InvalidInput) as exc:
            validate_credit_policy(replace(P, **changes))
        assert ["policy", loc] in [e["loc"] for e in exc.value.errors]

    def test_boundary_policies_are_valid(self) -> None:
        validate_credit_policy(
            replace(
                P,
                manager_limit_max=D("0"),
                finance_limit_max=D("0"),
                warn_ratio=D("1"),
                hold_after_overdue_days=0,
                min_repayment_rate=D("0"),
                provision_rates={b: D("1") for b in AgingBucket},
            )
        )

    def test_all_problems_reported_at_once(self) -> None:
        with pytest.raises(InvalidInput) as exc:
            validate_credit_policy(replace(P, warn_ratio=D("0"), hold_after_overdue_days=-1))
        assert len(exc.value.errors) == 2


# --------------------------------------------------------------------------- exposure


class TestExposure:
    def test_exposure_and_available(self) -> None:
        assert exposure(D("100.10"), D("50.205")) == D("150.31")
        assert available(D("1000"), D("150.31")) == D("849.69")

    def test_available_goes_negative_when_over_limit(self) -> None:
        assert available(D("100"), D("150")) == D("-50.00")

    def test_state_properties(self) -> None:
        s = state("10000", "3000", "2000")
        assert s.exposure == D("5000.00")
        assert s.available == D("5000.00")


class TestHold:
    @pytest.mark.parametrize(
        ("days", "held"), [(0, False), (59, False), (60, False), (61, True), (400, True)]
    )
    def test_hold_strictly_after_threshold(self, days: int, held: bool) -> None:
        assert is_on_hold(state(overdue=days), P) is held

    def test_manual_hold(self) -> None:
        assert is_on_hold(state(hold=True), P)

    def test_threshold_is_policy(self) -> None:
        assert is_on_hold(state(overdue=11), replace(P, hold_after_overdue_days=10))


# --------------------------------------------------------------------------- signing


class TestSigningLimit:
    def test_well_within_limit(self) -> None:
        d = decide_signing(state=state("10000", "3000", "2000"), amount=D("1000"), actor_role="rep")
        assert not d.override_used
        assert d.shortfall == D("0.00")
        assert (d.limit, d.exposure, d.available) == (D("10000.00"), D("5000.00"), D("5000.00"))
        assert d.exposure_after == D("6000.00")
        assert d.override_reason is None and d.override_role is None

    def test_exactly_at_limit_passes(self) -> None:
        d = decide_signing(state=state("10000", "3000", "2000"), amount=D("5000.00"), actor_role="rep")
        assert d.exposure_after == D("10000.00")

    def test_one_cent_over_fails_with_figures(self) -> None:
        with pytest.raises(CreditLimitExceeded) as exc:
            decide_signing(state=state("10000", "3000", "2000"), amount=D("5000.01"), actor_role="rep")
        err = exc.value
        assert isinstance(err, Conflict)
        assert err.code == "credit.limit_exceeded"
        assert err.extra == {
            "limit": "10000.00",
            "exposure": "5000.00",
            "available": "5000.00",
            "shortfall": "0.01",
        }

    def test_zero_limit_refuses_any_amount(self) -> None:
        with pytest.raises(CreditLimitExceeded) as exc:
            decide_signing(state=state("0"), amount=D("0.01"), actor_role="rep")
        assert exc.value.extra["shortfall"] == "0.01"
        assert exc.value.extra["available"] == "0.00"

    def test_already_over_limit_shortfall_includes_the_excess(self) -> None:
        with pytest.raises(CreditLimitExceeded) as exc:
            decide_signing(state=state("1000", "1500"), amount=D("100"), actor_role="rep")
        assert exc.value.extra["available"] == "-500.00"
        assert exc.value.extra["shortfall"] == "600.00"

    def test_money_in_extras_has_two_places_for_big_amounts(self) -> None:
        with pytest.raises(CreditLimitExceeded) as exc:
            decide_signing(state=state("12500"), amount=D("1E+8"), actor_role="rep")
        assert exc.value.extra["limit"] == "12500.00"
        assert exc.value.extra["shortfall"] == "99987500.00"

    @pytest.mark.parametrize("amount", [D("0"), D("-1")])
    def test_amount_must_be_positive(self, amount: Decimal) -> None:
        with pytest.raises(InvalidInput):
            decide_signing(state=state(), amount=amount, actor_role="rep")


OVER = state("10000", "10000")  # available 0


class TestSigningOverride:
    def test_director_overrides_without_bound(self) -> None:
        d = decide_signing(
            state=OVER,
            amount=D("5000000"),
            override=Override(reason="  strategic deal "),
            actor_role="director",
        )
        assert d.override_used
        assert d.overridden == ("credit.limit_exceeded",)
        assert d.override_reason == "strategic deal"
        assert d.override_role == "director"
        assert d.shortfall == D("5000000.00")
        assert d.exposure_after == D("5010000.00")

    def test_finance_overrides_up_to_finance_limit_max_after_signing(self) -> None:
        # Exposure 10000 before; 990000 more makes exactly 1,000,000.
        d = decide_signing(
            state=OVER, amount=D("990000.00"), override=Override(reason="ok"), actor_role="finance"
        )
        assert d.override_role == "finance" and d.exposure_after == D("1000000.00")
        with pytest.raises(OverrideNotAllowed) as exc:
            decide_signing(
                state=OVER, amount=D("990000.01"), override=Override(reason="ok"), actor_role="finance"
            )
        assert exc.value.extra["exposure_after"] == "1000000.01"
        assert exc.value.extra["override_ceiling"] == "1000000.00"

    def test_manager_overrides_up_to_the_threshold_after_signing(self) -> None:
        d = decide_signing(
            state=OVER, amount=D("90000.00"), override=Override(reason="ok"), actor_role="manager"
        )
        assert d.override_used and d.override_role == "manager"

    def test_manager_cannot_override_one_cent_more(self) -> None:
        with pytest.raises(OverrideNotAllowed) as exc:
            decide_signing(
                state=OVER, amount=D("90000.01"), override=Override(reason="ok"), actor_role="manager"
            )
        assert isinstance(exc.value, Forbidden)
        assert exc.value.code == "credit.override_not_allowed"
        assert exc.value.extra["shortfall"] == "90000.01"
        assert exc.value.extra["exposure_after"] == "100000.01"
        assert exc.value.extra["block"] == "credit.limit_exceeded"

    def test_manager_authority_is_on_exposure_after_not_shortfall(self) -> None:
        # A fully used 5M limit: a 100k shortfall, but 5.1M exposure after signing.
        with pytest.raises(OverrideNotAllowed) as exc:
            decide_signing(
                state=state("5000000", "5000000"),
                amount=D("100000"),
                override=Override(reason="ok"),
                actor_role="manager",
            )
        assert exc.value.extra["shortfall"] == "100000.00"
        assert exc.value.extra["exposure_after"] == "5100000.00"

    def test_an_approved_request_carries_the_approvers_authority(self) -> None:
        d = decide_signing(
            state=OVER,
            amount=D("50000"),
            actor_role="rep",
            override=Override(reason="ok", approved_role="manager"),
        )
        assert d.override_role == "manager"
        with pytest.raises(OverrideNotAllowed):
            decide_signing(
                state=OVER,
                amount=D("90000.01"),
                actor_role="rep",
                override=Override(reason="ok", approved_role="manager"),
            )

    @pytest.mark.parametrize("role", ["rep", "admin", "support", "integration"])
    def test_other_roles_cannot_override(self, role: str) -> None:
        with pytest.raises(OverrideNotAllowed):
            decide_signing(state=OVER, amount=D("0.01"), override=Override(reason="please"), actor_role=role)

    @pytest.mark.parametrize("reason", ["", "   "])
    def test_override_needs_reason(self, reason: str) -> None:
        with pytest.raises(OverrideReasonRequired) as exc:
            decide_signing(state=OVER, amount=D("1"), override=Override(reason=reason), actor_role="director")
        assert exc.value.code == "credit.override_reason_required"
        assert isinstance(exc.value, InvalidInput)

    def test_empty_reason_rejected_even_when_not_needed(self) -> None:
        with pytest.raises(OverrideReasonRequired):
            decide_signing(state=state(), amount=D("1"), override=Override(reason=""), actor_role="director")

    def test_unneeded_override_is_not_recorded(self) -> None:
        d = decide_signing(state=state(), amount=D("1"), override=Override(reason="x"), actor_role="rep")
        assert not d.override_used
        assert d.override_reason is None and d.override_role is None

    def test_role_enum_values_work(self) -> None:
        from app.domain.roles import Role

        d = decide_signing(state=OVER, amount=D("1"), override=Override(reason="x"), actor_role=Role.manager)
        assert d.override_used


class TestSigningHold:
    def test_hold_blocks_even_within_limit(self) -> None:
        with pytest.raises(CreditOnHold) as exc:
            decide_signing(state=state(overdue=61), amount=D("1"), actor_role="rep")
        assert isinstance(exc.value, Conflict)
        assert exc.value.code == "credit.on_hold"
        assert exc.value.extra == {
            "max_days_overdue": 61,
            "hold_after_overdue_days": 60,
            "manual_hold": False,
        }

    def test_exactly_at_hold_days_signs(self) -> None:
        assert not decide_signing(state=state(overdue=60), amount=D("1"), actor_role="rep").on_hold

    def test_manual_hold_blocks(self) -> None:
        with pytest.raises(CreditOnHold) as exc:
            decide_signing(state=state(hold=True), amount=D("1"), actor_role="rep")
        assert exc.value.extra["manual_hold"] is True

    def test_hold_is_reported_before_limit(self) -> None:
        with pytest.raises(CreditOnHold):
            decide_signing(state=state("0", overdue=90), amount=D("1"), actor_role="rep")

    @pytest.mark.parametrize(("role", "amount"), [("director", "5000000"), ("finance", "1000000")])
    def test_director_and_finance_lift_hold(self, role: str, amount: str) -> None:
        d = decide_signing(
            state=state("1E+9", overdue=200),
            amount=D(amount),
            override=Override(reason="paid by wire today"),
            actor_role=role,
        )
        assert d.on_hold and d.overridden == ("credit.on_hold",)

    def test_manager_lifts_hold_up_to_threshold_amount(self) -> None:
        d = decide_signing(
            state=state("1E+9", hold=True),
            amount=D("100000.00"),
            override=Override(reason="x"),
            actor_role="manager",
        )
        assert d.overridden == ("credit.on_hold",)

    def test_manager_cannot_lift_hold_for_larger_contract(self) -> None:
        with pytest.raises(OverrideNotAllowed) as exc:
            decide_signing(
                state=state("1E+9", hold=True),
                amount=D("100000.01"),
                override=Override(reason="x"),
                actor_role="manager",
            )
        assert exc.value.extra["block"] == "credit.on_hold"
        assert exc.value.extra["exposure_after"] == "100000.01"

    @pytest.mark.parametrize("role", ["rep", "admin", "support", "integration"])
    def test_other_roles_cannot_lift_hold(self, role: str) -> None:
        with pytest.raises(OverrideNotAllowed):
            decide_signing(
                state=state(hold=True), amount=D("1"), override=Override(reason="x"), actor_role=role
            )

    def test_one_override_lifts_hold_and_limit(self) -> None:
        d = decide_signing(
            state=state("100", overdue=61),
            amount=D("150"),
            override=Override(reason="x"),
            actor_role="manager",
        )
        assert d.overridden == ("credit.on_hold", "credit.limit_exceeded")
        assert d.shortfall == D("50.00")

    def test_manager_may_lift_hold_but_not_a_large_shortfall(self) -> None:
        with pytest.raises(OverrideNotAllowed) as exc:
            decide_signing(
                state=state("0", overdue=61),
                amount=D("100000.01"),
                override=Override(reason="x"),
                actor_role="manager",
            )
        # the hold check comes first and already refuses the exposure after signing
        assert exc.value.extra["block"] == "credit.on_hold"


# --------------------------------------------------------------------------- approvals


class TestApprovals:
    @pytest.mark.parametrize(
        ("limit", "role"),
        [
            ("0", "manager"),
            ("100000", "manager"),
            ("100000.00", "manager"),
            ("100000.01", "finance"),
            ("1000000", "finance"),
            ("1000000.01", "director"),
            ("1E+12", "director"),
        ],
    )
    def test_required_approver_role(self, limit: str, role: str) -> None:
        assert required_approver_role(D(limit), P) == role

    def test_negative_limit_invalid(self) -> None:
        with pytest.raises(InvalidInput):
            required_approver_role(D("-0.01"), P)
        with pytest.raises(InvalidInput):
            check_can_approve(
                approver_role="director", approver_id=1, requester_id=2, requested_limit=D("-1")
            )

    @pytest.mark.parametrize(
        ("role", "limit", "ok"),
        [
            ("manager", "100000.00", True),
            ("manager", "100000.01", False),
            ("manager", "0", True),
            ("finance", "100000.00", True),
            ("finance", "1000000.00", True),
            ("finance", "1000000.01", False),
            ("director", "100", True),
            ("director", "1000000.01", True),
            ("director", "1E+15", True),
            ("admin", "0", False),
            ("admin", "1", False),
            ("rep", "1", False),
            ("support", "1", False),
            ("integration", "1", False),
        ],
    )
    def test_can_approve(self, role: str, limit: str, ok: bool) -> None:
        assert (
            can_approve(
                approver_role=role, approver_id="u1", requester_id="u2", requested_limit=D(limit), policy=P
            )
            is ok
        )

    def test_denied_approval_names_required_role(self) -> None:
        with pytest.raises(ApprovalNotAllowed) as exc:
            check_can_approve(
                approver_role="manager", approver_id="u1", requester_id="u2", requested_limit=D("100000.01")
            )
        assert isinstance(exc.value, Forbidden)
        assert exc.value.code == "credit.approval_not_allowed"
        assert exc.value.extra == {
            "role": "manager",
            "requested_limit": "100000.01",
            "required_role": "finance",
        }

    @pytest.mark.parametrize("role", ["manager", "finance", "director"])
    def test_self_approval_refused_for_every_role(self, role: str) -> None:
        assert not can_approve(
            approver_role=role, approver_id="u1", requester_id="u1", requested_limit=D("1")
        )
        with pytest.raises(SelfApproval) as exc:
            check_can_approve(approver_role=role, approver_id="u1", requester_id="u1", requested_limit=D("1"))
        assert exc.value.code == "credit.self_approval"

    def test_thresholds_come_from_policy(self) -> None:
        policy = replace(P, manager_limit_max=D("5000"))
        assert required_approver_role(D("5000.01"), policy) == "finance"
        assert not can_approve(
            approver_role="manager",
            approver_id=1,
            requester_id=2,
            requested_limit=D("5000.01"),
            policy=policy,
        )


# --------------------------------------------------------------------------- suggested limit


def suggest(**kw) -> credit.SuggestedLimit:
    args = {
        "grade": "B",
        "monthly_billed": [D("12000")] * 12,
        "billed_total": D("144000"),
        "paid_total": D("144000"),
        "payment_terms_days": 30,
        "policy": P,
    }
    args.update(kw)
    return suggested_limit(**args)


class TestSuggestedLimit:
    @pytest.mark.parametrize(("grade", "expected"), [("A", "18000.00"), ("B", "12000.00"), ("C", "6000.00")])
    def test_grade_factor(self, grade: str, expected: str) -> None:
        s = suggest(grade=grade)
        assert s.amount == D(expected)
        assert s.grade == grade

    def test_terms_scale_the_limit(self) -> None:
        assert suggest(payment_terms_days=60).amount == D("24000.00")
        assert suggest(payment_terms_days=45).amount == D("18000.00")
        assert suggest(payment_terms_days=0).amount == D("0.00")

    def test_default_terms_from_policy(self) -> None:
        assert suggest(payment_terms_days=None).payment_terms_days == 30

    def test_average_is_over_twelve_months_even_with_fewer(self) -> None:
        s = suggest(monthly_billed=[D("12000")] * 3, billed_total=D("36000"), paid_total=D("36000"))
        assert s.average_monthly_billed == D("3000.00")
        assert s.amount == D("3000.00")

    def test_rounding_half_up_to_cents(self) -> None:
        s = suggest(grade="A", monthly_billed=[D("0.01")], billed_total=D("1"), paid_total=D("1"))
        # 0.01 / 12 = 0.00083 → 0.00
        assert s.amount == D("0.00")
        s = suggest(
            grade="B",
            monthly_billed=[D("1.00")] * 1,
            payment_terms_days=31,
            billed_total=D("1"),
            paid_total=D("1"),
        )
        # average 0.08 (0.0833 rounded) × 31/30 = 0.0826… → 0.08
        assert s.amount == D("0.08")

    def test_repayment_exactly_at_minimum_counts(self) -> None:
        s = suggest(paid_total=D("72000"))
        assert s.repayment_rate == D("0.5")
        assert s.amount == D("12000.00")

    def test_repayment_one_cent_below_minimum_zero(self) -> None:
        s = suggest(paid_total=D("71999.99"))
        assert s.amount == D("0.00")
        assert any("below 50%" in step for step in s.reasoning)

    def test_rate_shown_truncated_but_judged_exactly(self) -> None:
        s = suggest(billed_total=D("3"), paid_total=D("2"))
        assert s.repayment_rate == D("0.6666")
        s = suggest(billed_total=D("10000000"), paid_total=D("4999999.99"))
        assert s.repayment_rate == D("0.4999")
        assert s.amount == D("0.00")

    def test_no_billing_history(self) -> None:
        s = suggest(monthly_billed=[], billed_total=D("0"), paid_total=D("0"))
        assert s.amount == D("0.00")
        assert s.repayment_rate is None
        assert any("no billing history" in step for step in s.reasoning)

    def test_ungraded_uses_lowest_factor(self) -> None:
        s = suggest(grade=None)
        assert s.grade_factor == D("0.5")
        assert s.amount == D("6000.00")
        assert any("ungraded" in step for step in s.reasoning)

    def test_reasoning_has_the_figures(self) -> None:
        s = suggest(grade="A", payment_terms_days=60)
        text = "\n".join(s.reasoning)
        for figure in ("12000.00", "100.00%", "60/30", "1.5", "36000.00"):
            assert figure in text

    @pytest.mark.parametrize(
        "kw",
        [
            {"grade": "Z"},
            {"monthly_billed": [D("1")] * 13},
            {"monthly_billed": [D("-1")]},
            {"billed_total": D("-1")},
            {"paid_total": D("-1")},
            {"payment_terms_days": -1},
        ],
    )
    def test_invalid_inputs(self, kw: dict) -> None:
        with pytest.raises(InvalidInput):
            suggest(**kw)


# --------------------------------------------------------------------------- aging


class TestAging:
    @pytest.mark.parametrize(
        ("days", "bucket"),
        [
            (-30, AgingBucket.current),
            (0, AgingBucket.current),
            (1, AgingBucket.d1_30),
            (30, AgingBucket.d1_30),
            (31, AgingBucket.d31_60),
            (60, AgingBucket.d31_60),
            (61, AgingBucket.d61_90),
            (90, AgingBucket.d61_90),
            (91, AgingBucket.d91_180),
            (180, AgingBucket.d91_180),
            (181, AgingBucket.over_180),
            (10_000, AgingBucket.over_180),
        ],
    )
    def test_bucket_boundaries(self, days: int, bucket: AgingBucket) -> None:
        assert bucket_for(days) is bucket

    def test_labels_and_codes(self) -> None:
        assert [b.label for b in AgingBucket] == ["current", "1-30", "31-60", "61-90", "91-180", ">180"]
        assert AgingBucket.d1_30 == "d1_30"

    @pytest.mark.parametrize(
        ("bucket", "action"),
        [
            (AgingBucket.current, "none"),
            (AgingBucket.d1_30, "reminder"),
            (AgingBucket.d31_60, "call"),
            (AgingBucket.d61_90, "manager_visit"),
            (AgingBucket.d91_180, "escalation"),
            (AgingBucket.over_180, "legal"),
        ],
    )
    def test_collection_actions(self, bucket: AgingBucket, action: str) -> None:
        assert collection_action(bucket) == action

    @pytest.mark.parametrize(
        ("bucket", "expected"),
        [
            (AgingBucket.current, "0.00"),
            (AgingBucket.d1_30, "100.00"),
            (AgingBucket.d31_60, "500.00"),
            (AgingBucket.d61_90, "1000.00"),
            (AgingBucket.d91_180, "3000.00"),
            (AgingBucket.over_180, "5000.00"),
        ],
    )
    def test_provision_per_bucket(self, bucket: AgingBucket, expected: str) -> None:
        assert provision(D("10000"), bucket, P) == D(expected)

    def test_provision_rounds_half_up(self) -> None:
        assert provision(D("0.50"), AgingBucket.d1_30) == D("0.01")  # 0.005 → 0.01
        assert provision(D("0.49"), AgingBucket.d1_30) == D("0.00")

    def test_written_off_is_fully_provided(self) -> None:
        assert provision_rate(AgingBucket.current, written_off=True) == D("1")
        assert provision(D("1234.56"), AgingBucket.d1_30, written_off=True) == D("1234.56")

    def test_rates_from_policy(self) -> None:
        policy = replace(P, provision_rates={**P.provision_rates, AgingBucket.d1_30: D("0.02")})
        assert provision_rate(AgingBucket.d1_30, policy) == D("0.02")


# --------------------------------------------------------------------------- payment application


def item(rid: str, due: str, outstanding: str) -> OpenItem:
    return OpenItem(receivable_id=rid, due_at=date.fromisoformat(due), outstanding=D(outstanding))


ITEMS = [item("r3", "2024-03-01", "300"), item("r1", "2024-01-01", "100"), item("r2", "2024-02-01", "200")]


def as_pairs(result: credit.PaymentApplicationResult) -> list[tuple[object, Decimal]]:
    return [(a.receivable_id, a.amount) for a in result.parts]


class TestAllocationAuto:
    def test_oldest_due_first_partial_last(self) -> None:
        r = apply_payment(amount=D("250"), open_items=ITEMS)
        assert as_pairs(r) == [("r1", D("100")), ("r2", D("150"))]
        assert r.unapplied == D("0")
        assert r.applied == D("250")

    def test_exact_payment_clears_everything(self) -> None:
        r = apply_payment(amount=D("600"), open_items=ITEMS)
        assert as_pairs(r) == [("r1", D("100")), ("r2", D("200")), ("r3", D("300"))]
        assert r.unapplied == D("0")

    def test_overpayment_becomes_credit(self) -> None:
        r = apply_payment(amount=D("600.01"), open_items=ITEMS)
        assert r.unapplied == D("0.01")

    def test_no_open_items_all_credit(self) -> None:
        r = apply_payment(amount=D("50"), open_items=[])
        assert r.parts == () and r.unapplied == D("50")

    def test_ties_broken_by_id_regardless_of_order(self) -> None:
        items = [item("b", "2024-01-01", "10"), item("a", "2024-01-01", "10")]
        for order in (items, list(reversed(items))):
            r = apply_payment(amount=D("15"), open_items=order)
            assert as_pairs(r) == [("a", D("10")), ("b", D("5"))]

    def test_settled_items_skipped(self) -> None:
        items = [item("old", "2023-01-01", "0"), item("new", "2024-01-01", "10")]
        assert as_pairs(apply_payment(amount=D("5"), open_items=items)) == [("new", D("5"))]

    @pytest.mark.parametrize("amount", [D("0"), D("-1")])
    def test_amount_must_be_positive(self, amount: Decimal) -> None:
        with pytest.raises(PaymentApplicationInvalid) as exc:
            apply_payment(amount=amount, open_items=ITEMS)
        assert exc.value.code == "payment.allocation_invalid"

    def test_duplicate_or_negative_items_rejected(self) -> None:
        with pytest.raises(PaymentApplicationInvalid):
            apply_payment(amount=D("1"), open_items=[ITEMS[0], ITEMS[0]])
        with pytest.raises(PaymentApplicationInvalid):
            apply_payment(amount=D("1"), open_items=[item("x", "2024-01-01", "-1")])


class TestAllocationExplicit:
    def test_explicit_taken_as_given_rest_is_credit(self) -> None:
        r = apply_payment(amount=D("400"), open_items=ITEMS, explicit=[("r3", D("300")), ("r1", D("50"))])
        assert as_pairs(r) == [("r3", D("300")), ("r1", D("50"))]
        assert r.unapplied == D("50")

    def test_explicit_exactly_outstanding_and_amount(self) -> None:
        r = apply_payment(amount=D("300"), open_items=ITEMS, explicit=[("r3", D("300"))])
        assert r.unapplied == D("0")

    def test_empty_explicit_all_credit(self) -> None:
        r = apply_payment(amount=D("10"), open_items=ITEMS, explicit=[])
        assert r.parts == () and r.unapplied == D("10")

    @pytest.mark.parametrize(
        ("amount", "explicit", "fragment"),
        [
            ("100", [("nope", D("1"))], "not open"),
            ("1000", [("r1", D("100.01"))], "exceeds the outstanding"),
            ("100", [("r2", D("100.01"))], "exceeds the payment"),
            ("500", [("r1", D("50")), ("r1", D("50"))], "allocated twice"),
            ("100", [("r1", D("0"))], "greater than 0"),
            ("100", [("r1", D("-5"))], "greater than 0"),
        ],
    )
    def test_invalid_explicit(self, amount: str, explicit: list, fragment: str) -> None:
        with pytest.raises(PaymentApplicationInvalid) as exc:
            apply_payment(amount=D(amount), open_items=ITEMS, explicit=explicit)
        assert isinstance(exc.value, InvalidInput)
        assert exc.value.code == "payment.allocation_invalid"
        assert any(fragment in e["msg"] for e in exc.value.errors)

    def test_every_problem_reported(self) -> None:
        with pytest.raises(PaymentApplicationInvalid) as exc:
            apply_payment(amount=D("10"), open_items=ITEMS, explicit=[("nope", D("5")), ("r1", D("200"))])
        assert len(exc.value.errors) == 3  # unknown, over outstanding, over payment


cents = st.integers(min_value=0, max_value=10_000_000).map(lambda c: D(c).scaleb(-2))
open_items = st.lists(
    st.tuples(st.integers(min_value=0, max_value=400), cents),
    max_size=12,
).map(
    lambda rows: [
        OpenItem(receivable_id=f"r{i}", due_at=date(2024, 1, 1) + timedelta(days=days), outstanding=amount)
        for i, (days, amount) in enumerate(rows)
    ]
)


@given(amount=cents.filter(lambda a: a > 0), items=open_items)
def test_auto_allocation_conserves_money(amount: Decimal, items: list[OpenItem]) -> None:
    r = apply_payment(amount=amount, open_items=items)
    assert r.applied + r.unapplied == amount
    assert r.unapplied >= 0
    outstanding = {i.receivable_id: i.outstanding for i in items}
    for a in r.parts:
        assert 0 < a.amount <= outstanding[a.receivable_id]
    # money is only left over when every item is fully paid
    if r.unapplied > 0:
        assert r.applied == sum((i.outstanding for i in items), D(0))
    # oldest-due first: a later item is only touched once every earlier one is settled
    paid = {a.receivable_id: a.amount for a in r.parts}
    ordered = sorted(items, key=lambda i: (i.due_at, i.receivable_id))
    partial_seen = False
    for i in ordered:
        got = paid.get(i.receivable_id, D(0))
        if partial_seen:
            assert got == 0
        if got < i.outstanding:
            partial_seen = True


@given(items=open_items.filter(bool), data=st.data())
def test_explicit_allocation_conserves_money(items: list[OpenItem], data: st.DataObject) -> None:
    chosen = data.draw(st.lists(st.sampled_from(items), unique_by=lambda i: i.receivable_id))
    explicit = [
        (
            i.receivable_id,
            data.draw(st.integers(1, max(1, int(i.outstanding * 100))).map(lambda c: D(c).scaleb(-2))),
        )
        for i in chosen
        if i.outstanding > 0
    ]
    total = sum((part for _, part in explicit), D(0))
    amount = total + data.draw(cents)
    if amount <= 0:
        return
    r = apply_payment(amount=amount, open_items=items, explicit=explicit)
    assert r.applied + r.unapplied == amount
    outstanding = {i.receivable_id: i.outstanding for i in items}
    assert all(a.amount <= outstanding[a.receivable_id] for a in r.parts)


# --------------------------------------------------------------------------- warnings


def codes(warnings: list[credit.CreditWarning]) -> list[str]:
    return [w.code for w in warnings]


class TestWarnings:
    def test_healthy_customer_has_none(self) -> None:
        assert credit_warnings(state=state("10000", "7999.99")) == []

    def test_exposure_exactly_at_warn_ratio(self) -> None:
        ws = credit_warnings(state=state("10000", "4000", "4000"))
        assert codes(ws) == ["credit.exposure_high"]
        assert "80%" in ws[0].message and "8000.00" in ws[0].message

    def test_exposure_over_limit(self) -> None:
        assert codes(credit_warnings(state=state("100", "150"))) == ["credit.exposure_high"]

    def test_zero_limit_never_warns_on_exposure(self) -> None:
        assert credit_warnings(state=state("0", "500")) == []

    def test_overdue(self) -> None:
        ws = credit_warnings(state=state(overdue=3), overdue_count=2)
        assert codes(ws) == ["credit.overdue"]
        assert "2 receivable(s)" in ws[0].message
        assert codes(credit_warnings(state=state(), overdue_count=1)) == ["credit.overdue"]
        assert codes(credit_warnings(state=state(overdue=1))) == ["credit.overdue"]

    def test_on_hold_and_overdue(self) -> None:
        assert codes(credit_warnings(state=state(overdue=61), overdue_count=1)) == [
            "credit.on_hold",
            "credit.overdue",
        ]
        assert codes(credit_warnings(state=state(overdue=60))) == ["credit.overdue"]

    def test_manual_hold(self) -> None:
        ws = credit_warnings(state=state(hold=True))
        assert codes(ws) == ["credit.on_hold"]
        assert "manual hold" in ws[0].message

    def test_grade_dropped(self) -> None:
        assert codes(credit_warnings(state=state(), grade_dropped=True)) == ["credit.grade_dropped"]

    def test_warn_ratio_from_policy(self) -> None:
        policy = replace(P, warn_ratio=D("0.5"))
        assert codes(credit_warnings(state=state("100", "50"), policy=policy)) == ["credit.exposure_high"]
        assert credit_warnings(state=state("100", "49.99"), policy=policy) == []


def test_all_roles_listed_are_known_strings() -> None:
    # guards the override table against a typo in a role name
    for role in ALL_ROLES:
        try:
            decide_signing(state=state("0"), amount=D("1"), override=Override(reason="x"), actor_role=role)
        except OverrideNotAllowed:
            assert role not in ("director", "finance", "manager")
        else:
            assert role in ("director", "finance", "manager")

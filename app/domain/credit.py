"""Credit limits, signing checks, limit approvals, aging, provisions and payment application."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from enum import StrEnum
from itertools import pairwise
from types import MappingProxyType

from app.domain.errors import (
    ApprovalNotAllowed,
    CreditLimitExceeded,
    CreditOnHold,
    InvalidInput,
    OverrideNotAllowed,
    OverrideReasonRequired,
    PaymentApplicationInvalid,
    RefundExceedsBalance,
    SelfApproval,
)

CENT = Decimal("0.01")
ZERO = Decimal("0")
ONE = Decimal("1")

# Roles are plain strings so the domain does not depend on how callers model them
# (``app.domain.roles.Role`` is a StrEnum and compares equal to these).
DIRECTOR = "director"
FINANCE = "finance"
MANAGER = "manager"


def money(value: Decimal) -> Decimal:
    """Quantize an amount to cents, half up, as every produced amount is."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money_str(value: Decimal) -> str:
    """Render an amount for problem+json extension members: ``"12500.00"``."""
    return format(money(value), "f")


# --------------------------------------------------------------------------- days overdue


def business_date(instant: datetime, tz: tzinfo) -> date:
    """The calendar date of an aware ``instant`` in the business time zone ``tz``."""
    return instant.astimezone(tz).date()


def business_day_start(day: date, tz: tzinfo) -> datetime:
    """The first instant (in UTC) of ``day`` in the business time zone ``tz``."""
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)


def days_overdue(due_at: datetime, as_of: datetime, tz: tzinfo) -> int:
    """Whole calendar days in ``tz`` from the due date to ``as_of`` (SPEC §6).

    The one definition of overdue: hold, warnings, aging, provision and reports all use
    it (or ``overdue_before``, its equivalent as an instant for SQL). A receivable due
    today is not overdue (0); one due yesterday is 1 day overdue whatever the hour.
    """
    return max((business_date(as_of, tz) - business_date(due_at, tz)).days, 0)


def overdue_before(as_of: datetime, tz: tzinfo, *, days: int = 1) -> datetime:
    """The instant a due date must be before to be at least ``days`` days overdue at
    ``as_of``: ``days_overdue(due, as_of, tz) >= days`` exactly when ``due < overdue_before``.
    """
    return business_day_start(business_date(as_of, tz) - timedelta(days=days - 1), tz)


# --------------------------------------------------------------------------- aging


class AgingBucket(StrEnum):
    """Days-past-due buckets; the value is the stable code, ``label`` the display text."""

    current = "current"
    d1_30 = "d1_30"
    d31_60 = "d31_60"
    d61_90 = "d61_90"
    d91_180 = "d91_180"
    over_180 = "over_180"

    @property
    def label(self) -> str:
        return _BUCKET_LABELS[self]


_BUCKET_LABELS: Mapping[AgingBucket, str] = MappingProxyType(
    {
        AgingBucket.current: "current",
        AgingBucket.d1_30: "1-30",
        AgingBucket.d31_60: "31-60",
        AgingBucket.d61_90: "61-90",
        AgingBucket.d91_180: "91-180",
        AgingBucket.over_180: ">180",
    }
)

# Upper bound (inclusive) of days past due for each bucket; over_180 is open-ended.
_BUCKET_UPPER_DAYS: tuple[tuple[int, AgingBucket], ...] = (
    (0, AgingBucket.current),
    (30, AgingBucket.d1_30),
    (60, AgingBucket.d31_60),
    (90, AgingBucket.d61_90),
    (180, AgingBucket.d91_180),
)

WRITE_OFF_PROVISION_RATE = ONE


def bucket_for(days_past_due: int) -> AgingBucket:
    """Bucket of a receivable ``days_past_due`` days after its due date (≤ 0 is current)."""
    for upper, bucket in _BUCKET_UPPER_DAYS:
        if days_past_due <= upper:
            return bucket
    return AgingBucket.over_180


# --------------------------------------------------------------------------- policy


def _default_provision_rates() -> Mapping[AgingBucket, Decimal]:
    return {
        AgingBucket.current: Decimal("0.00"),
        AgingBucket.d1_30: Decimal("0.01"),
        AgingBucket.d31_60: Decimal("0.05"),
        AgingBucket.d61_90: Decimal("0.10"),
        AgingBucket.d91_180: Decimal("0.30"),
        AgingBucket.over_180: Decimal("0.50"),
    }


def _default_collection_actions() -> Mapping[AgingBucket, str]:
    return {
        AgingBucket.current: "none",
        AgingBucket.d1_30: "reminder",
        AgingBucket.d31_60: "call",
        AgingBucket.d61_90: "manager_visit",
        AgingBucket.d91_180: "escalation",
        AgingBucket.over_180: "legal",
    }


def _default_grade_factors() -> Mapping[str, Decimal]:
    return {"A": Decimal("1.5"), "B": Decimal("1.0"), "C": Decimal("0.5")}


def _default_limits_by_grade() -> Mapping[str, Decimal]:
    # Cash first (款到发货) unless a deployment decides otherwise: a deposit lets one sign.
    return {"A": Decimal("0.00"), "B": Decimal("0.00"), "C": Decimal("0.00")}


@dataclass(frozen=True, kw_only=True)
class CreditPolicy:
    """Deployment-tunable credit settings (SPEC §6 *defaults*)."""

    manager_limit_max: Decimal = Decimal("100000")
    finance_limit_max: Decimal = Decimal("1000000")
    hold_after_overdue_days: int = 60
    warn_ratio: Decimal = Decimal("0.80")
    default_payment_terms_days: int = 30
    provision_rates: Mapping[AgingBucket, Decimal] = field(
        default_factory=_default_provision_rates, hash=False
    )
    collection_actions: Mapping[AgingBucket, str] = field(
        default_factory=_default_collection_actions, hash=False
    )
    grade_factors: Mapping[str, Decimal] = field(default_factory=_default_grade_factors, hash=False)
    min_repayment_rate: Decimal = Decimal("0.5")
    # Days before a service period ends that its customer is renewal-due (SPEC §6 Renewals).
    renewal_notice_days: int = 60
    # The limit of a customer without a credit profile of its own, by grade.
    default_limits_by_grade: Mapping[str, Decimal] = field(
        default_factory=_default_limits_by_grade, hash=False
    )

    def __post_init__(self) -> None:
        # Copy into read-only views so a frozen policy cannot change under a caller's dict.
        for name in ("provision_rates", "collection_actions", "grade_factors", "default_limits_by_grade"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))


DEFAULT_CREDIT_POLICY = CreditPolicy()


def validate_credit_policy(policy: CreditPolicy) -> CreditPolicy:
    """Return ``policy`` if coherent, else raise InvalidInput listing every problem."""
    errors: list[dict[str, object]] = []

    def err(loc: str, msg: str) -> None:
        errors.append({"loc": ["policy", loc], "msg": msg, "type": "value_error"})

    if policy.manager_limit_max < 0:
        err("manager_limit_max", "must not be negative")
    if policy.finance_limit_max < 0:
        err("finance_limit_max", "must not be negative")
    if policy.manager_limit_max > policy.finance_limit_max:
        err("manager_limit_max", "must not exceed finance_limit_max")
    if policy.hold_after_overdue_days < 0:
        err("hold_after_overdue_days", "must not be negative")
    if not ZERO < policy.warn_ratio <= ONE:
        err("warn_ratio", "must be greater than 0 and at most 1")
    if policy.default_payment_terms_days < 0:
        err("default_payment_terms_days", "must not be negative")
    if not 0 <= policy.renewal_notice_days <= 3650:
        err("renewal_notice_days", "must be between 0 and 3650")
    if not ZERO <= policy.min_repayment_rate <= ONE:
        err("min_repayment_rate", "must be between 0 and 1")

    missing = [b.value for b in AgingBucket if b not in policy.provision_rates]
    if missing:
        err("provision_rates", f"missing buckets: {', '.join(missing)}")
    else:
        rates = [policy.provision_rates[b] for b in AgingBucket]
        if any(not ZERO <= r <= ONE for r in rates):
            err("provision_rates", "every rate must be between 0 and 1")
        if any(later < earlier for earlier, later in pairwise(rates)):
            err("provision_rates", "rates must not decrease as receivables age")
    missing = [b.value for b in AgingBucket if not policy.collection_actions.get(b)]
    if missing:
        err("collection_actions", f"missing buckets: {', '.join(missing)}")

    if not policy.grade_factors:
        err("grade_factors", "must name at least one grade")
    elif any(f < 0 for f in policy.grade_factors.values()):
        err("grade_factors", "factors must not be negative")
    if any(not v.is_finite() or v < 0 for v in policy.default_limits_by_grade.values()):
        err("default_limits_by_grade", "limits must not be negative")

    if errors:
        raise InvalidInput("Credit policy is invalid.", errors=errors)
    return policy


def default_limit(grade: str | None, policy: CreditPolicy, *, ungraded: Decimal) -> Decimal:
    """The limit of a customer with no credit profile: its grade's default limit, or
    ``ungraded`` (the deployment's ``default_credit_limit``) without a grade listed."""
    if grade is not None and grade in policy.default_limits_by_grade:
        return money(policy.default_limits_by_grade[grade])
    return money(ungraded)


def collection_action(bucket: AgingBucket, policy: CreditPolicy = DEFAULT_CREDIT_POLICY) -> str:
    """Suggested collection step for a bucket (``none`` while current)."""
    return policy.collection_actions[bucket]


def provision_rate(
    bucket: AgingBucket, policy: CreditPolicy = DEFAULT_CREDIT_POLICY, *, written_off: bool = False
) -> Decimal:
    """Bad-debt provision rate; a written-off receivable is provided for in full."""
    if written_off:
        return WRITE_OFF_PROVISION_RATE
    return policy.provision_rates[bucket]


def provision(
    amount: Decimal,
    bucket: AgingBucket,
    policy: CreditPolicy = DEFAULT_CREDIT_POLICY,
    *,
    written_off: bool = False,
) -> Decimal:
    """Provision for an outstanding ``amount`` in ``bucket``, to the cent."""
    return money(amount * provision_rate(bucket, policy, written_off=written_off))


# --------------------------------------------------------------------------- exposure


def exposure(open_receivables: Decimal, signed_unbilled: Decimal, credit_balance: Decimal = ZERO) -> Decimal:
    """Exposure = open receivables + signed-but-unbilled contract amounts − credit balance,
    never below zero (SPEC §6): a deposit lets a cash-first customer sign."""
    return money(max(open_receivables + signed_unbilled - credit_balance, ZERO))


def available(limit: Decimal, exposure: Decimal) -> Decimal:
    """Available credit; negative when the customer is already over the limit."""
    return money(limit - exposure)


@dataclass(frozen=True, kw_only=True)
class CreditState:
    """A customer's credit position as read (under lock) by the service."""

    credit_limit: Decimal
    open_receivables: Decimal = ZERO
    signed_unbilled: Decimal = ZERO
    credit_balance: Decimal = ZERO  # deposits, prepayments, overpayments not yet applied
    max_days_overdue: int = 0  # of the customer's most overdue open receivable; 0 if none
    on_hold_flag: bool = False  # manual hold set by finance

    @property
    def exposure(self) -> Decimal:
        return exposure(self.open_receivables, self.signed_unbilled, self.credit_balance)

    @property
    def available(self) -> Decimal:
        return available(self.credit_limit, self.exposure)


def is_on_hold(state: CreditState, policy: CreditPolicy = DEFAULT_CREDIT_POLICY) -> bool:
    """Manual hold, or a receivable overdue strictly more than ``hold_after_overdue_days``."""
    return state.on_hold_flag or state.max_days_overdue > policy.hold_after_overdue_days


# --------------------------------------------------------------------------- signing


@dataclass(frozen=True, kw_only=True)
class Override:
    """A request to sign despite a credit block. Its authority is the caller's role, or for
    an approved override request, the role of the person who approved it."""

    reason: str
    approved_role: str | None = None


@dataclass(frozen=True, kw_only=True)
class SigningDecision:
    """The outcome of a credit check that passed, with the facts to audit it."""

    amount: Decimal
    limit: Decimal
    exposure: Decimal
    available: Decimal
    shortfall: Decimal  # 0 when the amount fits
    on_hold: bool
    # Codes of the blocks the override lifted ("credit.on_hold", "credit.limit_exceeded").
    overridden: tuple[str, ...] = ()
    override_reason: str | None = None
    override_role: str | None = None

    exposure_after: Decimal  # exposure once the contract is signed (credit balance deducted)

    @property
    def override_used(self) -> bool:
        return bool(self.overridden)


def override_ceiling(role: str, policy: CreditPolicy = DEFAULT_CREDIT_POLICY) -> Decimal | None:
    """Highest exposure after signing that ``role`` may accept by an override (SPEC §6):
    manager ``manager_limit_max``, finance ``finance_limit_max``, director without bound
    (``Infinity``); ``None`` for roles that never override."""
    if role == DIRECTOR:
        return Decimal("Infinity")
    if role == FINANCE:
        return policy.finance_limit_max
    if role == MANAGER:
        return policy.manager_limit_max
    return None


def _override_allowed(role: str, *, exposure_after: Decimal, policy: CreditPolicy) -> bool:
    ceiling = override_ceiling(role, policy)
    return ceiling is not None and exposure_after <= ceiling


def check_can_approve_override(
    *,
    approver_role: str,
    approver_id: Hashable,
    requester_id: Hashable,
    exposure_after: Decimal,
    policy: CreditPolicy = DEFAULT_CREDIT_POLICY,
) -> None:
    """Raise unless ``approver`` may approve a credit override taking the customer's
    exposure to ``exposure_after``; nobody approves their own request."""
    if approver_id == requester_id:
        raise SelfApproval("An override request cannot be approved by its requester.")
    if not _override_allowed(approver_role, exposure_after=exposure_after, policy=policy):
        raise OverrideNotAllowed(
            f"Role {approver_role!r} may not approve an override to an exposure of "
            f"{money_str(exposure_after)}.",
            role=approver_role,
            exposure_after=money_str(exposure_after),
            required_role=required_approver_role(exposure_after, policy),
        )


def decide_signing(
    *,
    state: CreditState,
    amount: Decimal,
    policy: CreditPolicy = DEFAULT_CREDIT_POLICY,
    override: Override | None = None,
    actor_role: str,
) -> SigningDecision:
    """Check a contract of ``amount`` against credit; raise if blocked and not overridden.

    A hold is checked before the limit. One override may lift both blocks. Its authority
    is measured on the exposure after signing (SPEC §6): a manager may accept up to
    ``manager_limit_max``, finance up to ``finance_limit_max``, a director without bound;
    other roles never. The authority is the caller's, or the approver's for an approved
    override request (``Override.approved_role``).
    """
    if amount <= 0:
        raise InvalidInput(
            "Contract amount must be positive.",
            errors=[{"loc": ["amount"], "msg": "must be greater than 0", "type": "value_error"}],
        )
    # Validated even when the check would pass, so a client bug never depends on state.
    if override is not None and not override.reason.strip():
        raise OverrideReasonRequired(
            "A credit override needs a reason.",
            errors=[{"loc": ["override", "reason"], "msg": "must not be empty", "type": "value_error"}],
        )

    limit = money(state.credit_limit)
    exp = state.exposure
    avail = state.available
    # The contract adds to the signed-but-unbilled amount; a credit balance covers it first.
    after = exposure(state.open_receivables, state.signed_unbilled + amount, state.credit_balance)
    shortfall = money(max(after - limit, ZERO))
    on_hold = is_on_hold(state, policy)
    overridden: list[str] = []
    authority = override.approved_role if override is not None and override.approved_role else actor_role

    if on_hold:
        if override is None:
            raise CreditOnHold(
                "The customer is on credit hold; clear the overdue receivables or override.",
                max_days_overdue=state.max_days_overdue,
                hold_after_overdue_days=policy.hold_after_overdue_days,
                manual_hold=state.on_hold_flag,
            )
        if not _override_allowed(authority, exposure_after=after, policy=policy):
            raise _not_allowed(authority, CreditOnHold.code, after, policy)
        overridden.append(CreditOnHold.code)

    if shortfall > 0:
        if override is None:
            raise CreditLimitExceeded(
                f"Contract amount {money_str(amount)} exceeds available credit "
                f"{money_str(avail)} by {money_str(shortfall)}.",
                limit=money_str(limit),
                exposure=money_str(exp),
                available=money_str(avail),
                shortfall=money_str(shortfall),
            )
        if not _override_allowed(authority, exposure_after=after, policy=policy):
            raise _not_allowed(authority, CreditLimitExceeded.code, after, policy, shortfall=shortfall)
        overridden.append(CreditLimitExceeded.code)

    used = override if overridden else None
    return SigningDecision(
        amount=money(amount),
        limit=limit,
        exposure=exp,
        available=avail,
        shortfall=shortfall,
        exposure_after=after,
        on_hold=on_hold,
        overridden=tuple(overridden),
        override_reason=used.reason.strip() if used else None,
        override_role=authority if used else None,
    )


def _not_allowed(
    role: str, block: str, after: Decimal, policy: CreditPolicy, *, shortfall: Decimal | None = None
) -> OverrideNotAllowed:
    ceiling = override_ceiling(role, policy)
    extra: dict[str, object] = {"shortfall": money_str(shortfall)} if shortfall is not None else {}
    return OverrideNotAllowed(
        f"Role {role!r} may not override to an exposure of {money_str(after)} after signing.",
        block=block,
        role=role,
        exposure_after=money_str(after),
        override_ceiling=None if ceiling is None or not ceiling.is_finite() else money_str(ceiling),
        manager_limit_max=money_str(policy.manager_limit_max),
        **extra,
    )


# --------------------------------------------------------------------------- limit approval


def _check_limit_value(requested_limit: Decimal) -> None:
    if requested_limit < 0:
        raise InvalidInput(
            "A credit limit must not be negative.",
            errors=[{"loc": ["requested_limit"], "msg": "must not be negative", "type": "value_error"}],
        )


def required_approver_role(requested_limit: Decimal, policy: CreditPolicy = DEFAULT_CREDIT_POLICY) -> str:
    """Lowest role that may approve a new limit of ``requested_limit``."""
    _check_limit_value(requested_limit)
    if requested_limit <= policy.manager_limit_max:
        return MANAGER
    if requested_limit <= policy.finance_limit_max:
        return FINANCE
    return DIRECTOR


def approval_ceiling(role: str, policy: CreditPolicy = DEFAULT_CREDIT_POLICY) -> Decimal | None:
    """Largest limit ``role`` may approve (``Infinity`` for directors), ``None`` if none.

    Higher roles approve lower tiers too; admin, rep, support and integration never
    approve, since limit setting is a sales/finance decision, not an administrative one.
    """
    if role == DIRECTOR:
        return Decimal("Infinity")
    if role == FINANCE:
        return policy.finance_limit_max
    if role == MANAGER:
        return policy.manager_limit_max
    return None


def check_can_approve(
    *,
    approver_role: str,
    approver_id: Hashable,
    requester_id: Hashable,
    requested_limit: Decimal,
    policy: CreditPolicy = DEFAULT_CREDIT_POLICY,
) -> None:
    """Raise unless ``approver`` may approve this limit request."""
    _check_limit_value(requested_limit)
    if approver_id == requester_id:
        raise SelfApproval("A limit request cannot be approved by its requester.")
    ceiling = approval_ceiling(approver_role, policy)
    if ceiling is None or requested_limit > ceiling:
        raise ApprovalNotAllowed(
            f"Role {approver_role!r} may not approve a limit of {money_str(requested_limit)}.",
            role=approver_role,
            requested_limit=money_str(requested_limit),
            required_role=required_approver_role(requested_limit, policy),
        )


def can_approve(
    *,
    approver_role: str,
    approver_id: Hashable,
    requester_id: Hashable,
    requested_limit: Decimal,
    policy: CreditPolicy = DEFAULT_CREDIT_POLICY,
) -> bool:
    """Whether ``approver`` may approve this limit request (see ``check_can_approve``)."""
    try:
        check_can_approve(
            approver_role=approver_role,
            approver_id=approver_id,
            requester_id=requester_id,
            requested_limit=requested_limit,
            policy=policy,
        )
    except (SelfApproval, ApprovalNotAllowed):
        return False
    return True


# --------------------------------------------------------------------------- suggested limit


@dataclass(frozen=True, kw_only=True)
class SuggestedLimit:
    """A suggested credit limit and how it was reached, step by step with figures."""

    amount: Decimal
    reasoning: tuple[str, ...]
    grade: str | None
    grade_factor: Decimal
    average_monthly_billed: Decimal
    payment_terms_days: int
    repayment_rate: Decimal | None  # None when nothing was billed


def suggested_limit(
    *,
    grade: str | None,
    monthly_billed: Sequence[Decimal],
    billed_total: Decimal,
    paid_total: Decimal,
    payment_terms_days: int | None = None,
    policy: CreditPolicy = DEFAULT_CREDIT_POLICY,
) -> SuggestedLimit:
    """Average monthly billed (12 months) × terms/30 × grade factor; 0 for poor payers.

    An ungraded customer (``grade=None``) gets the lowest configured factor: credit is
    not extended on a judgement nobody has made. A grade the policy does not know is an
    input error. With nothing billed there is no history to judge, so the suggestion is 0.
    """
    errors: list[dict[str, object]] = []
    if len(monthly_billed) > 12:
        errors.append({"loc": ["monthly_billed"], "msg": "at most 12 months", "type": "value_error"})
    if any(m < 0 for m in monthly_billed):
        errors.append(
            {"loc": ["monthly_billed"], "msg": "amounts must not be negative", "type": "value_error"}
        )
    if billed_total < 0 or paid_total < 0:
        errors.append({"loc": ["billed_total"], "msg": "totals must not be negative", "type": "value_error"})
    terms = payment_terms_days
    if terms is None:
        terms = policy.default_payment_terms_days
    if terms < 0:
        errors.append({"loc": ["payment_terms_days"], "msg": "must not be negative", "type": "value_error"})
    if grade is not None and grade not in policy.grade_factors:
        errors.append(
            {
                "loc": ["grade"],
                "type": "value_error",
                "msg": f"unknown grade; expected one of {', '.join(sorted(policy.grade_factors))}",
            }
        )
    if errors:
        raise InvalidInput("Cannot suggest a credit limit from these inputs.", errors=errors)

    if grade is None:
        factor = min(policy.grade_factors.values())
        grade_step = f"ungraded: lowest grade factor {factor} applies"
    else:
        factor = policy.grade_factors[grade]
        grade_step = f"grade {grade}: factor {factor}"

    average = money(sum(monthly_billed, ZERO) / 12)
    steps = [f"average monthly billed over 12 months: {money_str(average)}"]

    def result(amount: Decimal, rate: Decimal | None) -> SuggestedLimit:
        return SuggestedLimit(
            amount=money(amount),
            reasoning=tuple(steps),
            grade=grade,
            grade_factor=factor,
            average_monthly_billed=average,
            payment_terms_days=terms,
            repayment_rate=rate,
        )

    if billed_total == 0:
        steps.append("no billing history: suggested limit 0.00")
        return result(ZERO, None)

    exact_rate = paid_total / billed_total
    # Judge on the exact ratio; keep a truncated one so it never shows a pass it missed.
    rate = exact_rate.quantize(Decimal("0.0001"), rounding=ROUND_DOWN)
    rate_shown = f"{(rate * 100).quantize(CENT, rounding=ROUND_HALF_UP)}%"
    minimum = f"{(policy.min_repayment_rate * 100).normalize():f}%"
    if exact_rate < policy.min_repayment_rate:
        steps.append(f"repayment rate {rate_shown} is below {minimum}: suggested limit 0.00")
        return result(ZERO, rate)
    steps.append(f"repayment rate {rate_shown} meets the {minimum} minimum")

    terms_factor = Decimal(terms) / 30
    steps.append(f"payment terms {terms} days: × {terms}/30")
    steps.append(grade_step)
    amount = money(average * terms_factor * factor)
    steps.append(f"{money_str(average)} × {terms}/30 × {factor} = {money_str(amount)}")
    return result(amount, rate)


# --------------------------------------------------------------------------- payments


@dataclass(frozen=True, kw_only=True)
class OpenItem:
    """An open receivable as payment application sees it."""

    receivable_id: Hashable
    due_at: date
    outstanding: Decimal


@dataclass(frozen=True, kw_only=True)
class AppliedPart:
    receivable_id: Hashable
    amount: Decimal


@dataclass(frozen=True, kw_only=True)
class PaymentApplicationResult:
    """How a payment is applied: the part paid to each receivable, and the rest."""

    parts: tuple[AppliedPart, ...]
    unapplied: Decimal  # stays with the customer as credit

    @property
    def applied(self) -> Decimal:
        return sum((a.amount for a in self.parts), ZERO)


def _application_error(errors: list[dict[str, object]]) -> PaymentApplicationInvalid:
    return PaymentApplicationInvalid("The payment application is invalid.", errors=errors)


def apply_payment(
    *,
    amount: Decimal,
    open_items: Sequence[OpenItem],
    explicit: Sequence[tuple[Hashable, Decimal]] | None = None,
) -> PaymentApplicationResult:
    """Spread a payment over open receivables; what is left becomes customer credit.

    Without ``explicit`` the oldest due date is paid first, ties broken by the id's
    string form so the result never depends on input order. An explicit application is
    taken as given (no automatic spreading of the rest) because the payer said where the
    money goes.
    """
    if amount <= 0:
        raise _application_error(
            [{"loc": ["amount"], "msg": "must be greater than 0", "type": "value_error"}]
        )
    by_id: dict[Hashable, OpenItem] = {}
    for item in open_items:
        if item.receivable_id in by_id:
            raise _application_error(
                [
                    {
                        "loc": ["open_items"],
                        "type": "value_error",
                        "msg": f"receivable {item.receivable_id} listed twice",
                    }
                ]
            )
        if item.outstanding < 0:
            raise _application_error(
                [
                    {
                        "loc": ["open_items"],
                        "type": "value_error",
                        "msg": f"receivable {item.receivable_id} has a negative outstanding amount",
                    }
                ]
            )
        by_id[item.receivable_id] = item

    if explicit is not None:
        return _apply_explicit(amount=amount, by_id=by_id, explicit=explicit)

    parts: list[AppliedPart] = []
    left = amount
    for item in sorted(open_items, key=lambda i: (i.due_at, str(i.receivable_id))):
        if left <= 0:
            break
        if item.outstanding <= 0:
            continue
        part = min(left, item.outstanding)
        parts.append(AppliedPart(receivable_id=item.receivable_id, amount=part))
        left -= part
    return PaymentApplicationResult(parts=tuple(parts), unapplied=left)


def _apply_explicit(
    *, amount: Decimal, by_id: Mapping[Hashable, OpenItem], explicit: Sequence[tuple[Hashable, Decimal]]
) -> PaymentApplicationResult:
    errors: list[dict[str, object]] = []
    seen: set[Hashable] = set()
    total = ZERO
    for index, (receivable_id, part) in enumerate(explicit):
        loc = ["allocations", index]
        if receivable_id in seen:
            errors.append(
                {"loc": loc, "type": "value_error", "msg": f"receivable {receivable_id} allocated twice"}
            )
        seen.add(receivable_id)
        item = by_id.get(receivable_id)
        if item is None:
            errors.append(
                {
                    "loc": loc,
                    "type": "value_error",
                    "msg": f"receivable {receivable_id} is not open for this customer",
                }
            )
        if part <= 0:
            errors.append(
                {"loc": loc, "type": "value_error", "msg": "allocated amount must be greater than 0"}
            )
        elif item is not None and part > item.outstanding:
            errors.append(
                {
                    "loc": loc,
                    "type": "value_error",
                    "msg": f"{money_str(part)} exceeds the outstanding {money_str(item.outstanding)}",
                }
            )
        total += part
    if total > amount:
        errors.append(
            {
                "loc": ["allocations"],
                "type": "value_error",
                "msg": f"allocations total {money_str(total)} exceeds the payment {money_str(amount)}",
            }
        )
    if errors:
        raise _application_error(errors)
    parts = tuple(AppliedPart(receivable_id=rid, amount=part) for rid, part in explicit)
    return PaymentApplicationResult(parts=parts, unapplied=amount - total)


# --------------------------------------------------------------------------- credit balance


@dataclass(frozen=True, kw_only=True)
class CreditItem:
    """What is left of one payment as credit balance."""

    payment_id: Hashable
    received_at: datetime
    remaining: Decimal


@dataclass(frozen=True, kw_only=True)
class CreditPart:
    """Credit balance from one payment applied to one receivable."""

    payment_id: Hashable
    receivable_id: Hashable
    amount: Decimal


def _oldest_credit_first(credits: Sequence[CreditItem]) -> list[CreditItem]:
    return sorted((c for c in credits if c.remaining > 0), key=lambda c: (c.received_at, str(c.payment_id)))


def apply_credit(*, credits: Sequence[CreditItem], open_items: Sequence[OpenItem]) -> tuple[CreditPart, ...]:
    """Apply a customer's credit balance to its open receivables: the oldest due
    receivable first, paid from the oldest credit first, until one of them runs out.
    Every cent taken from a credit item goes to exactly one receivable."""
    parts: list[CreditPart] = []
    sources = _oldest_credit_first(credits)
    left = {id(c): c.remaining for c in sources}
    for item in sorted(open_items, key=lambda i: (i.due_at, str(i.receivable_id))):
        owed = item.outstanding
        for credit in sources:
            if owed <= 0:
                break
            part = min(owed, left[id(credit)])
            if part <= 0:
                continue
            parts.append(
                CreditPart(payment_id=credit.payment_id, receivable_id=item.receivable_id, amount=part)
            )
            left[id(credit)] -= part
            owed -= part
    return tuple(parts)


def take_refund(*, credits: Sequence[CreditItem], amount: Decimal) -> tuple[tuple[Hashable, Decimal], ...]:
    """Which payments' credit a refund of ``amount`` pays back: the oldest first."""
    if amount <= 0:
        raise InvalidInput(
            "A refund must be positive.",
            errors=[{"loc": ["body", "amount"], "msg": "must be greater than 0", "type": "value_error"}],
        )
    sources = _oldest_credit_first(credits)
    balance = sum((c.remaining for c in sources), ZERO)
    if amount > balance:
        raise RefundExceedsBalance(
            f"A refund of {money_str(amount)} exceeds the credit balance {money_str(balance)}.",
            credit_balance=money_str(balance),
            amount=money_str(amount),
        )
    taken: list[tuple[Hashable, Decimal]] = []
    left = amount
    for credit in sources:
        if left <= 0:
            break
        part = min(left, credit.remaining)
        taken.append((credit.payment_id, part))
        left -= part
    return tuple(taken)


# --------------------------------------------------------------------------- statement of account


class StatementKind(StrEnum):
    receivable = "receivable"
    payment = "payment"
    credit_applied = "credit_applied"
    write_off = "write_off"


# Within one instant: what is billed comes before what settles it.
_KIND_ORDER = {
    StatementKind.receivable: 0,
    StatementKind.payment: 1,
    StatementKind.credit_applied: 2,
    StatementKind.write_off: 3,
}


@dataclass(frozen=True, kw_only=True)
class StatementEntry:
    """One movement of what a customer owes: a bill (debit), money applied to bills or a
    write-off (credit). ``amount`` is the document's own amount (a payment's full amount,
    part of which may have gone to the credit balance)."""

    at: datetime
    kind: StatementKind
    reference: str
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    amount: Decimal = ZERO


@dataclass(frozen=True, kw_only=True)
class StatementLine:
    entry: StatementEntry
    balance: Decimal


def statement_lines(
    opening_balance: Decimal, entries: Sequence[StatementEntry]
) -> tuple[tuple[StatementLine, ...], Decimal]:
    """The entries in time order with a running balance, and the closing balance
    (= opening + debits − credits)."""
    balance = money(opening_balance)
    lines = []
    for entry in sorted(entries, key=lambda e: (e.at, _KIND_ORDER[e.kind], e.reference)):
        balance = money(balance + entry.debit - entry.credit)
        lines.append(StatementLine(entry=entry, balance=balance))
    return tuple(lines), balance


# --------------------------------------------------------------------------- monitoring


@dataclass(frozen=True, kw_only=True)
class CreditWarning:
    """A monitoring signal (named so as not to shadow the builtin ``Warning``)."""

    code: str
    message: str


def credit_warnings(
    *,
    state: CreditState,
    policy: CreditPolicy = DEFAULT_CREDIT_POLICY,
    grade_dropped: bool = False,
    overdue_count: int = 0,
) -> list[CreditWarning]:
    """Warnings for a customer's credit position, most severe first.

    ``credit.exposure_high`` is only raised against a positive limit: a zero limit means
    no credit is extended, which the signing check already enforces.
    """
    warnings: list[CreditWarning] = []
    if is_on_hold(state, policy):
        why = (
            "manual hold"
            if state.on_hold_flag
            else (
                f"a receivable is {state.max_days_overdue} days overdue "
                f"(hold after {policy.hold_after_overdue_days})"
            )
        )
        warnings.append(CreditWarning(code="credit.on_hold", message=f"Customer is on credit hold: {why}."))
    if overdue_count > 0 or state.max_days_overdue > 0:
        count = f"{overdue_count} receivable(s)" if overdue_count > 0 else "A receivable"
        warnings.append(
            CreditWarning(
                code="credit.overdue",
                message=f"{count} overdue; oldest {state.max_days_overdue} days past due.",
            )
        )
    limit = state.credit_limit
    if limit > 0 and state.exposure >= policy.warn_ratio * limit:
        share = (state.exposure / limit * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP)
        warnings.append(
            CreditWarning(
                code="credit.exposure_high",
                message=f"Exposure {money_str(state.exposure)} is {share}% of the limit {money_str(limit)}.",
            )
        )
    if grade_dropped:
        warnings.append(CreditWarning(code="credit.grade_dropped", message="The customer's grade dropped."))
    return warnings


def receivable_standing(amount: Decimal, paid: Decimal, *, written_off: bool) -> tuple[str, Decimal]:
    """A receivable's status (``open``, ``paid`` or ``written_off``) and what is still owed."""
    outstanding = max(amount - paid, Decimal(0))
    if written_off:
        return "written_off", outstanding
    return ("paid" if outstanding == 0 else "open"), outstanding

"""Schemas for customer credit, credit-limit requests, the receivables reports and the credit
settings. Money is a decimal string with two places."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints, WithJsonSchema

from app.domain.credit import AgingBucket
from app.routers.schemas.common import (
    DECIMAL_SCHEMA,
    MONEY_PATTERN,
    DecimalString,
    Money,
    PatchSchema,
    Schema,
)

NonNegativeMoney = Annotated[Money, Field(ge=0)]
Rate = Annotated[DecimalString, Field(ge=0, le=1, max_digits=6, decimal_places=4)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Note = Annotated[str, StringConstraints(max_length=2000)]
Role = Literal["manager", "finance", "director"]


# --- the credit view -------------------------------------------------------------------------


class CreditWarningRead(Schema):
    code: str = Field(
        description="credit.on_hold, credit.overdue, credit.exposure_high, credit.grade_dropped"
    )
    message: str


class SuggestedLimitRead(Schema):
    amount: Money
    reasoning: list[str] = Field(description="Each step of the calculation, with its figures")
    grade: str | None
    grade_factor: DecimalString
    average_monthly_billed: Money
    payment_terms_days: int
    repayment_rate: DecimalString | None = Field(
        description="Paid / billed over the 12 months; null when nothing was billed"
    )


class CreditRead(Schema):
    customer_id: uuid.UUID
    credit_limit: Money
    exposure: Money = Field(description="Open receivables + signed-but-unbilled contract amounts")
    available: Money = Field(description="credit_limit - exposure; negative when over the limit")
    on_hold: bool = Field(
        description="Manual hold, or a receivable overdue more than hold_after_overdue_days"
    )
    manual_hold: bool = Field(description="The hold was set by finance (PATCH)")
    hold_reason: str | None
    payment_terms_days: int
    open_receivables: Money
    signed_unbilled: Money
    overdue_count: int
    max_days_overdue: int
    credit_balance: Money = Field(
        description="Deposits, prepayments and overpayments not yet applied; deducted from exposure"
    )
    warnings: list[CreditWarningRead]
    suggested_limit: SuggestedLimitRead
    version: int = Field(
        description="Version of the credit terms (0: never changed); send it as If-Match when patching"
    )


class CreditUpdate(PatchSchema):
    """Terms and the manual hold; the limit changes only through an approved limit request."""

    not_nullable: ClassVar[frozenset[str]] = frozenset({"payment_terms_days", "on_hold"})

    payment_terms_days: int | None = Field(default=None, ge=0, le=3650)
    on_hold: bool | None = Field(
        default=None, description="Manual credit hold; putting a customer on hold needs a hold_reason"
    )
    hold_reason: Annotated[str, StringConstraints(max_length=200)] | None = None


class CreditLimitChangeRead(Schema):
    id: uuid.UUID
    customer_id: uuid.UUID
    old_limit: Money
    new_limit: Money
    request_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    reason: str | None
    at: dt.datetime


class CreditLimitHistory(Schema):
    items: list[CreditLimitChangeRead]


# --- limit requests --------------------------------------------------------------------------


class CreditLimitRequestCreate(Schema):
    customer_id: uuid.UUID
    requested_limit: NonNegativeMoney
    reason: Reason


class CreditLimitRequestRead(Schema):
    id: uuid.UUID
    customer_id: uuid.UUID
    current_limit: Money = Field(description="The limit when the request was made")
    requested_limit: Money
    reason: str
    status: Literal["pending", "approved", "rejected"]
    required_role: Role = Field(description="The lowest role that may approve it")
    requested_by: uuid.UUID
    decided_by: uuid.UUID | None
    decided_at: dt.datetime | None
    decision_note: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class CreditLimitDecision(Schema):
    note: Note | None = None


class CreditOverrideRequestCreate(Schema):
    reason: Reason


class CreditOverrideRequestRead(Schema):
    id: uuid.UUID
    contract_id: uuid.UUID
    customer_id: uuid.UUID
    reason: str
    status: Literal["pending", "approved", "rejected", "used"] = Field(
        description="`used` once the contract was signed with it"
    )
    exposure_after: Money = Field(description="The exposure after signing when it was requested")
    requested_by: uuid.UUID
    decided_by: uuid.UUID | None
    decided_role: Role | None = Field(description="Whose override authority the signing uses")
    decided_at: dt.datetime | None
    decision_note: str | None
    used_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


# --- reports ---------------------------------------------------------------------------------


class BucketAmounts(Schema):
    current: Money
    d1_30: Money
    d31_60: Money
    d61_90: Money
    d91_180: Money
    over_180: Money


class BucketActions(Schema):
    """The suggested collection step per bucket; null where nothing is outstanding."""

    current: str | None
    d1_30: str | None
    d31_60: str | None
    d61_90: str | None
    d91_180: str | None
    over_180: str | None


class AgingBucketRead(Schema):
    code: AgingBucket
    label: str
    min_days_past_due: int | None
    max_days_past_due: int | None
    collection_action: str


class AgingRowRead(Schema):
    key: uuid.UUID | None = Field(
        description="Customer, owner or team id; null for customers without an owner or team"
    )
    name: str | None
    amounts: BucketAmounts
    total: Money
    oldest_bucket: AgingBucket
    collection_action: str = Field(description="The step for the oldest bucket with an amount")
    actions: BucketActions


class AgingReportRead(Schema):
    as_of: dt.date
    group_by: Literal["customer", "owner", "team"]
    buckets: list[AgingBucketRead]
    rows: list[AgingRowRead]
    totals: BucketAmounts
    total: Money


class ProvisionLineRead(Schema):
    bucket: AgingBucket
    label: str
    outstanding: Money
    rate: DecimalString
    provision: Money


class WrittenOffRead(Schema):
    amount: Money
    rate: DecimalString
    provision: Money


class ProvisionReportRead(Schema):
    as_of: dt.date
    buckets: list[ProvisionLineRead]
    outstanding_total: Money
    written_off: WrittenOffRead
    total_provision: Money


# --- settings --------------------------------------------------------------------------------


class BucketRates(Schema):
    current: Rate
    d1_30: Rate
    d31_60: Rate
    d61_90: Rate
    d91_180: Rate
    over_180: Rate


Action = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class BucketActionSettings(Schema):
    current: Action
    d1_30: Action
    d31_60: Action
    d61_90: Action
    d91_180: Action
    over_180: Action


GradeCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]$")]
# Said with additionalProperties (not patternProperties), which client generators understand.
GRADE_FACTORS_SCHEMA = {
    "type": "object",
    "propertyNames": {"pattern": r"^[A-Z]$"},
    "minProperties": 1,
    "maxProperties": 26,
    "additionalProperties": {**DECIMAL_SCHEMA, "description": "0 to 100", "examples": ["1.2"]},
    "description": "The suggested-limit factor per grade",
    "examples": [{"A": "1.5", "B": "1.0", "C": "0.5"}],
}

DEFAULT_LIMITS_SCHEMA = {
    "type": "object",
    "propertyNames": {"pattern": r"^[A-Z]$"},
    "maxProperties": 26,
    "additionalProperties": {
        "type": "string",
        "format": "decimal",
        "pattern": MONEY_PATTERN,
        "description": "A non-negative amount",
        "examples": ["50000.00"],
    },
    "description": "The limit of a customer with no credit profile of its own, by grade (cash first by "
    "default); an ungraded customer, or a grade not listed, gets default_credit_limit",
    "examples": [{"A": "0.00", "B": "0.00", "C": "0.00"}],
}


class CreditSettings(Schema):
    manager_limit_max: NonNegativeMoney = Field(description="Managers approve limits up to this")
    finance_limit_max: NonNegativeMoney = Field(description="Finance approves up to this; directors above")
    hold_after_overdue_days: int = Field(ge=0, le=3650)
    warn_ratio: DecimalString = Field(gt=0, le=1, max_digits=6, decimal_places=4)
    default_payment_terms_days: int = Field(ge=0, le=3650)
    renewal_notice_days: int = Field(
        default=60,
        ge=0,
        le=3650,
        description="Days before a service period ends that its customer is renewal-due",
    )
    default_credit_limit: NonNegativeMoney = Field(description="The limit a customer starts with")
    min_repayment_rate: Rate = Field(description="Below it the suggested limit is 0")
    provision_rates: BucketRates
    collection_actions: BucketActionSettings
    grade_factors: Annotated[
        dict[GradeCode, Annotated[DecimalString, Field(ge=0, le=100)]],
        Field(min_length=1, max_length=26),
        WithJsonSchema(GRADE_FACTORS_SCHEMA),
    ]
    default_limits_by_grade: Annotated[
        dict[GradeCode, NonNegativeMoney], Field(max_length=26), WithJsonSchema(DEFAULT_LIMITS_SCHEMA)
    ] = Field(default_factory=lambda: {"A": Decimal("0.00"), "B": Decimal("0.00"), "C": Decimal("0.00")})
    version: int = Field(default=0, description="Read-only: the settings version", ge=0)


class StatementLineRead(Schema):
    date: dt.date = Field(description="Calendar date in the business time zone")
    at: dt.datetime
    kind: Literal["receivable", "payment", "credit_applied", "write_off"]
    reference: str = Field(description="Contract number; for a payment its reference")
    debit: Money
    credit: Money = Field(description="What reduced the debt: money applied to bills, a write-off")
    amount: Money = Field(
        description="The document's own amount (a payment's full amount, part "
        "of which may have gone to the credit balance)"
    )
    balance: Money


class StatementRead(Schema):
    company_name: str
    customer_id: uuid.UUID
    customer_name: str
    date_from: dt.date = Field(serialization_alias="from")
    date_to: dt.date = Field(serialization_alias="to")
    opening_balance: Money = Field(description="Owed on receivables at the start of the period")
    lines: list[StatementLineRead]
    closing_balance: Money = Field(
        description="Owed at the end: equals /reports/ar-aging for the customer as of the last day"
    )
    opening_credit_balance: Money
    credit_balance: Money = Field(description="Credit balance at the end of the period")


class RenewalDueRead(Schema):
    customer_id: uuid.UUID
    name: str
    owner_id: uuid.UUID | None
    team_id: uuid.UUID | None
    contract_id: uuid.UUID = Field(description="The contract whose service period ends")
    contract_number: str
    service_end: dt.date
    days_left: int = Field(description="Days until the service ends; negative once it has ended")


class RenewalsReportRead(Schema):
    as_of: dt.date
    renewal_notice_days: int
    due: list[RenewalDueRead]
    date_from: dt.date = Field(serialization_alias="from")
    date_to: dt.date = Field(serialization_alias="to")
    due_count: int = Field(description="Service periods that ended in the period")
    renewed_count: int = Field(description="Of them, renewed by a contract signed within the window")
    renewal_rate: DecimalString | None = Field(description="renewed ÷ due; null when nothing was due")

"""The funnel report (SPEC §9) as JSON: stages now, steps over the period, beside the ideal."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from app.routers.schemas.common import Money, Schema


class PeriodRead(Schema):
    from_: dt.date = Field(alias="from", serialization_alias="from")
    to: dt.date = Field(description="Exclusive: the period is [from, to)")


class SubjectRead(Schema):
    type: Literal["company", "team", "rep"]
    id: uuid.UUID | None
    name: str


class StageRead(Schema):
    stage: str
    count: int = Field(description="Live customers in the stage now (the pool included)")
    amount: Money = Field(description="Their target amount; contract amount once signed")
    holding_per_rep: Decimal | None = Field(
        description="Owned customers in the stage ÷ active reps of the subject; null without reps"
    )
    ideal_holding: int | None
    stalled: int = Field(description="In the stage longer than ideal days × stall factor")


class StepRead(Schema):
    from_stage: str
    to_stage: str
    entered: int = Field(description="Customers that entered from_stage in the period")
    converted: int = Field(description="Of those, the ones that later reached to_stage or beyond")
    conversion: Decimal | None = Field(description="converted ÷ entered; null when none entered")
    ideal_conversion: Decimal | None
    median_days: Decimal | None = Field(
        description="Median days from entering from_stage to leaving it forward (converted ones)"
    )
    ideal_days: Decimal


class AbandonedRead(Schema):
    count: int
    by_reason: dict[str, int]


class FlowRead(Schema):
    steps: list[StepRead]
    abandoned: AbandonedRead
    signed: int = Field(description="Entries into signed in the period")
    out_of_funnel_signed: int = Field(description="Of those, customers out of funnel (漏斗外)")
    forward_exits: int = Field(
        description="Forward moves in the period (the exits that are not abandonments)"
    )


class FunnelReportRead(FlowRead):
    subject: SubjectRead
    period: PeriodRead
    as_of: dt.datetime = Field(description="When the stage figures were taken")
    stages: list[StageRead]


class WeekRead(FlowRead):
    week: str = Field(description="ISO week, e.g. 2026-W49")
    period: PeriodRead


class FunnelWeeklyRead(Schema):
    subject: SubjectRead
    period: PeriodRead
    weeks: list[WeekRead]


class ReportSettings(Schema):
    """Anomaly thresholds (SPEC §9); shares and factors are decimals (0.30 = 30%)."""

    out_of_funnel_share: Decimal = Field(
        ge=0, le=1, description="Flag a share of out-of-funnel signings above this (0.30)"
    )
    intent_holding_factor: Decimal = Field(
        gt=0,
        le=1000,
        description="Flag intent holding per rep ≥ this × ideal with no signing in the period (2)",
    )
    low_conversion_factor: Decimal = Field(
        ge=0, le=1, description="Flag a step's conversion below this × its ideal (0.5)"
    )
    low_conversion_min_entered: int = Field(
        ge=1, le=1_000_000, description="…when at least this many entered (10)"
    )
    abandonment_share: Decimal = Field(
        ge=0, le=1, description="Flag abandonments above this share of exits (0.40)"
    )
    long_cycle_factor: Decimal = Field(
        gt=0, le=1000, description="Flag a median cycle above this × the ideal days (2)"
    )
    holding_deviation: Decimal = Field(
        ge=0, le=1, description="Flag a holding per rep more than this share off the ideal (0.50)"
    )
    abandon_claim_ratio: Decimal = Field(
        gt=0, le=1000, description="Flag abandonments ÷ claims above this (0.5)"
    )
    churn_interval_factor: Decimal = Field(
        gt=0,
        le=1000,
        description="Churn risk: days since the last contract above this × the median interval (1.5)",
    )
    activity_drop_ratio: Decimal = Field(
        ge=0,
        le=1,
        description="Churn risk: activities in the last 90 days below this × the 90 days before (0.3)",
    )
    version: int = Field(default=0, description="Read-only: the settings version", ge=0)


class AnomalySubjectRead(Schema):
    type: Literal["rep", "team"]
    id: uuid.UUID
    name: str


class AnomalyRead(Schema):
    kind: Literal[
        "out_of_funnel_signings",
        "intent_without_signings",
        "low_conversion",
        "high_abandonment",
        "long_cycle",
        "holding_off_ideal",
        "high_abandon_claim_ratio",
    ]
    subject: AnomalySubjectRead
    value: Decimal = Field(description="The figure found (a share, ratio, holding or days)")
    threshold: Decimal = Field(description="The limit it crossed, from /settings/reports")
    detail: dict[str, Any] = Field(description="The counts behind the figure")


class AnomalyReportRead(Schema):
    period: PeriodRead
    items: list[AnomalyRead]


class NewCustomersRead(Schema):
    total: int
    claimed: int
    assigned: int = Field(description="Assigned, allocated or handed over to the rep")
    self_discovered: int


class PerformanceRead(Schema):
    subject: AnomalySubjectRead
    signed_amount: Money = Field(description="Contracts signed in the period (owner at signing)")
    collected_amount: Money = Field(description="Payments received in the period (customer's owner)")
    new_customers: NewCustomersRead
    lead_entered: int
    lead_signed: int = Field(description="Of the leads entered, those that reached signed")
    conversion: Decimal | None = Field(description="lead → signed: lead_signed ÷ lead_entered")
    claims: int
    releases: int
    abandonments: int
    abandon_claim_ratio: Decimal | None
    complaints: int = Field(description="Complaints opened in the period on the customers owned")
    complaints_on_time: int = Field(description="Of those, responded to (in progress) by respond_by")
    complaints_on_time_rate: Decimal | None = Field(
        description="complaints_on_time ÷ complaints, to 2 places; null without complaints"
    )
    csat_responses: int = Field(description="CSAT answers (1–5) given in the period")
    csat_avg: Decimal | None = Field(description="Average CSAT score, to 2 places; null without answers")
    nps_responses: int = Field(description="NPS answers (0–10) given in the period")
    nps: Decimal | None = Field(
        description="% promoters (9–10) − % detractors (0–6), −100 to 100; null without answers"
    )
    renewals_due: int = Field(description="Service periods of the customers owned ending in the period")
    renewals_renewed: int = Field(description="Of those, renewed by a contract signed in their window")
    renewal_rate: Decimal | None = Field(
        description="renewals_renewed ÷ renewals_due, to 4 places; null when nothing was due"
    )


class PerformanceReportRead(Schema):
    period: PeriodRead
    group_by: Literal["rep", "team"]
    items: list[PerformanceRead]


class ChurnRiskRead(Schema):
    customer_id: uuid.UUID
    name: str
    owner_id: uuid.UUID | None
    value: Money = Field(description="Total amount of the customer's signed contracts")
    reasons: list[Literal["overdue_contract", "activity_drop"]]
    figures: dict[str, Any]

"""Schemas for grades, gradings and the grading policy."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import Field

from app.routers.schemas.common import DecimalString, Schema
from app.routers.schemas.customers import Grade


class FactorRead(Schema):
    factor: Literal["signed_amount", "repayment_rate", "outstanding"]
    value: str | None = Field(description="The measured value (amounts in CNY, rates as fractions)")
    score: int
    band: str


class GradingInputsRead(Schema):
    """The trading facts a scorecard was computed from (amounts in CNY)."""

    signed_amount: DecimalString
    billed: DecimalString
    paid: DecimalString
    outstanding_at_period_end: DecimalString
    first_trading_date: dt.date | None
    as_of: dt.date


class GradingRead(Schema):
    id: uuid.UUID
    at: dt.datetime
    eligible: bool
    grade: Grade | None
    previous_grade: Grade | None
    change: Literal["up", "down", "same", "new"]
    total: int | None
    factors: list[FactorRead]
    inputs: GradingInputsRead
    reasons: list[str]
    policy_version: int
    actor_id: uuid.UUID | None


class SuggestionRead(Schema):
    grade: Grade
    reasons: list[str]


class GradeRead(Schema):
    customer_id: uuid.UUID
    grade: Grade | None = Field(description="The customer's grade now")
    current: GradingRead | None = Field(description="The latest scorecard, explaining the grade")
    history: list[GradingRead]
    suggestion: SuggestionRead = Field(description="Initial-grade suggestion from the profile")
    policy_version: int


class BatchRead(Schema):
    scored: int
    ineligible: int
    up: int
    down: int
    same: int
    new: int
    policy_version: int
    as_of: dt.datetime


Thresholds = Annotated[list[DecimalString], Field(min_length=4, max_length=4)]


class GradingSettings(Schema):
    signed_amount_thresholds: Thresholds = Field(description="≥ these score 10/8/6/4 (descending)")
    repayment_rate_thresholds: Thresholds = Field(description="≥ these score 10/8/6/4 (descending)")
    outstanding_thresholds: Thresholds = Field(description="≤ these score 10/8/6/4 (ascending)")
    grade_a_min_total: int = Field(ge=6, le=30)
    grade_b_min_total: int = Field(ge=6, le=30)
    trailing_months: int = Field(ge=1, le=120)
    min_trading_days: int = Field(ge=1, le=3650)
    version: int = Field(default=0, ge=0, description="Read-only: the settings version")


def grade_read(view: Any) -> GradeRead:
    return GradeRead(
        customer_id=view.customer_id,
        grade=view.grade,
        current=None if view.current is None else GradingRead.model_validate(view.current),
        history=[GradingRead.model_validate(g) for g in view.history],
        suggestion=SuggestionRead(grade=view.suggestion.grade, reasons=list(view.suggestion.reasons)),
        policy_version=view.policy_version,
    )

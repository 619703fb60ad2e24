"""Schemas for service: complaints, satisfaction surveys and the complaint deadlines."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import Field, StringConstraints

from app.domain.service import ComplaintCategory, ComplaintStatus, Severity, SurveyKind
from app.routers.schemas.common import PatchSchema, Schema

Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=10_000)]


class PerSeverity(Schema):
    """One whole number per complaint severity."""

    low: int = Field(ge=1)
    medium: int = Field(ge=1)
    high: int = Field(ge=1)
    critical: int = Field(ge=1)


class ServiceSettings(Schema):
    respond_within_hours: PerSeverity = Field(
        description="Hours from opening to respond_by (defaults critical 4, high 24, medium 72, low 168)"
    )
    resolve_within_days: PerSeverity = Field(
        description="Days from opening to resolve_by (defaults critical 1, high 3, medium 7, low 14)"
    )
    version: int = Field(default=0, ge=0, description="Read-only: the settings version")


class ComplaintCreate(Schema):
    customer_id: uuid.UUID
    category: ComplaintCategory
    severity: Severity
    subject: Subject
    description: LongText | None = None
    handler_id: uuid.UUID | None = Field(
        default=None,
        description="The user who handles it; an active rep, manager, director, support or admin",
    )


class ComplaintUpdate(PatchSchema):
    not_nullable = frozenset({"category", "severity", "subject", "status"})

    category: ComplaintCategory | None = None
    severity: Severity | None = Field(
        default=None, description="A new severity recomputes respond_by and resolve_by from the opening time"
    )
    subject: Subject | None = None
    description: LongText | None = None
    handler_id: uuid.UUID | None = None
    status: ComplaintStatus | None = Field(
        default=None,
        description="open → in_progress → resolved → "
        "closed; resolved → in_progress reopens. Other moves: 409",
    )
    resolution: LongText | None = None


class ComplaintRead(Schema):
    id: uuid.UUID
    customer_id: uuid.UUID
    category: ComplaintCategory
    severity: Severity
    subject: str
    description: str | None
    handler_id: uuid.UUID | None
    status: ComplaintStatus
    respond_by: dt.datetime
    resolve_by: dt.datetime
    responded_at: dt.datetime | None = Field(description="When it first moved to in_progress")
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    resolution: str | None
    overdue: bool = Field(description="Still open after respond_by, or unresolved after resolve_by")
    responded_on_time: bool = Field(description="Moved to in_progress no later than respond_by")
    created_by: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class SurveyCreate(Schema):
    customer_id: uuid.UUID
    kind: SurveyKind
    score: int = Field(ge=0, le=10, description="csat: 1–5; nps: 0–10")
    comment: LongText | None = None
    complaint_id: uuid.UUID | None = Field(default=None, description="A complaint of the same customer")
    contract_id: uuid.UUID | None = Field(default=None, description="A contract of the same customer")


class SurveyRead(Schema):
    id: uuid.UUID
    customer_id: uuid.UUID
    kind: SurveyKind
    score: int
    comment: str | None
    complaint_id: uuid.UUID | None
    contract_id: uuid.UUID | None
    created_by: uuid.UUID
    created_at: dt.datetime

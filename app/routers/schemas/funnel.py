"""Schemas for funnel transitions, the pool, allocation, handover, worklist and settings."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from app.domain.funnel import AbandonReason, Stage
from app.routers.schemas.common import DecimalString, Money, PositiveMoney, Schema, UtcDateTime
from app.routers.schemas.customers import ContactRead, CustomerRead, Grade

Note = Annotated[str, StringConstraints(max_length=2000)]


class TransitionCreate(Schema):
    to_stage: Stage
    reason: Annotated[str, StringConstraints(max_length=50)] | None = Field(
        default=None,
        description="Required going back; an abandon reason code when abandoning: "
        + ", ".join(r.value for r in AbandonReason),
    )
    note: Note | None = Field(default=None, description="Required when abandoning")
    grade: Grade | None = Field(default=None, description="Set when entering graded")
    recommended_products: (
        Annotated[list[Annotated[str, StringConstraints(max_length=100)]], Field(max_length=30)] | None
    ) = None
    target_amount: PositiveMoney | None = None
    director_override: bool = Field(
        default=False, description="Reactivate before the cooldown ends (directors only)"
    )


class AbandonmentReviewRead(Schema):
    id: uuid.UUID
    reviewer_id: uuid.UUID
    verdict: Literal["agree", "disagree"]
    comment: str | None
    at: dt.datetime


class TransitionRead(Schema):
    id: uuid.UUID
    customer_id: uuid.UUID
    from_stage: Stage | None
    to_stage: Stage
    kind: str
    at: dt.datetime
    actor_id: uuid.UUID | None
    reason: str | None
    note: str | None
    owner_id: uuid.UUID | None
    team_id: uuid.UUID | None
    days_in_from_stage: DecimalString | None = Field(description="Days spent in the previous stage")
    skipped: list[Stage]
    out_of_funnel: bool
    director_override: bool
    review: AbandonmentReviewRead | None = None


class AbandonmentReviewCreate(Schema):
    verdict: Literal["agree", "disagree"]
    comment: Note | None = None


class AssignRequest(Schema):
    owner_id: uuid.UUID
    director_override: bool = False


class ReleaseRequest(Schema):
    reason: Annotated[str, StringConstraints(max_length=100)] | None = None


class PoolItem(CustomerRead):
    contacts: list[ContactRead]


class ManualAssignment(Schema):
    customer_id: uuid.UUID
    owner_id: uuid.UUID


class AllocateRequest(Schema):
    strategy: Literal["fat_man", "round_robin", "manual"]
    customer_ids: Annotated[list[uuid.UUID], Field(max_length=500)] | None = Field(
        default=None, description="Customers to allocate; default: the claimable pool, best first"
    )
    assignments: Annotated[list[ManualAssignment], Field(max_length=500)] = []
    user_ids: Annotated[list[uuid.UUID], Field(max_length=200)] | None = Field(
        default=None, description="Reps to allocate to; default: every active rep in scope"
    )
    by_team: bool = Field(default=False, description="Fat-man ranks teams first, then reps")
    dry_run: bool = False
    limit: int = Field(default=500, ge=1, le=500)


class PoolAssignmentExplanationRead(Schema):
    rule: Literal["fat-man", "round robin", "discoverer priority"]
    rank: int = Field(description="1 = the best seller over the ranking window of those considered")
    signed_amount: Money = Field(description="Signed over the trailing ranking_days")
    free_capacity: int = Field(description="Active customers the user could still take, before this one")
    stage: Stage
    stage_holding: int = Field(description="Customers in this stage the user held before this one")
    stage_cap: int | None = Field(description="Ideal holding per rep for the stage (SPEC §4); null: none")


class PoolAssignmentRead(Schema):
    customer_id: uuid.UUID
    owner_id: uuid.UUID
    team_id: uuid.UUID | None
    reason: str
    applied: bool
    explanation: PoolAssignmentExplanationRead | None = Field(
        default=None, description="Why this user (fat-man and round robin); null for manual lines"
    )


class PoolSkippedRead(Schema):
    customer_id: uuid.UUID
    reason: str


class PoolAllocationRead(Schema):
    strategy: str
    dry_run: bool
    assignments: list[PoolAssignmentRead]
    unassigned: list[PoolSkippedRead]


class RecycleRequest(Schema):
    dry_run: bool = False
    as_of: UtcDateTime | None = Field(default=None, description="Look ahead (dry_run only)")


class RecycledRead(Schema):
    customer_id: uuid.UUID
    name: str
    owner_id: uuid.UUID | None
    last_contact_at: dt.datetime | None
    claimed_at: dt.datetime | None
    protection_deadline: dt.datetime | None


class CooldownRead(Schema):
    customer_id: uuid.UUID
    name: str
    cooldown_until: dt.datetime


class RecycleRead(Schema):
    dry_run: bool
    as_of: dt.datetime
    released: list[RecycledRead]
    cooldowns_ended: list[CooldownRead]


class HandoverRequest(Schema):
    strategy: Literal["fat_man", "pool", "to_user"]
    to_user_id: uuid.UUID | None = None
    dry_run: bool = False


class HandoverItemRead(Schema):
    customer_id: uuid.UUID
    name: str
    stage: Stage
    to_owner_id: uuid.UUID | None
    reason: str


class HandoverRead(Schema):
    user_id: uuid.UUID
    strategy: str
    dry_run: bool
    items: list[HandoverItemRead]


class WorkItemRead(Schema):
    customer: CustomerRead
    reasons: list[str] = Field(
        description=(
            "Why the customer needs an action today, most urgent first: payment_overdue, "
            "complaint_overdue (an overdue complaint you handle or on your customer), "
            "protection_lapsing, follow_up_due, task_due, stalled, not_contacted"
        )
    )
    protection_deadline: dt.datetime | None
    follow_up_at: dt.datetime | None


class Worklist(Schema):
    items: list[WorkItemRead]
    next_cursor: str | None = None


class IdealStepDoc(Schema):
    from_stage: Stage
    to_stage: Stage
    ideal_days: DecimalString = Field(gt=0)
    ideal_conversion: DecimalString | None = Field(default=None, ge=0, le=1)
    ideal_holding_per_rep: int | None = Field(default=None, ge=0)


class FunnelSettings(Schema):
    stall_factor: DecimalString = Field(ge=1)
    steps: Annotated[list[IdealStepDoc], Field(min_length=6, max_length=6)]
    version: int = Field(default=0, description="Read-only: the settings version", ge=0)


class PoolSettings(Schema):
    max_active_customers: int = Field(ge=1, le=10_000)
    protection_days: int = Field(ge=1, le=365)
    cooldown_days: int = Field(ge=0, le=3650)
    ranking_days: int = Field(ge=1, le=3650)
    reclaim_block_days: int = Field(
        default=7,
        ge=0,
        le=365,
        description="Days a rep who released a customer or lost it to lapse cannot take it back",
    )
    discovery_bonus: int = Field(
        default=5,
        ge=0,
        le=1000,
        description="Self-discovered customers a rep may hold beyond max_active_customers",
    )
    lapse_warning_days: int = Field(
        default=2, ge=0, le=364, description="The worklist flags protection lapsing within this many days"
    )
    version: int = Field(default=0, description="Read-only: the settings version", ge=0)


def settings_doc(model: Schema) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude={"version"})

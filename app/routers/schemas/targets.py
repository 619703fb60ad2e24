"""Sales targets and their tracking report."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints

from app.routers.schemas.common import Money, PatchSchema, Schema

Level = Literal["company", "team", "rep"]
PeriodText = Annotated[
    str, Field(pattern=r"^\d{4}(-(0[1-9]|1[0-2])|-Q[1-4])?$", examples=["2026-12", "2026-Q4", "2026"])
]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Amount = Annotated[Money, Field(ge=0)]


class TargetCreate(Schema):
    period: PeriodText
    level: Level
    team_id: uuid.UUID | None = Field(default=None, description="A team target's team")
    owner_id: uuid.UUID | None = Field(default=None, description="A rep target's rep")
    parent_id: uuid.UUID | None = Field(
        default=None, description="The target this one decomposes (one level up, same period)"
    )
    signed_amount: Amount
    collected_amount: Amount
    product: Label | None = None
    region: Label | None = None


class TargetUpdate(PatchSchema):
    not_nullable: ClassVar[frozenset[str]] = frozenset({"signed_amount", "collected_amount"})

    signed_amount: Amount | None = None
    collected_amount: Amount | None = None
    product: Label | None = None
    region: Label | None = None
    parent_id: uuid.UUID | None = None


class TargetRead(Schema):
    id: uuid.UUID
    period: str
    period_start: dt.date
    period_end: dt.date = Field(description="Exclusive")
    level: Level
    team_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    parent_id: uuid.UUID | None
    signed_amount: Money
    collected_amount: Money
    product: str | None
    region: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class TargetSubject(Schema):
    type: Level
    id: uuid.UUID | None
    name: str


class TargetLineRead(Schema):
    target_id: uuid.UUID
    level: Level
    subject: TargetSubject
    product: str | None
    region: str | None
    parent_id: uuid.UUID | None
    target_signed: Money
    actual_signed: Money | None = Field(
        description="Contracts signed in the period (null for a product target: contracts name no product)"
    )
    target_collected: Money
    actual_collected: Money | None = Field(description="Payments received in the period")
    completion_signed: Decimal | None
    completion_collected: Decimal | None
    expected_to_date: Money = Field(
        description="The signed target × the share of the period gone by the end of today (an even pace)"
    )
    expected_collected_to_date: Money
    unallocated_signed: Money | None = Field(
        description="Target minus its children's; negative when over-allocated; null for a rep"
    )
    unallocated_collected: Money | None
    children: int


class TargetReportRead(Schema):
    period: str
    items: list[TargetLineRead]

"""Schemas for customers, contacts, history and activities."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, WithJsonSchema

from app.domain.customers import Source
from app.domain.funnel import Stage
from app.routers.schemas.common import (
    UPDATED_SINCE,
    NameRule,
    PatchSchema,
    PositiveMoney,
    RecordDateTime,
    Schema,
    UtcDateTime,
)

Text100 = Annotated[str, StringConstraints(max_length=100)]
Text200 = Annotated[str, StringConstraints(max_length=200)]
Text300 = Annotated[str, StringConstraints(max_length=300)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Phones = Annotated[list[Annotated[str, StringConstraints(max_length=40)]], Field(max_length=10)]
Emails = Annotated[list[Annotated[str, StringConstraints(max_length=254)]], Field(max_length=10)]


class CustomerKind(StrEnum):
    company = "company"
    individual = "individual"


class Grade(StrEnum):
    A = "A"
    B = "B"
    C = "C"


class SizeBand(StrEnum):
    s1 = "1-49"
    s2 = "50-199"
    s3 = "200-999"
    s4 = "1000+"


class CustomerFilterParams(BaseModel):
    """The customer filters, shared by the list and the export (query parameters)."""

    stage: Stage | None = None
    grade: Grade | None = None
    owner_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    region: Text100 | None = None
    industry: Text100 | None = None
    tag: Annotated[str, StringConstraints(max_length=50)] | None = None
    source: Source | None = None
    pool: bool | None = Field(default=None, description="true: only unowned; false: only owned")
    q: Text200 | None = Field(
        default=None,
        description=(
            "Search: a phone (any format), an email, a USCC, or a fragment of the customer's or a "
            "contact's name"
        ),
    )
    updated_since: UtcDateTime | None = Field(default=None, description=UPDATED_SINCE)
    include_deleted: bool = Field(
        default=False, description="Include soft-deleted and merged customers (tombstones)"
    )


class ContactIn(Schema):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100), NameRule]
    title: Text100 | None = None
    phones: Phones = []
    emails: Emails = []
    wechat: Text100 | None = None
    is_primary: bool = False
    notes: Annotated[str, StringConstraints(max_length=2000)] | None = None


class ContactUpdate(PatchSchema):
    not_nullable = frozenset({"name", "phones", "emails", "is_primary"})

    name: Annotated[str, StringConstraints(min_length=1, max_length=100), NameRule] | None = None
    title: Text100 | None = None
    phones: Phones | None = None
    emails: Emails | None = None
    wechat: Text100 | None = None
    is_primary: bool | None = None
    notes: Annotated[str, StringConstraints(max_length=2000)] | None = None


class ContactRead(Schema):
    id: uuid.UUID
    customer_id: uuid.UUID
    name: str
    title: str | None
    phones: list[str]
    emails: list[str]
    wechat: str | None
    is_primary: bool
    notes: str | None
    masked: bool = Field(description="Contact details are masked (a rep viewing a pool customer)")
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class _CustomerFields(Schema):
    industry: Text100 | None = None
    region: Text100 | None = None
    size: SizeBand | None = None
    address: Text300 | None = None
    website: Text300 | None = None
    referred_by: uuid.UUID | None = None
    tags: Annotated[list[Tag], Field(max_length=30)] = []
    interests: Annotated[list[Tag], Field(max_length=30)] = []
    recommended_products: Annotated[list[Text100], Field(max_length=30)] = []
    target_amount: PositiveMoney | None = None
    notes: Annotated[str, StringConstraints(max_length=5000)] | None = None


class CustomerCreate(_CustomerFields):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200), NameRule]
    kind: CustomerKind = CustomerKind.company
    uscc: Annotated[str, StringConstraints(max_length=40)] | None = None
    source: Source | None = Field(default=None, description="Defaults to self_discovered for reps")
    stage: Stage = Field(
        default=Stage.resource, description="resource…intent; beyond graded is recorded as out of funnel"
    )
    grade: Grade | None = None
    owner_id: uuid.UUID | None = Field(
        default=None, description="Support/manager/director may assign an owner; reps own what they create"
    )
    contacts: Annotated[list[ContactIn], Field(max_length=20)] = []


class CustomerUpdate(PatchSchema):
    not_nullable = frozenset({"name", "kind", "source", "tags", "interests", "recommended_products"})

    name: Annotated[str, StringConstraints(min_length=1, max_length=200), NameRule] | None = None
    kind: CustomerKind | None = None
    uscc: Annotated[str, StringConstraints(max_length=40)] | None = None
    industry: Text100 | None = None
    region: Text100 | None = None
    size: SizeBand | None = None
    address: Text300 | None = None
    website: Text300 | None = None
    source: Source | None = None
    referred_by: uuid.UUID | None = None
    tags: Annotated[list[Tag], Field(max_length=30)] | None = None
    interests: Annotated[list[Tag], Field(max_length=30)] | None = None
    recommended_products: Annotated[list[Text100], Field(max_length=30)] | None = None
    target_amount: PositiveMoney | None = None
    notes: Annotated[str, StringConstraints(max_length=5000)] | None = None


class CustomerRead(Schema):
    id: uuid.UUID
    name: str
    kind: CustomerKind
    uscc: str | None
    industry: str | None
    region: str | None
    size: str | None
    address: str | None
    website: str | None
    stage: Stage
    grade: Grade | None
    owner_id: uuid.UUID | None
    team_id: uuid.UUID | None
    source: str
    discovered_by: uuid.UUID | None
    referred_by: uuid.UUID | None
    tags: list[str]
    interests: list[str]
    recommended_products: list[str]
    target_amount: PositiveMoney | None
    notes: str | None
    last_contact_at: dt.datetime | None
    claimed_at: dt.datetime | None
    stage_entered_at: dt.datetime
    out_of_funnel: bool
    cooldown_until: dt.datetime | None
    completeness: int = Field(ge=0, le=100)
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None
    merged_into: uuid.UUID | None
    version: int


class CustomerDetail(CustomerRead):
    contacts: list[ContactRead]


class DuplicateRead(Schema):
    id: uuid.UUID | None = Field(description="Null when the customer is not visible to you")
    name: str | None = Field(description="Null when the customer is not visible to you")
    uscc: str | None
    owner_id: uuid.UUID | None
    matched_on: list[str]
    visible: bool = Field(
        description="False: a customer exists that you may not see (outside your "
        "scope, or found through contact details masked for you)"
    )


class DuplicateList(Schema):
    items: list[DuplicateRead]


class MergeRequest(Schema):
    duplicate_id: uuid.UUID


# One field's change in the history: its old and its new value (any JSON value, null for none).
FieldChange = Annotated[
    list[Any],
    WithJsonSchema(
        {
            "type": "array",
            "minItems": 2,
            "maxItems": 2,
            "items": {},
            "description": "[old, new]",
            "examples": [[None, "13800138000"]],
        }
    ),
]


class HistoryRead(Schema):
    id: uuid.UUID
    customer_id: uuid.UUID
    at: dt.datetime
    actor_id: uuid.UUID | None
    action: str
    entity: str
    entity_id: uuid.UUID | None
    changes: dict[str, FieldChange] = Field(description="Per field: [old value, new value]")


class ActivityType(StrEnum):
    call = "call"
    visit = "visit"
    email = "email"
    message = "message"
    meeting = "meeting"
    other = "other"


class Location(Schema):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    accuracy: float | None = Field(default=None, ge=0, le=100_000, description="metres")
    address: Text300 | None = None


class _ActivityFields(Schema):
    contact_id: uuid.UUID | None = None
    duration_minutes: int | None = Field(default=None, ge=0, le=24 * 60)
    subject: Text200 | None = None
    notes: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    outcome: Text200 | None = None
    next_follow_up_at: RecordDateTime | None = None
    location: Location | None = None
    device_id: Text100 | None = None


class ActivityCreate(_ActivityFields):
    id: uuid.UUID | None = Field(default=None, description="Client-generated id (offline apps)")
    customer_id: uuid.UUID
    type: ActivityType
    occurred_at: RecordDateTime


class ActivityUpdate(PatchSchema):
    not_nullable = frozenset({"type", "occurred_at"})

    contact_id: uuid.UUID | None = None
    type: ActivityType | None = None
    occurred_at: RecordDateTime | None = None
    duration_minutes: int | None = Field(default=None, ge=0, le=24 * 60)
    subject: Text200 | None = None
    notes: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    outcome: Text200 | None = None
    next_follow_up_at: RecordDateTime | None = None
    location: Location | None = None


class ActivityRead(Schema):
    id: uuid.UUID
    customer_id: uuid.UUID
    contact_id: uuid.UUID | None
    type: ActivityType
    occurred_at: dt.datetime
    duration_minutes: int | None
    subject: str | None
    notes: str | None
    outcome: str | None
    next_follow_up_at: dt.datetime | None
    location: Location | None
    created_by: uuid.UUID
    device_id: str | None
    received_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


def activity_values(data: dict[str, Any]) -> dict[str, Any]:
    """Flatten the ``location`` object into the stored columns; timestamps to UTC."""
    values = dict(data)
    if "location" in values:
        location = values.pop("location") or {}
        values.update(
            location_lat=location.get("lat"),
            location_lng=location.get("lng"),
            location_accuracy_m=location.get("accuracy"),
            location_address=location.get("address"),
        )
    return values


def activity_read(activity: Any) -> ActivityRead:
    location = None
    if activity.location_lat is not None and activity.location_lng is not None:
        location = Location(
            lat=activity.location_lat,
            lng=activity.location_lng,
            accuracy=activity.location_accuracy_m,
            address=activity.location_address,
        )
    data = {name: getattr(activity, name) for name in ActivityRead.model_fields if name != "location"}
    return ActivityRead(**data, location=location)


# ----------------------------------------------------------------------------------------
# Import report (POST /customers/import)
# ----------------------------------------------------------------------------------------


class ImportMode(StrEnum):
    all_or_nothing = "all_or_nothing"
    partial = "partial"


class ImportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


class ImportRowError(Schema):
    loc: list[str | int] = Field(
        description="The column (canonical field name) and, for "
        'multi-valued cells, the value\'s position: ["phone", 1]'
    )
    msg: str
    type: str


class ImportCandidateRead(Schema):
    id: uuid.UUID
    name: str
    matched_on: list[str] = Field(description="uscc, name, phone and/or email")


class ImportDuplicateRead(Schema):
    row: int = Field(description="Spreadsheet row number (the header is row 1)")
    name: str | None
    candidates: list[ImportCandidateRead] = Field(description="Existing customers it matches")
    duplicate_of_row: int | None = Field(description="An earlier row of the same file it matches")
    matched_on: list[str] = Field(description="Keys shared with duplicate_of_row")
    created_id: uuid.UUID | None = Field(description="Set when allow_duplicate=true imported it anyway")


class ImportRejectedRead(Schema):
    row: int = Field(description="Spreadsheet row number (the header is row 1)")
    name: str | None
    errors: list[ImportRowError]


class ImportReport(Schema):
    """What an import did. With mode=all_or_nothing a failed import answers this report in the
    `report` member of a 422 `import.rejected` problem instead, with `committed: false`."""

    mode: ImportMode
    committed: bool = Field(description="Whether the import's transaction was committed")
    format: ImportFormat
    encoding: str | None = Field(
        description="Detected CSV encoding: utf-8, utf-8-sig, gb18030 or utf-16; null for XLSX"
    )
    total_rows: int = Field(description="Non-blank rows after the header")
    created: int
    created_ids: list[uuid.UUID]
    duplicates: list[ImportDuplicateRead]
    rejected: list[ImportRejectedRead]
    unknown_columns: list[str] = Field(description="Header cells that name no known field (ignored)")
    ignored_columns: list[str] = Field(description="Repeats of a single-valued column (the first one counts)")

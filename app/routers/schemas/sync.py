"""Schemas for offline sync: push batches (validated change by change) and pull pages."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    create_model,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from app.domain.sync import MAX_PUSH_CHANGES, PUSH_OPS, PUSHABLE
from app.domain.tasks import TaskStatus
from app.routers.problems import ValidationItem, error_loc
from app.routers.schemas.common import NameRule, PatchSchema, RecordDateTime, Schema
from app.routers.schemas.customers import ActivityType, Location, Text100, Text200, activity_values
from app.services.sync import PushItem

# ------------------------------------------------------------------------------------------
# Push
# ------------------------------------------------------------------------------------------


def _record(*models: str, description: str) -> Any:
    # The record travels as the dict its own GET answers (so ``exclude_none`` on the route
    # leaves its nulls alone); the schema names that model.
    return WithJsonSchema(
        {
            "anyOf": [*({"$ref": f"#/components/schemas/{m}"} for m in models), {"type": "null"}],
            "description": description,
        }
    )


class SyncChangeIn(BaseModel):
    """One offline change, as the body carries it. Each change is checked on its own (a bad one
    is rejected, the others still apply), so anything is read here; the schema documents what
    is expected: ``ActivityChangeIn`` or ``TaskChangeIn``, told apart by ``entity``."""

    model_config = ConfigDict(extra="allow")

    entity: Any = None
    op: Any = None
    id: Any = None
    base_version: Any = None
    data: Any = None

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(TypeAdapter(DocumentedChange).core_schema)


class SyncPushRequest(Schema):
    text_checked_later: ClassVar[frozenset[str]] = frozenset({"changes"})  # per change

    device_id: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(
        description="A stable id of the device (installation); re-sends are recognised per device"
    )
    changes: list[SyncChangeIn] = Field(
        description=f"At most {MAX_PUSH_CHANGES}; a larger batch answers 413 `sync.batch_too_large`"
    )


# Fields a pulled record carries that a device may send back; they are ignored.
_READ_ONLY = frozenset(
    {"id", "version", "created_by", "created_at", "updated_at", "received_at", "completed_at", "source"}
)


def _ignored(schema: dict[str, Any]) -> Any:
    return Annotated[Any, WithJsonSchema({**schema, "description": "Read-only: ignored"})]


_Timestamp = _ignored({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]})
_UserId = _ignored({"anyOf": [{"type": "string", "format": "uuid"}, {"type": "null"}]})


class _ReadOnlyFields(PatchSchema):
    id: _ignored({"type": "string", "format": "uuid"}) = None  # type: ignore[valid-type]
    version: _ignored({"type": "integer"}) = None  # type: ignore[valid-type]
    created_by: _UserId = None  # type: ignore[valid-type]
    created_at: _Timestamp = None  # type: ignore[valid-type]
    updated_at: _Timestamp = None  # type: ignore[valid-type]


class ActivitySyncData(_ReadOnlyFields):
    not_nullable: ClassVar[frozenset[str]] = frozenset({"customer_id", "type", "occurred_at"})

    customer_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    type: ActivityType | None = None
    occurred_at: RecordDateTime | None = None
    duration_minutes: int | None = Field(default=None, ge=0, le=24 * 60)
    subject: Text200 | None = None
    notes: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    outcome: Text200 | None = None
    next_follow_up_at: RecordDateTime | None = None
    location: Location | None = None
    device_id: Text100 | None = None
    received_at: _Timestamp = None  # type: ignore[valid-type]


class TaskSyncData(_ReadOnlyFields):
    not_nullable: ClassVar[frozenset[str]] = frozenset({"title", "due_at", "status", "assignee_id"})

    title: Annotated[str, StringConstraints(min_length=1, max_length=200), NameRule] | None = None
    notes: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    due_at: RecordDateTime | None = None
    status: TaskStatus | None = None
    assignee_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    activity_id: uuid.UUID | None = None
    completed_at: _Timestamp = None  # type: ignore[valid-type]
    source: _ignored({"type": "string"}) = None  # type: ignore[valid-type]


class _ChangeInFields(Schema):
    op: Literal[PUSH_OPS]  # type: ignore[valid-type]
    id: uuid.UUID = Field(description="The record's id (client-generated on create)")
    base_version: int | None = Field(
        default=None, ge=0, description="The version the device edited; null or 0 to create"
    )


class ActivityChangeIn(_ChangeInFields):
    """A change to an activity: `data` holds its fields (read-only ones are ignored): all of
    them to create, the changed ones to update; ignored on delete."""

    entity: Literal["activity"]
    data: ActivitySyncData | None = None


class TaskChangeIn(_ChangeInFields):
    """A change to a task: `data` as for an activity."""

    entity: Literal["task"]
    data: TaskSyncData | None = None


# What a pushed change should be (the schema of ``SyncChangeIn``).
DocumentedChange = Annotated[ActivityChangeIn | TaskChangeIn, Field(discriminator="entity")]

_DATA_SCHEMAS: dict[str, type[PatchSchema]] = {"activity": ActivitySyncData, "task": TaskSyncData}


def _rejected(change: SyncChangeIn, code: str, detail: str, errors: list[dict[str, Any]]) -> PushItem:
    return PushItem(
        entity=str(change.entity),
        op=str(change.op),
        raw_id=change.id,
        errors=errors,
        code=code,
        detail=detail,
    )


def _error(loc: list[str | int], msg: str, type_: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": type_}


def parse_change(change: SyncChangeIn) -> PushItem:
    """One change of a push as the service takes it, or rejected with problem-style reasons."""
    extra = sorted(change.model_extra or {})
    if extra:
        return _rejected(
            change,
            "validation_error",
            "The change has unknown fields",
            [_error([name], "Extra inputs are not permitted", "extra_forbidden") for name in extra],
        )
    if change.entity not in PUSHABLE:
        return _rejected(
            change,
            "sync.unknown_entity",
            f"Devices push {' and '.join(PUSHABLE)} changes",
            [_error(["entity"], f"must be one of: {', '.join(PUSHABLE)}", "enum")],
        )
    if change.op not in PUSH_OPS:
        return _rejected(
            change,
            "sync.unknown_op",
            f"op must be one of: {', '.join(PUSH_OPS)}",
            [_error(["op"], f"must be one of: {', '.join(PUSH_OPS)}", "enum")],
        )
    errors: list[dict[str, Any]] = []
    try:
        entity_id = uuid.UUID(change.id) if isinstance(change.id, str) else None
    except ValueError:
        entity_id = None
    if entity_id is None:
        errors.append(_error(["id"], "must be a UUID", "uuid_parsing"))
    base = change.base_version
    if base is not None and (not isinstance(base, int) or isinstance(base, bool) or base < 0):
        errors.append(_error(["base_version"], "must be a non-negative integer or null", "int_type"))
    values: dict[str, Any] | None = None
    if change.op == "upsert":
        if not isinstance(change.data, dict):
            errors.append(_error(["data"], "an upsert needs the record's fields", "dict_type"))
        else:
            try:
                data = _DATA_SCHEMAS[change.entity].model_validate(change.data)
            except ValidationError as exc:
                errors.extend(_error(["data", *error_loc(e)], e["msg"], e["type"]) for e in exc.errors())
            else:
                values = {k: v for k, v in data.model_dump(exclude_unset=True).items() if k not in _READ_ONLY}
                if change.entity == "activity":
                    values = activity_values(values)
    if errors:
        return _rejected(change, "validation_error", "The change is not valid; see errors", errors)
    return PushItem(
        entity=change.entity, op=change.op, raw_id=change.id, id=entity_id, base_version=base, values=values
    )


class SyncPushResult(BaseModel):
    """The answer to one change, in the order of the request's `changes`."""

    id: str | None = Field(default=None, description="The change's id, as sent (absent if none)")
    status: Literal["applied", "conflict", "rejected"]
    version: int | None = Field(
        default=None, description="applied: the record's version now; conflict: the server's version"
    )
    server: Annotated[
        dict[str, Any] | None,
        _record(
            "ActivityRead",
            "TaskRead",
            description="conflict: the server's copy, as its GET answers it "
            "(an activity or a task, as the change was)",
        ),
    ] = None
    code: str | None = Field(default=None, description="rejected: why, as a stable code")
    detail: str | None = None
    errors: list[ValidationItem] | None = Field(default=None, description="rejected: the problems")


class SyncPushResponse(BaseModel):
    results: list[SyncPushResult]


# ------------------------------------------------------------------------------------------
# Pull
# ------------------------------------------------------------------------------------------


class _ChangeOut(BaseModel):
    op: Literal["upsert", "delete", "scope_exit"] = Field(
        description="scope_exit: the record (for a customer: with its contacts, activities and tasks) "
        "left the caller's scope; drop it"
    )
    id: uuid.UUID
    version: int | None = None


def _change_out(entity: str, read_model: str) -> type[_ChangeOut]:
    """``CustomerChangeOut`` and its kind: a pulled change of one entity, `data` its GET model."""
    data = Annotated[
        dict[str, Any] | None, _record(read_model, description="upsert: the record as its own GET answers it")
    ]
    return create_model(
        f"{entity.title()}ChangeOut",
        __base__=_ChangeOut,  # type: ignore[call-overload, no-any-return]
        entity=(Literal[entity], ...),
        data=(data, None),
    )


CHANGE_OUT: dict[str, type[_ChangeOut]] = {
    entity: _change_out(entity, model)
    for entity, model in (
        ("customer", "CustomerRead"),
        ("contact", "ContactRead"),
        ("activity", "ActivityRead"),
        ("task", "TaskRead"),
    )
}
# One pulled change; `entity` says which record `data` is.
SyncChangeOut = Annotated[
    Union[tuple(CHANGE_OUT.values())],  # type: ignore[valid-type]  # noqa: UP007
    Field(discriminator="entity"),
]


class SyncPullResponse(BaseModel):
    changes: list[SyncChangeOut]
    next_cursor: str = Field(description="Pass it back as `cursor`; keep it once `has_more` is false")
    has_more: bool
    reset: bool = Field(description="This page starts a full snapshot: drop all synced data first")

"""Schemas for tasks (follow-ups)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from app.domain.tasks import TaskSource, TaskStatus
from app.routers.schemas.common import (
    UPDATED_SINCE,
    NameRule,
    PatchSchema,
    RecordDateTime,
    Schema,
    UtcDateTime,
)

Title = Annotated[str, StringConstraints(min_length=1, max_length=200), NameRule]
Notes = Annotated[str, StringConstraints(max_length=10_000)]


class TaskFilterParams(BaseModel):
    """The task list filters (query parameters)."""

    assignee_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    activity_id: uuid.UUID | None = None
    status: TaskStatus | None = None
    due_from: UtcDateTime | None = None
    due_to: UtcDateTime | None = None
    updated_since: UtcDateTime | None = Field(default=None, description=UPDATED_SINCE)


class TaskCreate(Schema):
    id: uuid.UUID | None = Field(default=None, description="Client-generated id (offline apps)")
    title: Title
    notes: Notes | None = None
    due_at: RecordDateTime
    assignee_id: uuid.UUID | None = Field(
        default=None,
        description="Defaults to the caller; reps assign to themselves, managers within their teams",
    )
    customer_id: uuid.UUID | None = None
    activity_id: uuid.UUID | None = Field(
        default=None, description="The activity it follows up; the task is then on that activity's customer"
    )
    status: TaskStatus = TaskStatus.open


class TaskUpdate(PatchSchema):
    not_nullable = frozenset({"title", "due_at", "status", "assignee_id"})

    title: Title | None = None
    notes: Notes | None = None
    due_at: RecordDateTime | None = None
    status: TaskStatus | None = Field(
        default=None, description="done/cancelled set completed_at; open clears it"
    )
    assignee_id: uuid.UUID | None = None


class TaskRead(Schema):
    id: uuid.UUID
    assignee_id: uuid.UUID
    customer_id: uuid.UUID | None
    activity_id: uuid.UUID | None
    title: str
    notes: str | None
    due_at: dt.datetime
    status: TaskStatus
    completed_at: dt.datetime | None
    source: TaskSource = Field(description="follow_up: created from an activity's next_follow_up_at")
    created_by: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int

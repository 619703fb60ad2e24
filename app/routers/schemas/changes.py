"""Schemas for the integration change feed."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import Field

from app.routers.schemas.common import Schema

FeedType = Literal["customer", "contact", "activity", "task", "contract", "receivable", "payment"]


class ChangeRead(Schema):
    seq: int = Field(description="Position in commit order; increases by one per entry")
    type: FeedType
    op: Literal["upsert", "delete", "merge"]
    id: uuid.UUID
    at: dt.datetime = Field(description="When the change was committed")
    version: int | None = Field(default=None, description="The record's version now (upserts)")
    data: dict[str, Any] | None = Field(
        default=None,
        description="The record as its GET answers it now (upserts only); it may be "
        "newer than this entry, whose later entries then follow",
    )
    merged_into: uuid.UUID | None = Field(default=None, description="For merge: the surviving customer")


class ChangePage(Schema):
    items: list[ChangeRead]
    next_cursor: str = Field(description="Always present: poll again with it, now or later")
    has_more: bool = Field(description="More entries are ready now")

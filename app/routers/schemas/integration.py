"""Schemas for integration: API keys."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from app.domain import apikeys
from app.routers.schemas.common import Schema

ApiScope = Literal[tuple(sorted(apikeys.SCOPES))]  # type: ignore[valid-type]


class ApiKeyCreate(Schema):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    scopes: Annotated[list[ApiScope], Field(min_length=1, max_length=len(apikeys.SCOPES))]
    team_id: uuid.UUID | None = Field(
        default=None, description="Restrict the key to this team (and its sub-teams) and the pool")
    expires_at: AwareDatetime | None = None


class ApiKeyRead(Schema):
    id: uuid.UUID
    name: str
    scopes: list[str]
    prefix: str = Field(description="The key's first characters, to tell keys apart")
    team_id: uuid.UUID | None
    service_account_id: uuid.UUID = Field(description="The user the key acts as (role integration)")
    created_at: dt.datetime
    expires_at: dt.datetime | None
    rotated_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None = Field(
        description="When the key was last used, to within CRM_API_KEY_TOUCH_SECONDS")


class ApiKeyIssued(ApiKeyRead):
    key: str = Field(description="The key itself: shown only in this answer, store it now")

"""Schemas for integration: API keys and webhooks."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from app.domain import apikeys, webhooks
from app.routers.schemas.common import PatchSchema, Schema

ApiScope = Literal[tuple(sorted(apikeys.SCOPES))]  # type: ignore[valid-type]


class ApiKeyCreate(Schema):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    scopes: Annotated[list[ApiScope], Field(min_length=1, max_length=len(apikeys.SCOPES))]
    team_id: uuid.UUID | None = Field(
        default=None, description="Restrict the key to this team (and its sub-teams) and the pool"
    )
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
        description="When the key was last used, to within CRM_API_KEY_TOUCH_SECONDS"
    )


class ApiKeyIssued(ApiKeyRead):
    key: str = Field(description="The key itself: shown only in this answer, store it now")


WebhookEventType = Literal[tuple(webhooks.EVENT_TYPES)]  # type: ignore[valid-type]
WebhookUrl = Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=2000)]


class WebhookCreate(Schema):
    url: WebhookUrl = Field(description="https URL the events are POSTed to")
    events: Annotated[list[WebhookEventType], Field(min_length=1, max_length=len(webhooks.EVENT_TYPES))]
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class WebhookUpdate(PatchSchema):
    not_nullable = frozenset({"url", "events", "is_active"})

    url: WebhookUrl | None = None
    events: (
        Annotated[list[WebhookEventType], Field(min_length=1, max_length=len(webhooks.EVENT_TYPES))] | None
    ) = None
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    is_active: bool | None = Field(default=None, description="Switch deliveries off or back on")


class WebhookRead(Schema):
    id: uuid.UUID
    url: str
    events: list[str]
    description: str | None
    is_active: bool
    disabled_reason: str | None = Field(description="Why the service switched the endpoint off")
    failing_since: dt.datetime | None
    created_by: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class WebhookCreated(WebhookRead):
    secret: str = Field(description="whsec_… signing secret: shown only in this answer")


class WebhookAttemptRead(Schema):
    attempted_at: dt.datetime
    status_code: int | None
    error: str | None
    latency_ms: int


class WebhookDeliveryRead(Schema):
    id: uuid.UUID
    event_id: uuid.UUID = Field(description="The webhook-id header of every attempt")
    event_type: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: dt.datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: dt.datetime
    completed_at: dt.datetime | None
    attempt_log: list[WebhookAttemptRead] = Field(default_factory=list)

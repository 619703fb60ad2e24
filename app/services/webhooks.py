"""Webhook subscriptions: create, list, change, delete, test, deliveries and manual retry."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from app.config import get_settings
from app.db.base import utcnow
from app.db.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.db.repositories.pagination import Page
from app.db.uow import UnitOfWork
from app.domain import webhooks as rules
from app.domain.errors import WebhookDeliverySucceeded
from app.domain.roles import Principal, Role
from app.services.common import apply_changes, check_version, found

MANAGERS = (Role.admin, Role.integration)


@dataclass(frozen=True, slots=True)
class DeliveryView:
    delivery: WebhookDelivery
    attempts: list[WebhookAttempt]


def _secret() -> str:
    # Standard Webhooks: "whsec_" + base64 of 24-64 random bytes.
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _checked(*, url: str | None = None, events: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if url is not None:
        out["url"] = rules.validate_url(url, allow_http=get_settings().webhook_allow_private)
    if events is not None:
        out["events"] = rules.validate_events(events)
    return out


async def list_endpoints(
    uow: UnitOfWork, actor: Principal, *, cursor: str | None, limit: int
) -> Page[WebhookEndpoint]:
    async with uow:
        return await uow.webhooks.list(actor, cursor=cursor, limit=limit)


async def get_endpoint(uow: UnitOfWork, actor: Principal, *, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    async with uow:
        return found(await uow.webhooks.get(endpoint_id, principal=actor), "Webhook")


async def create_endpoint(
    uow: UnitOfWork, actor: Principal, *, url: str, events: list[str], description: str | None = None
) -> WebhookEndpoint:
    values = _checked(url=url, events=events)
    async with uow:
        endpoint = WebhookEndpoint(
            **values, description=description, secret=_secret(), created_by=actor.user_id
        )
        uow.webhooks.add(endpoint)
        await uow.commit()
        return endpoint


async def update_endpoint(
    uow: UnitOfWork,
    actor: Principal,
    *,
    endpoint_id: uuid.UUID,
    expected_version: int | None,
    changes: dict[str, Any],
) -> WebhookEndpoint:
    changes = {**changes, **_checked(url=changes.get("url"), events=changes.get("events"))}
    async with uow:
        endpoint = found(await uow.webhooks.get(endpoint_id, principal=actor, for_update=True), "Webhook")
        check_version(endpoint, expected_version)
        if changes.get("is_active") and not endpoint.is_active:
            # Switched back on by hand: the failure streak starts over.
            endpoint.failing_since, endpoint.disabled_reason = None, None
        apply_changes(endpoint, changes)
        await uow.commit()
        return endpoint


async def delete_endpoint(uow: UnitOfWork, actor: Principal, *, endpoint_id: uuid.UUID) -> None:
    async with uow:
        endpoint = found(await uow.webhooks.get(endpoint_id, principal=actor, for_update=True), "Webhook")
        await uow.webhooks.delete(endpoint)
        await uow.commit()


async def send_test(uow: UnitOfWork, actor: Principal, *, endpoint_id: uuid.UUID) -> WebhookDelivery:
    """Queue a ``webhook.test`` event for this endpoint only (delivered like any other)."""
    now = utcnow()
    async with uow:
        endpoint = found(await uow.webhooks.get(endpoint_id, principal=actor), "Webhook")
        delivery = await uow.webhooks.enqueue_one(
            endpoint.id, rules.TEST_EVENT, {"endpoint_id": str(endpoint.id)}, at=now
        )
        await uow.commit()
        return delivery


async def list_deliveries(
    uow: UnitOfWork,
    actor: Principal,
    *,
    endpoint_id: uuid.UUID,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Page[DeliveryView]:
    async with uow:
        found(await uow.webhooks.get(endpoint_id, principal=actor), "Webhook")
        page = await uow.webhooks.deliveries(endpoint_id, status=status, cursor=cursor, limit=limit)
        attempts: dict[uuid.UUID, list[WebhookAttempt]] = {}
        for attempt in await uow.webhooks.attempts_of([d.id for d in page.items]):
            attempts.setdefault(attempt.delivery_id, []).append(attempt)
        return Page(
            items=[DeliveryView(d, attempts.get(d.id, [])) for d in page.items], next_cursor=page.next_cursor
        )


async def retry_delivery(
    uow: UnitOfWork, actor: Principal, *, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> DeliveryView:
    """Send a delivery again now (a failed one is revived with a fresh retry window)."""
    now = utcnow()
    async with uow:
        found(await uow.webhooks.get(endpoint_id, principal=actor), "Webhook")
        delivery = found(
            await uow.webhooks.delivery(delivery_id, endpoint_id=endpoint_id, for_update=True), "Delivery"
        )
        if delivery.status == "succeeded":
            raise WebhookDeliverySucceeded("The delivery already succeeded")
        delivery.status, delivery.next_attempt_at, delivery.completed_at = "pending", now, None
        delivery.created_at = now  # the retry window counts from the manual retry
        await uow.commit()
        return DeliveryView(delivery, [])

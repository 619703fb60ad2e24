"""Webhook subscriptions, their deliveries, test sends and manual retries."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Response, status

from app.domain import errors
from app.domain.roles import Principal
from app.routers.deps import Cursor, IfMatch, Limit, UoW, allow, set_etag
from app.routers.problems import IDEMPOTENT, PAGED, VERSIONED, WRITES, responses
from app.routers.schemas.common import Page
from app.routers.schemas.integration import (
    WebhookAttemptRead,
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryRead,
    WebhookRead,
    WebhookUpdate,
)
from app.services import webhooks as webhooks_service

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

# Admins, and API keys with webhooks:manage (each sees the endpoints it created).
Manager = Annotated[Principal, allow(*webhooks_service.MANAGERS)]


def _delivery(view: webhooks_service.DeliveryView) -> WebhookDeliveryRead:
    return WebhookDeliveryRead(
        **{
            name: getattr(view.delivery, name)
            for name in WebhookDeliveryRead.model_fields
            if name != "attempt_log"
        },
        attempt_log=[WebhookAttemptRead.model_validate(a) for a in view.attempts],
    )


@router.get(
    "",
    operation_id="webhooks_list",
    response_model=Page[WebhookRead],
    responses=responses(errors.Forbidden, *PAGED),
)
async def list_webhooks(
    actor: Manager, uow: UoW, cursor: Cursor = None, limit: Limit = 50
) -> Page[WebhookRead]:
    page = await webhooks_service.list_endpoints(uow, actor, cursor=cursor, limit=limit)
    return Page[WebhookRead](
        items=[WebhookRead.model_validate(e) for e in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "",
    operation_id="webhooks_create",
    response_model=WebhookCreated,
    status_code=status.HTTP_201_CREATED,
    responses=responses(errors.Forbidden, *IDEMPOTENT, *WRITES),
)
async def create_webhook(body: WebhookCreate, actor: Manager, uow: UoW, response: Response) -> WebhookCreated:
    """Subscribe a URL to event types. The answer holds the signing secret, once."""
    endpoint = await webhooks_service.create_endpoint(uow, actor, **body.model_dump())
    response.headers["Location"] = f"/api/v1/webhooks/{endpoint.id}"
    response.headers["Cache-Control"] = "no-store"
    set_etag(response, endpoint.version)
    return WebhookCreated.model_validate(endpoint)


@router.get(
    "/{webhook_id}",
    operation_id="webhooks_get",
    response_model=WebhookRead,
    responses=responses(errors.NotFound, errors.Forbidden),
)
async def get_webhook(webhook_id: uuid.UUID, actor: Manager, uow: UoW, response: Response) -> WebhookRead:
    endpoint = await webhooks_service.get_endpoint(uow, actor, endpoint_id=webhook_id)
    set_etag(response, endpoint.version)
    return WebhookRead.model_validate(endpoint)


@router.patch(
    "/{webhook_id}",
    operation_id="webhooks_update",
    response_model=WebhookRead,
    responses=responses(errors.NotFound, errors.Forbidden, *VERSIONED, *WRITES),
)
async def update_webhook(
    webhook_id: uuid.UUID,
    body: WebhookUpdate,
    actor: Manager,
    uow: UoW,
    expected_version: IfMatch,
    response: Response,
) -> WebhookRead:
    endpoint = await webhooks_service.update_endpoint(
        uow,
        actor,
        endpoint_id=webhook_id,
        expected_version=expected_version,
        changes=body.model_dump(exclude_unset=True),
    )
    set_etag(response, endpoint.version)
    return WebhookRead.model_validate(endpoint)


@router.delete(
    "/{webhook_id}",
    operation_id="webhooks_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(errors.NotFound, errors.Forbidden, *WRITES),
)
async def delete_webhook(webhook_id: uuid.UUID, actor: Manager, uow: UoW) -> Response:
    """Delete the subscription with its deliveries and their attempt log."""
    await webhooks_service.delete_endpoint(uow, actor, endpoint_id=webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{webhook_id}/test",
    operation_id="webhooks_test",
    response_model=WebhookDeliveryRead,
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(errors.NotFound, errors.Forbidden, *IDEMPOTENT, *WRITES),
)
async def test_webhook(webhook_id: uuid.UUID, actor: Manager, uow: UoW) -> WebhookDeliveryRead:
    """Queue a signed `webhook.test` event to this endpoint; follow it in its deliveries."""
    delivery = await webhooks_service.send_test(uow, actor, endpoint_id=webhook_id)
    return _delivery(webhooks_service.DeliveryView(delivery, []))


@router.get(
    "/{webhook_id}/deliveries",
    operation_id="webhooks_deliveries",
    response_model=Page[WebhookDeliveryRead],
    responses=responses(errors.NotFound, errors.Forbidden, *PAGED),
)
async def list_deliveries(
    webhook_id: uuid.UUID,
    actor: Manager,
    uow: UoW,
    cursor: Cursor = None,
    limit: Limit = 50,
    status: Literal["pending", "succeeded", "failed"] | None = None,
) -> Page[WebhookDeliveryRead]:
    """The endpoint's deliveries, newest first, each with its attempt log."""
    page = await webhooks_service.list_deliveries(
        uow, actor, endpoint_id=webhook_id, status=status, cursor=cursor, limit=limit
    )
    return Page[WebhookDeliveryRead](items=[_delivery(v) for v in page.items], next_cursor=page.next_cursor)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/retry",
    operation_id="webhooks_retry_delivery",
    response_model=WebhookDeliveryRead,
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(
        errors.NotFound, errors.Forbidden, errors.WebhookDeliverySucceeded, *IDEMPOTENT, *WRITES
    ),
)
async def retry_delivery(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, actor: Manager, uow: UoW
) -> WebhookDeliveryRead:
    """Attempt a pending or failed delivery again now (a failed one gets a new retry window)."""
    view = await webhooks_service.retry_delivery(uow, actor, endpoint_id=webhook_id, delivery_id=delivery_id)
    return _delivery(view)

"""Receivables (billing) and payments (collection)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import StreamingResponse

from app.domain import errors
from app.domain.roles import Principal
from app.routers.deps import (
    Caller,
    Cursor,
    ExportFormat,
    Limit,
    UoW,
    allow,
    export_responses,
    set_etag,
    streamed,
)
from app.routers.problems import IDEMPOTENT, PAGED, WRITES, responses
from app.routers.schemas.common import Page
from app.routers.schemas.contracts import (
    PaymentCreate,
    PaymentFilterParams,
    PaymentRead,
    ReceivableCreate,
    ReceivableFilterParams,
    ReceivableRead,
    WriteOffRequest,
    payment_read,
    receivable_read,
)
from app.services import exports as exports_service
from app.services import receivables as receivables_service

receivables_router = APIRouter(prefix="/receivables", tags=["receivables"])
payments_router = APIRouter(prefix="/payments", tags=["payments"])

Finance = Annotated[Principal, allow(*receivables_service.FINANCE_ROLES)]
# The list filters, each shared by a list and its export.
ReceivableFilters = Annotated[ReceivableFilterParams, Query()]
PaymentFilters = Annotated[PaymentFilterParams, Query()]


@receivables_router.get(
    "", operation_id="receivables_list", response_model=Page[ReceivableRead], responses=responses(*PAGED)
)
async def list_receivables(
    actor: Caller, uow: UoW, cursor: Cursor = None, limit: Limit = 50, *, filters: ReceivableFilters
) -> Page[ReceivableRead]:
    """Receivables in the caller's scope, by due date."""
    page = await receivables_service.list_receivables(
        uow, actor, **filters.model_dump(), cursor=cursor, limit=limit
    )
    return Page[ReceivableRead](items=[receivable_read(r) for r in page.items], next_cursor=page.next_cursor)


@receivables_router.get(
    "/export",
    operation_id="receivables_export",
    response_class=StreamingResponse,
    responses=export_responses("Every receivable in the caller's scope matching the filters, streamed"),
)
async def export_receivables(
    actor: Caller, uow: UoW, fmt: ExportFormat = "csv", *, filters: ReceivableFilters
) -> StreamingResponse:
    """Stream every receivable in the caller's scope (the list filters apply) as CSV (UTF-8 with
    BOM) or NDJSON, in id order. Columns: docs/integration.md."""
    return streamed(exports_service.export_receivables(uow, actor, **filters.model_dump(), fmt=fmt))


@receivables_router.post(
    "",
    operation_id="receivables_create",
    response_model=ReceivableRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(
        errors.NotFound,
        errors.Forbidden,
        errors.ReceivableContractNotSigned,
        errors.OverBilled,
        *IDEMPOTENT,
        *WRITES,
    ),
)
async def create_receivable(
    body: ReceivableCreate, actor: Finance, uow: UoW, response: Response
) -> ReceivableRead:
    """Bill a signed contract (instalments allowed; never more than the contract amount). The
    customer's credit balance is applied to it at once, oldest due first (`applications`)."""
    view = await receivables_service.create_receivable(uow, actor, **body.model_dump())
    set_etag(response, view.receivable.version)
    response.headers["Location"] = f"/api/v1/receivables/{view.receivable.id}"
    return receivable_read(view)


@receivables_router.get(
    "/{receivable_id}",
    operation_id="receivables_get",
    response_model=ReceivableRead,
    responses=responses(errors.NotFound),
)
async def get_receivable(
    receivable_id: uuid.UUID, actor: Caller, uow: UoW, response: Response
) -> ReceivableRead:
    view = await receivables_service.get_receivable(uow, actor, receivable_id=receivable_id)
    set_etag(response, view.receivable.version)
    return receivable_read(view)


@receivables_router.post(
    "/{receivable_id}/write-off",
    operation_id="receivables_write_off",
    response_model=ReceivableRead,
    responses=responses(
        errors.NotFound,
        errors.Forbidden,
        errors.ReceivableWrittenOff,
        errors.ReceivablePaid,
        *IDEMPOTENT,
        *WRITES,
    ),
)
async def write_off(
    receivable_id: uuid.UUID, body: WriteOffRequest, actor: Finance, uow: UoW, response: Response
) -> ReceivableRead:
    """Write off what is still owed (provisioned at 100%)."""
    view = await receivables_service.write_off(uow, actor, receivable_id=receivable_id, reason=body.reason)
    set_etag(response, view.receivable.version)
    return receivable_read(view)


@payments_router.get(
    "", operation_id="payments_list", response_model=Page[PaymentRead], responses=responses(*PAGED)
)
async def list_payments(
    actor: Caller, uow: UoW, cursor: Cursor = None, limit: Limit = 50, *, filters: PaymentFilters
) -> Page[PaymentRead]:
    """Payments of customers in the caller's scope, newest received first. A payment never
    changes once recorded: `updated_since` selects those recorded since then."""
    page = await receivables_service.list_payments(
        uow, actor, **filters.model_dump(), cursor=cursor, limit=limit
    )
    return Page[PaymentRead](items=[payment_read(p) for p in page.items], next_cursor=page.next_cursor)


@payments_router.get(
    "/export",
    operation_id="payments_export",
    response_class=StreamingResponse,
    responses=export_responses("Every payment in the caller's scope matching the filters, streamed"),
)
async def export_payments(
    actor: Caller, uow: UoW, fmt: ExportFormat = "csv", *, filters: PaymentFilters
) -> StreamingResponse:
    """Stream every payment in the caller's scope (with its allocations) as CSV (UTF-8 with BOM;
    allocations as `receivable_id:amount;…`) or NDJSON, in id order."""
    return streamed(exports_service.export_payments(uow, actor, **filters.model_dump(), fmt=fmt))


@payments_router.post(
    "",
    operation_id="payments_create",
    response_model=PaymentRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(
        errors.NotFound,
        errors.Forbidden,
        errors.InvalidTransition,
        errors.RequirementUnmet,
        errors.CooldownActive,
        errors.PaymentApplicationInvalid,
        *IDEMPOTENT,
        *WRITES,
    ),
)
async def create_payment(body: PaymentCreate, actor: Finance, uow: UoW, response: Response) -> PaymentRead:
    """Record a payment: allocated oldest due first unless `allocations` say otherwise;
    overpayment stays as the customer's credit."""
    view = await receivables_service.record_payment(
        uow,
        actor,
        customer_id=body.customer_id,
        amount=body.amount,
        received_at=body.received_at,
        reference=body.reference,
        apply_to=None
        if body.allocations is None
        else [(a.receivable_id, a.amount) for a in body.allocations],
    )
    response.headers["Location"] = f"/api/v1/payments/{view.payment.id}"
    return payment_read(view)


@payments_router.get(
    "/{payment_id}",
    operation_id="payments_get",
    response_model=PaymentRead,
    responses=responses(errors.NotFound),
)
async def get_payment(payment_id: uuid.UUID, actor: Caller, uow: UoW) -> PaymentRead:
    return payment_read(await receivables_service.get_payment(uow, actor, payment_id=payment_id))

"""Receivables (billing) and payments (collection)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Response, status
from fastapi.responses import StreamingResponse

from app.domain.roles import Principal
from app.routers.deps import (
    Caller,
    Cursor,
    ExportFormat,
    Limit,
    UoW,
    UpdatedSince,
    allow,
    export_responses,
    set_etag,
    streamed,
)
from app.routers.problems import responses
from app.routers.schemas.common import Page
from app.routers.schemas.contracts import (
    PaymentCreate,
    PaymentRead,
    ReceivableCreate,
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


@receivables_router.get("", operation_id="receivables_list", response_model=Page[ReceivableRead],
                        responses=responses(400, 401, 422))
async def list_receivables(actor: Caller, uow: UoW, cursor: Cursor = None, limit: Limit = 50,
                           customer_id: uuid.UUID | None = None, contract_id: uuid.UUID | None = None,
                           status: Literal["open", "paid", "written_off"] | None = None,
                           overdue: bool | None = None,
                           updated_since: UpdatedSince = None) -> Page[ReceivableRead]:
    """Receivables in the caller's scope, by due date."""
    page = await receivables_service.list_receivables(uow, actor, customer_id=customer_id,
                                                      contract_id=contract_id, status=status,
                                                      overdue=overdue, updated_since=updated_since,
                                                      cursor=cursor, limit=limit)
    return Page[ReceivableRead](items=[receivable_read(r) for r in page.items], next_cursor=page.next_cursor)


@receivables_router.get("/export", operation_id="receivables_export", response_class=StreamingResponse,
                        responses=export_responses("Every receivable in the caller's scope matching "
                                                   "the filters, streamed"))
async def export_receivables(actor: Caller, uow: UoW, fmt: ExportFormat = "csv",
                             customer_id: uuid.UUID | None = None, contract_id: uuid.UUID | None = None,
                             status: Literal["open", "paid", "written_off"] | None = None,
                             overdue: bool | None = None,
                             updated_since: UpdatedSince = None) -> StreamingResponse:
    """Stream every receivable in the caller's scope (the list filters apply) as CSV (UTF-8 with
    BOM) or NDJSON, in id order. Columns: docs/integration.md."""
    return streamed(exports_service.export_receivables(
        uow, actor, customer_id=customer_id, contract_id=contract_id, status=status, overdue=overdue,
        updated_since=updated_since, fmt=fmt))


@receivables_router.post("", operation_id="receivables_create", response_model=ReceivableRead,
                         status_code=status.HTTP_201_CREATED, responses=responses(401, 403, 404, 409, 422))
async def create_receivable(body: ReceivableCreate, actor: Finance, uow: UoW,
                            response: Response) -> ReceivableRead:
    """Bill a signed contract (instalments allowed; never more than the contract amount)."""
    receivable = await receivables_service.create_receivable(uow, actor, **body.model_dump())
    set_etag(response, receivable.version)
    response.headers["Location"] = f"/api/v1/receivables/{receivable.id}"
    return receivable_read(receivable)


@receivables_router.get("/{receivable_id}", operation_id="receivables_get", response_model=ReceivableRead,
                        responses=responses(401, 404, 422))
async def get_receivable(receivable_id: uuid.UUID, actor: Caller, uow: UoW,
                         response: Response) -> ReceivableRead:
    receivable = await receivables_service.get_receivable(uow, actor, receivable_id=receivable_id)
    set_etag(response, receivable.version)
    return receivable_read(receivable)


@receivables_router.post("/{receivable_id}/write-off", operation_id="receivables_write_off",
                         response_model=ReceivableRead, responses=responses(401, 403, 404, 409, 422))
async def write_off(receivable_id: uuid.UUID, body: WriteOffRequest, actor: Finance, uow: UoW,
                    response: Response) -> ReceivableRead:
    """Write off what is still owed (provisioned at 100%)."""
    receivable = await receivables_service.write_off(uow, actor, receivable_id=receivable_id,
                                                     reason=body.reason)
    set_etag(response, receivable.version)
    return receivable_read(receivable)


@payments_router.get("", operation_id="payments_list", response_model=Page[PaymentRead],
                     responses=responses(400, 401, 422))
async def list_payments(actor: Caller, uow: UoW, cursor: Cursor = None, limit: Limit = 50,
                        customer_id: uuid.UUID | None = None,
                        updated_since: UpdatedSince = None) -> Page[PaymentRead]:
    """Payments of customers in the caller's scope, newest received first. A payment never
    changes once recorded: `updated_since` selects those recorded since then."""
    page = await receivables_service.list_payments(uow, actor, customer_id=customer_id,
                                                   updated_since=updated_since, cursor=cursor, limit=limit)
    return Page[PaymentRead](items=[payment_read(p) for p in page.items], next_cursor=page.next_cursor)


@payments_router.get("/export", operation_id="payments_export", response_class=StreamingResponse,
                     responses=export_responses("Every payment in the caller's scope matching the "
                                                "filters, streamed"))
async def export_payments(actor: Caller, uow: UoW, fmt: ExportFormat = "csv",
                          customer_id: uuid.UUID | None = None,
                          updated_since: UpdatedSince = None) -> StreamingResponse:
    """Stream every payment in the caller's scope (with its allocations) as CSV (UTF-8 with BOM;
    allocations as `receivable_id:amount;…`) or NDJSON, in id order."""
    return streamed(exports_service.export_payments(uow, actor, customer_id=customer_id,
                                                    updated_since=updated_since, fmt=fmt))


@payments_router.post("", operation_id="payments_create", response_model=PaymentRead,
                      status_code=status.HTTP_201_CREATED, responses=responses(401, 403, 404, 422))
async def create_payment(body: PaymentCreate, actor: Finance, uow: UoW, response: Response) -> PaymentRead:
    """Record a payment: allocated oldest due first unless `allocations` say otherwise;
    overpayment stays as the customer's credit."""
    view = await receivables_service.record_payment(
        uow, actor, customer_id=body.customer_id, amount=body.amount, received_at=body.received_at,
        reference=body.reference,
        apply_to=None if body.allocations is None
        else [(a.receivable_id, a.amount) for a in body.allocations])
    response.headers["Location"] = f"/api/v1/payments/{view.payment.id}"
    return payment_read(view)


@payments_router.get("/{payment_id}", operation_id="payments_get", response_model=PaymentRead,
                     responses=responses(401, 404, 422))
async def get_payment(payment_id: uuid.UUID, actor: Caller, uow: UoW) -> PaymentRead:
    return payment_read(await receivables_service.get_payment(uow, actor, payment_id=payment_id))

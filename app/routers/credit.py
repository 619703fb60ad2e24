"""Customer credit: the credit view and terms, limit history, and credit-limit requests."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from app.domain import errors
from app.domain.roles import Principal
from app.routers.deps import Cursor, IfMatch, Limit, UoW, allow, set_etag
from app.routers.problems import IDEMPOTENT, PAGED, VERSIONED, WRITES, responses
from app.routers.schemas.common import Page
from app.routers.schemas.contracts import CreditRefundCreate, CreditRefundList, CreditRefundRead
from app.routers.schemas.credit import (
    CreditLimitChangeRead,
    CreditLimitDecision,
    CreditLimitHistory,
    CreditLimitRequestCreate,
    CreditLimitRequestRead,
    CreditOverrideRequestCreate,
    CreditOverrideRequestRead,
    CreditRead,
    CreditUpdate,
    StatementLineRead,
    StatementRead,
)
from app.services import credit as credit_service
from app.services import receivables as receivables_service
from app.services import statements as statements_service

# Full paths: the credit of a customer sits under /customers, the requests at the top level.
router = APIRouter(prefix="", tags=["credit"])

Reader = Annotated[Principal, allow(*credit_service.CREDIT_READERS)]
Editor = Annotated[Principal, allow(*credit_service.CREDIT_EDITORS)]
Requester = Annotated[Principal, allow(*credit_service.LIMIT_REQUESTERS)]
Approver = Annotated[Principal, allow(*credit_service.LIMIT_APPROVERS)]


def credit_read(view: credit_service.CreditView) -> CreditRead:
    return CreditRead.model_validate(view)


@router.get(
    "/customers/{customer_id}/credit",
    operation_id="customers_credit",
    response_model=CreditRead,
    responses=responses(errors.NotFound, errors.Forbidden),
)
async def get_customer_credit(
    customer_id: uuid.UUID, actor: Reader, uow: UoW, response: Response
) -> CreditRead:
    """Limit, exposure (open receivables + signed-but-unbilled − credit balance), available
    credit, credit balance, hold, terms, warnings and a suggested limit with its reasoning."""
    view = await credit_service.get_credit(uow, actor, customer_id=customer_id)
    set_etag(response, view.version)
    return credit_read(view)


@router.patch(
    "/customers/{customer_id}/credit",
    operation_id="customers_update_credit",
    response_model=CreditRead,
    responses=responses(errors.NotFound, errors.Forbidden, *VERSIONED, *WRITES),
)
async def update_customer_credit(
    customer_id: uuid.UUID,
    body: CreditUpdate,
    actor: Editor,
    uow: UoW,
    expected_version: IfMatch,
    response: Response,
) -> CreditRead:
    """Payment terms and the manual credit hold (finance, director). The limit changes only
    through an approved credit-limit request."""
    fields = body.model_dump(exclude_unset=True)
    view = await credit_service.update_credit_terms(
        uow,
        actor,
        customer_id=customer_id,
        expected_version=expected_version,
        payment_terms_days=fields.get("payment_terms_days"),
        on_hold=fields.get("on_hold"),
        hold_reason=fields.get("hold_reason", credit_service.UNSET),
    )
    set_etag(response, view.version)
    return credit_read(view)


@router.get(
    "/customers/{customer_id}/credit/limit-history",
    operation_id="customers_credit_history",
    response_model=CreditLimitHistory,
    responses=responses(errors.NotFound, errors.Forbidden),
)
async def customer_credit_history(customer_id: uuid.UUID, actor: Reader, uow: UoW) -> CreditLimitHistory:
    """Every limit change: old → new, the approved request, who and why; newest first."""
    changes = await credit_service.limit_history(uow, actor, customer_id=customer_id)
    return CreditLimitHistory(items=[CreditLimitChangeRead.model_validate(c) for c in changes])


@router.post(
    "/customers/{customer_id}/credit/refunds",
    operation_id="customers_credit_refund",
    response_model=CreditRefundRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(errors.NotFound, errors.Forbidden, errors.RefundExceedsBalance, *IDEMPOTENT, *WRITES),
)
async def refund_customer_credit(
    customer_id: uuid.UUID, body: CreditRefundCreate, actor: Editor, uow: UoW
) -> CreditRefundRead:
    """Pay (part of) the customer's credit balance back (finance, director); more than the
    balance answers 409 `credit.refund_exceeds_balance`."""
    refund = await receivables_service.refund_credit(uow, actor, customer_id=customer_id, **body.model_dump())
    return CreditRefundRead.model_validate(refund)


@router.get(
    "/customers/{customer_id}/credit/refunds",
    operation_id="customers_credit_refunds",
    response_model=CreditRefundList,
    responses=responses(errors.NotFound, errors.Forbidden),
)
async def list_customer_credit_refunds(customer_id: uuid.UUID, actor: Reader, uow: UoW) -> CreditRefundList:
    """Refunds of the customer's credit balance, newest first."""
    refunds = await receivables_service.list_refunds(uow, actor, customer_id=customer_id)
    return CreditRefundList(items=[CreditRefundRead.model_validate(r) for r in refunds])


@router.get(
    "/credit-limit-requests",
    operation_id="credit_limit_requests_list",
    response_model=Page[CreditLimitRequestRead],
    responses=responses(errors.Forbidden, *PAGED),
)
async def list_credit_limit_requests(
    actor: Requester,
    uow: UoW,
    cursor: Cursor = None,
    limit: Limit = 50,
    status: Literal["pending", "approved", "rejected"] | None = None,
    customer_id: uuid.UUID | None = None,
) -> Page[CreditLimitRequestRead]:
    """Limit requests for customers in the caller's scope, newest first."""
    page = await credit_service.list_requests(
        uow, actor, status=status, customer_id=customer_id, cursor=cursor, limit=limit
    )
    return Page[CreditLimitRequestRead](
        items=[CreditLimitRequestRead.model_validate(r) for r in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "/credit-limit-requests",
    operation_id="credit_limit_requests_create",
    response_model=CreditLimitRequestRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(errors.NotFound, errors.Forbidden, *IDEMPOTENT, *WRITES),
)
async def create_credit_limit_request(
    body: CreditLimitRequestCreate, actor: Requester, uow: UoW, response: Response
) -> CreditLimitRequestRead:
    """Ask for a new limit, with a reason (reps for their own customers). `required_role` says
    who may approve it: a manager up to `manager_limit_max`, finance up to
    `finance_limit_max`, a director above."""
    request = await credit_service.request_limit(
        uow, actor, customer_id=body.customer_id, requested_limit=body.requested_limit, reason=body.reason
    )
    set_etag(response, request.version)
    response.headers["Location"] = f"/api/v1/credit-limit-requests/{request.id}"
    return CreditLimitRequestRead.model_validate(request)


@router.get(
    "/credit-limit-requests/{request_id}",
    operation_id="credit_limit_requests_get",
    response_model=CreditLimitRequestRead,
    responses=responses(errors.NotFound, errors.Forbidden),
)
async def get_credit_limit_request(
    request_id: uuid.UUID, actor: Requester, uow: UoW, response: Response
) -> CreditLimitRequestRead:
    request = await credit_service.get_request(uow, actor, request_id=request_id)
    set_etag(response, request.version)
    return CreditLimitRequestRead.model_validate(request)


@router.post(
    "/credit-limit-requests/{request_id}/approve",
    operation_id="credit_limit_requests_approve",
    response_model=CreditLimitRequestRead,
    responses=responses(
        errors.NotFound,
        errors.Forbidden,
        errors.ApprovalNotAllowed,
        errors.SelfApproval,
        errors.RequestNotPending,
        *IDEMPOTENT,
        *WRITES,
    ),
)
async def approve_credit_limit_request(
    request_id: uuid.UUID,
    actor: Approver,
    uow: UoW,
    response: Response,
    body: CreditLimitDecision | None = None,
) -> CreditLimitRequestRead:
    """Approve a pending request: the customer's limit changes at once. 403
    `credit.approval_not_allowed` above the approver's threshold, `credit.self_approval` for
    the requester; 409 `credit.request_not_pending` once decided."""
    request = await credit_service.approve_request(
        uow, actor, request_id=request_id, note=body.note if body else None
    )
    set_etag(response, request.version)
    return CreditLimitRequestRead.model_validate(request)


@router.post(
    "/credit-limit-requests/{request_id}/reject",
    operation_id="credit_limit_requests_reject",
    response_model=CreditLimitRequestRead,
    responses=responses(
        errors.NotFound,
        errors.Forbidden,
        errors.ApprovalNotAllowed,
        errors.SelfApproval,
        errors.RequestNotPending,
        *IDEMPOTENT,
        *WRITES,
    ),
)
async def reject_credit_limit_request(
    request_id: uuid.UUID,
    actor: Approver,
    uow: UoW,
    response: Response,
    body: CreditLimitDecision | None = None,
) -> CreditLimitRequestRead:
    """Reject a pending request; the same roles and thresholds as approving apply."""
    request = await credit_service.reject_request(
        uow, actor, request_id=request_id, note=body.note if body else None
    )
    set_etag(response, request.version)
    return CreditLimitRequestRead.model_validate(request)


@router.post(
    "/contracts/{contract_id}/override-requests",
    operation_id="contracts_request_override",
    response_model=CreditOverrideRequestRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(errors.NotFound, errors.Forbidden, errors.ContractNotDraft, *IDEMPOTENT, *WRITES),
)
async def create_override_request(
    contract_id: uuid.UUID, body: CreditOverrideRequestCreate, actor: Requester, uow: UoW, response: Response
) -> CreditOverrideRequestRead:
    """Ask to sign a draft despite a credit block, with a reason (reps for their own
    customers). Once approved, `POST /contracts/{id}/sign` uses it without an override."""
    request = await credit_service.request_override(uow, actor, contract_id=contract_id, reason=body.reason)
    set_etag(response, request.version)
    response.headers["Location"] = f"/api/v1/credit-override-requests/{request.id}"
    return CreditOverrideRequestRead.model_validate(request)


@router.get(
    "/credit-override-requests",
    operation_id="credit_override_requests_list",
    response_model=Page[CreditOverrideRequestRead],
    responses=responses(errors.Forbidden, *PAGED),
)
async def list_override_requests(
    actor: Requester,
    uow: UoW,
    cursor: Cursor = None,
    limit: Limit = 50,
    status: Literal["pending", "approved", "rejected", "used"] | None = None,
    customer_id: uuid.UUID | None = None,
) -> Page[CreditOverrideRequestRead]:
    """Override requests for customers in the caller's scope, newest first."""
    page = await credit_service.list_override_requests(
        uow, actor, status=status, customer_id=customer_id, cursor=cursor, limit=limit
    )
    return Page[CreditOverrideRequestRead](
        items=[CreditOverrideRequestRead.model_validate(r) for r in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/credit-override-requests/{request_id}",
    operation_id="credit_override_requests_get",
    response_model=CreditOverrideRequestRead,
    responses=responses(errors.NotFound, errors.Forbidden),
)
async def get_override_request(
    request_id: uuid.UUID, actor: Requester, uow: UoW, response: Response
) -> CreditOverrideRequestRead:
    request = await credit_service.get_override_request(uow, actor, request_id=request_id)
    set_etag(response, request.version)
    return CreditOverrideRequestRead.model_validate(request)


@router.post(
    "/credit-override-requests/{request_id}/approve",
    operation_id="credit_override_requests_approve",
    response_model=CreditOverrideRequestRead,
    responses=responses(
        errors.NotFound,
        errors.Forbidden,
        errors.OverrideNotAllowed,
        errors.SelfApproval,
        errors.RequestNotPending,
        errors.ContractNotDraft,
        *IDEMPOTENT,
        *WRITES,
    ),
)
async def approve_override_request(
    request_id: uuid.UUID,
    actor: Approver,
    uow: UoW,
    response: Response,
    body: CreditLimitDecision | None = None,
) -> CreditOverrideRequestRead:
    """Approve within the approver's override authority, measured on the exposure after
    signing now: 403 `credit.override_not_allowed` beyond it, `credit.self_approval` for the
    requester; 409 `credit.request_not_pending` once decided."""
    request = await credit_service.approve_override(
        uow, actor, request_id=request_id, note=body.note if body else None
    )
    set_etag(response, request.version)
    return CreditOverrideRequestRead.model_validate(request)


@router.post(
    "/credit-override-requests/{request_id}/reject",
    operation_id="credit_override_requests_reject",
    response_model=CreditOverrideRequestRead,
    responses=responses(
        errors.NotFound,
        errors.Forbidden,
        errors.OverrideNotAllowed,
        errors.SelfApproval,
        errors.RequestNotPending,
        errors.ContractNotDraft,
        *IDEMPOTENT,
        *WRITES,
    ),
)
async def reject_override_request(
    request_id: uuid.UUID,
    actor: Approver,
    uow: UoW,
    response: Response,
    body: CreditLimitDecision | None = None,
) -> CreditOverrideRequestRead:
    """Reject a pending override request; the same roles and authority as approving apply."""
    request = await credit_service.reject_override(
        uow, actor, request_id=request_id, note=body.note if body else None
    )
    set_etag(response, request.version)
    return CreditOverrideRequestRead.model_validate(request)


@router.get(
    "/customers/{customer_id}/statement",
    operation_id="customers_statement",
    response_model=StatementRead,
    response_model_by_alias=True,
    responses={
        **responses(errors.NotFound, errors.Forbidden),
        200: {
            "content": {statements_service.XLSX_MEDIA_TYPE: {}},
            "description": "The statement (JSON, or XLSX with format=xlsx)",
        },
    },
)
async def customer_statement(
    customer_id: uuid.UUID,
    actor: Reader,
    uow: UoW,
    date_from: Annotated[
        dt.date | None, Query(alias="from", description="Default: 1st of the month of `to`")
    ] = None,
    date_to: Annotated[dt.date | None, Query(alias="to", description="Default: today")] = None,
    format: Literal["json", "xlsx"] = "json",
) -> StatementRead | Response:
    """Statement of account (对账单) for a period of calendar days in the business time zone:
    opening balance, every receivable, payment, credit applied and write-off with a running
    balance, closing balance (it equals AR aging for the customer at the end date), and the
    credit balance. `format=xlsx` answers a workbook with Chinese headers."""
    data = await statements_service.statement(
        uow, actor, customer_id=customer_id, date_from=date_from, date_to=date_to
    )
    if format == "xlsx":
        filename = f"statement-{data.date_from.isoformat()}-{data.date_to.isoformat()}.xlsx"
        return Response(
            statements_service.statement_xlsx(data),
            media_type=statements_service.XLSX_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return StatementRead(
        company_name=data.company_name,
        customer_id=data.customer_id,
        customer_name=data.customer_name,
        date_from=data.date_from,
        date_to=data.date_to,
        opening_balance=data.opening_balance,
        lines=[
            StatementLineRead(
                date=statements_service.line_date(line),
                at=line.entry.at,
                kind=line.entry.kind.value,
                reference=line.entry.reference,
                debit=line.entry.debit,
                credit=line.entry.credit,
                amount=line.entry.amount,
                balance=line.balance,
            )
            for line in data.lines
        ],
        closing_balance=data.closing_balance,
        opening_credit_balance=data.opening_credit_balance,
        credit_balance=data.credit_balance,
    )

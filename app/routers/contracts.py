"""Contracts: drafting, signing (with the credit check), cancelling, accepting."""

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
    IfMatch,
    Limit,
    UoW,
    allow,
    export_responses,
    set_etag,
    streamed,
)
from app.routers.problems import IDEMPOTENT, PAGED, VERSIONED, WRITES, responses
from app.routers.schemas.common import Page
from app.routers.schemas.contracts import (
    CancelRequest,
    ContractCreate,
    ContractFilterParams,
    ContractRead,
    ContractUpdate,
    SignRequest,
)
from app.services import contracts as contracts_service
from app.services import exports as exports_service

router = APIRouter(prefix="/contracts", tags=["contracts"])

Drafter = Annotated[Principal, allow(*contracts_service.DRAFTERS)]
# The list filters, shared by the list and the export.
Filters = Annotated[ContractFilterParams, Query()]
Signer = Annotated[Principal, allow(*contracts_service.SIGNERS)]
Acceptor = Annotated[Principal, allow(*contracts_service.ACCEPTORS)]


def _read(contract: object, response: Response) -> ContractRead:
    read = ContractRead.model_validate(contract)
    set_etag(response, read.version)
    return read


@router.get("", operation_id="contracts_list", response_model=Page[ContractRead], responses=responses(*PAGED))
async def list_contracts(
    actor: Caller, uow: UoW, cursor: Cursor = None, limit: Limit = 50, *, filters: Filters
) -> Page[ContractRead]:
    """Contracts of customers in the caller's scope, newest first."""
    page = await contracts_service.list_contracts(
        uow, actor, **filters.model_dump(), cursor=cursor, limit=limit
    )
    return Page[ContractRead](
        items=[ContractRead.model_validate(c) for c in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/export",
    operation_id="contracts_export",
    response_class=StreamingResponse,
    responses=export_responses("Every contract in the caller's scope matching the filters, streamed"),
)
async def export_contracts(
    actor: Caller, uow: UoW, fmt: ExportFormat = "csv", *, filters: Filters
) -> StreamingResponse:
    """Stream every contract in the caller's scope (the list filters apply) as CSV (UTF-8 with
    BOM) or NDJSON, in id order. Columns: docs/integration.md."""
    return streamed(exports_service.export_contracts(uow, actor, **filters.model_dump(), fmt=fmt))


@router.post(
    "",
    operation_id="contracts_create",
    response_model=ContractRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(
        errors.NotFound,
        errors.Forbidden,
        errors.ContractCustomerAbandoned,
        errors.ContractNumberTaken,
        *IDEMPOTENT,
        *WRITES,
    ),
)
async def create_contract(body: ContractCreate, actor: Drafter, uow: UoW, response: Response) -> ContractRead:
    """Draft a contract for a customer (reps: their own customers)."""
    contract = await contracts_service.create_contract(uow, actor, **body.model_dump())
    response.headers["Location"] = f"/api/v1/contracts/{contract.id}"
    return _read(contract, response)


@router.get(
    "/{contract_id}",
    operation_id="contracts_get",
    response_model=ContractRead,
    responses=responses(errors.NotFound),
)
async def get_contract(contract_id: uuid.UUID, actor: Caller, uow: UoW, response: Response) -> ContractRead:
    return _read(await contracts_service.get_contract(uow, actor, contract_id=contract_id), response)


@router.patch(
    "/{contract_id}",
    operation_id="contracts_update",
    response_model=ContractRead,
    responses=responses(
        errors.NotFound,
        errors.Forbidden,
        errors.ContractNumberTaken,
        errors.ContractNotDraft,
        *VERSIONED,
        *WRITES,
    ),
)
async def update_contract(
    contract_id: uuid.UUID,
    body: ContractUpdate,
    actor: Drafter,
    uow: UoW,
    expected_version: IfMatch,
    response: Response,
) -> ContractRead:
    """Change a draft (number, amount, payment terms)."""
    contract = await contracts_service.update_contract(
        uow,
        actor,
        contract_id=contract_id,
        expected_version=expected_version,
        changes=body.model_dump(exclude_unset=True),
    )
    return _read(contract, response)


@router.post(
    "/{contract_id}/sign",
    operation_id="contracts_sign",
    response_model=ContractRead,
    responses=responses(
        errors.NotFound,
        errors.Forbidden,
        errors.InvalidTransition,
        errors.RequirementUnmet,
        errors.CooldownActive,
        errors.ContractCustomerAbandoned,
        errors.ContractNotDraft,
        errors.CreditOnHold,
        errors.CreditLimitExceeded,
        errors.OverrideNotAllowed,
        errors.OverrideReasonRequired,
        *IDEMPOTENT,
        *WRITES,
    ),
)
async def sign_contract(
    contract_id: uuid.UUID, actor: Signer, uow: UoW, response: Response, body: SignRequest | None = None
) -> ContractRead:
    """Sign a draft. The credit check runs here: 409 `credit.limit_exceeded` (limit, exposure,
    available, shortfall) or `credit.on_hold`, unless `override.reason` is given by a role
    whose authority covers the exposure after signing, or an approved override request for
    the contract exists (it is then used). The customer moves to `signed`."""
    body = body or SignRequest()
    contract = await contracts_service.sign_contract(
        uow,
        actor,
        contract_id=contract_id,
        signed_at=body.signed_at,
        override_reason=body.override.reason if body.override else None,
    )
    return _read(contract, response)


@router.post(
    "/{contract_id}/cancel",
    operation_id="contracts_cancel",
    response_model=ContractRead,
    responses=responses(
        errors.NotFound,
        errors.Forbidden,
        errors.InvalidTransition,
        errors.RequirementUnmet,
        errors.CooldownActive,
        errors.ContractNotCancellable,
        errors.ContractHasReceivables,
        *IDEMPOTENT,
        *WRITES,
    ),
)
async def cancel_contract(
    contract_id: uuid.UUID, body: CancelRequest, actor: Signer, uow: UoW, response: Response
) -> ContractRead:
    """Cancel a draft or an unbilled signed contract; the customer steps back to `intent`."""
    contract = await contracts_service.cancel_contract(
        uow, actor, contract_id=contract_id, reason=body.reason
    )
    return _read(contract, response)


@router.post(
    "/{contract_id}/accept",
    operation_id="contracts_accept",
    response_model=ContractRead,
    responses=responses(
        errors.NotFound,
        errors.Forbidden,
        errors.InvalidTransition,
        errors.RequirementUnmet,
        errors.CooldownActive,
        errors.ContractNotSigned,
        *IDEMPOTENT,
        *WRITES,
    ),
)
async def accept_contract(
    contract_id: uuid.UUID, actor: Acceptor, uow: UoW, response: Response
) -> ContractRead:
    """Record implementation acceptance; once fully paid the contract completes and the
    customer becomes `implemented`."""
    return _read(await contracts_service.accept_contract(uow, actor, contract_id=contract_id), response)

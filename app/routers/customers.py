"""Customers: master data, contacts, history, duplicates and merge."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, File, Query, Response, UploadFile, status
from fastapi.responses import StreamingResponse

from app.domain import errors
from app.domain.roles import MASTER_DATA_STEWARDS, MASTER_DATA_WRITERS, Principal, Role
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
from app.routers.schemas.customers import (
    ContactIn,
    ContactRead,
    ContactUpdate,
    CustomerCreate,
    CustomerDetail,
    CustomerFilterParams,
    CustomerRead,
    CustomerUpdate,
    DuplicateList,
    DuplicateRead,
    HistoryRead,
    ImportReport,
    MergeRequest,
)
from app.routers.schemas.funnel import (
    AbandonmentReviewCreate,
    AbandonmentReviewRead,
    AssignRequest,
    ReleaseRequest,
    TransitionCreate,
    TransitionRead,
)
from app.services import contacts as contacts_service
from app.services import customer_io as customer_io_service
from app.services import customers as customers_service
from app.services import funnel as funnel_service
from app.services import pool as pool_service

router = APIRouter(prefix="/customers", tags=["customers"])

Writer = Annotated[Principal, allow(*MASTER_DATA_WRITERS)]
Steward = Annotated[Principal, allow(*MASTER_DATA_STEWARDS)]
# The list filters, shared by the list and the export: query parameters in, the service's
# CustomerFilters out.
Filters = Annotated[CustomerFilterParams, Query()]


def customer_filters(params: CustomerFilterParams) -> customers_service.CustomerFilters:
    return customers_service.CustomerFilters(**params.model_dump())


def detail(view: customers_service.CustomerView) -> CustomerDetail:
    return CustomerDetail(
        **CustomerRead.model_validate(view.customer).model_dump(),
        contacts=[ContactRead.model_validate(c) for c in view.contacts or []],
    )


@router.get(
    "",
    operation_id="customers_list",
    response_model=Page[CustomerRead],
    responses=responses(errors.CustomerTooManyContactSearches, *PAGED),
)
async def list_customers(
    actor: Caller,
    uow: UoW,
    cursor: Cursor = None,
    limit: Limit = 50,
    *,
    filters: Filters,
    sort: Literal["updated_at", "-updated_at", "name", "-name"] = "-updated_at",
) -> Page[CustomerRead]:
    """Customers in the caller's scope, filtered, sorted and cursor-paginated."""
    page = await customers_service.list_customers(
        uow, actor, filters=customer_filters(filters), sort=sort, cursor=cursor, limit=limit
    )
    return Page[CustomerRead](
        items=[CustomerRead.model_validate(c) for c in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "",
    operation_id="customers_create",
    response_model=CustomerDetail,
    status_code=status.HTTP_201_CREATED,
    responses=responses(
        errors.Forbidden,
        errors.CustomerDuplicate,
        errors.CustomerInvalidOwner,
        errors.RequirementUnmet,
        errors.QuotaExceeded,
        *IDEMPOTENT,
        *WRITES,
    ),
)
async def create_customer(
    body: CustomerCreate, actor: Writer, uow: UoW, response: Response, allow_duplicate: bool = False
) -> CustomerDetail:
    """Create a customer with its contacts. A likely duplicate answers 409 `customer.duplicate`
    with the candidates, unless `allow_duplicate=true` (support and directors)."""
    data = body.model_dump(exclude={"contacts"}, exclude_unset=True)
    data.setdefault("kind", body.kind)
    contacts = [customers_service.ContactInput(**c.model_dump()) for c in body.contacts]
    view = await customers_service.create_customer(
        uow, actor, data=data, contacts=contacts, allow_duplicate=allow_duplicate
    )
    set_etag(response, view.customer.version)
    response.headers["Location"] = f"/api/v1/customers/{view.customer.id}"
    return detail(view)


@router.get(
    "/duplicates",
    operation_id="customers_duplicates",
    response_model=DuplicateList,
    responses=responses(errors.NotFound),
)
async def list_duplicates(customer_id: uuid.UUID, actor: Caller, uow: UoW) -> DuplicateList:
    """Likely duplicates of a customer: same USCC, a shared phone or email, or the same name."""
    candidates = await customers_service.find_duplicates(uow, actor, customer_id=customer_id)
    return DuplicateList(items=[DuplicateRead.model_validate(c) for c in candidates])


# Import and export sit before /{customer_id}, which would otherwise capture "/export".
@router.post(
    "/import",
    operation_id="customers_import",
    response_model=ImportReport,
    responses=responses(
        errors.Forbidden,
        errors.CustomerInvalidOwner,
        errors.ImportUnsupportedFormat,
        errors.ImportUnreadable,
        errors.ImportTooLarge,
        errors.ImportEmpty,
        errors.ImportMissingColumns,
        errors.ImportRowsRejected,
        errors.QuotaExceeded,
        *IDEMPOTENT,
        *WRITES,
    ),
)
async def import_customers(
    actor: Steward,
    uow: UoW,
    file: Annotated[
        UploadFile,
        File(description="CSV (UTF-8, UTF-8 with BOM, GBK/GB18030) or XLSX; at most 10 MB and 10,000 rows"),
    ],
    mode: Annotated[
        Literal["all_or_nothing", "partial"],
        Query(
            description=(
                "all_or_nothing: any rejected or duplicate row imports nothing (422 `import.rejected` with "
                "the report in `report`); partial: the valid rows are imported"
            )
        ),
    ] = "all_or_nothing",
    allow_duplicate: Annotated[bool, Query(description="Import likely duplicates too")] = False,
) -> ImportReport:
    """Import customers from a spreadsheet; answers a report of created, duplicate and rejected
    rows (spreadsheet row numbers). Imported customers go to the pool unless `owner_username`
    names an active rep or manager. Formats: docs/import-export.md."""
    content = await file.read(customer_io_service.MAX_BYTES + 1)
    report = await customer_io_service.import_customers(
        uow,
        actor,
        content=content,
        filename=file.filename,
        content_type=file.content_type,
        mode=mode,
        allow_duplicate=allow_duplicate,
    )
    return ImportReport.model_validate(report)


@router.get(
    "/export",
    operation_id="customers_export",
    response_class=StreamingResponse,
    responses=export_responses(
        "Every customer in the caller's scope matching the filters, streamed",
        errors.CustomerTooManyContactSearches,
        *PAGED,
    ),
)
async def export_customers(
    actor: Caller,
    uow: UoW,
    fmt: ExportFormat = "csv",
    *,
    filters: Filters,
) -> StreamingResponse:
    """Stream every customer in the caller's scope (the list filters apply) as CSV (UTF-8 with
    BOM, for Excel) or NDJSON; contact details masked as in the API. Columns:
    docs/import-export.md."""
    return streamed(
        customer_io_service.export_customers(uow, actor, filters=customer_filters(filters), fmt=fmt)
    )


@router.get(
    "/{customer_id}",
    operation_id="customers_get",
    response_model=CustomerDetail,
    responses=responses(errors.NotFound),
)
async def get_customer(
    customer_id: uuid.UUID, actor: Caller, uow: UoW, response: Response, include_deleted: bool = False
) -> CustomerDetail:
    view = await customers_service.get_customer(
        uow, actor, customer_id=customer_id, include_deleted=include_deleted
    )
    set_etag(response, view.customer.version)
    return detail(view)


@router.patch(
    "/{customer_id}",
    operation_id="customers_update",
    response_model=CustomerDetail,
    responses=responses(errors.NotFound, errors.Forbidden, errors.CustomerDuplicate, *VERSIONED, *WRITES),
)
async def update_customer(
    customer_id: uuid.UUID,
    body: CustomerUpdate,
    actor: Writer,
    uow: UoW,
    expected_version: IfMatch,
    response: Response,
) -> CustomerDetail:
    """Change master data. Stage, owner and grade change through their own actions."""
    view = await customers_service.update_customer(
        uow,
        actor,
        customer_id=customer_id,
        expected_version=expected_version,
        changes=body.model_dump(exclude_unset=True),
    )
    set_etag(response, view.customer.version)
    return detail(view)


@router.delete(
    "/{customer_id}",
    operation_id="customers_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(errors.NotFound, errors.Forbidden, *VERSIONED, *WRITES),
)
async def delete_customer(customer_id: uuid.UUID, actor: Writer, uow: UoW, expected_version: IfMatch) -> None:
    """Soft delete: the customer leaves every list but stays in history and for integrators."""
    await customers_service.delete_customer(
        uow, actor, customer_id=customer_id, expected_version=expected_version
    )


@router.get(
    "/{customer_id}/history",
    operation_id="customers_history",
    response_model=Page[HistoryRead],
    responses=responses(errors.NotFound, *PAGED),
)
async def customer_history(
    customer_id: uuid.UUID, actor: Caller, uow: UoW, cursor: Cursor = None, limit: Limit = 50
) -> Page[HistoryRead]:
    """Every change to the customer and its contacts: who, when, field, old → new; newest first."""
    page = await customers_service.customer_history(
        uow, actor, customer_id=customer_id, cursor=cursor, limit=limit
    )
    return Page[HistoryRead](
        items=[HistoryRead.model_validate(h) for h in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "/{customer_id}/merge",
    operation_id="customers_merge",
    response_model=CustomerDetail,
    responses=responses(
        errors.NotFound, errors.Forbidden, errors.CustomerMergeSelf, *VERSIONED, *IDEMPOTENT, *WRITES
    ),
)
async def merge_customer(
    customer_id: uuid.UUID, body: MergeRequest, actor: Steward, uow: UoW, response: Response
) -> CustomerDetail:
    """Merge `duplicate_id` into this customer; the duplicate becomes a tombstone (`merged_into`)."""
    view = await customers_service.merge_customers(
        uow, actor, survivor_id=customer_id, duplicate_id=body.duplicate_id
    )
    set_etag(response, view.customer.version)
    return detail(view)


@router.get(
    "/{customer_id}/contacts",
    operation_id="contacts_list",
    response_model=Page[ContactRead],
    responses=responses(errors.NotFound, *PAGED),
)
async def list_contacts(
    customer_id: uuid.UUID, actor: Caller, uow: UoW, cursor: Cursor = None, limit: Limit = 50
) -> Page[ContactRead]:
    """The customer's contacts, the primary one first. Reps see a pool customer's details masked."""
    page = await contacts_service.list_contacts(
        uow, actor, customer_id=customer_id, cursor=cursor, limit=limit
    )
    return Page[ContactRead](
        items=[ContactRead.model_validate(c) for c in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "/{customer_id}/contacts",
    operation_id="contacts_create",
    response_model=ContactRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(errors.NotFound, errors.Forbidden, *IDEMPOTENT, *WRITES),
)
async def create_contact(
    customer_id: uuid.UUID, body: ContactIn, actor: Writer, uow: UoW, response: Response
) -> ContactRead:
    contact = await contacts_service.create_contact(
        uow, actor, customer_id=customer_id, data=customers_service.ContactInput(**body.model_dump())
    )
    set_etag(response, contact.version)
    return ContactRead.model_validate(contact)


@router.patch(
    "/{customer_id}/contacts/{contact_id}",
    operation_id="contacts_update",
    response_model=ContactRead,
    responses=responses(errors.NotFound, errors.Forbidden, *VERSIONED, *WRITES),
)
async def update_contact(
    customer_id: uuid.UUID,
    contact_id: uuid.UUID,
    body: ContactUpdate,
    actor: Writer,
    uow: UoW,
    expected_version: IfMatch,
    response: Response,
) -> ContactRead:
    contact = await contacts_service.update_contact(
        uow,
        actor,
        customer_id=customer_id,
        contact_id=contact_id,
        expected_version=expected_version,
        changes=body.model_dump(exclude_unset=True),
    )
    set_etag(response, contact.version)
    return ContactRead.model_validate(contact)


@router.delete(
    "/{customer_id}/contacts/{contact_id}",
    operation_id="contacts_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(errors.NotFound, errors.Forbidden, *VERSIONED, *WRITES),
)
async def delete_contact(
    customer_id: uuid.UUID, contact_id: uuid.UUID, actor: Writer, uow: UoW, expected_version: IfMatch
) -> None:
    await contacts_service.delete_contact(
        uow, actor, customer_id=customer_id, contact_id=contact_id, expected_version=expected_version
    )


# --- funnel and ownership actions on one customer ----------------------------------------------

Allocator = Annotated[Principal, allow(*pool_service.ALLOCATORS)]
Claimer = Annotated[Principal, allow(*pool_service.CLAIMERS)]
Reviewer = Annotated[Principal, allow(Role.manager, Role.director)]


def transition_read(view: funnel_service.TransitionView) -> TransitionRead:
    review = None if view.review is None else AbandonmentReviewRead.model_validate(view.review)
    return TransitionRead(
        **{name: getattr(view.transition, name) for name in TransitionRead.model_fields if name != "review"},
        review=review,
    )


@router.post(
    "/{customer_id}/transitions",
    operation_id="customers_transition",
    response_model=CustomerRead,
    responses=responses(
        errors.NotFound,
        errors.Forbidden,
        errors.InvalidTransition,
        errors.RequirementUnmet,
        errors.CooldownActive,
        errors.ReactivationOutOfScope,
        *IDEMPOTENT,
        *WRITES,
    ),
)
async def transition_customer(
    customer_id: uuid.UUID, body: TransitionCreate, actor: Caller, uow: UoW, response: Response
) -> CustomerRead:
    """Move the customer through the funnel. 409 `funnel.invalid_transition` lists the allowed
    targets; 422 `funnel.requirement_unmet` names what is missing."""
    grading = body.model_dump(
        include={"grade", "recommended_products", "target_amount"}, exclude_unset=True, exclude_none=True
    )
    customer = await funnel_service.transition_customer(
        uow,
        actor,
        customer_id=customer_id,
        to_stage=body.to_stage,
        reason=body.reason,
        note=body.note,
        grading=grading,
        director_override=body.director_override,
    )
    set_etag(response, customer.version)
    return CustomerRead.model_validate(customer)


@router.get(
    "/{customer_id}/transitions",
    operation_id="customers_transitions",
    response_model=Page[TransitionRead],
    responses=responses(errors.NotFound, *PAGED),
)
async def list_transitions(
    customer_id: uuid.UUID, actor: Caller, uow: UoW, cursor: Cursor = None, limit: Limit = 50
) -> Page[TransitionRead]:
    """The customer's moves through the funnel, oldest first (replays to the current stage)."""
    page = await funnel_service.list_transitions(
        uow, actor, customer_id=customer_id, cursor=cursor, limit=limit
    )
    return Page[TransitionRead](items=[transition_read(v) for v in page.items], next_cursor=page.next_cursor)


@router.post(
    "/{customer_id}/abandonment-review",
    operation_id="customers_review_abandonment",
    response_model=AbandonmentReviewRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(
        errors.NotFound, errors.Forbidden, errors.NotAbandoned, errors.AlreadyReviewed, *IDEMPOTENT, *WRITES
    ),
)
async def review_abandonment(
    customer_id: uuid.UUID, body: AbandonmentReviewCreate, actor: Reviewer, uow: UoW
) -> AbandonmentReviewRead:
    """The owner's manager evaluates the latest abandonment: agree or disagree, with a comment."""
    review = await funnel_service.review_abandonment(
        uow, actor, customer_id=customer_id, agree=body.verdict == "agree", comment=body.comment
    )
    return AbandonmentReviewRead.model_validate(review)


@router.post(
    "/{customer_id}/claim",
    operation_id="customers_claim",
    response_model=CustomerRead,
    responses=responses(
        errors.NotFound,
        errors.Forbidden,
        errors.QuotaExceeded,
        errors.AlreadyClaimed,
        errors.InCooldown,
        errors.NotClaimable,
        errors.ReclaimBlocked,
        *IDEMPOTENT,
        *WRITES,
    ),
)
async def claim_customer(
    customer_id: uuid.UUID, actor: Claimer, uow: UoW, response: Response
) -> CustomerRead:
    """Take a pool customer. Concurrent claims: one wins, the rest get `pool.already_claimed`."""
    customer = await pool_service.claim(uow, actor, customer_id=customer_id)
    set_etag(response, customer.version)
    return CustomerRead.model_validate(customer)


@router.post(
    "/{customer_id}/release",
    operation_id="customers_release",
    response_model=CustomerRead,
    responses=responses(
        errors.NotFound, errors.Forbidden, errors.NotOwned, errors.NotReleasable, *IDEMPOTENT, *WRITES
    ),
)
async def release_customer(
    customer_id: uuid.UUID, actor: Caller, uow: UoW, response: Response, body: ReleaseRequest | None = None
) -> CustomerRead:
    """Return the customer to the pool."""
    customer = await pool_service.release(
        uow, actor, customer_id=customer_id, reason=body.reason if body else None
    )
    set_etag(response, customer.version)
    return CustomerRead.model_validate(customer)


@router.post(
    "/{customer_id}/assign",
    operation_id="customers_assign",
    response_model=CustomerRead,
    responses=responses(
        errors.NotFound,
        errors.Forbidden,
        errors.CustomerInvalidOwner,
        errors.QuotaExceeded,
        errors.AlreadyClaimed,
        errors.InCooldown,
        errors.NotClaimable,
        errors.ReclaimBlocked,
        *IDEMPOTENT,
        *WRITES,
    ),
)
async def assign_customer(
    customer_id: uuid.UUID, body: AssignRequest, actor: Allocator, uow: UoW, response: Response
) -> CustomerRead:
    """Give the customer to a rep (from the pool, or reassign within your teams)."""
    customer = await pool_service.assign(
        uow, actor, customer_id=customer_id, owner_id=body.owner_id, director_override=body.director_override
    )
    set_etag(response, customer.version)
    return CustomerRead.model_validate(customer)

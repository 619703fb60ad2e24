"""Complaints (SPEC §10): categories, severities, deadlines from the service settings, a status
machine, a handler, and the overdue flag."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Response, status

from app.domain import errors
from app.domain.roles import Principal
from app.domain.service import ComplaintCategory, ComplaintStatus, Severity
from app.routers.deps import Caller, Cursor, IfMatch, Limit, UoW, allow, set_etag
from app.routers.problems import IDEMPOTENT, PAGED, VERSIONED, WRITES, responses
from app.routers.schemas.common import Page, UtcDateTime
from app.routers.schemas.service import ComplaintCreate, ComplaintRead, ComplaintUpdate
from app.services import complaints as complaints_service
from app.services.complaints import ComplaintView

router = APIRouter(prefix="/complaints", tags=["service"])

Worker = Annotated[Principal, allow(*complaints_service.COMPLAINT_WRITERS)]
_COMPUTED = frozenset({"overdue", "responded_on_time"})


def complaint_read(view: ComplaintView) -> ComplaintRead:
    columns = {
        name: getattr(view.complaint, name) for name in ComplaintRead.model_fields if name not in _COMPUTED
    }
    return ComplaintRead(**columns, overdue=view.overdue, responded_on_time=view.responded_on_time)


def _answer(view: ComplaintView, response: Response) -> ComplaintRead:
    set_etag(response, view.complaint.version)
    return complaint_read(view)


@router.get(
    "", operation_id="complaints_list", response_model=Page[ComplaintRead], responses=responses(*PAGED)
)
async def list_complaints(
    actor: Caller,
    uow: UoW,
    cursor: Cursor = None,
    limit: Limit = 50,
    customer_id: uuid.UUID | None = None,
    handler_id: uuid.UUID | None = None,
    status: ComplaintStatus | None = None,
    severity: Severity | None = None,
    category: ComplaintCategory | None = None,
    overdue: bool | None = None,
    created_from: UtcDateTime | None = None,
    created_to: UtcDateTime | None = None,
    sort: Literal["created_at", "-created_at"] = "-created_at",
) -> Page[ComplaintRead]:
    """Complaints in the caller's scope (reps: of their own customers or handled by them;
    managers: of their teams' customers), newest first."""
    filters = complaints_service.ComplaintFilters(
        customer_id=customer_id,
        handler_id=handler_id,
        status=status,
        severity=severity,
        category=category,
        overdue=overdue,
        created_from=created_from,
        created_to=created_to,
    )
    page = await complaints_service.list_complaints(
        uow, actor, filters=filters, sort=sort, cursor=cursor, limit=limit
    )
    return Page[ComplaintRead](items=[complaint_read(v) for v in page.items], next_cursor=page.next_cursor)


@router.post(
    "",
    operation_id="complaints_create",
    response_model=ComplaintRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(
        errors.NotFound, errors.Forbidden, errors.ComplaintInvalidHandler, *IDEMPOTENT, *WRITES
    ),
)
async def create_complaint(
    body: ComplaintCreate, actor: Worker, uow: UoW, response: Response
) -> ComplaintRead:
    """Log a complaint: respond_by and resolve_by follow from its severity and the service settings."""
    view = await complaints_service.create_complaint(uow, actor, values=body.model_dump())
    response.headers["Location"] = f"/api/v1/complaints/{view.complaint.id}"
    return _answer(view, response)


@router.get(
    "/{complaint_id}",
    operation_id="complaints_get",
    response_model=ComplaintRead,
    responses=responses(errors.NotFound),
)
async def get_complaint(
    complaint_id: uuid.UUID, actor: Caller, uow: UoW, response: Response
) -> ComplaintRead:
    return _answer(await complaints_service.get_complaint(uow, actor, complaint_id=complaint_id), response)


@router.patch(
    "/{complaint_id}",
    operation_id="complaints_update",
    response_model=ComplaintRead,
    responses=responses(
        errors.NotFound,
        errors.Forbidden,
        errors.ComplaintInvalidTransition,
        errors.ComplaintInvalidHandler,
        *VERSIONED,
        *WRITES,
    ),
)
async def update_complaint(
    complaint_id: uuid.UUID,
    body: ComplaintUpdate,
    actor: Worker,
    uow: UoW,
    expected_version: IfMatch,
    response: Response,
) -> ComplaintRead:
    """Change a complaint, assign its handler, or move its status (`{"status": "in_progress"}`);
    an illegal move answers 409 `complaint.invalid_transition` with the allowed targets."""
    view = await complaints_service.update_complaint(
        uow,
        actor,
        complaint_id=complaint_id,
        expected_version=expected_version,
        changes=body.model_dump(exclude_unset=True),
    )
    return _answer(view, response)

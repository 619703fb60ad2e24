"""Use cases for complaints (SPEC §10): log one with its deadlines, list and read in scope,
change it (assign a handler, move its status, record the resolution). Every change is in the
customer's history; overdue complaints come to the handler's and the owner's worklist."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from app.db.base import utcnow
from app.db.models import Complaint
from app.db.repositories.pagination import Page
from app.db.repositories.service import ComplaintFilters, ComplaintSort
from app.db.uow import UnitOfWork
from app.domain.errors import ComplaintInvalidHandler, Forbidden
from app.domain.roles import Principal, Role
from app.domain.service import (
    ComplaintStatus,
    Severity,
    deadlines,
    is_overdue,
    responded_on_time,
    transition,
)
from app.services import settings as settings_service
from app.services.common import apply_changes, check_version, found, jsonable

# Who logs and works complaints (finance and integrations only read them).
COMPLAINT_WRITERS = frozenset({Role.rep, Role.manager, Role.director, Role.support, Role.admin})


@dataclass(frozen=True, slots=True)
class ComplaintView:
    complaint: Complaint
    overdue: bool
    responded_on_time: bool


def _view(complaint: Complaint, now: dt.datetime) -> ComplaintView:
    return ComplaintView(
        complaint=complaint,
        overdue=is_overdue(
            status=ComplaintStatus(complaint.status),
            respond_by=complaint.respond_by,
            resolve_by=complaint.resolve_by,
            now=now,
        ),
        responded_on_time=responded_on_time(
            responded_at=complaint.responded_at, respond_by=complaint.respond_by
        ),
    )


def _require_writer(actor: Principal) -> None:
    if actor.role not in COMPLAINT_WRITERS:
        raise Forbidden("Your role does not work on complaints")


async def _check_handler(uow: UnitOfWork, handler_id: uuid.UUID) -> None:
    user = await uow.users.get_unscoped(handler_id)
    if user is None or not user.is_active or user.role not in COMPLAINT_WRITERS:
        raise ComplaintInvalidHandler(
            "The handler must be an active user who works on complaints", handler_id=str(handler_id)
        )


# --- reading -----------------------------------------------------------------------------------


async def list_complaints(
    uow: UnitOfWork,
    actor: Principal,
    *,
    filters: ComplaintFilters,
    sort: ComplaintSort,
    cursor: str | None,
    limit: int,
) -> Page[ComplaintView]:
    now = utcnow()
    async with uow:
        page = await uow.complaints.list(actor, filters, now=now, sort=sort, cursor=cursor, limit=limit)
    return Page(items=[_view(c, now) for c in page.items], next_cursor=page.next_cursor)


async def get_complaint(uow: UnitOfWork, actor: Principal, *, complaint_id: uuid.UUID) -> ComplaintView:
    async with uow:
        complaint = found(await uow.complaints.get(complaint_id, principal=actor), "Complaint")
    return _view(complaint, utcnow())


# --- writing -----------------------------------------------------------------------------------


async def create_complaint(
    uow: UnitOfWork, actor: Principal, *, values: dict[str, Any], now: dt.datetime | None = None
) -> ComplaintView:
    """Log a complaint on a customer in the caller's scope; the deadline clock starts now."""
    _require_writer(actor)
    now = now or utcnow()
    values = dict(values)
    async with uow:
        customer = found(await uow.customers.get(values.pop("customer_id"), principal=actor), "Customer")
        if actor.role is Role.rep and customer.owner_id != actor.user_id:
            raise Forbidden("Reps log complaints on their own customers only")
        if values.get("handler_id") is not None:
            await _check_handler(uow, values["handler_id"])
        policy = await settings_service.service_policy_in(uow)
        respond_by, resolve_by = deadlines(
            severity=Severity(values["severity"]), opened_at=now, policy=policy
        )
        complaint = Complaint(
            id=uuid.uuid4(),
            customer_id=customer.id,
            status=ComplaintStatus.open.value,
            respond_by=respond_by,
            resolve_by=resolve_by,
            created_by=actor.user_id,
            created_at=now,
            updated_at=now,
            **values,
        )
        uow.complaints.add(complaint)
        await uow.flush()
        uow.history.record(
            customer_id=customer.id,
            actor_id=actor.user_id,
            action="complaint_create",
            entity="complaint",
            entity_id=complaint.id,
            at=now,
            changes={
                name: [None, jsonable(getattr(complaint, name))]
                for name in (
                    "category",
                    "severity",
                    "subject",
                    "handler_id",
                    "status",
                    "respond_by",
                    "resolve_by",
                )
            },
        )
        await uow.commit()
    return _view(complaint, now)


async def update_complaint(
    uow: UnitOfWork,
    actor: Principal,
    *,
    complaint_id: uuid.UUID,
    expected_version: int | None,
    changes: dict[str, Any],
    now: dt.datetime | None = None,
) -> ComplaintView:
    """Change a complaint: its fields, its handler, its status (by the state machine)."""
    _require_writer(actor)
    now = now or utcnow()
    changes = dict(changes)
    async with uow:
        complaint = found(
            await uow.complaints.get(complaint_id, principal=actor, for_update=True), "Complaint"
        )
        check_version(complaint, expected_version)
        if changes.get("handler_id") not in (None, complaint.handler_id):
            await _check_handler(uow, changes["handler_id"])
        target = changes.pop("status", None)
        if target is not None and target != complaint.status:
            moved = transition(
                current=ComplaintStatus(complaint.status),
                target=ComplaintStatus(target),
                responded_at=complaint.responded_at,
                resolved_at=complaint.resolved_at,
                closed_at=complaint.closed_at,
                now=now,
            )
            changes.update(
                status=moved.status.value,
                responded_at=moved.responded_at,
                resolved_at=moved.resolved_at,
                closed_at=moved.closed_at,
            )
        if changes.get("severity") not in (None, complaint.severity):
            policy = await settings_service.service_policy_in(uow)
            changes["respond_by"], changes["resolve_by"] = deadlines(
                severity=Severity(changes["severity"]), opened_at=complaint.created_at, policy=policy
            )
        diff = apply_changes(complaint, changes)
        if diff:
            complaint.updated_at = now
            await uow.flush()
            uow.history.record(
                customer_id=complaint.customer_id,
                actor_id=actor.user_id,
                action="complaint_update",
                entity="complaint",
                entity_id=complaint.id,
                at=now,
                changes=diff,
            )
            await uow.commit()
    return _view(complaint, now)


# --- for the worklist --------------------------------------------------------------------------


async def overdue_complaints_in(
    uow: UnitOfWork, *, user_id: uuid.UUID, now: dt.datetime
) -> list[tuple[uuid.UUID, bool]]:
    """Customers with an overdue complaint the user handles or owns the customer of,
    each with whether the user owns that customer."""
    return await uow.complaints.overdue_for(user_id, now=now)

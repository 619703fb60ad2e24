"""Use cases for activities (calls, visits, emails, messages, meetings) on customers.

The ``*_in`` functions do the work inside a unit of work the caller opened and commits;
the HTTP path wraps each in its own transaction, the sync push runs many in one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from app.db.base import utcnow
from app.db.models import Activity, Customer
from app.db.repositories.pagination import Page
from app.db.uow import UnitOfWork
from app.domain.errors import ActivityAlreadyExists, Forbidden, InvalidInput
from app.domain.roles import Principal, Role
from app.services import tasks as tasks_service
from app.services.common import apply_changes, check_version, found

# A device clock may run a little fast; an activity further in the future is a plan, not a fact.
CLOCK_SKEW = dt.timedelta(minutes=5)
LOGGERS = frozenset({Role.rep, Role.manager, Role.director, Role.support, Role.admin})


def _require_logger(actor: Principal, customer: Customer) -> None:
    if actor.role not in LOGGERS:
        raise Forbidden("Your role does not log activities")
    if actor.role is Role.rep and customer.owner_id != actor.user_id:
        raise Forbidden("Reps log activities on their own customers only")


def _check_times(values: dict[str, Any], now: dt.datetime) -> None:
    occurred = values.get("occurred_at")
    if occurred is not None and occurred > now + CLOCK_SKEW:
        raise InvalidInput(
            "An activity cannot have happened in the future",
            errors=[
                {
                    "loc": ["body", "occurred_at"],
                    "msg": "occurred_at is in the future",
                    "type": "value_error.future",
                }
            ],
        )


async def list_activities(
    uow: UnitOfWork,
    actor: Principal,
    *,
    customer_id: uuid.UUID | None,
    type_: str | None,
    created_by: uuid.UUID | None,
    occurred_from: dt.datetime | None,
    occurred_to: dt.datetime | None,
    updated_since: dt.datetime | None = None,
    cursor: str | None,
    limit: int,
) -> Page[Activity]:
    async with uow:
        return await uow.activities.list(
            actor,
            customer_id=customer_id,
            type_=type_,
            created_by=created_by,
            occurred_from=occurred_from,
            occurred_to=occurred_to,
            updated_since=updated_since,
            cursor=cursor,
            limit=limit,
        )


async def get_activity(uow: UnitOfWork, actor: Principal, *, activity_id: uuid.UUID) -> Activity:
    async with uow:
        return found(await uow.activities.get(activity_id, principal=actor), "Activity")


async def log_activity(
    uow: UnitOfWork, actor: Principal, *, values: dict[str, Any], activity_id: uuid.UUID | None = None
) -> Activity:
    """Record an activity; the customer's ``last_contact_at`` (the latest live activity)
    moves forward to it, and a ``next_follow_up_at`` becomes a task for the author."""
    async with uow:
        activity = await log_activity_in(uow, actor, values=values, activity_id=activity_id)
        await uow.commit()
        return activity


async def log_activity_in(
    uow: UnitOfWork,
    actor: Principal,
    *,
    values: dict[str, Any],
    activity_id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> Activity:
    now = now or utcnow()
    _check_times(values, now)
    customer = found(await uow.customers.get(values["customer_id"], principal=actor), "Customer")
    _require_logger(actor, customer)
    if activity_id is not None and await uow.activities.exists_any(activity_id):
        raise ActivityAlreadyExists("An activity with this id already exists", id=str(activity_id))
    await _check_contact(uow, customer, values.get("contact_id"))
    activity = Activity(
        id=activity_id or uuid.uuid4(),
        created_by=actor.user_id,
        received_at=now,
        created_at=now,
        updated_at=now,
        **values,
    )
    uow.activities.add(activity)
    await uow.flush()
    await uow.customers.touch_last_contact(customer.id, activity.occurred_at)
    await tasks_service.schedule_follow_up_in(uow, activity=activity, now=now, new_activity=True)
    return activity


async def _check_contact(uow: UnitOfWork, customer: Customer, contact_id: uuid.UUID | None) -> None:
    if contact_id is not None and await uow.contacts.get(customer.id, contact_id) is None:
        raise InvalidInput(
            "The contact does not belong to this customer",
            errors=[
                {
                    "loc": ["body", "contact_id"],
                    "msg": "unknown contact for this customer",
                    "type": "value_error.contact",
                }
            ],
        )


async def update_activity(
    uow: UnitOfWork,
    actor: Principal,
    *,
    activity_id: uuid.UUID,
    expected_version: int | None,
    changes: dict[str, Any],
) -> Activity:
    async with uow:
        activity = await update_activity_in(
            uow, actor, activity_id=activity_id, expected_version=expected_version, changes=changes
        )
        await uow.commit()
        return activity


async def update_activity_in(
    uow: UnitOfWork,
    actor: Principal,
    *,
    activity_id: uuid.UUID,
    expected_version: int | None,
    changes: dict[str, Any],
    now: dt.datetime | None = None,
) -> Activity:
    now = now or utcnow()
    _check_times(changes, now)
    activity = found(await uow.activities.get(activity_id, principal=actor, for_update=True), "Activity")
    customer = found(await uow.customers.get(activity.customer_id, principal=actor), "Customer")
    _require_logger(actor, customer)
    if actor.role is Role.rep and activity.created_by != actor.user_id:
        raise Forbidden("Reps change only the activities they logged")
    check_version(activity, expected_version)
    if "contact_id" in changes:
        await _check_contact(uow, customer, changes["contact_id"])
    diff = apply_changes(activity, changes)
    if diff:
        await uow.flush()
        if "occurred_at" in diff:
            # Derived, not just moved forward: back-dating the latest contact moves it back.
            await uow.customers.recompute_last_contact(customer.id)
        if "next_follow_up_at" in diff:
            await tasks_service.schedule_follow_up_in(uow, activity=activity, now=now)
    return activity


async def delete_activity(
    uow: UnitOfWork, actor: Principal, *, activity_id: uuid.UUID, expected_version: int | None
) -> None:
    async with uow:
        await delete_activity_in(uow, actor, activity_id=activity_id, expected_version=expected_version)
        await uow.commit()


async def delete_activity_in(
    uow: UnitOfWork, actor: Principal, *, activity_id: uuid.UUID, expected_version: int | None
) -> Activity:
    """Soft delete; an open follow-up task of the activity is cancelled with it, and the
    customer's ``last_contact_at`` is derived again from the activities left."""
    activity = found(await uow.activities.get(activity_id, principal=actor, for_update=True), "Activity")
    customer = found(await uow.customers.get(activity.customer_id, principal=actor), "Customer")
    _require_logger(actor, customer)
    if actor.role is Role.rep and activity.created_by != actor.user_id:
        raise Forbidden("Reps delete only the activities they logged")
    check_version(activity, expected_version)
    now = utcnow()
    activity.deleted_at = now
    await uow.flush()
    # A deleted contact no longer keeps the protection period alive.
    await uow.customers.recompute_last_contact(customer.id)
    await tasks_service.schedule_follow_up_in(uow, activity=activity, now=now)
    return activity

"""Use cases for follow-up tasks: list, read, create, change (complete, reassign) and soft delete.

The ``*_in`` functions do the work inside a unit of work the caller opened and commits;
the HTTP path wraps each in its own transaction, the sync push runs many in one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from app.db.base import utcnow
from app.db.models import Activity, Task
from app.db.repositories.pagination import Page
from app.db.repositories.tasks import TaskFilters, TaskSort
from app.db.uow import UnitOfWork
from app.domain.errors import (
    Forbidden,
    InvalidInput,
    TaskAlreadyExists,
    TaskInvalidAssignee,
)
from app.domain.roles import Principal, Role
from app.domain.tasks import TaskSource, TaskStatus, completed_at_for, follow_up_title
from app.services.common import apply_changes, check_version, found

# Who creates and works tasks (finance and integrations only read them).
TASK_WRITERS = frozenset({Role.rep, Role.manager, Role.director, Role.support, Role.admin})


def _require_writer(actor: Principal) -> None:
    if actor.role not in TASK_WRITERS:
        raise Forbidden("Your role does not work on tasks")


def _require_editor(actor: Principal, task: Task) -> None:
    _require_writer(actor)
    if actor.role is Role.rep and actor.user_id not in (task.assignee_id, task.created_by):
        raise Forbidden("Reps change only tasks assigned to or created by them")


def _clean_title(values: dict[str, Any]) -> None:
    if "title" in values:
        title = (values["title"] or "").strip()
        if not title:
            raise InvalidInput(
                "A task needs a title",
                errors=[{"loc": ["body", "title"], "msg": "The title cannot be blank", "type": "missing"}],
            )
        values["title"] = title
    if "notes" in values:
        values["notes"] = (values["notes"] or "").strip() or None


async def _check_assignee(uow: UnitOfWork, actor: Principal, assignee_id: uuid.UUID) -> None:
    if actor.role is Role.rep and assignee_id != actor.user_id:
        raise Forbidden("Reps assign tasks to themselves only")
    user = await uow.users.get_unscoped(assignee_id)
    if user is None or not user.is_active or user.role not in TASK_WRITERS:
        raise TaskInvalidAssignee(
            "The assignee must be an active user who works on tasks", assignee_id=str(assignee_id)
        )
    if actor.role is Role.manager and assignee_id != actor.user_id and user.team_id not in actor.team_ids:
        raise Forbidden("Managers assign tasks within their own teams only")


# ----------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------


async def list_tasks(
    uow: UnitOfWork, actor: Principal, *, filters: TaskFilters, sort: TaskSort, cursor: str | None, limit: int
) -> Page[Task]:
    async with uow:
        return await uow.tasks.list(actor, filters, sort=sort, cursor=cursor, limit=limit)


async def get_task(uow: UnitOfWork, actor: Principal, *, task_id: uuid.UUID) -> Task:
    async with uow:
        return found(await uow.tasks.get(task_id, principal=actor), "Task")


# ----------------------------------------------------------------------------------------
# Writing: one transaction each ...
# ----------------------------------------------------------------------------------------


async def create_task(
    uow: UnitOfWork, actor: Principal, *, values: dict[str, Any], task_id: uuid.UUID | None = None
) -> Task:
    """Create a task (the client may supply its id); it is the caller's unless assigned."""
    async with uow:
        task = await create_task_in(uow, actor, values=values, task_id=task_id)
        await uow.commit()
        return task


async def update_task(
    uow: UnitOfWork,
    actor: Principal,
    *,
    task_id: uuid.UUID,
    expected_version: int | None,
    changes: dict[str, Any],
) -> Task:
    async with uow:
        task = await update_task_in(
            uow, actor, task_id=task_id, expected_version=expected_version, changes=changes
        )
        await uow.commit()
        return task


async def delete_task(
    uow: UnitOfWork, actor: Principal, *, task_id: uuid.UUID, expected_version: int | None
) -> None:
    async with uow:
        await delete_task_in(uow, actor, task_id=task_id, expected_version=expected_version)
        await uow.commit()


# ----------------------------------------------------------------------------------------
# ... and the same work inside an open unit of work (shared with the sync push)
# ----------------------------------------------------------------------------------------


async def create_task_in(
    uow: UnitOfWork,
    actor: Principal,
    *,
    values: dict[str, Any],
    task_id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> Task:
    _require_writer(actor)
    now = now or utcnow()
    values = dict(values)
    _clean_title(values)
    if task_id is not None and await uow.tasks.exists_any(task_id):
        raise TaskAlreadyExists("A task with this id already exists", id=str(task_id))
    assignee_id = values.pop("assignee_id", None) or actor.user_id
    await _check_assignee(uow, actor, assignee_id)
    customer_id = values.pop("customer_id", None)
    activity_id = values.pop("activity_id", None)
    if activity_id is not None:
        activity = found(await uow.activities.get(activity_id, principal=actor), "Activity")
        if customer_id is not None and customer_id != activity.customer_id:
            raise InvalidInput(
                "The activity belongs to another customer",
                errors=[
                    {
                        "loc": ["body", "activity_id"],
                        "msg": "the activity is not on this customer",
                        "type": "value_error.activity",
                    }
                ],
            )
        customer_id = activity.customer_id
    if customer_id is not None:
        customer = found(await uow.customers.get(customer_id, principal=actor), "Customer")
        if actor.role is Role.rep and customer.owner_id != actor.user_id:
            raise Forbidden("Reps create tasks on their own customers only")
    status = values.pop("status", None) or TaskStatus.open.value
    task = Task(
        id=task_id or uuid.uuid4(),
        assignee_id=assignee_id,
        customer_id=customer_id,
        activity_id=activity_id,
        status=status,
        completed_at=completed_at_for(old_status=None, new_status=status, current=None, now=now),
        source=TaskSource.manual.value,
        created_by=actor.user_id,
        created_at=now,
        updated_at=now,
        **values,
    )
    uow.tasks.add(task)
    await uow.flush()
    return task


async def update_task_in(
    uow: UnitOfWork,
    actor: Principal,
    *,
    task_id: uuid.UUID,
    expected_version: int | None,
    changes: dict[str, Any],
    now: dt.datetime | None = None,
) -> Task:
    now = now or utcnow()
    changes = dict(changes)
    task = found(await uow.tasks.get(task_id, principal=actor, for_update=True), "Task")
    _require_editor(actor, task)
    check_version(task, expected_version)
    _clean_title(changes)
    if changes.get("assignee_id") not in (None, task.assignee_id):
        await _check_assignee(uow, actor, changes["assignee_id"])
    if "status" in changes and changes["status"] != task.status:
        changes["completed_at"] = completed_at_for(
            old_status=task.status, new_status=changes["status"], current=task.completed_at, now=now
        )
    if apply_changes(task, changes):
        await uow.flush()
    return task


async def delete_task_in(
    uow: UnitOfWork, actor: Principal, *, task_id: uuid.UUID, expected_version: int | None
) -> Task:
    task = found(await uow.tasks.get(task_id, principal=actor, for_update=True), "Task")
    _require_editor(actor, task)
    check_version(task, expected_version)
    task.deleted_at = utcnow()
    await uow.flush()
    return task


# ----------------------------------------------------------------------------------------
# Follow-ups: an activity's ``next_follow_up_at`` is a task for the activity's author
# ----------------------------------------------------------------------------------------


def _follow_up_task(activity: Activity, *, now: dt.datetime) -> Task:
    assert activity.next_follow_up_at is not None
    return Task(
        id=uuid.uuid4(),
        assignee_id=activity.created_by,
        customer_id=activity.customer_id,
        activity_id=activity.id,
        due_at=activity.next_follow_up_at,
        title=follow_up_title(activity_type=activity.type, subject=activity.subject),
        status=TaskStatus.open.value,
        source=TaskSource.follow_up.value,
        created_by=activity.created_by,
        created_at=now,
        updated_at=now,
    )


async def schedule_follow_up_in(
    uow: UnitOfWork, *, activity: Activity, now: dt.datetime, new_activity: bool = False
) -> None:
    """Keep the activity's open follow-up task in line with its ``next_follow_up_at``:
    create it, move its due time, or cancel it when the follow-up (or the activity) goes."""
    if new_activity:
        if activity.next_follow_up_at is not None:
            uow.tasks.add(_follow_up_task(activity, now=now))
            await uow.flush()
        return
    open_tasks = await uow.tasks.open_follow_ups(activity.id)
    if activity.deleted_at is not None or activity.next_follow_up_at is None:
        for task in open_tasks:
            task.status = TaskStatus.cancelled.value
            task.completed_at = now
    elif open_tasks:
        for task in open_tasks:
            task.due_at = activity.next_follow_up_at
    else:
        uow.tasks.add(_follow_up_task(activity, now=now))
    await uow.flush()

"""Tasks: follow-ups with an assignee, a due time and a status, optionally on a customer."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from app.domain import errors
from app.domain.roles import Principal
from app.routers.deps import Caller, Cursor, IfMatch, Limit, UoW, allow, set_etag
from app.routers.problems import IDEMPOTENT, PAGED, VERSIONED, WRITES, responses
from app.routers.schemas.common import Page
from app.routers.schemas.tasks import TaskCreate, TaskFilterParams, TaskRead, TaskUpdate
from app.services import tasks as tasks_service

router = APIRouter(prefix="/tasks", tags=["tasks"])

Worker = Annotated[Principal, allow(*tasks_service.TASK_WRITERS)]


@router.get("", operation_id="tasks_list", response_model=Page[TaskRead], responses=responses(*PAGED))
async def list_tasks(
    actor: Caller,
    uow: UoW,
    cursor: Cursor = None,
    limit: Limit = 50,
    *,
    filters: Annotated[TaskFilterParams, Query()],
    sort: Literal["due_at", "-due_at"] = "due_at",
) -> Page[TaskRead]:
    """Tasks in the caller's scope (reps: assigned to or created by them, or on their customers;
    managers: also their teams'), by due time."""
    page = await tasks_service.list_tasks(
        uow,
        actor,
        filters=tasks_service.TaskFilters(**filters.model_dump()),
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    return Page[TaskRead](
        items=[TaskRead.model_validate(t) for t in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "",
    operation_id="tasks_create",
    response_model=TaskRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(
        errors.NotFound,
        errors.Forbidden,
        errors.TaskAlreadyExists,
        errors.TaskInvalidAssignee,
        *IDEMPOTENT,
        *WRITES,
    ),
)
async def create_task(body: TaskCreate, actor: Worker, uow: UoW, response: Response) -> TaskRead:
    """Create a task (the client may supply its id)."""
    task = await tasks_service.create_task(
        uow, actor, values=body.model_dump(exclude={"id"}), task_id=body.id
    )
    set_etag(response, task.version)
    response.headers["Location"] = f"/api/v1/tasks/{task.id}"
    return TaskRead.model_validate(task)


@router.get(
    "/{task_id}", operation_id="tasks_get", response_model=TaskRead, responses=responses(errors.NotFound)
)
async def get_task(task_id: uuid.UUID, actor: Caller, uow: UoW, response: Response) -> TaskRead:
    task = await tasks_service.get_task(uow, actor, task_id=task_id)
    set_etag(response, task.version)
    return TaskRead.model_validate(task)


@router.patch(
    "/{task_id}",
    operation_id="tasks_update",
    response_model=TaskRead,
    responses=responses(errors.NotFound, errors.Forbidden, errors.TaskInvalidAssignee, *VERSIONED, *WRITES),
)
async def update_task(
    task_id: uuid.UUID,
    body: TaskUpdate,
    actor: Worker,
    uow: UoW,
    expected_version: IfMatch,
    response: Response,
) -> TaskRead:
    """Change, complete (`status: done`), cancel, reopen or reassign a task."""
    task = await tasks_service.update_task(
        uow,
        actor,
        task_id=task_id,
        expected_version=expected_version,
        changes=body.model_dump(exclude_unset=True),
    )
    set_etag(response, task.version)
    return TaskRead.model_validate(task)


@router.delete(
    "/{task_id}",
    operation_id="tasks_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(errors.NotFound, errors.Forbidden, *VERSIONED, *WRITES),
)
async def delete_task(task_id: uuid.UUID, actor: Worker, uow: UoW, expected_version: IfMatch) -> None:
    """Soft delete: the task leaves every list (devices receive a tombstone)."""
    await tasks_service.delete_task(uow, actor, task_id=task_id, expected_version=expected_version)

"""Tasks, every query limited to the caller's scope."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.changes import note_changed
from app.db.models import Customer, Task, User
from app.db.repositories.lookup import by_id
from app.db.repositories.pagination import Page, paginate
from app.domain.roles import Principal, Scope

TaskSort = Literal["due_at", "-due_at"]


def task_scope(principal: Principal) -> ColumnElement[bool] | None:
    """Reps: tasks assigned to or created by them, or on their customers. Managers: also their
    teams' members' tasks and tasks on their teams' customers. Everyone else: all."""
    mine = or_(Task.assignee_id == principal.user_id, Task.created_by == principal.user_id)
    if principal.scope is Scope.own:
        return or_(
            mine, Task.customer_id.in_(select(Customer.id).where(Customer.owner_id == principal.user_id))
        )
    if principal.scope is Scope.team:
        teams = list(principal.team_ids)
        return or_(
            mine,
            Task.assignee_id.in_(select(User.id).where(User.team_id.in_(teams))),
            Task.customer_id.in_(
                select(Customer.id).where(
                    or_(Customer.team_id.in_(teams), Customer.owner_id == principal.user_id)
                )
            ),
        )
    return None


@dataclass(frozen=True, slots=True)
class TaskFilters:
    assignee_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    activity_id: uuid.UUID | None = None
    status: str | None = None
    due_from: dt.datetime | None = None
    due_to: dt.datetime | None = None
    updated_since: dt.datetime | None = None


class TaskRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def move_all(self, *, from_customer: uuid.UUID, to_customer: uuid.UUID) -> int:
        """A merge moves the duplicate's follow-ups to the survivor."""
        moved = list(
            (
                await self.session.scalars(
                    update(Task)
                    .where(Task.customer_id == from_customer)
                    .values(customer_id=to_customer, version=Task.version + 1)
                    .returning(Task.id)
                    .execution_options(synchronize_session=False)
                )
            ).all()
        )
        note_changed(self.session, "task", moved)
        return len(moved)

    def visible_to(self, principal: Principal, *, include_deleted: bool = False) -> Select[tuple[Task]]:
        stmt = select(Task)
        scope = task_scope(principal)
        if scope is not None:
            stmt = stmt.where(scope)
        if not include_deleted:
            stmt = stmt.where(Task.deleted_at.is_(None))
        return stmt

    async def get(
        self,
        task_id: uuid.UUID,
        *,
        principal: Principal,
        for_update: bool = False,
        include_deleted: bool = False,
    ) -> Task | None:
        """The task, if the caller may see it."""
        stmt = self.visible_to(principal, include_deleted=include_deleted)
        return await by_id(self.session, stmt, Task, task_id, for_update=for_update)

    async def get_unscoped(
        self, task_id: uuid.UUID, *, for_update: bool = False, include_deleted: bool = False
    ) -> Task | None:
        """The task whoever may see it: for a service that has already checked scope."""
        stmt = select(Task)
        if not include_deleted:
            stmt = stmt.where(Task.deleted_at.is_(None))
        return await by_id(self.session, stmt, Task, task_id, for_update=for_update)

    async def exists_any(self, task_id: uuid.UUID) -> bool:
        return await self.session.scalar(select(Task.id).where(Task.id == task_id)) is not None

    async def list(
        self, principal: Principal, filters: TaskFilters, *, sort: TaskSort, cursor: str | None, limit: int
    ) -> Page[Task]:
        stmt = self.visible_to(principal)
        for column, value in (
            (Task.assignee_id, filters.assignee_id),
            (Task.customer_id, filters.customer_id),
            (Task.activity_id, filters.activity_id),
            (Task.status, filters.status),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if filters.due_from is not None:
            stmt = stmt.where(Task.due_at >= filters.due_from)
        if filters.due_to is not None:
            stmt = stmt.where(Task.due_at < filters.due_to)
        if filters.updated_since is not None:
            stmt = stmt.where(Task.updated_at >= filters.updated_since)
        direction: Literal["asc", "desc"] = "desc" if sort.startswith("-") else "asc"
        return await paginate(
            self.session,
            stmt,
            sort=sort,
            keys=[Task.due_at, Task.id],
            key_of=lambda t: [t.due_at, t.id],
            cursor=cursor,
            limit=limit,
            direction=direction,
        )

    async def open_follow_ups(self, activity_id: uuid.UUID) -> list[Task]:
        """The open tasks an activity's ``next_follow_up_at`` created, locked for a change."""
        stmt = (
            select(Task)
            .where(
                Task.activity_id == activity_id,
                Task.source == "follow_up",
                Task.status == "open",
                Task.deleted_at.is_(None),
            )
            .order_by(Task.created_at, Task.id)
            .with_for_update(key_share=True)
        )
        return list((await self.session.scalars(stmt)).all())

    def add(self, task: Task) -> None:
        self.session.add(task)


__all__ = ["TaskFilters", "TaskRepository", "TaskSort", "task_scope"]

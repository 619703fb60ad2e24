"""A simulated offline device for sync tests, and the server's state of a user's sync scope."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select

from app.db.models import Activity, Contact, Customer, Task, User
from app.db.repositories.sync import customer_sync_clause, loose_task_clause
from app.db.uow import UnitOfWork
from app.domain.sync import SyncScope
from app.routers.sync import _data
from app.services import auth as auth_service
from tests.support.builders import access_headers

PUSH = "/api/v1/sync/push"
PULL = "/api/v1/sync/pull"
ENTITIES = ("customer", "contact", "activity", "task")

State = dict[str, dict[str, dict[str, Any]]]


class Device:
    """Holds what a mobile app holds: records by entity and id, and the pull cursor."""

    def __init__(self, client: httpx.AsyncClient, user: User, device_id: str | None = None) -> None:
        self.client = client
        self.user = user
        self.device_id = device_id or f"device-{uuid.uuid4().hex[:8]}"
        self.records: State = {e: {} for e in ENTITIES}
        self.cursor: str | None = None
        self.pages: list[dict[str, Any]] = []

    @property
    def headers(self) -> dict[str, str]:
        return access_headers(self.user)

    async def pull_page(self, *, limit: int | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.cursor is not None:
            params["cursor"] = self.cursor
        if limit is not None:
            params["limit"] = limit
        response = await self.client.get(PULL, params=params, headers=self.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"changes", "next_cursor", "has_more", "reset"}, page
        self.apply(page)
        self.cursor = page["next_cursor"]
        self.pages.append(page)
        return page

    async def pull(self, *, limit: int | None = None, max_pages: int = 1000) -> list[dict[str, Any]]:
        """Pull until ``has_more`` is false; answers the pages."""
        pages = []
        for _ in range(max_pages):
            page = await self.pull_page(limit=limit)
            pages.append(page)
            if not page["has_more"]:
                return pages
        raise AssertionError("the pull did not end")

    def apply(self, page: dict[str, Any]) -> None:
        if page["reset"]:
            self.records = {e: {} for e in ENTITIES}
        for change in page["changes"]:
            entity, op, rid = change["entity"], change["op"], change["id"]
            if op == "upsert":
                assert change["data"]["id"] == rid
                if entity != "customer":
                    # Parents arrive before their children.
                    parent = change["data"].get("customer_id")
                    assert parent is None or parent in self.records["customer"], change
                self.records[entity][rid] = change["data"]
            else:
                assert op in ("delete", "scope_exit"), change
                assert "data" not in change
                self.records[entity].pop(rid, None)
                if entity == "customer":
                    for child in ("contact", "activity", "task"):
                        self.records[child] = {
                            k: v for k, v in self.records[child].items() if v.get("customer_id") != rid
                        }

    async def push(self, changes: list[dict[str, Any]], *, status: int = 200) -> list[dict[str, Any]]:
        response = await self.client.post(
            PUSH, json={"device_id": self.device_id, "changes": changes}, headers=self.headers
        )
        assert response.status_code == status, response.text
        return response.json()["results"] if status == 200 else response.json()


async def server_state(uow_factory: Callable[[], UnitOfWork], user: User) -> State:
    """What ``user``'s device must hold: their sync scope as the database has it now."""
    async with uow_factory() as uow:
        stored = await uow.users.get_unscoped(user.id)
        assert stored is not None
        scope = SyncScope.of(await auth_service.build_principal_in(uow, stored))
        stmt = select(Customer).where(Customer.deleted_at.is_(None))
        clause = customer_sync_clause(scope)
        customers = list((await uow.session.scalars(stmt if clause is None else stmt.where(clause))).all())
        ids = [c.id for c in customers]
        state: State = {"customer": {str(c.id): _data("customer", c) for c in customers}}
        for entity, model in (("contact", Contact), ("activity", Activity), ("task", Task)):
            rows = (
                (
                    await uow.session.scalars(
                        select(model).where(model.customer_id.in_(ids), model.deleted_at.is_(None))
                    )
                ).all()
                if ids
                else []
            )
            if entity == "contact":
                from app.services.customers import contact_view

                rows = [contact_view(r, masked=False) for r in rows]
            state[entity] = {str(r.id): _data(entity, r) for r in rows}
        stmt = select(Task).where(Task.customer_id.is_(None), Task.deleted_at.is_(None))
        clause = loose_task_clause(scope)
        for task in (await uow.session.scalars(stmt if clause is None else stmt.where(clause))).all():
            state["task"][str(task.id)] = _data("task", task)
        return state


def assert_same_state(device: Device, expected: State) -> None:
    for entity in ENTITIES:
        held, wanted = device.records[entity], expected[entity]
        assert set(held) == set(wanted), (entity, set(held) ^ set(wanted))
        for rid, data in wanted.items():
            assert held[rid] == data, (entity, rid, held[rid], data)

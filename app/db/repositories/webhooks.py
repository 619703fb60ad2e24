"""Webhooks: endpoints, the outbox, claiming due deliveries, and the attempt log."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.changes import Event
from app.db.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from app.db.repositories.pagination import Page, paginate
from app.domain.roles import Principal, Role


class WebhookRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- endpoints ---------------------------------------------------------------------

    def visible_to(self, principal: Principal) -> Select[tuple[WebhookEndpoint]]:
        """Admins see every endpoint; a service account only the ones it created."""
        stmt = select(WebhookEndpoint)
        if principal.role is not Role.admin:
            stmt = stmt.where(WebhookEndpoint.created_by == principal.user_id)
        return stmt

    def add(self, record: Any) -> None:
        self.session.add(record)

    async def get(
        self, endpoint_id: uuid.UUID, *, principal: Principal, for_update: bool = False
    ) -> WebhookEndpoint | None:
        stmt = self.visible_to(principal).where(WebhookEndpoint.id == endpoint_id)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def list(self, principal: Principal, *, cursor: str | None, limit: int) -> Page[WebhookEndpoint]:
        return await paginate(
            self.session,
            self.visible_to(principal),
            sort="created_at",
            keys=[WebhookEndpoint.created_at, WebhookEndpoint.id],
            key_of=lambda e: (e.created_at, e.id),
            cursor=cursor,
            limit=limit,
        )

    async def delete(self, endpoint: WebhookEndpoint) -> None:
        await self.session.delete(endpoint)

    # --- the outbox --------------------------------------------------------------------

    async def enqueue(self, events: Sequence[Event], *, at: dt.datetime) -> int:
        """Write each event with a subscriber, and one pending delivery per subscriber, in
        the committing transaction; answers how many deliveries were queued."""
        endpoints = (
            await self.session.execute(
                select(WebhookEndpoint.id, WebhookEndpoint.events).where(WebhookEndpoint.is_active)
            )
        ).all()
        if not endpoints:
            return 0
        event_rows, delivery_rows = [], []
        for event in events:
            subscribers = [eid for eid, types in endpoints if event.type in types]
            if not subscribers:
                continue
            event_id = uuid.uuid4()
            event_rows.append({"id": event_id, "type": event.type, "data": event.data, "created_at": at})
            delivery_rows += [
                {
                    "id": uuid.uuid4(),
                    "endpoint_id": eid,
                    "event_id": event_id,
                    "event_type": event.type,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": at,
                    "created_at": at,
                }
                for eid in subscribers
            ]
        if event_rows:
            await self.session.execute(WebhookEvent.__table__.insert(), event_rows)
            await self.session.execute(WebhookDelivery.__table__.insert(), delivery_rows)
        return len(delivery_rows)

    async def enqueue_one(
        self, endpoint_id: uuid.UUID, event_type: str, data: dict[str, Any], *, at: dt.datetime
    ) -> WebhookDelivery:
        event = WebhookEvent(id=uuid.uuid4(), type=event_type, data=data, created_at=at)
        self.session.add(event)
        await self.session.flush()  # no relationship orders the two inserts: the event first
        delivery = WebhookDelivery(
            id=uuid.uuid4(),
            endpoint_id=endpoint_id,
            event_id=event.id,
            event_type=event_type,
            status="pending",
            attempts=0,
            next_attempt_at=at,
            created_at=at,
        )
        self.session.add(delivery)
        return delivery

    # --- deliveries --------------------------------------------------------------------

    async def claim(self, *, now: dt.datetime, lease_until: dt.datetime, limit: int) -> list[uuid.UUID]:
        """Take up to ``limit`` due deliveries of active endpoints by moving their next attempt
        to ``lease_until``. On PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets several workers claim
        at once without taking the same rows; on SQLite writers are serialised anyway."""
        due = (
            select(WebhookDelivery.id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
                WebhookEndpoint.is_active,
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )
        if self.session.bind.dialect.name == "postgresql":  # type: ignore[union-attr]
            due = due.with_for_update(of=WebhookDelivery, skip_locked=True)
        ids = list((await self.session.scalars(due)).all())
        if ids:
            await self.session.execute(
                update(WebhookDelivery).where(WebhookDelivery.id.in_(ids)).values(next_attempt_at=lease_until)
            )
        return ids

    async def for_sending(self, delivery_ids: Sequence[uuid.UUID]) -> list[tuple[Any, Any, Any]]:
        """(delivery, event, endpoint) of each claimed delivery."""
        stmt = (
            select(WebhookDelivery, WebhookEvent, WebhookEndpoint)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.id.in_(list(delivery_ids)))
        )
        return [tuple(row) for row in (await self.session.execute(stmt)).all()]

    async def delivery(
        self, delivery_id: uuid.UUID, *, endpoint_id: uuid.UUID, for_update: bool = False
    ) -> WebhookDelivery | None:
        stmt = select(WebhookDelivery).where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint_id
        )
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def lock_delivery(self, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        return await self.session.scalar(
            select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
        )

    # An endpoint's health changes rarely, so each outcome writes the row only when it
    # changes it: attempts to one endpoint do not queue behind its row lock.

    async def endpoint_recovered(self, endpoint_id: uuid.UUID) -> None:
        await self.session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_not(None))
            .values(failing_since=None)
        )

    async def endpoint_failed(self, endpoint_id: uuid.UUID, *, now: dt.datetime) -> None:
        await self.session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_(None))
            .values(failing_since=now)
        )

    async def disable_if_failing_since(
        self, endpoint_id: uuid.UUID, *, before: dt.datetime, reason: str
    ) -> WebhookEndpoint | None:
        """Switch the endpoint off if it has failed everything since ``before``; answers it
        when this call switched it off."""
        result = await self.session.execute(
            update(WebhookEndpoint)
            .where(
                WebhookEndpoint.id == endpoint_id,
                WebhookEndpoint.is_active,
                WebhookEndpoint.failing_since <= before,
            )
            .values(is_active=False, disabled_reason=reason, version=WebhookEndpoint.version + 1)
            .returning(WebhookEndpoint.id, WebhookEndpoint.created_by, WebhookEndpoint.url)
        )
        return result.first()  # type: ignore[return-value]

    async def deliveries(
        self, endpoint_id: uuid.UUID, *, status: str | None, cursor: str | None, limit: int
    ) -> Page[WebhookDelivery]:
        stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
        if status is not None:
            stmt = stmt.where(WebhookDelivery.status == status)
        return await paginate(
            self.session,
            stmt,
            sort="-created_at",
            keys=[WebhookDelivery.created_at, WebhookDelivery.id],
            key_of=lambda d: (d.created_at, d.id),
            cursor=cursor,
            limit=limit,
            direction="desc",
        )

    async def attempts_of(self, delivery_ids: Sequence[uuid.UUID]) -> list[WebhookAttempt]:
        if not delivery_ids:
            return []
        stmt = (
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(list(delivery_ids)))
            .order_by(WebhookAttempt.attempted_at, WebhookAttempt.id)
        )
        return list((await self.session.scalars(stmt)).all())

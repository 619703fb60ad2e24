"""Pool queries: ownership events, taking from and returning to the pool (lapsed customers,
ended cooldowns), assignment rankings and capacity, and the owner's worklist rows."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.changes import note_changed
from app.db.models import Activity, Customer, OwnershipEvent, Receivable, StageTransition, Task, User
from app.domain.funnel import ACTIVE_STAGES, Stage

_ACTIVE = [s.value for s in ACTIVE_STAGES]


class PoolRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def move_events(self, *, from_customer: uuid.UUID, to_customer: uuid.UUID) -> int:
        """Hand a merged-away customer's ownership events to the one it merged into."""
        result = await self.session.execute(
            update(OwnershipEvent)
            .where(OwnershipEvent.customer_id == from_customer)
            .values(customer_id=to_customer)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount  # type: ignore[attr-defined,no-any-return]

    def record_ownership(
        self,
        *,
        customer_id: uuid.UUID,
        event: str,
        from_owner_id: uuid.UUID | None,
        to_owner_id: uuid.UUID | None,
        actor_id: uuid.UUID | None,
        reason: str | None,
        at: dt.datetime,
    ) -> None:
        self.session.add(
            OwnershipEvent(
                customer_id=customer_id,
                event=event,
                from_owner_id=from_owner_id,
                to_owner_id=to_owner_id,
                actor_id=actor_id,
                reason=reason,
                at=at,
            )
        )

    async def losses(
        self,
        customer_ids: Sequence[uuid.UUID],
        *,
        events: Iterable[str],
        since: dt.datetime,
        user_ids: Sequence[uuid.UUID] | None = None,
    ) -> dict[tuple[uuid.UUID, uuid.UUID], dt.datetime]:
        """The latest time each (customer, former owner) pair lost the customer through one of
        ``events`` after ``since``: what the reclaim block is computed from."""
        if not customer_ids:
            return {}
        stmt = (
            select(OwnershipEvent.customer_id, OwnershipEvent.from_owner_id, func.max(OwnershipEvent.at))
            .where(
                OwnershipEvent.customer_id.in_(list(customer_ids)),
                OwnershipEvent.event.in_(list(events)),
                OwnershipEvent.from_owner_id.is_not(None),
                OwnershipEvent.at > since,
            )
            .group_by(OwnershipEvent.customer_id, OwnershipEvent.from_owner_id)
        )
        if user_ids is not None:
            stmt = stmt.where(OwnershipEvent.from_owner_id.in_(list(user_ids)))
        return {(customer, owner): at for customer, owner, at in (await self.session.execute(stmt)).all()}

    async def taken_from_pool_since(self, customer_id: uuid.UUID, *, since: dt.datetime) -> bool:
        """Whether someone took the customer out of the pool at or after ``since``."""
        stmt = (
            select(OwnershipEvent.id)
            .where(
                OwnershipEvent.customer_id == customer_id,
                OwnershipEvent.from_owner_id.is_(None),
                OwnershipEvent.to_owner_id.is_not(None),
                OwnershipEvent.at >= since,
            )
            .limit(1)
        )
        return await self.session.scalar(stmt) is not None

    async def last_owner(self, customer_id: uuid.UUID) -> User | None:
        """The user who held the customer last (released, lapsed, abandoned, handed over)."""
        stmt = (
            select(User)
            .join(OwnershipEvent, OwnershipEvent.from_owner_id == User.id)
            .where(OwnershipEvent.customer_id == customer_id)
            .order_by(OwnershipEvent.at.desc(), OwnershipEvent.id.desc())
            .limit(1)
        )
        return await self.session.scalar(stmt)

    async def take_from_pool(
        self,
        customer_id: uuid.UUID,
        *,
        owner_id: uuid.UUID,
        team_id: uuid.UUID | None,
        now: dt.datetime,
        ignore_cooldown: bool = False,
    ) -> bool:
        """Give a pool customer an owner, if it is still unowned (and cooled): the race decider."""
        conditions = [Customer.id == customer_id, Customer.owner_id.is_(None), Customer.deleted_at.is_(None)]
        if not ignore_cooldown:
            conditions.append(or_(Customer.cooldown_until.is_(None), Customer.cooldown_until <= now))
        result = await self.session.execute(
            update(Customer)
            .where(*conditions)
            .values(owner_id=owner_id, team_id=team_id, claimed_at=now, version=Customer.version + 1)
            .execution_options(synchronize_session=False)
        )
        taken = result.rowcount == 1  # type: ignore[attr-defined]
        if taken:
            note_changed(self.session, "customer", [customer_id], event="customer.owner_changed")
        return taken

    async def pool_candidates(
        self,
        *,
        now: dt.datetime,
        customer_ids: Sequence[uuid.UUID] | None,
        limit: int,
        ignore_cooldown: bool = False,
    ) -> list[Customer]:
        """Claimable pool customers (unowned, live, not abandoned, cooled), best grade first."""
        stmt = select(Customer).where(
            Customer.owner_id.is_(None),
            Customer.deleted_at.is_(None),
            Customer.stage != Stage.abandoned.value,
        )
        if not ignore_cooldown:
            stmt = stmt.where(or_(Customer.cooldown_until.is_(None), Customer.cooldown_until <= now))
        if customer_ids is not None:
            stmt = stmt.where(Customer.id.in_(list(customer_ids)))
        grade_order = func.coalesce(Customer.grade, "Z")
        stmt = stmt.order_by(grade_order, Customer.created_at, Customer.id).limit(limit)
        return list((await self.session.scalars(stmt)).all())

    async def lapsed(self, *, cutoff: dt.datetime, limit: int) -> list[Customer]:
        """Owned active customers whose last contact and claim are both older than ``cutoff``;
        rows another process is already moving are skipped (PostgreSQL SKIP LOCKED)."""
        stmt = (
            select(Customer)
            .where(
                Customer.owner_id.is_not(None),
                Customer.deleted_at.is_(None),
                Customer.stage.in_(_ACTIVE),
                or_(Customer.last_contact_at.is_not(None), Customer.claimed_at.is_not(None)),
                or_(Customer.last_contact_at.is_(None), Customer.last_contact_at < cutoff),
                or_(Customer.claimed_at.is_(None), Customer.claimed_at < cutoff),
            )
            .order_by(Customer.id)
            .limit(limit)
            .with_for_update(skip_locked=True, key_share=True)
        )
        return list((await self.session.scalars(stmt)).all())

    async def cooldowns_ended(self, *, now: dt.datetime, limit: int) -> list[Customer]:
        stmt = (
            select(Customer)
            .where(
                Customer.cooldown_until.is_not(None),
                Customer.cooldown_until <= now,
                Customer.deleted_at.is_(None),
            )
            .order_by(Customer.id)
            .limit(limit)
            .with_for_update(skip_locked=True, key_share=True)
        )
        return list((await self.session.scalars(stmt)).all())

    async def owned_by(self, user_id: uuid.UUID) -> list[Customer]:
        stmt = (
            select(Customer)
            .where(Customer.owner_id == user_id, Customer.deleted_at.is_(None))
            .order_by(Customer.id)
            .with_for_update(key_share=True)
        )
        return list((await self.session.scalars(stmt)).all())

    # --- rankings and capacity (fat-man principle) -----------------------------------------

    async def assignable_users(
        self,
        *,
        team_ids: Sequence[uuid.UUID] | None,
        user_ids: Sequence[uuid.UUID] | None,
        exclude: uuid.UUID | None = None,
        roles: Sequence[str] = ("rep",),
    ) -> list[User]:
        stmt = select(User).where(User.is_active.is_(True), User.role.in_(list(roles)))
        if team_ids is not None:
            stmt = stmt.where(User.team_id.in_(list(team_ids)))
        if user_ids is not None:
            stmt = stmt.where(User.id.in_(list(user_ids)))
        if exclude is not None:
            stmt = stmt.where(User.id != exclude)
        return list((await self.session.scalars(stmt.order_by(User.id))).all())

    async def active_counts_by_stage(self, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
        """Active customers each user holds, per stage (the ideal holding per stage)."""
        if not user_ids:
            return {}
        stmt = (
            select(Customer.owner_id, Customer.stage, func.count())
            .where(
                Customer.owner_id.in_(list(user_ids)),
                Customer.deleted_at.is_(None),
                Customer.stage.in_(_ACTIVE),
            )
            .group_by(Customer.owner_id, Customer.stage)
        )
        counts: dict[uuid.UUID, dict[str, int]] = {}
        for owner, stage, n in (await self.session.execute(stmt)).all():
            counts.setdefault(owner, {})[stage] = int(n)
        return counts

    # --- worklist ---------------------------------------------------------------------------

    async def worklist_rows(
        self,
        *,
        owner_id: uuid.UUID | None = None,
        team_ids: Sequence[uuid.UUID] | None = None,
        now: dt.datetime,
        overdue_before: dt.datetime,
    ) -> list[tuple[Customer, Any, Any, int, bool]]:
        """The customers of one owner (or of every owner in ``team_ids``) with their latest
        follow-up time, the last transition's days in the previous stage, how many of their
        receivables are overdue (due before ``overdue_before``), and whether an open task on
        them is due."""
        follow_up = (
            select(func.max(Activity.next_follow_up_at))
            .where(Activity.customer_id == Customer.id, Activity.deleted_at.is_(None))
            .correlate(Customer)
            .scalar_subquery()
        )
        previous_days = (
            select(StageTransition.days_in_from_stage)
            .where(StageTransition.customer_id == Customer.id, StageTransition.to_stage == Customer.stage)
            .order_by(StageTransition.at.desc())
            .limit(1)
            .correlate(Customer)
            .scalar_subquery()
        )
        overdue = (
            select(func.count(Receivable.id))
            .where(
                Receivable.customer_id == Customer.id,
                Receivable.written_off_at.is_(None),
                Receivable.amount > Receivable.paid_amount,
                Receivable.due_at < overdue_before,
            )
            .correlate(Customer)
            .scalar_subquery()
        )
        task_due = (
            select(Task.id)
            .where(
                Task.customer_id == Customer.id,
                Task.status == "open",
                Task.deleted_at.is_(None),
                Task.due_at <= now,
            )
            .correlate(Customer)
            .exists()
        )
        stmt = select(Customer, follow_up, previous_days, overdue, task_due).where(
            Customer.deleted_at.is_(None)
        )
        if owner_id is not None:
            stmt = stmt.where(Customer.owner_id == owner_id)
        if team_ids is not None:
            stmt = stmt.where(Customer.owner_id.is_not(None), Customer.team_id.in_(list(team_ids)))
        return [tuple(row) for row in (await self.session.execute(stmt)).all()]  # type: ignore[misc]


__all__ = ["PoolRepository"]

"""Funnel queries: stage transitions and abandonment reviews."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import AbandonmentReview, StageTransition
from app.db.repositories.pagination import Page, paginate


class FunnelRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add_transition(self, transition: StageTransition) -> None:
        self.session.add(transition)

    async def transitions(
        self, customer_id: uuid.UUID, *, cursor: str | None, limit: int
    ) -> Page[StageTransition]:
        stmt = select(StageTransition).where(StageTransition.customer_id == customer_id)
        return await paginate(
            self.session,
            stmt,
            sort="at",
            keys=[StageTransition.at, StageTransition.id],
            key_of=lambda t: [t.at, t.id],
            cursor=cursor,
            limit=limit,
        )

    async def last_transition(
        self, customer_id: uuid.UUID, *, to_stage: str | None = None
    ) -> StageTransition | None:
        stmt = select(StageTransition).where(StageTransition.customer_id == customer_id)
        if to_stage is not None:
            stmt = stmt.where(StageTransition.to_stage == to_stage)
        stmt = stmt.order_by(StageTransition.at.desc(), StageTransition.id.desc()).limit(1)
        return await self.session.scalar(stmt)

    async def reviews_for(self, transition_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, AbandonmentReview]:
        if not transition_ids:
            return {}
        rows = await self.session.scalars(
            select(AbandonmentReview).where(AbandonmentReview.transition_id.in_(list(transition_ids)))
        )
        return {r.transition_id: r for r in rows}

    def add_review(self, review: AbandonmentReview) -> None:
        self.session.add(review)

    async def move_all(self, *, from_customer: uuid.UUID, to_customer: uuid.UUID) -> int:
        """Hand a merged-away customer's transitions and reviews to the one it merged into."""
        moved = 0
        for model in (StageTransition, AbandonmentReview):
            result = await self.session.execute(
                update(model)
                .where(model.customer_id == from_customer)
                .values(customer_id=to_customer)
                .execution_options(synchronize_session=False)
            )
            moved += result.rowcount  # type: ignore[attr-defined]
        return moved


__all__ = ["FunnelRepository"]

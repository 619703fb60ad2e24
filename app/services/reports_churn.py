"""Churn risk (流失预警, SPEC §8): trading customers of the caller's scope whose contracts are
overdue against their own rhythm or whose activity dropped, most valuable first."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

from app.db.base import utcnow
from app.db.repositories.pagination import Page, decode_cursor, encode_cursor
from app.db.uow import UnitOfWork
from app.domain.reports import ACTIVITY_WINDOW, ChurnRisk, churn_risk
from app.domain.roles import Principal
from app.services import settings as settings_service
from app.services.reports_funnel import resolve_subject_in

_SORT = "churn"
_BATCH = 200
# Candidates examined per request at most: a page may hold fewer items than asked for
# (then next_cursor goes on from where the examination stopped).
_MAX_EXAMINED = 5_000


@dataclass(frozen=True, kw_only=True, slots=True)
class AtRisk:
    customer_id: uuid.UUID
    name: str
    owner_id: uuid.UUID | None
    value: Decimal
    risk: ChurnRisk


async def churn_risk_list(
    uow: UnitOfWork,
    actor: Principal,
    *,
    team_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
    now: dt.datetime | None = None,
) -> Page[AtRisk]:
    now = now or utcnow()
    after = None
    if cursor is not None:
        value, last_id = decode_cursor(cursor, _SORT, 2)
        after = (Decimal(value), uuid.UUID(last_id))
    async with uow:
        subject = await resolve_subject_in(uow, actor, team_id=team_id, owner_id=owner_id)
        policy = await settings_service.anomaly_policy_in(uow)
        items: list[AtRisk] = []
        examined = 0
        while len(items) < limit and examined < _MAX_EXAMINED:
            batch = await uow.reports.churn_candidates(
                owner_ids=subject.owner_ids, team_ids=subject.team_ids, after=after, limit=_BATCH
            )
            if not batch:
                return Page(items=items, next_cursor=None)
            ids = [row[0] for row in batch]
            signings = await uow.reports.signings(ids)
            activity = await uow.reports.activity_windows(ids, now=now, window=ACTIVITY_WINDOW)
            for customer_id, name, owner, value in batch:
                examined += 1
                after = (value, customer_id)
                recent, earlier = activity.get(customer_id, (0, 0))
                risk = churn_risk(
                    signings.get(customer_id, []),
                    recent_activities=recent,
                    earlier_activities=earlier,
                    now=now,
                    policy=policy,
                )
                if risk is not None:
                    items.append(
                        AtRisk(customer_id=customer_id, name=name, owner_id=owner, value=value, risk=risk)
                    )
                    if len(items) == limit:
                        break
            if len(batch) < _BATCH and (len(items) < limit or after == (batch[-1][3], batch[-1][0])):
                return Page(items=items, next_cursor=None)
        assert after is not None
        return Page(items=items, next_cursor=encode_cursor(_SORT, [str(after[0]), str(after[1])]))

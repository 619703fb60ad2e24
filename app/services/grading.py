"""Use cases for customer grading: the initial suggestion, the trading scorecard for one
customer or all of them (in chunks), and the explanation of every grade."""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from app.db.base import utcnow
from app.db.models import CustomerGrading
from app.db.repositories.grading import TradingRow
from app.db.uow import UnitOfWork
from app.domain.grading import (
    GradeSuggestion,
    GradingPolicy,
    Scorecard,
    TradingFacts,
    grade_change,
    score_customer,
    suggest_initial_grade,
)
from app.domain.roles import Principal
from app.services import settings as settings_service
from app.services.common import found, jsonable

CHUNK = 2000
# A drop within this many days shows as a credit warning.
DROP_WARNING_DAYS = 90


@dataclass(frozen=True, slots=True)
class GradeView:
    customer_id: uuid.UUID
    grade: str | None
    current: CustomerGrading | None
    history: list[CustomerGrading]
    suggestion: GradeSuggestion
    policy_version: int


@dataclass(frozen=True, slots=True)
class BatchResult:
    scored: int
    ineligible: int
    up: int
    down: int
    same: int
    new: int
    policy_version: int
    as_of: dt.datetime


def _months_back(moment: dt.datetime, months: int) -> dt.datetime:
    month_index = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(month_index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _facts(row: TradingRow, *, as_of: dt.datetime) -> TradingFacts:
    return TradingFacts(
        signed_amount=row.signed_amount,
        billed=row.billed,
        paid=row.paid,
        outstanding_at_period_end=row.outstanding,
        first_trading_date=row.first_signed_at.date() if row.first_signed_at else None,
        as_of=as_of.date(),
    )


def _stored(
    card: Scorecard,
    *,
    customer_id: uuid.UUID,
    previous: str | None,
    at: dt.datetime,
    actor_id: uuid.UUID | None,
) -> dict[str, Any]:
    new_grade = card.grade if card.eligible else previous
    return {
        "id": uuid.uuid4(),
        "customer_id": customer_id,
        "at": at,
        "eligible": card.eligible,
        "grade": new_grade,
        "previous_grade": previous,
        "change": grade_change(previous, new_grade) if card.eligible else "same",
        "total": card.total,
        "factors": [
            {"factor": f.factor, "value": jsonable(f.value), "score": f.score, "band": f.band}
            for f in card.factors
        ],
        "inputs": {
            "signed_amount": str(card.inputs.signed_amount),
            "billed": str(card.inputs.billed),
            "paid": str(card.inputs.paid),
            "outstanding_at_period_end": str(card.inputs.outstanding_at_period_end),
            "first_trading_date": jsonable(
                card.inputs.first_trading_date and card.inputs.first_trading_date.isoformat()
            ),
            "as_of": card.inputs.as_of.isoformat(),
        },
        "reasons": list(card.reasons),
        "policy_version": card.policy_version,
        "actor_id": actor_id,
    }


def _same_as(latest: CustomerGrading | None, row: dict[str, Any]) -> bool:
    """A re-run that changes nothing stores nothing: batches are idempotent."""
    return latest is not None and all(
        getattr(latest, k) == row[k] for k in ("eligible", "grade", "total", "policy_version", "factors")
    )


async def _score_chunk(
    uow: UnitOfWork,
    customer_ids: list[uuid.UUID],
    *,
    policy: GradingPolicy,
    as_of: dt.datetime,
    actor_id: uuid.UUID | None,
    counts: dict[str, int],
) -> list[dict[str, Any]]:
    since = _months_back(as_of, policy.trailing_months)
    rows = await uow.grading.trading_facts(customer_ids, since=since, until=as_of)
    latest = await uow.grading.latest(customer_ids)
    stored, new_grades = [], {}
    for row in rows:
        card = score_customer(_facts(row, as_of=as_of), policy)
        record = _stored(card, customer_id=row.customer_id, previous=row.grade, at=as_of, actor_id=actor_id)
        counts["scored" if card.eligible else "ineligible"] += 1
        counts[record["change"]] += 1
        if _same_as(latest.get(row.customer_id), record):
            continue
        stored.append(record)
        if card.eligible and record["grade"] != row.grade:
            new_grades[row.customer_id] = record["grade"]
    await uow.grading.add_many(stored)
    await uow.grading.set_grades(new_grades, now=as_of)
    for record in stored:
        if record["customer_id"] in new_grades:
            uow.history.record(
                customer_id=record["customer_id"],
                actor_id=actor_id,
                action="regrade",
                at=as_of,
                changes={
                    "grade": [record["previous_grade"], record["grade"]],
                    "total": [None, record["total"]],
                },
            )
    return stored


async def run_batch(uow: UnitOfWork, actor: Principal | None) -> BatchResult:
    """Re-score every trading customer, a chunk per transaction; answer the counts."""
    now = utcnow()
    counts = {"scored": 0, "ineligible": 0, "up": 0, "down": 0, "same": 0, "new": 0}
    after: uuid.UUID | None = None
    policy: GradingPolicy | None = None
    while True:
        async with uow:
            policy = policy or await settings_service.grading_policy_in(uow)
            ids = await uow.grading.trading_customer_ids(after=after, limit=CHUNK)
            if not ids:
                break
            await _score_chunk(
                uow, ids, policy=policy, as_of=now, actor_id=actor.user_id if actor else None, counts=counts
            )
            await uow.commit()
            after = ids[-1]
    return BatchResult(policy_version=policy.version if policy else 1, as_of=now, **counts)


async def regrade(uow: UnitOfWork, actor: Principal, *, customer_id: uuid.UUID) -> GradeView:
    """Score one customer now (its stored grading changes only when something changed) and
    answer its grade view, all in one transaction."""
    now = utcnow()
    counts = {"scored": 0, "ineligible": 0, "up": 0, "down": 0, "same": 0, "new": 0}
    async with uow:
        found(await uow.customers.get(customer_id, principal=actor, for_update=True), "Customer")
        policy = await settings_service.grading_policy_in(uow)
        stored = await _score_chunk(
            uow, [customer_id], policy=policy, as_of=now, actor_id=actor.user_id, counts=counts
        )
        if not stored:
            # Score it even without trading so the caller sees why it keeps its grade.
            rows = await uow.grading.trading_facts(
                [customer_id], since=_months_back(now, policy.trailing_months), until=now
            )
            latest = (await uow.grading.latest([customer_id])).get(customer_id)
            record = _stored(
                score_customer(_facts(rows[0], as_of=now), policy),
                customer_id=customer_id,
                previous=rows[0].grade,
                at=now,
                actor_id=actor.user_id,
            )
            if not _same_as(latest, record):
                await uow.grading.add_many([record])
        view = await _grade_view_in(uow, actor, customer_id)
        await uow.commit()
        return view


async def get_grade(uow: UnitOfWork, actor: Principal, *, customer_id: uuid.UUID) -> GradeView:
    async with uow:
        return await _grade_view_in(uow, actor, customer_id)


async def _grade_view_in(uow: UnitOfWork, actor: Principal, customer_id: uuid.UUID) -> GradeView:
    customer = found(await uow.customers.get(customer_id, principal=actor), "Customer")
    history = await uow.grading.history(customer_id)
    contacts = await uow.contacts.for_customer(customer.id)
    suggestion = suggest_initial_grade(
        size=customer.size,
        source=customer.source,
        is_trial_user="trial" in customer.tags,
        has_verified_contact=any(c.phones or c.emails for c in contacts),
        has_fitting_product=bool(customer.recommended_products),
    )
    policy = await settings_service.grading_policy_in(uow)
    return GradeView(
        customer_id=customer.id,
        grade=customer.grade,
        current=history[0] if history else None,
        history=history,
        suggestion=suggestion,
        policy_version=policy.version,
    )


async def recent_drop_in(uow: UnitOfWork, customer_id: uuid.UUID) -> bool:
    """Whether the customer's grade dropped lately (a credit warning). Inside a unit of work."""
    return await uow.grading.recent_drop(customer_id, since=utcnow() - dt.timedelta(days=DROP_WARNING_DAYS))

"""Use cases for satisfaction surveys (SPEC §10), and the service figures (complaints
responded to on time, CSAT average, NPS) that feed the performance report (§9)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from typing import Any

from app.db.base import utcnow
from app.db.models import Survey
from app.db.repositories.pagination import Page
from app.db.repositories.service import GroupBy, SurveyFilters, SurveySort
from app.db.uow import UnitOfWork
from app.domain.errors import Forbidden, InvalidInput
from app.domain.roles import Principal, Role
from app.domain.service import (
    ServiceCounts,
    ServiceFigures,
    SurveyKind,
    service_counts,
    service_figures_of,
    validate_score,
)
from app.services.common import found
from app.services.complaints import COMPLAINT_WRITERS

# Who records survey answers: those who work on complaints.
SURVEY_WRITERS = COMPLAINT_WRITERS


def _other_customer(field: str) -> InvalidInput:
    return InvalidInput(
        f"The {field.removesuffix('_id')} belongs to another customer",
        errors=[{"loc": ["body", field], "msg": "not on this customer", "type": "value_error"}],
    )


async def list_surveys(
    uow: UnitOfWork,
    actor: Principal,
    *,
    filters: SurveyFilters,
    sort: SurveySort,
    cursor: str | None,
    limit: int,
) -> Page[Survey]:
    async with uow:
        return await uow.surveys.list(actor, filters, sort=sort, cursor=cursor, limit=limit)


async def create_survey(
    uow: UnitOfWork, actor: Principal, *, values: dict[str, Any], now: dt.datetime | None = None
) -> Survey:
    """Record one answer: csat 1–5 or nps 0–10, optionally for a complaint or a contract of
    the same customer."""
    if actor.role not in SURVEY_WRITERS:
        raise Forbidden("Your role does not record surveys")
    now = now or utcnow()
    values = dict(values)
    validate_score(SurveyKind(values["kind"]), values["score"])
    async with uow:
        customer = found(await uow.customers.get(values["customer_id"], principal=actor), "Customer")
        if actor.role is Role.rep and customer.owner_id != actor.user_id:
            raise Forbidden("Reps record surveys of their own customers only")
        if values.get("complaint_id") is not None:
            complaint = found(await uow.complaints.get(values["complaint_id"], principal=actor), "Complaint")
            if complaint.customer_id != customer.id:
                raise _other_customer("complaint_id")
        if values.get("contract_id") is not None:
            contract = found(await uow.contracts.get(values["contract_id"], principal=actor), "Contract")
            if contract.customer_id != customer.id:
                raise _other_customer("contract_id")
        survey = Survey(id=uuid.uuid4(), created_by=actor.user_id, created_at=now, **values)
        uow.surveys.add(survey)
        await uow.flush()
        uow.history.record(
            customer_id=customer.id,
            actor_id=actor.user_id,
            action="survey_create",
            entity="survey",
            entity_id=survey.id,
            at=now,
            changes={"kind": [None, survey.kind], "score": [None, survey.score]},
        )
        await uow.commit()
        return survey


async def service_counts_in(
    uow: UnitOfWork, *, start: dt.datetime, end: dt.datetime, group_by: GroupBy
) -> dict[uuid.UUID | None, ServiceCounts]:
    """Per owner (or team) of the customer: the counts of the complaints opened in
    ``[start, end)`` and of the survey answers given then; they add up over owners and teams.
    ``None`` groups the pool's customers."""
    complaints: dict[uuid.UUID | None, list[tuple[dt.datetime | None, dt.datetime]]] = defaultdict(list)
    scores: dict[uuid.UUID | None, dict[str, list[int]]] = defaultdict(lambda: {"csat": [], "nps": []})
    for key, responded_at, respond_by in await uow.complaints.opened_between(
        start=start, end=end, group_by=group_by
    ):
        complaints[key].append((responded_at, respond_by))
    for key, kind, score in await uow.surveys.answered_between(start=start, end=end, group_by=group_by):
        scores[key][kind].append(score)
    return {
        key: service_counts(
            complaints=complaints.get(key, []), csat_scores=scores[key]["csat"], nps_scores=scores[key]["nps"]
        )
        for key in set(complaints) | set(scores)
    }


async def service_figures_in(
    uow: UnitOfWork, *, start: dt.datetime, end: dt.datetime, group_by: GroupBy
) -> dict[uuid.UUID | None, ServiceFigures]:
    """Per owner (or team) of the customer: complaints opened in ``[start, end)`` and how many
    were responded to on time, the CSAT average and the NPS of the answers given then."""
    counts = await service_counts_in(uow, start=start, end=end, group_by=group_by)
    return {key: service_figures_of(c) for key, c in counts.items()}

"""Satisfaction surveys (SPEC §10): csat 1–5 or nps 0–10 answers, per customer."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Response, status

from app.domain import errors
from app.domain.roles import Principal
from app.domain.service import SurveyKind
from app.routers.deps import Caller, Cursor, Limit, UoW, allow
from app.routers.problems import IDEMPOTENT, PAGED, WRITES, responses
from app.routers.schemas.common import Page, UtcDateTime
from app.routers.schemas.service import SurveyCreate, SurveyRead
from app.services import surveys as surveys_service

router = APIRouter(prefix="/surveys", tags=["service"])

Recorder = Annotated[Principal, allow(*surveys_service.SURVEY_WRITERS)]


@router.get("", operation_id="surveys_list", response_model=Page[SurveyRead], responses=responses(*PAGED))
async def list_surveys(
    actor: Caller,
    uow: UoW,
    cursor: Cursor = None,
    limit: Limit = 50,
    customer_id: uuid.UUID | None = None,
    kind: SurveyKind | None = None,
    complaint_id: uuid.UUID | None = None,
    contract_id: uuid.UUID | None = None,
    created_from: UtcDateTime | None = None,
    created_to: UtcDateTime | None = None,
    sort: Literal["created_at", "-created_at"] = "-created_at",
) -> Page[SurveyRead]:
    """Survey answers in the caller's scope (as for complaints), newest first."""
    filters = surveys_service.SurveyFilters(
        customer_id=customer_id,
        kind=kind,
        complaint_id=complaint_id,
        contract_id=contract_id,
        created_from=created_from,
        created_to=created_to,
    )
    page = await surveys_service.list_surveys(
        uow, actor, filters=filters, sort=sort, cursor=cursor, limit=limit
    )
    return Page[SurveyRead](
        items=[SurveyRead.model_validate(s) for s in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "",
    operation_id="surveys_create",
    response_model=SurveyRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(errors.NotFound, errors.Forbidden, *IDEMPOTENT, *WRITES),
)
async def create_survey(body: SurveyCreate, actor: Recorder, uow: UoW, response: Response) -> SurveyRead:
    """Record an answer; a score outside its kind's range (csat 1–5, nps 0–10) answers 422."""
    survey = await surveys_service.create_survey(uow, actor, values=body.model_dump())
    response.headers["Location"] = f"/api/v1/surveys?customer_id={survey.customer_id}"
    return SurveyRead.model_validate(survey)

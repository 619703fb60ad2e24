"""Customer grading: the explained grade of a customer, re-scoring, and the batch run."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter

from app.domain import errors
from app.domain.roles import Principal, Role
from app.routers.deps import Caller, UoW, allow
from app.routers.problems import IDEMPOTENT, WRITES, responses
from app.routers.schemas.grading import BatchRead, GradeRead, grade_read
from app.services import grading as grading_service

router = APIRouter(tags=["grading"])

BatchRunner = Annotated[Principal, allow(Role.director, Role.admin, Role.finance)]


@router.get(
    "/customers/{customer_id}/grade",
    operation_id="customers_grade_get",
    response_model=GradeRead,
    responses=responses(errors.NotFound),
)
async def get_grade(customer_id: uuid.UUID, actor: Caller, uow: UoW) -> GradeRead:
    """The customer's grade with its scorecard breakdown, earlier gradings, and the
    initial-grade suggestion from its profile."""
    return grade_read(await grading_service.get_grade(uow, actor, customer_id=customer_id))


@router.post(
    "/customers/{customer_id}/grade",
    operation_id="customers_grade",
    response_model=GradeRead,
    responses=responses(errors.NotFound, *IDEMPOTENT, *WRITES),
)
async def regrade(customer_id: uuid.UUID, actor: Caller, uow: UoW) -> GradeRead:
    """Re-score the customer now from its trading over the policy's window."""
    return grade_read(await grading_service.regrade(uow, actor, customer_id=customer_id))


@router.post(
    "/grading/run",
    operation_id="grading_run",
    response_model=BatchRead,
    responses=responses(errors.Forbidden, *IDEMPOTENT, *WRITES),
)
async def run_grading(actor: BatchRunner, uow: UoW) -> BatchRead:
    """Re-score every trading customer in chunks; answers how many went up, down or stayed."""
    return BatchRead.model_validate(await grading_service.run_batch(uow, actor))

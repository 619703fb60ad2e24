"""Liveness and readiness probes (no auth)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from app.domain import errors
from app.routers.deps import UoW
from app.routers.problems import responses
from app.services import health as health_service

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


@router.get("/healthz", operation_id="health_live", response_model=Health)
async def live() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="health_ready",
    response_model=Health,
    responses=responses(errors.ServiceUnavailable, authenticated=False),
)
async def ready(uow: UoW) -> Health:
    """The database answers."""
    await health_service.check_database(uow)
    return Health(status="ready")

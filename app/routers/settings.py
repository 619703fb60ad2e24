"""Policy settings: the ideal funnel and the pool rules (admins and directors edit them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response

from app.domain.roles import Principal, Role
from app.routers.deps import Caller, IfMatch, UoW, allow, set_etag
from app.routers.problems import responses
from app.routers.schemas.funnel import FunnelSettings, PoolSettings, settings_doc
from app.services import settings as settings_service

router = APIRouter(prefix="/settings", tags=["settings"])

Editor = Annotated[Principal, allow(Role.admin, Role.director)]


@router.get("/funnel", operation_id="settings_get_funnel", response_model=FunnelSettings,
            responses=responses(401))
async def get_funnel(actor: Caller, uow: UoW, response: Response) -> FunnelSettings:
    """The ideal funnel: days, conversion and holding per step, and the stall factor."""
    doc = await settings_service.get_setting(uow, actor, key="funnel")
    set_etag(response, doc.version)
    return FunnelSettings(**doc.value, version=doc.version)


@router.put("/funnel", operation_id="settings_put_funnel", response_model=FunnelSettings,
            responses=responses(400, 401, 403, 412, 422))
async def put_funnel(body: FunnelSettings, actor: Editor, uow: UoW, expected_version: IfMatch,
                     response: Response) -> FunnelSettings:
    doc = await settings_service.put_setting(uow, actor, key="funnel", value=settings_doc(body),
                                             expected_version=expected_version)
    set_etag(response, doc.version)
    return FunnelSettings(**doc.value, version=doc.version)


@router.get("/pool", operation_id="settings_get_pool", response_model=PoolSettings,
            responses=responses(401))
async def get_pool(actor: Caller, uow: UoW, response: Response) -> PoolSettings:
    """Holding limit, protection days, cooldown days and the fat-man ranking window."""
    doc = await settings_service.get_setting(uow, actor, key="pool")
    set_etag(response, doc.version)
    return PoolSettings(**doc.value, version=doc.version)


@router.put("/pool", operation_id="settings_put_pool", response_model=PoolSettings,
            responses=responses(400, 401, 403, 412, 422))
async def put_pool(body: PoolSettings, actor: Editor, uow: UoW, expected_version: IfMatch,
                   response: Response) -> PoolSettings:
    doc = await settings_service.put_setting(uow, actor, key="pool", value=settings_doc(body),
                                             expected_version=expected_version)
    set_etag(response, doc.version)
    return PoolSettings(**doc.value, version=doc.version)

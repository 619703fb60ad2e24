"""Policy settings: the ideal funnel, the pool rules, credit, grading and complaint deadlines
(admins and directors edit them)."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import APIRouter, Response

from app.domain import errors
from app.domain.roles import Principal, Role
from app.routers.deps import Caller, IfMatch, UoW, allow, set_etag
from app.routers.problems import VERSIONED, WRITES, responses
from app.routers.schemas.credit import CreditSettings
from app.routers.schemas.funnel import FunnelSettings, PoolSettings, settings_doc
from app.routers.schemas.grading import GradingSettings
from app.routers.schemas.reports_funnel import ReportSettings
from app.routers.schemas.service import ServiceSettings
from app.services import settings as settings_service
from app.services.context import UnitOfWork

router = APIRouter(prefix="/settings", tags=["settings"])

Editor = Annotated[Principal, allow(Role.admin, Role.director)]
Doc = TypeVar(
    "Doc", FunnelSettings, PoolSettings, GradingSettings, CreditSettings, ReportSettings, ServiceSettings
)


async def _read(uow: UnitOfWork, actor: Principal, response: Response, *, key: str, schema: type[Doc]) -> Doc:
    doc = await settings_service.get_setting(uow, actor, key=key)
    set_etag(response, doc.version)
    return schema(**doc.value, version=doc.version)


async def _replace(
    uow: UnitOfWork,
    actor: Principal,
    response: Response,
    *,
    key: str,
    body: Doc,
    expected_version: int | None,
) -> Doc:
    doc = await settings_service.put_setting(
        uow, actor, key=key, value=settings_doc(body), expected_version=expected_version
    )
    set_etag(response, doc.version)
    return type(body)(**doc.value, version=doc.version)


@router.get(
    "/funnel", operation_id="settings_get_funnel", response_model=FunnelSettings, responses=responses()
)
async def get_funnel(actor: Caller, uow: UoW, response: Response) -> FunnelSettings:
    """The ideal funnel: days, conversion and holding per step, and the stall factor."""
    return await _read(uow, actor, response, key="funnel", schema=FunnelSettings)


@router.put(
    "/funnel",
    operation_id="settings_put_funnel",
    response_model=FunnelSettings,
    responses=responses(errors.Forbidden, *VERSIONED, *WRITES),
)
async def put_funnel(
    body: FunnelSettings, actor: Editor, uow: UoW, expected_version: IfMatch, response: Response
) -> FunnelSettings:
    return await _replace(uow, actor, response, key="funnel", body=body, expected_version=expected_version)


@router.get("/pool", operation_id="settings_get_pool", response_model=PoolSettings, responses=responses())
async def get_pool(actor: Caller, uow: UoW, response: Response) -> PoolSettings:
    """Holding limit, protection days, cooldown days and the fat-man ranking window."""
    return await _read(uow, actor, response, key="pool", schema=PoolSettings)


@router.put(
    "/pool",
    operation_id="settings_put_pool",
    response_model=PoolSettings,
    responses=responses(errors.Forbidden, *VERSIONED, *WRITES),
)
async def put_pool(
    body: PoolSettings, actor: Editor, uow: UoW, expected_version: IfMatch, response: Response
) -> PoolSettings:
    return await _replace(uow, actor, response, key="pool", body=body, expected_version=expected_version)


@router.get(
    "/grading", operation_id="settings_get_grading", response_model=GradingSettings, responses=responses()
)
async def get_grading(actor: Caller, uow: UoW, response: Response) -> GradingSettings:
    """The scorecard: band thresholds per factor, grade cut-offs, window and minimum trading days."""
    return await _read(uow, actor, response, key="grading", schema=GradingSettings)


@router.put(
    "/grading",
    operation_id="settings_put_grading",
    response_model=GradingSettings,
    responses=responses(errors.Forbidden, *VERSIONED, *WRITES),
)
async def put_grading(
    body: GradingSettings, actor: Editor, uow: UoW, expected_version: IfMatch, response: Response
) -> GradingSettings:
    """Replace the scorecard policy (bands must be monotonic). Each version is kept; gradings
    record the policy version they used."""
    return await _replace(uow, actor, response, key="grading", body=body, expected_version=expected_version)


@router.get(
    "/credit", operation_id="settings_get_credit", response_model=CreditSettings, responses=responses()
)
async def get_credit(actor: Caller, uow: UoW, response: Response) -> CreditSettings:
    """Approval thresholds, hold after overdue days, warn ratio, default terms and limit,
    provision rates, collection actions, grade factors and the minimum repayment rate."""
    return await _read(uow, actor, response, key="credit", schema=CreditSettings)


@router.put(
    "/credit",
    operation_id="settings_put_credit",
    response_model=CreditSettings,
    responses=responses(errors.Forbidden, *VERSIONED, *WRITES),
)
async def put_credit(
    body: CreditSettings, actor: Editor, uow: UoW, expected_version: IfMatch, response: Response
) -> CreditSettings:
    return await _replace(uow, actor, response, key="credit", body=body, expected_version=expected_version)


@router.get(
    "/service", operation_id="settings_get_service", response_model=ServiceSettings, responses=responses()
)
async def get_service(actor: Caller, uow: UoW, response: Response) -> ServiceSettings:
    """Complaint deadlines per severity: hours to respond and days to resolve."""
    return await _read(uow, actor, response, key="service", schema=ServiceSettings)


@router.put(
    "/service",
    operation_id="settings_put_service",
    response_model=ServiceSettings,
    responses=responses(errors.Forbidden, *VERSIONED, *WRITES),
)
async def put_service(
    body: ServiceSettings, actor: Editor, uow: UoW, expected_version: IfMatch, response: Response
) -> ServiceSettings:
    """Replace the complaint deadlines (a more severe complaint never gets longer; the response is
    due no later than the resolution). Open complaints keep the deadlines they were given."""
    return await _replace(uow, actor, response, key="service", body=body, expected_version=expected_version)


@router.get(
    "/reports", operation_id="settings_get_reports", response_model=ReportSettings, responses=responses()
)
async def get_reports(actor: Caller, uow: UoW, response: Response) -> ReportSettings:
    """The anomaly thresholds of the management reports."""
    return await _read(uow, actor, response, key="reports", schema=ReportSettings)


@router.put(
    "/reports",
    operation_id="settings_put_reports",
    response_model=ReportSettings,
    responses=responses(errors.Forbidden, *VERSIONED, *WRITES),
)
async def put_reports(
    body: ReportSettings, actor: Editor, uow: UoW, expected_version: IfMatch, response: Response
) -> ReportSettings:
    """Replace the anomaly thresholds (admins and directors); every version is kept."""
    return await _replace(uow, actor, response, key="reports", body=body, expected_version=expected_version)

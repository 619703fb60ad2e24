"""The pool (公海): claimable customers, allocation and the protection-period sweep."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.domain import errors
from app.domain.roles import Principal, Role
from app.routers.deps import Caller, Cursor, Limit, UoW, allow
from app.routers.problems import IDEMPOTENT, PAGED, WRITES, responses
from app.routers.schemas.common import Page
from app.routers.schemas.customers import ContactRead, CustomerRead, Grade
from app.routers.schemas.funnel import (
    AllocateRequest,
    PoolAllocationRead,
    PoolItem,
    RecycleRead,
    RecycleRequest,
)
from app.services import pool as pool_service

router = APIRouter(prefix="/pool", tags=["pool"])

Allocator = Annotated[Principal, allow(*pool_service.ALLOCATORS)]
Recycler = Annotated[Principal, allow(Role.support, Role.manager, Role.director, Role.admin)]


@router.get("", operation_id="pool_list", response_model=Page[PoolItem], responses=responses(*PAGED))
async def list_pool(
    actor: Caller,
    uow: UoW,
    cursor: Cursor = None,
    limit: Limit = 50,
    grade: Grade | None = None,
    region: Annotated[str | None, Query(max_length=100)] = None,
    industry: Annotated[str | None, Query(max_length=100)] = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
) -> Page[PoolItem]:
    """Customers that can be claimed now; contact details are masked for reps."""
    page = await pool_service.list_pool(
        uow, actor, grade=grade, region=region, industry=industry, tag=tag, cursor=cursor, limit=limit
    )
    return Page[PoolItem](
        items=[
            PoolItem(
                **CustomerRead.model_validate(v.customer).model_dump(),
                contacts=[ContactRead.model_validate(c) for c in v.contacts or []],
            )
            for v in page.items
        ],
        next_cursor=page.next_cursor,
    )


@router.post(
    "/allocate",
    operation_id="pool_allocate",
    response_model=PoolAllocationRead,
    responses=responses(
        errors.NotFound,
        errors.Forbidden,
        errors.CustomerInvalidOwner,
        errors.QuotaExceeded,
        errors.AlreadyClaimed,
        errors.InCooldown,
        errors.NotClaimable,
        *IDEMPOTENT,
        *WRITES,
    ),
)
async def allocate(body: AllocateRequest, actor: Allocator, uow: UoW) -> PoolAllocationRead:
    """Allocate pool customers: manual, round robin, or the fat-man principle (grade A first to
    the best sellers with free capacity). `dry_run` answers the plan with a reason per line."""
    result = await pool_service.allocate(
        uow,
        actor,
        strategy=body.strategy,
        customer_ids=body.customer_ids,
        assignments=[(a.customer_id, a.owner_id) for a in body.assignments],
        user_ids=body.user_ids,
        by_team=body.by_team,
        dry_run=body.dry_run,
        limit=body.limit,
    )
    return PoolAllocationRead.model_validate(result)


@router.post(
    "/recycle",
    operation_id="pool_recycle",
    response_model=RecycleRead,
    responses=responses(errors.Forbidden, *IDEMPOTENT, *WRITES),
)
async def recycle(actor: Recycler, uow: UoW, body: RecycleRequest | None = None) -> RecycleRead:
    """Return customers whose protection period lapsed to the pool and end finished cooldowns.
    Also runs on a schedule inside the service."""
    body = body or RecycleRequest()
    result = await pool_service.recycle(uow, actor, dry_run=body.dry_run, as_of=body.as_of)
    return RecycleRead.model_validate(result)

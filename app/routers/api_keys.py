"""API keys of service accounts: admins create, list, rotate and revoke them."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Response, status

from app.domain import apikeys, errors
from app.domain.roles import Principal, Role
from app.routers.deps import Cursor, Limit, UoW, allow
from app.routers.problems import IDEMPOTENT, PAGED, WRITES, responses
from app.routers.schemas.common import Page
from app.routers.schemas.integration import ApiKeyCreate, ApiKeyIssued, ApiKeyRead
from app.services import api_keys as api_keys_service

router = APIRouter(prefix="/api-keys", tags=["api-keys"])

Admin = Annotated[Principal, allow(Role.admin)]


def _read(record: Any) -> ApiKeyRead:
    return ApiKeyRead(
        id=record.id,
        name=record.name,
        scopes=record.scopes,
        prefix=apikeys.display_prefix(record.lookup),
        team_id=record.team_id,
        service_account_id=record.user_id,
        created_at=record.created_at,
        expires_at=record.expires_at,
        rotated_at=record.rotated_at,
        revoked_at=record.revoked_at,
        last_used_at=record.last_used_at,
    )


def _issued(issued: api_keys_service.IssuedKey) -> ApiKeyIssued:
    return ApiKeyIssued(**_read(issued.record).model_dump(), key=issued.key)


@router.get(
    "",
    operation_id="api_keys_list",
    response_model=Page[ApiKeyRead],
    responses=responses(errors.Forbidden, *PAGED),
)
async def list_api_keys(
    actor: Admin, uow: UoW, cursor: Cursor = None, limit: Limit = 50, include_revoked: bool = False
) -> Page[ApiKeyRead]:
    page = await api_keys_service.list_keys(
        uow, actor, include_revoked=include_revoked, cursor=cursor, limit=limit
    )
    return Page[ApiKeyRead](items=[_read(k) for k in page.items], next_cursor=page.next_cursor)


@router.post(
    "",
    operation_id="api_keys_create",
    response_model=ApiKeyIssued,
    status_code=status.HTTP_201_CREATED,
    responses=responses(errors.Forbidden, errors.ApiKeyTeamNotFound, *IDEMPOTENT, *WRITES),
)
async def create_api_key(body: ApiKeyCreate, actor: Admin, uow: UoW, response: Response) -> ApiKeyIssued:
    """Create a service account's key. The answer holds the key itself, once."""
    issued = await api_keys_service.create_key(uow, actor, **body.model_dump())
    response.headers["Location"] = f"/api/v1/api-keys/{issued.record.id}"
    response.headers["Cache-Control"] = "no-store"
    return _issued(issued)


@router.get(
    "/{key_id}",
    operation_id="api_keys_get",
    response_model=ApiKeyRead,
    responses=responses(errors.NotFound, errors.Forbidden),
)
async def get_api_key(key_id: uuid.UUID, actor: Admin, uow: UoW) -> ApiKeyRead:
    return _read(await api_keys_service.get_key(uow, actor, key_id=key_id))


@router.delete(
    "/{key_id}",
    operation_id="api_keys_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(errors.NotFound, errors.Forbidden, *WRITES),
)
async def revoke_api_key(key_id: uuid.UUID, actor: Admin, uow: UoW) -> Response:
    """Revoke the key at once and deactivate its service account."""
    await api_keys_service.revoke_key(uow, actor, key_id=key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{key_id}/rotate",
    operation_id="api_keys_rotate",
    response_model=ApiKeyIssued,
    responses=responses(errors.NotFound, errors.Forbidden, errors.ApiKeyRevoked, *IDEMPOTENT, *WRITES),
)
async def rotate_api_key(key_id: uuid.UUID, actor: Admin, uow: UoW, response: Response) -> ApiKeyIssued:
    """Replace the key's secret; the old key stops working at once. The new key is answered once."""
    issued = await api_keys_service.rotate_key(uow, actor, key_id=key_id)
    response.headers["Cache-Control"] = "no-store"
    return _issued(issued)

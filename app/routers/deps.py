"""Dependencies every router shares: the unit of work, the caller, role guards, paging, If-Match."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import Depends, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute
from fastapi.security import OAuth2PasswordBearer

from app.domain import apikeys
from app.domain.errors import BadIfMatch, Forbidden, Unauthorized
from app.domain.roles import READ_ONLY_ROLES, Principal, Role
from app.routers.problems import Entry, also_answers, responses
from app.routers.schemas.common import UPDATED_SINCE, UtcDateTime, text_fault
from app.services import api_keys as api_keys_service
from app.services import auth as auth_service
from app.services.context import DEFAULT_LIMIT, MAX_LIMIT, UnitOfWork

API_PREFIX = "/api/v1"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def text_rule(request: Request) -> None:
    """Query parameters and form fields (the login form) follow the text rule of bodies."""
    sources: list[tuple[str, Any]] = [("query", request.query_params)]
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        sources.append(("body", await request.form()))  # parsed once; FastAPI reuses it
    problems = [
        {"loc": (where, key), "msg": fault, "type": "text_character"}
        for where, values in sources
        for key, value in values.multi_items()
        if isinstance(value, str) and (fault := text_fault(key) or text_fault(value))
    ]
    if problems:
        raise RequestValidationError(problems)


def declare_read_only_refusal(routes: list[Any]) -> None:
    """Routes behind ``current_principal`` that change something can answer 403 ``forbidden``
    to a read-only role: declare it on each of them, as the check is made once for all."""
    for route in routes:
        if isinstance(route, APIRoute) and route.methods - READ_METHODS:
            route.responses.update(also_answers(route.responses, Forbidden))


def get_uow(request: Request) -> UnitOfWork:
    # IdempotencyMiddleware leaves the key it reserved for this request here.
    return UnitOfWork(
        request.app.state.session_factory, fence=getattr(request.state, "idempotency_fence", None)
    )


UoW = Annotated[UnitOfWork, Depends(get_uow)]


async def current_principal(
    request: Request, uow: UoW, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    if not token:
        raise Unauthorized("Authentication required: send 'Authorization: Bearer <token>'")
    if apikeys.looks_like_key(token):
        # A key's scopes decide what it may do (only `webhooks:manage` writes anything).
        principal = await api_keys_service.principal_for_key(uow, key=token)
        check_key_scope(request, principal)
    else:
        principal = await auth_service.principal_for_token(uow, token=token)
        # Every write behind this dependency declares the 403 (declare_read_only_refusal).
        if principal.role in READ_ONLY_ROLES and request.method not in READ_METHODS:
            raise Forbidden(f"Your role ({principal.role}) only reads; it may not change anything")
    request.state.principal = principal
    return principal


def check_key_scope(request: Request, principal: Principal) -> None:
    """An API key may call a route only with the scope the route's path needs."""
    if principal.key_scopes is None:
        return
    route = request.scope.get("route")
    path = getattr(route, "path_format", request.url.path)
    apikeys.check_scope(principal.key_scopes, method=request.method, path=path.removeprefix(API_PREFIX))


Caller = Annotated[Principal, Depends(current_principal)]


def allow(*roles: Role) -> Any:
    """``actor: Annotated[Principal, allow(Role.admin)]`` — who may call the route, at a glance."""
    allowed = frozenset(roles)

    async def guard(principal: Caller) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(f"Your role ({principal.role}) may not do this")
        return principal

    guard.__name__ = "allow_" + "_".join(sorted(r.value for r in allowed))
    return Depends(guard)


_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')


def if_match(if_match: Annotated[str | None, Header(alias="If-Match")] = None) -> int | None:
    """The version an update is based on, from ``If-Match: "<version>"`` (``*`` means any)."""
    if if_match is None or if_match.strip() == "*":
        return None
    match = _ETAG.match(if_match)
    if match is None:
        raise BadIfMatch('If-Match must be an ETag like "3"')
    return int(match.group(1))


IfMatch = Annotated[int | None, Depends(if_match)]

Cursor = Annotated[str | None, Query(description="Opaque cursor from the previous page")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")]
UpdatedSince = Annotated[UtcDateTime | None, Query(description=UPDATED_SINCE)]
DEFAULT_PAGE_SIZE = DEFAULT_LIMIT


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


ExportFormat = Annotated[Literal["csv", "ndjson"], Query(alias="format")]


def export_responses(description: str, *entries: Entry) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a streamed export route that can answer ``entries``."""
    return {
        200: {
            "description": description,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        },
        **responses(*entries),
    }


def streamed(export: Any) -> StreamingResponse:
    """An export (``filename``, ``media_type``, ``chunks``) as a download."""
    return StreamingResponse(
        export.chunks,
        media_type=export.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "Cache-Control": "no-store",
        },
    )

"""RFC 9457 problem+json for every error, and the one table from error kind to HTTP status."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.domain import errors

PROBLEM_JSON = "application/problem+json"

# The single place where domain error kinds meet HTTP status codes.
STATUS_BY_KIND: tuple[tuple[type[errors.DomainError], int], ...] = (
    (errors.NotFound, 404),
    (errors.Forbidden, 403),
    (errors.Unauthorized, 401),
    (errors.VersionMismatch, 412),
    (errors.Conflict, 409),
    (errors.InvalidInput, 422),
    (errors.RuleViolation, 422),
    (errors.BadRequest, 400),
    (errors.TooLarge, 413),
    (errors.RateLimited, 429),
    (errors.Gone, 410),
    (errors.ServiceUnavailable, 503),
)

CODE_BY_STATUS = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 410: "gone",
    412: "precondition_failed", 413: "payload_too_large", 415: "unsupported_media_type",
    422: "validation_error", 429: "rate_limited", 500: "internal_error", 503: "service_unavailable",
}


class ValidationItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An error response (RFC 9457). ``code`` is stable; extra members depend on the code."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[ValidationItem] | None = None


def status_for(exc: errors.DomainError) -> int:
    for kind, status in STATUS_BY_KIND:
        if isinstance(exc, kind):
            return status
    return 400


def problem_response(*, status: int, code: str, detail: str, title: str | None = None,
                     errors_: list[dict[str, Any]] | None = None,
                     extra: dict[str, Any] | None = None,
                     headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:crm:problem:{code}",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors_ is not None:
        body["errors"] = errors_
    for key, value in (extra or {}).items():
        body.setdefault(key, value)
    return JSONResponse(jsonable_encoder(body), status_code=status, headers=headers,
                        media_type=PROBLEM_JSON)


def _clean_validation_errors(raw: list[Any]) -> list[dict[str, Any]]:
    # Drop "input" and "ctx": they can echo secrets (passwords) or unserialisable objects.
    return [
        {"loc": [str(p) if not isinstance(p, int) else p for p in e.get("loc", ())],
         "msg": str(e.get("msg", "")), "type": str(e.get("type", "value_error"))}
        for e in raw
    ]


def render_domain_error(exc: errors.DomainError) -> JSONResponse:
    status = status_for(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status in (429, 503) and "retry_after" in exc.extra:
        headers = {"Retry-After": str(exc.extra["retry_after"])}
    errors_ = _clean_validation_errors(exc.errors) if isinstance(exc, errors.InvalidInput) else None
    return problem_response(status=status, code=exc.instance_code, detail=exc.detail,
                            title=exc.title, errors_=errors_, extra=exc.extra, headers=headers)


def internal_error_response() -> JSONResponse:
    """The one answer to an unexpected error: nothing about its cause reaches the client."""
    return problem_response(status=500, code="internal_error",
                            detail="An unexpected error occurred; it has been logged")


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.DomainError)
    async def _domain(_: Request, exc: errors.DomainError) -> JSONResponse:
        return render_domain_error(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(status=422, code="validation_error", title="Validation error",
                                detail="The request is not valid; see errors",
                                errors_=_clean_validation_errors(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = CODE_BY_STATUS.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem_response(status=exc.status_code, code=code, detail=detail,
                                headers=dict(exc.headers or {}) or None)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # RequestContextMiddleware has logged it, with the request id.
        return internal_error_response()


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry for a route: each listed status answers a Problem."""
    return {
        status: {"model": Problem, "description": HTTPStatus(status).phrase,
                 "content": {PROBLEM_JSON: {}}}
        for status in statuses
    }

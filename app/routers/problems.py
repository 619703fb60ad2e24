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
    (errors.MethodNotAllowed, 405),
    (errors.NotAcceptable, 406),
    (errors.UnsupportedMediaType, 415),
    (errors.InternalError, 500),
)

# What a status raised by the framework itself (an unknown path, a wrong method) answers:
# the code of the kind that status belongs to (the first kind listed wins).
CODE_BY_STATUS: dict[int, str] = {}
for _kind, _status in STATUS_BY_KIND:
    CODE_BY_STATUS.setdefault(_status, _kind.code)


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


def status_of(error: type[errors.DomainError]) -> int:
    """The HTTP status of a catalogue entry: that of the first kind it belongs to."""
    for kind, status in STATUS_BY_KIND:
        if issubclass(error, kind):
            return status
    return 400


def status_for(exc: errors.DomainError) -> int:
    return status_of(type(exc))


def problem_response(
    *,
    status: int,
    code: str,
    detail: str,
    title: str | None = None,
    errors_: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
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
    return JSONResponse(jsonable_encoder(body), status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _clean_validation_errors(raw: list[Any]) -> list[dict[str, Any]]:
    # Drop "input" and "ctx": they can echo secrets (passwords) or unserialisable objects.
    return [
        {
            "loc": [str(p) if not isinstance(p, int) else p for p in error_loc(e)],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "value_error")),
        }
        for e in raw
    ]


def error_loc(error: Any) -> list[Any]:
    # The text rule checks a whole body at once and names the offending field in ctx.
    path = (error.get("ctx") or {}).get("path") if error.get("type") == "text_character" else None
    return [*error.get("loc", ()), *(path or ())]


def render_domain_error(exc: errors.DomainError) -> JSONResponse:
    status = status_for(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status in (429, 503) and "retry_after" in exc.extra:
        headers = {"Retry-After": str(exc.extra["retry_after"])}
    errors_ = _clean_validation_errors(exc.errors) if isinstance(exc, errors.InvalidInput) else None
    return problem_response(
        status=status,
        code=exc.code,
        detail=exc.detail,
        title=exc.title,
        errors_=errors_,
        extra=exc.extra,
        headers=headers,
    )


def internal_error_response() -> JSONResponse:
    """The one answer to an unexpected error: nothing about its cause reaches the client."""
    return problem_response(
        status=500, code=errors.InternalError.code, detail="An unexpected error occurred; it has been logged"
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.DomainError)
    async def _domain(_: Request, exc: errors.DomainError) -> JSONResponse:
        return render_domain_error(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(
            status=422,
            code=errors.InvalidInput.code,
            title=errors.InvalidInput.title,
            detail="The request is not valid; see errors",
            errors_=_clean_validation_errors(list(exc.errors())),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        fallback = errors.InternalError if exc.status_code >= 500 else errors.BadRequest
        code = CODE_BY_STATUS.get(exc.status_code, fallback.code)
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem_response(
            status=exc.status_code, code=code, detail=detail, headers=dict(exc.headers or {}) or None
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # RequestContextMiddleware has logged it, with the request id.
        return internal_error_response()


Entry = type[errors.DomainError]

# Any operation behind a bearer token can answer these (an API key is a bearer token too, and
# one without the scope the path needs is refused); every operation that reads the database
# can answer 503; every operation can answer a validation error.
AUTHENTICATED: tuple[Entry, ...] = (errors.Unauthorized, errors.MissingScope)
ALWAYS: tuple[Entry, ...] = (errors.InvalidInput, errors.ServiceUnavailable)
# Bundles for the conventions many operations share.
PAGED: tuple[Entry, ...] = (errors.InvalidCursor,)
VERSIONED: tuple[Entry, ...] = (errors.BadIfMatch, errors.VersionMismatch)
IDEMPOTENT: tuple[Entry, ...] = (
    errors.IdempotencyKeyReused,
    errors.IdempotencyInProgress,
    errors.IdempotencyResponseLost,
    errors.IdempotencySuperseded,
)
WRITES: tuple[Entry, ...] = (errors.IntegrityConflict,)


def meaning(error: Entry) -> str:
    """The first paragraph of an entry's docstring, on one line."""
    text = " ".join((error.__doc__ or "").strip().split("\n\n")[0].split())
    return text.replace("``", "`")


def example(error: Entry) -> dict[str, Any]:
    """A problem body as ``error`` answers it, with an example of each extra member."""
    return {
        "type": f"urn:crm:problem:{error.code}",
        "title": error.title,
        "status": status_of(error),
        "detail": meaning(error),
        "code": error.code,
        **{name: extra.example for name, extra in error.extras.items()},
    }


def _describe(error: Entry) -> str:
    extras = ", ".join(f"`{name}`" for name in error.extras)
    return f"`{error.code}`: {meaning(error)}" + (f" Adds {extras}." if extras else "")


def responses(*entries: Entry, authenticated: bool = True) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route, built from the catalogue entries it can answer.

    Each status lists its codes (``x-problem-codes`` and the description) and shows one
    example body per code with the extra members it carries. Unauthorized (unless the
    route is public), validation errors and 503 are added: every route can answer them.
    """
    chosen = [*(AUTHENTICATED if authenticated else ()), *entries, *ALWAYS]
    by_status: dict[int, list[Entry]] = {}
    for entry in chosen:
        listed = by_status.setdefault(status_of(entry), [])
        if entry not in listed:
            listed.append(entry)
    return {status: problem_doc(status, listed) for status, listed in sorted(by_status.items())}


def also_answers(
    responses_: dict[int | str, dict[str, Any]], entry: Entry
) -> dict[int | str, dict[str, Any]]:
    """The status of ``entry`` in ``responses_``, with ``entry`` added to the codes it lists
    (for a rule that many routes share and one place enforces)."""
    status = status_of(entry)
    listed = _entries(responses_.get(status, {}))
    return {status: problem_doc(status, listed if entry in listed else [*listed, entry])}


def problem_doc(status: int, entries: list[Entry]) -> dict[str, Any]:
    """One status of an operation's ``responses``: its codes, description and examples."""
    lines = "\n".join(f"- {_describe(entry)}" for entry in entries)
    return {
        "model": Problem,
        "description": f"{HTTPStatus(status).phrase}. The `code` is one of:\n\n{lines}",
        "x-problem-codes": [entry.code for entry in entries],
        "content": {
            PROBLEM_JSON: {
                "examples": {
                    entry.code: {"summary": entry.title, "value": example(entry)} for entry in entries
                }
            }
        },
    }


def declared_codes(responses_: dict[int | str, dict[str, Any]]) -> dict[int, set[str]]:
    """The codes a route's ``responses=`` lists, per status."""
    return {
        int(status): set(doc.get("x-problem-codes", ()))
        for status, doc in responses_.items()
        if str(status).isdigit() and int(status) >= 400
    }


def finish_openapi(schema: dict[str, Any]) -> None:
    """Declare every error response of the generated schema as problem+json with its codes.

    The example bodies move to ``components/examples`` (one per code) and are referenced.

    A body that cannot be decoded at all (not UTF-8, not a form) answers 400 ``bad_request``,
    so every operation with a request body lists it.
    """
    shared = schema.setdefault("components", {}).setdefault("examples", {})
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            answers = operation.setdefault("responses", {})
            if "requestBody" in operation:
                undecodable = problem_doc(400, [errors.BadRequest])
                undecodable.pop("model")
                found = answers.setdefault("400", undecodable)
                if errors.BadRequest.code not in found.get("x-problem-codes", []):
                    merged = problem_doc(400, [*_entries(found), errors.BadRequest])
                    merged.pop("model")
                    answers["400"] = merged
            for status, response in answers.items():
                if not status.isdigit() or int(status) < 400:
                    continue
                problem = response.get("content", {}).get(PROBLEM_JSON, {})
                problem["schema"] = {"$ref": "#/components/schemas/Problem"}
                # Each code's example body is written once, under components/examples.
                for code, shown in problem.get("examples", {}).items():
                    shared[code] = shown
                    problem["examples"][code] = {"$ref": f"#/components/examples/{code}"}
                response["content"] = {PROBLEM_JSON: problem}


def _entries(response: dict[str, Any]) -> list[Entry]:
    by_code = {entry.code: entry for entry in errors.catalogue()}
    return [by_code[code] for code in response.get("x-problem-codes", [])]


CATALOGUE_START = "<!-- error catalogue: generated by `crm openapi` from app/domain/errors.py -->"
CATALOGUE_END = "<!-- end of error catalogue -->"


def catalogue_markdown() -> str:
    """The table of every code for ``docs/api-conventions.md``, in status order."""
    rows = ["| Status | Code | Title | Meaning | Extra members |", "| --- | --- | --- | --- | --- |"]
    for entry in sorted(errors.catalogue(), key=status_of):
        extras = "<br>".join(
            f"`{name}` ({extra.type}): {extra.description}" for name, extra in entry.extras.items()
        )
        rows.append(
            f"| {status_of(entry)} | `{entry.code}` | {entry.title} | {meaning(entry)} | {extras or '–'} |"
        )
    return "\n".join([CATALOGUE_START, *rows, CATALOGUE_END])


def with_catalogue(document: str) -> str:
    """``document`` with the text between the catalogue markers replaced by the current table."""
    start, end = document.index(CATALOGUE_START), document.index(CATALOGUE_END) + len(CATALOGUE_END)
    return document[:start] + catalogue_markdown() + document[end:]

"""The OpenAPI document: FastAPI's schema, completed with what the routes do not say themselves.

Everything the document states about cross-cutting behaviour lives here, in one pass over the
generated schema, so no route repeats it:

* every 4xx/5xx response is ``application/problem+json`` with the ``Problem`` schema and the
  catalogue codes the route declares (``problems.finish_openapi``);
* the headers the middleware reads and writes (``Idempotency-Key`` on POSTs, ``ETag``,
  ``Location``, ``Idempotent-Replayed``, ``Retry-After``, ``X-Request-ID``);
* 503 ``service_unavailable`` on every operation that reaches the database;
* request and response examples of the main operations (``app/routers/examples.py``).

The per-route error codes themselves are declared by the routes (``problems.responses``).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.routers import examples, problems

_REF = "#/components/schemas/"

# Reusable header definitions (components/headers), referenced from the responses below.
HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The request's id: the one sent, if sane, or a generated one. It is in "
        "every log line of the request; quote it when reporting a problem.",
        "schema": {"type": "string", "pattern": r"^[A-Za-z0-9._-]{1,128}$"},
    },
    "ETag": {
        "description": 'The record\'s version, as `"<version>"`; send it back in `If-Match` to update it.',
        "schema": {"type": "string", "pattern": r'^"\d+"$', "examples": ['"3"']},
    },
    "Location": {
        "description": "The path of the record just created.",
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the "
        "same `Idempotency-Key` (nothing was done again).",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "string", "pattern": r"^\d+$"},
    },
}

IDEMPOTENCY_KEY_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Make the POST safe to retry: the first 2xx answer is stored for 24 hours and "
    "a repeat with the same key, path and body answers it again (with "
    "`Idempotent-Replayed: true`) without doing anything. The same key with "
    "another body answers 422 `idempotency.key_reused`; a repeat while the first "
    "still runs answers 409 `idempotency.in_progress`.",
    "schema": {"type": "string", "pattern": r"^[\x21-\x7e]{1,255}$", "examples": ["7d1c2a8e-create-rep9"]},
}

# The paths the database never answers for (the liveness probe), and the ones the
# idempotency middleware leaves alone (logging in needs no key).
NO_DATABASE_PATHS = frozenset({"/healthz"})
UNAUTHENTICATED_PREFIX = "/api/v1/auth/"

SERVICE_UNAVAILABLE_DESCRIPTION = (
    "Service Unavailable: the database does not answer (`service_unavailable`); retry later."
)


def _header_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def _resolve(schema: dict[str, Any], node: dict[str, Any] | None) -> dict[str, Any]:
    while node and "$ref" in node:
        node = schema["components"]["schemas"].get(node["$ref"].rsplit("/", 1)[-1])
    return node or {}


def _is_versioned(schema: dict[str, Any], response: dict[str, Any]) -> bool:
    body = _resolve(schema, response.get("content", {}).get("application/json", {}).get("schema"))
    return "version" in body.get("properties", {}) and "items" not in body.get("properties", {})


def _idempotency(operation: dict[str, Any]) -> None:
    """Authenticated POSTs take ``Idempotency-Key`` (see ``IdempotencyMiddleware``)."""
    parameters = operation.setdefault("parameters", [])
    if not any(p.get("name") == "Idempotency-Key" for p in parameters):
        parameters.append({"$ref": "#/components/parameters/IdempotencyKey"})
    responses = operation["responses"]
    responses.setdefault("409", {"description": "Conflict"})
    responses.setdefault("422", {"description": "Unprocessable Content"})
    for status, response in responses.items():
        if status.startswith("2"):
            response.setdefault("headers", {})["Idempotent-Replayed"] = _header_ref("Idempotent-Replayed")


def _response_headers(schema: dict[str, Any], operation: dict[str, Any]) -> None:
    for status, response in operation["responses"].items():
        headers = response.setdefault("headers", {})
        headers["X-Request-ID"] = _header_ref("X-Request-ID")
        if status.startswith("2") and _is_versioned(schema, response):
            headers["ETag"] = _header_ref("ETag")
        if status == "201":
            headers["Location"] = _header_ref("Location")
        if status in ("429", "503"):
            headers["Retry-After"] = _header_ref("Retry-After")


# FastAPI's names for generated schemas, and the names clients get instead.
_FORM_NAMES = {"Body_auth_token": "TokenForm", "Body_customers_import": "CustomerImportForm"}
_PAGE_NAME = re.compile(r"^Page_(\w+?)(Read)?_$")


def _schema_name(name: str) -> str:
    """``Page_CustomerRead_`` → ``CustomerPage``; FastAPI's ``Body_*`` forms by what they are."""
    if name in _FORM_NAMES:
        return _FORM_NAMES[name]
    page = _PAGE_NAME.match(name)
    return f"{page.group(1)}Page" if page else name


def _renamed(node: Any, names: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                _REF + names[value[len(_REF) :]]
                if key == "$ref" and isinstance(value, str) and value[len(_REF) :] in names
                else _renamed(value, names)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_renamed(item, names) for item in node]
    return node


def _rename_schemas(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema["components"]["schemas"]
    names = {name: _schema_name(name) for name in components if _schema_name(name) != name}
    if len(set(names.values()) | (set(components) - set(names))) != len(components):
        raise RuntimeError(f"schema names collide after renaming: {names}")
    schema["components"]["schemas"] = {names.get(name, name): body for name, body in components.items()}
    for name in names.values():
        schema["components"]["schemas"][name]["title"] = name
    return _renamed(schema, names)


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The generated schema, completed as the module docstring says (cached on the app)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        separate_input_output_schemas=False,
    )
    schema = _rename_schemas(schema)
    components = schema["components"]
    components["headers"] = HEADERS
    components["parameters"] = {"IdempotencyKey": IDEMPOTENCY_KEY_PARAMETER}
    for path, path_item in schema.get("paths", {}).items():
        for method, operation in path_item.items():
            operation.setdefault("responses", {})
            if path not in NO_DATABASE_PATHS:
                operation["responses"].setdefault("503", {"description": SERVICE_UNAVAILABLE_DESCRIPTION})
            if method == "post" and not path.startswith(UNAUTHENTICATED_PREFIX):
                _idempotency(operation)
    problems.finish_openapi(schema)  # may add 400: headers go on after it
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            _response_headers(schema, operation)
            examples.add_examples(operation)
    for unused in ("HTTPValidationError", "ValidationError"):
        components.get("schemas", {}).pop(unused, None)
    app.openapi_schema = schema
    return schema

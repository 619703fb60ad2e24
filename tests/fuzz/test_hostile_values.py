"""Beyond schemathesis' defaults: every string field of every operation (JSON body fields,
one level into objects, query parameters, the login form) gets NUL, a lone surrogate, 100k
characters and a bidi override; every date-time field year 1 and 9999; every number ±1e30.
No answer may be a 5xx. Walks the app's own OpenAPI document against the ASGI app."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from typing import Any

from tests.support.builders import access_headers, make_sales_org

STRINGS = ["a\x00b", "x\ud800y", "y" * 100_000, "\u202eevil\u202c"]
DATES = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]
DAYS = ["0001-01-01", "9999-12-31"]
NUMBERS = [1e30, -1e30]


def _resolve(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _variants(schema: dict[str, Any], doc: dict[str, Any]) -> list[Any]:
    """The hostile values for a field of this schema (each branch of an anyOf too)."""
    schema = _resolve(schema, doc)
    values: list[Any] = []
    for branch in schema.get("anyOf", []) or schema.get("oneOf", []):
        values += _variants(branch, doc)
    kind, fmt = schema.get("type"), schema.get("format")
    if kind == "string" and fmt == "date-time":
        values += DATES
    elif kind == "string" and fmt == "date":
        values += DAYS
    elif kind == "string":
        values += STRINGS
    elif kind in ("integer", "number"):
        values += NUMBERS
    elif kind == "array":
        values += [[v] for v in _variants(schema.get("items", {}), doc)[:4]]
    return values


def _sample(schema: dict[str, Any], doc: dict[str, Any]) -> Any:
    """A plain valid-looking value, so that the hostile one is what gets looked at."""
    schema = _resolve(schema, doc)
    if "enum" in schema:
        return schema["enum"][0]
    branches = [b for b in schema.get("anyOf", []) if _resolve(b, doc).get("type") != "null"]
    if branches:
        return _sample(branches[0], doc)
    kind, fmt = schema.get("type"), schema.get("format")
    if kind == "string":
        return {
            "uuid": str(uuid.uuid4()),
            "date-time": "2026-03-01T09:30:00Z",
            "date": "2026-03-01",
            "email": "a@example.com",
        }.get(fmt, "sample")
    if kind in ("integer", "number"):
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    if kind == "object":
        return {
            name: _sample(sub, doc)
            for name, sub in schema.get("properties", {}).items()
            if name in schema.get("required", [])
        }
    return "sample"


def _quoted(value: Any) -> str:
    # A lone surrogate travels as the bytes a careless client would send (surrogatepass).
    raw = value if isinstance(value, str) else json.dumps(value).strip('"')
    return urllib.parse.quote(raw.encode("utf-8", "surrogatepass"), safe="")


def _encoded(media: str, body: dict[str, Any]) -> dict[str, Any]:
    if media == "application/x-www-form-urlencoded":
        return {
            "content": "&".join(f"{k}={_quoted(v)}" for k, v in body.items()),
            "headers": {"Content-Type": media},
        }
    if media == "multipart/form-data":
        return {
            "files": {
                k: (None, v.encode("utf-8", "surrogatepass")) for k, v in body.items() if isinstance(v, str)
            }
        }
    return {"content": json.dumps(body), "headers": {"Content-Type": "application/json"}}


def _cases(doc: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(method, path, what is hostile, request kwargs) for every operation."""
    cases = []
    for template, item in doc["paths"].items():
        for method, op in item.items():
            path = template
            params = [
                doc["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p
                for p in op.get("parameters", [])
            ]
            for param in params:
                if param["in"] == "path":
                    path = path.replace("{" + param["name"] + "}", str(uuid.uuid4()))
            for param in params:
                if param["in"] == "query":
                    for value in _variants(param.get("schema", {}), doc):
                        if isinstance(value, str):
                            value = value[:4000]  # a URL cannot carry 100k characters
                        query = f"{param['name']}={_quoted(value)}"
                        cases.append((method, f"{path}?{query}", f"query {param['name']}", {}))
            content = op.get("requestBody", {}).get("content", {})
            for media, spec in content.items():
                body_schema = _resolve(spec["schema"], doc)
                base = _sample(body_schema, doc)
                fields = [((name,), sub) for name, sub in body_schema.get("properties", {}).items()]
                fields += [
                    ((name, inner), innersub)
                    for name, sub in body_schema.get("properties", {}).items()
                    for inner, innersub in _resolve(sub, doc).get("properties", {}).items()
                ]
                for where, sub in fields:
                    for value in _variants(sub, doc):
                        body = json.loads(json.dumps(base))
                        target = body
                        for key in where[:-1]:
                            target = target.setdefault(key, {})
                            if not isinstance(target, dict):
                                break
                        else:
                            target[where[-1]] = value
                            kwargs = _encoded(media, body)
                            cases.append((method, path, f"body {'.'.join(where)}", kwargs))
    return cases


async def test_no_hostile_value_answers_a_server_error(client, app, uow_factory):
    org = await make_sales_org(uow_factory)
    doc = app.openapi()
    cases = _cases(doc)
    assert len(cases) > 500, len(cases)
    failures = []
    for role in ("admin", "rep"):
        auth = access_headers(getattr(org, role))
        for method, path, what, kwargs in cases:
            if (
                role == "rep"
                and "query" not in what
                and not path.startswith(
                    ("/api/v1/customers", "/api/v1/activities", "/api/v1/tasks", "/api/v1/sync")
                )
            ):
                continue  # the rep pass covers the routes the admin is refused
            send = {k: v for k, v in kwargs.items() if k != "headers"}
            response = await client.request(
                method, path, headers={**auth, **kwargs.get("headers", {})}, **send
            )
            if response.status_code >= 500:
                failures.append(
                    f"{role} {method.upper()} {path} {what}: {response.status_code} {response.text[:200]}"
                )
    assert not failures, "\n".join(failures[:40])

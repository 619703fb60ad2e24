"""The committed OpenAPI file is the app's, and every operation follows the API conventions."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pytest

from app.cli import OPENAPI_FILE, openapi_document

METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
OPERATION_ID = re.compile(r"^[a-z][a-z_]*_[a-z_]+$")
PROBLEM_JSON = "application/problem+json"
# Paths that answer without a bearer token, so have no 401 of their own to declare.
PUBLIC = re.compile(r"^(/healthz|/readyz|/api/v1/auth/.*)$")

GENERATED = openapi_document()
SCHEMA: dict[str, Any] = json.loads(GENERATED)
OPERATIONS = [
    (method.upper(), path, operation)
    for path, item in sorted(SCHEMA["paths"].items())
    for method, operation in sorted(item.items())
    if method in METHODS
]
IDS = [f"{method} {path}" for method, path, _ in OPERATIONS]


def test_committed_file_is_current() -> None:
    committed = OPENAPI_FILE.read_text(encoding="utf-8") if OPENAPI_FILE.exists() else ""
    assert committed == GENERATED, (
        "openapi/openapi.json differs from the app's schema: run `crm openapi` "
        "(or `make openapi`) and commit the file"
    )


def test_operation_ids_are_unique() -> None:
    counts = Counter(operation.get("operationId") for _, _, operation in OPERATIONS)
    assert not [i for i, n in counts.items() if n > 1], f"duplicate operationIds: {counts}"


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_operation_id_is_resource_action(method: str, path: str, operation: dict[str, Any]) -> None:
    operation_id = operation.get("operationId", "")
    assert OPERATION_ID.match(operation_id), (
        f"{method} {path}: operationId {operation_id!r} is not resource_action "
        "(set operation_id= on the route)"
    )


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_authenticated_operation_declares_401(method: str, path: str, operation: dict[str, Any]) -> None:
    if PUBLIC.match(path):
        pytest.skip("public path")
    assert "401" in operation.get("responses", {}), (
        f"{method} {path} needs a bearer token but does not declare 401 (add it to responses=)"
    )


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_error_responses_are_problem_json(method: str, path: str, operation: dict[str, Any]) -> None:
    for status, response in operation.get("responses", {}).items():
        if status.isdigit() and int(status) >= 400:
            content = response.get("content", {})
            assert list(content) == [PROBLEM_JSON], (
                f"{method} {path} {status}: error content is {list(content)}, not [{PROBLEM_JSON}]"
            )


EXAMPLES = [
    (f"{method} {path} {where}", content["example"], content["schema"])
    for method, path, operation in OPERATIONS
    for where, content in [
        ("request", operation.get("requestBody", {}).get("content", {}).get("application/json", {})),
        *(
            (f"response {status}", response.get("content", {}).get("application/json", {}))
            for status, response in operation.get("responses", {}).items()
        ),
    ]
    if "example" in content
]


def test_main_operations_have_examples() -> None:
    described = {name.split(" ")[1] for name, _, _ in EXAMPLES}
    assert {
        "/api/v1/customers",
        "/api/v1/contracts",
        "/api/v1/contracts/{contract_id}/sign",
        "/api/v1/customers/{customer_id}/contacts",
    } <= described, described


@pytest.mark.parametrize(("where", "example", "schema"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_example_matches_its_schema(where: str, example: Any, schema: dict[str, Any]) -> None:
    import jsonschema_rs

    resolvable = {**schema, "components": SCHEMA["components"]}
    errors = [str(e) for e in jsonschema_rs.Draft202012Validator(resolvable).iter_errors(example)]
    assert not errors, f"{where}: the example does not match the schema: {errors[:3]}"


def _parameter_names(operation: dict[str, Any]) -> set[str]:
    names = set()
    for parameter in operation.get("parameters", []):
        if "$ref" in parameter:
            parameter = SCHEMA["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[-1]]
        names.add(parameter["name"])
    return names


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_headers_are_declared(method: str, path: str, operation: dict[str, Any]) -> None:
    names = _parameter_names(operation)
    responses = operation["responses"]
    if method == "POST" and not path.startswith("/api/v1/auth/"):
        assert "Idempotency-Key" in names, f"{method} {path}: Idempotency-Key not declared"
        assert all(
            "Idempotent-Replayed" in r.get("headers", {}) for s, r in responses.items() if s.startswith("2")
        )
    if method in ("PATCH", "PUT"):
        assert "If-Match" in names, f"{method} {path}: If-Match not declared"
    assert all("X-Request-ID" in r.get("headers", {}) for r in responses.values())
    for status in ("429", "503"):
        if status in responses:
            assert "Retry-After" in responses[status]["headers"]
    if path != "/healthz":
        assert "503" in responses, f"{method} {path}: 503 (database down) not declared"


def test_no_leaked_or_split_schema_names() -> None:
    names = list(SCHEMA["components"]["schemas"])
    bad = [n for n in names if re.search(r"-Input$|-Output$|__|^Page_|^Body_", n)]
    assert not bad, bad
    titles = Counter(schema.get("title", name) for name, schema in SCHEMA["components"]["schemas"].items())
    assert not [t for t, n in titles.items() if n > 1], "schemas share a title (clients drop one)"


def test_money_in_requests_is_a_decimal_string() -> None:
    for name in ("ContractCreate", "PaymentCreate", "CreditLimitRequestCreate", "CustomerCreate"):
        properties = SCHEMA["components"]["schemas"][name]["properties"]
        amount = properties.get("amount") or properties.get("requested_limit") or properties["target_amount"]
        variants = amount.get("anyOf", [amount])
        assert all(v.get("type") in ("string", "null") for v in variants), (name, amount)
        assert any(v.get("format") == "decimal" for v in variants), (name, amount)

"""One error catalogue: every code is a class in app/domain/errors.py, documented and declared."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest

import app
from app.cli import CONVENTIONS_FILE, conventions_document, openapi_document
from app.domain import errors
from app.routers import problems

APP_DIR = Path(app.__file__).parent
CATALOGUE = errors.catalogue()
BY_CODE = {entry.code: entry for entry in CATALOGUE}
SCHEMA: dict[str, Any] = json.loads(openapi_document())
JSON_TYPES = {"string", "integer", "number", "boolean", "array", "object"}


def _all_subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _all_subclasses(sub)
    return found


def test_every_error_class_is_in_the_catalogue() -> None:
    for module in pkgutil.walk_packages([str(APP_DIR)], prefix="app."):
        importlib.import_module(module.name)
    outside = sorted(
        f"{c.__module__}.{c.__qualname__}"
        for c in _all_subclasses(errors.DomainError)
        if c.__module__ != errors.__name__ and not c.__module__.startswith("tests.")
    )
    assert not outside, f"declare these errors in app/domain/errors.py instead: {outside}"


def test_codes_are_unique_and_entries_complete() -> None:
    codes = [entry.code for entry in CATALOGUE]
    assert len(codes) == len(set(codes)), sorted(c for c in codes if codes.count(c) > 1)
    for entry in CATALOGUE:
        assert re.fullmatch(r"[a-z_]+(\.[a-z_]+)?", entry.code), entry
        assert problems.meaning(entry), f"{entry.__name__} needs a docstring: it is its meaning"
        assert entry.title, entry
        for name, extra in entry.extras.items():
            assert extra.type in JSON_TYPES and extra.description, (entry, name)


def _calls_with_code_keyword(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and any(k.arg == "code" for k in node.keywords):
            name = ast.unparse(node.func).split(".")[-1]
            if name in {entry.__name__ for entry in CATALOGUE}:
                found.append(f"{path.relative_to(APP_DIR.parent)}:{node.lineno} {name}(code=…)")
    return found


def test_no_module_shadows_a_catalogue_name() -> None:
    names = {entry.__name__ for entry in CATALOGUE}
    shadows = [
        f"{path.relative_to(APP_DIR.parent)}: {node.name}"
        for path in sorted(APP_DIR.rglob("*.py"))
        if path != Path(errors.__file__)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.name in names
    ]
    assert not shadows, f"these names hide catalogue errors; rename them: {shadows}"


def test_no_raise_site_passes_a_code_string() -> None:
    found = [hit for path in sorted(APP_DIR.rglob("*.py")) for hit in _calls_with_code_keyword(path)]
    assert not found, f"raise the catalogue class instead of passing code=: {found}"


def test_an_error_refuses_a_code_or_extras_it_does_not_declare() -> None:
    with pytest.raises(TypeError):
        errors.Conflict("x", code="made.up")
    with pytest.raises(TypeError):
        errors.CreditLimitExceeded("x", limit="1.00", colour="red")
    assert errors.CreditLimitExceeded("x", limit="1.00").extra == {"limit": "1.00"}


def test_every_kind_has_a_status_and_framework_codes_are_catalogued() -> None:
    kinds = {kind for kind, _ in problems.STATUS_BY_KIND}
    for entry in CATALOGUE:
        assert any(issubclass(entry, kind) for kind in kinds), f"{entry.__name__} has no kind"
    assert set(problems.CODE_BY_STATUS.values()) <= set(BY_CODE)


def test_docs_list_every_code_as_the_catalogue_says() -> None:
    assert CONVENTIONS_FILE.read_text(encoding="utf-8") == conventions_document(), (
        "docs/api-conventions.md's error table differs from app/domain/errors.py: run `crm openapi`"
    )
    table = CONVENTIONS_FILE.read_text(encoding="utf-8")
    for entry in CATALOGUE:
        assert f"| {problems.status_of(entry)} | `{entry.code}` |" in table, entry.code


def _problem_responses() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", status, response)
        for path, item in SCHEMA["paths"].items()
        for method, operation in item.items()
        for status, response in operation["responses"].items()
        if int(status) >= 400
    ]


@pytest.mark.parametrize(
    ("operation", "status", "response"),
    _problem_responses(),
    ids=[f"{o} {s}" for o, s, _ in _problem_responses()],
)
def test_each_error_response_lists_catalogue_codes_with_examples(
    operation: str, status: str, response: dict[str, Any]
) -> None:
    codes = response.get("x-problem-codes")
    assert codes, f"{operation} {status} lists no codes (use problems.responses(...))"
    for code in codes:
        assert code in BY_CODE, f"{operation} {status}: {code} is not in the catalogue"
        assert problems.status_of(BY_CODE[code]) == int(status), (operation, status, code)
        assert f"`{code}`" in response["description"]
    content = response["content"][problems.PROBLEM_JSON]
    assert content["schema"] == {"$ref": "#/components/schemas/Problem"}
    examples = content["examples"]
    assert set(examples) == set(codes)
    for code, shown in examples.items():
        assert shown == {"$ref": f"#/components/examples/{code}"}
        body = SCHEMA["components"]["examples"][code]["value"]
        assert body["code"] == code and body["status"] == int(status)
        assert set(BY_CODE[code].extras) <= set(body), f"{code}: the example lacks extras"


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in SCHEMA["paths"].items()
        for method, operation in item.items()
    ]


def _codes(operation: dict[str, Any], status: str) -> set[str]:
    return set(operation["responses"].get(status, {}).get("x-problem-codes", ()))


def _parameter(parameter: dict[str, Any]) -> dict[str, Any]:
    """A parameter, with a reference to ``components/parameters`` resolved."""
    if "$ref" in parameter:
        return SCHEMA["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[-1]]
    return parameter


@pytest.mark.parametrize(
    ("method", "path", "operation"), _operations(), ids=[f"{m} {p}" for m, p, _ in _operations()]
)
def test_generic_answers_are_declared(method: str, path: str, operation: dict[str, Any]) -> None:
    if path == "/healthz":
        pytest.skip("liveness answers 200 or nothing at all")
    params = {(p["in"], p["name"]) for p in map(_parameter, operation.get("parameters", []))}
    assert errors.InvalidInput.code in _codes(operation, "422")
    assert errors.ServiceUnavailable.code in _codes(operation, "503")
    if "{" in path:
        assert errors.NotFound.code in _codes(operation, "404"), "an id path answers not_found"
    if ("query", "cursor") in params:
        cursor_codes = {errors.InvalidCursor.code, errors.SyncInvalidCursor.code}
        assert cursor_codes & _codes(operation, "400"), "a paged listing answers its cursor code"
    if ("header", "If-Match") in params:
        assert errors.BadIfMatch.code in _codes(operation, "400")
        assert errors.VersionMismatch.code in _codes(operation, "412")


def test_credit_limit_exceeded_is_documented_on_signing() -> None:
    responses = SCHEMA["paths"]["/api/v1/contracts/{contract_id}/sign"]["post"]["responses"]
    assert "credit.limit_exceeded" in responses["409"]["x-problem-codes"]
    shown = SCHEMA["components"]["examples"]["credit.limit_exceeded"]["value"]
    assert {"limit", "exposure", "available", "shortfall"} <= set(shown)


def _role_guarded(dependant: Any) -> bool:
    return any(
        getattr(d.call, "__name__", "").startswith("allow_") or _role_guarded(d)
        for d in dependant.dependencies
    )


def _routes() -> list[Any]:
    from fastapi import APIRouter
    from fastapi.routing import APIRoute

    modules = [
        importlib.import_module(m.name)
        for m in pkgutil.iter_modules([str(APP_DIR / "routers")], prefix="app.routers.")
    ]
    routers = {id(v): v for module in modules for v in vars(module).values() if isinstance(v, APIRouter)}
    return [route for router in routers.values() for route in router.routes if isinstance(route, APIRoute)]


@pytest.mark.parametrize("route", _routes(), ids=lambda r: f"{sorted(r.methods)[0]} {r.path}")
def test_a_route_restricted_to_roles_declares_forbidden(route: Any) -> None:
    if _role_guarded(route.dependant):
        declared = problems.declared_codes(route.responses)
        assert errors.Forbidden.code in declared.get(403, set()), (
            f"{route.path} lets only some roles in: add errors.Forbidden to its responses"
        )


def test_role_guards_are_found() -> None:
    # Guards are found by the dependency's name (deps.allow); if that changed, the test
    # above would pass vacuously.
    assert sum(_role_guarded(route.dependant) for route in _routes()) > 20


async def test_the_client_check_catches_an_undeclared_code() -> None:
    import httpx
    from fastapi import FastAPI

    from tests.support.declared_codes import DeclaredCodes

    mini = FastAPI()
    problems.install(mini)

    @mini.get("/declared", responses=problems.responses(errors.ContractNotDraft))
    async def declared() -> None:
        raise errors.ContractNotDraft("no", contract_status="signed")

    @mini.get("/undeclared", responses=problems.responses(errors.NotFound))
    async def undeclared() -> None:
        raise errors.ContractNotDraft("no", contract_status="signed")

    checked = DeclaredCodes(mini)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=checked), base_url="http://test"
    ) as client:
        assert (await client.get("/declared")).status_code == 409
        assert checked.undeclared == []
        assert (await client.get("/undeclared")).status_code == 409
    assert checked.undeclared == ["GET /undeclared 409 contract.not_draft"]

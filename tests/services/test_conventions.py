"""Code conventions a reader relies on, checked on the source (AST), not by convention alone.

- A public service function opens exactly one unit of work (``async with uow:``): one use
  case, one transaction. A function that runs inside its caller's transaction ends in
  ``_in`` and opens none. Private helpers open none either.
- A repository lookup never treats a missing principal as "everything": scope is a required
  argument, and the unscoped lookup is a separately named method (``get_unscoped``).
"""

from __future__ import annotations

import ast
import pathlib
from collections.abc import Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2] / "app"
SERVICES = ROOT / "services"
REPOSITORIES = ROOT / "db" / "repositories"

# Batch work that runs in several transactions on purpose, each with the reason. Only these
# may open a unit of work more than once, or in a private per-chunk helper.
BATCHED = {
    "sync.push": "one transaction per chunk of changes, so a large push holds no long locks",
    "sync._run_chunk": "the transaction of one sync push chunk",
    "customer_io.export_customers": "a streamed export reads one keyset chunk per transaction",
    "customer_io._customer_chunks": "the per-chunk transactions of a streamed export",
    "exports._fetcher": "the per-chunk transactions of a streamed contract/receivable/payment export",
    "exports.export_contracts": "a streamed export reads one keyset chunk per transaction",
    "exports.export_receivables": "a streamed export reads one keyset chunk per transaction",
    "exports.export_payments": "a streamed export reads one keyset chunk per transaction",
}
# The demo data generator (app/demo, several batches on purpose) is not a service any more.


def _functions(folder: pathlib.Path) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for path in sorted(folder.glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield f"{path.stem}.{node.name}", node
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        yield f"{path.stem}.{node.name}.{item.name}", item


def _params(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    return [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]


def units_opened(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """How many ``async with uow`` blocks the function's own body holds."""
    return sum(
        1
        for inner in ast.walk(node)
        if isinstance(inner, ast.AsyncWith)
        for item in inner.items
        if isinstance(item.context_expr, ast.Name) and item.context_expr.id == "uow"
    )


def uow_violations(functions: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]) -> list[str]:
    found = []
    for name, node in functions:
        if "uow" not in [a.arg for a in _params(node)] or name in BATCHED:
            continue
        short, opened = name.rsplit(".", 1)[-1], units_opened(node)
        if short.startswith("_") or short.endswith("_in"):
            if opened:
                found.append(f"{name} runs in its caller's transaction but opens {opened} unit(s) of work")
        elif opened != 1 or not isinstance(node, ast.AsyncFunctionDef):
            found.append(
                f"{name} is a use case but opens {opened} units of work (name it *_in if it "
                "runs inside its caller's)"
            )
    return found


def test_each_public_service_function_opens_exactly_one_unit_of_work() -> None:
    assert uow_violations(list(_functions(SERVICES))) == []


def test_the_batched_exceptions_still_exist() -> None:
    names = {name for name, _ in _functions(SERVICES)}
    assert set(BATCHED) <= names, sorted(set(BATCHED) - names)


def _parse(source: str) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    return [
        (f"m.{n.name}", n)
        for n in ast.parse(source).body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


@pytest.mark.parametrize(
    ("source", "complaint"),
    [
        ("async def act(uow):\n    return 1\n", "m.act is a use case but opens 0"),
        (
            "async def act(uow):\n    async with uow:\n        pass\n    async with uow:\n        pass\n",
            "m.act is a use case but opens 2",
        ),
        ("async def act_in(uow):\n    async with uow:\n        pass\n", "m.act_in runs in its caller's"),
        ("async def _helper(uow):\n    async with uow:\n        pass\n", "m._helper runs in its caller's"),
    ],
)
def test_the_check_catches_each_kind_of_breach(source: str, complaint: str) -> None:
    [message] = uow_violations(_parse(source))
    assert message.startswith(complaint)


@pytest.mark.parametrize(
    "source",
    [
        "async def act(uow):\n    async with uow:\n        pass\n",
        "async def act_in(uow):\n    return 1\n",
        "def pure(x):\n    return x\n",
    ],
)
def test_the_check_accepts_the_conventions(source: str) -> None:
    assert uow_violations(_parse(source)) == []


def test_no_repository_lookup_takes_an_optional_principal() -> None:
    optional = []
    for name, node in _functions(REPOSITORIES):
        defaults = dict(zip([a.arg for a in node.args.kwonlyargs], node.args.kw_defaults, strict=True))
        positional = node.args.args[len(node.args.args) - len(node.args.defaults) :]
        defaults.update(zip([a.arg for a in positional], node.args.defaults, strict=True))
        if "principal" in defaults and defaults["principal"] is not None:
            optional.append(name)
        annotation = next((a.annotation for a in _params(node) if a.arg == "principal"), None)
        if annotation is not None and "None" in ast.unparse(annotation):
            optional.append(name)
    assert optional == []

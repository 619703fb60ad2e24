"""The domain imports the standard library, itself and an explicit allow-list only."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "app" / "domain"
# Deliberate: phone number parsing and formatting is a domain rule, and the library is pure.
ALLOWED = {"phonenumbers"}
# Distribution names whose import name differs.
IMPORT_NAMES = {
    "python-jose": ["jose"],
    "argon2-cffi": ["argon2"],
    "python-multipart": ["multipart", "python_multipart"],
    "email-validator": ["email_validator"],
    "pydantic-settings": ["pydantic_settings"],
}
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _top_level_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_domain_imports_only_the_standard_library_and_the_allow_list() -> None:
    for path in sorted(DOMAIN.glob("*.py")):
        outside = _top_level_imports(path) - set(sys.stdlib_module_names) - {"app"} - ALLOWED
        assert not outside, f"{path.name} imports {sorted(outside)}: keep the domain pure"


def test_every_other_runtime_dependency_is_forbidden_by_the_import_contract() -> None:
    contract = next(
        c for c in PYPROJECT["tool"]["importlinter"]["contracts"] if c.get("source_modules") == ["app.domain"]
    )
    for requirement in PYPROJECT["project"]["dependencies"]:
        distribution = re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0]
        for module in IMPORT_NAMES.get(distribution, [distribution.replace("-", "_")]):
            if module not in ALLOWED:
                assert module in contract["forbidden_modules"], (
                    f"add {module} to the domain's forbidden_modules (or allow it on purpose)"
                )

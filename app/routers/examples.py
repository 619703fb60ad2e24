"""Request and response examples of the main operations, shown in /docs and in the OpenAPI file.

Keyed by operation id; ``tests/contract/test_openapi.py`` validates each one against its schema,
so an example cannot drift from the contract.
"""

from __future__ import annotations

from typing import Any

REQUESTS: dict[str, dict[str, Any]] = {}
RESPONSES: dict[str, dict[str, Any]] = {}


def add_examples(operation: dict[str, Any]) -> None:
    """Put the examples of ``operation`` (if it has any) on its JSON request and 2xx response."""
    operation_id = operation.get("operationId", "")
    if operation_id in REQUESTS:
        content = operation["requestBody"]["content"]["application/json"]
        content["example"] = REQUESTS[operation_id]
    if operation_id in RESPONSES:
        status = next(s for s in operation["responses"] if s.startswith("2"))
        content = operation["responses"][status]["content"]["application/json"]
        content["example"] = RESPONSES[operation_id]

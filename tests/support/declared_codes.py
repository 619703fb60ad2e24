"""Fail a test when a route answers an error code its OpenAPI ``responses`` do not list."""

from __future__ import annotations

import json
import os
from typing import Any

from app.domain import errors
from app.routers.problems import PROBLEM_JSON, declared_codes

# Set to a file name to collect the undeclared answers of a whole run instead of failing.
RECORD = os.environ.get("CRM_RECORD_UNDECLARED")


class DeclaredCodes:
    """ASGI wrapper: compares each problem+json answer with its route's declared codes."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.undeclared: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        body = bytearray()

        async def watch(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body" and start.get("status", 0) >= 400:
                body.extend(message.get("body", b""))
                if not message.get("more_body"):
                    self._check(scope, start, bytes(body))
            await send(message)

        await self.app(scope, receive, watch)

    def _check(self, scope: dict[str, Any], start: dict[str, Any], body: bytes) -> None:
        route = scope.get("route")
        headers = dict(start.get("headers", []))
        if route is None or PROBLEM_JSON.encode() not in headers.get(b"content-type", b""):
            return
        status = start["status"]
        if status in (405, 500):
            return  # a wrong method, or a defect: neither is part of a route's contract
        code = json.loads(body).get("code")
        allowed = declared_codes(getattr(route, "responses", {})).get(status, set())
        if getattr(route, "body_field", None) is not None and status == 400:
            allowed.add(errors.BadRequest.code)
        if code not in allowed:
            found = f"{scope['method']} {route.path} {status} {code}"
            if RECORD:
                with open(RECORD, "a", encoding="utf-8") as out:
                    out.write(found + "\n")
            else:
                self.undeclared.append(found)

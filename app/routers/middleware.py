"""ASGI middleware: request ids and access logs, and Idempotency-Key replay for POSTs."""

from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import get_settings
from app.domain.errors import DomainError
from app.logs import request_id_var
from app.routers.problems import internal_error_response, render_domain_error
from app.services import health as health_service
from app.services import idempotency as idempotency_service
from app.services import security
from app.services.context import UnitOfWork

access_log = logging.getLogger("app.access")
error_log = logging.getLogger("app.errors")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# Headers worth replaying with a stored response.
_REPLAYED_HEADERS = ("content-type", "etag", "location")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class RequestContextMiddleware:
    """Give every request an id (or keep a sane incoming ``X-Request-ID``) and log it once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Logged and answered here, where the request id is still set, and not raised
            # further: Starlette's error middleware would answer without our header, and the
            # server would log it a second time and close the keep-alive connection. A
            # response already under way (a stream) is cut off: then the server must close
            # the connection, so the client sees it was truncated.
            unavailable = health_service.outage(exc)
            if unavailable is not None:  # expected during an outage: no traceback
                error_log.warning("database unavailable: %s", type(exc).__name__)
            else:
                error_log.exception("unhandled error")
            if response_started:
                raise
            response = (
                render_domain_error(unavailable) if unavailable is not None else internal_error_response()
            )
            await response(scope, receive, send_with_id)
        finally:
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)


class IdempotencyMiddleware:
    """Replay the first successful response to a POST carrying the same ``Idempotency-Key``.

    The key is reserved in the database before the request runs, so two concurrent
    requests with one key cannot both create; only 2xx answers are kept, so a failed
    request may be retried with its key.
    """

    def __init__(self, app: ASGIApp, *, session_factory_of: Any) -> None:
        self.app = app
        self.session_factory_of = session_factory_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _header(scope, b"idempotency-key") if scope["type"] == "http" else None
        if key is None or scope["method"] != "POST" or "/auth/" in scope["path"]:
            await self.app(scope, receive, send)
            return
        user_id = self._user_id(scope)
        if user_id is None or not _KEY.match(key):
            # Unauthenticated requests fail on their own; a malformed key is ignored.
            await self.app(scope, receive, send)
            return

        body = await _read_body(receive)
        request_hash = hashlib.sha256(
            b"\n".join(
                [scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""), body]
            )
        ).hexdigest()
        uow = UnitOfWork(self.session_factory_of(scope))
        try:
            begun = await idempotency_service.begin(
                uow,
                user_id=user_id,
                key=key,
                method=scope["method"],
                path=scope["path"],
                request_hash=request_hash,
            )
        except DomainError as exc:
            await render_domain_error(exc)(scope, _replay_body(body, receive), send)
            return
        if begun.replay is not None:
            await _send_stored(send, begun.replay)
            return

        assert begun.record_id is not None
        # The request's unit of work marks the key committed along with its first commit.
        scope.setdefault("state", {})["idempotency_fence"] = (begun.record_id, begun.attempt)
        captured: dict[str, Any] = {"status": 500, "headers": [], "body": bytearray()}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                captured["body"].extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, _replay_body(body, receive), capture)
        finally:
            if 200 <= captured["status"] < 300:
                headers = {
                    k.decode("latin-1"): v.decode("latin-1")
                    for k, v in captured["headers"]
                    if k.decode("latin-1").lower() in _REPLAYED_HEADERS
                }
                stored = idempotency_service.StoredResponse(
                    status_code=captured["status"],
                    body=bytes(captured["body"]),
                    content_type=headers.pop("content-type", None),
                    headers=headers,
                )
                await idempotency_service.finish(uow, record_id=begun.record_id, response=stored)
            else:
                await idempotency_service.release(uow, record_id=begun.record_id)

    @staticmethod
    def _user_id(scope: Scope) -> uuid.UUID | None:
        auth = _header(scope, b"authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            claims = security.decode_access_token(token.strip(), secret=get_settings().effective_secret_key())
        except DomainError:
            return None
        return claims.user_id


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay_body(body: bytes, upstream: Receive) -> Receive:
    """Hand the buffered body to the app once, then pass on the client's real messages."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await upstream()

    return receive


async def _send_stored(send: Send, stored: idempotency_service.StoredResponse) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in stored.headers.items()]
    if stored.content_type:
        headers.append((b"content-type", stored.content_type.encode("latin-1")))
    headers += [(b"content-length", str(len(stored.body)).encode()), (b"idempotent-replayed", b"true")]
    await send({"type": "http.response.start", "status": stored.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body})

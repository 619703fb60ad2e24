"""Cross-cutting conventions: problem+json, request ids, Idempotency-Key, probes, 500s."""

from __future__ import annotations

import json
import logging
import re
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from app.config import get_settings
from app.db.engine import make_session_factory
from app.db.models import User
from app.db.uow import UnitOfWork
from app.domain.errors import Conflict, ServiceUnavailable
from app.logs import JsonFormatter
from app.main import create_app
from app.services import idempotency as idempotency_service
from app.services import users as users_service
from tests.support.builders import access_headers, assert_problem, make_user

USERS = "/api/v1/users"


def _new_user(**overrides) -> dict:
    return {
        "username": f"idem-{uuid.uuid4().hex[:8]}",
        "password": "a-long-enough-password",
        "role": "rep",
        **overrides,
    }


async def _count_users(client, headers) -> int:
    response = await client.get(USERS, headers=headers, params={"limit": 500})
    assert response.status_code == 200
    return len(response.json()["items"])


class TestProblemJson:
    async def test_401(self, client):
        body = assert_problem(await client.get(USERS), 401, "unauthorized")
        assert body["title"] == "Unauthorized"

    async def test_403(self, client, uow_factory):
        rep = await make_user(uow_factory, role="rep")
        response = await client.post(USERS, json=_new_user(), headers=access_headers(rep))
        assert_problem(response, 403, "forbidden")

    async def test_404_record(self, client, uow_factory):
        rep = await make_user(uow_factory, role="rep")
        response = await client.get(f"{USERS}/{uuid.uuid4()}", headers=access_headers(rep))
        assert_problem(response, 404, "not_found")

    @pytest.mark.parametrize("path", ["/api/v1/no-such-thing", "/nowhere", "/api/v2/users"])
    async def test_404_unknown_route(self, client, path):
        assert_problem(await client.get(path), 404, "not_found")

    async def test_405(self, client, uow_factory):
        admin = await make_user(uow_factory, role="admin")
        response = await client.delete(USERS, headers=access_headers(admin))
        assert_problem(response, 405, "method_not_allowed")
        assert "GET" in response.headers["allow"]
        assert_problem(await client.put("/healthz"), 405, "method_not_allowed")

    async def test_422_has_errors(self, client, uow_factory):
        admin = await make_user(uow_factory, role="admin")
        response = await client.post(USERS, json={"role": "rep"}, headers=access_headers(admin))
        body = assert_problem(response, 422, "validation_error")
        assert {tuple(e["loc"]) for e in body["errors"]} == {("body", "username"), ("body", "password")}
        assert all(set(e) == {"loc", "msg", "type"} for e in body["errors"])

    async def test_422_on_a_body_that_is_not_json(self, client, uow_factory):
        admin = await make_user(uow_factory, role="admin")
        response = await client.post(
            USERS, content=b"{not json", headers={**access_headers(admin), "Content-Type": "application/json"}
        )
        body = assert_problem(response, 422, "validation_error")
        assert body["errors"]


class TestRequestId:
    async def test_every_response_carries_one(self, client, uow_factory):
        admin = await make_user(uow_factory, role="admin")
        responses = [
            await client.get("/healthz"),
            await client.get(USERS),
            await client.get(USERS, headers=access_headers(admin)),
            await client.get("/nowhere"),
            await client.delete(USERS),
            await client.get(USERS, headers=access_headers(admin), params={"limit": 0}),
            await client.post(USERS, json=_new_user(), headers=access_headers(admin)),
        ]
        ids = [r.headers.get("x-request-id") for r in responses]
        assert all(ids), [(r.status_code, r.headers.get("x-request-id")) for r in responses]
        assert len(set(ids)) == len(ids), "request ids must be unique per request"

    async def test_a_sane_incoming_id_is_echoed(self, client):
        response = await client.get("/healthz", headers={"X-Request-ID": "req-42.abc_DEF"})
        assert response.headers["x-request-id"] == "req-42.abc_DEF"

    @pytest.mark.parametrize("incoming", ["has spaces", "x" * 129, "<script>", "a;b", "ümlaut"])
    async def test_an_insane_incoming_id_is_replaced(self, client, incoming):
        response = await client.get("/healthz", headers={"X-Request-ID": incoming.encode("utf-8")})
        echoed = response.headers["x-request-id"]
        assert echoed != incoming
        assert re.fullmatch(r"[0-9a-f]{32}", echoed)


class TestIdempotencyKey:
    async def test_a_repeat_replays_the_first_response_and_creates_nothing(self, client, uow_factory):
        admin = await make_user(uow_factory, role="admin")
        headers = {**access_headers(admin), "Idempotency-Key": "create-user-1"}
        payload = _new_user()
        first = await client.post(USERS, json=payload, headers=headers)
        assert first.status_code == 201, first.text
        assert "idempotent-replayed" not in first.headers
        count = await _count_users(client, headers)

        second = await client.post(USERS, json=payload, headers=headers)
        assert second.status_code == 201, second.text
        assert second.headers["idempotent-replayed"] == "true"
        assert second.json() == first.json()
        assert second.headers["location"] == first.headers["location"]
        assert second.headers["etag"] == first.headers["etag"]
        assert second.headers["content-type"].startswith("application/json")
        assert await _count_users(client, headers) == count

    async def test_the_same_key_with_another_body_is_refused(self, client, uow_factory):
        admin = await make_user(uow_factory, role="admin")
        headers = {**access_headers(admin), "Idempotency-Key": "create-user-2"}
        assert (await client.post(USERS, json=_new_user(), headers=headers)).status_code == 201
        count = await _count_users(client, headers)
        response = await client.post(USERS, json=_new_user(), headers=headers)
        assert_problem(response, 422, "idempotency.key_reused")
        assert "idempotent-replayed" not in response.headers
        # Another creating path with the same key is another request too.
        other = await client.post("/api/v1/teams", json={"name": "T"}, headers=headers)
        assert_problem(other, 422, "idempotency.key_reused")
        assert await _count_users(client, headers) == count

    async def test_a_failed_request_does_not_keep_the_key(self, client, uow_factory):
        admin = await make_user(uow_factory, role="admin")
        headers = {**access_headers(admin), "Idempotency-Key": "create-user-3"}
        payload = _new_user()
        bad = await client.post(USERS, json={**payload, "team_id": str(uuid.uuid4())}, headers=headers)
        assert_problem(bad, 422, "user.team_not_found")
        invalid = await client.post(USERS, json={**payload, "password": "short"}, headers=headers)
        assert_problem(invalid, 422, "validation_error")
        fixed = await client.post(USERS, json=payload, headers=headers)
        assert fixed.status_code == 201, fixed.text
        assert "idempotent-replayed" not in fixed.headers
        assert fixed.json()["username"] == payload["username"]

    async def test_keys_belong_to_their_user(self, client, uow_factory):
        alice = await make_user(uow_factory, role="admin")
        bob = await make_user(uow_factory, role="admin")
        payload = _new_user()
        first = await client.post(
            USERS, json=payload, headers={**access_headers(alice), "Idempotency-Key": "shared"}
        )
        assert first.status_code == 201
        # Bob's request with the same key and body is his own: it runs (and finds the name taken).
        second = await client.post(
            USERS, json=payload, headers={**access_headers(bob), "Idempotency-Key": "shared"}
        )
        assert_problem(second, 409, "user.username_taken")
        assert "idempotent-replayed" not in second.headers

    async def test_without_a_key_a_repeat_is_a_new_request(self, client, uow_factory):
        admin = await make_user(uow_factory, role="admin")
        payload = _new_user()
        assert (await client.post(USERS, json=payload, headers=access_headers(admin))).status_code == 201
        repeat = await client.post(USERS, json=payload, headers=access_headers(admin))
        assert_problem(repeat, 409, "user.username_taken")

    # A process that dies while a request with a key runs leaves the key reserved and
    # unanswered. Simulated here by keeping the service from storing (or releasing) it.

    async def test_a_response_lost_after_the_commit_is_reported_not_run_again(
        self, client, uow_factory, monkeypatch
    ):
        admin = await make_user(uow_factory, role="admin")
        headers = {**access_headers(admin), "Idempotency-Key": "lost-1"}
        payload = _new_user()

        async def died_before_storing(*_args, **_kwargs) -> None:
            return None

        monkeypatch.setattr(idempotency_service, "finish", died_before_storing)
        assert (await client.post(USERS, json=payload, headers=headers)).status_code == 201
        count = await _count_users(client, headers)
        # Within the lease the first run may still be answering.
        assert_problem(
            await client.post(USERS, json=payload, headers=headers), 409, "idempotency.in_progress"
        )
        monkeypatch.setattr(get_settings(), "idempotency_lease_seconds", 0)
        assert_problem(
            await client.post(USERS, json=payload, headers=headers), 409, "idempotency.response_lost"
        )
        assert await _count_users(client, headers) == count

    async def test_a_run_that_died_before_committing_is_taken_over_after_the_lease(
        self, client, uow_factory, monkeypatch
    ):
        admin = await make_user(uow_factory, role="admin")
        headers = {**access_headers(admin), "Idempotency-Key": "died-1"}
        payload = _new_user()
        create_user = users_service.create_user
        runs = []

        async def dies_the_first_time(*args, **kwargs):
            runs.append(1)
            if len(runs) == 1:
                raise RuntimeError("the process died")
            return await create_user(*args, **kwargs)

        async def died_before_releasing(*_args, **_kwargs) -> None:
            return None

        monkeypatch.setattr(users_service, "create_user", dies_the_first_time)
        monkeypatch.setattr(idempotency_service, "release", died_before_releasing)
        assert_problem(await client.post(USERS, json=payload, headers=headers), 500, "internal_error")
        assert_problem(
            await client.post(USERS, json=payload, headers=headers), 409, "idempotency.in_progress"
        )
        monkeypatch.setattr(get_settings(), "idempotency_lease_seconds", 0)
        retried = await client.post(USERS, json=payload, headers=headers)
        assert retried.status_code == 201, retried.text
        assert "idempotent-replayed" not in retried.headers
        monkeypatch.setattr(get_settings(), "idempotency_lease_seconds", 600)
        replayed = await client.post(USERS, json=payload, headers=headers)
        assert replayed.headers["idempotent-replayed"] == "true"
        assert replayed.json() == retried.json()
        assert len(runs) == 2

    async def test_a_run_that_lost_its_key_to_a_retry_cannot_commit(self, session_factory, monkeypatch):
        user_id = uuid.uuid4()
        begun = await idempotency_service.begin(
            UnitOfWork(session_factory),
            user_id=user_id,
            key="fenced",
            method="POST",
            path=USERS,
            request_hash="h",
        )
        monkeypatch.setattr(get_settings(), "idempotency_lease_seconds", 0)
        retry = await idempotency_service.begin(
            UnitOfWork(session_factory),
            user_id=user_id,
            key="fenced",
            method="POST",
            path=USERS,
            request_hash="h",
        )
        assert (retry.record_id, retry.attempt) == (begun.record_id, 2)

        slow_first_run = UnitOfWork(session_factory, fence=(begun.record_id, 1))
        username = f"fenced-{uuid.uuid4().hex[:6]}"
        with pytest.raises(Conflict) as refused:
            async with slow_first_run as uow:
                uow.session.add(User(username=username, role="rep", password_hash="x"))
                await uow.commit()
        assert refused.value.code == "idempotency.superseded"
        async with UnitOfWork(session_factory, fence=(retry.record_id, 2)) as uow:
            assert await uow.users.get_by_username(username) is None
            uow.session.add(User(username=username, role="rep", password_hash="x"))
            await uow.commit()
        async with UnitOfWork(session_factory) as uow:
            record = await uow.idempotency.get_by_id(retry.record_id)
            assert record is not None and record.committed_at is not None

    async def test_anonymous_requests_with_a_key_are_still_401(self, client):
        response = await client.post(USERS, json=_new_user(), headers={"Idempotency-Key": "k"})
        assert_problem(response, 401, "unauthorized")


class TestProbes:
    async def test_healthz(self, client):
        response = await client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    async def test_readyz(self, client):
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ready"}

    async def test_readyz_without_a_database(self, tmp_path):
        # A SQLite file in a directory that does not exist: connecting fails.
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/crm.db")
        app = create_app(get_settings(), session_factory=make_session_factory(engine))
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                response = await c.get("/readyz")
                assert (await c.get("/healthz")).status_code == 200
        finally:
            await engine.dispose()
        body = assert_problem(response, 503, "service_unavailable")
        assert "sqlite" not in response.text.lower()
        assert body["detail"] == "The database is not reachable"


class TestInternalError:
    @pytest.fixture
    async def boom_client(self, session_factory):
        app = create_app(get_settings(), session_factory=session_factory)

        @app.get("/boom")
        async def boom() -> None:
            raise RuntimeError("secret sql: SELECT password_hash FROM user_account")

        @app.get("/db-gone")
        async def db_gone() -> None:
            raise ServiceUnavailable("The database connection was lost; retry the request", retry_after=1)

        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c

    async def test_500_is_a_problem_that_leaks_nothing(self, boom_client):
        response = await boom_client.get("/boom")
        body = assert_problem(response, 500, "internal_error")
        assert set(body) == {"type", "title", "status", "detail", "code"}
        for leak in ("secret", "SELECT", "password_hash", "RuntimeError", "Traceback"):
            assert leak not in response.text

    async def test_a_lost_database_connection_is_503_with_retry_after(self, boom_client):
        response = await boom_client.get("/db-gone")
        assert_problem(response, 503, "service_unavailable")
        assert response.headers["retry-after"] == "1"

    async def test_500_carries_a_request_id(self, boom_client):
        response = await boom_client.get("/boom", headers={"X-Request-ID": "trace-500"})
        assert response.status_code == 500
        assert response.headers.get("x-request-id") == "trace-500"

    async def test_500_is_logged_once_with_its_request_id(self, boom_client):
        lines: list[dict] = []

        class Collect(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                lines.append(json.loads(JsonFormatter().format(record)))

        handler = Collect(level=logging.ERROR)
        logging.getLogger().addHandler(handler)
        try:
            await boom_client.get("/boom", headers={"X-Request-ID": "trace-500"})
        finally:
            logging.getLogger().removeHandler(handler)
        [line] = lines
        assert line["msg"] == "unhandled error" and line["request_id"] == "trace-500"
        assert "RuntimeError" in line["exc"]

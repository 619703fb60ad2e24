"""Login, refresh-token rotation and reuse detection, logout, and access-token validation."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import uuid

import httpx
import pytest
from jose import jwt

from app.config import get_settings
from app.db.base import utcnow
from app.services import security
from tests.support.builders import PASSWORD, access_headers, assert_problem, login, make_user

TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/me"
SECRET = os.environ["CRM_SECRET_KEY"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _segment(obj: dict) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


def _claims(user, **overrides) -> dict:
    now = int(utcnow().timestamp())
    claims = {
        "sub": str(user.id),
        "role": user.role,
        "typ": "access",
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _hs256(signing_input: str, key: str = SECRET) -> str:
    return _b64(hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest())


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _token(client, username, password=PASSWORD):
    return await client.post(TOKEN, data={"username": username, "password": password})


async def _refresh(client, refresh_token):
    return await client.post(REFRESH, json={"refresh_token": refresh_token})


def _assert_401(response, code: str | None = None) -> dict:
    body = assert_problem(response, 401, code)
    assert response.headers["www-authenticate"] == "Bearer"
    return body


class TestLogin:
    async def test_answers_a_token_pair_that_works(self, client, uow_factory):
        user = await make_user(uow_factory, role="rep")
        response = await _token(client, user.username)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == get_settings().access_token_minutes * 60
        assert body["refresh_token"] and body["refresh_token"] != body["access_token"]
        assert jwt.get_unverified_header(body["access_token"])["alg"] == "HS256"
        me = await client.get(ME, headers=_bearer(body["access_token"]))
        assert me.status_code == 200
        assert me.json()["id"] == str(user.id)

    async def test_wrong_password_and_unknown_user_answer_the_same(self, client, uow_factory):
        user = await make_user(uow_factory)
        wrong = await _token(client, user.username, "not-the-password")
        unknown = await _token(client, "nobody-" + uuid.uuid4().hex[:8], PASSWORD)
        wrong_body = _assert_401(wrong, "auth.invalid_credentials")
        unknown_body = _assert_401(unknown, "auth.invalid_credentials")
        assert wrong_body["detail"] == unknown_body["detail"]
        assert "access_token" not in wrong.text

    async def test_deactivated_user_cannot_log_in(self, client, uow_factory):
        user = await make_user(uow_factory, is_active=False)
        response = await _token(client, user.username)
        body = _assert_401(response, "auth.invalid_credentials")
        assert body["detail"] == "Incorrect username or password"

    async def test_missing_password_is_a_validation_problem(self, client):
        response = await client.post(TOKEN, data={"username": "someone"})
        body = assert_problem(response, 422, "validation_error")
        assert ["body", "password"] in [e["loc"] for e in body["errors"]]


class TestLoginThrottling:
    """Throttled per (client address, username): the owner elsewhere still gets in, the
    lock is short and grows, and an unknown username behaves exactly like a known one."""

    @pytest.fixture
    async def elsewhere(self, app, client):
        # The `client` fixture points the app at this test's transaction first.
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as other:
            yield other

    @staticmethod
    async def fail_until_locked(client, username: str) -> httpx.Response:
        for _ in range(get_settings().login_max_failures):
            _assert_401(await _token(client, username, "wrong-password"))
        locked = await _token(client, username, PASSWORD)
        assert_problem(locked, 429, "auth.too_many_attempts")
        assert "access_token" not in locked.text
        return locked

    async def test_failures_lock_the_address_and_username_briefly(self, client, uow_factory):
        user = await make_user(uow_factory)
        settings = get_settings()
        for _ in range(settings.login_max_failures - 1):
            _assert_401(await _token(client, user.username, "wrong-password"))
        _assert_401(await _token(client, user.username, "wrong-password"))  # the last free one
        locked = await _token(client, user.username, PASSWORD)
        assert_problem(locked, 429, "auth.too_many_attempts")
        assert 0 < int(locked.headers["retry-after"]) <= settings.login_first_lockout_seconds + 1

    async def test_the_owner_from_another_address_still_gets_in(self, client, elsewhere, uow_factory):
        user = await make_user(uow_factory)
        await self.fail_until_locked(client, user.username)
        assert (await _token(elsewhere, user.username)).status_code == 200
        # ...and the attacker's address stays throttled for that username only.
        assert (await _token(client, user.username)).status_code == 429
        other = await make_user(uow_factory)
        assert (await _token(client, other.username)).status_code == 200

    async def test_after_the_delay_the_owner_gets_in_and_the_count_resets(self, client, uow_factory):
        user = await make_user(uow_factory)
        await self.fail_until_locked(client, user.username)
        await _expire_lock(uow_factory)
        assert (await _token(client, user.username)).status_code == 200
        for _ in range(get_settings().login_max_failures):
            _assert_401(await _token(client, user.username, "wrong-password"))

    async def test_the_delay_doubles_with_each_further_failure(self, client, uow_factory):
        user = await make_user(uow_factory)
        first = int((await self.fail_until_locked(client, user.username)).headers["retry-after"])
        await _expire_lock(uow_factory)
        _assert_401(await _token(client, user.username, "wrong-password"))
        second = int((await _token(client, user.username)).headers["retry-after"])
        assert second >= 2 * first - 2
        assert second <= get_settings().login_lockout_minutes * 60 + 1

    async def test_an_unknown_username_behaves_exactly_like_a_known_one(self, client, uow_factory):
        user = await make_user(uow_factory)
        ghost = "ghost-" + uuid.uuid4().hex[:8]
        known, unknown = [], []
        for _ in range(7):  # interleaved, so both locks start at about the same moment
            known.append(await _token(client, user.username, "wrong-password"))
            unknown.append(await _token(client, ghost, "wrong-password"))
        assert [r.status_code for r in known] == [r.status_code for r in unknown]
        assert [r.json()["code"] for r in known] == [r.json()["code"] for r in unknown]
        assert [r.json()["detail"] for r in known] == [r.json()["detail"] for r in unknown]
        assert abs(int(known[-1].headers["retry-after"]) - int(unknown[-1].headers["retry-after"])) <= 1

    async def test_every_answer_costs_one_password_hash(self, client, uow_factory, monkeypatch):
        user = await make_user(uow_factory)
        inactive = await make_user(uow_factory, is_active=False)
        calls = []
        real = security._passwords.verify
        monkeypatch.setattr(
            security._passwords, "verify", lambda *args, **kwargs: calls.append(1) or real(*args, **kwargs)
        )
        attempts = [
            (user.username, PASSWORD),
            (user.username, "wrong"),
            ("no-such-user", "wrong"),
            (inactive.username, PASSWORD),
        ]
        for username, password in attempts:
            calls.clear()
            await _token(client, username, password)
            assert len(calls) == 1, username
        await self.fail_until_locked(client, "another-stranger")
        calls.clear()
        assert (await _token(client, "another-stranger", "wrong")).status_code == 429
        assert len(calls) == 1


async def _expire_lock(uow_factory) -> None:
    from sqlalchemy import update

    from app.db.models import LoginThrottle

    async with uow_factory() as uow:
        await uow.session.execute(
            update(LoginThrottle).values(locked_until=utcnow() - dt.timedelta(seconds=1))
        )
        await uow.commit()


class TestRefresh:
    async def test_rotates_and_the_old_token_stops_working(self, client, uow_factory):
        user = await make_user(uow_factory)
        first = await login(client, user.username)
        response = await _refresh(client, first["refresh_token"])
        assert response.status_code == 200, response.text
        second = response.json()
        assert second["token_type"] == "bearer"
        assert second["refresh_token"] != first["refresh_token"]
        assert (await client.get(ME, headers=_bearer(second["access_token"]))).status_code == 200
        _assert_401(await _refresh(client, first["refresh_token"]), "auth.refresh_token_reused")

    async def test_reuse_of_a_rotated_token_revokes_the_whole_family(self, client, uow_factory):
        user = await make_user(uow_factory)
        first = await login(client, user.username)
        other_login = await login(client, user.username)
        second = (await _refresh(client, first["refresh_token"])).json()
        third = (await _refresh(client, second["refresh_token"])).json()
        _assert_401(await _refresh(client, first["refresh_token"]), "auth.refresh_token_reused")
        # The newest token of the family is dead too ...
        _assert_401(await _refresh(client, third["refresh_token"]), "auth.invalid_refresh_token")
        # ... but another login's family is untouched.
        assert (await _refresh(client, other_login["refresh_token"])).status_code == 200

    async def test_unknown_refresh_token(self, client):
        _assert_401(await _refresh(client, "not-a-token"), "auth.invalid_refresh_token")

    async def test_expired_refresh_token(self, client, uow_factory):
        user = await make_user(uow_factory)
        tokens = await login(client, user.username)
        async with uow_factory() as uow:
            stored = await uow.refresh_tokens.get_by_hash(
                security.hash_refresh_token(tokens["refresh_token"])
            )
            stored.expires_at = utcnow() - dt.timedelta(seconds=1)
            await uow.commit()
        _assert_401(await _refresh(client, tokens["refresh_token"]), "auth.invalid_refresh_token")

    async def test_deactivated_user_cannot_refresh(self, client, uow_factory):
        user = await make_user(uow_factory)
        tokens = await login(client, user.username)
        async with uow_factory() as uow:
            # Straight in the database, so the tokens are not revoked on the way.
            stored = await uow.users.get_unscoped(user.id)
            stored.is_active = False
            await uow.commit()
        _assert_401(await _refresh(client, tokens["refresh_token"]), "auth.inactive_user")

    async def test_refresh_token_is_required(self, client):
        body = assert_problem(await client.post(REFRESH, json={}), 422, "validation_error")
        assert body["errors"][0]["loc"] == ["body", "refresh_token"]


class TestLogout:
    async def test_revokes_the_refresh_token(self, client, uow_factory):
        user = await make_user(uow_factory)
        tokens = await login(client, user.username)
        response = await client.post(LOGOUT, json={"refresh_token": tokens["refresh_token"]})
        assert response.status_code == 204
        assert response.content == b""
        _assert_401(await _refresh(client, tokens["refresh_token"]), "auth.invalid_refresh_token")

    async def test_an_older_token_of_the_family_revokes_the_current_one(self, client, uow_factory):
        user = await make_user(uow_factory)
        first = await login(client, user.username)
        second = (await _refresh(client, first["refresh_token"])).json()
        response = await client.post(LOGOUT, json={"refresh_token": first["refresh_token"]})
        assert response.status_code == 204
        _assert_401(await _refresh(client, second["refresh_token"]), "auth.invalid_refresh_token")

    async def test_unknown_token_answers_the_same(self, client):
        response = await client.post(LOGOUT, json={"refresh_token": "never-issued"})
        assert response.status_code == 204


class TestAccessToken:
    async def test_a_correctly_crafted_token_is_accepted(self, client, uow_factory):
        # The control for every rejection below: the crafting itself is right.
        user = await make_user(uow_factory)
        token = jwt.encode(_claims(user), SECRET, algorithm="HS256")
        response = await client.get(ME, headers=_bearer(token))
        assert response.status_code == 200
        assert response.json()["id"] == str(user.id)

    async def test_expired(self, client, uow_factory):
        user = await make_user(uow_factory)
        past = int((utcnow() - dt.timedelta(minutes=1)).timestamp())
        token = jwt.encode(_claims(user, iat=past - 900, exp=past), SECRET, algorithm="HS256")
        _assert_401(await client.get(ME, headers=_bearer(token)), "unauthorized")

    async def test_without_exp(self, client, uow_factory):
        user = await make_user(uow_factory)
        token = jwt.encode(_claims(user, exp=None), SECRET, algorithm="HS256")
        _assert_401(await client.get(ME, headers=_bearer(token)))

    async def test_tampered_payload(self, client, uow_factory):
        rep = await make_user(uow_factory, role="rep")
        admin = await make_user(uow_factory, role="admin")
        header, _, signature = jwt.encode(_claims(rep), SECRET, algorithm="HS256").split(".")
        forged = ".".join([header, _segment(_claims(admin)), signature])
        _assert_401(await client.get(ME, headers=_bearer(forged)))

    async def test_tampered_signature(self, client, uow_factory):
        user = await make_user(uow_factory)
        header, payload, signature = jwt.encode(_claims(user), SECRET, algorithm="HS256").split(".")
        raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
        raw[0] ^= 0x01
        _assert_401(await client.get(ME, headers=_bearer(f"{header}.{payload}.{_b64(bytes(raw))}")))

    async def test_signed_with_another_secret(self, client, uow_factory):
        user = await make_user(uow_factory)
        token = jwt.encode(_claims(user), SECRET + "-other", algorithm="HS256")
        _assert_401(await client.get(ME, headers=_bearer(token)))

    @pytest.mark.parametrize("alg", ["none", "None", "NONE"])
    async def test_alg_none(self, client, uow_factory, alg):
        user = await make_user(uow_factory)
        unsigned = f"{_segment({'alg': alg, 'typ': 'JWT'})}.{_segment(_claims(user))}"
        _assert_401(await client.get(ME, headers=_bearer(unsigned + ".")))
        # Even with a valid HS256 signature over it, the header's algorithm must be refused.
        _assert_401(await client.get(ME, headers=_bearer(f"{unsigned}.{_hs256(unsigned)}")))

    async def test_hs512_with_the_same_secret(self, client, uow_factory):
        user = await make_user(uow_factory)
        token = jwt.encode(_claims(user), SECRET, algorithm="HS512")
        _assert_401(await client.get(ME, headers=_bearer(token)))

    async def test_rs256_header_with_an_hmac_signature(self, client, uow_factory):
        # The classic confusion: an asymmetric algorithm named, the shared secret used as the key.
        user = await make_user(uow_factory)
        signing_input = f"{_segment({'alg': 'RS256', 'typ': 'JWT'})}.{_segment(_claims(user))}"
        _assert_401(await client.get(ME, headers=_bearer(f"{signing_input}.{_hs256(signing_input)}")))

    async def test_a_refresh_token_is_not_a_bearer_token(self, client, uow_factory):
        user = await make_user(uow_factory)
        tokens = await login(client, user.username)
        _assert_401(await client.get(ME, headers=_bearer(tokens["refresh_token"])))

    async def test_a_jwt_that_is_not_an_access_token(self, client, uow_factory):
        user = await make_user(uow_factory)
        token = jwt.encode(_claims(user, typ="refresh"), SECRET, algorithm="HS256")
        _assert_401(await client.get(ME, headers=_bearer(token)))

    async def test_a_token_for_an_unknown_user(self, client):
        token = jwt.encode(
            {
                "sub": str(uuid.uuid4()),
                "typ": "access",
                "role": "admin",
                "exp": int(utcnow().timestamp()) + 600,
            },
            SECRET,
            algorithm="HS256",
        )
        _assert_401(await client.get(ME, headers=_bearer(token)))

    async def test_a_deactivated_users_token(self, client, uow_factory):
        user = await make_user(uow_factory, is_active=False)
        _assert_401(await client.get(ME, headers=access_headers(user)))

    async def test_missing_authorization(self, client):
        _assert_401(await client.get(ME), "unauthorized")

    @pytest.mark.parametrize(
        "value",
        [
            "Bearer",
            "Bearer garbage",
            "Bearer a.b.c",
            "Basic dXNlcjpwYXNzd29yZA==",
            "garbage",
            "Token abc",
        ],
    )
    async def test_garbage_authorization(self, client, value):
        _assert_401(await client.get(ME, headers={"Authorization": value}))

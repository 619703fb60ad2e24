"""Users: list with scope and pagination, create, get, update with If-Match, deactivate."""

from __future__ import annotations

import base64
import json
import uuid
from types import SimpleNamespace

import pytest

from tests.support.builders import (
    PASSWORD,
    access_headers,
    assert_problem,
    login,
    make_team,
    make_user,
)

USERS = "/api/v1/users"


@pytest.fixture
async def org(uow_factory):
    """A region team (manager + rep) with a sub-team (rep), another team, and the all-scope roles."""
    region = await make_team(uow_factory, name="region")
    group = await make_team(uow_factory, name="group", parent=region)
    other = await make_team(uow_factory, name="other")
    manager = await make_user(uow_factory, role="manager", team=region)
    region_rep = await make_user(uow_factory, role="rep", team=region)
    group_rep = await make_user(uow_factory, role="rep", team=group)
    other_manager = await make_user(uow_factory, role="manager", team=other)
    other_rep = await make_user(uow_factory, role="rep", team=other)
    admin = await make_user(uow_factory, role="admin")
    director = await make_user(uow_factory, role="director")
    support = await make_user(uow_factory, role="support")
    finance = await make_user(uow_factory, role="finance")
    everyone = [manager, region_rep, group_rep, other_manager, other_rep, admin, director, support, finance]
    return SimpleNamespace(
        region=region,
        group=group,
        other=other,
        manager=manager,
        region_rep=region_rep,
        group_rep=group_rep,
        other_manager=other_manager,
        other_rep=other_rep,
        admin=admin,
        director=director,
        support=support,
        finance=finance,
        all_ids={str(u.id) for u in everyone},
    )


async def _all_ids(client, headers, **params) -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(100):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(USERS, headers=headers, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        ids += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("pagination never ended")


def _cursor(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


class TestListUsers:
    async def test_anonymous(self, client):
        assert_problem(await client.get(USERS), 401, "unauthorized")

    async def test_pages_visit_every_user_exactly_once(self, client, org):
        headers = access_headers(org.admin)
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            response = await client.get(USERS, headers=headers, params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            assert set(body) == {"items", "next_cursor"}
            assert len(body["items"]) <= 2
            seen += [item["id"] for item in body["items"]]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
            assert pages < 20
        assert len(seen) == len(set(seen))
        assert set(seen) == org.all_ids
        assert pages == (len(org.all_ids) + 1) // 2

    async def test_a_full_page_at_the_end_has_no_next_cursor(self, client, org):
        response = await client.get(
            USERS, headers=access_headers(org.admin), params={"limit": len(org.all_ids)}
        )
        body = response.json()
        assert len(body["items"]) == len(org.all_ids)
        assert body["next_cursor"] is None

    @pytest.mark.parametrize(
        "cursor",
        [
            "not-a-cursor",
            "%%%",
            _cursor({"s": "name", "k": [["v", "a"], ["uuid", str(uuid.UUID(int=1))]]}),
            _cursor({"s": "username", "k": [["v", "a"]]}),
            _cursor({"s": "username", "k": [["v", "a"], ["uuid", "not-a-uuid"]]}),
            _cursor({"s": "username", "k": [["zz", "a"], ["uuid", str(uuid.UUID(int=1))]]}),
            _cursor(["username"]),
        ],
    )
    async def test_malformed_cursor(self, client, org, cursor):
        response = await client.get(USERS, headers=access_headers(org.admin), params={"cursor": cursor})
        assert_problem(response, 400, "pagination.invalid_cursor")

    @pytest.mark.parametrize(
        "cursor",
        [
            _cursor({"s": "username", "k": [["v", 5], ["uuid", str(uuid.UUID(int=1))]]}),
            _cursor({"s": "username", "k": [["v", {"x": 1}], ["uuid", str(uuid.UUID(int=1))]]}),
            _cursor({"s": "username", "k": [["v", "a"], ["v", "not-a-uuid"]]}),
            _cursor({"s": "username", "k": [["dt", "2026-01-01T00:00:00+00:00"], ["v", 1]]}),
        ],
    )
    async def test_cursor_with_values_of_the_wrong_type(self, client, org, cursor):
        # Well-formed JSON, but not values of the sort keys' types: a client error, never a 500.
        response = await client.get(USERS, headers=access_headers(org.admin), params={"cursor": cursor})
        assert_problem(response, 400, "pagination.invalid_cursor")

    @pytest.mark.parametrize("limit", ["0", "501", "-1", "many"])
    async def test_limit_out_of_range(self, client, org, limit):
        response = await client.get(USERS, headers=access_headers(org.admin), params={"limit": limit})
        body = assert_problem(response, 422, "validation_error")
        assert body["errors"]
        assert body["errors"][0]["loc"] == ["query", "limit"]
        assert {"loc", "msg", "type"} <= body["errors"][0].keys()

    async def test_rep_sees_only_self(self, client, org):
        ids = await _all_ids(client, access_headers(org.region_rep))
        assert ids == [str(org.region_rep.id)]

    async def test_manager_sees_the_team_tree_only(self, client, org):
        ids = await _all_ids(client, access_headers(org.manager), limit=2)
        assert set(ids) == {str(org.manager.id), str(org.region_rep.id), str(org.group_rep.id)}

    async def test_manager_of_a_sub_team_does_not_see_the_parent(self, client, uow_factory, org):
        group_manager = await make_user(uow_factory, role="manager", team=org.group)
        ids = await _all_ids(client, access_headers(group_manager))
        assert set(ids) == {str(group_manager.id), str(org.group_rep.id)}

    @pytest.mark.parametrize("role", ["director", "admin", "support", "finance"])
    async def test_all_scope_roles_see_everyone(self, client, org, role):
        ids = await _all_ids(client, access_headers(getattr(org, role)), limit=3)
        assert sorted(ids) == sorted(org.all_ids)

    async def test_filters(self, client, org):
        headers = access_headers(org.admin)
        reps = await _all_ids(client, headers, role="rep")
        assert set(reps) == {str(org.region_rep.id), str(org.group_rep.id), str(org.other_rep.id)}
        in_other = await _all_ids(client, headers, team_id=str(org.other.id))
        assert set(in_other) == {str(org.other_manager.id), str(org.other_rep.id)}
        assert await _all_ids(client, headers, is_active="false") == []


class TestCreateUser:
    @staticmethod
    def _payload(**overrides):
        return {
            "username": f"new-{uuid.uuid4().hex[:8]}",
            "password": "a-long-enough-password",
            "role": "rep",
            "full_name": "New Rep",
            **overrides,
        }

    async def test_anonymous(self, client):
        assert_problem(await client.post(USERS, json=self._payload()), 401, "unauthorized")

    @pytest.mark.parametrize("role", ["director", "manager", "rep", "support", "finance"])
    async def test_only_admins(self, client, uow_factory, role):
        caller = await make_user(uow_factory, role=role)
        payload = self._payload()
        response = await client.post(USERS, json=payload, headers=access_headers(caller))
        assert_problem(response, 403, "forbidden")
        async with uow_factory() as uow:
            assert await uow.users.get_by_username(payload["username"]) is None

    async def test_admin_creates(self, client, uow_factory, org):
        payload = self._payload(team_id=str(org.region.id), email="New.Rep@Example.com")
        response = await client.post(USERS, json=payload, headers=access_headers(org.admin))
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["username"] == payload["username"]
        assert body["role"] == "rep"
        assert body["team_id"] == str(org.region.id)
        assert body["is_active"] is True
        assert body["version"] == 1
        assert "password" not in body and "password_hash" not in body
        assert payload["password"] not in response.text
        assert response.headers["etag"] == '"1"'
        assert response.headers["location"] == f"{USERS}/{body['id']}"
        fetched = await client.get(response.headers["location"], headers=access_headers(org.admin))
        assert fetched.json() == body
        # The password was stored hashed and works.
        assert (await login(client, payload["username"], payload["password"]))["access_token"]

    async def test_duplicate_username(self, client, org):
        response = await client.post(
            USERS, json=self._payload(username=org.region_rep.username), headers=access_headers(org.admin)
        )
        assert_problem(response, 409, "user.username_taken")

    async def test_bad_payload_lists_every_error_and_never_echoes_the_password(self, client, org):
        payload = {"username": "x", "password": "Sh0rt!", "role": "emperor", "surprise": True}
        response = await client.post(USERS, json=payload, headers=access_headers(org.admin))
        body = assert_problem(response, 422, "validation_error")
        locs = [tuple(e["loc"]) for e in body["errors"]]
        assert {("body", "username"), ("body", "password"), ("body", "role"), ("body", "surprise")} <= set(
            locs
        )
        for error in body["errors"]:
            assert set(error) == {"loc", "msg", "type"}
        assert "Sh0rt!" not in response.text

    async def test_a_valid_password_is_not_echoed_when_another_field_fails(self, client, org):
        payload = self._payload(username="bad name!", password="hunter2-super-secret")
        response = await client.post(USERS, json=payload, headers=access_headers(org.admin))
        body = assert_problem(response, 422, "validation_error")
        assert [e["loc"] for e in body["errors"]] == [["body", "username"]]
        assert "hunter2-super-secret" not in response.text

    async def test_unknown_team(self, client, org):
        response = await client.post(
            USERS, json=self._payload(team_id=str(uuid.uuid4())), headers=access_headers(org.admin)
        )
        assert_problem(response, 422, "user.team_not_found")


class TestGetUser:
    async def test_anonymous(self, client, org):
        assert_problem(await client.get(f"{USERS}/{org.region_rep.id}"), 401, "unauthorized")

    async def test_out_of_scope_is_not_found(self, client, org):
        headers = access_headers(org.region_rep)
        assert_problem(await client.get(f"{USERS}/{org.group_rep.id}", headers=headers), 404, "not_found")
        manager = access_headers(org.manager)
        assert_problem(await client.get(f"{USERS}/{org.other_rep.id}", headers=manager), 404, "not_found")
        assert (await client.get(f"{USERS}/{org.group_rep.id}", headers=manager)).status_code == 200

    async def test_unknown_id(self, client, org):
        response = await client.get(f"{USERS}/{uuid.uuid4()}", headers=access_headers(org.admin))
        assert_problem(response, 404, "not_found")

    async def test_malformed_id(self, client, org):
        response = await client.get(f"{USERS}/not-a-uuid", headers=access_headers(org.admin))
        body = assert_problem(response, 422, "validation_error")
        assert body["errors"][0]["loc"] == ["path", "user_id"]

    async def test_reads_with_etag(self, client, org):
        response = await client.get(f"{USERS}/{org.region_rep.id}", headers=access_headers(org.region_rep))
        assert response.status_code == 200
        body = response.json()
        assert body["id"] == str(org.region_rep.id)
        assert body["username"] == org.region_rep.username
        assert response.headers["etag"] == f'"{body["version"]}"'


class TestUpdateUser:
    async def test_anonymous(self, client, org):
        response = await client.patch(f"{USERS}/{org.region_rep.id}", json={"full_name": "X"})
        assert_problem(response, 401, "unauthorized")

    @pytest.mark.parametrize("role", ["director", "manager", "support", "finance"])
    async def test_only_admins(self, client, org, role):
        response = await client.patch(
            f"{USERS}/{org.region_rep.id}",
            json={"full_name": "X"},
            headers=access_headers(getattr(org, role)),
        )
        assert_problem(response, 403, "forbidden")

    async def test_unknown_id(self, client, org):
        response = await client.patch(
            f"{USERS}/{uuid.uuid4()}", json={"full_name": "X"}, headers=access_headers(org.admin)
        )
        assert_problem(response, 404, "not_found")

    async def test_if_match_current_then_stale(self, client, org):
        url = f"{USERS}/{org.region_rep.id}"
        headers = access_headers(org.admin)
        etag = (await client.get(url, headers=headers)).headers["etag"]
        response = await client.patch(
            url, json={"full_name": "Renamed"}, headers={**headers, "If-Match": etag}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["full_name"] == "Renamed"
        assert body["version"] == int(etag.strip('"')) + 1
        assert response.headers["etag"] == f'"{body["version"]}"'

        stale = await client.patch(
            url, json={"full_name": "Lost update"}, headers={**headers, "If-Match": etag}
        )
        assert_problem(stale, 412, "conflict.version_mismatch")
        current = await client.get(url, headers=headers)
        assert current.json()["full_name"] == "Renamed"
        assert current.headers["etag"] == response.headers["etag"]

    async def test_weak_etag_and_star_are_accepted(self, client, org):
        url = f"{USERS}/{org.region_rep.id}"
        headers = access_headers(org.admin)
        weak = await client.patch(url, json={"full_name": "A"}, headers={**headers, "If-Match": 'W/"1"'})
        assert weak.status_code == 200, weak.text
        star = await client.patch(url, json={"full_name": "B"}, headers={**headers, "If-Match": "*"})
        assert star.status_code == 200, star.text
        assert star.json()["version"] == 3

    @pytest.mark.parametrize("value", ["abc", '"v1"', '"1", "2"'])
    async def test_malformed_if_match(self, client, org, value):
        response = await client.patch(
            f"{USERS}/{org.region_rep.id}",
            json={"full_name": "X"},
            headers={**access_headers(org.admin), "If-Match": value},
        )
        assert_problem(response, 400, "bad_request.if_match")

    async def test_unknown_team(self, client, org):
        response = await client.patch(
            f"{USERS}/{org.region_rep.id}",
            json={"team_id": str(uuid.uuid4())},
            headers=access_headers(org.admin),
        )
        assert_problem(response, 422, "user.team_not_found")

    async def test_password_change_revokes_refresh_tokens(self, client, org):
        tokens = await login(client, org.region_rep.username)
        response = await client.patch(
            f"{USERS}/{org.region_rep.id}",
            json={"password": "a-brand-new-password"},
            headers=access_headers(org.admin),
        )
        assert response.status_code == 200, response.text
        refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert_problem(refreshed, 401, "auth.invalid_refresh_token")
        old = await client.post(
            "/api/v1/auth/token", data={"username": org.region_rep.username, "password": PASSWORD}
        )
        assert_problem(old, 401, "auth.invalid_credentials")
        assert (await login(client, org.region_rep.username, "a-brand-new-password"))["access_token"]


class TestDeactivateUser:
    @staticmethod
    def _url(user) -> str:
        return f"{USERS}/{user.id}/deactivate"

    async def test_anonymous(self, client, org):
        assert_problem(await client.post(self._url(org.region_rep)), 401, "unauthorized")

    @pytest.mark.parametrize("role", ["director", "manager", "support", "finance"])
    async def test_only_admins(self, client, org, role):
        response = await client.post(self._url(org.region_rep), headers=access_headers(getattr(org, role)))
        assert_problem(response, 403, "forbidden")
        still = await client.get(f"{USERS}/{org.region_rep.id}", headers=access_headers(org.admin))
        assert still.json()["is_active"] is True

    async def test_unknown_id(self, client, org):
        response = await client.post(f"{USERS}/{uuid.uuid4()}/deactivate", headers=access_headers(org.admin))
        assert_problem(response, 404, "not_found")

    async def test_not_oneself(self, client, org):
        response = await client.post(self._url(org.admin), headers=access_headers(org.admin))
        assert_problem(response, 422, "user.cannot_deactivate_self")

    async def test_deactivated_user_is_locked_out(self, client, org):
        rep_headers = access_headers(org.region_rep)
        tokens = await login(client, org.region_rep.username)
        response = await client.post(self._url(org.region_rep), headers=access_headers(org.admin))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["is_active"] is False
        assert body["deactivated_at"] is not None
        assert body["version"] == 2
        assert response.headers["etag"] == '"2"'

        assert_problem(await client.get("/api/v1/me", headers=rep_headers), 401)
        assert_problem(
            await client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}), 401
        )
        refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert_problem(refreshed, 401)
        relogin = await client.post(
            "/api/v1/auth/token", data={"username": org.region_rep.username, "password": PASSWORD}
        )
        assert_problem(relogin, 401, "auth.invalid_credentials")

    async def test_deactivating_twice_is_harmless(self, client, org):
        headers = access_headers(org.admin)
        first = await client.post(self._url(org.region_rep), headers=headers)
        second = await client.post(self._url(org.region_rep), headers=headers)
        assert first.status_code == second.status_code == 200
        assert second.json()["deactivated_at"] == first.json()["deactivated_at"]
        listed = await client.get(USERS, headers=headers, params={"is_active": "false"})
        assert [u["id"] for u in listed.json()["items"]] == [str(org.region_rep.id)]

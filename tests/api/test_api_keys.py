"""API keys: admin-only management, Bearer authentication beside JWTs, scopes, team
restriction, expiry, rotation, revocation and the throttled last-use stamp."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from app.config import get_settings
from app.db.base import utcnow
from app.db.models import ApiKey
from tests.support.builders import access_headers, assert_problem, make_customer, make_sales_org

KEYS = "/api/v1/api-keys"


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


async def _create(client, admin, **body):
    body = {"name": "ERP", "scopes": ["customers:read"], **body}
    response = await client.post(KEYS, headers=access_headers(admin), json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class TestManagement:
    async def test_anonymous_is_401(self, client):
        assert_problem(await client.get(KEYS), 401, "unauthorized")
        assert_problem(await client.post(KEYS, json={}), 401, "unauthorized")

    @pytest.mark.parametrize("role", ["director", "manager", "rep", "support", "finance"])
    async def test_only_admins_manage_keys(self, client, org, role):
        headers = access_headers(getattr(org, role))
        created = await _create(client, org.admin)
        assert_problem(await client.get(KEYS, headers=headers), 403, "forbidden")
        assert_problem(
            await client.post(KEYS, headers=headers, json={"name": "x", "scopes": ["customers:read"]}),
            403,
            "forbidden",
        )
        for method, path in (
            ("GET", created["id"]),
            ("DELETE", created["id"]),
            ("POST", f"{created['id']}/rotate"),
        ):
            assert_problem(await client.request(method, f"{KEYS}/{path}", headers=headers), 403, "forbidden")

    async def test_create_shows_the_key_once_and_stores_only_a_hash(self, client, org, uow_factory):
        created = await _create(client, org.admin, scopes=["customers:read", "changes:read"])
        key = created["key"]
        assert key.startswith("crm_") and key.startswith(created["prefix"] + "_")
        assert created["scopes"] == ["changes:read", "customers:read"]
        assert created["last_used_at"] is None and created["revoked_at"] is None
        got = await client.get(f"{KEYS}/{created['id']}", headers=access_headers(org.admin))
        assert got.status_code == 200 and "key" not in got.json()
        listed = await client.get(KEYS, headers=access_headers(org.admin))
        assert [k["id"] for k in listed.json()["items"]] == [created["id"]]
        assert "key" not in listed.json()["items"][0]
        async with uow_factory() as uow:
            stored = await uow.session.scalar(select(ApiKey).where(ApiKey.id == uuid.UUID(created["id"])))
            assert key not in (stored.key_hash, stored.lookup) and len(stored.key_hash) == 64

    @pytest.mark.parametrize(
        "body, loc",
        [
            ({"scopes": ["customers:write"]}, "scopes"),
            ({"scopes": []}, "scopes"),
            ({"scopes": ["customers:read"], "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
            ({"scopes": ["customers:read"], "expires_at": "2099-01-01T00:00:00"}, "expires_at"),
        ],
    )
    async def test_bad_input_is_422_and_creates_nothing(self, client, org, body, loc):
        response = await client.post(KEYS, headers=access_headers(org.admin), json={"name": "x", **body})
        problem = assert_problem(response, 422)
        assert any(loc in e["loc"] for e in problem["errors"]), problem
        assert (await client.get(KEYS, headers=access_headers(org.admin))).json()["items"] == []

    async def test_unknown_team_is_422(self, client, org):
        response = await client.post(
            KEYS,
            headers=access_headers(org.admin),
            json={"name": "x", "scopes": ["customers:read"], "team_id": str(uuid.uuid4())},
        )
        assert_problem(response, 422, "api_key.team_not_found")

    async def test_unknown_key_is_404(self, client, org):
        for method, suffix in (("GET", ""), ("DELETE", ""), ("POST", "/rotate")):
            response = await client.request(
                method, f"{KEYS}/{uuid.uuid4()}{suffix}", headers=access_headers(org.admin)
            )
            assert_problem(response, 404, "not_found")


class TestAuthentication:
    async def test_a_key_authenticates_as_its_service_account(self, client, org):
        created = await _create(client, org.admin)
        me = await client.get("/api/v1/me", headers=_bearer(created["key"]))
        assert me.status_code == 200, me.text
        assert me.json()["role"] == "integration" and me.json()["id"] == created["service_account_id"]

    @pytest.mark.parametrize("token", ["crm_short", "crm_abcdefghijkl_wrong-secret", "crm_", "crm_x_y"])
    async def test_a_wrong_key_is_401(self, client, org, token):
        await _create(client, org.admin)
        assert_problem(await client.get("/api/v1/me", headers=_bearer(token)), 401, "unauthorized")

    async def test_right_lookup_wrong_secret_is_401(self, client, org):
        created = await _create(client, org.admin)
        forged = created["key"][:-4] + ("AAAA" if not created["key"].endswith("AAAA") else "BBBB")
        assert_problem(await client.get("/api/v1/me", headers=_bearer(forged)), 401, "unauthorized")

    async def test_an_expired_key_is_401(self, client, org, uow_factory):
        created = await _create(client, org.admin, expires_at=(utcnow() + dt.timedelta(hours=1)).isoformat())
        assert (await client.get("/api/v1/me", headers=_bearer(created["key"]))).status_code == 200
        async with uow_factory() as uow:
            record = await uow.api_keys.get(uuid.UUID(created["id"]))
            record.expires_at = utcnow() - dt.timedelta(seconds=1)
            await uow.commit()
        assert_problem(await client.get("/api/v1/me", headers=_bearer(created["key"])), 401, "unauthorized")

    async def test_revoked_key_is_401_and_its_account_deactivated(self, client, org):
        created = await _create(client, org.admin)
        response = await client.delete(f"{KEYS}/{created['id']}", headers=access_headers(org.admin))
        assert response.status_code == 204
        assert_problem(await client.get("/api/v1/me", headers=_bearer(created["key"])), 401, "unauthorized")
        got = (await client.get(f"{KEYS}/{created['id']}", headers=access_headers(org.admin))).json()
        assert got["revoked_at"] is not None
        assert (await client.get(KEYS, headers=access_headers(org.admin))).json()["items"] == []
        listed = await client.get(KEYS, headers=access_headers(org.admin), params={"include_revoked": True})
        assert [k["id"] for k in listed.json()["items"]] == [created["id"]]
        account = await client.get(
            f"/api/v1/users/{created['service_account_id']}", headers=access_headers(org.admin)
        )
        assert account.json()["is_active"] is False
        assert_problem(
            await client.post(f"{KEYS}/{created['id']}/rotate", headers=access_headers(org.admin)),
            422,
            "api_key.revoked",
        )

    async def test_rotation_replaces_the_secret(self, client, org):
        created = await _create(client, org.admin)
        rotated = await client.post(f"{KEYS}/{created['id']}/rotate", headers=access_headers(org.admin))
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()
        assert new["id"] == created["id"] and new["key"] != created["key"] and new["rotated_at"]
        assert_problem(await client.get("/api/v1/me", headers=_bearer(created["key"])), 401, "unauthorized")
        assert (await client.get("/api/v1/me", headers=_bearer(new["key"]))).status_code == 200

    async def test_last_used_is_written_at_most_once_per_interval(self, client, org, monkeypatch):
        created = await _create(client, org.admin)
        admin = access_headers(org.admin)

        async def last_used():
            return (await client.get(f"{KEYS}/{created['id']}", headers=admin)).json()["last_used_at"]

        await client.get("/api/v1/me", headers=_bearer(created["key"]))
        first = await last_used()
        assert first is not None
        await client.get("/api/v1/me", headers=_bearer(created["key"]))
        assert await last_used() == first  # within the interval: no write
        monkeypatch.setattr(get_settings(), "api_key_touch_seconds", 0)
        await client.get("/api/v1/me", headers=_bearer(created["key"]))
        assert await last_used() > first


class TestScopes:
    async def test_a_read_scope_opens_its_collection_only(self, client, org):
        created = await _create(client, org.admin, scopes=["customers:read"])
        headers = _bearer(created["key"])
        assert (await client.get("/api/v1/customers", headers=headers)).status_code == 200
        response = await client.get("/api/v1/contracts", headers=headers)
        problem = assert_problem(response, 403, "forbidden.scope")
        assert problem["required_scope"] == "contracts:read"
        assert_problem(await client.get("/api/v1/payments", headers=headers), 403, "forbidden.scope")

    @pytest.mark.parametrize(
        "method, path",
        [
            ("POST", "/api/v1/customers"),
            ("GET", "/api/v1/users"),
            ("GET", "/api/v1/api-keys"),
            ("GET", "/api/v1/settings/pool"),
            ("GET", "/api/v1/sync/pull"),
            ("POST", "/api/v1/pool/allocate"),
        ],
    )
    async def test_paths_outside_the_scopes_are_403_scope(self, client, org, method, path):
        created = await _create(
            client,
            org.admin,
            scopes=sorted(
                [
                    "customers:read",
                    "contacts:read",
                    "activities:read",
                    "tasks:read",
                    "contracts:read",
                    "receivables:read",
                    "payments:read",
                    "credit:read",
                    "reports:read",
                    "changes:read",
                ]
            ),
        )
        response = await client.request(method, path, headers=_bearer(created["key"]), json={})
        assert_problem(response, 403, "forbidden.scope")

    async def test_contacts_need_their_own_scope(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep)
        path = f"/api/v1/customers/{customer.id}/contacts"
        only_customers = await _create(client, org.admin, scopes=["customers:read"])
        assert_problem(await client.get(path, headers=_bearer(only_customers["key"])), 403, "forbidden.scope")
        both = await _create(client, org.admin, name="BI", scopes=["customers:read", "contacts:read"])
        assert (await client.get(path, headers=_bearer(both["key"]))).status_code == 200

    async def test_a_team_restricted_key_sees_only_its_team(self, client, org, uow_factory):
        mine = await make_customer(uow_factory, owner=org.rep)  # in group, below region
        theirs = await make_customer(uow_factory, owner=org.other_rep)
        created = await _create(client, org.admin, team_id=str(org.region.id))
        headers = _bearer(created["key"])
        ids = {c["id"] for c in (await client.get("/api/v1/customers", headers=headers)).json()["items"]}
        assert str(mine.id) in ids and str(theirs.id) not in ids
        assert (await client.get(f"/api/v1/customers/{mine.id}", headers=headers)).status_code == 200
        assert_problem(await client.get(f"/api/v1/customers/{theirs.id}", headers=headers), 404, "not_found")
        unrestricted = await _create(client, org.admin, name="all")
        ids = {
            c["id"]
            for c in (await client.get("/api/v1/customers", headers=_bearer(unrestricted["key"]))).json()[
                "items"
            ]
        }
        assert {str(mine.id), str(theirs.id)} <= ids

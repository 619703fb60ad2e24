"""Input that used to be read too kindly: timestamps in year 1 or 9999, a number read as a
timestamp, and guessable passwords."""

from __future__ import annotations

import uuid

import pytest

from tests.support.builders import access_headers, assert_problem, login, make_customer, make_sales_org


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


def assert_field_refused(response, *loc) -> dict:
    body = assert_problem(response, 422)
    assert list(loc) in [e["loc"] for e in body["errors"]], body["errors"]
    return body


OUT_OF_WINDOW = [
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "1969-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z",
]


@pytest.mark.parametrize("when", OUT_OF_WINDOW)
async def test_activity_and_task_dates_outside_the_window(client, org, uow_factory, when):
    customer = await make_customer(uow_factory, owner=org.rep)
    headers = access_headers(org.rep)
    response = await client.post(
        "/api/v1/activities",
        headers=headers,
        json={"customer_id": str(customer.id), "type": "call", "occurred_at": when},
    )
    assert_field_refused(response, "body", "occurred_at")
    response = await client.post(
        "/api/v1/activities",
        headers=headers,
        json={
            "customer_id": str(customer.id),
            "type": "call",
            "occurred_at": "2026-01-05T10:00:00Z",
            "next_follow_up_at": when,
        },
    )
    assert_field_refused(response, "body", "next_follow_up_at")
    response = await client.post("/api/v1/tasks", headers=headers, json={"title": "call", "due_at": when})
    assert_field_refused(response, "body", "due_at")
    response = await client.post(
        "/api/v1/sync/push",
        headers=headers,
        json={
            "device_id": "d1",
            "changes": [
                {
                    "entity": "task",
                    "op": "upsert",
                    "id": str(uuid.uuid4()),
                    "base_version": None,
                    "data": {"title": "call", "due_at": when, "assignee_id": str(org.rep.id)},
                }
            ],
        },
    )
    result = response.json()["results"][0]
    assert result["status"] == "rejected" and result["errors"][0]["loc"] == ["data", "due_at"]


async def test_dates_inside_the_window_are_fine(client, org):
    for when in ("1970-01-01T00:00:00Z", "2099-12-31T23:59:59+00:00"):
        response = await client.post(
            "/api/v1/tasks", headers=access_headers(org.rep), json={"title": "call", "due_at": when}
        )
        assert response.status_code == 201, response.text


@pytest.mark.parametrize("value", ["0.5", "1700000000", "-1", "1e9", "yesterday"])
async def test_updated_since_must_be_an_iso_datetime(client, org, value):
    response = await client.get(
        "/api/v1/customers", params={"updated_since": value}, headers=access_headers(org.rep)
    )
    assert_field_refused(response, "query", "updated_since")


async def test_a_number_is_not_a_timestamp_in_a_body(client, org):
    response = await client.post(
        "/api/v1/tasks", headers=access_headers(org.rep), json={"title": "call", "due_at": 1_900_000_000}
    )
    assert_field_refused(response, "body", "due_at")


async def test_updated_since_iso_still_works(client, org):
    response = await client.get(
        "/api/v1/customers", params={"updated_since": "2026-01-01T00:00:00Z"}, headers=access_headers(org.rep)
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "password", ["12345678", "password1", "qwertyuiop", "aaaaaaaaaaaa", "iloveyou2", "Password123!"]
)
async def test_common_passwords_are_refused(client, org, password):
    response = await client.post(
        "/api/v1/users",
        headers=access_headers(org.admin),
        json={"username": "newbie", "password": password, "role": "rep"},
    )
    body = assert_field_refused(response, "body", "password")
    assert body["code"] == "user.weak_password"
    assert password not in response.text
    response = await client.patch(
        f"/api/v1/users/{org.rep.id}", headers=access_headers(org.admin), json={"password": password}
    )
    assert_field_refused(response, "body", "password")


async def test_the_username_is_no_password(client, org):
    response = await client.post(
        "/api/v1/users",
        headers=access_headers(org.admin),
        json={"username": "margaret.hamilton", "password": "margaret.hamilton1", "role": "rep"},
    )
    assert_field_refused(response, "body", "password")


async def test_a_strong_password_is_accepted(client, org):
    response = await client.post(
        "/api/v1/users",
        headers=access_headers(org.admin),
        json={"username": "newbie", "password": "violet-tractor-sings", "role": "rep"},
    )
    assert response.status_code == 201, response.text
    assert (await login(client, "newbie", "violet-tractor-sings"))["access_token"]

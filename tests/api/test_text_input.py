"""One rule for all text input: NUL, lone surrogates and stray control characters are refused
with a 422 naming the field, in bodies (at any depth), query parameters and the login form;
names also refuse line breaks and bidi controls. A sync push answers per change."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from tests.support.builders import access_headers, assert_problem, make_customer, make_sales_org

API = "/api/v1"
NUL = "a\x00b"


def some_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


def assert_text_refused(response, *loc) -> None:
    body = assert_problem(response, 422, "validation_error")
    refused = [e["loc"] for e in body["errors"] if e["type"].startswith("text_")]
    assert list(loc) in refused, body["errors"]


# Every place the attack found a NUL answering 500, plus the other text-bearing bodies.
BODY_CASES = [
    ("post", "/tasks", {"title": NUL, "due_at": "2030-01-01T00:00:00Z"}, ["body", "title"]),
    ("patch", "/tasks/{id}", {"notes": NUL}, ["body", "notes"]),
    ("post", "/contracts", {"customer_id": "{id}", "number": NUL, "amount": "10.00"}, ["body", "number"]),
    ("post", "/contracts/{id}/cancel", {"reason": NUL}, ["body", "reason"]),
    (
        "post",
        "/credit-limit-requests",
        {"customer_id": "{id}", "requested_limit": "10.00", "reason": NUL},
        ["body", "reason"],
    ),
    (
        "post",
        "/payments",
        {"customer_id": "{id}", "amount": "1.00", "received_at": "2026-01-01T00:00:00Z", "reference": NUL},
        ["body", "reference"],
    ),
    ("patch", "/customers/{id}/credit", {"on_hold": True, "hold_reason": NUL}, ["body", "hold_reason"]),
    ("post", "/teams", {"name": NUL}, ["body", "name"]),
    ("patch", "/users/{id}", {"full_name": NUL}, ["body", "full_name"]),
    ("patch", "/customers/{id}", {"notes": NUL}, ["body", "notes"]),
    ("post", "/customers", {"name": "ok", "notes": "x\ud800y"}, ["body", "notes"]),
    ("post", "/customers/{id}/contacts", {"name": "ok", "phones": ["138\x00"]}, ["body", "phones", 0]),
    (
        "post",
        "/activities",
        {"customer_id": "{id}", "type": "call", "occurred_at": "2026-01-01T00:00:00Z", "notes": "bell\x07"},
        ["body", "notes"],
    ),
    ("put", "/settings/pool", {"note\x00": 1}, ["body", "note\x00"]),
]


# Who may call each (the role guard answers before the body is looked at).
ROLE_BY_PATH = [
    ("/contracts", "rep"),
    ("/credit-limit-requests", "rep"),
    ("/payments", "finance"),
    ("/customers/{id}/credit", "finance"),
    ("/activities", "rep"),
    ("/tasks", "rep"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "loc"),
    BODY_CASES,
    ids=[f"{m} {p} {'.'.join(map(str, loc[1:]))}" for m, p, _, loc in BODY_CASES],
)
async def test_body_text_is_refused_with_its_field(client, org, method, path, body, loc):
    ident = some_id()
    body = {k: (ident if v == "{id}" else v) for k, v in body.items()}
    role = next((r for prefix, r in ROLE_BY_PATH if path.startswith(prefix)), "admin")
    # json.dumps escapes a lone surrogate as "\ud800" (httpx's json= cannot encode it).
    response = await client.request(
        method,
        API + path.format(id=ident),
        content=json.dumps(body),
        headers={**access_headers(getattr(org, role)), "Content-Type": "application/json"},
    )
    assert_text_refused(response, *loc)


@pytest.mark.parametrize("name", ["Acme\x00", "Acme\nLtd", "Acme\u202eLtd", "Acme\u2066", "\x1b[31mAcme"])
async def test_names_refuse_controls_and_bidi(client, org, name):
    for path, body in (("/customers", {"name": name}), ("/teams", {"name": name})):
        response = await client.post(API + path, json=body, headers=access_headers(org.admin))
        assert_text_refused(response, "body", "name")


async def test_free_text_keeps_line_breaks_and_tabs(client, org):
    response = await client.post(
        f"{API}/customers",
        headers=access_headers(org.admin),
        json={"name": "Acme", "notes": "line 1\n\tline 2\r\n"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["notes"].startswith("line 1")


async def test_query_parameters_follow_the_rule(client, org):
    response = await client.get(f"{API}/pool?region=a%00b", headers=access_headers(org.rep))
    assert_text_refused(response, "query", "region")
    response = await client.get(f"{API}/customers?q=%1B", headers=access_headers(org.rep))
    assert_text_refused(response, "query", "q")


async def test_login_form_with_nul_username(client):
    response = await client.post(f"{API}/auth/token", data={"username": NUL, "password": "x" * 10})
    assert_text_refused(response, "body", "username")


async def test_sync_push_rejects_only_the_bad_change(client, org, uow_factory):
    customer = await make_customer(uow_factory, owner=org.rep)
    when = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()

    def activity(notes: str) -> dict:
        return {
            "entity": "activity",
            "op": "upsert",
            "id": some_id(),
            "base_version": None,
            "data": {"customer_id": str(customer.id), "type": "call", "occurred_at": when, "notes": notes},
        }

    changes = [activity("fine"), activity(NUL), activity("also fine")]
    response = await client.post(
        f"{API}/sync/push", headers=access_headers(org.rep), json={"device_id": "dev-1", "changes": changes}
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["applied", "rejected", "applied"]
    assert results[1]["errors"][0]["loc"] == ["data", "notes"]
    # The device's queue is not blocked: the fixed change goes through on the next push.
    changes[1]["data"]["notes"] = "fixed"
    response = await client.post(
        f"{API}/sync/push",
        headers=access_headers(org.rep),
        json={"device_id": "dev-1", "changes": [changes[1]]},
    )
    assert response.json()["results"][0]["status"] == "applied"

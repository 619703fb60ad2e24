"""The integration role only reads: every write route of the API answers 403 for it, before
the body or the record is looked at, and changes nothing."""

from __future__ import annotations

import re
import uuid

import pytest

from app.main import create_app
from tests.support.builders import access_headers, assert_problem, make_customer, make_user

WRITES = sorted(
    (method.upper(), path)
    for path, operations in create_app().openapi()["paths"].items()
    for method in operations
    if method in ("post", "put", "patch", "delete") and not path.startswith("/api/v1/auth/")
)


def test_the_walk_covers_the_write_routes():
    assert len(WRITES) > 30 and ("POST", "/api/v1/customers/{customer_id}/grade") in WRITES


@pytest.mark.parametrize(("method", "path"), WRITES, ids=[f"{m} {p}" for m, p in WRITES])
async def test_integration_may_not_write(client, uow_factory, method, path):
    integration = await make_user(uow_factory, role="integration")
    url = re.sub(r"\{[a-z_]+\}", lambda _: str(uuid.uuid4()), path)
    response = await client.request(method, url, json={}, headers=access_headers(integration))
    assert_problem(response, 403, "forbidden")


async def test_integration_regrade_is_refused_and_changes_nothing(client, uow_factory):
    integration = await make_user(uow_factory, role="integration")
    rep = await make_user(uow_factory, role="rep")
    customer = await make_customer(uow_factory, owner=rep)
    url = f"/api/v1/customers/{customer.id}/grade"
    before = (await client.get(url, headers=access_headers(integration))).json()
    assert_problem(await client.post(url, headers=access_headers(integration)), 403, "forbidden")
    assert (await client.get(url, headers=access_headers(integration))).json() == before

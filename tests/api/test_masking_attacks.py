"""Masking holds (SPEC §12), each test an attack a rep tried: confirming a masked pool phone or
email by exact search, guessing numbers at speed, and learning another team's customer from
the duplicate check."""

from __future__ import annotations

import pytest

from app.services.customers import CONTACT_SEARCHES_PER_MINUTE
from tests.support.builders import access_headers, assert_problem, make_customer, make_sales_org

CUSTOMERS = "/api/v1/customers"
POOL_PHONE = "13800138000"
POOL_EMAIL = "boss@pool.example"


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


@pytest.fixture
async def pool(uow_factory):
    return await make_customer(
        uow_factory,
        name="公海客户",
        contacts=[{"name": "王总", "phones": [POOL_PHONE], "emails": [POOL_EMAIL]}],
    )


async def search(client, user, q: str) -> list[str]:
    response = await client.get(CUSTOMERS, params={"q": q}, headers=access_headers(user))
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["items"]]


class TestExactContactSearch:
    @pytest.mark.parametrize("q", [POOL_PHONE, "+86 138-0013-8000", POOL_EMAIL, POOL_EMAIL.upper()])
    async def test_does_not_confirm_a_masked_pool_contact_to_a_rep(self, client, org, pool, q):
        assert await search(client, org.rep, q) == []

    async def test_the_pool_customer_is_still_found_by_name(self, client, org, pool):
        assert await search(client, org.rep, "公海") == [str(pool.id)]

    async def test_unmasked_callers_and_own_customers_are_found(self, client, uow_factory, org, pool):
        for user in (org.manager, org.support, org.director):
            assert await search(client, user, POOL_PHONE) == [str(pool.id)]
        own = await make_customer(
            uow_factory, name="自己的", owner=org.rep, contacts=[{"name": "李", "phones": ["13900139000"]}]
        )
        assert await search(client, org.rep, "139 0013 9000") == [str(own.id)]

    async def test_export_does_not_confirm_either(self, client, org, pool):
        response = await client.get(
            f"{CUSTOMERS}/export",
            params={"q": POOL_PHONE, "format": "ndjson"},
            headers=access_headers(org.rep),
        )
        assert response.status_code == 200, response.text
        assert "公海客户" not in response.text


class TestGuessingIsRateLimited:
    async def test_contact_searches_per_user_per_minute(self, client, org):
        for n in range(CONTACT_SEARCHES_PER_MINUTE):
            await search(client, org.rep, f"1380013{n:04d}")
        response = await client.get(CUSTOMERS, params={"q": "13800139999"}, headers=access_headers(org.rep))
        assert_problem(response, 429, "customer.too_many_contact_searches")
        assert 1 <= int(response.headers["retry-after"]) <= 60
        # Only this user, and only searches by contact details, are held back.
        assert await search(client, org.rep2, "13800139999") == []
        assert await search(client, org.rep, "某公司") == []
        email = await client.get(CUSTOMERS, params={"q": "a@b.example"}, headers=access_headers(org.rep))
        assert_problem(email, 429, "customer.too_many_contact_searches")


class TestDuplicateOutsideScope:
    async def test_another_teams_customer_is_reported_without_id_or_name(self, client, uow_factory, org):
        await make_customer(uow_factory, name="别组的大客户", owner=org.other_rep)
        response = await client.post(
            CUSTOMERS, json={"name": "别组的大客户"}, headers=access_headers(org.rep)
        )
        body = assert_problem(response, 409, "customer.duplicate")
        assert body["candidates"] == [{"id": None, "name": None, "matched_on": ["name"], "visible": False}]
        assert "别组的大客户" not in response.text

    async def test_a_masked_pool_phone_is_not_confirmed_by_the_duplicate_check(self, client, org, pool):
        response = await client.post(
            CUSTOMERS,
            headers=access_headers(org.rep),
            json={"name": "试探公司", "contacts": [{"name": "某", "phones": [POOL_PHONE]}]},
        )
        body = assert_problem(response, 409, "customer.duplicate")
        assert body["candidates"] == [{"id": None, "name": None, "matched_on": ["phone"], "visible": False}]
        assert str(pool.id) not in response.text

    async def test_a_visible_duplicate_is_named(self, client, uow_factory, org):
        mine = await make_customer(uow_factory, name="自己的公司", owner=org.rep)
        response = await client.post(CUSTOMERS, json={"name": "自己的公司"}, headers=access_headers(org.rep))
        body = assert_problem(response, 409, "customer.duplicate")
        assert body["candidates"] == [
            {"id": str(mine.id), "name": "自己的公司", "matched_on": ["name"], "visible": True}
        ]

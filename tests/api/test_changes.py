"""The change feed: every change in commit order behind an opaque cursor, deletes and merges
as entries, the types filter, who may read it, and retention (410 and the resync)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from app.config import get_settings
from app.db.base import utcnow
from app.db.models import ChangeLog
from app.services import changes as changes_service
from tests.support.builders import (
    access_headers,
    api_bill,
    api_draft_contract,
    api_pay,
    api_sign_contract,
    assert_problem,
    make_customer,
    make_sales_org,
    set_credit_limit,
)

API = "/api/v1"
CHANGES = f"{API}/changes"


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


async def _drain(client, headers, cursor=None, **params):
    """Follow the feed until it has nothing more now; answers the entries and the last cursor."""
    items = []
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(CHANGES, headers=headers, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["next_cursor"]
        items += body["items"]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return items, cursor


async def _now_cursor(client, headers):
    response = await client.get(CHANGES, headers=headers, params={"from": "now"})
    assert response.status_code == 200 and response.json()["items"] == []
    return response.json()["next_cursor"]


class TestAccess:
    async def test_anonymous_is_401(self, client):
        assert_problem(await client.get(CHANGES), 401, "unauthorized")

    @pytest.mark.parametrize("role", ["rep", "manager"])
    async def test_scoped_roles_are_403(self, client, org, role):
        response = await client.get(CHANGES, headers=access_headers(getattr(org, role)))
        assert_problem(response, 403, "forbidden")

    @pytest.mark.parametrize("role", ["admin", "director", "support", "finance"])
    async def test_all_scope_roles_read_it(self, client, org, role):
        assert (await client.get(CHANGES, headers=access_headers(getattr(org, role)))).status_code == 200

    async def test_keys_need_changes_read_and_no_team_restriction(self, client, org):
        async def key(**body):
            response = await client.post(
                f"{API}/api-keys", headers=access_headers(org.admin), json={"name": "feed", **body}
            )
            return {"Authorization": f"Bearer {response.json()['key']}"}

        assert (await client.get(CHANGES, headers=await key(scopes=["changes:read"]))).status_code == 200
        assert_problem(
            await client.get(CHANGES, headers=await key(scopes=["customers:read"])), 403, "forbidden.scope"
        )
        restricted = await key(scopes=["changes:read"], team_id=str(org.region.id))
        assert_problem(await client.get(CHANGES, headers=restricted), 403, "changes.scope_restricted")

    @pytest.mark.parametrize(
        "params, status, code",
        [
            ({"cursor": "not-a-cursor"}, 400, "pagination.invalid_cursor"),
            ({"cursor": "eyJzIjoidXNlcm5hbWUiLCJrIjpbXX0"}, 400, "pagination.invalid_cursor"),
            ({"types": "customer,invoice"}, 422, "validation_error"),
            ({"limit": 501}, 422, "validation_error"),
            ({"from": "yesterday"}, 422, "validation_error"),
        ],
    )
    async def test_bad_input(self, client, org, params, status, code):
        response = await client.get(CHANGES, headers=access_headers(org.admin), params=params)
        assert_problem(response, status, code)


class TestEntries:
    async def test_the_life_of_a_customer_in_commit_order(self, client, org):
        admin, support = access_headers(org.admin), access_headers(org.support)
        start = await _now_cursor(client, admin)
        created = await client.post(
            f"{API}/customers",
            headers=support,
            json={
                "name": "甲公司",
                "kind": "company",
                "contacts": [{"name": "张三", "phones": ["13800138000"]}],
            },
        )
        assert created.status_code == 201, created.text
        customer = created.json()
        patched = await client.patch(
            f"{API}/customers/{customer['id']}", headers=support, json={"industry": "制造"}
        )
        assert patched.status_code == 200, patched.text
        contact_id = customer["contacts"][0]["id"]
        removed = await client.delete(
            f"{API}/customers/{customer['id']}/contacts/{contact_id}", headers=support
        )
        assert removed.status_code == 204, removed.text
        items, _ = await _drain(client, admin, start)
        seen = [(i["type"], i["op"], i["id"]) for i in items]
        # One transaction's entries list parents first (removing the contact also updates
        # the customer's completeness).
        assert seen == [
            ("customer", "upsert", customer["id"]),
            ("contact", "upsert", contact_id),
            ("customer", "upsert", customer["id"]),
            ("customer", "upsert", customer["id"]),
            ("contact", "delete", contact_id),
        ]
        seqs = [i["seq"] for i in items]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        first = items[0]
        assert first["data"]["name"] == "甲公司" and first["version"] == first["data"]["version"]
        assert "data" not in items[4]

    async def test_money_records_and_the_types_filter(self, client, org, uow_factory):
        admin = access_headers(org.admin)
        customer = await make_customer(uow_factory, owner=org.rep)
        await set_credit_limit(uow_factory, customer.id, "5000.00")
        start = await _now_cursor(client, admin)
        contract = await api_draft_contract(client, org.rep, customer.id, "1000.00")
        await api_sign_contract(client, org.director, contract["id"])
        bill = await api_bill(client, org.finance, contract["id"], "400.00")
        payment = await api_pay(client, org.finance, customer.id, "100.00")
        items, _ = await _drain(client, admin, start, types="contract,receivable,payment")
        assert {i["type"] for i in items} == {"contract", "receivable", "payment"}
        by_type = {}
        for item in items:
            by_type.setdefault(item["type"], []).append(item)
        assert {i["id"] for i in by_type["contract"]} == {contract["id"]}
        assert len(by_type["contract"]) >= 2  # drafted, then signed
        assert by_type["contract"][-1]["data"]["status"] == "signed"
        assert by_type["receivable"][-1]["data"]["paid_amount"] == "100.00"
        assert by_type["receivable"][0]["id"] == bill["id"]
        pay = by_type["payment"][0]
        assert pay["id"] == payment["id"] and pay["data"]["allocations"][0]["receivable_id"] == bill["id"]
        only, _ = await _drain(client, admin, start, types="payment")
        assert [i["id"] for i in only] == [payment["id"]]

    async def test_delete_and_merge_are_entries(self, client, org, uow_factory):
        admin, support = access_headers(org.admin), access_headers(org.support)
        survivor = await make_customer(uow_factory, owner=org.rep, name="乙公司")
        duplicate = await make_customer(uow_factory, owner=org.rep, name="乙公司 (重复)")
        doomed = await make_customer(uow_factory, owner=org.rep)
        start = await _now_cursor(client, admin)
        merged = await client.post(
            f"{API}/customers/{survivor.id}/merge", headers=support, json={"duplicate_id": str(duplicate.id)}
        )
        assert merged.status_code == 200, merged.text
        deleted = await client.delete(f"{API}/customers/{doomed.id}", headers=support)
        assert deleted.status_code == 204, deleted.text
        items, _ = await _drain(client, admin, start, types="customer")
        ops = {(i["id"], i["op"]) for i in items}
        assert (str(duplicate.id), "merge") in ops and (str(doomed.id), "delete") in ops
        merge = next(i for i in items if i["op"] == "merge")
        assert merge["merged_into"] == str(survivor.id) and "data" not in merge

    async def test_the_cursor_is_always_there_and_resumes_exactly(self, client, org, uow_factory):
        admin = access_headers(org.admin)
        start = await _now_cursor(client, admin)
        empty = await client.get(CHANGES, headers=admin, params={"cursor": start})
        assert empty.json() == {"items": [], "next_cursor": start, "has_more": False}
        made = [await make_customer(uow_factory, owner=org.rep) for _ in range(5)]
        page = (await client.get(CHANGES, headers=admin, params={"cursor": start, "limit": 2})).json()
        assert page["has_more"] is True and len(page["items"]) == 2
        rest, end = await _drain(client, admin, page["next_cursor"], limit=2)
        assert [i["id"] for i in page["items"] + rest] == [str(c.id) for c in made]
        assert (await _drain(client, admin, end))[0] == []


class TestRetention:
    async def test_an_expired_cursor_is_410_and_the_resync_works(self, client, org, uow_factory):
        admin = access_headers(org.admin)
        old_cursor = await _now_cursor(client, admin)
        old = await make_customer(uow_factory, owner=org.rep)
        async with uow_factory() as uow:
            await uow.session.execute(
                update(ChangeLog).values(
                    at=utcnow() - dt.timedelta(days=get_settings().change_retention_days + 1)
                )
            )
            await uow.commit()
        fresh = await make_customer(uow_factory, owner=org.rep)
        assert await changes_service.purge_expired(uow_factory()) >= 1
        problem = assert_problem(
            await client.get(CHANGES, headers=admin, params={"cursor": old_cursor}),
            410,
            "changes.cursor_expired",
        )
        assert "resync" in problem["detail"]
        # Without a cursor the feed starts at the oldest entry kept.
        items, _ = await _drain(client, admin)
        ids = [i["id"] for i in items]
        assert str(fresh.id) in ids and str(old.id) not in ids

    async def test_a_device_behind_the_retention_starts_over(self, client, org, uow_factory):
        rep = access_headers(org.rep)
        await make_customer(uow_factory, owner=org.rep)
        first = await client.get(f"{API}/sync/pull", headers=rep)
        cursor = first.json()["next_cursor"]
        await make_customer(uow_factory, owner=org.rep)
        async with uow_factory() as uow:
            await uow.session.execute(update(ChangeLog).values(at=utcnow() - dt.timedelta(days=400)))
            await uow.commit()
        await changes_service.purge_expired(uow_factory())
        again = await client.get(f"{API}/sync/pull", headers=rep, params={"cursor": cursor})
        assert again.status_code == 200 and again.json()["reset"] is True

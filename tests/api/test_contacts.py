"""A customer's contacts: list (with masking for reps on pool customers), create, update, delete."""

from __future__ import annotations

import uuid

import pytest

from tests.support.builders import (
    access_headers,
    assert_problem,
    make_customer,
    make_sales_org,
    walk_pages,
)

CUSTOMERS = "/api/v1/customers"
SECRET_CONTACT = {
    "name": "张三",
    "title": "总经理",
    "phones": ["13800138000", "010-6552-9988"],
    "emails": ["zhang.san@example.com"],
    "wechat": "wxid_abc9",
    "notes": "私人手机勿外传",
    "is_primary": True,
}


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


def contacts_url(customer_id, contact_id=None) -> str:
    return f"{CUSTOMERS}/{customer_id}/contacts" + (f"/{contact_id}" if contact_id else "")


async def customer_view(client, user, customer_id) -> dict:
    response = await client.get(f"{CUSTOMERS}/{customer_id}", headers=access_headers(user))
    assert response.status_code == 200, response.text
    return response.json()


async def contact_list(client, user, customer_id) -> list[dict]:
    response = await client.get(contacts_url(customer_id), headers=access_headers(user))
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_cursor"] is None
    return page["items"]


async def search(client, user, q) -> list[str]:
    response = await client.get(CUSTOMERS, headers=access_headers(user), params={"q": q})
    return [c["id"] for c in response.json()["items"]]


UNMASKED = {
    "phones": ["+8613800138000", "+861065529988"],
    "emails": ["zhang.san@example.com"],
    "wechat": "wxid_abc9",
    "notes": "私人手机勿外传",
    "masked": False,
}
MASKED = {
    "phones": ["+86138****8000", "+86106***9988"],
    "emails": ["z***@example.com"],
    "wechat": "w*******9",
    "notes": None,
    "masked": True,
}


def details(contact: dict) -> dict:
    return {k: contact[k] for k in UNMASKED}


class TestMasking:
    async def test_rep_sees_a_pool_customers_contacts_masked(self, client, org, uow_factory):
        pool = await make_customer(uow_factory, contacts=[SECRET_CONTACT])
        [in_detail] = (await customer_view(client, org.rep, pool.id))["contacts"]
        [in_list] = await contact_list(client, org.rep, pool.id)
        for contact in (in_detail, in_list):
            assert details(contact) == MASKED
            assert contact["name"] == "张三" and contact["title"] == "总经理"
            assert contact["is_primary"] is True

    async def test_owner_rep_sees_them_unmasked(self, client, org, uow_factory):
        own = await make_customer(uow_factory, owner=org.rep, contacts=[SECRET_CONTACT])
        [in_detail] = (await customer_view(client, org.rep, own.id))["contacts"]
        [in_list] = await contact_list(client, org.rep, own.id)
        assert details(in_detail) == details(in_list) == UNMASKED

    @pytest.mark.parametrize("role", ["support", "manager", "director", "finance", "admin"])
    async def test_other_roles_see_pool_contacts_unmasked(self, client, org, uow_factory, role):
        pool = await make_customer(uow_factory, contacts=[SECRET_CONTACT])
        user = getattr(org, role)
        [in_detail] = (await customer_view(client, user, pool.id))["contacts"]
        [in_list] = await contact_list(client, user, pool.id)
        assert details(in_detail) == details(in_list) == UNMASKED

    async def test_rep_creating_for_the_pool_gets_masked_details(self, client, org, uow_factory):
        from tests.support.builders import make_customers, set_pool_policy

        # Past the holding limit and the discovery bonus: the find goes to the pool.
        await set_pool_policy(uow_factory, org.director, discovery_bonus=0)
        await make_customers(uow_factory, 30, owner=org.rep)
        response = await client.post(
            CUSTOMERS,
            headers=access_headers(org.rep),
            json={"name": "超额发现", "contacts": [{"name": "甲", "phones": ["13800138000"]}]},
        )
        assert response.status_code == 201 and response.json()["owner_id"] is None
        assert response.json()["contacts"][0]["phones"] == ["+86138****8000"]
        stored = await customer_view(client, org.support, response.json()["id"])
        assert stored["contacts"][0]["phones"] == ["+8613800138000"]


class TestListContacts:
    async def test_anonymous(self, client, uow_factory):
        customer = await make_customer(uow_factory)
        assert_problem(await client.get(contacts_url(customer.id)), 401, "unauthorized")

    async def test_out_of_scope_is_404(self, client, org, uow_factory):
        theirs = await make_customer(uow_factory, owner=org.rep2, contacts=[SECRET_CONTACT])
        elsewhere = await make_customer(uow_factory, owner=org.other_rep, contacts=[SECRET_CONTACT])
        assert_problem(
            await client.get(contacts_url(theirs.id), headers=access_headers(org.rep)), 404, "not_found"
        )
        assert_problem(
            await client.get(contacts_url(elsewhere.id), headers=access_headers(org.manager)),
            404,
            "not_found",
        )

    async def test_deleted_customer_is_404(self, client, org, uow_factory):
        gone = await make_customer(uow_factory, owner=org.rep, deleted=True, contacts=[SECRET_CONTACT])
        assert_problem(
            await client.get(contacts_url(gone.id), headers=access_headers(org.rep)), 404, "not_found"
        )

    async def test_primary_first(self, client, org, uow_factory):
        customer = await make_customer(
            uow_factory,
            owner=org.rep,
            contacts=[{"name": "甲"}, {"name": "乙", "is_primary": True}, {"name": "丙"}],
        )
        names = [c["name"] for c in await contact_list(client, org.rep, customer.id)]
        assert names[0] == "乙" and sorted(names[1:]) == ["丙", "甲"]

    async def test_pages_follow_the_same_order(self, client, org, uow_factory):
        customer = await make_customer(
            uow_factory,
            owner=org.rep,
            contacts=[{"name": f"联系人{i}", "is_primary": i == 3} for i in range(5)],
        )
        headers = access_headers(org.rep)
        whole = await contact_list(client, org.rep, customer.id)
        first = await client.get(contacts_url(customer.id), headers=headers, params={"limit": 2})
        assert first.status_code == 200, first.text
        assert [c["name"] for c in first.json()["items"]] == [c["name"] for c in whole[:2]]
        assert first.json()["next_cursor"] is not None
        walked = await walk_pages(client, contacts_url(customer.id), headers, limit=2)
        assert [c["id"] for c in walked] == [c["id"] for c in whole]
        assert walked[0]["name"] == "联系人3" and len(walked) == 5

    async def test_bad_cursor(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep, contacts=[{"name": "甲"}])
        assert_problem(
            await client.get(
                contacts_url(customer.id), headers=access_headers(org.rep), params={"cursor": "not-a-cursor"}
            ),
            400,
            "pagination.invalid_cursor",
        )


class TestCreateContact:
    async def test_anonymous(self, client, uow_factory):
        customer = await make_customer(uow_factory)
        assert_problem(await client.post(contacts_url(customer.id), json={"name": "x"}), 401, "unauthorized")

    async def test_finance_may_not(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep)
        response = await client.post(
            contacts_url(customer.id), json={"name": "x"}, headers=access_headers(org.finance)
        )
        assert_problem(response, 403, "forbidden")

    async def test_rep_may_not_add_to_a_pool_customer(self, client, org, uow_factory):
        pool = await make_customer(uow_factory)
        response = await client.post(
            contacts_url(pool.id), json={"name": "x"}, headers=access_headers(org.rep)
        )
        assert_problem(response, 403, "forbidden")

    async def test_out_of_scope_is_404(self, client, org, uow_factory):
        theirs = await make_customer(uow_factory, owner=org.rep2)
        response = await client.post(
            contacts_url(theirs.id), json={"name": "x"}, headers=access_headers(org.rep)
        )
        assert_problem(response, 404, "not_found")
        response = await client.post(
            contacts_url(uuid.uuid4()), json={"name": "x"}, headers=access_headers(org.support)
        )
        assert_problem(response, 404, "not_found")

    async def test_rep_adds_to_own_customer(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep)
        response = await client.post(
            contacts_url(customer.id),
            headers=access_headers(org.rep),
            json={
                "name": " 李　四 ",
                "phones": ["+86 139-0013-9000", "１３９００１３９０００"],
                "emails": ["Li.Si@Example.com"],
                "wechat": "ｌｉｓｉ",
            },
        )
        assert response.status_code == 201, response.text
        assert response.headers["etag"] == '"1"'
        body = response.json()
        assert body["name"] == "李 四" and body["customer_id"] == str(customer.id)
        assert body["phones"] == ["+8613900139000"] and body["emails"] == ["li.si@example.com"]
        assert body["wechat"] == "lisi" and body["masked"] is False and body["version"] == 1
        assert [c["id"] for c in await contact_list(client, org.rep, customer.id)] == [body["id"]]
        assert await search(client, org.rep, "139 0013 9000") == [str(customer.id)]
        assert await search(client, org.rep, "li.si@EXAMPLE.com") == [str(customer.id)]

    @pytest.mark.parametrize(
        ("body", "loc", "type_"),
        [
            ({}, ["body", "name"], "missing"),
            ({"name": "  "}, ["body", "name"], "missing"),
            ({"name": "x" * 101}, ["body", "name"], "string_too_long"),
            ({"name": "x", "phones": ["110"]}, ["body", "phones", 0], "value_error.phone"),
            ({"name": "x", "phones": ["13800138000 ext. 12"]}, ["body", "phones", 0], "value_error.phone"),
            ({"name": "x", "emails": ["a@@b.cn"]}, ["body", "emails", 0], "value_error.email"),
            ({"name": "x", "phones": ["13800138000"] * 11}, ["body", "phones"], "too_long"),
            ({"name": "x", "is_primary": "perhaps"}, ["body", "is_primary"], "bool_parsing"),
            ({"name": "x", "customer_id": str(uuid.uuid4())}, ["body", "customer_id"], "extra_forbidden"),
        ],
    )
    async def test_validation(self, client, org, uow_factory, body, loc, type_):
        customer = await make_customer(uow_factory, owner=org.rep)
        response = await client.post(contacts_url(customer.id), json=body, headers=access_headers(org.rep))
        problem = assert_problem(response, 422, "validation_error")
        assert any(e["loc"] == loc and e["type"] == type_ for e in problem["errors"]), problem["errors"]
        assert await contact_list(client, org.rep, customer.id) == []


class TestUpdateContact:
    @pytest.fixture
    async def own(self, org, uow_factory):
        customer = await make_customer(
            uow_factory,
            owner=org.rep,
            contacts=[{"name": "王五", "phones": ["13800138000"], "title": "经理"}],
        )
        return customer, customer.contacts_[0]

    async def test_anonymous(self, client, own):
        customer, contact = own
        assert_problem(
            await client.patch(contacts_url(customer.id, contact.id), json={"title": "x"}),
            401,
            "unauthorized",
        )

    async def test_finance_may_not(self, client, org, own):
        customer, contact = own
        response = await client.patch(
            contacts_url(customer.id, contact.id), json={"title": "x"}, headers=access_headers(org.finance)
        )
        assert_problem(response, 403, "forbidden")

    async def test_rep_may_not_change_a_pool_customers_contact(self, client, org, uow_factory):
        pool = await make_customer(uow_factory, contacts=[{"name": "甲"}])
        response = await client.patch(
            contacts_url(pool.id, pool.contacts_[0].id), json={"title": "x"}, headers=access_headers(org.rep)
        )
        assert_problem(response, 403, "forbidden")

    async def test_out_of_scope_and_unknown(self, client, org, own, uow_factory):
        customer, contact = own
        other = await make_customer(uow_factory, owner=org.rep)
        assert_problem(
            await client.patch(
                contacts_url(customer.id, contact.id), json={"title": "x"}, headers=access_headers(org.rep2)
            ),
            404,
            "not_found",
        )
        assert_problem(
            await client.patch(
                contacts_url(customer.id, uuid.uuid4()), json={"title": "x"}, headers=access_headers(org.rep)
            ),
            404,
            "not_found",
        )
        # The contact exists, but under another customer.
        assert_problem(
            await client.patch(
                contacts_url(other.id, contact.id), json={"title": "x"}, headers=access_headers(org.rep)
            ),
            404,
            "not_found",
        )

    async def test_if_match_etag_and_normalisation(self, client, org, own):
        customer, contact = own
        headers = access_headers(org.rep)
        response = await client.patch(
            contacts_url(customer.id, contact.id),
            json={"phones": ["139-0013-9000"], "emails": ["W@X.CN"]},
            headers={**headers, "If-Match": '"1"'},
        )
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == '"2"'
        body = response.json()
        assert body["phones"] == ["+8613900139000"] and body["emails"] == ["w@x.cn"]
        assert body["name"] == "王五" and body["title"] == "经理"
        stale = await client.patch(
            contacts_url(customer.id, contact.id),
            json={"title": "总监"},
            headers={**headers, "If-Match": '"1"'},
        )
        assert_problem(stale, 412, "conflict.version_mismatch")
        assert (await contact_list(client, org.rep, customer.id))[0]["title"] == "经理"
        # The searchable phones follow the change.
        assert await search(client, org.rep, "139 0013 9000") == [str(customer.id)]
        assert await search(client, org.rep, "138 0013 8000") == []

    async def test_nullable_and_required_fields(self, client, org, own):
        customer, contact = own
        headers = access_headers(org.rep)
        response = await client.patch(
            contacts_url(customer.id, contact.id), json={"title": None}, headers=headers
        )
        assert response.status_code == 200 and response.json()["title"] is None
        for field in ("name", "phones", "emails", "is_primary"):
            response = await client.patch(
                contacts_url(customer.id, contact.id), json={field: None}, headers=headers
            )
            assert_problem(response, 422, "validation_error")
        response = await client.patch(
            contacts_url(customer.id, contact.id), json={"phones": ["abc"]}, headers=headers
        )
        problem = assert_problem(response, 422, "validation_error")
        assert problem["errors"][0]["loc"] == ["body", "phones", 0]


class TestDeleteContact:
    async def test_anonymous(self, client, uow_factory):
        customer = await make_customer(uow_factory, contacts=[{"name": "甲"}])
        response = await client.delete(contacts_url(customer.id, customer.contacts_[0].id))
        assert_problem(response, 401, "unauthorized")

    async def test_finance_and_rep_on_pool_may_not(self, client, org, uow_factory):
        pool = await make_customer(uow_factory, contacts=[{"name": "甲"}])
        target = contacts_url(pool.id, pool.contacts_[0].id)
        assert_problem(await client.delete(target, headers=access_headers(org.finance)), 403, "forbidden")
        assert_problem(await client.delete(target, headers=access_headers(org.rep)), 403, "forbidden")

    async def test_soft_delete(self, client, org, uow_factory):
        customer = await make_customer(
            uow_factory, owner=org.rep, contacts=[{"name": "甲", "phones": ["13800138000"]}, {"name": "乙"}]
        )
        first, second = customer.contacts_
        headers = access_headers(org.rep)
        target = contacts_url(customer.id, first.id)
        stale = await client.delete(target, headers={**headers, "If-Match": '"9"'})
        assert_problem(stale, 412, "conflict.version_mismatch")
        response = await client.delete(target, headers={**headers, "If-Match": '"1"'})
        assert response.status_code == 204
        assert [c["id"] for c in await contact_list(client, org.rep, customer.id)] == [str(second.id)]
        assert [c["id"] for c in (await customer_view(client, org.rep, customer.id))["contacts"]] == [
            str(second.id)
        ]
        assert await search(client, org.rep, "13800138000") == []
        assert_problem(
            await client.delete(contacts_url(customer.id, first.id), headers=headers), 404, "not_found"
        )
        history = await client.get(f"{CUSTOMERS}/{customer.id}/history", headers=headers)
        [entry] = history.json()["items"]
        assert entry["action"] == "contact_delete" and entry["entity_id"] == str(first.id)
        assert entry["actor_id"] == str(org.rep.id)

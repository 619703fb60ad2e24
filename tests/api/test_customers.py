"""Customers: create, read, update, soft delete, history and completeness through HTTP."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tests.support.builders import (
    access_headers,
    assert_problem,
    make_customer,
    make_customers,
    make_sales_org,
    set_pool_policy,
    update_customer_row,
    valid_uscc,
)

CUSTOMERS = "/api/v1/customers"
USCC = valid_uscc("91110108MA01ABCD1")
# Same 17 characters, a wrong check character.
BAD_USCC = USCC[:-1] + ("1" if USCC[-1] != "1" else "2")


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


def url(customer_id, suffix: str = "") -> str:
    return f"{CUSTOMERS}/{customer_id}{suffix}"


def when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


async def create(client, user, body, *, status: int = 201, **params) -> dict:
    response = await client.post(CUSTOMERS, json=body, params=params, headers=access_headers(user))
    assert response.status_code == status, response.text
    return response.json()


async def history(client, user, customer_id, **params) -> list[dict]:
    response = await client.get(
        url(customer_id, "/history"), headers=access_headers(user), params={"limit": 500, **params}
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


def assert_validation(response, loc: list, type_: str) -> dict:
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"], body
    for item in body["errors"]:
        assert set(item) == {"loc", "msg", "type"} and item["msg"], item
    assert any(e["loc"] == loc and e["type"] == type_ for e in body["errors"]), body["errors"]
    return body


class TestCreateCustomer:
    async def test_anonymous(self, client):
        assert_problem(await client.post(CUSTOMERS, json={"name": "x"}), 401, "unauthorized")

    async def test_finance_may_not_create(self, client, org):
        response = await client.post(
            CUSTOMERS, json={"name": "财务的客户"}, headers=access_headers(org.finance)
        )
        assert_problem(response, 403, "forbidden")

    async def test_rep_customer_is_theirs(self, client, org):
        response = await client.post(CUSTOMERS, json={"name": "星辰科技"}, headers=access_headers(org.rep))
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["owner_id"] == str(org.rep.id)
        assert body["team_id"] == str(org.group.id)
        assert body["source"] == "self_discovered"
        assert body["discovered_by"] == str(org.rep.id)
        assert body["stage"] == "resource" and body["out_of_funnel"] is False
        assert body["kind"] == "company" and body["version"] == 1
        assert body["claimed_at"] is not None and body["deleted_at"] is None
        assert body["merged_into"] is None and body["contacts"] == []
        assert response.headers["etag"] == '"1"'
        assert response.headers["location"] == url(body["id"])
        assert body["created_at"].endswith("Z")
        again = await client.get(response.headers["location"], headers=access_headers(org.rep))
        assert again.status_code == 200 and again.json()["id"] == body["id"]

    async def test_rep_with_another_source_is_owner_but_not_discoverer(self, client, org):
        body = await create(client, org.rep, {"name": "展会客户", "source": "exhibition"})
        assert body["owner_id"] == str(org.rep.id)
        assert body["source"] == "exhibition" and body["discovered_by"] is None

    async def test_support_customer_goes_to_the_pool(self, client, org):
        body = await create(client, org.support, {"name": "公海客户"})
        assert body["owner_id"] is None and body["team_id"] is None
        assert body["claimed_at"] is None
        assert body["source"] == "other" and body["discovered_by"] is None

    async def test_support_assigns_an_owner(self, client, org):
        body = await create(client, org.support, {"name": "分配客户", "owner_id": str(org.rep.id)})
        assert body["owner_id"] == str(org.rep.id)
        assert body["team_id"] == str(org.group.id)
        assert body["claimed_at"] is not None

    async def test_manager_assigns_within_the_team_tree(self, client, org):
        body = await create(client, org.manager, {"name": "组内客户", "owner_id": str(org.rep.id)})
        assert body["owner_id"] == str(org.rep.id) and body["team_id"] == str(org.group.id)

    async def test_manager_may_not_assign_outside_the_team(self, client, org):
        response = await client.post(
            CUSTOMERS,
            json={"name": "别组客户", "owner_id": str(org.other_rep.id)},
            headers=access_headers(org.manager),
        )
        assert_problem(response, 403, "forbidden")
        listed = await client.get(CUSTOMERS, headers=access_headers(org.director))
        assert listed.json()["items"] == []

    async def test_rep_may_not_create_for_someone_else(self, client, org):
        response = await client.post(
            CUSTOMERS, json={"name": "别人的", "owner_id": str(org.rep2.id)}, headers=access_headers(org.rep)
        )
        assert_problem(response, 403, "forbidden")

    @pytest.mark.parametrize("who", ["finance", "support", "director"])
    async def test_owner_must_be_a_rep_or_manager(self, client, org, who):
        response = await client.post(
            CUSTOMERS,
            json={"name": "无主", "owner_id": str(getattr(org, who).id)},
            headers=access_headers(org.support),
        )
        assert_problem(response, 422, "customer.invalid_owner")

    async def test_rep_over_the_holding_limit_finds_for_the_pool(self, client, org, uow_factory):
        await set_pool_policy(uow_factory, org.director, discovery_bonus=0)
        await make_customers(uow_factory, 30, owner=org.rep)
        body = await create(client, org.rep, {"name": "第三十一个"})
        assert body["owner_id"] is None and body["team_id"] is None
        assert body["discovered_by"] == str(org.rep.id)
        assert body["source"] == "self_discovered"

    async def test_the_discovery_bonus_past_the_holding_limit(self, client, org, uow_factory):
        await set_pool_policy(uow_factory, org.director, discovery_bonus=2)
        await make_customers(uow_factory, 30, owner=org.rep)
        # Two own finds past the limit stay with the rep (还可增量分配给发掘者) ...
        for name in ("发掘一", "发掘二"):
            assert (await create(client, org.rep, {"name": name}))["owner_id"] == str(org.rep.id)
        # ... the third waits in the pool, marked as theirs.
        body = await create(client, org.rep, {"name": "发掘三"})
        assert body["owner_id"] is None and body["discovered_by"] == str(org.rep.id)
        # The bonus is for own finds only: a customer from elsewhere does not fit.
        body = await create(client, org.rep, {"name": "展会来的", "source": "exhibition"})
        assert body["owner_id"] is None
        # A claim past the limit stays refused.
        other = await make_customer(uow_factory)
        response = await client.post(f"{CUSTOMERS}/{other.id}/claim", headers=access_headers(org.rep))
        assert_problem(response, 409, "pool.quota_exceeded")

    async def test_the_discoverer_gets_their_find_first_once_they_have_room(self, client, org, uow_factory):
        await set_pool_policy(uow_factory, org.director, discovery_bonus=0, max_active_customers=2)
        held = await make_customers(uow_factory, 2, owner=org.rep, stage="lead")
        found = await create(client, org.rep, {"name": "等位的发掘", "grade": "C"})
        assert found["owner_id"] is None
        # rep2 out-ranks nobody, but has room; the discoverer has none yet: not theirs.
        plan = await client.post(
            "/api/v1/pool/allocate",
            headers=access_headers(org.support),
            json={
                "strategy": "round_robin",
                "dry_run": True,
                "customer_ids": [found["id"]],
                "user_ids": [str(org.rep.id), str(org.rep2.id)],
            },
        )
        assert [a["owner_id"] for a in plan.json()["assignments"]] == [str(org.rep2.id)]
        # A slot frees up (a signing): every strategy gives it to the discoverer first.
        await update_customer_row(uow_factory, held[0].id, stage="signed")
        for strategy in ("round_robin", "fat_man"):
            plan = await client.post(
                "/api/v1/pool/allocate",
                headers=access_headers(org.support),
                json={
                    "strategy": strategy,
                    "dry_run": True,
                    "customer_ids": [found["id"]],
                    "user_ids": [str(org.rep2.id), str(org.rep.id)],
                },
            )
            [assignment] = plan.json()["assignments"]
            assert assignment["owner_id"] == str(org.rep.id), strategy
            assert "discoverer" in assignment["reason"]

    async def test_only_active_stages_count_against_the_limit(self, client, org, uow_factory):
        await make_customers(uow_factory, 29, owner=org.rep)
        await make_customers(uow_factory, 5, owner=org.rep, stage="signed")
        await make_customers(uow_factory, 3, owner=org.rep, stage="abandoned")
        body = await create(client, org.rep, {"name": "第三十个"})
        assert body["owner_id"] == str(org.rep.id)
        # ... and that one was the 30th active customer: the next one from elsewhere goes
        # to the pool (an own find could use the discovery bonus).
        assert (await create(client, org.rep, {"name": "第三十一个", "source": "exhibition"}))[
            "owner_id"
        ] is None

    async def test_assigning_past_the_limit_is_refused(self, client, org, uow_factory):
        await make_customers(uow_factory, 30, owner=org.rep)
        response = await client.post(
            CUSTOMERS, json={"name": "超额", "owner_id": str(org.rep.id)}, headers=access_headers(org.support)
        )
        body = assert_problem(response, 409, "pool.quota_exceeded")
        assert body["limit"] == 30 and body["active"] == 30

    async def test_inline_contacts_are_normalised(self, client, org):
        body = await create(
            client,
            org.rep,
            {
                "name": "  ＡＣＭＥ　 Trading   Co. ",
                "industry": " 制造业 ",
                "region": "　华北  ",
                "tags": [" vip ", "vip", "ＫＥＹ", "　"],
                "interests": ["高尔夫 ", "高尔夫"],
                "contacts": [
                    {
                        "name": "　王　　小明 ",
                        "title": " 采购 经理 ",
                        "phones": ["138 0013 8000", "+86-139-0013-9000", "１３７００１３７０００"],
                        "emails": [" Zhang.San@Example.COM "],
                        "wechat": " wxid_abc9 ",
                        "is_primary": True,
                        "notes": "  见面聊  ",
                    },
                    {
                        "name": "Ｌｉ　Ｓｉ",
                        "phones": ["138 0013 8000", "+86-138-0013-8000", "１３８００１３８０００"],
                        "emails": ["LI.SI@EXAMPLE.COM", "li.si@example.com"],
                    },
                ],
            },
        )
        assert body["name"] == "ACME Trading Co."
        assert body["industry"] == "制造业" and body["region"] == "华北"
        assert body["tags"] == ["vip", "KEY"] and body["interests"] == ["高尔夫"]
        first, second = body["contacts"]
        assert first["name"] == "王 小明" and first["title"] == "采购 经理"
        assert first["phones"] == ["+8613800138000", "+8613900139000", "+8613700137000"]
        assert first["emails"] == ["zhang.san@example.com"]
        assert first["wechat"] == "wxid_abc9" and first["notes"] == "见面聊"
        assert first["is_primary"] is True and first["masked"] is False
        assert first["customer_id"] == body["id"]
        # Three spellings of one number, two of one email: one each.
        assert second["name"] == "Li Si"
        assert second["phones"] == ["+8613800138000"]
        assert second["emails"] == ["li.si@example.com"]
        stored = await client.get(url(body["id"]), headers=access_headers(org.rep))
        assert [c["phones"] for c in stored.json()["contacts"]] == [first["phones"], second["phones"]]

    @pytest.mark.parametrize(
        ("patch", "loc", "type_"),
        [
            ({"uscc": BAD_USCC}, ["body", "uscc"], "value_error.uscc"),
            ({"uscc": "91110108"}, ["body", "uscc"], "value_error.uscc"),
            ({"uscc": USCC[:-1] + "I"}, ["body", "uscc"], "value_error.uscc"),
            ({"kind": "individual", "uscc": USCC}, ["body", "uscc"], "value_error.uscc"),
            (
                {"contacts": [{"name": "a", "phones": ["12345"]}]},
                ["body", "contacts", 0, "phones", 0],
                "value_error.phone",
            ),
            (
                {"contacts": [{"name": "a", "phones": ["13800138000", "1-800-FLOWERS"]}]},
                ["body", "contacts", 0, "phones", 1],
                "value_error.phone",
            ),
            (
                {"contacts": [{"name": "a", "emails": ["not-an-email"]}]},
                ["body", "contacts", 0, "emails", 0],
                "value_error.email",
            ),
            (
                {"contacts": [{"name": "a", "emails": ["a@b"]}]},
                ["body", "contacts", 0, "emails", 0],
                "value_error.email",
            ),
            ({"contacts": [{"name": "　 "}]}, ["body", "contacts", 0, "name"], "missing"),
            ({"contacts": [{"name": "a", "fax": "010"}]}, ["body", "contacts", 0, "fax"], "extra_forbidden"),
            ({"name": "长" * 201}, ["body", "name"], "string_too_long"),
            ({"name": "　  "}, ["body", "name"], "missing"),
            ({"address": "x" * 301}, ["body", "address"], "string_too_long"),
            ({"kind": "partnership"}, ["body", "kind"], "enum"),
            ({"source": "tv"}, ["body", "source"], "enum"),
            ({"size": "huge"}, ["body", "size"], "enum"),
            ({"grade": "D"}, ["body", "grade"], "enum"),
            ({"stage": "nowhere"}, ["body", "stage"], "enum"),
            ({"colour": "red"}, ["body", "colour"], "extra_forbidden"),
            ({"target_amount": "-5"}, ["body", "target_amount"], "greater_than"),
            ({"target_amount": "1.234"}, ["body", "target_amount"], "value_error"),
            ({"stage": "signed"}, ["body", "stage"], "value_error.stage"),
            ({"stage": "abandoned"}, ["body", "stage"], "value_error.stage"),
        ],
    )
    async def test_validation_errors(self, client, org, patch, loc, type_):
        response = await client.post(
            CUSTOMERS, json={"name": "校验公司", **patch}, headers=access_headers(org.support)
        )
        assert_validation(response, loc, type_)
        listed = await client.get(CUSTOMERS, headers=access_headers(org.director))
        assert listed.json()["items"] == [], "nothing is created by an invalid request"

    async def test_every_problem_is_reported_at_once(self, client, org):
        response = await client.post(
            CUSTOMERS,
            headers=access_headers(org.support),
            json={
                "name": "多错公司",
                "uscc": BAD_USCC,
                "contacts": [{"name": "a", "phones": ["12345"], "emails": ["x@"]}],
            },
        )
        body = assert_problem(response, 422, "validation_error")
        assert sorted(e["type"] for e in body["errors"]) == [
            "value_error.email",
            "value_error.phone",
            "value_error.uscc",
        ]

    async def test_graded_needs_grade_products_and_target(self, client, org):
        response = await client.post(
            CUSTOMERS, json={"name": "分级公司", "stage": "graded"}, headers=access_headers(org.rep)
        )
        body = assert_problem(response, 422, "funnel.requirement_unmet")
        assert body["missing"] == ["grade", "recommended_products", "target_amount"]
        response = await client.post(
            CUSTOMERS,
            headers=access_headers(org.rep),
            json={"name": "分级公司", "stage": "lead", "grade": "B"},
        )
        body = assert_problem(response, 422, "funnel.requirement_unmet")
        assert body["missing"] == ["recommended_products", "target_amount"]

    async def test_created_graded(self, client, org):
        body = await create(
            client,
            org.rep,
            {
                "name": "分级公司",
                "stage": "graded",
                "grade": "A",
                "recommended_products": ["ERP"],
                "target_amount": "12500",
            },
        )
        assert body["stage"] == "graded" and body["grade"] == "A"
        assert body["out_of_funnel"] is False
        assert body["recommended_products"] == ["ERP"]
        assert body["target_amount"] == "12500.00"

    @pytest.mark.parametrize("stage", ["contacted", "lead", "intent"])
    async def test_created_beyond_graded_is_out_of_funnel(self, client, org, stage):
        body = await create(
            client,
            org.rep,
            {
                "name": f"{stage}公司",
                "stage": stage,
                "grade": "B",
                "recommended_products": ["CRM"],
                "target_amount": 800,
            },
        )
        assert body["stage"] == stage and body["out_of_funnel"] is True

    @pytest.mark.parametrize(
        ("sent", "shown"),
        [
            (12500, "12500.00"),
            ("12500", "12500.00"),
            ("99.5", "99.50"),
            (0.1, "0.10"),
            ("9999999999.99", "9999999999.99"),
        ],
    )
    async def test_money_is_a_two_place_string(self, client, org, sent, shown):
        body = await create(client, org.support, {"name": f"金额{sent}", "target_amount": sent})
        assert body["target_amount"] == shown
        stored = await client.get(url(body["id"]), headers=access_headers(org.support))
        assert stored.json()["target_amount"] == shown

    async def test_idempotency_key_replays_the_first_answer(self, client, org):
        headers = {**access_headers(org.support), "Idempotency-Key": "create-customer-0001"}
        first = await client.post(CUSTOMERS, json={"name": "幂等公司"}, headers=headers)
        second = await client.post(CUSTOMERS, json={"name": "幂等公司"}, headers=headers)
        assert first.status_code == second.status_code == 201
        assert first.json()["id"] == second.json()["id"]
        listed = await client.get(CUSTOMERS, headers=access_headers(org.director))
        assert [c["id"] for c in listed.json()["items"]] == [first.json()["id"]]


class TestGetCustomer:
    async def test_anonymous(self, client, org, uow_factory):
        customer = await make_customer(uow_factory)
        assert_problem(await client.get(url(customer.id)), 401, "unauthorized")

    async def test_rep_reads_own_and_pool(self, client, org, uow_factory):
        own = await make_customer(uow_factory, owner=org.rep)
        pool = await make_customer(uow_factory)
        for customer in (own, pool):
            response = await client.get(url(customer.id), headers=access_headers(org.rep))
            assert response.status_code == 200, response.text
            assert response.json()["id"] == str(customer.id)
            assert response.headers["etag"] == '"1"'

    async def test_rep_cannot_see_another_reps_customer(self, client, org, uow_factory):
        theirs = await make_customer(uow_factory, owner=org.rep2)
        assert_problem(await client.get(url(theirs.id), headers=access_headers(org.rep)), 404, "not_found")

    async def test_manager_sees_the_team_tree_not_other_teams(self, client, org, uow_factory):
        in_tree = await make_customer(uow_factory, owner=org.rep)
        elsewhere = await make_customer(uow_factory, owner=org.other_rep)
        response = await client.get(url(in_tree.id), headers=access_headers(org.manager))
        assert response.status_code == 200
        assert_problem(
            await client.get(url(elsewhere.id), headers=access_headers(org.manager)), 404, "not_found"
        )

    @pytest.mark.parametrize("role", ["director", "support", "finance", "admin"])
    async def test_all_scope_roles_see_everything(self, client, org, uow_factory, role):
        customer = await make_customer(uow_factory, owner=org.other_rep)
        response = await client.get(url(customer.id), headers=access_headers(getattr(org, role)))
        assert response.status_code == 200 and response.json()["owner_id"] == str(org.other_rep.id)

    async def test_unknown_and_malformed_ids(self, client, org):
        headers = access_headers(org.director)
        assert_problem(await client.get(url(uuid.uuid4()), headers=headers), 404, "not_found")
        assert_problem(await client.get(url("not-a-uuid"), headers=headers), 422, "validation_error")

    async def test_deleted_only_with_include_deleted(self, client, org, uow_factory):
        gone = await make_customer(uow_factory, owner=org.rep, deleted=True)
        headers = access_headers(org.rep)
        assert_problem(await client.get(url(gone.id), headers=headers), 404, "not_found")
        response = await client.get(url(gone.id), headers=headers, params={"include_deleted": "true"})
        assert response.status_code == 200 and response.json()["deleted_at"] is not None
        # include_deleted does not widen the scope.
        response = await client.get(
            url(gone.id), headers=access_headers(org.rep2), params={"include_deleted": "true"}
        )
        assert_problem(response, 404, "not_found")


class TestUpdateCustomer:
    async def test_anonymous(self, client, uow_factory):
        customer = await make_customer(uow_factory)
        assert_problem(await client.patch(url(customer.id), json={"region": "x"}), 401, "unauthorized")

    async def test_finance_may_not_change(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep)
        response = await client.patch(
            url(customer.id), json={"region": "华东"}, headers=access_headers(org.finance)
        )
        assert_problem(response, 403, "forbidden")

    async def test_rep_may_not_change_a_pool_customer(self, client, org, uow_factory):
        pool = await make_customer(uow_factory, region="华北")
        response = await client.patch(url(pool.id), json={"region": "华东"}, headers=access_headers(org.rep))
        assert_problem(response, 403, "forbidden")
        stored = await client.get(url(pool.id), headers=access_headers(org.support))
        assert stored.json()["region"] == "华北" and stored.json()["version"] == 1

    async def test_out_of_scope_is_404(self, client, org, uow_factory):
        theirs = await make_customer(uow_factory, owner=org.rep2)
        elsewhere = await make_customer(uow_factory, owner=org.other_rep)
        assert_problem(
            await client.patch(url(theirs.id), json={"region": "x"}, headers=access_headers(org.rep)),
            404,
            "not_found",
        )
        assert_problem(
            await client.patch(url(elsewhere.id), json={"region": "x"}, headers=access_headers(org.manager)),
            404,
            "not_found",
        )

    async def test_if_match_and_etag(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep, region="华北")
        headers = access_headers(org.rep)
        response = await client.patch(
            url(customer.id), json={"region": " 华东 "}, headers={**headers, "If-Match": '"1"'}
        )
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == '"2"'
        assert response.json()["region"] == "华东" and response.json()["version"] == 2
        assert when(response.json()["updated_at"]) > customer.updated_at
        stale = await client.patch(
            url(customer.id), json={"region": "华南"}, headers={**headers, "If-Match": '"1"'}
        )
        body = assert_problem(stale, 412, "conflict.version_mismatch")
        assert body["current_version"] == 2
        response = await client.patch(
            url(customer.id), json={"industry": "零售"}, headers={**headers, "If-Match": 'W/"2"'}
        )
        assert response.headers["etag"] == '"3"'
        stored = await client.get(url(customer.id), headers=headers)
        assert stored.json()["region"] == "华东" and stored.json()["industry"] == "零售"
        assert stored.headers["etag"] == '"3"'

    async def test_without_if_match_last_write_wins(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep)
        response = await client.patch(
            url(customer.id), json={"website": "https://acme.example"}, headers=access_headers(org.rep)
        )
        assert response.status_code == 200 and response.json()["website"] == "https://acme.example"

    async def test_malformed_if_match(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep)
        response = await client.patch(
            url(customer.id),
            json={"region": "x"},
            headers={**access_headers(org.rep), "If-Match": "yesterday"},
        )
        assert_problem(response, 400)

    async def test_a_change_to_the_same_value_changes_nothing(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep, region="华北")
        response = await client.patch(
            url(customer.id), json={"region": "华北"}, headers=access_headers(org.rep)
        )
        assert response.status_code == 200 and response.json()["version"] == 1
        assert await history(client, org.rep, customer.id) == []

    async def test_money_is_compared_as_money(self, client, org, uow_factory):
        from decimal import Decimal

        customer = await make_customer(uow_factory, owner=org.rep, target_amount=Decimal("12500.00"))
        headers = access_headers(org.rep)
        response = await client.patch(url(customer.id), json={"target_amount": "12500"}, headers=headers)
        assert response.status_code == 200 and response.json()["version"] == 1
        response = await client.patch(url(customer.id), json={"target_amount": 13000.5}, headers=headers)
        assert response.json()["target_amount"] == "13000.50" and response.json()["version"] == 2
        [entry] = await history(client, org.rep, customer.id)
        assert entry["changes"] == {"target_amount": ["12500.00", "13000.50"]}

    @pytest.mark.parametrize("field", ["name", "kind", "source", "tags"])
    async def test_null_on_a_required_field(self, client, org, uow_factory, field):
        customer = await make_customer(uow_factory, owner=org.rep)
        response = await client.patch(url(customer.id), json={field: None}, headers=access_headers(org.rep))
        body = assert_problem(response, 422, "validation_error")
        assert field in body["errors"][0]["msg"]

    @pytest.mark.parametrize(
        ("patch", "loc", "type_"),
        [
            ({"stage": "lead"}, ["body", "stage"], "extra_forbidden"),
            ({"owner_id": str(uuid.uuid4())}, ["body", "owner_id"], "extra_forbidden"),
            ({"name": "x" * 201}, ["body", "name"], "string_too_long"),
            ({"uscc": BAD_USCC}, ["body", "uscc"], "value_error.uscc"),
            ({"size": "tiny"}, ["body", "size"], "enum"),
        ],
    )
    async def test_validation(self, client, org, uow_factory, patch, loc, type_):
        customer = await make_customer(uow_factory, owner=org.rep)
        response = await client.patch(url(customer.id), json=patch, headers=access_headers(org.rep))
        assert_validation(response, loc, type_)

    async def test_changing_kind_to_individual_clears_the_uscc(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep, uscc=USCC)
        response = await client.patch(
            url(customer.id), json={"kind": "individual"}, headers=access_headers(org.rep)
        )
        assert response.status_code == 200, response.text
        assert response.json()["kind"] == "individual" and response.json()["uscc"] is None
        [entry] = await history(client, org.rep, customer.id)
        assert entry["changes"] == {"kind": ["company", "individual"], "uscc": [USCC, None]}

    async def test_individual_cannot_get_a_uscc(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep, kind="individual")
        response = await client.patch(url(customer.id), json={"uscc": USCC}, headers=access_headers(org.rep))
        assert_validation(response, ["body", "uscc"], "value_error.uscc")

    async def test_renaming_into_a_duplicate(self, client, org, uow_factory):
        await make_customer(uow_factory, name="北京星辰科技有限公司", owner=org.rep2)
        mine = await make_customer(uow_factory, name="临时名称", owner=org.rep)
        response = await client.patch(
            url(mine.id), json={"name": "北京星辰科技股份有限公司"}, headers=access_headers(org.rep)
        )
        body = assert_problem(response, 409, "customer.duplicate")
        assert [c["matched_on"] for c in body["candidates"]] == [["name"]]
        response = await client.patch(
            url(mine.id), json={"name": "北京星辰科技股份有限公司"}, headers=access_headers(org.support)
        )
        assert response.status_code == 200 and response.json()["name"] == "北京星辰科技股份有限公司"

    async def test_a_rename_is_used_for_later_duplicate_checks(self, client, org, uow_factory):
        mine = await make_customer(uow_factory, name="旧名字有限公司", owner=org.rep)
        response = await client.patch(
            url(mine.id), json={"name": "新名字有限公司"}, headers=access_headers(org.rep)
        )
        assert response.status_code == 200
        assert (await create(client, org.support, {"name": "旧名字"}))["name"] == "旧名字"
        response = await client.post(CUSTOMERS, json={"name": "新名字"}, headers=access_headers(org.support))
        body = assert_problem(response, 409, "customer.duplicate")
        assert [c["id"] for c in body["candidates"]] == [str(mine.id)]

    async def test_unknown_referrer_is_a_validation_error(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep)
        response = await client.patch(
            url(customer.id), json={"referred_by": str(uuid.uuid4())}, headers=access_headers(org.rep)
        )
        assert_validation(response, ["body", "referred_by"], "value_error")

    async def test_referrer_is_kept(self, client, org, uow_factory):
        referrer = await make_customer(uow_factory, owner=org.rep)
        body = await create(
            client, org.rep, {"name": "被介绍的", "source": "referral", "referred_by": str(referrer.id)}
        )
        assert body["referred_by"] == str(referrer.id) and body["source"] == "referral"

    async def test_support_and_manager_edit_any_visible_customer(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep)
        for who, region in ((org.support, "华东"), (org.manager, "华南")):
            response = await client.patch(
                url(customer.id), json={"region": region}, headers=access_headers(who)
            )
            assert response.status_code == 200 and response.json()["region"] == region


class TestDeleteCustomer:
    async def test_anonymous(self, client, uow_factory):
        customer = await make_customer(uow_factory)
        assert_problem(await client.delete(url(customer.id)), 401, "unauthorized")

    async def test_finance_may_not_delete(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep)
        assert_problem(
            await client.delete(url(customer.id), headers=access_headers(org.finance)), 403, "forbidden"
        )

    async def test_rep_may_not_delete_a_pool_customer(self, client, org, uow_factory):
        pool = await make_customer(uow_factory)
        assert_problem(await client.delete(url(pool.id), headers=access_headers(org.rep)), 403, "forbidden")

    async def test_out_of_scope_is_404(self, client, org, uow_factory):
        theirs = await make_customer(uow_factory, owner=org.rep2)
        assert_problem(await client.delete(url(theirs.id), headers=access_headers(org.rep)), 404, "not_found")

    async def test_soft_delete(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep)
        keep = await make_customer(uow_factory, owner=org.rep)
        headers = access_headers(org.rep)
        response = await client.delete(url(customer.id), headers={**headers, "If-Match": '"1"'})
        assert response.status_code == 204 and response.content == b""
        assert_problem(await client.get(url(customer.id), headers=headers), 404, "not_found")
        listed = await client.get(CUSTOMERS, headers=headers)
        assert [c["id"] for c in listed.json()["items"]] == [str(keep.id)]
        listed = await client.get(CUSTOMERS, headers=headers, params={"include_deleted": "true"})
        assert {c["id"] for c in listed.json()["items"]} == {str(customer.id), str(keep.id)}
        tomb = await client.get(url(customer.id), headers=headers, params={"include_deleted": "true"})
        assert tomb.json()["deleted_at"] is not None and tomb.json()["merged_into"] is None
        [entry] = await history(client, org.rep, customer.id)
        assert entry["action"] == "delete" and entry["actor_id"] == str(org.rep.id)
        assert entry["changes"]["deleted_at"][0] is None
        assert when(entry["changes"]["deleted_at"][1]) == when(tomb.json()["deleted_at"])
        # Deleting again: it is gone.
        assert_problem(await client.delete(url(customer.id), headers=headers), 404, "not_found")

    async def test_integrators_pull_deletions(self, client, org, uow_factory):
        old = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        customer = await make_customer(uow_factory, owner=org.rep, updated_at=old)
        await make_customer(uow_factory, owner=org.rep, updated_at=old)
        since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        assert (await client.delete(url(customer.id), headers=access_headers(org.support))).status_code == 204
        headers = access_headers(org.director)
        params = {"updated_since": since.isoformat(), "include_deleted": "true"}
        changed = (await client.get(CUSTOMERS, headers=headers, params=params)).json()["items"]
        assert [c["id"] for c in changed] == [str(customer.id)] and changed[0]["deleted_at"] is not None
        params["include_deleted"] = "false"
        assert (await client.get(CUSTOMERS, headers=headers, params=params)).json()["items"] == []

    async def test_stale_if_match(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep)
        response = await client.delete(
            url(customer.id), headers={**access_headers(org.support), "If-Match": '"7"'}
        )
        assert_problem(response, 412, "conflict.version_mismatch")
        assert (await client.get(url(customer.id), headers=access_headers(org.rep))).status_code == 200


class TestCustomerHistory:
    async def test_anonymous(self, client, uow_factory):
        customer = await make_customer(uow_factory)
        assert_problem(await client.get(url(customer.id, "/history")), 401, "unauthorized")

    async def test_out_of_scope_is_404(self, client, org, uow_factory):
        theirs = await make_customer(uow_factory, owner=org.rep2)
        response = await client.get(url(theirs.id, "/history"), headers=access_headers(org.rep))
        assert_problem(response, 404, "not_found")

    async def test_every_change_is_recorded_newest_first(self, client, org):
        created = await create(
            client,
            org.support,
            {
                "name": "历史公司",
                "region": "北京",
                "tags": ["vip"],
                "contacts": [{"name": "赵六", "phones": ["13800138000"]}],
            },
        )
        cid = created["id"]
        first_contact = created["contacts"][0]["id"]
        patched = await client.patch(
            url(cid), json={"region": "上海", "tags": ["vip", "key"]}, headers=access_headers(org.director)
        )
        assert patched.status_code == 200
        contact = await client.post(
            url(cid, "/contacts"),
            headers=access_headers(org.support),
            json={"name": "王五", "phones": ["139-0013-9000"]},
        )
        contact_id = contact.json()["id"]
        response = await client.patch(
            url(cid, f"/contacts/{contact_id}"),
            json={"phones": ["137 0013 7000"], "title": "总监"},
            headers=access_headers(org.manager),
        )
        assert response.status_code == 200, response.text
        response = await client.delete(
            url(cid, f"/contacts/{contact_id}"), headers=access_headers(org.support)
        )
        assert response.status_code == 204
        assert (await client.delete(url(cid), headers=access_headers(org.director))).status_code == 204

        items = await history(client, org.support, cid)
        assert [h["action"] for h in items] == [
            "delete",
            "contact_delete",
            "contact_update",
            "contact_create",
            "update",
            "create",
        ]
        stamps = [when(h["at"]) for h in items]
        assert stamps == sorted(stamps, reverse=True)
        assert all(h["customer_id"] == cid for h in items)
        delete, c_delete, c_update, c_create, update, create_ = items

        assert create_["actor_id"] == str(org.support.id) and create_["entity"] == "customer"
        assert create_["entity_id"] == cid
        assert create_["changes"]["name"] == [None, "历史公司"]
        assert create_["changes"]["region"] == [None, "北京"]
        assert create_["changes"]["tags"] == [None, ["vip"]]
        assert create_["changes"]["source"] == [None, "other"]
        assert create_["changes"]["contacts"] == [0, 1]
        assert "owner_id" not in create_["changes"]

        assert update["actor_id"] == str(org.director.id)
        assert update["changes"] == {"region": ["北京", "上海"], "tags": [["vip"], ["vip", "key"]]}

        assert c_create["entity"] == "contact" and c_create["entity_id"] == contact_id
        assert c_create["actor_id"] == str(org.support.id)
        assert c_create["changes"]["name"] == [None, "王五"]
        assert c_create["changes"]["phones"] == [None, ["+8613900139000"]]
        assert c_create["entity_id"] != first_contact

        assert c_update["actor_id"] == str(org.manager.id) and c_update["entity_id"] == contact_id
        assert c_update["changes"] == {
            "phones": [["+8613900139000"], ["+8613700137000"]],
            "title": [None, "总监"],
        }

        assert c_delete["changes"]["name"] == ["王五", None]
        assert c_delete["changes"]["deleted_at"][0] is None

        assert delete["actor_id"] == str(org.director.id)
        assert delete["changes"]["deleted_at"][0] is None

    async def test_paginated(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep)
        for region in ("华北", "华东", "华南", "西南", "西北"):
            response = await client.patch(
                url(customer.id), json={"region": region}, headers=access_headers(org.rep)
            )
            assert response.status_code == 200
        everything = await history(client, org.rep, customer.id)
        assert [h["changes"]["region"][1] for h in everything] == ["西北", "西南", "华南", "华东", "华北"]
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            response = await client.get(
                url(customer.id, "/history"),
                headers=access_headers(org.rep),
                params={"limit": 2, **({"cursor": cursor} if cursor else {})},
            )
            assert response.status_code == 200
            page = response.json()
            assert len(page["items"]) <= 2
            seen += [h["id"] for h in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == 3
        assert seen == [h["id"] for h in everything]

    async def test_bad_cursor(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep)
        response = await client.get(
            url(customer.id, "/history"),
            headers=access_headers(org.rep),
            params={"cursor": "!!!not-a-cursor"},
        )
        assert_problem(response, 400, "pagination.invalid_cursor")


class TestCompleteness:
    async def test_grows_as_fields_and_contacts_are_added(self, client, org):
        # A company scores 11 key fields; name, kind and source are always filled.
        body = await create(client, org.support, {"name": "完整度公司"})
        assert body["completeness"] == 27  # 3/11
        cid = body["id"]
        headers = access_headers(org.support)

        async def patch(changes) -> int:
            response = await client.patch(url(cid), json=changes, headers=headers)
            assert response.status_code == 200, response.text
            return response.json()["completeness"]

        assert await patch({"uscc": USCC}) == 36  # 4/11
        assert await patch({"industry": "制造业", "region": "华北"}) == 55  # 6/11
        contact = await client.post(url(cid, "/contacts"), json={"name": "只有名字"}, headers=headers)
        assert contact.status_code == 201
        stored = await client.get(url(cid), headers=headers)
        assert stored.json()["completeness"] == 64  # 7/11: a contact, but no phone or email
        response = await client.patch(
            url(cid, f"/contacts/{contact.json()['id']}"), json={"emails": ["a@example.com"]}, headers=headers
        )
        assert response.status_code == 200
        assert (await client.get(url(cid), headers=headers)).json()["completeness"] == 73  # 8/11
        assert await patch({"size": "50-199", "address": "北京市海淀区", "website": "https://x.cn"}) == 100
        assert await patch({"website": None}) == 91  # 10/11
        response = await client.delete(url(cid, f"/contacts/{contact.json()['id']}"), headers=headers)
        assert response.status_code == 204
        assert (await client.get(url(cid), headers=headers)).json()["completeness"] == 73  # 8/11

    async def test_individuals_are_scored_without_uscc(self, client, org):
        body = await create(client, org.support, {"name": "张三", "kind": "individual"})
        assert body["completeness"] == 30  # 3/10
        body = await create(
            client,
            org.support,
            {
                "name": "李四",
                "kind": "individual",
                "region": "华东",
                "contacts": [{"name": "李四", "phones": ["13800138001"]}],
            },
        )
        assert body["completeness"] == 60  # 6/10

    async def test_inline_contacts_count_on_create(self, client, org):
        body = await create(
            client,
            org.support,
            {
                "name": "全字段公司",
                "uscc": USCC,
                "industry": "IT",
                "region": "华北",
                "size": "1000+",
                "address": "北京",
                "website": "https://full.example",
                "contacts": [{"name": "甲", "emails": ["a@full.example"]}],
            },
        )
        assert body["completeness"] == 100

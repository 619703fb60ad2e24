"""Duplicate detection on create, GET /customers/duplicates, and merging a duplicate into a
survivor (contacts, activities and history move; the duplicate becomes a tombstone)."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from tests.support.builders import (
    access_headers,
    assert_problem,
    make_activity,
    make_customer,
    make_sales_org,
    valid_uscc,
)

CUSTOMERS = "/api/v1/customers"
DUPLICATES = f"{CUSTOMERS}/duplicates"
USCC = valid_uscc("91440300MA5DC0001")
OTHER_USCC = valid_uscc("91440300MA5DC0002")


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


def url(customer_id, suffix: str = "") -> str:
    return f"{CUSTOMERS}/{customer_id}{suffix}"


async def post(client, user, body, **params):
    return await client.post(CUSTOMERS, json=body, params=params, headers=access_headers(user))


def candidates_of(response) -> dict[str, list[str]]:
    body = assert_problem(response, 409, "customer.duplicate")
    for candidate in body["candidates"]:
        assert set(candidate) == {"id", "name", "matched_on", "visible"}, candidate
    return {c["id"]: c["matched_on"] for c in body["candidates"]}


class TestDuplicateOnCreate:
    async def test_same_uscc(self, client, org, uow_factory):
        existing = await make_customer(uow_factory, name="深圳甲公司", uscc=USCC, owner=org.rep2)
        response = await post(client, org.manager, {"name": "完全不同的名字", "uscc": USCC.lower()})
        assert candidates_of(response) == {str(existing.id): ["uscc"]}
        body = response.json()
        assert body["candidates"][0]["name"] == "深圳甲公司"

    @pytest.mark.parametrize(
        "phone",
        ["138-0013-8000", "+86 138 0013 8000", "１３８ ００１３ ８０００", "008613800138000", "13800138000"],
    )
    async def test_same_phone_in_another_format(self, client, org, uow_factory, phone):
        existing = await make_customer(
            uow_factory, name="电话公司", contacts=[{"name": "甲", "phones": ["+8613800138000"]}]
        )
        response = await post(
            client,
            org.support,
            {"name": "另一家", "contacts": [{"name": "乙", "phones": ["13900139000", phone]}]},
        )
        assert candidates_of(response) == {str(existing.id): ["phone"]}

    @pytest.mark.parametrize(
        "email", ["SALES@ACME.EXAMPLE", " Sales@Acme.Example ", "ｓａｌｅｓ@acme.example"]
    )
    async def test_same_email_in_another_case(self, client, org, uow_factory, email):
        existing = await make_customer(
            uow_factory, name="邮件公司", contacts=[{"name": "甲", "emails": ["sales@acme.example"]}]
        )
        response = await post(
            client, org.support, {"name": "另一家", "contacts": [{"name": "乙", "emails": [email]}]}
        )
        assert candidates_of(response) == {str(existing.id): ["email"]}

    @pytest.mark.parametrize(
        ("stored", "typed"),
        [
            ("北京星辰科技有限公司", "北京星辰科技 股份有限公司"),
            ("北京星辰科技有限公司", "北京星辰科技有限责任公司"),
            ("北京星辰科技有限公司", "　北京　星辰科技　"),
            ("北京星辰科技股份有限公司", "北京星辰科技公司"),
            ("ＡＣＭＥ Co., Ltd.", "acme"),
            ("Acme Inc.", "ＡＣＭＥ  Co., Ltd."),
            ("acme", "ACME Limited"),
            ("星辰科技Co.,Ltd.", "星辰科技"),
        ],
    )
    async def test_same_name_ignoring_legal_form_width_and_spaces(
        self, client, org, uow_factory, stored, typed
    ):
        existing = await make_customer(uow_factory, name=stored, owner=org.other_rep)
        response = await post(client, org.other_manager, {"name": typed})
        assert candidates_of(response) == {str(existing.id): ["name"]}

    @pytest.mark.parametrize(
        ("stored", "typed"),
        [
            ("北京星辰科技有限公司", "北京星辰科技集团有限公司"),  # a group is another customer
            ("北京星辰科技有限公司", "北京星辰科技有限公司上海分公司"),  # a branch is another customer
            ("Zinc", "Z"),
            ("星辰", "星辰科技"),
        ],
    )
    async def test_different_names_are_not_duplicates(self, client, org, uow_factory, stored, typed):
        await make_customer(uow_factory, name=stored)
        response = await post(client, org.support, {"name": typed})
        assert response.status_code == 201, response.text

    async def test_several_reasons_and_candidates(self, client, org, uow_factory):
        by_name = await make_customer(uow_factory, name="多重公司", uscc=USCC)
        by_phone = await make_customer(
            uow_factory,
            name="别的公司",
            contacts=[{"name": "甲", "phones": ["13800138000"], "emails": ["a@dup.example"]}],
        )
        response = await post(
            client,
            org.support,
            {
                "name": "多重公司有限公司",
                "uscc": USCC,
                "contacts": [{"name": "乙", "phones": ["138 0013 8000"], "emails": ["A@DUP.EXAMPLE"]}],
            },
        )
        assert candidates_of(response) == {
            str(by_name.id): ["name", "uscc"],
            str(by_phone.id): ["email", "phone"],
        }

    async def test_deleted_customers_are_not_candidates(self, client, org, uow_factory):
        await make_customer(
            uow_factory,
            name="已删公司",
            uscc=USCC,
            deleted=True,
            contacts=[{"name": "甲", "phones": ["13800138000"]}],
        )
        response = await post(
            client,
            org.support,
            {"name": "已删公司", "uscc": USCC, "contacts": [{"name": "甲", "phones": ["13800138000"]}]},
        )
        assert response.status_code == 201, response.text

    async def test_nothing_is_created_on_409(self, client, org, uow_factory):
        await make_customer(uow_factory, name="唯一公司")
        assert (await post(client, org.support, {"name": "唯一公司"})).status_code == 409
        listed = await client.get(CUSTOMERS, headers=access_headers(org.director), params={"q": "唯一"})
        assert len(listed.json()["items"]) == 1

    @pytest.mark.parametrize("role", ["support", "director"])
    async def test_allow_duplicate_by_support_or_director(self, client, org, uow_factory, role):
        existing = await make_customer(uow_factory, name="允许重复公司", uscc=USCC)
        response = await post(
            client, getattr(org, role), {"name": "允许重复公司", "uscc": USCC}, allow_duplicate="true"
        )
        assert response.status_code == 201, response.text
        assert response.json()["id"] != str(existing.id) and response.json()["uscc"] == USCC

    @pytest.mark.parametrize("role", ["rep", "manager", "admin"])
    async def test_allow_duplicate_by_others_is_forbidden(self, client, org, uow_factory, role):
        await make_customer(uow_factory, name="允许重复公司")
        response = await post(client, getattr(org, role), {"name": "允许重复公司"}, allow_duplicate="true")
        assert_problem(response, 403, "forbidden")
        # Refused whether or not there is a duplicate: the flag itself is the privilege.
        response = await post(client, getattr(org, role), {"name": "全新公司"}, allow_duplicate="true")
        assert_problem(response, 403, "forbidden")

    async def test_duplicate_contacts_within_one_customer_are_fine(self, client, org):
        response = await post(
            client,
            org.support,
            {
                "name": "自身重复",
                "contacts": [
                    {"name": "甲", "phones": ["13800138000"]},
                    {"name": "乙", "phones": ["138-0013-8000"]},
                ],
            },
        )
        assert response.status_code == 201, response.text


class TestListDuplicates:
    async def test_anonymous(self, client):
        assert_problem(
            await client.get(DUPLICATES, params={"customer_id": str(uuid.uuid4())}), 401, "unauthorized"
        )

    async def test_out_of_scope_customer_is_404(self, client, org, uow_factory):
        theirs = await make_customer(uow_factory, owner=org.rep2)
        response = await client.get(
            DUPLICATES, params={"customer_id": str(theirs.id)}, headers=access_headers(org.rep)
        )
        assert_problem(response, 404, "not_found")

    async def test_customer_id_is_required(self, client, org):
        response = await client.get(DUPLICATES, headers=access_headers(org.support))
        body = assert_problem(response, 422, "validation_error")
        assert body["errors"][0]["loc"] == ["query", "customer_id"]

    async def test_lists_existing_duplicates(self, client, org, uow_factory):
        subject = await make_customer(
            uow_factory,
            name="北京星辰科技有限公司",
            uscc=USCC,
            owner=org.rep,
            contacts=[{"name": "甲", "phones": ["13800138000"], "emails": ["x@star.example"]}],
        )
        same_name = await make_customer(uow_factory, name="北京星辰科技股份有限公司")
        same_uscc = await make_customer(uow_factory, name="星辰北京", uscc=USCC)
        same_phone = await make_customer(
            uow_factory, name="电话同号", contacts=[{"name": "乙", "phones": ["+8613800138000"]}]
        )
        same_email = await make_customer(
            uow_factory, name="邮箱同址", contacts=[{"name": "丙", "emails": ["x@star.example"]}]
        )
        await make_customer(
            uow_factory,
            name="无关公司",
            uscc=OTHER_USCC,
            contacts=[{"name": "丁", "phones": ["13900139000"]}],
        )
        await make_customer(uow_factory, name="北京星辰科技", deleted=True)
        response = await client.get(
            DUPLICATES, params={"customer_id": str(subject.id)}, headers=access_headers(org.manager)
        )
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert {i["id"]: i["matched_on"] for i in items} == {
            str(same_name.id): ["name"],
            str(same_uscc.id): ["uscc"],
            str(same_phone.id): ["phone"],
            str(same_email.id): ["email"],
        }
        by_id = {i["id"]: i for i in items}
        assert by_id[str(same_uscc.id)]["uscc"] == USCC and by_id[str(same_uscc.id)]["owner_id"] is None
        assert by_id[str(same_name.id)]["name"] == "北京星辰科技股份有限公司"
        # To a rep the pool's phones and emails are masked: those matches stay anonymous.
        response = await client.get(
            DUPLICATES, params={"customer_id": str(subject.id)}, headers=access_headers(org.rep)
        )
        items = response.json()["items"]
        named = sorted((i["id"], i["name"], i["visible"], i["matched_on"]) for i in items if i["id"])
        assert named == sorted(
            [
                (str(same_name.id), "北京星辰科技股份有限公司", True, ["name"]),
                (str(same_uscc.id), "星辰北京", True, ["uscc"]),
            ]
        )
        assert sorted(i["matched_on"] for i in items if not i["visible"]) == [["email"], ["phone"]]
        hidden = [i for i in items if not i["visible"]]
        assert all(i["id"] is None and i["name"] is None and i["uscc"] is None for i in hidden)

    async def test_no_duplicates(self, client, org, uow_factory):
        alone = await make_customer(uow_factory, name="独一无二")
        response = await client.get(
            DUPLICATES, params={"customer_id": str(alone.id)}, headers=access_headers(org.support)
        )
        assert response.json() == {"items": []}


@pytest.fixture
async def pair(client, org, uow_factory):
    """Two records of one company, created through the API (so they have history):
    ``survivor`` (rep's, with a contact) and ``duplicate`` (pool, a contact and an activity)."""
    survivor = (
        await post(
            client,
            org.rep,
            {
                "name": "合并科技有限公司",
                "region": "华北",
                "tags": ["a"],
                "contacts": [{"name": "留下", "phones": ["13800138000"]}],
            },
        )
    ).json()
    response = await post(
        client,
        org.support,
        {
            "name": "合并科技",
            "uscc": USCC,
            "industry": "制造业",
            "region": "华东",
            "tags": ["a", "b"],
            "contacts": [{"name": "搬走", "phones": ["13900139000"], "emails": ["move@merge.example"]}],
        },
        allow_duplicate="true",
    )
    assert response.status_code == 201, response.text
    duplicate = response.json()
    activity = await make_activity(
        uow_factory, customer=SimpleNamespace(id=uuid.UUID(duplicate["id"])), created_by=org.support
    )
    return survivor, duplicate, activity


class TestMergeCustomers:
    async def test_anonymous(self, client, org, pair):
        survivor, duplicate, _ = pair
        response = await client.post(url(survivor["id"], "/merge"), json={"duplicate_id": duplicate["id"]})
        assert_problem(response, 401, "unauthorized")

    @pytest.mark.parametrize("role", ["rep", "manager", "finance", "admin"])
    async def test_only_support_and_directors_merge(self, client, org, pair, role):
        survivor, duplicate, _ = pair
        response = await client.post(
            url(survivor["id"], "/merge"),
            json={"duplicate_id": duplicate["id"]},
            headers=access_headers(getattr(org, role)),
        )
        assert_problem(response, 403, "forbidden")
        still = await client.get(url(duplicate["id"]), headers=access_headers(org.support))
        assert still.status_code == 200 and still.json()["merged_into"] is None

    async def test_merge_moves_everything_and_leaves_a_tombstone(self, client, org, pair):
        survivor, duplicate, activity = pair
        headers = access_headers(org.support)
        response = await client.post(
            url(survivor["id"], "/merge"), json={"duplicate_id": duplicate["id"]}, headers=headers
        )
        assert response.status_code == 200, response.text
        merged = response.json()
        assert merged["id"] == survivor["id"]
        assert response.headers["etag"] == f'"{merged["version"]}"' and merged["version"] > 1
        # Contacts of both, the survivor's own fields kept, blanks filled from the duplicate.
        assert sorted(c["name"] for c in merged["contacts"]) == ["搬走", "留下"]
        assert merged["region"] == "华北" and merged["industry"] == "制造业" and merged["uscc"] == USCC
        assert merged["tags"] == ["a", "b"]
        assert merged["owner_id"] == str(org.rep.id)

        contacts = await client.get(url(survivor["id"], "/contacts"), headers=access_headers(org.rep))
        moved = next(c for c in contacts.json()["items"] if c["name"] == "搬走")
        assert moved["customer_id"] == survivor["id"] and moved["masked"] is False
        assert moved["phones"] == ["+8613900139000"]

        activities = await client.get(
            "/api/v1/activities", headers=headers, params={"customer_id": survivor["id"]}
        )
        assert [a["id"] for a in activities.json()["items"]] == [str(activity.id)]
        assert activities.json()["items"][0]["customer_id"] == survivor["id"]
        left = await client.get(
            "/api/v1/activities", headers=headers, params={"customer_id": duplicate["id"]}
        )
        assert left.json()["items"] == []

        # The duplicate's phone and email now find the survivor.
        for q in ("139 0013 9000", "MOVE@merge.example"):
            found = await client.get(CUSTOMERS, headers=headers, params={"q": q})
            assert [c["id"] for c in found.json()["items"]] == [survivor["id"]]

        # History: the survivor has its own, the duplicate's, and the merge entry on top.
        history = (await client.get(url(survivor["id"], "/history"), headers=headers)).json()["items"]
        assert history[0]["action"] == "merge" and history[0]["actor_id"] == str(org.support.id)
        assert history[0]["changes"]["merged_from"] == [None, duplicate["id"]]
        assert history[0]["changes"]["industry"] == [None, "制造业"]
        assert history[0]["changes"]["uscc"] == [None, USCC]
        creates = [h for h in history if h["action"] == "create"]
        assert {h["entity_id"] for h in creates} == {survivor["id"], duplicate["id"]}
        assert all(h["customer_id"] == survivor["id"] for h in history)

    async def test_the_duplicate_is_a_tombstone(self, client, org, pair):
        survivor, duplicate, _ = pair
        headers = access_headers(org.director)
        response = await client.post(
            url(survivor["id"], "/merge"), json={"duplicate_id": duplicate["id"]}, headers=headers
        )
        assert response.status_code == 200, response.text
        assert_problem(await client.get(url(duplicate["id"]), headers=headers), 404, "not_found")
        tomb = await client.get(url(duplicate["id"]), headers=headers, params={"include_deleted": "true"})
        assert tomb.status_code == 200
        assert tomb.json()["merged_into"] == survivor["id"] and tomb.json()["deleted_at"] is not None
        assert tomb.json()["contacts"] == []
        listed = await client.get(CUSTOMERS, headers=headers, params={"limit": 500})
        assert [c["id"] for c in listed.json()["items"]] == [survivor["id"]]
        listed = await client.get(CUSTOMERS, headers=headers, params={"include_deleted": "true"})
        by_id = {c["id"]: c for c in listed.json()["items"]}
        assert by_id[duplicate["id"]]["merged_into"] == survivor["id"]
        # The tombstone shows in an incremental pull, with its own last word in its history.
        history = (await client.get(url(duplicate["id"], "/history"), headers=headers)).json()["items"]
        assert [h["action"] for h in history] == ["merged_into"]
        assert history[0]["changes"]["merged_into"] == [None, survivor["id"]]
        # An integrator pulling changes since before the merge sees the tombstone and the survivor.
        since = tomb.json()["deleted_at"]
        pulled = await client.get(
            CUSTOMERS, headers=headers, params={"updated_since": since, "include_deleted": "true"}
        )
        assert {c["id"] for c in pulled.json()["items"]} == {survivor["id"], duplicate["id"]}
        # No longer a duplicate candidate of anything.
        dups = await client.get(DUPLICATES, params={"customer_id": survivor["id"]}, headers=headers)
        assert dups.json()["items"] == []

    async def test_merge_into_itself(self, client, org, pair):
        survivor, _, _ = pair
        response = await client.post(
            url(survivor["id"], "/merge"),
            json={"duplicate_id": survivor["id"]},
            headers=access_headers(org.support),
        )
        assert_problem(response, 422, "customer.merge_self")

    async def test_missing_or_already_merged(self, client, org, pair):
        survivor, duplicate, _ = pair
        headers = access_headers(org.support)
        response = await client.post(
            url(survivor["id"], "/merge"), json={"duplicate_id": str(uuid.uuid4())}, headers=headers
        )
        assert_problem(response, 404, "not_found")
        response = await client.post(
            url(uuid.uuid4(), "/merge"), json={"duplicate_id": duplicate["id"]}, headers=headers
        )
        assert_problem(response, 404, "not_found")
        assert (
            await client.post(
                url(survivor["id"], "/merge"), json={"duplicate_id": duplicate["id"]}, headers=headers
            )
        ).status_code == 200
        again = await client.post(
            url(survivor["id"], "/merge"), json={"duplicate_id": duplicate["id"]}, headers=headers
        )
        assert_problem(again, 404, "not_found")

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"duplicate_id": "nope"},
            {"duplicate_id": None},
            {"duplicate_id": str(uuid.uuid4()), "extra": 1},
        ],
    )
    async def test_bad_body(self, client, org, pair, body):
        survivor, _, _ = pair
        response = await client.post(
            url(survivor["id"], "/merge"), json=body, headers=access_headers(org.support)
        )
        assert_problem(response, 422, "validation_error")

    async def test_last_contact_moves_to_the_later_one(self, client, org, uow_factory):
        import datetime as dt

        early = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
        late = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
        survivor = await make_customer(uow_factory, name="S", last_contact_at=early)
        duplicate = await make_customer(uow_factory, name="D", last_contact_at=late)
        response = await client.post(
            url(survivor.id, "/merge"),
            json={"duplicate_id": str(duplicate.id)},
            headers=access_headers(org.support),
        )
        assert response.json()["last_contact_at"] == "2025-06-01T00:00:00Z"

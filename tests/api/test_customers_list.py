"""GET /customers: every filter, search by phone/email/USCC/name, sorting, cursor pagination
(also while rows are inserted between pages) and each role's data scope."""

from __future__ import annotations

import base64
import datetime as dt
import json
from types import SimpleNamespace

import pytest

from app.db.repositories import customers as customers_repository
from tests.support.builders import (
    access_headers,
    assert_problem,
    make_customer,
    make_customers,
    make_sales_org,
    valid_uscc,
)

CUSTOMERS = "/api/v1/customers"
USCC = valid_uscc("91310000MA1FL0000")
OLD = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


@pytest.fixture
async def data(org, uow_factory):
    """Six customers across owners, teams, stages and attributes; ``echo`` is deleted."""
    alpha = await make_customer(
        uow_factory,
        name="Alpha 华北制造有限公司",
        owner=org.rep,
        stage="lead",
        grade="A",
        region="华北",
        industry="制造业",
        tags=["vip", "key"],
        source="web",
        uscc=USCC,
        contacts=[{"name": "王小明", "phones": ["13800138000"], "emails": ["Wang@Alpha.example"]}],
        created_at=OLD,
        updated_at=OLD,
    )
    bravo = await make_customer(
        uow_factory,
        name="Bravo Retail",
        owner=org.rep2,
        stage="graded",
        grade="B",
        region="华东",
        industry="零售",
        tags=["key"],
        source="referral",
        contacts=[{"name": "Li Si", "phones": ["13900139000"]}],
    )
    charlie = await make_customer(
        uow_factory,
        name="Charlie",
        owner=org.other_rep,
        stage="lead",
        grade="A",
        region="华北",
        industry="零售",
        source="web",
    )
    delta = await make_customer(
        uow_factory,
        name="Delta 公海",
        stage="resource",
        region="华南",
        industry="制造业",
        tags=["vip"],
        source="import",
        contacts=[{"name": "赵大", "phones": ["13700137000"]}],
    )
    echo = await make_customer(
        uow_factory, name="Echo", owner=org.rep, stage="lead", region="华北", deleted=True
    )
    foxtrot = await make_customer(
        uow_factory, name="Foxtrot", owner=org.manager, stage="intent", grade="C", source="web"
    )
    return SimpleNamespace(alpha=alpha, bravo=bravo, charlie=charlie, delta=delta, echo=echo, foxtrot=foxtrot)


async def listed(client, user, **params) -> list[str]:
    """Ids of one page (limit 500) in the answer's order."""
    response = await client.get(CUSTOMERS, headers=access_headers(user), params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"items", "next_cursor"} and body["next_cursor"] is None
    return [c["id"] for c in body["items"]]


async def walk(client, user, **params) -> list[str]:
    """Ids of every page, following ``next_cursor``; fails on a repeated id."""
    ids: list[str] = []
    cursor = None
    while True:
        response = await client.get(
            CUSTOMERS,
            headers=access_headers(user),
            params={**params, **({"cursor": cursor} if cursor else {})},
        )
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            assert len(ids) == len(set(ids)), "a row was listed twice"
            return ids


def hand_made_cursor(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def ids(*customers) -> set[str]:
    return {str(c.id) for c in customers}


class TestListCustomers:
    async def test_anonymous(self, client):
        assert_problem(await client.get(CUSTOMERS), 401, "unauthorized")

    async def test_item_shape(self, client, org, data):
        response = await client.get(CUSTOMERS, headers=access_headers(org.director), params={"q": USCC})
        [item] = response.json()["items"]
        assert item["id"] == str(data.alpha.id) and item["name"] == "Alpha 华北制造有限公司"
        assert item["owner_id"] == str(org.rep.id) and item["team_id"] == str(org.group.id)
        assert item["tags"] == ["vip", "key"] and item["uscc"] == USCC
        assert item["updated_at"] == "2024-01-01T00:00:00Z"
        assert "contacts" not in item

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"stage": "lead"}, {"alpha", "charlie"}),
            ({"stage": "resource"}, {"delta"}),
            ({"grade": "A"}, {"alpha", "charlie"}),
            ({"grade": "C"}, {"foxtrot"}),
            ({"region": "华北"}, {"alpha", "charlie"}),
            ({"region": " 华北 "}, {"alpha", "charlie"}),
            ({"industry": "零售"}, {"bravo", "charlie"}),
            ({"tag": "vip"}, {"alpha", "delta"}),
            ({"tag": "key"}, {"alpha", "bravo"}),
            ({"tag": "ke"}, set()),
            ({"source": "web"}, {"alpha", "charlie", "foxtrot"}),
            ({"source": "import"}, {"delta"}),
            ({"pool": "true"}, {"delta"}),
            ({"pool": "false"}, {"alpha", "bravo", "charlie", "foxtrot"}),
            ({"updated_since": "2025-01-01T00:00:00Z"}, {"bravo", "charlie", "delta", "foxtrot"}),
            ({"updated_since": "2023-12-31T23:00:00-02:00"}, {"bravo", "charlie", "delta", "foxtrot"}),
            ({"updated_since": "2023-12-31T23:00:00Z"}, {"alpha", "bravo", "charlie", "delta", "foxtrot"}),
            ({"include_deleted": "true"}, {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot"}),
            ({"stage": "lead", "region": "华北", "grade": "A"}, {"alpha", "charlie"}),
            ({"stage": "lead", "include_deleted": "true", "region": "华北"}, {"alpha", "charlie", "echo"}),
            ({"tag": "vip", "pool": "false"}, {"alpha"}),
        ],
    )
    async def test_filters(self, client, org, data, params, expected):
        found = await listed(client, org.director, **params)
        assert set(found) == {str(getattr(data, name).id) for name in expected}

    async def test_owner_and_team_filters(self, client, org, data):
        assert set(await listed(client, org.director, owner_id=str(org.rep.id))) == ids(data.alpha)
        assert set(
            await listed(client, org.director, owner_id=str(org.rep.id), include_deleted="true")
        ) == ids(data.alpha, data.echo)
        assert set(await listed(client, org.director, team_id=str(org.group.id))) == ids(
            data.alpha, data.bravo
        )
        assert set(await listed(client, org.director, team_id=str(org.region.id))) == ids(data.foxtrot)
        assert set(await listed(client, org.director, team_id=str(org.other.id))) == ids(data.charlie)

    @pytest.mark.parametrize(
        "params",
        [
            {"stage": "won"},
            {"grade": "Z"},
            {"source": "tv"},
            {"pool": "maybe"},
            {"updated_since": "2025-01-01T00:00:00"},
            {"updated_since": "yesterday"},
            {"owner_id": "nobody"},
            {"limit": 0},
            {"limit": 501},
            {"sort": "created_at"},
        ],
    )
    async def test_bad_parameters(self, client, org, params):
        response = await client.get(CUSTOMERS, headers=access_headers(org.director), params=params)
        body = assert_problem(response, 422, "validation_error")
        assert body["errors"][0]["loc"][0] == "query"


class TestSearch:
    @pytest.mark.parametrize(
        "q",
        [
            "138-0013-8000",
            "13800138000",
            "+86 138 0013 8000",
            "+8613800138000",
            "0086 138 0013 8000",
            "１３８００１３８０００",
            " (138) 0013-8000 ",
            "(+86) 138-0013-8000",
        ],
    )
    async def test_by_phone_in_any_format(self, client, org, data, q):
        assert await listed(client, org.director, q=q) == [str(data.alpha.id)]

    async def test_by_another_contacts_phone(self, client, org, data):
        assert await listed(client, org.director, q="139 0013 9000") == [str(data.bravo.id)]
        assert await listed(client, org.director, q="136 0013 6000") == []

    @pytest.mark.parametrize("q", ["wang@alpha.example", "WANG@Alpha.Example", " wang@alpha.example "])
    async def test_by_email(self, client, org, data, q):
        assert await listed(client, org.director, q=q) == [str(data.alpha.id)]

    async def test_by_uscc(self, client, org, data):
        assert await listed(client, org.director, q=USCC) == [str(data.alpha.id)]
        assert await listed(client, org.director, q=USCC.lower()) == [str(data.alpha.id)]

    @pytest.mark.parametrize(
        ("q", "expected"),
        [
            ("华北制造", {"alpha"}),
            ("alpha", {"alpha"}),
            ("RETAIL", {"bravo"}),
            ("公海", {"delta"}),
            ("ar", {"charlie"}),
            ("o", {"bravo", "foxtrot"}),
            # contact names
            ("小明", {"alpha"}),
            ("li s", {"bravo"}),
            ("赵", {"delta"}),
            ("nothing like it", set()),
        ],
    )
    async def test_by_name_or_contact_name_fragment(self, client, org, data, q, expected):
        assert set(await listed(client, org.director, q=q)) == {str(getattr(data, n).id) for n in expected}

    async def test_like_wildcards_are_literal(self, client, org, uow_factory):
        percent = await make_customer(uow_factory, name="Golf 100% Co")
        await make_customer(uow_factory, name="Golf 1000 Co")
        await make_customer(uow_factory, name="Hotel")
        assert await listed(client, org.director, q="100%") == [str(percent.id)]
        assert await listed(client, org.director, q="_") == []
        assert await listed(client, org.director, q="\\") == []

    async def test_search_respects_scope_and_deletion(self, client, org, data, uow_factory):
        # rep2 does not see alpha (rep's) even by its exact phone, nor the deleted echo.
        assert await listed(client, org.rep2, q="138-0013-8000") == []
        await make_customer(
            uow_factory,
            name="Echo 2",
            owner=org.rep,
            deleted=True,
            contacts=[{"name": "x", "phones": ["13600136000"]}],
        )
        assert await listed(client, org.rep, q="13600136000") == []

    async def test_search_combines_with_filters(self, client, org, data):
        assert await listed(client, org.director, q="o", stage="intent") == [str(data.foxtrot.id)]

    async def test_deleted_contacts_are_not_found(self, client, org, data):
        contact = data.delta.contacts_[0]
        response = await client.delete(
            f"{CUSTOMERS}/{data.delta.id}/contacts/{contact.id}", headers=access_headers(org.support)
        )
        assert response.status_code == 204
        assert await listed(client, org.director, q="137 0013 7000") == []
        assert await listed(client, org.director, q="赵") == []


class TestSortAndPagination:
    async def test_sort_by_name(self, client, org, data):
        expected = [str(c.id) for c in (data.alpha, data.bravo, data.charlie, data.delta, data.foxtrot)]
        assert await listed(client, org.director, sort="name") == expected
        assert await listed(client, org.director, sort="-name") == expected[::-1]

    async def test_sort_by_updated_at(self, client, org, data):
        # Built one after the other; alpha was last touched in 2024.
        expected = [str(c.id) for c in (data.alpha, data.bravo, data.charlie, data.delta, data.foxtrot)]
        assert await listed(client, org.director, sort="updated_at") == expected
        assert await listed(client, org.director, sort="-updated_at") == expected[::-1]
        assert await listed(client, org.director) == expected[::-1], "-updated_at is the default"

    async def test_an_update_moves_a_customer_to_the_top(self, client, org, data):
        response = await client.patch(
            f"{CUSTOMERS}/{data.alpha.id}", json={"region": "西北"}, headers=access_headers(org.rep)
        )
        assert response.status_code == 200
        assert (await listed(client, org.director))[0] == str(data.alpha.id)
        assert await listed(client, org.director, updated_since="2025-01-01T00:00:00Z", region="西北") == [
            str(data.alpha.id)
        ]

    @pytest.mark.parametrize("sort", ["name", "-name", "updated_at", "-updated_at"])
    async def test_every_row_exactly_once(self, client, org, uow_factory, sort):
        await make_customers(uow_factory, 7, owner=org.rep, name_prefix="Page")
        # Same names: the id breaks the tie.
        await make_customers(uow_factory, 4, name_prefix="Page")
        everything = await listed(client, org.director, sort=sort)
        assert len(everything) == 11
        assert await walk(client, org.director, sort=sort, limit=3) == everything
        assert await walk(client, org.director, sort=sort, limit=1) == everything
        assert await walk(client, org.director, sort=sort, limit=11) == everything

    # On PostgreSQL 4 characters are searched among all their matches (trigram index) or, past
    # the match cap, by walking the list; 1 and 2 characters by walking (grams index).
    @pytest.mark.parametrize(("q", "match_cap"), [("kilo", None), ("kilo", 3), ("KI", None), ("k", None)])
    @pytest.mark.parametrize("sort", ["name", "-name", "updated_at", "-updated_at"])
    async def test_name_search_pages_in_every_order(
        self, client, org, uow_factory, monkeypatch, sort, q, match_cap
    ):
        if match_cap is not None:
            monkeypatch.setattr(customers_repository, "_SEARCH_MATCH_CAP", match_cap)
        await make_customers(uow_factory, 4, owner=org.rep, name_prefix="Kilo")
        await make_customers(uow_factory, 3, name_prefix="Kilo")
        await make_customers(uow_factory, 3, owner=org.rep2, name_prefix="Kilo")
        await make_customers(uow_factory, 2, name_prefix="Lima")
        # Found by its own name and by its contact's: listed once.
        both = await make_customer(uow_factory, name="Kilo Both", contacts=[{"name": "Mr Kilo"}])
        by_contact = await make_customer(
            uow_factory, name="Mike", owner=org.rep, contacts=[{"name": "Ms Kilo"}]
        )
        everything = await listed(client, org.director, q=q, sort=sort)
        assert len(everything) == 12 and {str(both.id), str(by_contact.id)} <= set(everything)
        assert await walk(client, org.director, q=q, sort=sort, limit=5) == everything
        assert await walk(client, org.director, q=q, sort=sort, limit=1) == everything
        # The rep's scope: their own and the pool, not rep2's.
        mine = await walk(client, org.rep, q=q, sort=sort, limit=2)
        assert len(mine) == 9 and mine == [i for i in everything if i in set(mine)]

    async def test_contact_matches_past_the_cap_are_not_lost_to_scope(
        self, client, org, uow_factory, monkeypatch
    ):
        # The first contacts to match belong to customers the rep may not see; the pool
        # customer whose contact also matches must still be found.
        monkeypatch.setattr(customers_repository, "_SEARCH_MATCH_CAP", 3)
        for i in range(3):
            await make_customer(
                uow_factory, name=f"Other {i}", owner=org.rep2, contacts=[{"name": f"Zulu {i}"}]
            )
        pooled = await make_customer(uow_factory, name="Pooled", contacts=[{"name": "Zulu Pool"}])
        assert await listed(client, org.rep, q="zulu") == [str(pooled.id)]
        assert len(await listed(client, org.director, q="zulu")) == 4

    async def test_pages_with_a_filter(self, client, org, uow_factory):
        await make_customers(uow_factory, 5, owner=org.rep, stage="lead", name_prefix="Lead")
        await make_customers(uow_factory, 5, owner=org.rep, stage="graded", name_prefix="Graded")
        found = await walk(client, org.director, stage="lead", sort="name", limit=2)
        assert len(found) == 5
        assert set(found) == set(await listed(client, org.director, stage="lead"))

    async def test_rows_inserted_before_the_cursor_do_not_shift_pages(self, client, org, uow_factory):
        names = [f"M {i:02d}" for i in range(1, 8)]
        for name in names:
            await make_customer(uow_factory, name=name)
        headers = access_headers(org.support)
        first = (await client.get(CUSTOMERS, headers=headers, params={"sort": "name", "limit": 3})).json()
        assert [c["name"] for c in first["items"]] == names[:3]
        # New rows that sort before the cursor (and one at the very start).
        for name in ("A 00", "M 00", "M 01a", "M 02a"):
            response = await client.post(CUSTOMERS, json={"name": name}, headers=headers)
            assert response.status_code == 201, response.text
        second = (
            await client.get(
                CUSTOMERS,
                headers=headers,
                params={"sort": "name", "limit": 3, "cursor": first["next_cursor"]},
            )
        ).json()
        assert [c["name"] for c in second["items"]] == names[3:6]
        third = (
            await client.get(
                CUSTOMERS,
                headers=headers,
                params={"sort": "name", "limit": 3, "cursor": second["next_cursor"]},
            )
        ).json()
        assert [c["name"] for c in third["items"]] == names[6:]
        assert third["next_cursor"] is None

    async def test_new_and_updated_rows_do_not_repeat_on_later_pages(self, client, org, uow_factory):
        rows = []
        for i in range(6):
            rows.append(await make_customer(uow_factory, name=f"U {i}"))
        headers = access_headers(org.support)
        first = (await client.get(CUSTOMERS, headers=headers, params={"limit": 3})).json()
        assert [c["name"] for c in first["items"]] == ["U 5", "U 4", "U 3"]
        # Inserted and touched rows are newer than the cursor: they go to the top, not page 2.
        response = await client.post(CUSTOMERS, json={"name": "U new"}, headers=headers)
        assert response.status_code == 201
        response = await client.patch(f"{CUSTOMERS}/{rows[4].id}", json={"region": "x"}, headers=headers)
        assert response.status_code == 200
        second = (
            await client.get(CUSTOMERS, headers=headers, params={"limit": 3, "cursor": first["next_cursor"]})
        ).json()
        assert [c["name"] for c in second["items"]] == ["U 2", "U 1", "U 0"]
        assert second["next_cursor"] is None

    @pytest.mark.parametrize(
        "cursor",
        [
            "not a cursor",
            "!!!",
            base64.urlsafe_b64encode(b"{}").decode(),
            hand_made_cursor({"s": "name", "k": [["v", 1], ["v", 2]]}),
            hand_made_cursor({"s": "name", "k": [["dt", "x"], ["uuid", "y"]]}),
            hand_made_cursor({"s": "name", "k": [["v", "M"]]}),
        ],
    )
    async def test_malformed_cursor(self, client, org, cursor):
        response = await client.get(
            CUSTOMERS, headers=access_headers(org.director), params={"cursor": cursor, "sort": "name"}
        )
        assert_problem(response, 400, "pagination.invalid_cursor")

    async def test_cursor_of_another_ordering(self, client, org, uow_factory):
        await make_customers(uow_factory, 3)
        headers = access_headers(org.director)
        page = (await client.get(CUSTOMERS, headers=headers, params={"sort": "name", "limit": 1})).json()
        assert page["next_cursor"]
        response = await client.get(
            CUSTOMERS, headers=headers, params={"sort": "-updated_at", "cursor": page["next_cursor"]}
        )
        assert_problem(response, 400, "pagination.invalid_cursor")


class TestListScope:
    async def test_rep_sees_own_and_pool(self, client, org, data):
        assert set(await listed(client, org.rep)) == ids(data.alpha, data.delta)
        assert set(await listed(client, org.rep2)) == ids(data.bravo, data.delta)
        assert set(await listed(client, org.other_rep)) == ids(data.charlie, data.delta)

    async def test_rep_cannot_widen_scope_by_filter(self, client, org, data):
        assert await listed(client, org.rep, owner_id=str(org.rep2.id)) == []
        assert await listed(client, org.rep, team_id=str(org.other.id)) == []

    async def test_manager_sees_team_tree_and_pool(self, client, org, data):
        assert set(await listed(client, org.manager)) == ids(data.alpha, data.bravo, data.delta, data.foxtrot)
        assert set(await listed(client, org.other_manager)) == ids(data.charlie, data.delta)

    @pytest.mark.parametrize("role", ["director", "support", "finance", "admin"])
    async def test_all_scope_roles(self, client, org, data, role):
        assert set(await listed(client, getattr(org, role))) == ids(
            data.alpha, data.bravo, data.charlie, data.delta, data.foxtrot
        )

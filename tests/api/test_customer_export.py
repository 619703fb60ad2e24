"""GET /customers/export: every customer in scope, streamed in chunks as CSV or NDJSON."""

from __future__ import annotations

import codecs
import csv
import io
import json
import uuid

import pytest

from app.db.repositories.customers import CustomerRepository
from app.services import customer_io as customer_io_service
from app.services import exports as exports_service
from tests.support.builders import (
    access_headers,
    assert_problem,
    make_customer,
    make_customers,
    make_sales_org,
)

EXPORT = "/api/v1/customers/export"
COLUMNS = [
    "id",
    "name",
    "kind",
    "uscc",
    "industry",
    "region",
    "size",
    "address",
    "website",
    "stage",
    "grade",
    "owner_id",
    "team_id",
    "source",
    "tags",
    "contacts",
    "phones",
    "emails",
    "completeness",
    "created_at",
    "updated_at",
    "deleted_at",
    "merged_into",
]


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


async def export(client, user, **params):
    response = await client.get(EXPORT, params=params, headers=access_headers(user))
    assert response.status_code == 200, response.text
    return response


def csv_rows(response) -> list[dict[str, str]]:
    assert response.content.startswith(codecs.BOM_UTF8)
    reader = csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline=""))
    header, *rows = list(reader)
    assert header == COLUMNS
    return [dict(zip(header, row, strict=True)) for row in rows]


def ndjson_rows(response) -> list[dict]:
    assert response.text.endswith("\n")
    return [json.loads(line) for line in response.text.splitlines()]


@pytest.fixture
def chunk_reads(monkeypatch) -> list[int]:
    """The size of every chunk the export read from the database."""
    sizes: list[int] = []
    original = CustomerRepository.chunk_after

    async def spy(self, *args, **kwargs):
        rows = await original(self, *args, **kwargs)
        sizes.append(len(rows))
        return rows

    monkeypatch.setattr(CustomerRepository, "chunk_after", spy)
    return sizes


class TestExportAll:
    async def test_anonymous(self, client):
        assert_problem(await client.get(EXPORT), 401, "unauthorized")

    async def test_bad_format(self, client, org):
        response = await client.get(EXPORT, params={"format": "xml"}, headers=access_headers(org.support))
        assert_problem(response, 422, "validation_error")

    async def test_csv_streams_every_row_once(self, client, org, uow_factory, chunk_reads):
        bulk = await make_customers(uow_factory, 2_500, name_prefix="批量客户", tags=["批量"])
        detailed = await make_customer(
            uow_factory,
            name='=HYPERLINK("http://evil")',
            owner=org.rep,
            uscc=None,
            industry="软件",
            region="浙江杭州",
            tags=["vip", "华东"],
            contacts=[
                {"name": "张三", "phones": ["13800138000"], "emails": ["z@example.com"], "is_primary": True},
                {"name": "李四", "phones": ["13900139000", "010-12345678"]},
            ],
        )
        response = await export(client, org.support)
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        disposition = response.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="customers-') and disposition.endswith('Z.csv"')
        rows = csv_rows(response)
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids)) == 2_501
        assert set(ids) == {str(c.id) for c in bulk} | {str(detailed.id)}
        assert ids == sorted(ids, key=lambda i: uuid.UUID(i).bytes)
        # Keyset chunks of 1,000, each read on its own; the last read finds the rest.
        assert chunk_reads == [1_000, 1_000, 501]

        row = next(r for r in rows if r["id"] == str(detailed.id))
        assert row["name"] == '\'=HYPERLINK("http://evil")'  # no formula in Excel
        assert row["owner_id"] == str(org.rep.id) and row["team_id"] == str(org.group.id)
        assert row["tags"] == "vip;华东" and row["contacts"] == "张三;李四"
        assert row["phones"] == "+8613800138000;+8613900139000;+861012345678"
        assert row["emails"] == "z@example.com"
        assert row["deleted_at"] == "" and row["merged_into"] == ""
        assert row["created_at"].endswith("Z") and row["stage"] == "resource"
        assert next(r for r in rows if r["id"] == str(bulk[0].id))["tags"] == "批量"

    async def test_ndjson(self, client, org, uow_factory):
        await make_customers(uow_factory, 1_200)
        customer = await make_customer(
            uow_factory,
            name="北京云端信息技术有限公司",
            owner=org.rep2,
            contacts=[{"name": "王五", "title": "总经理", "wechat": "ww_88", "phones": ["13700137000"]}],
        )
        response = await export(client, org.director, format="ndjson")
        assert response.headers["content-type"] == "application/x-ndjson"
        assert response.headers["content-disposition"].endswith('.ndjson"')
        rows = ndjson_rows(response)
        assert len(rows) == len({r["id"] for r in rows}) == 1_201
        row = next(r for r in rows if r["id"] == str(customer.id))
        assert set(row) == set(COLUMNS) - {"phones", "emails"}
        assert row["name"] == "北京云端信息技术有限公司" and row["tags"] == []
        [contact] = row["contacts"]
        assert contact["name"] == "王五" and contact["title"] == "总经理"
        assert contact["phones"] == ["+8613700137000"] and contact["wechat"] == "ww_88"
        assert contact["masked"] is False and contact["is_primary"] is False

    async def test_empty_scope(self, client, org):
        rows = csv_rows(await export(client, org.support))
        assert rows == []
        response = await export(client, org.support, format="ndjson")
        assert response.content == b""


class TestExportScopeAndMasking:
    async def test_rep_sees_own_and_pool_with_pool_contacts_masked(self, client, org, uow_factory):
        own = await make_customer(
            uow_factory,
            name="自己的客户",
            owner=org.rep,
            contacts=[
                {"name": "甲", "phones": ["13800138000"], "emails": ["jia@example.com"], "wechat": "jia_wx"}
            ],
        )
        pool = await make_customer(
            uow_factory,
            name="公海客户",
            contacts=[
                {
                    "name": "乙",
                    "phones": ["13900139000"],
                    "emails": ["yi.long@example.com"],
                    "wechat": "yi_wx",
                }
            ],
        )
        await make_customer(
            uow_factory,
            name="同事的客户",
            owner=org.rep2,
            contacts=[{"name": "丙", "phones": ["13700137000"]}],
        )
        await make_customer(uow_factory, name="别队的客户", owner=org.other_rep)

        rows = {r["id"]: r for r in csv_rows(await export(client, org.rep))}
        assert set(rows) == {str(own.id), str(pool.id)}
        assert rows[str(own.id)]["phones"] == "+8613800138000"
        assert rows[str(own.id)]["emails"] == "jia@example.com"
        assert rows[str(pool.id)]["phones"] == "+86139****9000"
        assert rows[str(pool.id)]["emails"] == "y***@example.com"

        lines = {r["id"]: r for r in ndjson_rows(await export(client, org.rep, format="ndjson"))}
        [masked] = lines[str(pool.id)]["contacts"]
        assert masked["masked"] is True and masked["wechat"] == "y***x"
        assert lines[str(own.id)]["contacts"][0]["wechat"] == "jia_wx"

        # Support sees everything, unmasked.
        rows = {r["id"]: r for r in csv_rows(await export(client, org.support))}
        assert len(rows) == 4 and rows[str(pool.id)]["phones"] == "+8613900139000"

    async def test_manager_sees_team_tree_and_pool(self, client, org, uow_factory):
        mine = await make_customer(uow_factory, owner=org.rep)
        pool = await make_customer(uow_factory)
        await make_customer(uow_factory, owner=org.other_rep)
        rows = csv_rows(await export(client, org.manager))
        assert {r["id"] for r in rows} == {str(mine.id), str(pool.id)}

    async def test_finance_may_export(self, client, org, uow_factory):
        await make_customer(uow_factory, owner=org.rep)
        assert len(csv_rows(await export(client, org.finance))) == 1


class TestExportFilters:
    async def test_list_filters_apply(self, client, org, uow_factory):
        lead = await make_customer(
            uow_factory, owner=org.rep, stage="lead", region="上海", industry="制造", tags=["vip"]
        )
        pool = await make_customer(uow_factory, region="上海", tags=["vip", "cold"])
        deleted = await make_customer(uow_factory, owner=org.rep2, deleted=True)
        others = await make_customers(uow_factory, 5, owner=org.rep2)

        async def ids(**params) -> set[str]:
            return {r["id"] for r in csv_rows(await export(client, org.support, **params))}

        assert await ids(stage="lead") == {str(lead.id)}
        assert await ids(region="上海") == {str(lead.id), str(pool.id)}
        assert await ids(tag="vip") == {str(lead.id), str(pool.id)}
        assert await ids(tag="cold") == {str(pool.id)}
        assert await ids(industry="制造") == {str(lead.id)}
        assert await ids(pool="true") == {str(pool.id)}
        assert await ids(owner_id=str(org.rep2.id)) == {str(c.id) for c in others}
        assert await ids(team_id=str(org.group.id)) == {str(lead.id)} | {str(c.id) for c in others}
        assert str(deleted.id) not in await ids()
        everything = await ids(include_deleted="true")
        assert str(deleted.id) in everything and len(everything) == 8

    @pytest.mark.parametrize("q", ["华腾", "腾", "华腾科技"])
    async def test_name_search_applies(self, client, org, uow_factory, q):
        by_name = await make_customer(uow_factory, name="苏州华腾科技有限公司")
        by_contact = await make_customer(uow_factory, name="Other", contacts=[{"name": "华腾科技 王"}])
        await make_customer(uow_factory, name="华为")
        found = {r["id"] for r in csv_rows(await export(client, org.support, q=q))}
        assert found == {str(by_name.id), str(by_contact.id)}

    async def test_deleted_rows_carry_their_tombstone(self, client, org, uow_factory):
        deleted = await make_customer(uow_factory, deleted=True)
        [row] = ndjson_rows(await export(client, org.support, format="ndjson", include_deleted="true"))
        assert row["id"] == str(deleted.id) and row["deleted_at"].endswith("Z")


async def test_the_generator_yields_chunk_by_chunk(org, uow_factory, monkeypatch):
    """The body is produced a chunk at a time (never the whole scope in one piece)."""
    from app.domain.roles import Principal, Role
    from app.services.customers import CustomerFilters

    monkeypatch.setattr(exports_service, "EXPORT_CHUNK", 10)
    await make_customers(uow_factory, 25)
    actor = Principal(user_id=org.support.id, role=Role.support, team_id=None)
    result = customer_io_service.export_customers(
        uow_factory(), actor, filters=CustomerFilters(), fmt="ndjson"
    )
    pieces = [piece async for piece in result.chunks]
    assert [piece.count(b"\n") for piece in pieces] == [10, 10, 5]

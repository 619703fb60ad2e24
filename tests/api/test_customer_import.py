"""POST /customers/import: CSV (UTF-8/GBK) and XLSX files, the row report, modes, limits, roles."""

from __future__ import annotations

import io
import uuid

import openpyxl
import pytest

from app.domain.ownership import DEFAULT_POOL_POLICY
from app.services import customer_io as customer_io_service
from tests.support.builders import (
    access_headers,
    assert_problem,
    make_customer,
    make_customers,
    make_sales_org,
    valid_uscc,
)

IMPORT = "/api/v1/customers/import"
CUSTOMERS = "/api/v1/customers"
USCC_A = valid_uscc("91330106MA2H0AB31")
USCC_B = valid_uscc("91320500MA1WXY7K2")
BAD_USCC = USCC_A[:-1] + ("1" if USCC_A[-1] != "1" else "2")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


async def upload(
    client, user, content: bytes, *, filename: str = "customers.csv", content_type: str = "text/csv", **params
):
    return await client.post(
        IMPORT, params=params, headers=access_headers(user), files={"file": (filename, content, content_type)}
    )


def csv_bytes(lines: list[str], encoding: str = "utf-8") -> bytes:
    return "\r\n".join(lines).encode(encoding)


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row, start=1):
            if value is not None:
                sheet.cell(row=number, column=column, value=value)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def all_customers(client, user, **params) -> list[dict]:
    response = await client.get(CUSTOMERS, params={"limit": 500, **params}, headers=access_headers(user))
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def get_customer(client, user, customer_id) -> dict:
    response = await client.get(f"{CUSTOMERS}/{customer_id}", headers=access_headers(user))
    assert response.status_code == 200, response.text
    return response.json()


# A messy export from a Chinese CRM: GBK, Chinese headers, blank lines, full-width digits
# and separators, a duplicate inside the file, one of an existing customer, bad values.
MESSY_LINES = [
    "客户名称,统一社会信用代码,联系人,手机,邮箱,行业,地区,来源,客户经理备忘",  # 1
    f"杭州星辰科技有限公司,{USCC_A},张三,138 0013 8000,ZHANG.San@Example.COM,软件,浙江杭州,展会,重点",  # 2
    "",  # 3
    "  宁波海港物流有限公司 ,,李四,13900139000；0574-87654321,,物流,浙江 宁波,转介绍,",  # 4
    "杭州星辰科技股份有限公司,,王五,１３８００１３８０００,,,,网站,",  # 5
    "上海老客户贸易有限公司,,赵六,13700137000,,,,,",  # 6
    f"苏州坏码有限公司,{BAD_USCC},,,,,,,",  # 7
    ",,,,,,,,",  # 8
    "无锡坏号有限公司,,孙七,12345,,,,其他,",  # 9
    "南京来源不明有限公司,,,,,,,朋友,",  # 10
    "",
]


async def existing_customer(uow_factory):
    return await make_customer(
        uow_factory, name="上海老客户贸易有限公司", contacts=[{"name": "赵六", "phones": ["13700137000"]}]
    )


def expected_problems(existing_id: str) -> tuple[list[dict], list[dict]]:
    duplicates = [
        {
            "row": 5,
            "name": "杭州星辰科技股份有限公司",
            "candidates": [],
            "duplicate_of_row": 2,
            "matched_on": ["name", "phone"],
            "created_id": None,
        },
        {
            "row": 6,
            "name": "上海老客户贸易有限公司",
            "duplicate_of_row": None,
            "matched_on": [],
            "candidates": [
                {"id": existing_id, "name": "上海老客户贸易有限公司", "matched_on": ["name", "phone"]}
            ],
            "created_id": None,
        },
    ]
    rejected = [
        {
            "row": 7,
            "name": "苏州坏码有限公司",
            "errors": [
                {
                    "loc": ["uscc"],
                    "msg": "check character: the last character does not match the first 17",
                    "type": "value_error.uscc",
                }
            ],
        },
        {
            "row": 9,
            "name": "无锡坏号有限公司",
            "errors": [
                {
                    "loc": ["phone", 0],
                    "type": "value_error.phone",
                    "msg": "not a valid phone number (digits, spaces and + - ( ) only; national numbers "
                    "are read as CN)",
                }
            ],
        },
        {
            "row": 10,
            "name": "南京来源不明有限公司",
            "errors": [
                {
                    "loc": ["source"],
                    "type": "value_error.source",
                    "msg": "unknown value '朋友'; expected web, exhibition, referral, self_discovered, "
                    "import, inbound_call, other, 网站, 官网, 展会, 转介绍, 介绍, 自主开发, 导入, 来电, "
                    "其他, 其它",
                }
            ],
        },
    ]
    return duplicates, rejected


class TestImportMessyGbkFile:
    async def test_all_or_nothing_reports_every_problem_and_creates_nothing(self, client, org, uow_factory):
        existing = await existing_customer(uow_factory)
        response = await upload(client, org.support, csv_bytes(MESSY_LINES, "gbk"))
        body = assert_problem(response, 422, "import.rejected")
        report = body["report"]
        duplicates, rejected = expected_problems(str(existing.id))
        assert report == {
            "mode": "all_or_nothing",
            "committed": False,
            "format": "csv",
            "encoding": "gb18030",
            "total_rows": 7,
            "created": 0,
            "created_ids": [],
            "duplicates": duplicates,
            "rejected": rejected,
            "unknown_columns": ["客户经理备忘"],
            "ignored_columns": [],
        }
        assert [c["id"] for c in await all_customers(client, org.support)] == [str(existing.id)]

    async def test_partial_creates_the_valid_rows(self, client, org, uow_factory):
        existing = await existing_customer(uow_factory)
        response = await upload(client, org.support, csv_bytes(MESSY_LINES, "gbk"), mode="partial")
        assert response.status_code == 200, response.text
        report = response.json()
        duplicates, rejected = expected_problems(str(existing.id))
        assert report["committed"] is True and report["mode"] == "partial"
        assert report["total_rows"] == 7 and report["created"] == 2
        assert report["duplicates"] == duplicates and report["rejected"] == rejected

        first, second = [await get_customer(client, org.support, i) for i in report["created_ids"]]
        assert first["name"] == "杭州星辰科技有限公司" and first["uscc"] == USCC_A
        assert first["source"] == "exhibition" and first["industry"] == "软件"
        assert first["owner_id"] is None and first["team_id"] is None  # the pool
        assert first["stage"] == "resource" and first["completeness"] > 0
        [contact] = first["contacts"]
        assert contact["name"] == "张三" and contact["is_primary"] is True
        assert contact["phones"] == ["+8613800138000"]
        assert contact["emails"] == ["zhang.san@example.com"]
        assert second["name"] == "宁波海港物流有限公司" and second["region"] == "浙江 宁波"
        assert second["source"] == "referral"
        assert second["contacts"][0]["phones"] == ["+8613900139000", "+8657487654321"]

        response = await client.get(f"{CUSTOMERS}/{first['id']}/history", headers=access_headers(org.support))
        [entry] = response.json()["items"]
        assert entry["action"] == "import" and entry["actor_id"] == str(org.support.id)
        assert entry["changes"]["name"] == [None, "杭州星辰科技有限公司"]
        assert entry["changes"]["contacts"] == [0, 1]
        # Searchable like customers created through the API.
        found = await all_customers(client, org.support, q="13800138000")
        assert [c["id"] for c in found] == [first["id"]]

    async def test_partial_then_same_file_again_is_all_duplicates(self, client, org, uow_factory):
        await existing_customer(uow_factory)
        content = csv_bytes(MESSY_LINES, "gbk")
        first = (await upload(client, org.support, content, mode="partial")).json()
        again = (await upload(client, org.support, content, mode="partial")).json()
        assert again["created"] == 0
        by_row = {d["row"]: d for d in again["duplicates"]}
        assert sorted(by_row) == [2, 4, 5, 6]
        assert [c["id"] for c in by_row[2]["candidates"]] == [first["created_ids"][0]]
        assert by_row[2]["candidates"][0]["matched_on"] == ["email", "name", "phone", "uscc"]


class TestImportFormats:
    async def test_utf8_bom_with_english_headers(self, client, org):
        content = "\ufeff" + "\r\n".join(
            [
                "Name,Kind,Contact Name,Contact Title,Phone,E-mail,Tags,Source,Size,Website,WeChat",
                '"Acme Co., Ltd.",company,Li Lei,CTO,+86 139-0013-9000,li@acme.example,"vip;华东，new",web,'
                "50-199人,https://acme.example,lilei_88",
                "王小明,个人,王小明,,13600136000,,,来电,,,",
            ]
        )
        response = await upload(client, org.director, content.encode())
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["created"] == 2 and report["encoding"] == "utf-8-sig"
        assert report["unknown_columns"] == [] and report["rejected"] == []
        acme = await get_customer(client, org.director, report["created_ids"][0])
        assert acme["name"] == "Acme Co., Ltd." and acme["kind"] == "company"
        assert acme["tags"] == ["vip", "华东", "new"] and acme["size"] == "50-199"
        assert acme["source"] == "web" and acme["website"] == "https://acme.example"
        assert acme["contacts"][0]["title"] == "CTO" and acme["contacts"][0]["wechat"] == "lilei_88"
        person = await get_customer(client, org.director, report["created_ids"][1])
        assert person["kind"] == "individual" and person["source"] == "inbound_call"

    async def test_xlsx_with_owner_column(self, client, org):
        content = xlsx_bytes(
            [
                [
                    "客户名称",
                    "类型备注",
                    "统一社会信用代码",
                    "联系人",
                    "手机",
                    "邮箱",
                    "负责人",
                    "规模",
                    "标签",
                ],
                [
                    "星河电子有限公司",
                    "x",
                    USCC_B,
                    "周九",
                    13800138001,
                    "a@xinghe.example",
                    org.rep.username,
                    "1000人以上",
                    "华东、制造",
                ],
                [None, None, None, None, None, None, None, None, None],
                ["月光食品有限公司", None, None, "吴十", 13800138002, None, "nobody-here", None, None],
                ["晨曦咨询有限公司", None, None, None, None, None, org.finance.username, None, None],
                ["无名氏", None, None, None, 13800138003, None, None, None, None],
            ]
        )
        response = await upload(
            client, org.support, content, filename="客户.xlsx", content_type=XLSX, mode="partial"
        )
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["format"] == "xlsx" and report["encoding"] is None
        assert report["unknown_columns"] == ["类型备注"] and report["total_rows"] == 4
        # Row 6 has a phone but no contact name: the same rule as create.
        assert [(r["row"], r["errors"][0]["loc"]) for r in report["rejected"]] == [
            (4, ["owner_username"]),
            (5, ["owner_username"]),
            (6, ["contact_name"]),
        ]
        assert "no user named 'nobody-here'" in report["rejected"][0]["errors"][0]["msg"]
        assert "active rep or manager" in report["rejected"][1]["errors"][0]["msg"]
        assert report["created"] == 1
        xinghe = await get_customer(client, org.support, report["created_ids"][0])
        assert xinghe["owner_id"] == str(org.rep.id) and xinghe["team_id"] == str(org.group.id)
        assert xinghe["claimed_at"] is not None and xinghe["size"] == "1000+"
        assert xinghe["tags"] == ["华东", "制造"] and xinghe["uscc"] == USCC_B
        assert xinghe["contacts"][0]["phones"] == ["+8613800138001"]

    async def test_phone_without_contact_name_is_rejected(self, client, org):
        report = (
            await upload(
                client, org.support, csv_bytes(["客户名称,电话", "无名氏,13800138003"]), mode="partial"
            )
        ).json()
        assert report["rejected"] == [
            {
                "row": 2,
                "name": "无名氏",
                "errors": [{"loc": ["contact_name"], "msg": "A contact needs a name", "type": "missing"}],
            }
        ]

    async def test_owner_over_holding_limit_is_rejected(self, client, org, uow_factory):
        limit = DEFAULT_POOL_POLICY.max_active_customers
        await make_customers(uow_factory, limit - 1, owner=org.rep)
        lines = ["name,owner_username"] + [f"Holding {i},{org.rep.username}" for i in range(2)]
        response = await upload(client, org.support, csv_bytes(lines))
        body = assert_problem(response, 422, "import.rejected")
        [rejected] = body["report"]["rejected"]
        assert rejected["row"] == 3 and rejected["errors"][0]["type"] == "pool.quota_exceeded"
        response = await upload(client, org.support, csv_bytes(lines), mode="partial")
        assert response.json()["created"] == 1
        owned = await all_customers(client, org.support, owner_id=str(org.rep.id))
        assert len(owned) == limit

    async def test_semicolon_separated_csv(self, client, org):
        report = (
            await upload(
                client, org.support, csv_bytes(["客户名称;手机;联系人", "分号公司;13800138009;钱八"])
            )
        ).json()
        assert report["created"] == 1 and report["unknown_columns"] == []

    async def test_field_length_limits(self, client, org):
        lines = ["name,industry", f"{'长' * 201},x", f"ok,{'x' * 101}"]
        report = (await upload(client, org.support, csv_bytes(lines), mode="partial")).json()
        assert [(r["row"], r["errors"]) for r in report["rejected"]] == [
            (2, [{"loc": ["name"], "msg": "at most 200 characters", "type": "string_too_long"}]),
            (3, [{"loc": ["industry"], "msg": "at most 100 characters", "type": "string_too_long"}]),
        ]

    async def test_in_file_duplicates_by_uscc_and_email(self, client, org):
        lines = [
            "name,uscc,contact_name,email",
            f"甲公司,{USCC_A},a,same@example.com",
            f"乙公司,{USCC_A},b,other@example.com",
            "丙公司,,c,SAME@example.com",
        ]
        report = (await upload(client, org.support, csv_bytes(lines), mode="partial")).json()
        assert report["created"] == 1
        assert [(d["row"], d["duplicate_of_row"], d["matched_on"]) for d in report["duplicates"]] == [
            (3, 2, ["uscc"]),
            (4, 2, ["email"]),
        ]

    async def test_allow_duplicate_imports_them_too(self, client, org, uow_factory):
        existing = await existing_customer(uow_factory)
        lines = [
            "客户名称,联系人,手机",
            "上海老客户贸易有限公司,赵六,13700137000",
            "上海老客户贸易股份有限公司,赵六,13700137000",
        ]
        response = await upload(client, org.director, csv_bytes(lines), allow_duplicate="true")
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["created"] == 2
        assert [(d["row"], d["created_id"]) for d in report["duplicates"]] == [
            (2, report["created_ids"][0]),
            (3, report["created_ids"][1]),
        ]
        assert report["duplicates"][0]["candidates"][0]["id"] == str(existing.id)
        assert report["duplicates"][1]["duplicate_of_row"] == 2

    async def test_header_only_file(self, client, org):
        response = await upload(client, org.support, csv_bytes(["客户名称,手机", "", ""]))
        assert response.status_code == 200, response.text
        assert response.json()["total_rows"] == 0 and response.json()["created"] == 0


class TestImportRefusedFiles:
    async def test_missing_name_column(self, client, org):
        response = await upload(client, org.support, csv_bytes(["公司,手机", "x,13800138000"]))
        body = assert_problem(response, 422, "import.missing_columns")
        assert body["missing"] == ["name"] and body["unknown_columns"] == ["公司"]

    async def test_empty_file(self, client, org):
        assert_problem(await upload(client, org.support, b"\r\n\r\n"), 422, "import.empty")

    async def test_image_is_unsupported(self, client, org):
        response = await upload(
            client,
            org.support,
            b"\x89PNG\r\n\x1a\n" + bytes(64),
            filename="logo.png",
            content_type="image/png",
        )
        assert_problem(response, 422, "import.unsupported_format")

    async def test_legacy_xls_is_unsupported(self, client, org):
        response = await upload(
            client,
            org.support,
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64),
            filename="old.xls",
            content_type="application/vnd.ms-excel",
        )
        assert_problem(response, 422, "import.unsupported_format")

    async def test_broken_xlsx_is_unreadable(self, client, org):
        response = await upload(
            client, org.support, b"not a zip at all", filename="x.xlsx", content_type=XLSX
        )
        assert_problem(response, 422, "import.unreadable")
        response = await upload(
            client, org.support, b"PK\x03\x04" + bytes(100), filename="x.xlsx", content_type=XLSX
        )
        assert_problem(response, 422, "import.unreadable")

    async def test_binary_csv_is_unreadable(self, client, org):
        response = await upload(client, org.support, b"name\r\n\x00\x01\x02\xff\xfe\x80")
        assert_problem(response, 422, "import.unreadable")

    async def test_too_many_rows(self, client, org):
        lines = ["name"] + [f"c{i}" for i in range(customer_io_service.MAX_ROWS + 1)]
        response = await upload(client, org.support, csv_bytes(lines))
        body = assert_problem(response, 413, "import.too_large")
        assert body["max_rows"] == 10_000

    async def test_exactly_the_row_limit_is_read(self, client, org):
        lines = ["name,kind"] + [f"c{i},x" for i in range(customer_io_service.MAX_ROWS)]
        response = await upload(client, org.support, csv_bytes(lines), mode="partial")
        assert response.status_code == 200, response.text
        assert response.json()["total_rows"] == 10_000 and len(response.json()["rejected"]) == 10_000

    async def test_too_many_bytes(self, client, org):
        content = b"name,address\r\n" + b"x," + b"a" * (customer_io_service.MAX_BYTES) + b"\r\n"
        response = await upload(client, org.support, content)
        assert_problem(response, 413, "import.too_large")

    async def test_no_file(self, client, org):
        response = await client.post(IMPORT, headers=access_headers(org.support))
        assert_problem(response, 422, "validation_error")


class TestImportRoles:
    CONTENT = csv_bytes(["name", "角色测试有限公司"])

    async def test_anonymous(self, client):
        response = await client.post(IMPORT, files={"file": ("c.csv", self.CONTENT, "text/csv")})
        assert_problem(response, 401, "unauthorized")

    @pytest.mark.parametrize("role", ["rep", "manager", "finance", "admin"])
    async def test_not_a_steward(self, client, org, role):
        response = await upload(client, getattr(org, role), self.CONTENT)
        assert_problem(response, 403, "forbidden")

    @pytest.mark.parametrize("role", ["support", "director"])
    async def test_stewards(self, client, org, role):
        response = await upload(client, getattr(org, role), self.CONTENT)
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["created"] == 1 and uuid.UUID(report["created_ids"][0])

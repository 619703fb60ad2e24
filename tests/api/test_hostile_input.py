"""Input crafted to crash or stall the server answers a 4xx, quickly: an oversized password,
a well-signed token expiring in the year 10^22, XML entities and zip bombs in an XLSX."""

from __future__ import annotations

import io
import time
import zipfile

import pytest
from jose import jwt

from app.config import get_settings
from tests.api.test_customer_import import XLSX, upload, xlsx_bytes
from tests.support.builders import PASSWORD, assert_problem, make_sales_org, make_user


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


@pytest.mark.parametrize("length", [4_097, 100_000])
async def test_oversized_password_is_a_failed_login(client, uow_factory, length):
    user = await make_user(uow_factory, role="rep")
    response = await client.post(
        "/api/v1/auth/token", data={"username": user.username, "password": "p" * length}
    )
    assert_problem(response, 401, "auth.invalid_credentials")
    response = await client.post(
        "/api/v1/auth/token", data={"username": "nobody-here", "password": "é" * length}
    )
    assert_problem(response, 401, "auth.invalid_credentials")
    response = await client.post("/api/v1/auth/token", data={"username": user.username, "password": PASSWORD})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("exp", [10**30, 10**12, -(10**30)])
async def test_token_with_absurd_expiry_is_unauthorized(client, uow_factory, exp):
    user = await make_user(uow_factory, role="admin")
    token = jwt.encode(
        {"sub": str(user.id), "role": "admin", "typ": "access", "exp": exp, "iat": 0},
        get_settings().effective_secret_key(),
        algorithm="HS256",
    )
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401, "unauthorized")


def _rewrite(content: bytes, part: str, xml: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, xml if info.filename == part else source.read(info))
    return out.getvalue()


SHEET = "xl/worksheets/sheet1.xml"


def sheet_xml(cell: bytes, doctype: bytes = b"") -> bytes:
    """A worksheet with a "name" header and one row holding ``cell`` as an inline string."""
    return (
        b'<?xml version="1.0"?>'
        + doctype
        + b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c></row>'
        b'<row r="2"><c r="A2" t="inlineStr"><is><t>' + cell + b"</t></is></c></row>"
        b"</sheetData></worksheet>"
    )


LAUGHS = sheet_xml(
    b"&lol9;",
    b'<!DOCTYPE worksheet [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]>",
)
EXTERNAL = sheet_xml(b"&x;", b'<!DOCTYPE worksheet [<!ENTITY x SYSTEM "file:///etc/passwd">]>')


@pytest.mark.parametrize("xml", [LAUGHS, EXTERNAL], ids=["billion-laughs", "external-entity"])
async def test_xlsx_with_doctype_is_refused_unexpanded(client, org, xml):
    content = _rewrite(xlsx_bytes([["name"], ["Acme"]]), SHEET, xml)
    response = await upload(client, org.support, content, filename="x.xlsx", content_type=XLSX)
    body = assert_problem(response, 422, "import.unreadable")
    assert "DOCTYPE" in body["detail"]


async def test_small_xlsx_unpacking_to_100_mb_is_refused_before_parsing(client, org):
    content = _rewrite(xlsx_bytes([["name"], ["Acme"]]), SHEET, sheet_xml(b"x" * (100 * 2**20)))
    assert len(content) < 1024 * 1024
    started = time.monotonic()
    response = await upload(client, org.support, content, filename="x.xlsx", content_type=XLSX)
    assert time.monotonic() - started < 5
    assert_problem(response, 413, "import.too_large")

"""Statement of account (SPEC §6): opening balance, every bill, payment, credit applied and
write-off with a running balance, closing balance — reconciling with AR aging at the start
and the end of the period — as JSON and as an XLSX with Chinese headers."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from app.db.base import utcnow
from app.domain.credit import business_date
from tests.support.builders import (
    access_headers,
    api_bill,
    api_pay,
    assert_problem,
    make_contract,
    make_funnel_customer,
    make_sales_org,
)

SH = ZoneInfo("Asia/Shanghai")


def sh(month: int, day: int) -> dt.datetime:
    return dt.datetime(2026, month, day, 12, tzinfo=SH)


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


@pytest.fixture
async def history(client, uow_factory, org):
    """Before March: 2000 billed, 500 paid. In March: 3000 received (1500 settles the first
    bill, 1500 becomes credit), bills of 1000 and 800 take the credit, a bill of 400."""
    customer = await make_funnel_customer(uow_factory, owner=org.rep, stage="signed", name="对账客户")
    contract = await make_contract(
        uow_factory, customer=customer, amount="10000.00", status="signed", number="HT-001"
    )
    fin = org.finance
    await api_bill(client, fin, contract.id, "2000.00", issued_at=sh(2, 10), due_at=sh(3, 1))
    await api_pay(client, fin, customer.id, "500.00", received_at=sh(2, 20))
    await api_pay(client, fin, customer.id, "3000.00", received_at=sh(3, 5))
    await api_bill(client, fin, contract.id, "1000.00", issued_at=sh(3, 10), due_at=sh(4, 10))
    await api_bill(client, fin, contract.id, "800.00", issued_at=sh(3, 15), due_at=sh(4, 15))
    last = await api_bill(client, fin, contract.id, "400.00", issued_at=sh(3, 20), due_at=sh(4, 20))
    return customer, last


async def get_statement(client, user, customer, **params):
    response = await client.get(
        f"/api/v1/customers/{customer.id}/statement", headers=access_headers(user), params=params
    )
    assert response.status_code == 200, response.text
    return response


async def aging_total(client, user, customer, as_of: dt.date) -> str:
    aging = (
        await client.get(
            "/api/v1/reports/ar-aging", headers=access_headers(user), params={"as_of": as_of.isoformat()}
        )
    ).json()
    return next((r["total"] for r in aging["rows"] if r["key"] == str(customer.id)), "0.00")


async def test_march_statement_line_by_line(client, org, history):
    customer, _ = history
    body = (
        await get_statement(client, org.finance, customer, **{"from": "2026-03-01", "to": "2026-03-31"})
    ).json()
    assert (body["from"], body["to"], body["customer_name"]) == ("2026-03-01", "2026-03-31", "对账客户")
    assert body["opening_balance"] == "1500.00"
    assert [
        (line["date"], line["kind"], line["debit"], line["credit"], line["balance"]) for line in body["lines"]
    ] == [
        ("2026-03-05", "payment", "0.00", "1500.00", "0.00"),
        ("2026-03-10", "receivable", "1000.00", "0.00", "1000.00"),
        ("2026-03-10", "credit_applied", "0.00", "1000.00", "0.00"),
        ("2026-03-15", "receivable", "800.00", "0.00", "800.00"),
        ("2026-03-15", "credit_applied", "0.00", "500.00", "300.00"),
        ("2026-03-20", "receivable", "400.00", "0.00", "700.00"),
    ]
    assert body["lines"][0]["amount"] == "3000.00"
    assert body["lines"][1]["reference"] == "HT-001"
    assert (body["closing_balance"], body["opening_credit_balance"], body["credit_balance"]) == (
        "700.00",
        "0.00",
        "0.00",
    )
    # Reconciles with AR aging on the day before and the last day of the period.
    assert await aging_total(client, org.finance, customer, dt.date(2026, 2, 28)) == body["opening_balance"]
    assert await aging_total(client, org.finance, customer, dt.date(2026, 3, 31)) == body["closing_balance"]


async def test_credit_balance_at_the_period_end(client, org, history):
    customer, _ = history
    body = (
        await get_statement(client, org.finance, customer, **{"from": "2026-03-05", "to": "2026-03-12"})
    ).json()
    # 1500 of the 3000 became credit on the 5th; 1000 of it paid the bill of the 10th.
    assert (body["opening_balance"], body["closing_balance"], body["credit_balance"]) == (
        "1500.00",
        "0.00",
        "500.00",
    )
    assert await aging_total(client, org.finance, customer, dt.date(2026, 3, 12)) == body["closing_balance"]


async def test_write_off_to_today_reconciles_with_aging(client, org, history):
    customer, last = history
    response = await client.post(
        f"/api/v1/receivables/{last['id']}/write-off",
        headers=access_headers(org.finance),
        json={"reason": "uncollectable"},
    )
    assert response.status_code == 200, response.text
    today = business_date(utcnow(), SH)
    body = (
        await get_statement(client, org.finance, customer, **{"from": "2026-03-01", "to": today.isoformat()})
    ).json()
    assert body["lines"][-1]["kind"] == "write_off" and body["lines"][-1]["credit"] == "400.00"
    assert body["closing_balance"] == "300.00"
    assert await aging_total(client, org.finance, customer, today) == body["closing_balance"]
    total = Decimal(body["opening_balance"]) + sum(
        Decimal(x["debit"]) - Decimal(x["credit"]) for x in body["lines"]
    )
    assert total == Decimal(body["closing_balance"])


async def test_xlsx_with_chinese_headers_company_and_customer_on_top(client, org, history):
    customer, _ = history
    response = await get_statement(
        client, org.finance, customer, format="xlsx", **{"from": "2026-03-01", "to": "2026-03-31"}
    )
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = [tuple(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0][0] == "Sales CRM"
    assert rows[2][:2] == ("客户名称", "对账客户")
    assert rows[3][1] == "2026-03-01 至 2026-03-31"
    header = [r[:6] for r in rows].index(
        ("日期", "类型", "单据", "借方(应收)", "贷方(收款/冲抵/核销)", "余额")
    )
    assert rows[header + 1][1] == "期初余额" and Decimal(str(rows[header + 1][5])) == Decimal("1500")
    closing = next(r for r in rows if r[1] == "期末余额")
    assert Decimal(str(closing[5])) == Decimal("700")
    assert [r[1] for r in rows[header + 2 : header + 8]] == [
        "回款",
        "应收",
        "预付款冲抵",
        "应收",
        "预付款冲抵",
        "应收",
    ]


async def test_bad_periods_and_scope(client, uow_factory, org, history):
    customer, _ = history
    url = f"/api/v1/customers/{customer.id}/statement"
    response = await client.get(
        url, headers=access_headers(org.finance), params={"from": "2026-04-01", "to": "2026-03-01"}
    )
    assert_problem(response, 422, "validation_error")
    assert_problem(await client.get(url, headers=access_headers(org.other_rep)), 404, "not_found")
    assert_problem(await client.get(url, headers=access_headers(org.support)), 403)

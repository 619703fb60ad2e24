"""Credit balance over HTTP (SPEC §6): a deposit is kept per customer, deducted from exposure
(so a cash-first customer signs without an override), applied to later bills in the
transaction that bills them (visible on the receivable and the payment), and refunded."""

from __future__ import annotations

import datetime as dt

import pytest

from app.db.base import utcnow
from tests.support.builders import (
    access_headers,
    api_bill,
    api_draft_contract,
    api_pay,
    api_sign_contract,
    assert_problem,
    make_contract,
    make_funnel_customer,
    make_sales_org,
)


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


@pytest.fixture
async def customer(uow_factory, org):
    return await make_funnel_customer(uow_factory, owner=org.rep, stage="intent")


async def credit(client, org, customer) -> dict:
    response = await client.get(
        f"/api/v1/customers/{customer.id}/credit", headers=access_headers(org.finance)
    )
    assert response.status_code == 200, response.text
    return response.json()


async def payment(client, org, payment_id) -> dict:
    response = await client.get(f"/api/v1/payments/{payment_id}", headers=access_headers(org.finance))
    assert response.status_code == 200, response.text
    return response.json()


async def refund(client, org, customer, amount, reason="deposit returned"):
    return await client.post(
        f"/api/v1/customers/{customer.id}/credit/refunds",
        headers=access_headers(org.finance),
        json={"amount": amount, "reason": reason},
    )


async def test_prepayment_is_applied_to_the_later_bill(client, uow_factory, org, customer):
    contract = await make_contract(uow_factory, customer=customer, amount="1000.00", status="signed")
    deposit = await api_pay(
        client, org.finance, customer.id, "1000.00", received_at=utcnow() - dt.timedelta(days=70)
    )
    assert deposit["unallocated_amount"] == "1000.00" and deposit["allocations"] == []
    assert (await credit(client, org, customer))["credit_balance"] == "1000.00"

    bill = await api_bill(
        client,
        org.finance,
        contract.id,
        "1000.00",
        issued_at=utcnow() - dt.timedelta(days=65),
        due_at=utcnow() - dt.timedelta(days=64),
    )
    assert (bill["paid_amount"], bill["outstanding"], bill["status"]) == ("1000.00", "0.00", "paid")
    [applied] = bill["applications"]
    assert applied["payment_id"] == deposit["id"] and applied["amount"] == "1000.00"
    assert applied["from_credit"] is True
    after = await payment(client, org, deposit["id"])
    assert after["unallocated_amount"] == "0.00"
    assert [(a["receivable_id"], a["amount"], a["from_credit"]) for a in after["allocations"]] == [
        (bill["id"], "1000.00", True)
    ]
    view = await credit(client, org, customer)
    assert view["credit_balance"] == "0.00" and view["on_hold"] is False
    assert view["overdue_count"] == 0 and view["exposure"] == "0.00"

    # The next payment is not applied on its own to a paid bill: it becomes credit.
    later = await api_pay(client, org.finance, customer.id, "1.00")
    assert later["allocations"] == [] and later["unallocated_amount"] == "1.00"


async def test_credit_goes_oldest_due_first_and_what_is_left_stays(client, uow_factory, org, customer):
    contract = await make_contract(uow_factory, customer=customer, amount="1000.00", status="signed")
    first = await api_pay(
        client, org.finance, customer.id, "300.00", received_at=utcnow() - dt.timedelta(days=3)
    )
    second = await api_pay(
        client, org.finance, customer.id, "200.00", received_at=utcnow() - dt.timedelta(days=2)
    )
    late = await api_bill(client, org.finance, contract.id, "400.00", due_at=utcnow() + dt.timedelta(days=40))
    assert [(a["payment_id"], a["amount"]) for a in late["applications"]] == [
        (first["id"], "300.00"),
        (second["id"], "100.00"),
    ]
    assert (await credit(client, org, customer))["credit_balance"] == "100.00"
    soon = await api_bill(client, org.finance, contract.id, "250.00", due_at=utcnow() + dt.timedelta(days=5))
    assert [(a["payment_id"], a["amount"]) for a in soon["applications"]] == [(second["id"], "100.00")]
    balance = (await credit(client, org, customer))["credit_balance"]
    assert (soon["outstanding"], balance) == ("150.00", "0.00")


async def test_a_deposit_lets_a_cash_first_customer_sign(client, org, customer):
    draft = await api_draft_contract(client, org.rep, customer.id, "10000.00")
    response = await client.post(
        f"/api/v1/contracts/{draft['id']}/sign", headers=access_headers(org.rep), json={}
    )
    body = assert_problem(response, 409, "credit.limit_exceeded")
    assert (body["limit"], body["shortfall"]) == ("0.00", "10000.00")

    await api_pay(client, org.finance, customer.id, "50000.00")
    view = await credit(client, org, customer)
    assert (view["credit_limit"], view["exposure"], view["available"]) == ("0.00", "0.00", "0.00")
    signed = await api_sign_contract(client, org.rep, draft["id"])
    assert signed["status"] == "signed" and signed["override_reason"] is None
    # Signed but unbilled 10000 is covered by the 50000 deposit: exposure stays 0.
    view = await credit(client, org, customer)
    assert (view["signed_unbilled"], view["credit_balance"], view["exposure"]) == (
        "10000.00",
        "50000.00",
        "0.00",
    )
    bill = await api_bill(client, org.finance, draft["id"], "10000.00")
    assert bill["status"] == "paid"
    assert (await credit(client, org, customer))["credit_balance"] == "40000.00"


async def test_refund_of_credit_balance(client, org, customer):
    deposit = await api_pay(client, org.finance, customer.id, "500.00")
    assert_problem(await refund(client, org, customer, "500.01"), 409, "credit.refund_exceeds_balance")
    assert_problem(await refund(client, org, customer, "0"), 422, "validation_error")
    response = await client.post(
        f"/api/v1/customers/{customer.id}/credit/refunds",
        headers=access_headers(org.rep),
        json={"amount": "1.00", "reason": "x"},
    )
    assert_problem(response, 403, "forbidden")
    assert (await credit(client, org, customer))["credit_balance"] == "500.00"

    response = await refund(client, org, customer, "200.00")
    assert response.status_code == 201, response.text
    assert response.json()["amount"] == "200.00"
    after = await payment(client, org, deposit["id"])
    assert (after["unallocated_amount"], after["refunded_amount"]) == ("300.00", "200.00")
    assert (await credit(client, org, customer))["credit_balance"] == "300.00"
    listed = await client.get(
        f"/api/v1/customers/{customer.id}/credit/refunds", headers=access_headers(org.finance)
    )
    assert [r["reason"] for r in listed.json()["items"]] == ["deposit returned"]

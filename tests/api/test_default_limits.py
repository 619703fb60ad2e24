"""`default_limits_by_grade` in /settings/credit and due dates from payment terms (SPEC §6)."""

from __future__ import annotations

import datetime as dt

import pytest

from app.db.base import utcnow
from tests.support.builders import (
    access_headers,
    api_draft_contract,
    api_sign_contract,
    assert_problem,
    make_contract,
    make_funnel_customer,
    make_sales_org,
    update_customer_row,
)

SETTINGS = "/api/v1/settings/credit"


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


async def put_settings(client, org, **changes):
    headers = access_headers(org.director)
    settings = (await client.get(SETTINGS, headers=headers)).json()
    settings.pop("version")
    return await client.put(SETTINGS, headers=headers, json={**settings, **changes})


async def limit_of(client, org, customer) -> str:
    response = await client.get(
        f"/api/v1/customers/{customer.id}/credit", headers=access_headers(org.finance)
    )
    assert response.status_code == 200, response.text
    return response.json()["credit_limit"]


async def test_defaults_are_cash_first(client, org):
    settings = (await client.get(SETTINGS, headers=access_headers(org.finance))).json()
    assert settings["default_limits_by_grade"] == {"A": "0.00", "B": "0.00", "C": "0.00"}


async def test_a_customer_without_a_profile_has_its_grades_limit(client, uow_factory, org):
    response = await put_settings(
        client,
        org,
        default_credit_limit="1000.00",
        default_limits_by_grade={"A": "50000.00", "B": "20000.00"},
    )
    assert response.status_code == 200, response.text
    customers = {}
    for grade in ("A", "B", "C", None):
        customer = await make_funnel_customer(uow_factory, owner=org.rep, stage="intent")
        await update_customer_row(uow_factory, customer.id, grade=grade)
        customers[grade] = customer
    # A and B from the table; C is not listed and the ungraded have no grade: default_credit_limit.
    assert [await limit_of(client, org, customers[g]) for g in ("A", "B", "C", None)] == [
        "50000.00",
        "20000.00",
        "1000.00",
        "1000.00",
    ]
    draft = await api_draft_contract(client, org.rep, customers["A"].id, "50000.00")
    assert (await api_sign_contract(client, org.rep, draft["id"]))["override_reason"] is None
    draft = await api_draft_contract(client, org.rep, customers["B"].id, "20000.01")
    response = await client.post(
        f"/api/v1/contracts/{draft['id']}/sign", headers=access_headers(org.rep), json={}
    )
    assert_problem(response, 409, "credit.limit_exceeded")


async def test_negative_default_limits_are_refused(client, org):
    response = await put_settings(client, org, default_limits_by_grade={"A": "-1.00"})
    assert_problem(response, 422, "validation_error")
    settings = (await client.get(SETTINGS, headers=access_headers(org.finance))).json()
    assert settings["default_limits_by_grade"]["A"] == "0.00"


async def test_due_date_defaults_to_issue_date_plus_the_contracts_terms(client, uow_factory, org):
    customer = await make_funnel_customer(uow_factory, owner=org.rep, stage="signed")
    contract = await make_contract(
        uow_factory, customer=customer, amount="900.00", status="signed", payment_terms_days=45
    )
    issued = utcnow().replace(microsecond=0) - dt.timedelta(days=2)
    response = await client.post(
        "/api/v1/receivables",
        headers=access_headers(org.finance),
        json={"contract_id": str(contract.id), "amount": "300.00", "issued_at": issued.isoformat()},
    )
    assert response.status_code == 201, response.text
    assert dt.datetime.fromisoformat(response.json()["due_at"]) == issued + dt.timedelta(days=45)
    # An explicit due date still wins, and one before the issue date is refused.
    response = await client.post(
        "/api/v1/receivables",
        headers=access_headers(org.finance),
        json={
            "contract_id": str(contract.id),
            "amount": "300.00",
            "issued_at": issued.isoformat(),
            "due_at": (issued - dt.timedelta(days=1)).isoformat(),
        },
    )
    assert_problem(response, 422, "validation_error")

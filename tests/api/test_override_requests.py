"""Credit override requests (SPEC §6): a rep asks with a reason, a person whose override
authority covers the exposure after signing approves, then the rep signs."""

from __future__ import annotations

import pytest

from tests.support.builders import (
    access_headers,
    api_draft_contract,
    api_sign_contract,
    assert_problem,
    make_funnel_customer,
    make_sales_org,
)

REQUESTS = "/api/v1/credit-override-requests"


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


@pytest.fixture
async def customer(uow_factory, org):
    return await make_funnel_customer(uow_factory, owner=org.rep, stage="intent")


async def ask(client, user, contract_id, reason="long-standing payer"):
    return await client.post(
        f"/api/v1/contracts/{contract_id}/override-requests",
        headers=access_headers(user),
        json={"reason": reason},
    )


async def decide(client, user, request_id, verb="approve"):
    return await client.post(f"{REQUESTS}/{request_id}/{verb}", headers=access_headers(user), json={})


async def test_rep_asks_manager_approves_rep_signs(client, org, customer):
    draft = await api_draft_contract(client, org.rep, customer.id, "80000.00")
    response = await ask(client, org.rep, draft["id"])
    assert response.status_code == 201, response.text
    request = response.json()
    assert (request["status"], request["exposure_after"]) == ("pending", "80000.00")
    # Not approved yet: the signing is still blocked; nobody approves their own request.
    assert_problem(
        await client.post(f"/api/v1/contracts/{draft['id']}/sign", headers=access_headers(org.rep), json={}),
        409,
        "credit.limit_exceeded",
    )
    assert_problem(await decide(client, org.rep, request["id"]), 403, "forbidden")

    approved = await decide(client, org.manager, request["id"])
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["decided_role"]) == ("approved", "manager")
    assert_problem(await decide(client, org.manager, request["id"]), 409, "credit.request_not_pending")

    signed = await api_sign_contract(client, org.rep, draft["id"])
    assert signed["override_reason"] == "long-standing payer"
    assert signed["override_by"] == str(org.manager.id)
    used = (await client.get(f"{REQUESTS}/{request['id']}", headers=access_headers(org.rep))).json()
    assert used["status"] == "used" and used["used_at"] is not None


async def test_manager_cannot_approve_beyond_the_exposure_after_signing(client, org, customer):
    draft = await api_draft_contract(client, org.rep, customer.id, "100000.01")
    request = (await ask(client, org.rep, draft["id"])).json()
    body = assert_problem(
        await decide(client, org.manager, request["id"]), 403, "credit.override_not_allowed"
    )
    assert (body["exposure_after"], body["required_role"]) == ("100000.01", "finance")
    assert (await decide(client, org.finance, request["id"])).json()["decided_role"] == "finance"
    assert (await api_sign_contract(client, org.rep, draft["id"]))["override_by"] == str(org.finance.id)


async def test_rejected_request_does_not_lift_the_block(client, org, customer):
    draft = await api_draft_contract(client, org.rep, customer.id, "5000.00")
    request = (await ask(client, org.rep, draft["id"])).json()
    rejected = await decide(client, org.manager, request["id"], "reject")
    assert rejected.json()["status"] == "rejected"
    assert_problem(
        await client.post(f"/api/v1/contracts/{draft['id']}/sign", headers=access_headers(org.rep), json={}),
        409,
        "credit.limit_exceeded",
    )


async def test_requests_need_a_reason_a_draft_and_the_own_customer(client, uow_factory, org, customer):
    draft = await api_draft_contract(client, org.rep, customer.id, "5000.00")
    assert_problem(await ask(client, org.rep, draft["id"], reason="  "), 422)
    other = await make_funnel_customer(uow_factory, owner=org.rep2, stage="intent")
    others = await api_draft_contract(client, org.rep2, other.id, "5000.00")
    assert_problem(await ask(client, org.rep, others["id"]), 404, "not_found")
    listed = (await client.get(REQUESTS, headers=access_headers(org.rep))).json()
    assert listed["items"] == []

"""Contracts over HTTP (SPEC §6): drafting, the credit check at signing with its override
rules, cancelling, acceptance and completion, and the funnel moves they cause (SPEC §4)."""

from __future__ import annotations

import datetime as dt
import uuid

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
    set_credit_limit,
    set_credit_profile,
    update_customer_row,
)

CONTRACTS = "/api/v1/contracts"
CUSTOMERS = "/api/v1/customers"
BIG = "10000000.00"


def contract_url(contract_id, action: str | None = None) -> str:
    return f"{CONTRACTS}/{contract_id}" + (f"/{action}" if action else "")


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


@pytest.fixture
async def lead(uow_factory, org):
    """A lead of ``org.rep`` (signing it skips `intent`)."""
    return await make_funnel_customer(uow_factory, owner=org.rep, stage="lead")


@pytest.fixture
async def intent(uow_factory, org):
    """An intent customer of ``org.rep`` with plenty of credit."""
    customer = await make_funnel_customer(uow_factory, owner=org.rep, stage="intent")
    await set_credit_limit(uow_factory, customer.id, BIG)
    return customer


async def draft(client, user, customer, amount="120000.00", **body) -> dict:
    return await api_draft_contract(client, user, customer.id, amount, **body)


async def sign(client, user, contract_id, **body):
    return await client.post(contract_url(contract_id, "sign"), headers=access_headers(user), json=body)


async def get_customer(client, user, customer) -> dict:
    response = await client.get(f"{CUSTOMERS}/{customer.id}", headers=access_headers(user))
    assert response.status_code == 200, response.text
    return response.json()


async def transitions(client, user, customer) -> list[dict]:
    response = await client.get(
        f"{CUSTOMERS}/{customer.id}/transitions", headers=access_headers(user), params={"limit": 500}
    )
    assert response.status_code == 200, response.text
    return sorted(response.json()["items"], key=lambda t: t["at"])


async def history(client, user, customer, action: str) -> list[dict]:
    response = await client.get(
        f"{CUSTOMERS}/{customer.id}/history", headers=access_headers(user), params={"limit": 500}
    )
    assert response.status_code == 200, response.text
    return [h for h in response.json()["items"] if h["action"] == action]


async def get_contract(client, user, contract_id) -> dict:
    response = await client.get(contract_url(contract_id), headers=access_headers(user))
    assert response.status_code == 200, response.text
    return response.json()


class TestCreateContract:
    async def test_anonymous(self, client, lead):
        response = await client.post(
            CONTRACTS, json={"customer_id": str(lead.id), "number": "C-1", "amount": "1.00"}
        )
        assert_problem(response, 401, "unauthorized")

    async def test_rep_drafts_for_own_customer(self, client, org, lead):
        response = await client.post(
            CONTRACTS,
            headers=access_headers(org.rep),
            json={"customer_id": str(lead.id), "number": "HT-2026-001", "amount": "120000"},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["amount"] == "120000.00"
        assert body["number"] == "HT-2026-001"
        assert body["status"] == "draft"
        assert body["payment_terms_days"] == 30
        assert body["customer_id"] == str(lead.id)
        assert body["owner_id"] == str(org.rep.id)
        assert body["team_id"] == str(org.group.id)
        assert body["created_by"] == str(org.rep.id)
        assert body["signed_at"] is None and body["signed_by"] is None
        assert body["version"] == 1
        assert response.headers["ETag"] == '"1"'
        assert response.headers["Location"] == f"/api/v1/contracts/{body['id']}"
        assert await get_contract(client, org.rep, body["id"]) == body

    async def test_terms_default_to_the_customers_profile(self, client, uow_factory, org, lead):
        await set_credit_profile(uow_factory, lead.id, payment_terms_days=45)
        assert (await draft(client, org.rep, lead))["payment_terms_days"] == 45
        explicit = await draft(client, org.rep, lead, payment_terms_days=60)
        assert explicit["payment_terms_days"] == 60

    async def test_rep_on_another_reps_customer_is_not_found(self, client, org, uow_factory):
        theirs = await make_funnel_customer(uow_factory, owner=org.other_rep, stage="lead")
        response = await client.post(
            CONTRACTS,
            headers=access_headers(org.rep),
            json={"customer_id": str(theirs.id), "number": "C-X", "amount": "10.00"},
        )
        assert_problem(response, 404, "not_found")

    async def test_rep_on_a_pool_customer_is_forbidden(self, client, org, uow_factory):
        # Visible to reps (the pool is in their scope) but not theirs to sell to.
        pooled = await make_funnel_customer(uow_factory, owner=None, stage="lead")
        response = await client.post(
            CONTRACTS,
            headers=access_headers(org.rep),
            json={"customer_id": str(pooled.id), "number": "C-X", "amount": "10.00"},
        )
        assert_problem(response, 403, "forbidden")

    async def test_manager_of_another_team_is_not_found(self, client, org, lead):
        response = await client.post(
            CONTRACTS,
            headers=access_headers(org.other_manager),
            json={"customer_id": str(lead.id), "number": "C-X", "amount": "10.00"},
        )
        assert_problem(response, 404, "not_found")

    @pytest.mark.parametrize("role", ["finance", "director", "manager"])
    async def test_other_drafters(self, client, org, lead, role):
        contract = await draft(client, getattr(org, role), lead, amount="99.99")
        assert contract["amount"] == "99.99"
        assert contract["created_by"] == str(getattr(org, role).id)
        assert contract["owner_id"] == str(org.rep.id)

    @pytest.mark.parametrize("role", ["support", "admin"])
    async def test_roles_that_do_not_draft(self, client, org, lead, role):
        response = await client.post(
            CONTRACTS,
            headers=access_headers(getattr(org, role)),
            json={"customer_id": str(lead.id), "number": "C-X", "amount": "10.00"},
        )
        assert_problem(response, 403, "forbidden")

    async def test_unknown_customer(self, client, org):
        response = await client.post(
            CONTRACTS,
            headers=access_headers(org.finance),
            json={"customer_id": str(uuid.uuid4()), "number": "C-X", "amount": "10.00"},
        )
        assert_problem(response, 404, "not_found")

    async def test_duplicate_number(self, client, org, lead, uow_factory):
        await draft(client, org.rep, lead, number="HT-1")
        other = await make_funnel_customer(uow_factory, owner=org.rep2, stage="lead")
        for number in ("HT-1", "  HT-1  "):
            response = await client.post(
                CONTRACTS,
                headers=access_headers(org.finance),
                json={"customer_id": str(other.id), "number": number, "amount": "10.00"},
            )
            body = assert_problem(response, 409, "contract.number_taken")
            assert body["number"] == "HT-1"

    async def test_abandoned_customer(self, client, org, uow_factory):
        abandoned = await make_funnel_customer(uow_factory, owner=None, stage="abandoned")
        response = await client.post(
            CONTRACTS,
            headers=access_headers(org.finance),
            json={"customer_id": str(abandoned.id), "number": "C-X", "amount": "10.00"},
        )
        assert_problem(response, 409, "contract.customer_abandoned")

    @pytest.mark.parametrize(
        "body",
        [
            {"number": "C-X", "amount": "0"},
            {"number": "C-X", "amount": "-5.00"},
            {"number": "C-X", "amount": "1.001"},
            {"number": "C-X", "amount": "lots"},
            {"number": "   ", "amount": "1.00"},
            {"amount": "1.00"},
            {"number": "C-X", "amount": "1.00", "payment_terms_days": -1},
        ],
    )
    async def test_invalid_body(self, client, org, lead, body):
        response = await client.post(
            CONTRACTS, headers=access_headers(org.rep), json={"customer_id": str(lead.id), **body}
        )
        problem = assert_problem(response, 422, "validation_error")
        assert problem["errors"]


class TestListAndGetContracts:
    async def test_anonymous(self, client):
        assert_problem(await client.get(CONTRACTS), 401, "unauthorized")
        assert_problem(await client.get(contract_url(uuid.uuid4())), 401, "unauthorized")

    async def test_scope_and_filters(self, client, org, uow_factory, lead):
        mine = await draft(client, org.rep, lead)
        other_lead = await make_funnel_customer(uow_factory, owner=org.rep, stage="lead")
        mine_signed = await make_contract(uow_factory, customer=other_lead, amount="5.00", status="signed")
        theirs_customer = await make_funnel_customer(uow_factory, owner=org.other_rep, stage="lead")
        theirs = await draft(client, org.other_rep, theirs_customer)

        async def ids(user, **params) -> set[str]:
            response = await client.get(CONTRACTS, headers=access_headers(user), params=params)
            assert response.status_code == 200, response.text
            return {c["id"] for c in response.json()["items"]}

        assert await ids(org.rep) == {mine["id"], str(mine_signed.id)}
        assert await ids(org.rep, status="signed") == {str(mine_signed.id)}
        assert await ids(org.rep, customer_id=str(lead.id)) == {mine["id"]}
        assert await ids(org.rep, customer_id=str(theirs_customer.id)) == set()
        assert await ids(org.manager) == {mine["id"], str(mine_signed.id)}
        assert await ids(org.finance) >= {mine["id"], str(mine_signed.id), theirs["id"]}
        assert await ids(org.other_manager) == {theirs["id"]}

        assert (await get_contract(client, org.manager, mine["id"]))["id"] == mine["id"]
        for user, contract_id in (
            (org.rep, theirs["id"]),
            (org.other_manager, mine["id"]),
            (org.rep, str(uuid.uuid4())),
        ):
            response = await client.get(contract_url(contract_id), headers=access_headers(user))
            assert_problem(response, 404, "not_found")

    async def test_invalid_status_filter(self, client, org):
        response = await client.get(CONTRACTS, headers=access_headers(org.rep), params={"status": "x"})
        assert_problem(response, 422, "validation_error")


class TestUpdateContract:
    async def test_anonymous(self, client):
        assert_problem(await client.patch(contract_url(uuid.uuid4()), json={}), 401, "unauthorized")

    async def test_patch_a_draft_with_if_match(self, client, org, lead):
        contract = await draft(client, org.rep, lead)
        response = await client.patch(
            contract_url(contract["id"]),
            headers={**access_headers(org.rep), "If-Match": '"1"'},
            json={"amount": "99000.50", "payment_terms_days": 15},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["amount"] == "99000.50"
        assert body["payment_terms_days"] == 15
        assert body["version"] == 2
        assert response.headers["ETag"] == '"2"'

        stale = await client.patch(
            contract_url(contract["id"]),
            headers={**access_headers(org.rep), "If-Match": '"1"'},
            json={"amount": "1.00"},
        )
        assert_problem(stale, 412, "conflict.version_mismatch")
        assert (await get_contract(client, org.rep, contract["id"]))["amount"] == "99000.50"

    async def test_patch_a_signed_contract(self, client, org, intent):
        contract = await draft(client, org.rep, intent)
        await api_sign_contract(client, org.rep, contract["id"])
        response = await client.patch(
            contract_url(contract["id"]), headers=access_headers(org.rep), json={"amount": "1.00"}
        )
        assert_problem(response, 409, "contract.not_draft")

    async def test_number_taken(self, client, org, lead):
        await draft(client, org.rep, lead, number="N-1")
        second = await draft(client, org.rep, lead, number="N-2")
        response = await client.patch(
            contract_url(second["id"]), headers=access_headers(org.rep), json={"number": "N-1"}
        )
        assert_problem(response, 409, "contract.number_taken")
        same = await client.patch(
            contract_url(second["id"]), headers=access_headers(org.rep), json={"number": "N-2"}
        )
        assert same.status_code == 200, same.text

    async def test_roles_and_scope(self, client, org, lead):
        contract = await draft(client, org.rep, lead)
        forbidden = await client.patch(
            contract_url(contract["id"]), headers=access_headers(org.support), json={"amount": "1.00"}
        )
        assert_problem(forbidden, 403, "forbidden")
        hidden = await client.patch(
            contract_url(contract["id"]), headers=access_headers(org.other_rep), json={"amount": "1.00"}
        )
        assert_problem(hidden, 404, "not_found")

    async def test_null_amount(self, client, org, lead):
        contract = await draft(client, org.rep, lead)
        response = await client.patch(
            contract_url(contract["id"]), headers=access_headers(org.rep), json={"amount": None}
        )
        assert_problem(response, 422, "validation_error")


class TestSignContract:
    async def test_anonymous(self, client):
        assert_problem(await client.post(contract_url(uuid.uuid4(), "sign"), json={}), 401, "unauthorized")

    async def test_roles_and_scope(self, client, org, intent):
        contract = await draft(client, org.rep, intent)
        for role in ("support", "admin"):
            assert_problem(await sign(client, getattr(org, role), contract["id"]), 403, "forbidden")
        assert_problem(await sign(client, org.other_rep, contract["id"]), 404, "not_found")
        assert_problem(await sign(client, org.other_manager, contract["id"]), 404, "not_found")
        assert_problem(await sign(client, org.rep, uuid.uuid4()), 404, "not_found")

    async def test_zero_limit_blocks_with_the_exact_shortfall(self, client, org, lead):
        contract = await draft(client, org.rep, lead)
        body = assert_problem(await sign(client, org.rep, contract["id"]), 409, "credit.limit_exceeded")
        assert (body["limit"], body["exposure"], body["available"], body["shortfall"]) == (
            "0.00",
            "0.00",
            "0.00",
            "120000.00",
        )
        assert (await get_contract(client, org.rep, contract["id"]))["status"] == "draft"
        assert (await get_customer(client, org.rep, lead))["stage"] == "lead"

    async def test_amount_equal_to_available_passes_and_a_cent_more_fails(
        self, client, org, uow_factory, lead
    ):
        await set_credit_limit(uow_factory, lead.id, "120000.00")
        over = await draft(client, org.rep, lead, amount="120000.01")
        body = assert_problem(await sign(client, org.rep, over["id"]), 409, "credit.limit_exceeded")
        assert (body["limit"], body["exposure"], body["available"], body["shortfall"]) == (
            "120000.00",
            "0.00",
            "120000.00",
            "0.01",
        )
        exact = await draft(client, org.rep, lead, amount="120000.00")
        signed = await api_sign_contract(client, org.rep, exact["id"])
        assert signed["status"] == "signed"
        assert signed["override_reason"] is None
        # The credit is used up now: even a cent more is refused.
        cent = await draft(client, org.rep, lead, amount="0.01")
        body = assert_problem(await sign(client, org.rep, cent["id"]), 409, "credit.limit_exceeded")
        assert (body["exposure"], body["available"], body["shortfall"]) == ("120000.00", "0.00", "0.01")

    async def test_exposure_counts_open_receivables_and_signed_unbilled_contracts(
        self, client, org, uow_factory, intent
    ):
        fin = org.finance
        # A: 50,000 signed, billed 20,000 of which 5,000 paid → 15,000 open + 30,000 unbilled.
        a = await draft(client, fin, intent, amount="50000.00")
        await api_sign_contract(client, fin, a["id"])
        await api_bill(client, fin, a["id"], "20000.00")
        await api_pay(client, fin, intent.id, "5000.00")
        # B: 10,000 signed, not billed → 10,000 unbilled.
        b = await draft(client, fin, intent, amount="10000.00")
        await api_sign_contract(client, fin, b["id"])
        # Not exposure: a cancelled signed contract, a fully written-off one, drafts.
        e = await draft(client, fin, intent, amount="7000.00")
        await api_sign_contract(client, fin, e["id"])
        assert (
            await client.post(
                contract_url(e["id"], "cancel"),
                headers=access_headers(fin),
                json={"reason": "customer withdrew"},
            )
        ).status_code == 200
        f = await draft(client, fin, intent, amount="8000.00")
        await api_sign_contract(client, fin, f["id"])
        bad = await api_bill(client, fin, f["id"], "8000.00")
        written_off = await client.post(
            f"/api/v1/receivables/{bad['id']}/write-off",
            headers=access_headers(fin),
            json={"reason": "insolvent"},
        )
        assert written_off.status_code == 200, written_off.text
        await draft(client, fin, intent, amount="99999.00")

        await set_credit_limit(uow_factory, intent.id, "100000.00")
        # 15,000 + 30,000 + 10,000 = 55,000 exposure; 45,000 available.
        c = await draft(client, org.rep, intent, amount="45000.01")
        body = assert_problem(await sign(client, org.rep, c["id"]), 409, "credit.limit_exceeded")
        assert (body["limit"], body["exposure"], body["available"], body["shortfall"]) == (
            "100000.00",
            "55000.00",
            "45000.00",
            "0.01",
        )
        patched = await client.patch(
            contract_url(c["id"]), headers=access_headers(org.rep), json={"amount": "45000.00"}
        )
        assert patched.status_code == 200, patched.text
        assert (await api_sign_contract(client, org.rep, c["id"]))["status"] == "signed"

    async def _with_overdue(self, client, org, uow_factory, customer, days: int) -> None:
        contract = await make_contract(uow_factory, customer=customer, amount="1000.00", status="signed")
        now = utcnow()
        await api_bill(
            client,
            org.finance,
            contract.id,
            "1000.00",
            issued_at=now - dt.timedelta(days=days + 30),
            due_at=now - dt.timedelta(days=days),
        )

    async def test_receivable_overdue_61_days_puts_the_customer_on_hold(
        self, client, org, uow_factory, intent
    ):
        await self._with_overdue(client, org, uow_factory, intent, days=61)
        contract = await draft(client, org.rep, intent, amount="10.00")
        body = assert_problem(await sign(client, org.rep, contract["id"]), 409, "credit.on_hold")
        assert body["max_days_overdue"] == 61
        assert body["hold_after_overdue_days"] == 60
        assert body["manual_hold"] is False

    async def test_receivable_overdue_60_days_is_not_a_hold(self, client, org, uow_factory, intent):
        await self._with_overdue(client, org, uow_factory, intent, days=60)
        contract = await draft(client, org.rep, intent, amount="10.00")
        assert (await api_sign_contract(client, org.rep, contract["id"]))["status"] == "signed"

    async def test_manual_hold(self, client, org, uow_factory, intent):
        await set_credit_profile(uow_factory, intent.id, on_hold=True)
        contract = await draft(client, org.rep, intent, amount="10.00")
        body = assert_problem(await sign(client, org.rep, contract["id"]), 409, "credit.on_hold")
        assert body["manual_hold"] is True

    @pytest.mark.parametrize(("role", "amount"), [("finance", "1000000.00"), ("director", "5000000.00")])
    async def test_finance_and_director_override_within_their_ceiling(
        self, client, org, uow_factory, lead, role, amount
    ):
        await set_credit_profile(uow_factory, lead.id, on_hold=True)
        user = getattr(org, role)
        contract = await draft(client, org.rep, lead, amount=amount)
        signed = await api_sign_contract(
            client, user, contract["id"], override={"reason": "  strategic account  "}
        )
        assert signed["status"] == "signed"
        assert signed["override_reason"] == "strategic account"
        assert signed["override_by"] == str(user.id)
        assert signed["signed_by"] == str(user.id)
        [entry] = await history(client, org.director, lead, "contract_sign")
        assert entry["entity_id"] == contract["id"]
        assert entry["actor_id"] == str(user.id)
        assert entry["changes"]["status"] == ["draft", "signed"]
        assert entry["changes"]["override"] == [
            None,
            {"reason": "strategic account", "lifted": ["credit.on_hold", "credit.limit_exceeded"]},
        ]

    async def test_finance_cannot_override_past_finance_limit_max(self, client, org, lead):
        contract = await draft(client, org.rep, lead, amount="1000000.01")
        response = await sign(client, org.finance, contract["id"], override={"reason": "big deal"})
        body = assert_problem(response, 403, "credit.override_not_allowed")
        assert (body["exposure_after"], body["override_ceiling"]) == ("1000000.01", "1000000.00")

    async def test_manager_ceiling_is_on_the_exposure_after_signing(self, client, org, uow_factory, lead):
        # A fully used 5M limit: the shortfall is only 100k, the exposure after 5.1M.
        await set_credit_limit(uow_factory, lead.id, "5000000.00")
        used = await draft(client, org.rep, lead, amount="5000000.00")
        await api_sign_contract(client, org.rep, used["id"])
        more = await draft(client, org.rep, lead, amount="100000.00")
        response = await sign(client, org.manager, more["id"], override={"reason": "known payer"})
        body = assert_problem(response, 403, "credit.override_not_allowed")
        assert (body["shortfall"], body["exposure_after"]) == ("100000.00", "5100000.00")

    async def test_manager_overrides_within_the_threshold(self, client, org, lead):
        # Limit 0: the shortfall is the whole amount; manager_limit_max is 100,000.
        within = await draft(client, org.rep, lead, amount="100000.00")
        signed = await api_sign_contract(
            client, org.manager, within["id"], override={"reason": "known payer"}
        )
        assert signed["override_by"] == str(org.manager.id)
        [entry] = await history(client, org.manager, lead, "contract_sign")
        assert entry["changes"]["override"] == [
            None,
            {"reason": "known payer", "lifted": ["credit.limit_exceeded"]},
        ]

    async def test_manager_cannot_override_a_cent_past_the_threshold(self, client, org, lead):
        over = await draft(client, org.rep, lead, amount="100000.01")
        response = await sign(client, org.manager, over["id"], override={"reason": "known payer"})
        body = assert_problem(response, 403, "credit.override_not_allowed")
        assert body["shortfall"] == "100000.01"
        assert body["manager_limit_max"] == "100000.00"
        assert (await get_contract(client, org.rep, over["id"]))["status"] == "draft"

    async def test_manager_hold_override_is_bounded_by_the_amount(self, client, org, uow_factory, intent):
        await set_credit_profile(uow_factory, intent.id, on_hold=True)
        small = await draft(client, org.rep, intent, amount="100000.00")
        await api_sign_contract(client, org.manager, small["id"], override={"reason": "cleared by phone"})
        large = await draft(client, org.rep, intent, amount="100000.01")
        response = await sign(client, org.manager, large["id"], override={"reason": "cleared by phone"})
        assert_problem(response, 403, "credit.override_not_allowed")

    async def test_rep_cannot_override(self, client, org, lead):
        contract = await draft(client, org.rep, lead, amount="10.00")
        response = await sign(client, org.rep, contract["id"], override={"reason": "please"})
        assert_problem(response, 403, "credit.override_not_allowed")

    @pytest.mark.parametrize("override", [{"reason": "   "}, {"reason": ""}, {}])
    async def test_override_needs_a_reason(self, client, org, lead, override):
        contract = await draft(client, org.rep, lead, amount="10.00")
        response = await sign(client, org.finance, contract["id"], override=override)
        assert_problem(response, 422, "validation_error")
        assert (await get_contract(client, org.rep, contract["id"]))["status"] == "draft"

    async def test_unneeded_override_is_not_recorded(self, client, org, intent):
        contract = await draft(client, org.rep, intent, amount="10.00")
        signed = await api_sign_contract(client, org.finance, contract["id"], override={"reason": "x"})
        assert signed["override_reason"] is None and signed["override_by"] is None
        [entry] = await history(client, org.finance, intent, "contract_sign")
        assert "override" not in entry["changes"]

    async def test_future_signed_at_is_refused(self, client, org, intent):
        contract = await draft(client, org.rep, intent, amount="10.00")
        future = (utcnow() + dt.timedelta(hours=1)).isoformat()
        body = assert_problem(await sign(client, org.rep, contract["id"], signed_at=future), 422)
        assert ["body", "signed_at"] in [e["loc"] for e in body["errors"]]
        assert (await get_contract(client, org.rep, contract["id"]))["status"] == "draft"

    async def test_past_signed_at_is_kept(self, client, org, intent):
        contract = await draft(client, org.rep, intent, amount="10.00")
        past = dt.datetime(2025, 3, 1, 8, 30, tzinfo=dt.UTC)
        signed = await api_sign_contract(client, org.rep, contract["id"], signed_at=past.isoformat())
        assert dt.datetime.fromisoformat(signed["signed_at"]) == past
        assert (
            dt.datetime.fromisoformat((await get_contract(client, org.rep, contract["id"]))["signed_at"])
            == past
        )

    async def test_naive_signed_at_is_refused(self, client, org, intent):
        contract = await draft(client, org.rep, intent, amount="10.00")
        response = await sign(client, org.rep, contract["id"], signed_at="2025-03-01T08:30:00")
        assert_problem(response, 422, "validation_error")

    async def test_signing_a_lead_skips_intent_and_is_out_of_funnel(self, client, org, uow_factory, lead):
        await set_credit_limit(uow_factory, lead.id, BIG)
        contract = await draft(client, org.rep, lead)
        signed = await api_sign_contract(client, org.rep, contract["id"])
        assert signed["signed_by"] == str(org.rep.id)
        customer = await get_customer(client, org.rep, lead)
        assert customer["stage"] == "signed"
        assert customer["out_of_funnel"] is True
        last = (await transitions(client, org.rep, lead))[-1]
        assert (last["from_stage"], last["to_stage"], last["kind"]) == ("lead", "signed", "forward")
        assert last["skipped"] == ["intent"]
        assert last["out_of_funnel"] is True
        assert last["actor_id"] == str(org.rep.id)

    async def test_signing_from_intent_skips_nothing(self, client, org, intent):
        contract = await draft(client, org.rep, intent)
        await api_sign_contract(client, org.rep, contract["id"])
        customer = await get_customer(client, org.rep, intent)
        assert customer["stage"] == "signed"
        assert customer["out_of_funnel"] is False
        moves = await transitions(client, org.rep, intent)
        assert [(m["from_stage"], m["to_stage"]) for m in moves] == [(None, "intent"), ("intent", "signed")]
        assert moves[-1]["skipped"] == [] and moves[-1]["out_of_funnel"] is False
        [entry] = await history(client, org.rep, intent, "contract_sign")
        assert entry["changes"]["amount"] == [None, "120000.00"]

    async def test_a_second_signing_does_not_move_the_customer_again(self, client, org, intent):
        first = await draft(client, org.rep, intent)
        second = await draft(client, org.rep, intent)
        await api_sign_contract(client, org.rep, first["id"])
        await api_sign_contract(client, org.rep, second["id"])
        moves = await transitions(client, org.rep, intent)
        assert [m["to_stage"] for m in moves] == ["intent", "signed"]
        assert len(await history(client, org.rep, intent, "contract_sign")) == 2

    async def test_signing_a_signed_contract(self, client, org, intent):
        contract = await draft(client, org.rep, intent)
        await api_sign_contract(client, org.rep, contract["id"])
        assert_problem(await sign(client, org.rep, contract["id"]), 409, "contract.not_draft")

    async def test_signing_for_a_customer_abandoned_after_the_draft(self, client, org, uow_factory, intent):
        contract = await draft(client, org.rep, intent, amount="10.00")
        await update_customer_row(uow_factory, intent.id, stage="abandoned", owner_id=None, team_id=None)
        response = await sign(client, org.finance, contract["id"])
        assert_problem(response, 409, "contract.customer_abandoned")


class TestCancelContract:
    async def cancel(self, client, user, contract_id, reason="customer withdrew"):
        return await client.post(
            contract_url(contract_id, "cancel"), headers=access_headers(user), json={"reason": reason}
        )

    async def test_anonymous(self, client):
        response = await client.post(contract_url(uuid.uuid4(), "cancel"), json={"reason": "x"})
        assert_problem(response, 401, "unauthorized")

    async def test_roles_and_scope(self, client, org, lead):
        contract = await draft(client, org.rep, lead)
        assert_problem(await self.cancel(client, org.support, contract["id"]), 403, "forbidden")
        assert_problem(await self.cancel(client, org.other_rep, contract["id"]), 404, "not_found")

    @pytest.mark.parametrize("reason", ["", "   "])
    async def test_reason_required(self, client, org, lead, reason):
        contract = await draft(client, org.rep, lead)
        assert_problem(await self.cancel(client, org.rep, contract["id"], reason), 422, "validation_error")

    async def test_cancel_a_draft(self, client, org, lead):
        contract = await draft(client, org.rep, lead)
        response = await self.cancel(client, org.rep, contract["id"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "cancelled"
        assert body["cancel_reason"] == "customer withdrew"
        assert body["cancelled_at"] is not None
        assert (await get_customer(client, org.rep, lead))["stage"] == "lead"
        again = await self.cancel(client, org.rep, contract["id"])
        assert_problem(again, 409, "contract.not_cancellable")

    async def test_cancel_the_only_signed_contract_steps_back_to_intent(self, client, org, intent):
        contract = await draft(client, org.rep, intent)
        await api_sign_contract(client, org.rep, contract["id"])
        response = await self.cancel(client, org.rep, contract["id"], "budget cut")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "cancelled"
        assert (await get_customer(client, org.rep, intent))["stage"] == "intent"
        last = (await transitions(client, org.rep, intent))[-1]
        assert (last["from_stage"], last["to_stage"]) == ("signed", "intent")
        assert last["reason"] == "contract_cancelled"
        assert last["note"] == "budget cut"
        [entry] = await history(client, org.rep, intent, "contract_cancel")
        assert entry["changes"]["status"] == ["signed", "cancelled"]
        assert_problem(await self.cancel(client, org.rep, contract["id"]), 409, "contract.not_cancellable")

    async def test_cancel_frees_the_credit(self, client, org, uow_factory, intent):
        await set_credit_limit(uow_factory, intent.id, "1000.00")
        first = await draft(client, org.rep, intent, amount="1000.00")
        await api_sign_contract(client, org.rep, first["id"])
        second = await draft(client, org.rep, intent, amount="1000.00")
        assert_problem(await sign(client, org.rep, second["id"]), 409, "credit.limit_exceeded")
        assert (await self.cancel(client, org.rep, first["id"])).status_code == 200
        assert (await api_sign_contract(client, org.rep, second["id"]))["status"] == "signed"

    async def test_stays_signed_while_another_contract_is_signed(self, client, org, intent):
        first = await draft(client, org.rep, intent)
        second = await draft(client, org.rep, intent)
        await api_sign_contract(client, org.rep, first["id"])
        await api_sign_contract(client, org.rep, second["id"])
        assert (await self.cancel(client, org.rep, first["id"])).status_code == 200
        assert (await get_customer(client, org.rep, intent))["stage"] == "signed"
        assert [m["to_stage"] for m in await transitions(client, org.rep, intent)] == ["intent", "signed"]

    async def test_billed_contract_cannot_be_cancelled(self, client, org, intent):
        contract = await draft(client, org.rep, intent)
        await api_sign_contract(client, org.rep, contract["id"])
        await api_bill(client, org.finance, contract["id"], "1.00")
        response = await self.cancel(client, org.finance, contract["id"])
        assert_problem(response, 409, "contract.has_receivables")
        assert (await get_contract(client, org.rep, contract["id"]))["status"] == "signed"

    async def test_completed_contract_cannot_be_cancelled(self, client, org, uow_factory, intent):
        contract = await make_contract(uow_factory, customer=intent, amount="5.00", status="completed")
        response = await self.cancel(client, org.finance, contract.id)
        assert_problem(response, 409, "contract.not_cancellable")


class TestAcceptAndComplete:
    async def accept(self, client, user, contract_id):
        return await client.post(contract_url(contract_id, "accept"), headers=access_headers(user))

    async def signed_contract(self, client, org, customer, amount="120000.00") -> dict:
        contract = await draft(client, org.rep, customer, amount=amount)
        return await api_sign_contract(client, org.rep, contract["id"])

    async def test_anonymous(self, client):
        assert_problem(await client.post(contract_url(uuid.uuid4(), "accept")), 401, "unauthorized")

    async def test_roles_and_scope(self, client, org, intent):
        contract = await self.signed_contract(client, org, intent)
        assert_problem(await self.accept(client, org.admin, contract["id"]), 403, "forbidden")
        assert_problem(await self.accept(client, org.other_rep, contract["id"]), 404, "not_found")

    async def test_accept_a_draft(self, client, org, intent):
        contract = await draft(client, org.rep, intent)
        assert_problem(await self.accept(client, org.rep, contract["id"]), 409, "contract.not_signed")

    async def test_accept_before_full_payment(self, client, org, intent):
        contract = await self.signed_contract(client, org, intent)
        await api_bill(client, org.finance, contract["id"], "120000.00")
        await api_pay(client, org.finance, intent.id, "119999.99")
        response = await self.accept(client, org.rep, contract["id"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["accepted_at"] is not None
        assert body["status"] == "signed" and body["completed_at"] is None
        assert (await get_customer(client, org.rep, intent))["stage"] == "signed"
        # Accepting again changes nothing.
        again = await self.accept(client, org.rep, contract["id"])
        assert again.status_code == 200
        assert again.json()["accepted_at"] == body["accepted_at"]
        assert len(await history(client, org.rep, intent, "contract_accept")) == 1

        # The last cent completes the contract and implements the customer.
        await api_pay(client, org.finance, intent.id, "0.01")
        done = await get_contract(client, org.rep, contract["id"])
        assert done["status"] == "completed" and done["completed_at"] is not None
        assert (await get_customer(client, org.rep, intent))["stage"] == "implemented"
        last = (await transitions(client, org.rep, intent))[-1]
        assert (last["from_stage"], last["to_stage"], last["kind"]) == ("signed", "implemented", "forward")
        assert last["actor_id"] == str(org.finance.id)
        assert_problem(await self.accept(client, org.rep, contract["id"]), 409, "contract.not_signed")

    async def test_instalments_complete_on_the_last_payment(self, client, org, intent):
        contract = await self.signed_contract(client, org, intent, amount="300.00")
        await self.accept(client, org.support, contract["id"])
        for _ in range(3):
            await api_bill(client, org.finance, contract["id"], "100.00")
        await api_pay(client, org.finance, intent.id, "200.00")
        assert (await get_contract(client, org.rep, contract["id"]))["status"] == "signed"
        await api_pay(client, org.finance, intent.id, "100.00")
        assert (await get_contract(client, org.rep, contract["id"]))["status"] == "completed"
        assert (await get_customer(client, org.rep, intent))["stage"] == "implemented"

    async def test_fully_paid_but_not_fully_billed_does_not_complete(self, client, org, intent):
        contract = await self.signed_contract(client, org, intent, amount="300.00")
        await self.accept(client, org.rep, contract["id"])
        await api_bill(client, org.finance, contract["id"], "200.00")
        await api_pay(client, org.finance, intent.id, "200.00")
        assert (await get_contract(client, org.rep, contract["id"]))["status"] == "signed"
        assert (await get_customer(client, org.rep, intent))["stage"] == "signed"

    async def test_payment_first_then_acceptance_completes(self, client, org, intent):
        contract = await self.signed_contract(client, org, intent)
        await api_bill(client, org.finance, contract["id"], "120000.00")
        await api_pay(client, org.finance, intent.id, "120000.00")
        assert (await get_contract(client, org.rep, contract["id"]))["status"] == "signed"
        assert (await get_customer(client, org.rep, intent))["stage"] == "signed"
        response = await self.accept(client, org.rep, contract["id"])
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "completed"
        assert (await get_customer(client, org.rep, intent))["stage"] == "implemented"
        last = (await transitions(client, org.rep, intent))[-1]
        assert (last["from_stage"], last["to_stage"]) == ("signed", "implemented")
        assert last["actor_id"] == str(org.rep.id)


class TestFunnelEntryFromContracts:
    async def move(self, client, user, customer, to_stage):
        return await client.post(
            f"{CUSTOMERS}/{customer.id}/transitions",
            headers=access_headers(user),
            json={"to_stage": to_stage},
        )

    async def test_implemented_needs_payment_and_acceptance(self, client, org, uow_factory, intent):
        contract = await draft(client, org.rep, intent, amount="100.00")
        await api_sign_contract(client, org.rep, contract["id"])
        body = assert_problem(
            await self.move(client, org.rep, intent, "implemented"), 422, "funnel.requirement_unmet"
        )
        assert set(body["missing"]) == {"contract_fully_paid", "acceptance"}

        await client.post(contract_url(contract["id"], "accept"), headers=access_headers(org.rep))
        body = assert_problem(
            await self.move(client, org.rep, intent, "implemented"), 422, "funnel.requirement_unmet"
        )
        assert "contract_fully_paid" in body["missing"]

        await api_bill(client, org.finance, contract["id"], "100.00")
        await api_pay(client, org.finance, intent.id, "100.00")
        assert (await get_customer(client, org.rep, intent))["stage"] == "implemented"
        # Once paid and accepted the move itself is allowed (here: a customer put back
        # into `signed` by hand, as a migration might leave it).
        await update_customer_row(uow_factory, intent.id, stage="signed")
        response = await self.move(client, org.rep, intent, "implemented")
        assert response.status_code == 200, response.text
        assert response.json()["stage"] == "implemented"

    async def test_accepted_but_unpaid_names_only_the_payment(self, client, org, intent):
        contract = await draft(client, org.rep, intent, amount="100.00")
        await api_sign_contract(client, org.rep, contract["id"])
        accepted = await client.post(contract_url(contract["id"], "accept"), headers=access_headers(org.rep))
        assert accepted.status_code == 200, accepted.text
        body = assert_problem(
            await self.move(client, org.rep, intent, "implemented"), 422, "funnel.requirement_unmet"
        )
        assert body["missing"] == ["contract_fully_paid"]

    async def test_paid_but_not_accepted(self, client, org, intent):
        contract = await draft(client, org.rep, intent, amount="100.00")
        await api_sign_contract(client, org.rep, contract["id"])
        await api_bill(client, org.finance, contract["id"], "100.00")
        await api_pay(client, org.finance, intent.id, "100.00")
        body = assert_problem(
            await self.move(client, org.rep, intent, "implemented"), 422, "funnel.requirement_unmet"
        )
        assert body["missing"] == ["acceptance"]

    async def test_signed_needs_a_signed_contract(self, client, org, uow_factory, intent):
        body = assert_problem(
            await self.move(client, org.rep, intent, "signed"), 422, "funnel.requirement_unmet"
        )
        assert body["missing"] == ["signed_contract"]
        await make_contract(uow_factory, customer=intent, amount="10.00", status="draft")
        body = assert_problem(
            await self.move(client, org.rep, intent, "signed"), 422, "funnel.requirement_unmet"
        )
        assert body["missing"] == ["signed_contract"]

        await make_contract(uow_factory, customer=intent, amount="10.00", status="signed")
        response = await self.move(client, org.rep, intent, "signed")
        assert response.status_code == 200, response.text
        assert response.json()["stage"] == "signed"

    async def test_signed_back_to_intent_only_after_cancellation(self, client, org, intent):
        contract = await draft(client, org.rep, intent, amount="10.00")
        await api_sign_contract(client, org.rep, contract["id"])
        response = await client.post(
            f"{CUSTOMERS}/{intent.id}/transitions",
            headers=access_headers(org.rep),
            json={"to_stage": "intent", "reason": "other"},
        )
        assert_problem(response, 409, "funnel.invalid_transition")


@pytest.mark.parametrize(
    ("amounts", "total", "limit"),
    [
        (("0.10", "0.20"), "0.30", "1.30"),
        (("33333.33", "33333.33", "33333.34"), "100000.00", "100001.00"),
    ],
)
async def test_exposure_sums_are_exact(client, org, uow_factory, intent, amounts, total, limit):
    """Open receivables add up in SQL without float drift on either database."""
    contract = await make_contract(uow_factory, customer=intent, amount=total, status="signed")
    for amount in amounts:
        await api_bill(client, org.finance, contract.id, amount)
    await set_credit_limit(uow_factory, intent.id, limit)
    probe = await draft(client, org.rep, intent, amount="1.01")
    body = assert_problem(await sign(client, org.rep, probe["id"]), 409, "credit.limit_exceeded")
    assert (body["limit"], body["exposure"], body["available"], body["shortfall"]) == (
        limit,
        total,
        "1.00",
        "0.01",
    )

"""GET|PATCH /customers/{id}/credit (SPEC §6): exposure, available credit, hold, warnings and
the suggested limit from hand-computed figures; terms and manual hold by finance."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import update

from app.db.base import utcnow
from app.db.models import Receivable
from app.services.credit import _billing_window_start
from tests.support.builders import (
    access_headers,
    assert_problem,
    make_contract,
    make_customer,
    make_receivable,
    make_sales_org,
    set_credit_limit,
    set_credit_profile,
)
from tests.support.credit_data import make_payment, write_off


def credit_url(customer_id) -> str:
    return f"/api/v1/customers/{customer_id}/credit"


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


@pytest.fixture
async def customer(uow_factory, org):
    return await make_customer(uow_factory, name="View Co", owner=org.rep, stage="signed")


async def get_credit(client, customer_id, user) -> dict:
    response = await client.get(credit_url(customer_id), headers=access_headers(user))
    assert response.status_code == 200, response.text
    return response.json()


def codes(view) -> list[str]:
    return [w["code"] for w in view["warnings"]]


async def owe(uow_factory, customer, amount, *, days_overdue=None, due_at=None):
    """An open receivable on a signed contract of the same amount (nothing left unbilled)."""
    now = utcnow()
    contract = await make_contract(uow_factory, customer=customer, amount=amount, status="signed")
    if due_at is None:
        due_at = (
            now + dt.timedelta(days=10)
            if days_overdue is None
            else (now - dt.timedelta(days=days_overdue, hours=1))
        )
    return await make_receivable(
        uow_factory,
        contract=contract,
        amount=amount,
        due_at=due_at,
        issued_at=min(now, due_at) - dt.timedelta(days=1),
    )


class TestGetCredit:
    async def test_anonymous(self, client, customer):
        assert_problem(await client.get(credit_url(customer.id)), 401, "unauthorized")

    async def test_defaults_without_a_profile(self, client, org, customer):
        response = await client.get(credit_url(customer.id), headers=access_headers(org.rep))
        assert response.status_code == 200, response.text
        assert response.headers["ETag"] == '"0"'
        view = response.json()
        suggestion = view.pop("suggested_limit")
        assert view == {
            "customer_id": str(customer.id),
            "credit_limit": "0.00",
            "exposure": "0.00",
            "available": "0.00",
            "on_hold": False,
            "manual_hold": False,
            "hold_reason": None,
            "payment_terms_days": 30,
            "open_receivables": "0.00",
            "signed_unbilled": "0.00",
            "overdue_count": 0,
            "max_days_overdue": 0,
            "credit_balance": "0.00",
            "warnings": [],
            "version": 0,
        }
        assert suggestion["amount"] == "0.00"
        assert suggestion["repayment_rate"] is None
        assert suggestion["reasoning"][-1] == "no billing history: suggested limit 0.00"

    async def test_exposure_and_available(self, client, uow_factory, org, customer):
        await set_credit_limit(uow_factory, customer.id, "100000.00")
        now = utcnow()
        signed = await make_contract(uow_factory, customer=customer, amount="50000.00", status="signed")
        billed = await make_receivable(
            uow_factory,
            contract=signed,
            amount="20000.00",
            issued_at=now - dt.timedelta(days=10),
            due_at=now + dt.timedelta(days=20),
        )
        # Neither a draft nor a cancelled contract is exposure; a paid one is not either.
        await make_contract(uow_factory, customer=customer, amount="70000.00")
        await make_contract(uow_factory, customer=customer, amount="40000.00", status="cancelled")
        done = await make_contract(uow_factory, customer=customer, amount="10000.00", status="completed")
        settled = await make_receivable(
            uow_factory, contract=done, amount="10000.00", due_at=now - dt.timedelta(days=5)
        )
        # Fully billed and written off: neither open nor unbilled.
        lost = await owe(uow_factory, customer, "8000.00", days_overdue=200)
        await write_off(uow_factory, lost, at=now - dt.timedelta(days=1))
        # 5000 to the open receivable and 10000 settling the other; 1000 left as credit.
        await make_payment(
            uow_factory,
            customer=customer,
            amount="16000.00",
            received_at=now - dt.timedelta(days=1),
            allocations=[(billed, "5000.00"), (settled, "10000.00")],
        )

        view = await get_credit(client, customer.id, org.rep)
        assert view["open_receivables"] == "15000.00"
        assert view["signed_unbilled"] == "30000.00"
        # The 1000 credit balance is deducted (SPEC §6): 15000 + 30000 − 1000.
        assert view["exposure"] == "44000.00"
        assert view["available"] == "56000.00"
        assert view["credit_balance"] == "1000.00"
        assert view["overdue_count"] == 0
        assert view["max_days_overdue"] == 0
        assert view["on_hold"] is False
        assert view["warnings"] == []

    async def test_over_the_limit_available_is_negative(self, client, uow_factory, org, customer):
        await set_credit_limit(uow_factory, customer.id, "1000.00")
        await make_contract(uow_factory, customer=customer, amount="1500.00", status="signed")
        view = await get_credit(client, customer.id, org.finance)
        assert (view["exposure"], view["available"]) == ("1500.00", "-500.00")
        assert codes(view) == ["credit.exposure_high"]
        assert "150%" in view["warnings"][0]["message"]

    @pytest.mark.parametrize(("exposure", "warned"), [("80000.00", True), ("79999.99", False)])
    async def test_warning_at_exactly_the_warn_ratio(
        self, client, uow_factory, org, customer, exposure, warned
    ):
        await set_credit_limit(uow_factory, customer.id, "100000.00")
        await make_contract(uow_factory, customer=customer, amount=exposure, status="signed")
        view = await get_credit(client, customer.id, org.manager)
        assert view["exposure"] == exposure
        assert codes(view) == (["credit.exposure_high"] if warned else [])
        if warned:
            assert view["warnings"][0]["message"] == ("Exposure 80000.00 is 80% of the limit 100000.00.")

    async def test_no_exposure_warning_on_a_zero_limit(self, client, uow_factory, org, customer):
        await make_contract(uow_factory, customer=customer, amount="10.00", status="signed")
        view = await get_credit(client, customer.id, org.rep)
        assert view["available"] == "-10.00"
        assert view["warnings"] == []

    async def test_overdue_61_days_is_on_hold(self, client, uow_factory, org, customer):
        await set_credit_limit(uow_factory, customer.id, "1000000.00")
        await owe(uow_factory, customer, "3000.00", days_overdue=61)
        await owe(uow_factory, customer, "2000.00", days_overdue=5)
        await owe(uow_factory, customer, "1000.00")  # not yet due
        view = await get_credit(client, customer.id, org.rep)
        assert view["on_hold"] is True
        assert view["manual_hold"] is False
        assert view["max_days_overdue"] == 61
        assert view["overdue_count"] == 2
        assert view["open_receivables"] == "6000.00"
        assert view["hold_reason"] == "a receivable is 61 days overdue (hold after 60)"
        assert codes(view) == ["credit.on_hold", "credit.overdue"]
        assert view["warnings"][1]["message"] == "2 receivable(s) overdue; oldest 61 days past due."

    async def test_overdue_60_days_is_not_yet_on_hold(self, client, uow_factory, org, customer):
        await set_credit_limit(uow_factory, customer.id, "1000000.00")
        await owe(uow_factory, customer, "3000.00", days_overdue=60)
        view = await get_credit(client, customer.id, org.rep)
        assert view["on_hold"] is False
        assert view["hold_reason"] is None
        assert view["max_days_overdue"] == 60
        assert codes(view) == ["credit.overdue"]

    async def test_paid_or_written_off_receivables_do_not_hold(self, client, uow_factory, org, customer):
        paid = await owe(uow_factory, customer, "3000.00", days_overdue=100)
        await make_payment(
            uow_factory,
            customer=customer,
            amount="3000.00",
            received_at=utcnow(),
            allocations=[(paid, "3000.00")],
        )
        lost = await owe(uow_factory, customer, "4000.00", days_overdue=100)
        await write_off(uow_factory, lost, at=utcnow())
        view = await get_credit(client, customer.id, org.rep)
        assert (view["on_hold"], view["overdue_count"], view["warnings"]) == (False, 0, [])

    async def test_hold_days_follow_the_settings(self, client, org, uow_factory, customer):
        await owe(uow_factory, customer, "3000.00", days_overdue=61)
        headers = access_headers(org.director)
        settings = (await client.get("/api/v1/settings/credit", headers=headers)).json()
        settings.pop("version")
        response = await client.put(
            "/api/v1/settings/credit", headers=headers, json={**settings, "hold_after_overdue_days": 90}
        )
        assert response.status_code == 200, response.text
        view = await get_credit(client, customer.id, org.rep)
        assert view["on_hold"] is False

    async def test_scope_and_roles(self, client, uow_factory, org, customer):
        for user in (org.rep2, org.other_manager, org.other_rep):
            assert_problem(
                await client.get(credit_url(customer.id), headers=access_headers(user)), 404, "not_found"
            )
        assert_problem(
            await client.get(credit_url(uuid.uuid4()), headers=access_headers(org.finance)), 404, "not_found"
        )
        deleted = await make_customer(uow_factory, owner=org.rep, deleted=True)
        assert_problem(
            await client.get(credit_url(deleted.id), headers=access_headers(org.rep)), 404, "not_found"
        )
        for user in (org.admin, org.support):
            assert_problem(
                await client.get(credit_url(customer.id), headers=access_headers(user)), 403, "forbidden"
            )
        for user in (org.rep, org.manager, org.finance, org.director):
            await get_credit(client, customer.id, user)


class TestSuggestedLimit:
    async def _bill(self, uow_factory, customer, amount, issued_at, paid="0.00"):
        contract = await make_contract(uow_factory, customer=customer, amount=amount, status="signed")
        return await make_receivable(
            uow_factory,
            contract=contract,
            amount=amount,
            issued_at=issued_at,
            due_at=issued_at + dt.timedelta(days=30),
            paid_amount=paid,
        )

    async def _history(self, uow_factory, customer, *, paid_last: str) -> None:
        """120000 billed in the 12 calendar months (10000 a month on average); outside them,
        one large old receivable that must not count."""
        start = _billing_window_start(utcnow())
        await self._bill(uow_factory, customer, "50000.00", start + dt.timedelta(hours=1), paid="50000.00")
        await self._bill(uow_factory, customer, "40000.00", start + dt.timedelta(days=120), paid="10000.00")
        await self._bill(
            uow_factory,
            customer,
            "30000.00",
            max(start + dt.timedelta(minutes=1), utcnow() - dt.timedelta(hours=1)),
            paid=paid_last,
        )
        await self._bill(uow_factory, customer, "999999.00", start - dt.timedelta(seconds=1))

    async def test_grade_terms_and_average(self, client, uow_factory, org):
        customer = await make_customer(uow_factory, owner=org.rep, grade="A", stage="signed")
        await set_credit_profile(uow_factory, customer.id, payment_terms_days=60)
        await self._history(uow_factory, customer, paid_last="0.00")  # 60000 of 120000: 50%
        suggestion = (await get_credit(client, customer.id, org.rep))["suggested_limit"]
        assert suggestion["amount"] == "30000.00"  # 10000.00 × 60/30 × 1.5
        assert suggestion["grade"] == "A"
        assert suggestion["grade_factor"] == "1.5"
        assert suggestion["average_monthly_billed"] == "10000.00"
        assert suggestion["payment_terms_days"] == 60
        assert suggestion["repayment_rate"] == "0.5000"
        assert suggestion["reasoning"] == [
            "average monthly billed over 12 months: 10000.00",
            "repayment rate 50.00% meets the 50% minimum",
            "payment terms 60 days: × 60/30",
            "grade A: factor 1.5",
            "10000.00 × 60/30 × 1.5 = 30000.00",
        ]

    async def test_poor_payer_gets_zero(self, client, uow_factory, org):
        customer = await make_customer(uow_factory, owner=org.rep, grade="A", stage="signed")
        await self._history(uow_factory, customer, paid_last="0.00")
        # The 1.00 paid is moved off: 59999.00 of 120000 is under 50%.
        async with uow_factory() as uow:
            await uow.session.execute(
                update(Receivable)
                .where(Receivable.customer_id == customer.id, Receivable.amount == 50000)
                .values(paid_amount=49999)
            )
            await uow.commit()
        suggestion = (await get_credit(client, customer.id, org.rep))["suggested_limit"]
        assert suggestion["amount"] == "0.00"
        assert suggestion["reasoning"][-1] == ("repayment rate 49.99% is below 50%: suggested limit 0.00")

    async def test_ungraded_gets_the_lowest_factor(self, client, uow_factory, org):
        customer = await make_customer(uow_factory, owner=org.rep, stage="signed")
        await self._history(uow_factory, customer, paid_last="30000.00")
        suggestion = (await get_credit(client, customer.id, org.rep))["suggested_limit"]
        assert suggestion["grade"] is None
        assert suggestion["amount"] == "5000.00"  # 10000.00 × 30/30 × 0.5
        assert suggestion["repayment_rate"] == "0.7500"


class TestUpdateCredit:
    async def test_hold_terms_versions_and_history(self, client, org, customer):
        headers = access_headers(org.finance)
        assert_problem(
            await client.patch(credit_url(customer.id), headers=headers, json={"on_hold": True}), 422
        )
        response = await client.patch(
            credit_url(customer.id),
            headers={**headers, "If-Match": '"0"'},
            json={"on_hold": True, "hold_reason": " Disputed invoices ", "payment_terms_days": 45},
        )
        assert response.status_code == 200, response.text
        view = response.json()
        assert (view["on_hold"], view["manual_hold"], view["hold_reason"]) == (
            True,
            True,
            "Disputed invoices",
        )
        assert view["payment_terms_days"] == 45
        assert codes(view) == ["credit.on_hold"]
        version = view["version"]
        assert response.headers["ETag"] == f'"{version}"'
        assert version > 0

        assert_problem(
            await client.patch(
                credit_url(customer.id), headers={**headers, "If-Match": '"0"'}, json={"on_hold": False}
            ),
            412,
            "conflict.version_mismatch",
        )
        response = await client.patch(
            credit_url(customer.id), headers={**headers, "If-Match": f'"{version}"'}, json={"on_hold": False}
        )
        assert response.status_code == 200, response.text
        view = response.json()
        assert (view["on_hold"], view["manual_hold"], view["hold_reason"]) == (False, False, None)
        assert view["payment_terms_days"] == 45
        assert view["version"] == version + 1
        assert (await get_credit(client, customer.id, org.rep))["version"] == version + 1

        items = (await client.get(f"/api/v1/customers/{customer.id}/history", headers=headers)).json()[
            "items"
        ]
        updates = [h for h in items if h["action"] == "credit_terms_update"]
        assert [h["changes"] for h in updates] == [
            {"on_hold": [True, False], "hold_reason": ["Disputed invoices", None]},
            {
                "on_hold": [False, True],
                "hold_reason": [None, "Disputed invoices"],
                "payment_terms_days": [30, 45],
            },
        ]
        assert updates[0]["actor_id"] == str(org.finance.id)

    async def test_director_may_change_terms(self, client, uow_factory, org, customer):
        await set_credit_limit(uow_factory, customer.id, "700.00")
        response = await client.patch(
            credit_url(customer.id), headers=access_headers(org.director), json={"payment_terms_days": 0}
        )
        assert response.status_code == 200, response.text
        assert response.json()["payment_terms_days"] == 0
        assert response.json()["credit_limit"] == "700.00"

    async def test_the_limit_is_not_patched(self, client, org, customer):
        headers = access_headers(org.finance)
        for body in (
            {"credit_limit": "1000.00"},
            {"on_hold": None},
            {"payment_terms_days": None},
            {"payment_terms_days": -1},
        ):
            assert_problem(
                await client.patch(credit_url(customer.id), headers=headers, json=body),
                422,
                "validation_error",
            )

    @pytest.mark.parametrize("role", ["rep", "manager", "admin", "support"])
    async def test_roles(self, client, org, customer, role):
        response = await client.patch(
            credit_url(customer.id),
            headers=access_headers(getattr(org, role)),
            json={"payment_terms_days": 10},
        )
        assert_problem(response, 403, "forbidden")

    async def test_unknown_customer(self, client, org):
        assert_problem(
            await client.patch(
                credit_url(uuid.uuid4()), headers=access_headers(org.finance), json={"payment_terms_days": 10}
            ),
            404,
            "not_found",
        )

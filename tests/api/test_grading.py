"""Customer grading through HTTP: scorecard bands, eligibility, batch runs, policy settings."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from app.db.base import utcnow
from app.db.models import Contract, Payment, PaymentApplication, Receivable
from tests.support.builders import access_headers, assert_problem, make_customer, make_team, make_user

D = Decimal


async def trade(
    uow_factory,
    customer,
    *,
    signed: str,
    billed: str = "0",
    paid: str = "0",
    signed_days_ago: int = 200,
    issued_days_ago: int = 100,
    paid_days_ago: int = 50,
    status: str = "signed",
) -> None:
    """One contract with its billing and payment, placed in time relative to now."""
    now = utcnow()
    async with uow_factory() as uow:
        contract = Contract(
            customer_id=customer.id,
            number=f"T-{uuid.uuid4().hex[:10]}",
            amount=D(signed),
            status=status,
            signed_at=now - dt.timedelta(days=signed_days_ago),
            owner_id=customer.owner_id,
            team_id=customer.team_id,
        )
        uow.contracts.add(contract)
        await uow.flush()
        if D(billed):
            receivable = Receivable(
                contract_id=contract.id,
                customer_id=customer.id,
                amount=D(billed),
                paid_amount=D(paid),
                issued_at=now - dt.timedelta(days=issued_days_ago),
                due_at=now - dt.timedelta(days=issued_days_ago - 30),
            )
            uow.receivables.add(receivable)
            await uow.flush()
            if D(paid):
                payment = Payment(
                    customer_id=customer.id,
                    amount=D(paid),
                    unallocated_amount=D(0),
                    received_at=now - dt.timedelta(days=paid_days_ago),
                )
                uow.receivables.add(payment)
                await uow.flush()
                uow.receivables.add(
                    PaymentApplication(
                        payment_id=payment.id,
                        receivable_id=receivable.id,
                        amount=D(paid),
                        applied_at=payment.received_at,
                    )
                )
        await uow.commit()


@pytest.fixture
async def org(uow_factory):
    team = await make_team(uow_factory)
    rep = await make_user(uow_factory, role="rep", team=team)
    other = await make_user(uow_factory, role="rep", team=team)
    director = await make_user(uow_factory, role="director")
    return {"rep": rep, "other": other, "director": director}


def factors(body: dict) -> dict[str, int]:
    return {f["factor"]: f["score"] for f in body["current"]["factors"]}


class TestScorecard:
    @pytest.mark.parametrize(
        ("signed", "score"),
        [
            ("10000000", 10),
            ("9999999.99", 8),
            ("8000000", 8),
            ("5000000", 6),
            ("4999999.99", 4),
            ("1000000", 4),
            ("999999.99", 2),
        ],
    )
    async def test_signed_amount_bands(self, client, uow_factory, org, signed, score):
        customer = await make_customer(uow_factory, owner=org["rep"], grade="B")
        await trade(uow_factory, customer, signed=signed)
        response = await client.post(
            f"/api/v1/customers/{customer.id}/grade", headers=access_headers(org["rep"])
        )
        assert response.status_code == 200, response.text
        assert factors(response.json())["signed_amount"] == score

    @pytest.mark.parametrize(
        ("billed", "paid", "score"),
        [
            ("1000", "1000", 10),
            ("1000", "999.99", 8),
            ("1000", "800", 8),
            ("1000", "500", 6),
            ("1000", "300", 4),
            ("1000", "299.99", 2),
            ("0", "0", 10),
        ],
    )
    async def test_repayment_rate_bands(self, client, uow_factory, org, billed, paid, score):
        customer = await make_customer(uow_factory, owner=org["rep"])
        await trade(uow_factory, customer, signed="2000000", billed=billed, paid=paid)
        body = (
            await client.post(f"/api/v1/customers/{customer.id}/grade", headers=access_headers(org["rep"]))
        ).json()
        assert factors(body)["repayment_rate"] == score

    @pytest.mark.parametrize(
        ("owed", "score"),
        [("10000", 10), ("10000.01", 8), ("200000", 8), ("800000", 6), ("2000000", 4), ("2000000.01", 2)],
    )
    async def test_outstanding_bands(self, client, uow_factory, org, owed, score):
        customer = await make_customer(uow_factory, owner=org["rep"])
        await trade(uow_factory, customer, signed="3000000", billed=owed)
        body = (
            await client.post(f"/api/v1/customers/{customer.id}/grade", headers=access_headers(org["rep"]))
        ).json()
        assert factors(body)["outstanding"] == score

    async def test_breakdown_explains_grade(self, client, uow_factory, org):
        customer = await make_customer(uow_factory, owner=org["rep"], grade="C")
        await trade(uow_factory, customer, signed="6000000", billed="6000000", paid="5995000")
        body = (
            await client.post(f"/api/v1/customers/{customer.id}/grade", headers=access_headers(org["rep"]))
        ).json()
        current = body["current"]
        assert (body["grade"], current["total"], current["change"]) == ("A", 24, "up")
        assert current["previous_grade"] == "C"
        assert current["inputs"]["outstanding_at_period_end"] == "5000.00"
        assert current["policy_version"] == 1
        assert factors(body) == {"signed_amount": 6, "repayment_rate": 8, "outstanding": 10}

    async def test_window_edge_excludes_old_signings(self, client, uow_factory, org):
        customer = await make_customer(uow_factory, owner=org["rep"])
        await trade(uow_factory, customer, signed="9000000", signed_days_ago=400)
        await trade(uow_factory, customer, signed="1000000", signed_days_ago=300)
        body = (
            await client.post(f"/api/v1/customers/{customer.id}/grade", headers=access_headers(org["rep"]))
        ).json()
        assert body["current"]["inputs"]["signed_amount"] == "1000000.00"

    @pytest.mark.parametrize(("days", "eligible"), [(179, False), (181, True)])
    async def test_minimum_trading_days(self, client, uow_factory, org, days, eligible):
        customer = await make_customer(uow_factory, owner=org["rep"], grade="B")
        await trade(uow_factory, customer, signed="20000000", signed_days_ago=days)
        body = (
            await client.post(f"/api/v1/customers/{customer.id}/grade", headers=access_headers(org["rep"]))
        ).json()
        assert body["current"]["eligible"] is eligible
        # Too new to score: the customer keeps its initial grade, and says why.
        assert body["grade"] == ("A" if eligible else "B")
        if not eligible:
            assert body["current"]["reasons"]

    async def test_cancelled_contracts_do_not_trade(self, client, uow_factory, org):
        customer = await make_customer(uow_factory, owner=org["rep"], grade="B")
        await trade(uow_factory, customer, signed="20000000", status="cancelled")
        body = (
            await client.post(f"/api/v1/customers/{customer.id}/grade", headers=access_headers(org["rep"]))
        ).json()
        assert body["grade"] == "B"
        assert body["current"]["eligible"] is False


class TestGetGrade:
    async def test_anonymous(self, client, uow_factory, org):
        customer = await make_customer(uow_factory, owner=org["rep"])
        assert_problem(await client.get(f"/api/v1/customers/{customer.id}/grade"), 401)

    async def test_out_of_scope(self, client, uow_factory, org):
        customer = await make_customer(uow_factory, owner=org["other"])
        assert_problem(
            await client.get(f"/api/v1/customers/{customer.id}/grade", headers=access_headers(org["rep"])),
            404,
            "not_found",
        )

    async def test_suggestion_for_inbound_enquiry(self, client, uow_factory, org):
        customer = await make_customer(uow_factory, owner=org["rep"], source="inbound_call")
        body = (
            await client.get(f"/api/v1/customers/{customer.id}/grade", headers=access_headers(org["rep"]))
        ).json()
        assert body["suggestion"]["grade"] == "A"
        assert body["current"] is None and body["history"] == []


class TestBatch:
    async def test_role(self, client, org):
        assert_problem(
            await client.post("/api/v1/grading/run", headers=access_headers(org["rep"])), 403, "forbidden"
        )

    async def test_counts_and_idempotence(self, client, uow_factory, org):
        up = await make_customer(uow_factory, owner=org["rep"], grade="C")
        await trade(uow_factory, up, signed="20000000", billed="100000", paid="100000")
        down = await make_customer(uow_factory, owner=org["rep"], grade="A")
        await trade(uow_factory, down, signed="100000", billed="3000000")
        young = await make_customer(uow_factory, owner=org["rep"], grade="B")
        await trade(uow_factory, young, signed="100000", signed_days_ago=10)
        await make_customer(uow_factory, owner=org["rep"], grade="B")  # never traded: not scored
        headers = access_headers(org["director"])
        first = (await client.post("/api/v1/grading/run", headers=headers)).json()
        assert {k: first[k] for k in ("scored", "ineligible", "up", "down")} == {
            "scored": 2,
            "ineligible": 1,
            "up": 1,
            "down": 1,
        }
        second = (await client.post("/api/v1/grading/run", headers=headers)).json()
        assert (second["up"], second["down"], second["same"]) == (0, 0, 3)
        history = (await client.get(f"/api/v1/customers/{down.id}/grade", headers=headers)).json()
        assert history["grade"] == "C" and len(history["history"]) == 1
        customer_history = (await client.get(f"/api/v1/customers/{down.id}/history", headers=headers)).json()[
            "items"
        ]
        assert customer_history[0]["action"] == "regrade"
        assert customer_history[0]["changes"]["grade"] == ["A", "C"]


class TestSettings:
    async def test_defaults_and_update(self, client, uow_factory, org):
        headers = access_headers(org["director"])
        current = (await client.get("/api/v1/settings/grading", headers=headers)).json()
        assert current["grade_a_min_total"] == 24 and current["version"] == 0
        response = await client.put(
            "/api/v1/settings/grading",
            headers={**headers, "If-Match": '"0"'},
            json={**current, "grade_a_min_total": 26},
        )
        assert response.status_code == 200 and response.json()["version"] == 1
        stale = await client.put(
            "/api/v1/settings/grading", headers={**headers, "If-Match": '"0"'}, json=current
        )
        assert_problem(stale, 412, "conflict.version_mismatch")
        customer = await make_customer(uow_factory, owner=org["rep"])
        await trade(uow_factory, customer, signed="6000000", billed="6000000", paid="5995000")
        body = (await client.post(f"/api/v1/customers/{customer.id}/grade", headers=headers)).json()
        assert (body["grade"], body["current"]["policy_version"]) == ("B", 2)

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("signed_amount_thresholds", ["1", "2", "3", "4"]),
            ("outstanding_thresholds", ["4", "3", "2", "1"]),
            ("grade_b_min_total", 25),
        ],
    )
    async def test_validation(self, client, org, field, value):
        headers = access_headers(org["director"])
        current = (await client.get("/api/v1/settings/grading", headers=headers)).json()
        body = assert_problem(
            await client.put("/api/v1/settings/grading", headers=headers, json={**current, field: value}),
            422,
            "validation_error",
        )
        assert body["errors"]

    async def test_rep_cannot_edit(self, client, org):
        current = (await client.get("/api/v1/settings/grading", headers=access_headers(org["rep"]))).json()
        assert_problem(
            await client.put("/api/v1/settings/grading", headers=access_headers(org["rep"]), json=current),
            403,
        )


class TestGradeDropWarning:
    async def test_a_drop_shows_as_a_credit_warning(self, client, uow_factory, org):
        customer = await make_customer(uow_factory, owner=org["rep"], grade="A")
        await trade(uow_factory, customer, signed="100000", billed="3000000")
        headers = access_headers(org["director"])
        before = (await client.get(f"/api/v1/customers/{customer.id}/credit", headers=headers)).json()
        assert "credit.grade_dropped" not in {w["code"] for w in before["warnings"]}
        await client.post("/api/v1/grading/run", headers=headers)
        after = (await client.get(f"/api/v1/customers/{customer.id}/credit", headers=headers)).json()
        assert "credit.grade_dropped" in {w["code"] for w in after["warnings"]}

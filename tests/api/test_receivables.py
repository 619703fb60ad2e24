"""Receivables over HTTP (SPEC §6): billing signed contracts in instalments (never more than
the contract), listing with filters and scope, and write-off by finance."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from app.db.base import utcnow
from tests.support.builders import (
    access_headers,
    api_bill,
    api_pay,
    assert_problem,
    make_contract,
    make_funnel_customer,
    make_sales_org,
    walk_pages,
)

RECEIVABLES = "/api/v1/receivables"


def receivable_url(receivable_id, action: str | None = None) -> str:
    return f"{RECEIVABLES}/{receivable_id}" + (f"/{action}" if action else "")


def bill_body(contract_id, amount, *, issued_at=None, due_at=None) -> dict:
    now = utcnow()
    return {
        "contract_id": str(contract_id),
        "amount": amount,
        "issued_at": (issued_at or now).isoformat(),
        "due_at": (due_at or now + dt.timedelta(days=30)).isoformat(),
    }


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


@pytest.fixture
async def customer(uow_factory, org):
    return await make_funnel_customer(uow_factory, owner=org.rep, stage="signed")


@pytest.fixture
async def contract(uow_factory, customer):
    return await make_contract(uow_factory, customer=customer, amount="120000.00", status="signed")


async def ids(client, user, **params) -> list[str]:
    response = await client.get(RECEIVABLES, headers=access_headers(user), params=params)
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["items"]]


class TestCreateReceivable:
    async def test_anonymous(self, client, contract):
        assert_problem(
            await client.post(RECEIVABLES, json=bill_body(contract.id, "1.00")), 401, "unauthorized"
        )

    @pytest.mark.parametrize("role", ["rep", "manager", "support", "admin"])
    async def test_only_finance_bills(self, client, org, contract, role):
        response = await client.post(
            RECEIVABLES, headers=access_headers(getattr(org, role)), json=bill_body(contract.id, "1.00")
        )
        assert_problem(response, 403, "forbidden")

    @pytest.mark.parametrize("role", ["finance", "director"])
    async def test_bill_a_signed_contract(self, client, org, customer, contract, role):
        issued = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
        due = dt.datetime(2026, 2, 4, 9, 0, tzinfo=dt.UTC)
        response = await client.post(
            RECEIVABLES,
            headers=access_headers(getattr(org, role)),
            json=bill_body(contract.id, "40000", issued_at=issued, due_at=due),
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["contract_id"] == str(contract.id)
        assert body["customer_id"] == str(customer.id)
        assert (body["amount"], body["paid_amount"], body["outstanding"]) == ("40000.00", "0.00", "40000.00")
        assert body["status"] == "open"
        assert dt.datetime.fromisoformat(body["issued_at"]) == issued
        assert dt.datetime.fromisoformat(body["due_at"]) == due
        assert body["written_off_at"] is None and body["write_off_reason"] is None
        assert response.headers["Location"] == f"/api/v1/receivables/{body['id']}"
        assert response.headers["ETag"] == f'"{body["version"]}"'
        got = await client.get(receivable_url(body["id"]), headers=access_headers(org.rep))
        assert got.status_code == 200 and got.json() == body

    async def test_unknown_contract(self, client, org):
        response = await client.post(
            RECEIVABLES, headers=access_headers(org.finance), json=bill_body(uuid.uuid4(), "1.00")
        )
        assert_problem(response, 404, "not_found")

    @pytest.mark.parametrize("status", ["draft", "cancelled"])
    async def test_unsigned_contract(self, client, org, uow_factory, customer, status):
        unsigned = await make_contract(uow_factory, customer=customer, amount="100.00", status=status)
        response = await client.post(
            RECEIVABLES, headers=access_headers(org.finance), json=bill_body(unsigned.id, "1.00")
        )
        assert_problem(response, 409, "receivable.contract_not_signed")

    async def test_instalments_up_to_exactly_the_contract_amount(self, client, org, contract):
        for amount in ("40000.00", "40000.00", "39999.99"):
            await api_bill(client, org.finance, contract.id, amount)
        over = await client.post(
            RECEIVABLES, headers=access_headers(org.finance), json=bill_body(contract.id, "0.02")
        )
        body = assert_problem(over, 422, "receivable.over_billed")
        assert (body["contract_amount"], body["billed"], body["remaining"]) == (
            "120000.00",
            "119999.99",
            "0.01",
        )
        await api_bill(client, org.finance, contract.id, "0.01")
        full = await client.post(
            RECEIVABLES, headers=access_headers(org.finance), json=bill_body(contract.id, "0.01")
        )
        body = assert_problem(full, 422, "receivable.over_billed")
        assert body["remaining"] == "0.00"
        assert len(await ids(client, org.finance, contract_id=str(contract.id))) == 4

    async def test_a_single_bill_a_cent_over(self, client, org, contract):
        response = await client.post(
            RECEIVABLES, headers=access_headers(org.finance), json=bill_body(contract.id, "120000.01")
        )
        body = assert_problem(response, 422, "receivable.over_billed")
        assert body["remaining"] == "120000.00"

    async def test_due_before_issue(self, client, org, contract):
        now = utcnow()
        response = await client.post(
            RECEIVABLES,
            headers=access_headers(org.finance),
            json=bill_body(contract.id, "1.00", issued_at=now, due_at=now - dt.timedelta(seconds=1)),
        )
        body = assert_problem(response, 422, "validation_error")
        assert ["body", "due_at"] in [e["loc"] for e in body["errors"]]
        same_day = await client.post(
            RECEIVABLES,
            headers=access_headers(org.finance),
            json=bill_body(contract.id, "1.00", issued_at=now, due_at=now),
        )
        assert same_day.status_code == 201, same_day.text

    @pytest.mark.parametrize(
        "change",
        [
            {"amount": "0"},
            {"amount": "-1.00"},
            {"amount": "0.001"},
            {"due_at": "2026-01-01T00:00:00"},
            {"issued_at": None},
        ],
    )
    async def test_invalid_body(self, client, org, contract, change):
        response = await client.post(
            RECEIVABLES,
            headers=access_headers(org.finance),
            json={**bill_body(contract.id, "1.00"), **change},
        )
        assert_problem(response, 422, "validation_error")


class TestListAndGetReceivables:
    async def test_anonymous(self, client):
        assert_problem(await client.get(RECEIVABLES), 401, "unauthorized")
        assert_problem(await client.get(receivable_url(uuid.uuid4())), 401, "unauthorized")

    async def test_filters(self, client, org, uow_factory, customer, contract):
        fin = org.finance
        now = utcnow()
        overdue = await api_bill(
            client,
            fin,
            contract.id,
            "100.00",
            issued_at=now - dt.timedelta(days=40),
            due_at=now - dt.timedelta(days=10),
        )
        paid = await api_bill(
            client,
            fin,
            contract.id,
            "200.00",
            issued_at=now - dt.timedelta(days=30),
            due_at=now - dt.timedelta(days=5),
        )
        current = await api_bill(client, fin, contract.id, "300.00", due_at=now + dt.timedelta(days=20))
        written_off = await api_bill(
            client,
            fin,
            contract.id,
            "400.00",
            issued_at=now - dt.timedelta(days=90),
            due_at=now - dt.timedelta(days=60),
        )
        await api_pay(client, fin, customer.id, "200.00", allocations=[(paid["id"], "200.00")])
        response = await client.post(
            receivable_url(written_off["id"], "write-off"),
            headers=access_headers(fin),
            json={"reason": "insolvent"},
        )
        assert response.status_code == 200, response.text
        other_contract = await make_contract(uow_factory, customer=customer, amount="50.00", status="signed")
        other = await api_bill(client, fin, other_contract.id, "50.00", due_at=now + dt.timedelta(days=50))

        # By due date, oldest first.
        assert await ids(client, fin, customer_id=str(customer.id)) == [
            written_off["id"],
            overdue["id"],
            paid["id"],
            current["id"],
            other["id"],
        ]
        assert await ids(client, fin, contract_id=str(other_contract.id)) == [other["id"]]
        assert await ids(client, fin, customer_id=str(customer.id), status="open") == [
            overdue["id"],
            current["id"],
            other["id"],
        ]
        assert await ids(client, fin, customer_id=str(customer.id), status="paid") == [paid["id"]]
        assert await ids(client, fin, customer_id=str(customer.id), status="written_off") == [
            written_off["id"]
        ]
        assert await ids(client, fin, customer_id=str(customer.id), overdue="true") == [overdue["id"]]
        assert await ids(client, fin, contract_id=str(contract.id), status="open", overdue="true") == [
            overdue["id"]
        ]

        listed = await client.get(
            RECEIVABLES, headers=access_headers(fin), params={"customer_id": str(customer.id)}
        )
        by_id = {r["id"]: r for r in listed.json()["items"]}
        assert (by_id[paid["id"]]["status"], by_id[paid["id"]]["outstanding"]) == ("paid", "0.00")
        assert by_id[written_off["id"]]["status"] == "written_off"
        assert by_id[current["id"]]["status"] == "open"

    async def test_pages(self, client, org, contract):
        now = utcnow()
        made = [
            (await api_bill(client, org.finance, contract.id, "1.00", due_at=now + dt.timedelta(days=d)))[
                "id"
            ]
            for d in (3, 1, 2, 5, 4)
        ]
        pages = await walk_pages(
            client, RECEIVABLES, access_headers(org.rep), limit=2, contract_id=str(contract.id)
        )
        seen = [r["id"] for r in pages]
        assert seen == [made[1], made[2], made[0], made[4], made[3]]

    async def test_scope(self, client, org, uow_factory, contract):
        mine = await api_bill(client, org.finance, contract.id, "10.00")
        theirs_customer = await make_funnel_customer(uow_factory, owner=org.other_rep, stage="signed")
        theirs_contract = await make_contract(
            uow_factory, customer=theirs_customer, amount="10.00", status="signed"
        )
        theirs = await api_bill(client, org.finance, theirs_contract.id, "10.00")

        assert await ids(client, org.rep) == [mine["id"]]
        assert await ids(client, org.rep, customer_id=str(theirs_customer.id)) == []
        assert await ids(client, org.manager) == [mine["id"]]
        assert await ids(client, org.other_rep) == [theirs["id"]]
        assert set(await ids(client, org.finance)) >= {mine["id"], theirs["id"]}
        assert set(await ids(client, org.director)) >= {mine["id"], theirs["id"]}

        ok = await client.get(receivable_url(mine["id"]), headers=access_headers(org.rep))
        assert ok.status_code == 200, ok.text
        for user, receivable_id in (
            (org.rep, theirs["id"]),
            (org.other_manager, mine["id"]),
            (org.finance, str(uuid.uuid4())),
        ):
            response = await client.get(receivable_url(receivable_id), headers=access_headers(user))
            assert_problem(response, 404, "not_found")

    @pytest.mark.parametrize("params", [{"status": "late"}, {"overdue": "maybe"}, {"customer_id": "nope"}])
    async def test_invalid_filters(self, client, org, params):
        response = await client.get(RECEIVABLES, headers=access_headers(org.finance), params=params)
        assert_problem(response, 422, "validation_error")


class TestWriteOff:
    async def write_off(self, client, user, receivable_id, reason="customer insolvent"):
        return await client.post(
            receivable_url(receivable_id, "write-off"), headers=access_headers(user), json={"reason": reason}
        )

    async def test_anonymous(self, client):
        response = await client.post(receivable_url(uuid.uuid4(), "write-off"), json={"reason": "x"})
        assert_problem(response, 401, "unauthorized")

    @pytest.mark.parametrize("role", ["rep", "manager", "support", "admin"])
    async def test_only_finance_writes_off(self, client, org, contract, role):
        receivable = await api_bill(client, org.finance, contract.id, "10.00")
        assert_problem(await self.write_off(client, getattr(org, role), receivable["id"]), 403, "forbidden")

    async def test_unknown_receivable(self, client, org):
        assert_problem(await self.write_off(client, org.finance, uuid.uuid4()), 404, "not_found")

    @pytest.mark.parametrize("body", [{"reason": ""}, {"reason": "   "}, {}])
    async def test_reason_required(self, client, org, contract, body):
        receivable = await api_bill(client, org.finance, contract.id, "10.00")
        response = await client.post(
            receivable_url(receivable["id"], "write-off"), headers=access_headers(org.finance), json=body
        )
        assert_problem(response, 422, "validation_error")
        got = await client.get(receivable_url(receivable["id"]), headers=access_headers(org.finance))
        assert got.json()["status"] == "open"

    @pytest.mark.parametrize("role", ["finance", "director"])
    async def test_write_off(self, client, org, customer, contract, role):
        receivable = await api_bill(client, org.finance, contract.id, "10.00")
        await api_pay(client, org.finance, customer.id, "3.00")
        response = await self.write_off(client, getattr(org, role), receivable["id"], "  bankrupt  ")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "written_off"
        assert body["write_off_reason"] == "bankrupt"
        assert body["written_off_at"] is not None
        assert body["paid_amount"] == "3.00"
        assert response.headers["ETag"] == f'"{body["version"]}"'
        history = await client.get(
            f"/api/v1/customers/{customer.id}/history", headers=access_headers(org.director)
        )
        [entry] = [h for h in history.json()["items"] if h["action"] == "receivable_write_off"]
        assert entry["changes"] == {"written_off": [None, "7.00"], "reason": [None, "bankrupt"]}

        again = await self.write_off(client, org.finance, receivable["id"])
        assert_problem(again, 409, "receivable.already_written_off")

    async def test_paid_receivable(self, client, org, customer, contract):
        receivable = await api_bill(client, org.finance, contract.id, "10.00")
        await api_pay(client, org.finance, customer.id, "10.00")
        response = await self.write_off(client, org.finance, receivable["id"])
        assert_problem(response, 409, "receivable.already_paid")

    async def test_written_off_receivables_take_no_payment(self, client, org, customer, contract):
        receivable = await api_bill(client, org.finance, contract.id, "10.00")
        assert (await self.write_off(client, org.finance, receivable["id"])).status_code == 200
        payment = await api_pay(client, org.finance, customer.id, "4.00")
        assert payment["allocations"] == []
        assert payment["unallocated_amount"] == "4.00"
        explicit = await client.post(
            "/api/v1/payments",
            headers=access_headers(org.finance),
            json={
                "customer_id": str(customer.id),
                "amount": "4.00",
                "received_at": (utcnow() - dt.timedelta(minutes=1)).isoformat(),
                "allocations": [{"receivable_id": receivable["id"], "amount": "4.00"}],
            },
        )
        assert_problem(explicit, 422, "payment.allocation_invalid")

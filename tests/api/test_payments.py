"""Payments over HTTP (SPEC §6): oldest-due-first allocation, explicit allocations and
their validation, overpayment kept as customer credit, exact money, list/get and scope."""

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

PAYMENTS = "/api/v1/payments"
RECEIVABLES = "/api/v1/receivables"


def payment_body(customer_id, amount, *, received_at=None, allocations=None) -> dict:
    body = {
        "customer_id": str(customer_id),
        "amount": amount,
        "received_at": (received_at or utcnow() - dt.timedelta(minutes=1)).isoformat(),
    }
    if allocations is not None:
        body["allocations"] = [{"receivable_id": str(r), "amount": a} for r, a in allocations]
    return body


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


@pytest.fixture
async def customer(uow_factory, org):
    return await make_funnel_customer(uow_factory, owner=org.rep, stage="signed")


@pytest.fixture
async def contract(uow_factory, customer):
    return await make_contract(uow_factory, customer=customer, amount="100000.00", status="signed")


@pytest.fixture
async def three(client, org, contract):
    """Three open receivables billed out of due order: due in 10, 5 and 20 days."""
    now = utcnow()
    fin = org.finance
    r10 = await api_bill(client, fin, contract.id, "100.00", due_at=now + dt.timedelta(days=10))
    r5 = await api_bill(client, fin, contract.id, "50.00", due_at=now + dt.timedelta(days=5))
    r20 = await api_bill(client, fin, contract.id, "80.00", due_at=now + dt.timedelta(days=20))
    return r5, r10, r20


async def receivable(client, user, receivable_id) -> dict:
    response = await client.get(f"{RECEIVABLES}/{receivable_id}", headers=access_headers(user))
    assert response.status_code == 200, response.text
    return response.json()


async def amounts(client, org, *receivables) -> list[tuple[str, str, str]]:
    got = [await receivable(client, org.finance, r["id"]) for r in receivables]
    return [(r["paid_amount"], r["outstanding"], r["status"]) for r in got]


def normalised(payment: dict) -> dict:
    """A payment with its allocations sorted by receivable, to compare their contents."""
    return {**payment, "allocations": sorted(payment["allocations"], key=lambda a: a["receivable_id"])}


def allocated(payment: dict) -> dict[str, str]:
    return {a["receivable_id"]: a["amount"] for a in payment["allocations"]}


class TestCreatePayment:
    async def test_anonymous(self, client, customer):
        assert_problem(
            await client.post(PAYMENTS, json=payment_body(customer.id, "1.00")), 401, "unauthorized"
        )

    @pytest.mark.parametrize("role", ["rep", "manager", "support", "admin"])
    async def test_only_finance_records(self, client, org, customer, role):
        response = await client.post(
            PAYMENTS, headers=access_headers(getattr(org, role)), json=payment_body(customer.id, "1.00")
        )
        assert_problem(response, 403, "forbidden")

    async def test_unknown_customer(self, client, org):
        response = await client.post(
            PAYMENTS, headers=access_headers(org.finance), json=payment_body(uuid.uuid4(), "1.00")
        )
        assert_problem(response, 404, "not_found")

    @pytest.mark.parametrize("role", ["finance", "director"])
    async def test_oldest_due_first(self, client, org, customer, three, role):
        r5, r10, r20 = three
        received = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.UTC)
        response = await client.post(
            PAYMENTS,
            headers=access_headers(getattr(org, role)),
            json=payment_body(customer.id, "170", received_at=received),
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["amount"] == "170.00"
        assert body["unallocated_amount"] == "0.00"
        assert body["customer_id"] == str(customer.id)
        assert body["created_by"] == str(getattr(org, role).id)
        assert dt.datetime.fromisoformat(body["received_at"]) == received
        assert response.headers["Location"] == f"/api/v1/payments/{body['id']}"
        assert allocated(body) == {r5["id"]: "50.00", r10["id"]: "100.00", r20["id"]: "20.00"}
        assert await amounts(client, org, r5, r10, r20) == [
            ("50.00", "0.00", "paid"),
            ("100.00", "0.00", "paid"),
            ("20.00", "60.00", "open"),
        ]

    async def test_partial_payment_stops_in_the_oldest_item(self, client, org, customer, three):
        r5, r10, r20 = three
        first = await api_pay(client, org.finance, customer.id, "70.00")
        assert allocated(first) == {r5["id"]: "50.00", r10["id"]: "20.00"}
        second = await api_pay(client, org.finance, customer.id, "85.00")
        assert allocated(second) == {r10["id"]: "80.00", r20["id"]: "5.00"}
        assert await amounts(client, org, r5, r10, r20) == [
            ("50.00", "0.00", "paid"),
            ("100.00", "0.00", "paid"),
            ("5.00", "75.00", "open"),
        ]

    async def test_overdue_items_come_first(self, client, org, customer, contract, three):
        r5, _, _ = three
        now = utcnow()
        old = await api_bill(
            client,
            org.finance,
            contract.id,
            "30.00",
            issued_at=now - dt.timedelta(days=90),
            due_at=now - dt.timedelta(days=45),
        )
        payment = await api_pay(client, org.finance, customer.id, "40.00")
        assert allocated(payment) == {old["id"]: "30.00", r5["id"]: "10.00"}

    async def test_explicit_allocations_are_honoured(self, client, org, customer, three):
        r5, r10, r20 = three
        payment = await api_pay(
            client,
            org.finance,
            customer.id,
            "100.00",
            allocations=[(r20["id"], "30.00"), (r10["id"], "25.50")],
        )
        assert allocated(payment) == {r20["id"]: "30.00", r10["id"]: "25.50"}
        # The payer said where the money goes: the rest is credit, not spread over r5.
        assert payment["unallocated_amount"] == "44.50"
        assert await amounts(client, org, r5, r10, r20) == [
            ("0.00", "50.00", "open"),
            ("25.50", "74.50", "open"),
            ("30.00", "50.00", "open"),
        ]

    async def test_explicit_allocation_up_to_exactly_the_outstanding(self, client, org, customer, three):
        r5, _, _ = three
        await api_pay(client, org.finance, customer.id, "20.00", allocations=[(r5["id"], "20.00")])
        payment = await api_pay(client, org.finance, customer.id, "30.00", allocations=[(r5["id"], "30.00")])
        assert allocated(payment) == {r5["id"]: "30.00"}
        assert await amounts(client, org, r5) == [("50.00", "0.00", "paid")]

    async def invalid(self, client, org, customer, amount, allocations) -> dict:
        response = await client.post(
            PAYMENTS,
            headers=access_headers(org.finance),
            json=payment_body(customer.id, amount, allocations=allocations),
        )
        body = assert_problem(response, 422, "payment.allocation_invalid")
        assert body["errors"]
        return body

    async def test_explicit_over_an_items_outstanding(self, client, org, customer, three):
        r5, r10, r20 = three
        await api_pay(client, org.finance, customer.id, "10.00", allocations=[(r5["id"], "10.00")])
        await self.invalid(client, org, customer, "100.00", [(r5["id"], "40.01")])
        # Nothing was recorded: the failed payment allocated nothing.
        assert await amounts(client, org, r5, r10, r20) == [
            ("10.00", "40.00", "open"),
            ("0.00", "100.00", "open"),
            ("0.00", "80.00", "open"),
        ]
        listed = await client.get(
            PAYMENTS, headers=access_headers(org.finance), params={"customer_id": str(customer.id)}
        )
        assert len(listed.json()["items"]) == 1

    async def test_allocations_summing_over_the_amount(self, client, org, customer, three):
        r5, r10, _ = three
        body = await self.invalid(client, org, customer, "60.00", [(r5["id"], "50.00"), (r10["id"], "10.01")])
        assert ["allocations"] in [e["loc"] for e in body["errors"]]

    async def test_unknown_receivable(self, client, org, customer, three):
        await self.invalid(client, org, customer, "10.00", [(uuid.uuid4(), "10.00")])

    async def test_another_customers_receivable(self, client, org, uow_factory, customer, three):
        other = await make_funnel_customer(uow_factory, owner=org.rep2, stage="signed")
        other_contract = await make_contract(uow_factory, customer=other, amount="10.00", status="signed")
        foreign = await api_bill(client, org.finance, other_contract.id, "10.00")
        await self.invalid(client, org, customer, "10.00", [(foreign["id"], "10.00")])
        assert await amounts(client, org, foreign) == [("0.00", "10.00", "open")]

    async def test_a_paid_receivable_is_not_open(self, client, org, customer, three):
        r5, _, _ = three
        await api_pay(client, org.finance, customer.id, "50.00", allocations=[(r5["id"], "50.00")])
        await self.invalid(client, org, customer, "1.00", [(r5["id"], "1.00")])

    async def test_the_same_receivable_twice(self, client, org, customer, three):
        r5, _, _ = three
        await self.invalid(client, org, customer, "20.00", [(r5["id"], "10.00"), (r5["id"], "10.00")])

    async def test_overpayment_is_kept_as_credit(self, client, org, customer, three):
        r5, r10, r20 = three
        payment = await api_pay(client, org.finance, customer.id, "1000.00")
        assert allocated(payment) == {r5["id"]: "50.00", r10["id"]: "100.00", r20["id"]: "80.00"}
        assert payment["unallocated_amount"] == "770.00"
        nothing_open = await api_pay(client, org.finance, customer.id, "12.34")
        assert nothing_open["allocations"] == []
        assert nothing_open["unallocated_amount"] == "12.34"

    async def test_future_received_at_is_refused(self, client, org, customer, three):
        response = await client.post(
            PAYMENTS,
            headers=access_headers(org.finance),
            json=payment_body(customer.id, "10.00", received_at=utcnow() + dt.timedelta(hours=1)),
        )
        body = assert_problem(response, 422, "validation_error")
        assert ["body", "received_at"] in [e["loc"] for e in body["errors"]]
        assert await amounts(client, org, three[0]) == [("0.00", "50.00", "open")]

    async def test_past_received_at_is_accepted(self, client, org, customer, three):
        past = dt.datetime(2024, 12, 31, 23, 59, tzinfo=dt.UTC)
        payment = await api_pay(client, org.finance, customer.id, "10.00", received_at=past)
        assert dt.datetime.fromisoformat(payment["received_at"]) == past

    @pytest.mark.parametrize(
        "change",
        [
            {"amount": "0"},
            {"amount": "-10.00"},
            {"amount": "1.005"},
            {"received_at": "2026-01-01T00:00:00"},
            {"allocations": [{"receivable_id": str(uuid.UUID(int=1)), "amount": "0"}]},
        ],
    )
    async def test_invalid_body(self, client, org, customer, change):
        response = await client.post(
            PAYMENTS,
            headers=access_headers(org.finance),
            json={**payment_body(customer.id, "10.00"), **change},
        )
        assert_problem(response, 422, "validation_error")


class TestListAndGetPayments:
    async def test_anonymous(self, client):
        assert_problem(await client.get(PAYMENTS), 401, "unauthorized")
        assert_problem(await client.get(f"{PAYMENTS}/{uuid.uuid4()}"), 401, "unauthorized")

    async def test_list_and_get_with_allocations(self, client, org, customer, three):
        r5, r10, _ = three
        now = utcnow()
        fin = org.finance
        older = await api_pay(client, fin, customer.id, "60.00", received_at=now - dt.timedelta(days=2))
        newer = await api_pay(client, fin, customer.id, "5.00", received_at=now - dt.timedelta(days=1))
        response = await client.get(
            PAYMENTS, headers=access_headers(org.rep), params={"customer_id": str(customer.id)}
        )
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert [p["id"] for p in items] == [newer["id"], older["id"]]  # newest received first
        assert normalised(items[1]) == normalised(older)
        assert allocated(items[1]) == {r5["id"]: "50.00", r10["id"]: "10.00"}
        assert allocated(items[0]) == {r10["id"]: "5.00"}

        got = await client.get(f"{PAYMENTS}/{older['id']}", headers=access_headers(org.manager))
        assert got.status_code == 200, got.text
        assert normalised(got.json()) == normalised(older)

    async def test_allocations_are_read_in_the_order_they_were_applied(self, client, org, customer, three):
        r5, r10, r20 = three
        # As the caller listed them (here against the due dates), then oldest due first.
        as_listed = await api_pay(
            client,
            org.finance,
            customer.id,
            "60.00",
            allocations=[(r20["id"], "30.00"), (r5["id"], "20.00"), (r10["id"], "10.00")],
        )
        oldest_first = await api_pay(client, org.finance, customer.id, "100.00")
        for payment, order in (
            (as_listed, [r20["id"], r5["id"], r10["id"]]),
            (oldest_first, [r5["id"], r10["id"]]),
        ):
            assert [a["receivable_id"] for a in payment["allocations"]] == order
            got = await client.get(f"{PAYMENTS}/{payment['id']}", headers=access_headers(org.finance))
            assert got.json()["allocations"] == payment["allocations"]
        listed = (
            await client.get(
                PAYMENTS, headers=access_headers(org.finance), params={"customer_id": str(customer.id)}
            )
        ).json()["items"]
        assert {p["id"]: p["allocations"] for p in listed} == {
            p["id"]: p["allocations"] for p in (as_listed, oldest_first)
        }

    async def test_pages(self, client, org, customer):
        now = utcnow()
        made = [
            (
                await api_pay(
                    client, org.finance, customer.id, "1.00", received_at=now - dt.timedelta(hours=h)
                )
            )["id"]
            for h in (3, 1, 2, 5, 4)
        ]
        pages = await walk_pages(
            client, PAYMENTS, access_headers(org.finance), limit=2, customer_id=str(customer.id)
        )
        seen = [p["id"] for p in pages]
        assert seen == [made[1], made[2], made[0], made[4], made[3]]

    async def test_scope(self, client, org, uow_factory, customer):
        mine = await api_pay(client, org.finance, customer.id, "1.00")
        theirs_customer = await make_funnel_customer(uow_factory, owner=org.other_rep, stage="signed")
        theirs = await api_pay(client, org.finance, theirs_customer.id, "2.00")

        async def ids(user, **params) -> set[str]:
            response = await client.get(PAYMENTS, headers=access_headers(user), params=params)
            assert response.status_code == 200, response.text
            return {p["id"] for p in response.json()["items"]}

        assert await ids(org.rep) == {mine["id"]}
        assert await ids(org.rep, customer_id=str(theirs_customer.id)) == set()
        assert await ids(org.manager) == {mine["id"]}
        assert await ids(org.other_manager) == {theirs["id"]}
        assert await ids(org.finance) >= {mine["id"], theirs["id"]}
        for user, payment_id in (
            (org.rep, theirs["id"]),
            (org.other_manager, mine["id"]),
            (org.finance, str(uuid.uuid4())),
        ):
            response = await client.get(f"{PAYMENTS}/{payment_id}", headers=access_headers(user))
            assert_problem(response, 404, "not_found")


class TestExactMoney:
    async def test_tenths_add_up_exactly(self, client, org, customer, contract):
        bill = await api_bill(client, org.finance, contract.id, "0.30")
        await api_pay(client, org.finance, customer.id, "0.10")
        assert await amounts(client, org, bill) == [("0.10", "0.20", "open")]
        await api_pay(client, org.finance, customer.id, "0.20")
        assert await amounts(client, org, bill) == [("0.30", "0.00", "paid")]

    async def test_many_small_payments(self, client, org, customer, contract):
        bill = await api_bill(client, org.finance, contract.id, "1.00")
        for _ in range(9):
            await api_pay(client, org.finance, customer.id, "0.10")
        assert await amounts(client, org, bill) == [("0.90", "0.10", "open")]
        last = await api_pay(client, org.finance, customer.id, "0.30")
        assert allocated(last) == {bill["id"]: "0.10"}
        assert last["unallocated_amount"] == "0.20"
        assert await amounts(client, org, bill) == [("1.00", "0.00", "paid")]

    async def test_split_over_tenths(self, client, org, customer, contract):
        now = utcnow()
        a = await api_bill(client, org.finance, contract.id, "0.10", due_at=now + dt.timedelta(days=1))
        b = await api_bill(client, org.finance, contract.id, "0.20", due_at=now + dt.timedelta(days=2))
        payment = await api_pay(client, org.finance, customer.id, "0.30")
        assert allocated(payment) == {a["id"]: "0.10", b["id"]: "0.20"}
        assert payment["unallocated_amount"] == "0.00"
        assert await amounts(client, org, a, b) == [("0.10", "0.00", "paid"), ("0.20", "0.00", "paid")]

"""Incremental pull: ``updated_since`` on activities, tasks, contracts, receivables and
payments, and the streamed contract, receivable and payment exports."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import uuid

import pytest
from sqlalchemy import update

from app.db.base import utcnow
from app.db.models import Activity, Contract, Payment, Receivable, Task
from app.services import exports as exports_service
from tests.support.builders import (
    access_headers,
    api_pay,
    assert_problem,
    make_activity,
    make_contract,
    make_customer,
    make_receivable,
    make_sales_org,
    walk_pages,
)

API = "/api/v1"
LONG_AGO = utcnow() - dt.timedelta(days=30)
SINCE = (utcnow() - dt.timedelta(days=1)).isoformat()


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


async def _age(uow_factory, model, record_id, column="updated_at"):
    """Pretend the record last changed a month ago."""
    async with uow_factory() as uow:
        await uow.session.execute(update(model).where(model.id == record_id).values({column: LONG_AGO}))
        await uow.commit()


async def _make_task(uow_factory, *, assignee, customer=None):
    async with uow_factory() as uow:
        task = Task(
            id=uuid.uuid4(),
            assignee_id=assignee.id,
            created_by=assignee.id,
            title="call back",
            customer_id=customer.id if customer else None,
            due_at=utcnow() + dt.timedelta(days=1),
        )
        uow.tasks.add(task)
        await uow.commit()
        return task


async def _ids(client, path, user, **params):
    items = await walk_pages(client, f"{API}/{path}", access_headers(user), **params)
    return {item["id"] for item in items}


class TestUpdatedSince:
    async def test_activities(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep)
        old = await make_activity(uow_factory, customer=customer, created_by=org.rep)
        new = await make_activity(uow_factory, customer=customer, created_by=org.rep)
        await _age(uow_factory, Activity, old.id)
        assert await _ids(client, "activities", org.rep, updated_since=SINCE) == {str(new.id)}
        assert await _ids(client, "activities", org.rep) == {str(old.id), str(new.id)}

    async def test_tasks(self, client, org, uow_factory):
        old = await _make_task(uow_factory, assignee=org.rep)
        new = await _make_task(uow_factory, assignee=org.rep)
        await _age(uow_factory, Task, old.id)
        assert await _ids(client, "tasks", org.rep, updated_since=SINCE) == {str(new.id)}

    async def test_contracts_and_receivables(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep)
        old = await make_contract(uow_factory, customer=customer, amount="100.00", status="signed")
        new = await make_contract(uow_factory, customer=customer, amount="200.00", status="signed")
        await _age(uow_factory, Contract, old.id)
        assert await _ids(client, "contracts", org.finance, updated_since=SINCE) == {str(new.id)}
        due = utcnow() + dt.timedelta(days=10)
        old_bill = await make_receivable(uow_factory, contract=old, amount="50.00", due_at=due)
        new_bill = await make_receivable(uow_factory, contract=new, amount="60.00", due_at=due)
        await _age(uow_factory, Receivable, old_bill.id)
        assert await _ids(client, "receivables", org.finance, updated_since=SINCE) == {str(new_bill.id)}
        listed = await client.get(f"{API}/receivables/{new_bill.id}", headers=access_headers(org.finance))
        assert listed.json()["updated_at"]

    async def test_a_paid_receivable_counts_as_changed(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep)
        contract = await make_contract(uow_factory, customer=customer, amount="100.00", status="signed")
        bill = await make_receivable(
            uow_factory, contract=contract, amount="100.00", due_at=utcnow() + dt.timedelta(days=5)
        )
        await _age(uow_factory, Receivable, bill.id)
        assert await _ids(client, "receivables", org.finance, updated_since=SINCE) == set()
        await api_pay(client, org.finance, customer.id, "40.00")
        assert await _ids(client, "receivables", org.finance, updated_since=SINCE) == {str(bill.id)}

    async def test_payments_by_when_they_were_recorded(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep)
        old = await api_pay(client, org.finance, customer.id, "10.00")
        new = await api_pay(client, org.finance, customer.id, "20.00")
        await _age(uow_factory, Payment, uuid.UUID(old["id"]), column="created_at")
        assert await _ids(client, "payments", org.finance, updated_since=SINCE) == {new["id"]}

    @pytest.mark.parametrize(
        "path",
        [
            "activities",
            "tasks",
            "contracts",
            "receivables",
            "payments",
            "contracts/export",
            "receivables/export",
            "payments/export",
        ],
    )
    async def test_a_time_without_zone_is_422(self, client, org, path):
        response = await client.get(
            f"{API}/{path}",
            headers=access_headers(org.finance),
            params={"updated_since": "2026-01-01T00:00:00"},
        )
        assert_problem(response, 422, "validation_error")


def _csv_rows(response):
    text = response.content.decode("utf-8")
    assert text.startswith(codecs.BOM_UTF8.decode())
    return list(csv.DictReader(io.StringIO(text.lstrip(codecs.BOM_UTF8.decode()))))


def _ndjson(response):
    return [json.loads(line) for line in response.text.splitlines()]


class TestExports:
    @pytest.fixture
    async def books(self, client, org, uow_factory):
        mine = await make_customer(uow_factory, owner=org.rep)
        theirs = await make_customer(uow_factory, owner=org.other_rep)
        contracts = [
            await make_contract(uow_factory, customer=c, amount="300.00", status="signed")
            for c in (mine, mine, theirs)
        ]
        # Due one after another: the payment pays the oldest first (all of 0, half of 1).
        bills = [
            await make_receivable(
                uow_factory, contract=k, amount="100.00", due_at=utcnow() + dt.timedelta(days=10 + i)
            )
            for i, k in enumerate(contracts)
        ]
        payment = await api_pay(client, org.finance, mine.id, "150.00")
        return mine, theirs, contracts, bills, payment

    async def test_contracts_csv_and_ndjson_in_scope(self, client, org, books):
        _, _, contracts, _, _ = books
        response = await client.get(f"{API}/contracts/export", headers=access_headers(org.rep))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        rows = _csv_rows(response)
        assert {r["id"] for r in rows} == {str(contracts[0].id), str(contracts[1].id)}
        assert rows[0]["amount"] == "300.00" and rows[0]["status"] == "signed"
        everyone = await client.get(
            f"{API}/contracts/export", headers=access_headers(org.finance), params={"format": "ndjson"}
        )
        assert everyone.headers["content-type"].startswith("application/x-ndjson")
        records = _ndjson(everyone)
        assert {r["id"] for r in records} == {str(c.id) for c in contracts}
        assert set(records[0]) == set(exports_service.CONTRACT_COLUMNS)

    async def test_receivables_carry_status_and_outstanding(self, client, org, books):
        _, _, _, bills, _ = books
        response = await client.get(
            f"{API}/receivables/export", headers=access_headers(org.finance), params={"format": "ndjson"}
        )
        records = {r["id"]: r for r in _ndjson(response)}
        assert set(records) == {str(b.id) for b in bills}
        paid = records[str(bills[0].id)]
        assert (paid["status"], paid["outstanding"], paid["paid_amount"]) == ("paid", "0.00", "100.00")
        assert records[str(bills[2].id)]["status"] == "open"
        only_open = await client.get(
            f"{API}/receivables/export",
            headers=access_headers(org.finance),
            params={"format": "ndjson", "status": "open"},
        )
        assert str(bills[0].id) not in {r["id"] for r in _ndjson(only_open)}

    async def test_payments_with_their_allocations(self, client, org, books):
        _, _, _, bills, payment = books
        ndjson = _ndjson(
            await client.get(
                f"{API}/payments/export", headers=access_headers(org.finance), params={"format": "ndjson"}
            )
        )
        assert [r["id"] for r in ndjson] == [payment["id"]]
        assert {a["receivable_id"] for a in ndjson[0]["allocations"]} == {str(bills[0].id), str(bills[1].id)}
        rows = _csv_rows(await client.get(f"{API}/payments/export", headers=access_headers(org.finance)))
        assert rows[0]["amount"] == "150.00"
        assert rows[0]["allocations"] == f"{bills[0].id}:100.00;{bills[1].id}:50.00"

    async def test_updated_since_filters_the_export(self, client, org, books, uow_factory):
        _, _, contracts, _, _ = books
        await _age(uow_factory, Contract, contracts[0].id)
        records = _ndjson(
            await client.get(
                f"{API}/contracts/export",
                headers=access_headers(org.finance),
                params={"format": "ndjson", "updated_since": SINCE},
            )
        )
        assert {r["id"] for r in records} == {str(contracts[1].id), str(contracts[2].id)}

    async def test_chunks_cover_every_row_once(self, client, org, uow_factory, monkeypatch):
        monkeypatch.setattr(exports_service, "EXPORT_CHUNK", 2)
        customer = await make_customer(uow_factory, owner=org.rep)
        made = [await make_contract(uow_factory, customer=customer, amount="1.00") for _ in range(5)]
        records = _ndjson(
            await client.get(
                f"{API}/contracts/export", headers=access_headers(org.finance), params={"format": "ndjson"}
            )
        )
        ids = [r["id"] for r in records]
        assert sorted(ids) == sorted(str(c.id) for c in made) and ids == sorted(ids)

    async def test_free_text_cannot_become_a_formula(self, client, org, uow_factory):
        customer = await make_customer(uow_factory, owner=org.rep)
        await make_contract(uow_factory, customer=customer, amount="1.00", number="=HYPERLINK(1)")
        rows = _csv_rows(await client.get(f"{API}/contracts/export", headers=access_headers(org.finance)))
        assert rows[0]["number"] == "'=HYPERLINK(1)"

    async def test_an_api_key_exports_with_its_scope(self, client, org, books):
        response = await client.post(
            f"{API}/api-keys",
            headers=access_headers(org.admin),
            json={"name": "DW", "scopes": ["contracts:read"]},
        )
        key = {"Authorization": f"Bearer {response.json()['key']}"}
        assert (await client.get(f"{API}/contracts/export", headers=key)).status_code == 200
        assert_problem(await client.get(f"{API}/payments/export", headers=key), 403, "forbidden.scope")

    async def test_anonymous_is_401(self, client):
        for path in ("contracts/export", "receivables/export", "payments/export"):
            assert_problem(await client.get(f"{API}/{path}"), 401, "unauthorized")

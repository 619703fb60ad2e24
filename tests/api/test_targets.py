"""Targets (/targets) decomposed company → team → rep, who may set which, and the tracking
report (/reports/targets) against hand-computed March 2026 actuals."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from app.db.models import Payment
from tests.support.builders import (
    access_headers,
    assert_problem,
    make_contract,
    make_customer,
    make_sales_org,
    walk_pages,
)

API = "/api/v1"


async def post(client, user, **body):
    return await client.post(f"{API}/targets", headers=access_headers(user), json=body)


async def created(client, user, **body) -> dict:
    response = await post(client, user, **body)
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"/api/v1/targets/{response.json()['id']}"
    return response.json()


@pytest.fixture
async def org(uow_factory, client):
    org = await make_sales_org(uow_factory)
    org.company = await created(
        client,
        org.director,
        period="2026-03",
        level="company",
        signed_amount="100000",
        collected_amount="80000",
    )
    org.region_t = await created(
        client,
        org.director,
        period="2026-03",
        level="team",
        team_id=str(org.region.id),
        parent_id=org.company["id"],
        signed_amount="60000",
        collected_amount="50000",
    )
    org.group_t = await created(
        client,
        org.director,
        period="2026-03",
        level="team",
        team_id=str(org.group.id),
        parent_id=org.region_t["id"],
        signed_amount="40000",
        collected_amount="30000",
    )
    org.rep_t = await created(
        client,
        org.manager,
        period="2026-03",
        level="rep",
        owner_id=str(org.rep.id),
        parent_id=org.group_t["id"],
        signed_amount="30000",
        collected_amount="20000",
    )
    org.rep2_t = await created(
        client,
        org.manager,
        period="2026-03",
        level="rep",
        owner_id=str(org.rep2.id),
        parent_id=org.group_t["id"],
        signed_amount="15000",
        collected_amount="15000",
    )
    return org


def utc(day: int, hour: int = 4, month: int = 3) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=dt.UTC)


async def test_a_target_as_stored(client, org) -> None:
    assert org.rep_t | {} == org.rep_t  # a dict
    assert (org.rep_t["period_start"], org.rep_t["period_end"], org.rep_t["team_id"]) == (
        "2026-03-01",
        "2026-04-01",
        str(org.group.id),
    )  # a rep target is kept under their team
    quarter = await created(
        client, org.director, period="2026-Q4", level="company", signed_amount="1", collected_amount="0"
    )
    assert (quarter["period_start"], quarter["period_end"]) == ("2026-10-01", "2027-01-01")
    year = await created(
        client,
        org.director,
        period="2027",
        level="company",
        region="华东",
        signed_amount="1",
        collected_amount="0",
    )
    assert (year["period_start"], year["period_end"], year["region"]) == ("2027-01-01", "2028-01-01", "华东")


async def test_who_sets_which_target(client, org) -> None:
    assert_problem(
        await post(
            client,
            org.manager,
            period="2026-03",
            level="team",
            team_id=str(org.group.id),
            signed_amount="1",
            collected_amount="1",
        ),
        403,
    )
    assert_problem(
        await post(
            client,
            org.manager,
            period="2026-03",
            level="rep",
            owner_id=str(org.other_rep.id),
            signed_amount="1",
            collected_amount="1",
        ),
        404,
    )
    assert_problem(
        await post(
            client,
            org.rep,
            period="2026-04",
            level="rep",
            owner_id=str(org.rep.id),
            signed_amount="1",
            collected_amount="1",
        ),
        403,
    )
    assert_problem(
        await post(
            client, org.finance, period="2026-04", level="company", signed_amount="1", collected_amount="1"
        ),
        403,
    )
    assert (
        await post(
            client, org.admin, period="2026-04", level="company", signed_amount="1", collected_amount="1"
        )
    ).status_code == 201


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"period": "2026-13", "level": "company"}, 422, "validation_error"),
        ({"period": "2026-Q5", "level": "company"}, 422, "validation_error"),
        ({"period": "2026-03", "level": "rep"}, 422, "validation_error"),
        ({"period": "2026-03", "level": "team"}, 422, "validation_error"),
        ({"period": "2026-03", "level": "company", "signed_amount": "-1"}, 422, "validation_error"),
        ({"period": "2026-03", "level": "company"}, 409, "target.duplicate"),
        (
            {"period": "2026-03", "level": "team", "team_id": "00000000-0000-0000-0000-000000000009"},
            404,
            "not_found",
        ),
    ],
)
async def test_bad_targets(client, org, body, status, code) -> None:
    response = await post(client, org.director, **{"signed_amount": "1", "collected_amount": "1", **body})
    assert_problem(response, status, code)


async def test_a_parent_is_one_level_up_in_the_same_period(client, org) -> None:
    wrong_level = await post(
        client,
        org.director,
        period="2026-03",
        level="rep",
        owner_id=str(org.other_rep.id),
        parent_id=org.company["id"],
        signed_amount="1",
        collected_amount="1",
    )
    assert_problem(wrong_level, 422, "target.invalid_parent")
    other_team = await post(
        client,
        org.director,
        period="2026-03",
        level="rep",
        owner_id=str(org.other_rep.id),
        parent_id=org.group_t["id"],
        signed_amount="1",
        collected_amount="1",
    )
    assert_problem(other_team, 422, "target.invalid_parent")
    april = await post(
        client,
        org.director,
        period="2026-04",
        level="team",
        team_id=str(org.other.id),
        parent_id=org.company["id"],
        signed_amount="1",
        collected_amount="1",
    )
    assert_problem(april, 422, "target.invalid_parent")


async def test_scope_of_the_list(client, org) -> None:
    def ids(items) -> set[str]:
        return {t["id"] for t in items}

    everything = {org.company["id"], org.region_t["id"], org.group_t["id"], org.rep_t["id"], org.rep2_t["id"]}
    assert ids(await walk_pages(client, "/api/v1/targets", access_headers(org.finance))) == everything
    assert ids(await walk_pages(client, "/api/v1/targets", access_headers(org.manager))) == everything - {
        org.company["id"]
    }
    assert ids(await walk_pages(client, "/api/v1/targets", access_headers(org.rep))) == {org.rep_t["id"]}
    response = await client.get(
        f"{API}/targets", headers=access_headers(org.director), params={"level": "team", "period": "2026-03"}
    )
    assert ids(response.json()["items"]) == {org.region_t["id"], org.group_t["id"]}
    assert_problem(
        await client.get(f"{API}/targets/{org.rep2_t['id']}", headers=access_headers(org.rep)), 404
    )
    assert_problem(
        await client.get(f"{API}/targets", headers=access_headers(org.rep), params={"period": "26"}), 422
    )


async def test_update_and_delete(client, org) -> None:
    manager = access_headers(org.manager)
    path = f"{API}/targets/{org.rep2_t['id']}"
    changed = await client.patch(
        path, headers={**manager, "If-Match": '"1"'}, json={"signed_amount": "10000.50"}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["signed_amount"], changed.json()["version"]) == ("10000.50", 2)
    assert_problem(
        await client.patch(path, headers={**manager, "If-Match": '"1"'}, json={"signed_amount": "1"}), 412
    )
    assert_problem(await client.patch(path, headers=manager, json={"signed_amount": None}), 422)
    assert_problem(
        await client.delete(f"{API}/targets/{org.group_t['id']}", headers=access_headers(org.director)),
        409,
        "target.has_children",
    )
    assert_problem(await client.delete(f"{API}/targets/{org.group_t['id']}", headers=manager), 403)
    assert (await client.delete(path, headers=manager)).status_code == 204
    assert_problem(await client.get(path, headers=manager), 404)


async def test_the_tracking_report(client, uow_factory, org) -> None:
    a = await make_customer(uow_factory, owner=org.rep, region="华东")
    b = await make_customer(uow_factory, owner=org.rep2)
    c = await make_customer(uow_factory, owner=org.other_rep)
    # Signed in March (business time): 1 Mar 01:00 Shanghai is still February in UTC.
    await make_contract(
        uow_factory,
        customer=a,
        amount="12000",
        status="signed",
        signed_at=dt.datetime(2026, 2, 28, 17, tzinfo=dt.UTC),
    )
    await make_contract(uow_factory, customer=a, amount="3000", status="completed", signed_at=utc(20))
    await make_contract(uow_factory, customer=b, amount="5000", status="signed", signed_at=utc(9))
    await make_contract(uow_factory, customer=b, amount="999", status="cancelled", signed_at=utc(9))
    await make_contract(
        uow_factory,
        customer=b,
        amount="777",
        status="signed",
        signed_at=dt.datetime(2026, 3, 31, 16, 30, tzinfo=dt.UTC),
    )  # April there
    await make_contract(uow_factory, customer=c, amount="4000", status="signed", signed_at=utc(2))
    async with uow_factory() as uow:
        for customer, amount, at in (
            (a, "6000", utc(10)),
            (b, "2500", utc(11)),
            (c, "1000", utc(12)),
            (a, "50", utc(2, month=4)),
        ):
            uow.session.add(
                Payment(
                    id=uuid.uuid4(),
                    customer_id=customer.id,
                    amount=Decimal(amount),
                    unallocated_amount=Decimal(0),
                    received_at=at,
                )
            )
        await uow.commit()

    response = await client.get(
        f"{API}/reports/targets", headers=access_headers(org.director), params={"period": "2026-03"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["period"] == "2026-03"
    lines = {line["target_id"]: line for line in body["items"]}
    company = lines[org.company["id"]]
    assert (company["actual_signed"], company["actual_collected"]) == ("24000.00", "9500.00")
    assert (company["completion_signed"], company["completion_collected"]) == ("0.2400", "0.1188")
    assert (company["expected_to_date"], company["expected_collected_to_date"]) == (
        "100000.00",
        "80000.00",
    )  # March 2026 is over
    assert (company["unallocated_signed"], company["unallocated_collected"], company["children"]) == (
        "40000.00",
        "30000.00",
        1,
    )
    group = lines[org.group_t["id"]]
    assert (group["actual_signed"], group["actual_collected"]) == ("20000.00", "8500.00")
    # 30,000 + 15,000 signed and 20,000 + 15,000 collected given to reps out of 40,000 and
    # 30,000: over-allocated by 5,000 each.
    assert (group["unallocated_signed"], group["unallocated_collected"]) == ("-5000.00", "-5000.00")
    assert lines[org.region_t["id"]]["actual_signed"] == "20000.00"  # the group is in the region
    rep = lines[org.rep_t["id"]]
    assert rep["subject"] == {"type": "rep", "id": str(org.rep.id), "name": "Test rep"}
    assert (rep["actual_signed"], rep["completion_signed"], rep["unallocated_signed"]) == (
        "15000.00",
        "0.5000",
        None,
    )
    assert lines[org.rep2_t["id"]]["actual_signed"] == "5000.00"

    mine = (
        await client.get(
            f"{API}/reports/targets", headers=access_headers(org.rep), params={"period": "2026-03"}
        )
    ).json()
    assert [line["target_id"] for line in mine["items"]] == [org.rep_t["id"]]


async def test_pace_and_product_targets(client, org) -> None:
    future = await created(
        client, org.director, period="2099-01", level="company", signed_amount="3100", collected_amount="0"
    )
    product = await created(
        client,
        org.director,
        period="2099-01",
        level="company",
        product="ERP",
        signed_amount="10",
        collected_amount="0",
    )
    body = (
        await client.get(
            f"{API}/reports/targets", headers=access_headers(org.director), params={"period": "2099-01"}
        )
    ).json()
    lines = {line["target_id"]: line for line in body["items"]}
    assert (lines[future["id"]]["expected_to_date"], lines[future["id"]]["actual_signed"]) == ("0.00", "0.00")
    assert lines[future["id"]]["completion_collected"] is None  # nothing to collect: no rate
    assert lines[product["id"]]["actual_signed"] is None  # contracts name no product
    assert_problem(
        await client.get(
            f"{API}/reports/targets", headers=access_headers(org.director), params={"period": "2026-W01"}
        ),
        422,
    )

"""Credit-limit requests and approvals (SPEC §6): who may ask, approval routing at each
threshold, self-approval, decided requests, scope, the limit history and customer history,
and the credit settings that hold the thresholds."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest

from app.db.uow import UnitOfWork
from app.services import credit as credit_service
from app.services.credit import RequestNotPending
from tests.support.builders import (
    access_headers,
    assert_problem,
    make_customer,
    make_sales_org,
    make_user,
    principal_of,
    set_credit_limit,
)

REQUESTS = "/api/v1/credit-limit-requests"
SETTINGS = "/api/v1/settings/credit"


def credit_url(customer_id) -> str:
    return f"/api/v1/customers/{customer_id}/credit"


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


@pytest.fixture
async def customer(uow_factory, org):
    """Owned by ``rep`` (team ``group``, under the ``region`` that ``manager`` manages)."""
    return await make_customer(uow_factory, name="Credit Co", owner=org.rep, stage="intent")


async def request_limit(client, user, customer_id, amount, reason="Growing orders", status=201):
    response = await client.post(
        REQUESTS,
        headers=access_headers(user),
        json={"customer_id": str(customer_id), "requested_limit": amount, "reason": reason},
    )
    assert response.status_code == status, response.text
    return response.json()


async def decide(client, user, request_id, verb="approve", **body):
    return await client.post(
        f"{REQUESTS}/{request_id}/{verb}", headers=access_headers(user), json=body or None
    )


async def limit_of(client, customer_id, user) -> str:
    response = await client.get(credit_url(customer_id), headers=access_headers(user))
    assert response.status_code == 200, response.text
    return response.json()["credit_limit"]


async def history(client, customer_id, user) -> list[dict]:
    response = await client.get(f"/api/v1/customers/{customer_id}/history", headers=access_headers(user))
    assert response.status_code == 200, response.text
    return response.json()["items"]


class TestCreateRequest:
    async def test_anonymous(self, client, customer):
        response = await client.post(
            REQUESTS, json={"customer_id": str(customer.id), "requested_limit": "1.00", "reason": "x"}
        )
        assert_problem(response, 401, "unauthorized")

    async def test_rep_asks_for_own_customer(self, client, org, customer):
        response = await client.post(
            REQUESTS,
            headers=access_headers(org.rep),
            json={"customer_id": str(customer.id), "requested_limit": "50000", "reason": " New orders "},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["customer_id"] == str(customer.id)
        assert body["current_limit"] == "0.00"
        assert body["requested_limit"] == "50000.00"
        assert body["reason"] == "New orders"
        assert body["status"] == "pending"
        assert body["required_role"] == "manager"
        assert body["requested_by"] == str(org.rep.id)
        assert body["decided_by"] is None
        assert response.headers["Location"] == f"/api/v1/credit-limit-requests/{body['id']}"
        assert response.headers["ETag"] == '"1"'
        entry = (await history(client, customer.id, org.rep))[0]
        assert entry["action"] == "credit_limit_request"
        assert entry["entity_id"] == body["id"]
        assert entry["changes"]["requested_limit"] == ["0.00", "50000.00"]

    async def test_current_limit_is_recorded(self, client, uow_factory, org, customer):
        await set_credit_limit(uow_factory, customer.id, "20000.00")
        body = await request_limit(client, org.finance, customer.id, "30000.00")
        assert body["current_limit"] == "20000.00"

    @pytest.mark.parametrize(
        ("amount", "role"),
        [
            ("0.00", "manager"),
            ("100000.00", "manager"),
            ("100000.01", "finance"),
            ("1000000.00", "finance"),
            ("1000000.01", "director"),
            ("25000000", "director"),
        ],
    )
    async def test_required_role_by_threshold(self, client, org, customer, amount, role):
        body = await request_limit(client, org.manager, customer.id, amount)
        assert body["required_role"] == role

    async def test_reason_and_amount_are_validated(self, client, org, customer):
        for body in (
            {"requested_limit": "100.00", "reason": "   "},
            {"requested_limit": "100.00"},
            {"requested_limit": "-0.01", "reason": "x"},
            {"requested_limit": "100.001", "reason": "x"},
            {"requested_limit": "100.00", "reason": "x", "credit_limit": "5"},
        ):
            response = await client.post(
                REQUESTS, headers=access_headers(org.manager), json={"customer_id": str(customer.id), **body}
            )
            assert_problem(response, 422, "validation_error")

    @pytest.mark.parametrize("role", ["admin", "support"])
    async def test_roles_that_may_not_ask(self, client, org, customer, role):
        response = await client.post(
            REQUESTS,
            headers=access_headers(getattr(org, role)),
            json={"customer_id": str(customer.id), "requested_limit": "1.00", "reason": "x"},
        )
        assert_problem(response, 403, "forbidden")

    async def test_rep_may_not_ask_for_a_pool_customer(self, client, uow_factory, org):
        pooled = await make_customer(uow_factory, name="Pool Co")
        response = await client.post(
            REQUESTS,
            headers=access_headers(org.rep),
            json={"customer_id": str(pooled.id), "requested_limit": "1.00", "reason": "x"},
        )
        assert_problem(response, 403, "forbidden")

    async def test_out_of_scope_is_not_found(self, client, org, customer):
        for user in (org.rep2, org.other_manager, org.other_rep):
            response = await client.post(
                REQUESTS,
                headers=access_headers(user),
                json={"customer_id": str(customer.id), "requested_limit": "1.00", "reason": "x"},
            )
            assert_problem(response, 404, "not_found")
        response = await client.post(
            REQUESTS,
            headers=access_headers(org.finance),
            json={"customer_id": str(uuid.uuid4()), "requested_limit": "1.00", "reason": "x"},
        )
        assert_problem(response, 404, "not_found")


class TestApprove:
    @pytest.mark.parametrize(
        ("amount", "approver", "too_low"),
        [
            ("100000.00", "manager", None),
            ("100000.01", "finance", "manager"),
            ("1000000.00", "finance", "manager"),
            ("1000000.01", "director", "finance"),
        ],
    )
    async def test_routing_at_each_threshold(self, client, org, customer, amount, approver, too_low):
        request = await request_limit(client, org.rep, customer.id, amount)
        if too_low is not None:
            body = assert_problem(
                await decide(client, getattr(org, too_low), request["id"]), 403, "credit.approval_not_allowed"
            )
            assert body["required_role"] == approver
            assert await limit_of(client, customer.id, org.finance) == "0.00"
        response = await decide(client, getattr(org, approver), request["id"], note="ok")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "approved"
        assert body["decided_by"] == str(getattr(org, approver).id)
        assert body["decided_at"] is not None
        assert body["decision_note"] == "ok"
        assert await limit_of(client, customer.id, org.finance) == f"{Decimal(amount):.2f}"

    async def test_director_approves_any_amount_and_finance_lower_tiers(self, client, org, customer):
        small = await request_limit(client, org.rep, customer.id, "5000.00")
        assert (await decide(client, org.finance, small["id"])).status_code == 200
        big = await request_limit(client, org.rep, customer.id, "99999999.99")
        assert (await decide(client, org.director, big["id"])).status_code == 200
        assert await limit_of(client, customer.id, org.rep) == "99999999.99"

    async def test_no_body_is_fine(self, client, org, customer):
        request = await request_limit(client, org.rep, customer.id, "10.00")
        response = await client.post(
            f"{REQUESTS}/{request['id']}/approve", headers=access_headers(org.manager)
        )
        assert response.status_code == 200, response.text
        assert response.json()["decision_note"] is None

    @pytest.mark.parametrize("requester", ["manager", "finance", "director"])
    async def test_self_approval(self, client, org, customer, requester):
        user = getattr(org, requester)
        request = await request_limit(client, user, customer.id, "100.00")
        assert_problem(await decide(client, user, request["id"]), 403, "credit.self_approval")
        assert_problem(await decide(client, user, request["id"], "reject"), 403, "credit.self_approval")

    @pytest.mark.parametrize("role", ["rep", "admin", "support"])
    async def test_roles_that_never_approve(self, client, org, customer, role):
        request = await request_limit(client, org.manager, customer.id, "100.00")
        assert_problem(await decide(client, getattr(org, role), request["id"]), 403, "forbidden")
        assert_problem(await decide(client, getattr(org, role), request["id"], "reject"), 403, "forbidden")

    async def test_decided_requests_are_not_pending(self, client, org, customer):
        approved = await request_limit(client, org.rep, customer.id, "100.00")
        assert (await decide(client, org.manager, approved["id"])).status_code == 200
        body = assert_problem(
            await decide(client, org.finance, approved["id"]), 409, "credit.request_not_pending"
        )
        assert body["request_status"] == "approved"
        assert_problem(
            await decide(client, org.finance, approved["id"], "reject"), 409, "credit.request_not_pending"
        )
        rejected = await request_limit(client, org.rep, customer.id, "200.00")
        assert (await decide(client, org.manager, rejected["id"], "reject")).status_code == 200
        assert_problem(await decide(client, org.director, rejected["id"]), 409, "credit.request_not_pending")
        assert await limit_of(client, customer.id, org.rep) == "100.00"

    async def test_out_of_scope_is_not_found(self, client, org, customer):
        request = await request_limit(client, org.rep, customer.id, "100.00")
        assert_problem(await decide(client, org.other_manager, request["id"]), 404, "not_found")
        assert_problem(await decide(client, org.finance, uuid.uuid4()), 404, "not_found")

    async def test_limit_history_and_customer_history(self, client, org, customer):
        first = await request_limit(client, org.rep, customer.id, "80000.00", reason="First order")
        assert (await decide(client, org.manager, first["id"])).status_code == 200
        second = await request_limit(client, org.manager, customer.id, "250000.00", reason="Framework deal")
        assert second["current_limit"] == "80000.00"
        assert second["required_role"] == "finance"
        assert (await decide(client, org.finance, second["id"], note="checked")).status_code == 200
        rejected = await request_limit(client, org.rep, customer.id, "900000.00")
        assert (await decide(client, org.finance, rejected["id"], "reject")).status_code == 200

        response = await client.get(
            f"{credit_url(customer.id)}/limit-history", headers=access_headers(org.rep)
        )
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert [
            (i["old_limit"], i["new_limit"], i["request_id"], i["actor_id"], i["reason"]) for i in items
        ] == [
            ("80000.00", "250000.00", second["id"], str(org.finance.id), "Framework deal"),
            ("0.00", "80000.00", first["id"], str(org.manager.id), "First order"),
        ]
        actions = [(h["action"], h["entity_id"]) for h in await history(client, customer.id, org.rep)]
        assert ("credit_limit_approve", first["id"]) in actions
        assert ("credit_limit_approve", second["id"]) in actions
        assert ("credit_limit_reject", rejected["id"]) in actions
        approval = next(
            h
            for h in await history(client, customer.id, org.rep)
            if h["action"] == "credit_limit_approve" and h["entity_id"] == second["id"]
        )
        assert approval["changes"]["credit_limit"] == ["80000.00", "250000.00"]
        assert approval["changes"]["note"] == [None, "checked"]
        assert approval["actor_id"] == str(org.finance.id)

    async def test_limit_history_scope(self, client, org, customer):
        for user in (org.rep2, org.other_manager):
            assert_problem(
                await client.get(f"{credit_url(customer.id)}/limit-history", headers=access_headers(user)),
                404,
                "not_found",
            )
        assert_problem(
            await client.get(f"{credit_url(customer.id)}/limit-history", headers=access_headers(org.admin)),
            403,
            "forbidden",
        )

    async def test_reject_leaves_the_limit(self, client, uow_factory, org, customer):
        await set_credit_limit(uow_factory, customer.id, "500.00")
        request = await request_limit(client, org.rep, customer.id, "100.00")
        response = await decide(client, org.manager, request["id"], "reject", note="no history")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "rejected"
        assert response.json()["decision_note"] == "no history"
        assert await limit_of(client, customer.id, org.rep) == "500.00"
        history_response = await client.get(
            f"{credit_url(customer.id)}/limit-history", headers=access_headers(org.rep)
        )
        assert history_response.json()["items"] == []

    async def test_manager_may_not_reject_above_threshold(self, client, org, customer):
        request = await request_limit(client, org.rep, customer.id, "100000.01")
        assert_problem(
            await decide(client, org.manager, request["id"], "reject"), 403, "credit.approval_not_allowed"
        )

    async def test_thresholds_in_force_at_approval_decide(self, client, org, customer):
        request = await request_limit(client, org.rep, customer.id, "150000.00")
        assert request["required_role"] == "finance"
        headers = access_headers(org.director)
        settings = (await client.get(SETTINGS, headers=headers)).json()
        settings.pop("version")
        response = await client.put(
            SETTINGS, headers=headers, json={**settings, "manager_limit_max": "200000.00"}
        )
        assert response.status_code == 200, response.text
        assert (await decide(client, org.manager, request["id"])).status_code == 200


class TestListAndGet:
    async def test_filters_and_scope(self, client, uow_factory, org, customer):
        other = await make_customer(uow_factory, name="Other Co", owner=org.other_rep)
        mine = await request_limit(client, org.rep, customer.id, "100.00")
        theirs = await request_limit(client, org.other_rep, other.id, "200.00")
        assert (await decide(client, org.finance, theirs["id"])).status_code == 200

        async def ids(user, **params):
            response = await client.get(REQUESTS, headers=access_headers(user), params=params)
            assert response.status_code == 200, response.text
            return [item["id"] for item in response.json()["items"]]

        assert await ids(org.finance) == [theirs["id"], mine["id"]]  # newest first
        assert await ids(org.finance, status="pending") == [mine["id"]]
        assert await ids(org.finance, status="approved") == [theirs["id"]]
        assert await ids(org.finance, customer_id=str(other.id)) == [theirs["id"]]
        assert await ids(org.rep) == [mine["id"]]
        assert await ids(org.manager) == [mine["id"]]
        assert await ids(org.other_manager) == [theirs["id"]]
        assert_problem(
            await client.get(REQUESTS, headers=access_headers(org.finance), params={"status": "open"}),
            422,
            "validation_error",
        )

        response = await client.get(f"{REQUESTS}/{mine['id']}", headers=access_headers(org.rep))
        assert response.status_code == 200
        assert response.json() == mine
        assert response.headers["ETag"] == '"1"'
        assert_problem(
            await client.get(f"{REQUESTS}/{theirs['id']}", headers=access_headers(org.rep)), 404, "not_found"
        )

    async def test_pagination(self, client, org, customer):
        created = [await request_limit(client, org.rep, customer.id, f"{i}.00") for i in range(3)]
        first = (await client.get(REQUESTS, headers=access_headers(org.finance), params={"limit": 2})).json()
        second = (
            await client.get(
                REQUESTS,
                headers=access_headers(org.finance),
                params={"limit": 2, "cursor": first["next_cursor"]},
            )
        ).json()
        assert [r["id"] for r in first["items"] + second["items"]] == [c["id"] for c in created[::-1]]
        assert second["next_cursor"] is None

    async def test_roles(self, client, org):
        assert_problem(await client.get(REQUESTS), 401, "unauthorized")
        assert_problem(await client.get(REQUESTS, headers=access_headers(org.support)), 403)


class TestCreditSettings:
    async def test_defaults(self, client, org):
        response = await client.get(SETTINGS, headers=access_headers(org.rep))
        assert response.status_code == 200, response.text
        assert response.headers["ETag"] == '"0"'
        assert response.json() == {
            "manager_limit_max": "100000.00",
            "finance_limit_max": "1000000.00",
            "hold_after_overdue_days": 60,
            "warn_ratio": "0.80",
            "default_payment_terms_days": 30,
            "renewal_notice_days": 60,
            "default_credit_limit": "0.00",
            "min_repayment_rate": "0.5",
            "provision_rates": {
                "current": "0.00",
                "d1_30": "0.01",
                "d31_60": "0.05",
                "d61_90": "0.10",
                "d91_180": "0.30",
                "over_180": "0.50",
            },
            "collection_actions": {
                "current": "none",
                "d1_30": "reminder",
                "d31_60": "call",
                "d61_90": "manager_visit",
                "d91_180": "escalation",
                "over_180": "legal",
            },
            "grade_factors": {"A": "1.5", "B": "1.0", "C": "0.5"},
            "default_limits_by_grade": {"A": "0.00", "B": "0.00", "C": "0.00"},
            "version": 0,
        }

    async def test_put_and_versions(self, client, org):
        headers = access_headers(org.director)
        current = (await client.get(SETTINGS, headers=headers)).json()
        current.pop("version")
        changed = {**current, "finance_limit_max": "2000000", "default_credit_limit": "5000"}
        response = await client.put(SETTINGS, headers={**headers, "If-Match": '"0"'}, json=changed)
        assert response.status_code == 200, response.text
        assert response.json()["finance_limit_max"] == "2000000.00"
        assert response.json()["default_credit_limit"] == "5000.00"
        assert response.json()["version"] == 1
        assert response.headers["ETag"] == '"1"'
        assert_problem(
            await client.put(SETTINGS, headers={**headers, "If-Match": '"0"'}, json=changed),
            412,
            "conflict.version_mismatch",
        )

    async def test_default_limit_applies_to_new_profiles(self, client, uow_factory, org, customer):
        headers = access_headers(org.admin)
        current = (await client.get(SETTINGS, headers=headers)).json()
        current.pop("version")
        response = await client.put(
            SETTINGS, headers=headers, json={**current, "default_credit_limit": "5000.00"}
        )
        assert response.status_code == 200, response.text
        assert await limit_of(client, customer.id, org.rep) == "5000.00"
        body = await request_limit(client, org.rep, customer.id, "6000.00")
        assert body["current_limit"] == "5000.00"

    async def test_validation(self, client, org):
        headers = access_headers(org.director)
        current = (await client.get(SETTINGS, headers=headers)).json()
        current.pop("version")
        for change in (
            {"manager_limit_max": "2000000.00"},  # above finance_limit_max
            {"warn_ratio": "0"},
            {"warn_ratio": "1.5"},
            {"hold_after_overdue_days": -1},
            {"provision_rates": {**current["provision_rates"], "d31_60": "0.001"}},
            {"grade_factors": {}},
            {"grade_factors": {"AA": "1"}},
            {"collection_actions": {**current["collection_actions"], "d1_30": " "}},
            {"default_credit_limit": "-1.00"},
            {"unknown": 1},
        ):
            response = await client.put(SETTINGS, headers=headers, json={**current, **change})
            assert_problem(response, 422)

    async def test_decreasing_rates_are_refused(self, client, org):
        headers = access_headers(org.director)
        current = (await client.get(SETTINGS, headers=headers)).json()
        current.pop("version")
        rates = {**current["provision_rates"], "d61_90": "0.01"}
        body = assert_problem(
            await client.put(SETTINGS, headers=headers, json={**current, "provision_rates": rates}), 422
        )
        assert any("provision_rates" in e["loc"] for e in body["errors"])

    @pytest.mark.parametrize("role", ["rep", "manager", "finance", "support"])
    async def test_who_may_edit(self, client, org, role):
        current = (await client.get(SETTINGS, headers=access_headers(org.director))).json()
        current.pop("version")
        assert_problem(
            await client.put(SETTINGS, headers=access_headers(getattr(org, role)), json=current),
            403,
            "forbidden",
        )


class TestConcurrentDecisions:
    """Approvals on really committed sessions, run at once: on PostgreSQL the customer and
    credit-row locks decide; on SQLite the writers queue. The invariants hold on both."""

    @pytest.fixture
    def committed_uow(self, committed_factory):
        return lambda: UnitOfWork(committed_factory)

    async def test_one_request_is_decided_once(self, committed_uow):
        rep = await make_user(committed_uow, role="rep")
        approvers = [
            await make_user(committed_uow, role=role)
            for role in ("finance", "finance", "director", "director", "finance")
        ]
        customer = await make_customer(committed_uow, owner=rep)
        request = await credit_service.request_limit(
            committed_uow(),
            await principal_of(committed_uow, rep),
            customer_id=customer.id,
            requested_limit=Decimal("50000.00"),
            reason="volume",
        )
        principals = [await principal_of(committed_uow, a) for a in approvers]
        results = await asyncio.gather(
            *[
                (credit_service.approve_request if i % 2 == 0 else credit_service.reject_request)(
                    committed_uow(), p, request_id=request.id
                )
                for i, p in enumerate(principals)
            ],
            return_exceptions=True,
        )
        decided = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(decided) == 1, results
        assert all(isinstance(r, RequestNotPending) for r in refused), refused
        async with committed_uow() as uow:
            changes = await uow.credit.limit_changes(customer.id)
            profile = await uow.credit.profile(customer.id)
        if decided[0].status == "approved":
            assert [(c.old_limit, c.new_limit) for c in changes] == [(Decimal("0.00"), Decimal("50000.00"))]
            assert profile.credit_limit == Decimal("50000.00")
        else:
            assert changes == []

    async def test_concurrent_approvals_chain_the_history(self, committed_uow):
        rep = await make_user(committed_uow, role="rep")
        finance = await principal_of(committed_uow, await make_user(committed_uow, role="finance"))
        customer = await make_customer(committed_uow, owner=rep)
        rep_principal = await principal_of(committed_uow, rep)
        requests = [
            await credit_service.request_limit(
                committed_uow(),
                rep_principal,
                customer_id=customer.id,
                requested_limit=Decimal(f"{1000 * (i + 1)}.00"),
                reason=f"step {i}",
            )
            for i in range(6)
        ]
        await asyncio.gather(
            *[credit_service.approve_request(committed_uow(), finance, request_id=r.id) for r in requests]
        )
        async with committed_uow() as uow:
            changes = await uow.credit.limit_changes(customer.id)
            profile = await uow.credit.profile(customer.id)
        assert len(changes) == 6
        # Oldest first, each change starts where the previous one ended: no lost update.
        chain = sorted(changes, key=lambda c: (c.at, c.id))
        by_old = {c.old_limit: c for c in chain}
        limit, seen = Decimal("0.00"), 0
        while limit in by_old:
            limit, seen = by_old[limit].new_limit, seen + 1
        assert seen == 6
        assert profile.credit_limit == limit

"""Webhooks: subscriptions, the outbox written with the change, signed delivery (Standard
Webhooks), retries with backoff, giving up, manual retry, disabling, redirects and SSRF."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import httpx
import pytest
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.config import get_settings
from app.db.base import utcnow
from app.db.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from app.services import webhook_worker
from tests.support.builders import access_headers, assert_problem, make_customer, make_sales_org

HOOKS = "/api/v1/webhooks"


@pytest.fixture
async def org(uow_factory):
    return await make_sales_org(uow_factory)


class Receiver:
    """The integrator's endpoint: records requests, answers what the test scripts."""

    def __init__(self, *answers: int) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.answers.pop(0) if self.answers else 204
        headers = {"Location": "https://elsewhere.example/"} if 300 <= status < 400 else {}
        return httpx.Response(status, headers=headers)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


@pytest.fixture
def allow_private(monkeypatch):
    monkeypatch.setattr(get_settings(), "webhook_allow_private", True)


async def _subscribe(client, user, **body):
    body = {"url": "https://receiver.example/hook", "events": ["customer.created"], **body}
    response = await client.post(HOOKS, headers=access_headers(user), json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def _deliveries(client, user, hook_id, **params):
    response = await client.get(f"{HOOKS}/{hook_id}/deliveries", headers=access_headers(user), params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def _deliver(session_factory, receiver) -> int:
    async with receiver.client() as http:
        return await webhook_worker.run_once(session_factory, http)


async def _make_due(uow_factory):
    async with uow_factory() as uow:
        await uow.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.status == "pending")
            .values(next_attempt_at=utcnow() - dt.timedelta(seconds=1))
        )
        await uow.commit()


class TestSubscriptions:
    async def test_anonymous_is_401(self, client):
        assert_problem(await client.get(HOOKS), 401, "unauthorized")

    @pytest.mark.parametrize("role", ["director", "manager", "rep", "support", "finance"])
    async def test_other_roles_are_403(self, client, org, role):
        assert_problem(await client.get(HOOKS, headers=access_headers(getattr(org, role))), 403, "forbidden")

    async def test_create_answers_the_secret_once(self, client, org):
        hook = await _subscribe(
            client, org.admin, events=["customer.created", "payment.received"], description="ERP"
        )
        assert hook["secret"].startswith("whsec_") and hook["is_active"] is True
        got = await client.get(f"{HOOKS}/{hook['id']}", headers=access_headers(org.admin))
        assert got.status_code == 200 and "secret" not in got.json()
        assert got.json()["events"] == ["customer.created", "payment.received"]

    @pytest.mark.parametrize(
        "body, loc",
        [
            ({"url": "http://receiver.example/hook"}, "url"),
            ({"url": "https://user:pw@receiver.example/hook"}, "url"),
            ({"url": "ftp://receiver.example/hook"}, "url"),
            ({"events": ["customer.exploded"]}, "events"),
            ({"events": []}, "events"),
        ],
    )
    async def test_bad_input_is_422(self, client, org, body, loc):
        body = {"url": "https://receiver.example/hook", "events": ["customer.created"], **body}
        problem = assert_problem(await client.post(HOOKS, headers=access_headers(org.admin), json=body), 422)
        assert any(loc in e["loc"] for e in problem["errors"]), problem

    async def test_update_and_delete(self, client, org):
        hook = await _subscribe(client, org.admin)
        headers = {**access_headers(org.admin), "If-Match": '"1"'}
        patched = await client.patch(
            f"{HOOKS}/{hook['id']}", headers=headers, json={"events": ["contract.signed"], "is_active": False}
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["events"] == ["contract.signed"] and patched.json()["is_active"] is False
        stale = await client.patch(f"{HOOKS}/{hook['id']}", headers=headers, json={"description": "x"})
        assert_problem(stale, 412, "conflict.version_mismatch")
        deleted = await client.delete(f"{HOOKS}/{hook['id']}", headers=access_headers(org.admin))
        assert deleted.status_code == 204
        assert_problem(await client.get(f"{HOOKS}/{hook['id']}", headers=access_headers(org.admin)), 404)

    async def test_keys_with_webhooks_manage_see_only_their_own(self, client, org):
        async def key(scopes):
            response = await client.post(
                "/api/v1/api-keys",
                headers=access_headers(org.admin),
                json={"name": "hooks", "scopes": scopes},
            )
            return {"Authorization": f"Bearer {response.json()['key']}"}

        admins = await _subscribe(client, org.admin)
        manager = await key(["webhooks:manage"])
        created = await client.post(
            HOOKS, headers=manager, json={"url": "https://erp.example/hook", "events": ["contract.signed"]}
        )
        assert created.status_code == 201, created.text
        listed = (await client.get(HOOKS, headers=manager)).json()["items"]
        assert [h["id"] for h in listed] == [created.json()["id"]]
        assert_problem(await client.get(f"{HOOKS}/{admins['id']}", headers=manager), 404)
        everything = (await client.get(HOOKS, headers=access_headers(org.admin))).json()["items"]
        assert {h["id"] for h in everything} == {admins["id"], created.json()["id"]}
        assert_problem(await client.get(HOOKS, headers=await key(["changes:read"])), 403, "forbidden.scope")


class TestOutbox:
    async def test_an_event_is_queued_with_the_change(self, client, org):
        hook = await _subscribe(client, org.admin, events=["customer.created", "customer.stage_changed"])
        other = await _subscribe(client, org.admin, events=["payment.received"])
        created = await client.post(
            "/api/v1/customers",
            headers=access_headers(org.support),
            json={"name": "丙公司", "kind": "company"},
        )
        assert created.status_code == 201, created.text
        [delivery] = await _deliveries(client, org.admin, hook["id"])
        assert delivery["event_type"] == "customer.created" and delivery["status"] == "pending"
        assert await _deliveries(client, org.admin, other["id"]) == []

    async def test_a_rolled_back_change_queues_nothing(self, client, org, uow_factory):
        from tests.support.builders import _customer_row

        hook = await _subscribe(client, org.admin)

        def row(name):
            return _customer_row(
                name=name,
                owner=None,
                team=None,
                stage="resource",
                kind="company",
                uscc=None,
                source="other",
                fields={},
            )

        async with uow_factory() as uow:  # flushed, never committed
            uow.customers.add(row("回滚甲"))
            await uow.flush()
        kept = row("保留乙")
        async with uow_factory() as uow:  # a savepoint that fails, then a commit
            with pytest.raises(RuntimeError):
                async with uow.savepoint():
                    uow.customers.add(row("回滚丙"))
                    await uow.flush()
                    raise RuntimeError("undo this part")
            uow.customers.add(kept)
            await uow.commit()
        [delivery] = await _deliveries(client, org.admin, hook["id"])
        async with uow_factory() as uow:
            event = await uow.session.get(WebhookEvent, uuid.UUID(delivery["event_id"]))
            assert event.data == {"id": str(kept.id)}

    async def test_owner_stage_and_contract_events(self, client, org, uow_factory):
        hook = await _subscribe(client, org.admin, events=["customer.owner_changed", "customer.updated"])
        customer = await make_customer(uow_factory, owner=None)
        claimed = await client.post(f"/api/v1/customers/{customer.id}/claim", headers=access_headers(org.rep))
        assert claimed.status_code == 200, claimed.text
        types = sorted(d["event_type"] for d in await _deliveries(client, org.admin, hook["id"]))
        assert types == ["customer.owner_changed", "customer.updated"]


class TestDelivery:
    async def test_signed_per_standard_webhooks(self, client, org, session_factory, allow_private):
        hook = await _subscribe(client, org.admin)
        await client.post(
            "/api/v1/customers",
            headers=access_headers(org.support),
            json={"name": "戊公司", "kind": "company"},
        )
        receiver = Receiver(200)
        assert await _deliver(session_factory, receiver) == 1
        [request] = receiver.requests
        payload = Webhook(hook["secret"]).verify(request.content, dict(request.headers))
        assert payload["type"] == "customer.created" and payload["data"]["id"]
        assert request.headers["webhook-signature"].startswith("v1,")
        [delivery] = await _deliveries(client, org.admin, hook["id"])
        assert delivery["status"] == "succeeded" and delivery["attempts"] == 1
        assert delivery["event_id"] == request.headers["webhook-id"]
        assert delivery["attempt_log"][0]["status_code"] == 200
        assert delivery["attempt_log"][0]["latency_ms"] >= 0
        assert await _deliver(session_factory, receiver) == 0  # nothing left

    async def test_signatures_catch_tampering_wrong_keys_and_replays(
        self, client, org, session_factory, allow_private
    ):
        hook = await _subscribe(client, org.admin)
        await client.post(
            "/api/v1/customers",
            headers=access_headers(org.support),
            json={"name": "己公司", "kind": "company"},
        )
        receiver = Receiver(200)
        await _deliver(session_factory, receiver)
        request = receiver.requests[0]
        headers = dict(request.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(hook["secret"]).verify(request.content.replace(b"customer", b"kustomer"), headers)
        other_secret = (await _subscribe(client, org.admin))["secret"]
        with pytest.raises(WebhookVerificationError):
            Webhook(other_secret).verify(request.content, headers)
        # A captured request replayed later: the timestamp is outside the 5-minute tolerance.
        old = str(int((utcnow() - dt.timedelta(minutes=10)).timestamp()))
        resigned = webhook_worker.signed_headers(
            secret=hook["secret"],
            msg_id=headers["webhook-id"],
            at=dt.datetime.fromtimestamp(int(old), dt.UTC),
            body=request.content,
        )
        with pytest.raises(WebhookVerificationError):
            Webhook(hook["secret"]).verify(request.content, resigned)

    async def test_a_failure_is_retried_later_with_the_same_id(
        self, client, org, session_factory, uow_factory, allow_private
    ):
        hook = await _subscribe(client, org.admin)
        await client.post(
            "/api/v1/customers",
            headers=access_headers(org.support),
            json={"name": "庚公司", "kind": "company"},
        )
        receiver = Receiver(500, 200)
        before = utcnow()
        await _deliver(session_factory, receiver)
        [delivery] = await _deliveries(client, org.admin, hook["id"])
        assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("pending", 1, 500)
        wait = dt.datetime.fromisoformat(delivery["next_attempt_at"]) - before
        assert dt.timedelta(seconds=4) <= wait <= dt.timedelta(seconds=12)
        assert await _deliver(session_factory, receiver) == 0  # not due yet
        await _make_due(uow_factory)
        await _deliver(session_factory, receiver)
        [delivery] = await _deliveries(client, org.admin, hook["id"])
        assert delivery["status"] == "succeeded" and len(delivery["attempt_log"]) == 2
        first, second = receiver.requests
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        Webhook(hook["secret"]).verify(second.content, dict(second.headers))
        assert (await client.get(f"{HOOKS}/{hook['id']}", headers=access_headers(org.admin))).json()[
            "failing_since"
        ] is None

    async def test_after_the_window_it_fails_and_can_be_retried(
        self, client, org, session_factory, uow_factory, allow_private
    ):
        hook = await _subscribe(client, org.admin)
        await client.post(
            "/api/v1/customers",
            headers=access_headers(org.support),
            json={"name": "辛公司", "kind": "company"},
        )
        async with uow_factory() as uow:
            await uow.session.execute(
                update(WebhookDelivery).values(created_at=utcnow() - dt.timedelta(hours=27))
            )
            await uow.commit()
        await _deliver(session_factory, Receiver(503))
        [delivery] = await _deliveries(client, org.admin, hook["id"], status="failed")
        assert delivery["next_attempt_at"] is None and delivery["last_error"] == "HTTP 503"
        retried = await client.post(
            f"{HOOKS}/{hook['id']}/deliveries/{delivery['id']}/retry", headers=access_headers(org.admin)
        )
        assert retried.status_code == 202 and retried.json()["status"] == "pending"
        await _deliver(session_factory, Receiver(200))
        [delivery] = await _deliveries(client, org.admin, hook["id"])
        assert delivery["status"] == "succeeded" and delivery["attempts"] == 2
        again = await client.post(
            f"{HOOKS}/{hook['id']}/deliveries/{delivery['id']}/retry", headers=access_headers(org.admin)
        )
        assert_problem(again, 422, "webhook.delivery_succeeded")

    async def test_sustained_failure_disables_the_endpoint(
        self, client, org, session_factory, uow_factory, allow_private
    ):
        hook = await _subscribe(client, org.admin)
        async with uow_factory() as uow:
            await uow.session.execute(
                update(WebhookEndpoint).values(
                    failing_since=utcnow()
                    - dt.timedelta(hours=get_settings().webhook_disable_after_hours + 1)
                )
            )
            await uow.commit()
        await client.post(
            "/api/v1/customers",
            headers=access_headers(org.support),
            json={"name": "壬公司", "kind": "company"},
        )
        await _deliver(session_factory, Receiver(500))
        got = (await client.get(f"{HOOKS}/{hook['id']}", headers=access_headers(org.admin))).json()
        assert got["is_active"] is False and got["disabled_reason"]
        await _make_due(uow_factory)
        assert await _deliver(session_factory, Receiver(200)) == 0  # disabled: nothing sent

    async def test_redirects_are_not_followed(self, client, org, session_factory, allow_private):
        hook = await _subscribe(client, org.admin)
        await client.post(
            "/api/v1/customers",
            headers=access_headers(org.support),
            json={"name": "癸公司", "kind": "company"},
        )
        receiver = Receiver(302)
        await _deliver(session_factory, receiver)
        assert len(receiver.requests) == 1
        [delivery] = await _deliveries(client, org.admin, hook["id"])
        assert delivery["status"] == "pending" and delivery["last_error"] == "redirect not followed"

    async def test_the_test_event(self, client, org, session_factory, allow_private):
        hook = await _subscribe(client, org.admin)
        sent = await client.post(f"{HOOKS}/{hook['id']}/test", headers=access_headers(org.admin))
        assert sent.status_code == 202 and sent.json()["event_type"] == "webhook.test"
        receiver = Receiver(204)
        await _deliver(session_factory, receiver)
        assert json.loads(receiver.requests[0].content)["type"] == "webhook.test"

    async def test_a_worker_that_died_mid_attempt_is_taken_over(
        self, client, org, session_factory, uow_factory, allow_private
    ):
        hook = await _subscribe(client, org.admin)
        await client.post(
            "/api/v1/customers",
            headers=access_headers(org.support),
            json={"name": "子公司", "kind": "company"},
        )
        async with uow_factory() as uow:  # a worker claims, then is killed before recording
            now = utcnow()
            claimed = await uow.webhooks.claim(now=now, lease_until=now + dt.timedelta(seconds=60), limit=10)
            await uow.commit()
        assert len(claimed) == 1
        assert await _deliver(session_factory, Receiver(200)) == 0  # leased: nobody else takes it
        await _make_due(uow_factory)  # the lease ran out
        assert await _deliver(session_factory, Receiver(200)) == 1
        [delivery] = await _deliveries(client, org.admin, hook["id"])
        assert delivery["status"] == "succeeded"


class TestTargets:
    @pytest.mark.parametrize(
        "url",
        [
            "https://127.0.0.1/hook",
            "https://localhost/hook",
            "https://10.1.2.3/hook",
            "https://192.168.0.10/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/hook",
            "https://[::ffff:10.0.0.1]/hook",
            "https://0.0.0.0/hook",
            "https://nonexistent.invalid/hook",
        ],
    )
    async def test_private_targets_are_refused(self, client, org, session_factory, url):
        assert get_settings().webhook_allow_private is False
        hook = await _subscribe(client, org.admin, url=url)
        sent = await client.post(f"{HOOKS}/{hook['id']}/test", headers=access_headers(org.admin))
        assert sent.status_code == 202
        receiver = Receiver(200)
        await _deliver(session_factory, receiver)
        assert receiver.requests == []
        [delivery] = await _deliveries(client, org.admin, hook["id"])
        assert delivery["last_error"].startswith("blocked") and delivery["status"] == "pending"

    async def test_concurrent_claims_take_disjoint_deliveries(self, client, org, uow_factory):
        hook = await _subscribe(client, org.admin)
        for _ in range(4):
            await client.post(f"{HOOKS}/{hook['id']}/test", headers=access_headers(org.admin))
        now = utcnow()
        async with uow_factory() as uow:
            first = await uow.webhooks.claim(now=now, lease_until=now + dt.timedelta(minutes=1), limit=3)
            second = await uow.webhooks.claim(now=now, lease_until=now + dt.timedelta(minutes=1), limit=3)
            await uow.commit()
        assert len(first) == 3 and len(second) == 1 and not set(first) & set(second)
        async with uow_factory() as uow:
            total = (await uow.session.scalars(select(WebhookDelivery.id))).all()
        assert len(total) == 4 and uuid.UUID(str(total[0]))

"""GET /metrics: Prometheus text by route template and status, latency, the pool and the
housekeeping sweeps; loopback by default, a token or an allowed network otherwise."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.config import Settings
from app.main import create_app
from app.services import maintenance
from tests.support.builders import access_headers, make_user


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def client_from(app, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 50000)), base_url="http://test"
    )


async def test_requests_are_counted_by_route_template_and_status(client, uow_factory):
    user = await make_user(uow_factory, role="admin")
    for _ in range(2):
        await client.get(f"/api/v1/customers/{uuid.uuid4()}", headers=access_headers(user))
    await client.get("/api/v1/no/such/path")
    before = samples((await client.get("/metrics")).text)
    response = await client.get(f"/api/v1/customers/{uuid.uuid4()}", headers=access_headers(user))
    assert response.status_code == 404
    text = (await client.get("/metrics")).text
    after = samples(text)
    key = (
        "crm_http_requests_total",
        (("method", "GET"), ("route", "/api/v1/customers/{customer_id}"), ("status", "404")),
    )
    assert after[key] == before[key] + 1
    unmatched = (("method", "GET"), ("route", "<unmatched>"), ("status", "404"))
    assert ("crm_http_requests_total", unmatched) in after
    assert "/api/v1/no/such/path" not in text  # raw paths never become labels
    histogram = (
        "crm_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/api/v1/customers/{customer_id}")),
    )
    assert after[histogram] == before[histogram] + 1
    assert any(name == "crm_db_pool_connections" for name, _ in after)


async def test_sweeps_are_counted(app, session_factory):
    metrics = app.state.metrics
    task = asyncio.create_task(
        maintenance.run_periodically(session_factory, 3600, on_sweep=metrics.sweep_done)
    )
    for _ in range(100):
        await asyncio.sleep(0.05)
        if metrics.sweeps.labels("ok")._value.get() + metrics.sweeps.labels("failed")._value.get():
            break
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    async with client_from(app, "127.0.0.1") as local:
        text = (await local.get("/metrics")).text
    assert 'crm_background_sweeps_total{result="ok"} 1.0' in text
    assert "crm_background_sweep_duration_seconds_count 1.0" in text


@pytest.mark.parametrize(
    ("address", "headers", "status"),
    [
        ("127.0.0.1", {}, 200),
        ("::1", {}, 200),
        ("203.0.113.9", {}, 403),
        ("203.0.113.9", {"Authorization": "Bearer wrong-token"}, 403),
        ("203.0.113.9", {"Authorization": "Bearer scrape-token-0123456789"}, 200),
        ("10.1.2.3", {}, 200),
        ("10.1.2.3\x00", {}, 403),
    ],
)
async def test_who_may_scrape(session_factory, address, headers, status):
    settings = Settings(
        env="test",
        secret_key="x" * 40,
        metrics_token="scrape-token-0123456789",
        metrics_allow="10.0.0.0/8, 192.168.1.0/24",
    )
    app = create_app(settings, session_factory=session_factory)
    async with client_from(app, address) as remote:
        response = await remote.get("/metrics", headers=headers)
    assert response.status_code == status, response.text
    if status == 200:
        assert response.headers["content-type"].startswith("text/plain")
        assert "crm_http_requests_total" in response.text


def test_a_bad_allowed_network_fails_at_startup():
    with pytest.raises(ValueError, match="not-a-network"):
        Settings(metrics_allow="10.0.0.0/8,not-a-network")

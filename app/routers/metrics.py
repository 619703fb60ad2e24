"""GET /metrics: Prometheus text format (prometheus-client), for the loopback address, a
bearer token (CRM_METRICS_TOKEN) or allowed networks (CRM_METRICS_ALLOW) only."""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.domain import errors
from app.routers.problems import responses

router = APIRouter(tags=["operations"])

UNMATCHED = "<unmatched>"  # a 404 path is not a label value: it would grow without bound


class Metrics:
    """One registry per app (tests build many apps), with the service's own metrics."""

    def __init__(self, session_factory_of: Any) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "crm_http_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "crm_http_request_duration_seconds",
            "Time to answer, by route template",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.in_flight = Gauge(
            "crm_http_requests_in_flight", "Requests being answered now", registry=self.registry
        )
        self.sweeps = Counter(
            "crm_background_sweeps",
            "Housekeeping sweeps, by result (ok, failed, skipped: the database was unreachable)",
            ["result"],
            registry=self.registry,
        )
        self.sweep_duration = Histogram(
            "crm_background_sweep_duration_seconds",
            "Time one housekeeping sweep took",
            registry=self.registry,
        )
        self.last_sweep = Gauge(
            "crm_background_sweep_last_success_timestamp_seconds",
            "When the last sweep succeeded (Unix time)",
            registry=self.registry,
        )
        self.registry.register(_PoolCollector(session_factory_of))

    def sweep_done(self, result: str, seconds: float) -> None:
        self.sweeps.labels(result).inc()
        self.sweep_duration.observe(seconds)
        if result == "ok":
            self.last_sweep.set_to_current_time()


class _PoolCollector(Collector):
    """The database connection pool at scrape time (absent where the pool keeps no count)."""

    def __init__(self, session_factory_of: Any) -> None:
        self.session_factory_of = session_factory_of

    def collect(self) -> Iterator[GaugeMetricFamily]:
        bind = self.session_factory_of().kw.get("bind")
        pool = getattr(getattr(bind, "sync_engine", None), "pool", None)
        figures = {
            name: getattr(pool, name, None) for name in ("size", "checkedout", "checkedin", "overflow")
        }
        if pool is None or not all(callable(f) for f in figures.values()):
            return
        family = GaugeMetricFamily(
            "crm_db_pool_connections",
            "Database connections of this process: "
            "in_use, idle, overflow (opened beyond the pool size), size",
            labels=["state"],
        )
        family.add_metric(["in_use"], figures["checkedout"]())
        family.add_metric(["idle"], figures["checkedin"]())
        family.add_metric(["overflow"], max(figures["overflow"](), 0))
        family.add_metric(["size"], figures["size"]())
        yield family


class MetricsMiddleware:
    """Count and time every HTTP request by its route template (``/customers/{customer_id}``)."""

    def __init__(self, app: ASGIApp, *, metrics_of: Any) -> None:
        self.app = app
        self.metrics_of = metrics_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics: Metrics = self.metrics_of(scope)
        status = 500
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            metrics.in_flight.dec()
            route = _template(scope)
            metrics.requests.labels(scope["method"], route, str(status)).inc()
            metrics.latency.labels(scope["method"], route).observe(time.perf_counter() - started)


def _template(scope: Scope) -> str:
    """The matched route's template, e.g. ``/api/v1/customers/{customer_id}``: the path with
    each path parameter's segment put back as ``{name}`` (an included route knows only its
    own part of the template)."""
    if scope.get("route") is None:
        return UNMATCHED
    names = {str(value): name for name, value in (scope.get("path_params") or {}).items()}
    return "/".join(f"{{{names[part]}}}" if part in names else part for part in scope["path"].split("/"))


def _allowed(request: Request) -> bool:
    settings = request.app.state.settings
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and address.is_loopback:
        return True
    token = settings.metrics_token
    sent = request.headers.get("authorization", "")
    if token and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return True
    networks = [
        ipaddress.ip_network(n.strip(), strict=False) for n in settings.metrics_allow.split(",") if n.strip()
    ]
    return address is not None and any(address in network for network in networks)


@router.get("/metrics", include_in_schema=False, responses=responses(errors.Forbidden, authenticated=False))
async def metrics(request: Request) -> Response:
    """Prometheus text format; see docs/operations.md for what each metric means."""
    if not _allowed(request):
        raise errors.Forbidden(
            "Metrics are served to the loopback address, with CRM_METRICS_TOKEN, or "
            "to the networks in CRM_METRICS_ALLOW"
        )
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

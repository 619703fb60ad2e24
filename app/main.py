"""The application factory: routers, error handlers, middleware and lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import logs
from app.config import Settings, get_settings
from app.db.engine import make_engine, make_session_factory
from app.routers import (
    activities,
    api_keys,
    auth,
    changes,
    complaints,
    contracts,
    credit,
    customers,
    grading,
    health,
    me,
    openapi,
    pool,
    problems,
    receivables,
    reports,
    reports_anomalies,
    reports_funnel,
    reports_people,
    surveys,
    targets,
    tasks,
    teams,
    users,
    webhooks,
)
from app.routers import metrics as metrics_router
from app.routers import (
    settings as settings_router,
)
from app.routers import (
    sync as sync_router,
)
from app.routers.deps import API_PREFIX, current_principal, declare_read_only_refusal, text_rule
from app.routers.metrics import Metrics, MetricsMiddleware
from app.routers.middleware import IdempotencyMiddleware, RequestContextMiddleware
from app.services import maintenance, webhook_worker

log = logging.getLogger("app")

DOCS_STATIC_URL = "/docs-static"

DESCRIPTION = """
API-first sales CRM: customers, the sales funnel, the pool, credit and receivables.

* Log in at `POST /api/v1/auth/token` (or the **Authorize** button) and send
  `Authorization: Bearer <access_token>`.
* Errors are `application/problem+json` with a stable `code`.
* Lists are cursor-paginated: pass `next_cursor` back as `?cursor=`.
* Money and other decimals are strings (`"12500.00"`), in requests as in responses.
* `If-Match` guards updates, `Idempotency-Key` makes a POST safe to retry.
"""


def create_app(
    settings: Settings | None = None, *, session_factory: async_sessionmaker[AsyncSession] | None = None
) -> FastAPI:
    settings = settings or get_settings()
    engine = None
    if session_factory is None:
        engine = make_engine(settings.database_url, echo=settings.db_echo, pool_size=settings.db_pool_size)
        session_factory = make_session_factory(engine)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if settings.webhook_worker and settings.env != "test":
            tasks.append(asyncio.create_task(webhook_worker.run_forever(app.state.session_factory)))
        if settings.recycle_interval_seconds > 0 and settings.env != "test":
            tasks.append(
                asyncio.create_task(
                    maintenance.run_periodically(
                        app.state.session_factory,
                        settings.recycle_interval_seconds,
                        on_sweep=app.state.metrics.sweep_done,
                    )
                )
            )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            # Wait until they have stopped: a sweep cut off mid-query must not outlive the
            # engine (its connection thread would keep the process from exiting).
            await asyncio.gather(*tasks, return_exceptions=True)
            if engine is not None:
                await engine.dispose()

    # FastAPIOffline serves /docs and /redoc with the Swagger UI and ReDoc files it ships, so
    # the pages work without internet (FastAPI's own pages load them from a CDN).
    app = FastAPIOffline(
        title="Sales CRM API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url="/redoc",
        static_url=DOCS_STATIC_URL,
        swagger_ui_parameters={"persistAuthorization": True},
        separate_input_output_schemas=False,
        dependencies=[Depends(text_rule)],
    )
    app.state.settings = settings
    app.state.session_factory = session_factory
    app.state.metrics = Metrics(lambda: app.state.session_factory)

    problems.install(app)

    app.include_router(health.router)
    app.include_router(metrics_router.router)
    public = APIRouter(prefix=API_PREFIX)
    public.include_router(auth.router)
    app.include_router(public)
    # Every other router is authenticated by default through its parent.
    protected = APIRouter(prefix=API_PREFIX, dependencies=[Depends(current_principal)])
    for router in (
        *(
            module.router
            for module in (
                me,
                users,
                teams,
                customers,
                activities,
                pool,
                settings_router,
                credit,
                reports,
                tasks,
                sync_router,
                complaints,
                surveys,
                contracts,
                grading,
                reports_funnel,
                reports_anomalies,
                reports_people,
                targets,
                api_keys,
                changes,
                webhooks,
            )
        ),
        targets.report_router,
        receivables.receivables_router,
        receivables.payments_router,
    ):
        declare_read_only_refusal(router.routes)
        protected.include_router(router)
    app.include_router(protected)

    app.add_middleware(
        IdempotencyMiddleware, session_factory_of=lambda scope: scope["app"].state.session_factory
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["ETag", "Location", "X-Request-ID", "Idempotent-Replayed"],
        )
    app.add_middleware(MetricsMiddleware, metrics_of=lambda scope: scope["app"].state.metrics)
    app.add_middleware(RequestContextMiddleware)
    app.openapi = lambda: openapi.build_openapi(app)  # type: ignore[method-assign]
    return app


def build_app() -> FastAPI:
    """Entry point for ``uvicorn --factory app.main:build_app``."""
    settings = get_settings()
    logs.configure(settings.log_level)
    return create_app(settings)

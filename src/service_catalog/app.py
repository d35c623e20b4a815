"""The FastAPI application: routers, error handlers, middleware and operational endpoints."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from service_catalog import __version__, web
from service_catalog.access import api as access_api
from service_catalog.apis import api as apis_api
from service_catalog.catalog_as_code import api as catalog_as_code_api
from service_catalog.catalog_services import api as catalog_services_api
from service_catalog.core import outbound
from service_catalog.core.db import Database
from service_catalog.core.errors import Problem
from service_catalog.core.http_errors import install_error_handlers, problem_response
from service_catalog.core.logs import configure_logging
from service_catalog.core.middleware import Metrics, RequestMiddleware
from service_catalog.core.openapi import finalize_openapi
from service_catalog.core.secrets import derive_subkey, load_secret
from service_catalog.dependencies import api as dependencies_api
from service_catalog.events import api as events_api
from service_catalog.events.service import record_action
from service_catalog.identity_providers import api as identity_providers_api
from service_catalog.integrations import api as integrations_api
from service_catalog.integrations import registry
from service_catalog.resources import api as resources_api
from service_catalog.resources.dataindex import ensure_data_index
from service_catalog.scorecards import api as scorecards_api
from service_catalog.settings import Settings
from service_catalog.sync import api as sync_api
from service_catalog.sync.worker import BackgroundWorker

log = logging.getLogger("service_catalog.app")

DESCRIPTION = (
    "A self-hosted service catalog, wire-compatible with Kong Konnect's Service Catalog API. "
    "Every `/v1` request needs `Authorization: Bearer <token>`; create tokens with "
    "`service-catalog token create`."
)


def _routers() -> list[Any]:
    # Each domain's router, then the routes the installed connector packages contribute
    # (Traceable's /v2/catalog/...).
    return [
        catalog_services_api.router,
        dependencies_api.router,
        apis_api.apis_router,
        apis_api.mappings_router,
        catalog_as_code_api.router,
        integrations_api.router,
        resources_api.router,
        sync_api.router,
        events_api.router,
        access_api.router,
        identity_providers_api.router,
        scorecards_api.templates,
        scorecards_api.router,
        scorecards_api.service_scorecards,
        *registry.contributed_routers(),
    ]


def _lifespan(
    settings: Settings, database: Database, *, want_worker: bool, owns_db: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: the resource index built for the installed integrations'
    declared paths, the background sync worker when wanted, the database closed at the
    end when the app opened it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ensure_data_index(database)  # before the first request and the first sync
        worker = None
        if want_worker:
            worker = BackgroundWorker(settings, database)
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            if owns_db:
                database.dispose()

    return lifespan


def _add_docs(app: FastAPI) -> None:
    """Swagger UI at /docs, served from fastapi_offline's bundled files."""
    static_dir = os.path.join(os.path.dirname(fastapi_offline.__file__), "static")
    app.mount("/_docs-static", StaticFiles(directory=static_dir), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/v1/openapi.json",
            title="Service Catalog API",
            swagger_js_url="/_docs-static/swagger-ui-bundle.js",
            swagger_css_url="/_docs-static/swagger-ui.css",
            swagger_favicon_url="/_docs-static/favicon.png",
        )


def _add_operations(app: FastAPI, settings: Settings, database: Database, metrics: Metrics) -> None:
    """/health, /ready and /metrics."""

    @app.get("/health", tags=["Operations"], summary="Process is up")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    sqlite_file = settings.sqlite_path() if database.url == settings.database_url else None
    if sqlite_file is not None:
        sqlite_file = sqlite_file.resolve()

    @app.get("/ready", tags=["Operations"], summary="Database is reachable")
    def ready(request: Request) -> Response:
        try:
            if sqlite_file is not None and not sqlite_file.is_file():
                # An open SQLite connection keeps working on a deleted or moved file, and
                # everything written there would be lost: that is not ready.
                raise FileNotFoundError(str(sqlite_file))
            with database.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # any failure means not ready
            log.warning("readiness check failed: %s", type(exc).__name__)
            return problem_response(request, Problem(503, "The database is not reachable"))
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", tags=["Operations"], summary="Prometheus metrics")
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def _audit_denied(db: Database, request: Request, problem: Problem) -> None:
    """Record a write refused for lack of rights (403, or the 404 of a service the
    principal may not see) in the audit trail, in a transaction of its own: the request's
    was rolled back. Best effort: a busy database never turns the refusal into a 500."""
    actor = request.state.actor
    method, path = request.method, request.url.path

    def record() -> None:
        with db.session(write=True, timeout=1.0) as session:
            record_action(
                session,
                actor=actor,
                type="access.denied",
                detail=f"{method} {path} refused: {problem.detail}",
                attributes={"method": method, "path": path, "status": problem.status},
            )

    try:
        await run_in_threadpool(record)
    except Exception:
        log.warning("could not record a refused write in the audit trail", exc_info=True)


def create_app(
    settings: Settings | None = None, *, db: Database | None = None, run_worker: bool | None = None
) -> FastAPI:
    """Build the application on ``settings`` (from the environment when omitted).

    Migrations are applied by the caller (``serve`` and ``migrate``); the app
    only opens the database.
    """
    settings = settings or Settings()
    outbound.configure(settings)  # where connectors may send requests (upstream_allow)
    database = db or Database(settings.database_url)
    metrics = Metrics()
    want_worker = settings.run_worker if run_worker is None else run_worker

    app = FastAPI(
        title="Service Catalog",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan(settings, database, want_worker=want_worker, owns_db=db is None),
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finalize_openapi(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.db = database
    app.state.metrics = metrics
    app.state.on_denied = functools.partial(_audit_denied, database)
    install_error_handlers(app)
    for router in _routers():
        app.include_router(router)
    _add_docs(app)
    _add_operations(app, settings, database, metrics)
    web.mount(app)  # the console, at /

    @functools.cache
    def cursor_key() -> bytes:
        # Derived from the server secret on first use, so every process sharing the
        # database (and its key) accepts the others' cursors.
        return derive_subkey(load_secret(settings), "cursor-signing")

    app.add_middleware(
        RequestMiddleware,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
        cursor_key=cursor_key,
    )
    return app


def app_from_env() -> FastAPI:
    """The app built from environment settings (uvicorn's factory for ``serve``)."""
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)

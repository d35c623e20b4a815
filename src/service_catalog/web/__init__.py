"""The web console: server-rendered pages served by the same process at ``/``.

Face level, beside the routers: pages call the same domain service functions, with the same
unit of work (``auth.deps.Ctx``) and the signed-in actor, as the API; never the HTTP API.
``pages`` holds what every page shares (:class:`~service_catalog.web.pages.PageRoute`,
forms, error pages, :func:`install`), ``templating`` the Jinja2 environment and
:func:`~service_catalog.web.templating.render`, ``csrf`` the forms' tokens; each section is a
module with its router (``sign_in``, ``home``, ``services``, ``resources``,
``integrations``, ``feeds`` (events, audit), ``dependencies`` (a service's dependencies,
its graph and its APIs), ``documents`` (a service's markdown documents), ``apis``,
``scorecards``; ``traceable`` builds the service page's panel),
its templates under ``templates/`` and shared static files (CSS, vendored htmx with its
licence) under ``static/``.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from service_catalog.web import (
    apis,
    dependencies,
    documents,
    feeds,
    home,
    integrations,
    resources,
    scorecards,
    services,
    sign_in,
    traceable,
)
from service_catalog.web.pages import install


def routers() -> list[APIRouter]:
    """The console's routers, in the order they are matched."""
    return [
        sign_in.router,
        home.router,
        services.router,
        resources.router,
        integrations.router,
        traceable.router,
        feeds.router,
        dependencies.router,
        documents.router,
        apis.router,
        scorecards.router,
    ]


def mount(app: FastAPI) -> None:
    """Serve the console on ``app`` (pages, ``/static``, browser 404 pages)."""
    install(app, routers())

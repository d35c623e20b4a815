"""Rendering console pages: the Jinja2 environment over ``web/templates`` and
:func:`render`, which gives every template what the layout needs (who is signed in, the
form token, the navigation)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from service_catalog.auth.access import EVERY
from service_catalog.auth.service import Actor
from service_catalog.web.csrf import CSRF_FIELD, csrf_token, set_csrf_cookie

TEMPLATES = Path(__file__).parent / "templates"

#: The header's navigation: (key, label, path).
NAV = (
    ("home", "Home", "/"),
    ("services", "Services", "/services"),
    ("resources", "Resources", "/resources"),
    ("apis", "APIs", "/apis"),
    ("scorecards", "Scorecards", "/scorecards"),
    ("integrations", "Integrations", "/integrations"),
    ("events", "Events", "/events"),
    ("audit", "Audit", "/audit"),
)


def _when(value: Any) -> str:
    """A timestamp (datetime or RFC 3339 text) as ``2024-05-01 13:45 UTC``; '' for none."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return str(value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))


def is_url(value: Any) -> bool:
    """Whether a custom field's value is a web link (shown as one)."""
    return isinstance(value, str) and value.startswith(("https://", "http://"))


def _query(base: dict[str, Any], **changes: Any) -> str:
    """``base`` (a page's query parameters) with ``changes``, as a query string (empty
    values left out)."""
    merged = {**base, **changes}
    return urlencode([(k, v) for k, v in merged.items() if v not in (None, "")])


ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters["when"] = _when
ENV.tests["url"] = is_url
ENV.globals["query"] = _query
ENV.globals["NAV"] = NAV
ENV.globals["CSRF_FIELD"] = CSRF_FIELD


def _may(actor: Actor | None, role: str, entity_id: object = EVERY) -> bool:
    """Whether the signed-in ``actor`` holds ``role`` on ``entity_id`` (a page shows a
    control only to who may use it; the service functions check again)."""
    return actor is not None and actor.rights.has(role, str(entity_id))


ENV.globals["may"] = _may


def form_page(
    request: Request,
    template: str,
    *,
    actor: Actor,
    section: str,
    values: dict[str, str],
    errors: dict[str, str],
    **context: Any,
) -> HTMLResponse:
    """A page with a form (:func:`render`): its inputs show ``values`` and, by input name,
    ``errors``; a 400 when there are errors (a refused submission), else a 200."""
    return render(
        request,
        template,
        status=400 if errors else 200,
        actor=actor,
        section=section,
        values=values,
        errors=errors,
        **context,
    )


def render(
    request: Request,
    template: str,
    *,
    status: int = 200,
    actor: Actor | None = None,
    section: str = "",
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """The page ``template`` rendered with ``context`` plus what the layout uses:
    ``actor`` (who is signed in: the header shows it and Sign out), ``section`` (the
    navigation entry marked current), ``csrf_token`` (for every form) and ``request``."""
    if actor is None:
        actor = getattr(request.state, "actor", None)
    html = ENV.get_template(template).render(
        request=request,
        actor=actor,
        section=section,
        csrf_token=csrf_token(request),
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=headers)
    set_csrf_cookie(request, response)
    response.headers.setdefault("Cache-Control", "no-store")
    return response

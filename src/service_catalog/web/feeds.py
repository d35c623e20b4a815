"""The console's two feeds: Events (integration events: what upstream systems reported)
and Audit (the audit trail: who changed what), each with keyword, type and time filters and
the events list's cursor paging, read through ``events.service.list_events``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Request, Response

from service_catalog.auth.deps import CtxDep
from service_catalog.core.errors import Problem
from service_catalog.events import service as events
from service_catalog.web.pages import page_router
from service_catalog.web.resources import cursor_of
from service_catalog.web.templating import render

router = page_router()

PAGE_SIZE = 30


def _day(text: str, field: str, notes: list[str]) -> str | None:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        notes.append(f"{field} must be a date (YYYY-MM-DD).")
        return None


def feed_query(params: dict[str, str], notes: list[str]) -> list[tuple[str, str]]:
    """The ``list_events`` query of a feed page's parameters: ``keyword`` (in the detail),
    ``type`` (contains), ``who`` (the actor's name contains; audit), ``from``/``to`` (dates,
    whole days in UTC), ``after``/``before`` (cursors)."""
    query = [("page[size]", str(PAGE_SIZE))]
    if params.get("keyword"):
        query.append(("filter[detail][contains]", params["keyword"]))
    if params.get("type"):
        query.append(("filter[type][contains]", params["type"]))
    if params.get("who"):
        query.append(("filter[actor.name][contains]", params["who"]))
    if params.get("from") and (day := _day(params["from"], "From", notes)):
        query.append(("filter[ts][gte]", f"{day}T00:00:00Z"))
    if params.get("to") and (day := _day(params["to"], "To", notes)):
        query.append(("filter[ts][lte]", f"{day}T23:59:59.999999Z"))
    for param in ("after", "before"):
        if params.get(param):
            query.append((f"page[{param}]", params[param]))
    return query


def _feed(request: Request, ctx: Any, *, audit: bool) -> Response:
    params = {k: v.strip() for k, v in request.query_params.items()}
    notes: list[str] = []
    rows: list[dict[str, Any]] = []
    meta: dict[str, Any] = {"page": {}}
    path = "/audit" if audit else "/events"
    try:
        found, meta = events.list_events(
            ctx.session,
            query=feed_query(params, notes),
            path=path,
            audit_only=audit,
            actor=ctx.actor,
        )
        rows = [events.to_dict(e) for e in found]
    except Problem as exc:
        notes.append(exc.detail)
    base = {k: v for k, v in params.items() if k not in ("after", "before")}
    return render(
        request,
        "feeds.html",
        actor=ctx.actor,
        section="audit" if audit else "events",
        audit=audit,
        path=path,
        entries=rows,
        params=params,
        base=base,
        filtered=any(base.values()),
        next_cursor=cursor_of(meta["page"].get("next"), "page[after]"),
        previous_cursor=cursor_of(meta["page"].get("previous"), "page[before]"),
        notes=notes,
    )


@router.get("/events")
def events_page(request: Request, ctx: CtxDep) -> Response:
    """The integration-events feed."""
    return _feed(request, ctx, audit=False)


@router.get("/audit")
def audit_page(request: Request, ctx: CtxDep) -> Response:
    """The audit trail."""
    return _feed(request, ctx, audit=True)

"""The console's Resources page: every resource with filters (integration, instance, type,
mapped or unmapped, archived, no longer discovered, name search), cursor paging (the
``/v1/resources`` list's own cursors), mapping a resource to a service from the list, and
archive and restore.

Reads and writes go through ``resources.service`` with the request's unit of work and actor.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from service_catalog.auth.deps import CtxDep
from service_catalog.auth.service import Actor
from service_catalog.core.errors import Problem
from service_catalog.resources import service as resources
from service_catalog.web.pages import form_of, page_router
from service_catalog.web.templating import render

router = page_router()

PAGE_SIZE = 25
#: The page's tri-state filters: parameter -> {choice: (filter, value)}.
CHOICES: dict[str, dict[str, tuple[str, str]]] = {
    "mapped": {
        "yes": ("filter[service_associations][gt]", "0"),
        "no": ("filter[service_associations]", "0"),
    },
    "archived": {"no": ("filter[archived]", "false"), "yes": ("filter[archived]", "true")},
    "discovered": {"yes": ("filter[discovered]", "true"), "no": ("filter[discovered]", "false")},
}
#: Filters taken as they are: parameter -> the list's filter.
EXACT = {
    "integration": "filter[integration.name]",
    "instance": "filter[integration.instance.name]",
    "type": "filter[type]",
}
#: What an empty ``archived`` means: only resources in use.
DEFAULT_ARCHIVED = "no"


def list_query(params: dict[str, str]) -> list[tuple[str, str]]:
    """The ``list_resources`` query (the API's grammar) of the page's parameters: ``q``
    (name contains), ``integration``, ``instance``, ``type``, ``mapped`` (yes/no),
    ``archived`` (no, the default; yes; any), ``discovered`` (yes/no), ``after``/``before``
    (the list's cursors)."""
    query: list[tuple[str, str]] = [("page[size]", str(PAGE_SIZE)), ("sort", "name")]
    if params.get("q"):
        query.append(("filter[name][contains]", params["q"]))
    for param, filt in EXACT.items():
        if params.get(param):
            query.append((filt, params[param]))
    for param, choices in CHOICES.items():
        value = params.get(param) or (DEFAULT_ARCHIVED if param == "archived" else "")
        if value in choices:
            query.append(choices[value])
    for param in ("after", "before"):
        if params.get(param):
            query.append((f"page[{param}]", params[param]))
    return query


def cursor_of(link: str | None, param: str) -> str | None:
    """The cursor (``page[after]`` or ``page[before]``) in a list's next/previous link."""
    if not link:
        return None
    return dict(parse_qsl(urlsplit(link).query)).get(param)


def facet_values(session: Session, field: str, actor: Actor) -> list[str]:
    """The values of a resource field among the resources ``actor`` reads (for the filters'
    choices)."""
    data, _ = resources.resource_facets(session, [("field", field), ("limit", "200")], actor)
    return sorted(str(d["value"]) for d in data)


def _page_params(request: Request) -> dict[str, str]:
    return {k: v.strip() for k, v in request.query_params.items()}


@router.get("/resources")
def resources_list(request: Request, ctx: CtxDep) -> Response:
    """Every resource, filtered and cursor-paged."""
    params = _page_params(request)
    notes: list[str] = []
    rows: list[dict[str, Any]] = []
    meta: dict[str, Any] = {"page": {}}
    try:
        found, meta = resources.list_resources(
            ctx.session, query=list_query(params), path="/resources", actor=ctx.actor
        )
        rows = resources.resource_dicts(ctx.session, found)
    except Problem as exc:
        notes.append(exc.detail)
    base = {k: v for k, v in params.items() if k not in ("after", "before", "done", "error")}
    here = {k: v for k, v in params.items() if k not in ("done", "error")}
    filtered = any(base.get(k) for k in ("q", *EXACT, "mapped", "discovered")) or base.get(
        "archived", DEFAULT_ARCHIVED
    ) not in ("", DEFAULT_ARCHIVED)
    return render(
        request,
        "resources/list.html",
        actor=ctx.actor,
        section="resources",
        resources=rows,
        params=params,
        base=base,
        back="/resources?" + urlencode([(k, v) for k, v in here.items() if v]),
        filtered=filtered,
        next_cursor=cursor_of(meta["page"].get("next"), "page[after]"),
        previous_cursor=cursor_of(meta["page"].get("previous"), "page[before]"),
        integrations=facet_values(ctx.session, "integration.name", ctx.actor),
        instances=facet_values(ctx.session, "integration.instance.name", ctx.actor),
        types=facet_values(ctx.session, "type", ctx.actor),
        archived_default=DEFAULT_ARCHIVED,
        notes=notes,
    )


def _back(form_back: str, **message: str) -> RedirectResponse:
    """Back to the list the form was sent from (a local ``/resources`` address only)."""
    target = form_back if form_back.startswith("/resources") else "/resources"
    sep = "&" if "?" in target else "?"
    extra = "&".join(f"{k}={quote(v)}" for k, v in message.items())
    return RedirectResponse(f"{target}{sep}{extra}", status_code=303)


@router.post("/resources/{resource_id}/map")
def map_resource(resource_id: str, request: Request, ctx: CtxDep) -> Response:
    """Map the resource to the service the form names (by name or id)."""
    form = form_of(request)
    service = form.get("service", "").strip()
    back = form.get("back", "/resources")
    if not service:
        return _back(back, error="Name the service to map it to.")
    try:
        with ctx.session.begin_nested():
            mapping = resources.create_mapping(
                ctx.session, service=service, resource=resource_id, actor=ctx.actor
            )
    except Problem as exc:
        if exc.status not in (400, 404, 409):
            raise
        return _back(back, error=exc.detail)
    row = resources.get_resource(ctx.session, resource_id=mapping.resource_id)
    return _back(back, done=f"{row.name or row.id} mapped to {service}.")


@router.post("/resources/{resource_id}/archive")
def archive_resource(resource_id: str, request: Request, ctx: CtxDep) -> Response:
    """Archive (``archived=true``, removing its mappings) or restore the resource."""
    form = form_of(request)
    archived = form.get("archived") == "true"
    row = resources.get_resource(ctx.session, resource_id=resource_id)
    resources.update_resource(
        ctx.session,
        instance_id=str(row.instance_id),
        resource_id=row.id,
        archived=archived,
        actor=ctx.actor,
    )
    verb = "archived" if archived else "restored"
    return _back(form.get("back", "/resources"), done=f"{row.name or row.id} {verb}.")

"""The console's Services pages: the list (search, label and custom-field filters, sort,
paging), create, edit, delete, and a service's page (overview, custom fields, mapped
resources by integration, the unmapped-resource picker, unmap, its integration events).

Every read and write goes through ``catalog_services.service`` and ``resources.service``
with the request's unit of work and actor; forms are validated by the API's own pydantic
schemas, their errors shown next to the field they name.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import ImmutableMultiDict

from service_catalog.auth.deps import CtxDep
from service_catalog.auth.service import Actor
from service_catalog.catalog_services import service as catalog
from service_catalog.catalog_services.models import CatalogService
from service_catalog.catalog_services.schemas import CatalogServiceCreate, CatalogServiceUpdate
from service_catalog.core.errors import Problem, invalid_parameters_from
from service_catalog.events import service as events
from service_catalog.resources import service as resources
from service_catalog.web import dependencies as dependency_views
from service_catalog.web import documents as document_views
from service_catalog.web import scorecards as scorecard_views
from service_catalog.web import traceable
from service_catalog.web.pages import form_of, page_router
from service_catalog.web.templating import form_page, render

router = page_router()

PAGE_SIZE = 25
SORTS = {
    "display_name": "Display name",
    "name": "Name",
    "created_at desc": "Newest",
    "updated_at desc": "Recently updated",
}
#: Custom fields the form asks for by name: (key, label, help).
STANDARD_FIELDS = (
    ("owner", "Owner", "The team or person who owns it."),
    ("slack_channel", "Slack channel", "e.g. #payments-oncall"),
    ("dashboard_url", "Dashboard link", "A URL, shown as a link."),
)
STANDARD_KEYS = {k for k, _, _ in STANDARD_FIELDS}


# --- the list -------------------------------------------------------------------------


def _pair(text: str) -> tuple[str, str] | None:
    key, sep, value = text.partition("=")
    return (key.strip(), value.strip()) if sep and key.strip() else None


def list_query(params: dict[str, str]) -> tuple[list[tuple[str, str]], list[str]]:
    """The list's query for ``list_services`` (the API's grammar) from the page's
    parameters (``q`` name contains, ``label`` and ``field`` as ``key=value``, ``sort``,
    ``page``), and what in them could not be used."""
    query: list[tuple[str, str]] = []
    notes: list[str] = []
    if params.get("q"):
        query.append(("filter[name][contains]", params["q"]))
    for param, prefix in (("label", "labels"), ("field", "custom_fields")):
        if params.get(param):
            pair = _pair(params[param])
            if pair is None:
                notes.append(f"Write the {param} filter as key=value.")
            else:
                query.append((f"filter[{prefix}.{pair[0]}]", pair[1]))
    sort = params.get("sort") if params.get("sort") in SORTS else "display_name"
    query.append(("sort", str(sort)))
    page = params.get("page", "1")
    query += [("page[size]", str(PAGE_SIZE)), ("page[number]", page if page.isdigit() else "1")]
    return query, notes


@router.get("/services")
def services_list(request: Request, ctx: CtxDep) -> Response:
    """The services list."""
    params = {k: v.strip() for k, v in request.query_params.items()}
    query, notes = list_query(params)
    rows: list[dict[str, Any]] = []
    total = 0
    try:
        rows, meta = catalog.list_services(ctx.session, query, ctx.actor)
        total = int(meta["page"]["total"])
    except Problem as exc:
        notes.append(exc.detail)
    number = int(dict(query)["page[number]"])
    pages = max(1, -(-total // PAGE_SIZE))
    return render(
        request,
        "services/list.html",
        actor=ctx.actor,
        section="services",
        services=rows,
        total=total,
        number=number,
        pages=pages,
        params=params,
        sorts=SORTS,
        notes=notes,
    )


# --- create and edit ------------------------------------------------------------------


def _lines(text: str, field: str, errors: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        pair = _pair(line)
        if pair is None:
            errors[field] = f"Line {n}: write one key=value a line."
            continue
        out[pair[0]] = pair[1]
    return out


def form_values(form: ImmutableMultiDict[str, str]) -> dict[str, str]:
    """The service form's fields as submitted (to show again)."""
    keys = ["name", "display_name", "description", "labels", "custom_fields", *STANDARD_KEYS]
    return {k: form.get(k, "") for k in keys}


def parse_form(values: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The service's fields from the form (``labels`` and other custom fields one
    ``key=value`` a line), and the form's own errors by field."""
    errors: dict[str, str] = {}
    labels = _lines(values["labels"], "labels", errors)
    fields: dict[str, Any] = _lines(values["custom_fields"], "custom_fields", errors)
    for key in STANDARD_KEYS:
        if values[key].strip():
            fields[key] = values[key].strip()
    body: dict[str, Any] = {
        "name": values["name"].strip(),
        "display_name": values["display_name"].strip(),
        "description": values["description"].strip() or None,
        "labels": labels,
        "custom_fields": fields,
    }
    return body, errors


def form_field(api_field: str) -> str:
    """The form field an API validation error names (``custom_fields.owner`` is the Owner
    input, ``labels.env`` the labels box)."""
    head, _, rest = api_field.partition(".")
    if head == "custom_fields":
        key = rest.split(".")[0]
        return key if key in STANDARD_KEYS else "custom_fields"
    return head if head in ("name", "display_name", "description", "labels") else "form"


def errors_of(problem_params: list[dict[str, Any]], errors: dict[str, str]) -> None:
    """Add the API's ``invalid_parameters`` to ``errors`` by form field."""
    for p in problem_params:
        field = form_field(str(p.get("field", "")))
        label = str(p.get("field", ""))
        text = str(p.get("reason", "is invalid"))
        if field in ("labels", "custom_fields") and "." in label:
            text = f"{label.split('.', 1)[1]}: {text}"
        errors.setdefault(field, text)


def _service_values(svc: CatalogService) -> dict[str, str]:
    fields = dict(svc.custom_fields or {})
    values = {
        "name": svc.name,
        "display_name": svc.display_name,
        "description": svc.description or "",
        "labels": "\n".join(f"{k}={v}" for k, v in sorted((svc.labels or {}).items())),
    }
    for key in STANDARD_KEYS:
        value = fields.pop(key, "")
        values[key] = value if isinstance(value, str) else str(value)
    values["custom_fields"] = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    return values


def _form_page(
    request: Request,
    ctx: Any,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    svc: CatalogService | None = None,
) -> Response:
    return form_page(
        request,
        "services/form.html",
        actor=ctx.actor,
        section="services",
        values=values,
        errors=errors,
        service=svc,
        standard_fields=STANDARD_FIELDS,
    )


EMPTY = {k: "" for k in ("name", "display_name", "description", "labels", "custom_fields")}


@router.get("/services/new")
def new_service(request: Request, ctx: CtxDep) -> Response:
    """The form of a new service."""
    return _form_page(request, ctx, values={**EMPTY, **{k: "" for k in STANDARD_KEYS}}, errors={})


def _invalid(exc: ValidationError | Problem) -> list[dict[str, Any]]:
    if isinstance(exc, ValidationError):
        return invalid_parameters_from(list(exc.errors()))
    return exc.invalid_parameters or [{"field": "name", "reason": exc.detail}]


@router.post("/services/new")
def create_service(request: Request, ctx: CtxDep) -> Response:
    """Create a service from the form; the form again with its errors when invalid."""
    values = form_values(form_of(request))
    body, errors = parse_form(values)
    if not errors:
        try:
            data = CatalogServiceCreate.model_validate(body)
            with ctx.session.begin_nested():
                svc = catalog.create_service(ctx.session, data=data, actor=ctx.actor)
            return RedirectResponse(f"/services/{svc.id}?created=1", status_code=303)
        except (ValidationError, Problem) as exc:
            if isinstance(exc, Problem) and exc.status not in (400, 409):
                raise
            errors_of(_invalid(exc), errors)
    return _form_page(request, ctx, values=values, errors=errors)


def _changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A merge patch turning ``old`` into ``new`` (a removed key set to null)."""
    patch: dict[str, Any] = {k: None for k in old if k not in new}
    patch.update({k: v for k, v in new.items() if old.get(k) != v})
    return patch


@router.get("/services/{service_id}/edit")
def edit_service(service_id: str, request: Request, ctx: CtxDep) -> Response:
    """The form of a service's changes."""
    svc = catalog.get_service(
        ctx.session, service_id=service_id, rights=ctx.actor.rights, change=True
    )
    return _form_page(request, ctx, values=_service_values(svc), errors={}, svc=svc)


@router.post("/services/{service_id}/edit")
def update_service(service_id: str, request: Request, ctx: CtxDep) -> Response:
    """Apply the form's changes; the form again with its errors when invalid."""
    svc = catalog.get_service(
        ctx.session, service_id=service_id, rights=ctx.actor.rights, change=True
    )
    values = form_values(form_of(request))
    body, errors = parse_form(values)
    if not errors:
        body["labels"] = _changes(svc.labels or {}, body["labels"])
        body["custom_fields"] = _changes(svc.custom_fields or {}, body["custom_fields"])
        body["description"] = body["description"] or None
        try:
            data = CatalogServiceUpdate.model_validate(body)
            with ctx.session.begin_nested():
                catalog.update_service(
                    ctx.session, service_id=str(svc.id), data=data, actor=ctx.actor
                )
            return RedirectResponse(f"/services/{svc.id}?updated=1", status_code=303)
        except (ValidationError, Problem) as exc:
            if isinstance(exc, Problem) and exc.status not in (400, 409):
                raise
            errors_of(_invalid(exc), errors)
    return _form_page(request, ctx, values=values, errors=errors, svc=svc)


@router.get("/services/{service_id}/delete")
def confirm_delete(service_id: str, request: Request, ctx: CtxDep) -> Response:
    """Ask before deleting a service."""
    svc = catalog.get_service(
        ctx.session, service_id=service_id, rights=ctx.actor.rights, change=True
    )
    _, meta = resources.list_service_resources(
        ctx.session, service_id=str(svc.id), query=[("page[size]", "1")], actor=ctx.actor
    )
    return render(
        request,
        "services/delete.html",
        actor=ctx.actor,
        section="services",
        service=svc,
        mapped=int(meta["page"]["total"]),
    )


@router.post("/services/{service_id}/delete")
def delete_service(service_id: str, request: Request, ctx: CtxDep) -> Response:
    """Delete the service (its resources stay, their mappings to it go)."""
    svc = catalog.get_service(
        ctx.session, service_id=service_id, rights=ctx.actor.rights, change=True
    )
    name = svc.name
    catalog.delete_service(ctx.session, service_id=str(svc.id), actor=ctx.actor)
    return RedirectResponse(f"/services?deleted={quote(name)}", status_code=303)


# --- a service's page -----------------------------------------------------------------


def grouped_resources(session: Session, svc: CatalogService, actor: Actor) -> list[dict[str, Any]]:
    """The resources mapped to ``svc`` (the first 1000), grouped by integration instance."""
    rows, _ = resources.list_service_resources(
        session,
        service_id=str(svc.id),
        query=[("page[size]", "1000"), ("sort", "name")],
        actor=actor,
    )
    groups: dict[str, dict[str, Any]] = {}
    for item in resources.resource_dicts(session, rows):
        integ = item["integration"]
        key = integ["instance"]["id"]
        group = groups.setdefault(
            key,
            {
                "integration": integ["display_name"],
                "instance": integ["instance"]["display_name"] or integ["instance"]["name"],
                "resources": [],
            },
        )
        group["resources"].append(item)
    return sorted(groups.values(), key=lambda g: (g["integration"], g["instance"]))


def event_query(params: dict[str, str]) -> list[tuple[str, str]]:
    """The events list's query from the page's ``keyword``, ``from`` and ``to`` (dates)."""
    query = [("page[size]", "20")]
    if params.get("keyword"):
        query.append(("filter[detail][contains]", params["keyword"]))
    if params.get("from"):
        query.append(("filter[ts][gte]", f"{params['from']}T00:00:00Z"))
    if params.get("to"):
        query.append(("filter[ts][lte]", f"{params['to']}T23:59:59Z"))
    return query


@router.get("/services/{service_id}")
def service_page(service_id: str, request: Request, ctx: CtxDep) -> Response:
    """A service: overview, custom fields, scorecards, documents, the Traceable panel of
    each mapped Traceable Service, mapped resources, picker, events."""
    svc = catalog.get_service(ctx.session, service_id=service_id, rights=ctx.actor.rights)
    params = {k: v.strip() for k, v in request.query_params.items()}
    notes: list[str] = []
    feed: list[dict[str, Any]] = []
    try:
        rows, _ = events.list_events(
            ctx.session,
            query=event_query(params),
            path=f"/v1/catalog-services/{svc.id}/integration-events",
            service_id=svc.id,
            actor=ctx.actor,
        )
        feed = [events.to_dict(e) for e in rows]
    except Problem as exc:
        notes.append(exc.detail)
    groups = grouped_resources(ctx.session, svc, ctx.actor)
    return render(
        request,
        "services/show.html",
        actor=ctx.actor,
        section="services",
        service=catalog.to_dict(svc),
        groups=groups,
        traceable=traceable.panels(ctx.session, [r for g in groups for r in g["resources"]]),
        events=feed,
        params=params,
        notes=notes,
        dependencies=dependency_views.section(ctx.session, svc, ctx.actor),
        scorecards=scorecard_views.service_section(ctx.session, svc, ctx.actor),
        documents=document_views.service_section(ctx.session, svc, ctx.actor),
    )


@router.get("/services/{service_id}/picker")
def resource_picker(service_id: str, request: Request, ctx: CtxDep) -> Response:
    """The picker's results (an htmx fragment): unmapped, unarchived resources whose
    name contains ``q``."""
    svc = catalog.get_service(ctx.session, service_id=service_id, rights=ctx.actor.rights)
    text = request.query_params.get("q", "").strip()
    query = [
        ("filter[archived]", "false"),
        ("filter[service_associations]", "0"),
        ("page[size]", "10"),
        ("sort", "name"),
    ]
    if text:
        query.append(("filter[name][contains]", text))
    rows, _ = resources.list_resources(
        ctx.session, query=query, path="/v1/resources", actor=ctx.actor
    )
    return render(
        request,
        "services/picker.html",
        actor=ctx.actor,
        service=svc,
        found=resources.resource_dicts(ctx.session, rows, full=False),
        text=text,
    )


@router.post("/services/{service_id}/resources")
def map_resource(service_id: str, request: Request, ctx: CtxDep) -> Response:
    """Map the chosen resource to the service."""
    svc = catalog.get_service(
        ctx.session, service_id=service_id, rights=ctx.actor.rights, change=True
    )
    resource_id = form_of(request).get("resource_id", "")
    resources.create_mapping(
        ctx.session, service=str(svc.id), resource=resource_id, actor=ctx.actor
    )
    return RedirectResponse(f"/services/{svc.id}?mapped=1#resources", status_code=303)


@router.post("/services/{service_id}/resources/unmap")
def unmap_resource(service_id: str, request: Request, ctx: CtxDep) -> Response:
    """Remove the mapping of a resource to the service (the resource stays)."""
    svc = catalog.get_service(
        ctx.session, service_id=service_id, rights=ctx.actor.rights, change=True
    )
    resource_id = form_of(request).get("resource_id", "")
    rows, _ = resources.list_mappings(
        ctx.session,
        query=[("filter[service.id]", str(svc.id)), ("filter[resource.id]", resource_id)],
        actor=ctx.actor,
    )
    if not rows:
        raise Problem(404, f"Resource [{resource_id}] is not mapped to {svc.name}")
    resources.delete_mapping(ctx.session, mapping_id=str(rows[0].id), actor=ctx.actor)
    return RedirectResponse(f"/services/{svc.id}?unmapped=1#resources", status_code=303)

"""The console's APIs pages: the list of APIs, and an API's page with its specification
documents rendered offline as a readable outline (OpenAPI: each operation's method, path,
summary, parameters, request types and responses; AsyncAPI: channels and their
operations) and the services that provide it.

The outline (:func:`service_catalog.apis.specs.outline`) holds plain text only, which the
templates escape: nothing in a specification is ever rendered as markup. APIs are read by
any signed-in principal; the services providing one are those the principal may read.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from service_catalog.apis import service as apis
from service_catalog.apis.specs import outline
from service_catalog.auth.deps import CtxDep
from service_catalog.catalog_services import service as catalog
from service_catalog.web.pages import page_router
from service_catalog.web.templating import render

router = page_router()

PAGE_SIZE = 50
#: Specification documents of one API outlined on its page at most.
SPECS_SHOWN = 20


@router.get("/apis")
def apis_list(request: Request, ctx: CtxDep) -> Response:
    """Every API, by name (``q``: name contains), paged."""
    params = {k: v.strip() for k, v in request.query_params.items()}
    page = params.get("page", "1")
    number = int(page) if page.isdigit() and int(page) > 0 else 1
    query = [("sort", "name"), ("page[size]", str(PAGE_SIZE)), ("page[number]", str(number))]
    if params.get("q"):
        query.append(("filter[name][contains]", params["q"]))
    rows, meta = apis.list_apis(ctx.session, query)
    total = int(meta["page"]["total"])
    return render(
        request,
        "apis/list.html",
        actor=ctx.actor,
        section="apis",
        apis=rows,
        total=total,
        number=number,
        pages=max(1, -(-total // PAGE_SIZE)),
        params=params,
    )


def _providers(ctx: Any, api_id: str) -> list[dict[str, Any]]:
    rows, _ = apis.list_api_service_mappings(
        ctx.session, api_id=api_id, query=[("page[size]", "100")], actor=ctx.actor
    )
    found = [catalog.get_service(ctx.session, service_id=m["service_id"]) for m in rows]
    return sorted(
        ({"id": str(s.id), "name": s.name, "display_name": s.display_name} for s in found),
        key=lambda s: s["display_name"].lower(),
    )


@router.get("/apis/{api_id}")
def api_page(api_id: str, request: Request, ctx: CtxDep) -> Response:
    """An API: its fields, the services providing it, and each specification outlined."""
    api = apis.get_api(ctx.session, api_id=api_id)
    specs, meta = apis.list_specs(
        ctx.session, api_id=str(api.id), query=[("page[size]", str(SPECS_SHOWN))]
    )
    documents = [{**s, "outline": outline(s["content"])} for s in specs]
    return render(
        request,
        "apis/show.html",
        actor=ctx.actor,
        section="apis",
        api=apis.api_dict(ctx.session, api),
        documents=documents,
        spec_total=int(meta["page"]["total"]),
        providers=_providers(ctx, str(api.id)),
    )

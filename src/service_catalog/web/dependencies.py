"""The console's dependency views: on a service's page, its dependencies both ways, a graph
of the services around it (server-rendered SVG, laid out by depth columns: no script, no
library), and the APIs it provides; a Service Admin adds, removes and confirms its
dependencies there.

Every read and write goes through ``dependencies.service`` and ``apis.service`` with the
request's unit of work and actor, so the page shows exactly what the API would answer the
same principal (a service it may not read is left out of the lists and the graph).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from service_catalog.apis import service as apis
from service_catalog.auth.access import SERVICE_ADMIN
from service_catalog.auth.deps import CtxDep
from service_catalog.auth.service import Actor
from service_catalog.catalog_services.models import CatalogService
from service_catalog.core.errors import Problem, invalid_parameters_from
from service_catalog.dependencies import service as deps
from service_catalog.dependencies.models import PROPOSED
from service_catalog.dependencies.rights import administered_service
from service_catalog.dependencies.schemas import DependencyCreate
from service_catalog.web.pages import form_of, page_router
from service_catalog.web.templating import form_page

router = page_router()

#: How far the graph looks each way, and how many services a side it draws at most.
GRAPH_DEPTH = 3
GRAPH_LIMIT = 60
#: The lists' size (direct dependencies and dependents, mapped APIs).
LIST_SIZE = 100
# The graph's geometry, in SVG user units.
NODE_W, NODE_H = 180, 40
COL_GAP, ROW_GAP, MARGIN = 70, 16, 12
NAME_CHARS = 22


@dataclass(frozen=True)
class Node:
    """A service drawn in the graph."""

    id: str
    name: str
    display_name: str
    label: str  # the display name cut to fit
    x: int
    y: int
    column: int
    focus: bool


@dataclass(frozen=True)
class Edge:
    """An arrow from a service to one it depends on (``d``: the SVG path)."""

    d: str
    label: str
    proposed: bool
    label_x: int
    label_y: int
    title: str


def _cut(text: str) -> str:
    return text if len(text) <= NAME_CHARS else text[: NAME_CHARS - 1] + "…"


def layout(graph: deps.Graph, focus: uuid.UUID) -> dict[str, Any]:
    """Positions for :func:`service_catalog.dependencies.service.graph_around`'s graph:
    one column per depth (those that depend on the service on the left, what it depends
    on on the right), each column's services by name; every edge a curve from its
    source's right side to its target's left side."""
    columns = sorted({c for c, _, _ in graph.nodes.values()})
    index = {c: i for i, c in enumerate(columns)}
    by_column: dict[int, list[tuple[uuid.UUID, tuple[int, str, str]]]] = {}
    for sid, node in graph.nodes.items():
        by_column.setdefault(node[0], []).append((sid, node))
    rows = max((len(v) for v in by_column.values()), default=1)
    height = MARGIN * 2 + rows * NODE_H + (rows - 1) * ROW_GAP
    nodes: dict[uuid.UUID, Node] = {}
    for column, members in by_column.items():
        members.sort(key=lambda m: (m[1][2].lower(), m[1][1]))
        # centre a shorter column vertically
        top = MARGIN + (rows - len(members)) * (NODE_H + ROW_GAP) // 2
        for i, (sid, (_, name, display)) in enumerate(members):
            nodes[sid] = Node(
                id=str(sid),
                name=name,
                display_name=display,
                label=_cut(display),
                x=MARGIN + index[column] * (NODE_W + COL_GAP),
                y=top + i * (NODE_H + ROW_GAP),
                column=column,
                focus=sid == focus,
            )
    edges: list[Edge] = []
    for _, source, target, label, status in graph.edges:
        a, b = nodes.get(source), nodes.get(target)
        if a is None or b is None:
            continue
        x1, y1 = a.x + NODE_W, a.y + NODE_H // 2
        x2, y2 = b.x, b.y + NODE_H // 2
        bend = max(40, abs(x2 - x1) // 2)
        edges.append(
            Edge(
                d=f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2 - 2},{y2}",
                label=label,
                proposed=status == PROPOSED,
                label_x=(x1 + x2) // 2,
                label_y=(y1 + y2) // 2 - 4,
                title=f"{a.display_name} depends on {b.display_name}"
                + (f" ({label})" if label else "")
                + (", proposed" if status == PROPOSED else ""),
            )
        )
    width = MARGIN * 2 + len(columns) * NODE_W + max(0, len(columns) - 1) * COL_GAP
    return {
        "nodes": sorted(nodes.values(), key=lambda n: (n.column, n.y)),
        "edges": edges,
        "width": width,
        "height": height,
        "node_w": NODE_W,
        "node_h": NODE_H,
        "truncated": graph.truncated,
        "upstream": sum(1 for n in nodes.values() if n.column < 0),
        "downstream": sum(1 for n in nodes.values() if n.column > 0),
    }


def _direct(session: Session, svc: CatalogService, actor: Actor, direction: str) -> Any:
    rows, meta = deps.list_dependencies(
        session,
        service=str(svc.id),
        query=[
            ("direction", direction),
            ("include_proposed", "true"),
            ("page[size]", str(LIST_SIZE)),
        ],
        actor=actor,
    )
    return {"rows": rows, "total": int(meta["page"]["total"])}


def mapped_apis(session: Session, svc: CatalogService, actor: Actor) -> list[dict[str, Any]]:
    """The APIs mapped to ``svc`` (the first :data:`LIST_SIZE`), by name."""
    rows, _ = apis.list_service_api_mappings(
        session, service=str(svc.id), query=[("page[size]", str(LIST_SIZE))], actor=actor
    )
    found = [apis.api_dict(session, apis.get_api(session, api_id=m["api_id"])) for m in rows]
    return sorted(found, key=lambda a: (a["name"].lower(), a["version"] or ""))


def consumed_apis(session: Session, svc: CatalogService, actor: Actor) -> list[dict[str, Any]]:
    """The APIs ``svc`` consumes (the first :data:`LIST_SIZE`), by name."""
    rows, _ = apis.list_service_consumed_apis(
        session, service=str(svc.id), query=[("page[size]", str(LIST_SIZE))], actor=actor
    )
    found = [apis.api_dict(session, apis.get_api(session, api_id=m["api_id"])) for m in rows]
    return sorted(found, key=lambda a: (a["name"].lower(), a["version"] or ""))


def section(session: Session, svc: CatalogService, actor: Actor) -> dict[str, Any]:
    """What the service page's Dependencies and APIs sections show: the services it
    depends on and those depending on it (one edge away, proposed ones included), the
    graph around it, the APIs it provides and those it consumes, and whether the actor
    may change its dependencies."""
    graph = deps.graph_around(
        session, service=str(svc.id), actor=actor, depth=GRAPH_DEPTH, limit=GRAPH_LIMIT
    )
    return {
        "downstream": _direct(session, svc, actor, deps.DOWNSTREAM),
        "upstream": _direct(session, svc, actor, deps.UPSTREAM),
        "graph": layout(graph, svc.id),
        "graph_depth": GRAPH_DEPTH,
        "apis": mapped_apis(session, svc, actor),
        "consumed_apis": consumed_apis(session, svc, actor),
        "can_edit": actor.rights.has(SERVICE_ADMIN, str(svc.id)),
    }


# --- changes ----------------------------------------------------------------------------


def _back(service_id: uuid.UUID, note: str) -> Response:
    return RedirectResponse(f"/services/{service_id}?{note}=1#dependencies", status_code=303)


@router.get("/services/{service_id}/dependencies/new")
def new_dependency(service_id: str, request: Request, ctx: CtxDep) -> Response:
    """The form of a new dependency (also where a refused one shows its errors)."""
    svc = administered_service(ctx.session, ctx.actor, service_id)
    return _form(request, ctx, svc, {"target": "", "label": ""}, {})


def _form(
    request: Request, ctx: Any, svc: CatalogService, values: dict[str, str], errors: dict[str, str]
) -> Response:
    return form_page(
        request,
        "services/dependency_form.html",
        actor=ctx.actor,
        section="services",
        service=svc,
        values=values,
        errors=errors,
    )


@router.post("/services/{service_id}/dependencies")
def add_dependency(service_id: str, request: Request, ctx: CtxDep) -> Response:
    """Add a dependency from the form (the service depends on ``target``, by name or id);
    the form again, with what was wrong, when it cannot be added."""
    svc = administered_service(ctx.session, ctx.actor, service_id)
    form = form_of(request)
    values = {"target": form.get("target", "").strip(), "label": form.get("label", "").strip()}
    errors: dict[str, str] = {}
    try:
        body = DependencyCreate.model_validate(
            {"target": values["target"], "label": values["label"] or None}
        )
        with ctx.session.begin_nested():
            deps.create_dependency(
                ctx.session,
                source=str(svc.id),
                target=body.target,
                label=body.label,
                actor=ctx.actor,
            )
        return _back(svc.id, "dependency_added")
    except ValidationError as exc:
        for p in invalid_parameters_from(list(exc.errors())):
            field = str(p.get("field", "target")).split(".")[0]
            errors.setdefault(field if field in values else "target", str(p.get("reason")))
    except Problem as exc:
        if exc.status not in (400, 404, 409):
            raise
        field = "label" if exc.status == 409 and values["label"] else "target"
        errors[field] = exc.detail
    return _form(request, ctx, svc, values, errors)


def _change(
    ctx: Any, service_id: str, dependency_id: str, change: Callable[..., Any], notice: str
) -> Response:
    """Apply ``change`` (a dependency service function) to a dependency of a service the
    actor administers, and go back to the service's page saying ``notice``."""
    svc = administered_service(ctx.session, ctx.actor, service_id)
    change(ctx.session, service=str(svc.id), dependency_id=dependency_id, actor=ctx.actor)
    return _back(svc.id, notice)


@router.post("/services/{service_id}/dependencies/{dependency_id}/delete")
def remove_dependency(service_id: str, dependency_id: str, ctx: CtxDep) -> Response:
    """Remove a dependency of the service (how a proposed one is declined)."""
    return _change(ctx, service_id, dependency_id, deps.delete_dependency, "dependency_removed")


@router.post("/services/{service_id}/dependencies/{dependency_id}/confirm")
def confirm_dependency(service_id: str, dependency_id: str, ctx: CtxDep) -> Response:
    """Confirm a proposed dependency of the service."""
    return _change(ctx, service_id, dependency_id, deps.confirm_dependency, "dependency_confirmed")

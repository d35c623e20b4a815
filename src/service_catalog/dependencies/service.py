"""Rules of dependencies: the only place that changes them.

An edge says that its source catalog service depends on its target (calls it, reads from
it...). Edges are made by hand (``manual``), by catalog files, or proposed by an
integration (:func:`propose_from_gateway`) and then confirmed. Every function works in the
caller's unit of work and never commits; every change is an audit entry on the source
service. Rights: see :mod:`service_catalog.dependencies.rights`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Select, Table, delete, func, literal, select
from sqlalchemy.orm import Session

from service_catalog.auth.access import SERVICE_ADMIN
from service_catalog.auth.service import Actor
from service_catalog.catalog_services.models import CatalogService
from service_catalog.core import query as q
from service_catalog.core.bulk import insert_rows
from service_catalog.core.db import utcnow
from service_catalog.core.errors import bad_request, conflict, not_found
from service_catalog.core.render import ts
from service_catalog.dependencies.models import CONFIRMED, MANUAL, PROPOSED, Dependency
from service_catalog.dependencies.rights import (
    administered_service,
    readable_ids,
    readable_service,
)
from service_catalog.events.service import record_action, record_actions
from service_catalog.resources.models import Resource, ResourceMapping

DOWNSTREAM = "downstream"
UPSTREAM = "upstream"
DEFAULT_DEPTH = 1
MAX_DEPTH = 20
#: The integration resource type whose upstream host proposes edges (Kong Gateway).
GATEWAY_SERVICE = "gateway_svc"
GATEWAY_LABEL = "calls"


def to_dict(dep: Dependency | Any) -> dict[str, Any]:
    """An edge as the API shows it (``label`` null when none was given)."""
    return {
        "id": str(dep.id),
        "source_id": str(dep.source_id),
        "target_id": str(dep.target_id),
        "label": dep.label or None,
        "status": dep.status,
        "origin": dep.origin,
        "created_at": ts(dep.created_at),
        "updated_at": ts(dep.updated_at),
    }


def _record(
    session: Session, actor: Actor, verb: str, dep: Dependency, source: str, target: str
) -> None:
    """The audit entry ``catalog_service.dependency_<verb>`` on the edge's source."""
    label = f" ({dep.label})" if dep.label else ""
    record_action(
        session,
        actor=actor,
        type=f"catalog_service.dependency_{verb}",
        service_id=dep.source_id,
        detail=f"Dependency {source} -> {target}{label} {verb} by {actor.name}",
        attributes={
            "dependency_id": str(dep.id),
            "source": source,
            "target": target,
            "label": dep.label or None,
            "status": dep.status,
        },
    )


def _edge(
    session: Session, source_id: uuid.UUID, target_id: uuid.UUID, label: str
) -> Dependency | None:
    return session.scalar(
        select(Dependency).where(
            Dependency.source_id == source_id,
            Dependency.target_id == target_id,
            Dependency.label == label,
        )
    )


def create_dependency(
    session: Session,
    *,
    source: str,
    target: str,
    label: str | None,
    actor: Actor,
    status: str = CONFIRMED,
    origin: str = MANUAL,
    exist_ok: bool = False,
) -> Dependency:
    """Record that ``source`` depends on ``target`` (ids or names), with an optional
    ``label``. The actor needs Service Admin on ``source`` and must be able to see
    ``target`` (else 404, as for a missing one). The same (source, target, label) twice is a
    409, or with ``exist_ok`` the stored edge, unchanged (for declarative callers). A
    service depending on itself is a 400."""
    src = administered_service(session, actor, source)
    dst = readable_service(session, actor, target)
    if src.id == dst.id:
        raise bad_request(
            "A catalog service cannot depend on itself", "target", "is the service itself"
        )
    found = _edge(session, src.id, dst.id, label or "")
    if found is not None:
        if exist_ok:
            return found
        raise conflict(
            f"Catalog service [{src.name}] already depends on [{dst.name}]"
            + (f" with label [{label}]" if label else " without a label")
        )
    now = utcnow()
    dep = Dependency(
        id=uuid.uuid4(),
        source_id=src.id,
        target_id=dst.id,
        label=label or "",
        status=status,
        origin=origin,
        created_at=now,
        updated_at=now,
    )
    session.add(dep)
    session.flush()
    _record(session, actor, "created", dep, src.name, dst.name)
    return dep


def _parse_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError):
        return None


def _own_edge(
    session: Session, svc: CatalogService, dependency_id: str, actor: Actor
) -> Dependency:
    """The edge ``dependency_id`` whose source is ``svc`` and whose target ``actor`` may
    see; 404 otherwise (an edge to a service the actor may not see is as missing)."""
    ident = _parse_id(dependency_id)
    dep = session.get(Dependency, ident) if ident is not None else None
    visible = readable_ids(actor)
    if (
        dep is None
        or dep.source_id != svc.id
        or (visible is not None and dep.target_id not in visible)
    ):
        raise not_found("Dependency", dependency_id)
    return dep


def _name_of(session: Session, service_id: uuid.UUID) -> str:
    return session.scalar(select(CatalogService.name).where(CatalogService.id == service_id)) or ""


def get_dependency(
    session: Session, *, service: str, dependency_id: str, actor: Actor
) -> Dependency:
    """One edge of ``service`` (its source), for a reader of ``service`` who may also see
    the edge's target (else 404)."""
    svc = readable_service(session, actor, service)
    return _own_edge(session, svc, dependency_id, actor)


def delete_dependency(session: Session, *, service: str, dependency_id: str, actor: Actor) -> None:
    """Delete an edge of ``service`` (its source); Service Admin on ``service``."""
    svc = administered_service(session, actor, service)
    dep = _own_edge(session, svc, dependency_id, actor)
    _record(session, actor, "deleted", dep, svc.name, _name_of(session, dep.target_id))
    session.execute(delete(Dependency).where(Dependency.id == dep.id))


def delete_dependency_by_edge(
    session: Session, *, source: str, target: str, label: str | None, actor: Actor
) -> bool:
    """Delete the edge (source, target, label) if there is one; whether there was (for
    declarative callers that know edges by their ends, not their ids)."""
    src = administered_service(session, actor, source)
    dst = readable_service(session, actor, target)
    dep = _edge(session, src.id, dst.id, label or "")
    if dep is None:
        return False
    _record(session, actor, "deleted", dep, src.name, dst.name)
    session.execute(delete(Dependency).where(Dependency.id == dep.id))
    return True


def confirm_dependency(
    session: Session, *, service: str, dependency_id: str, actor: Actor
) -> Dependency:
    """Confirm a proposed edge of ``service``; an edge already confirmed is answered as
    it is (nothing recorded). Service Admin on ``service``."""
    svc = administered_service(session, actor, service)
    dep = _own_edge(session, svc, dependency_id, actor)
    if dep.status != CONFIRMED:
        dep.status = CONFIRMED
        dep.updated_at = utcnow()
        session.flush()
        _record(session, actor, "confirmed", dep, svc.name, _name_of(session, dep.target_id))
    return dep


# --- traversal -------------------------------------------------------------------------


@dataclass(frozen=True)
class Walk:
    """What ``GET .../dependencies`` asks: a direction, a depth, proposed edges or not."""

    direction: str
    depth: int
    include_proposed: bool


def walk_request(query: Mapping[str, str]) -> Walk:
    """Read ``direction`` (``downstream``, the default: what the service depends on;
    ``upstream``: what depends on it), ``depth`` (1 to :data:`MAX_DEPTH`, default 1) and
    ``include_proposed`` (``true``/``false``, default false); a 400 naming a bad one."""
    direction = query.get("direction", DOWNSTREAM)
    if direction not in (DOWNSTREAM, UPSTREAM):
        raise bad_request(
            "direction must be downstream or upstream",
            "direction",
            "must be one of downstream, upstream",
            rule="enum",
            source="query",
        )
    raw = query.get("depth", str(DEFAULT_DEPTH))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DEPTH:
        raise bad_request(
            f"depth must be a whole number from 1 to {MAX_DEPTH}",
            "depth",
            f"must be an integer from 1 to {MAX_DEPTH}",
            source="query",
        )
    proposed = query.get("include_proposed", "false")
    if proposed not in ("true", "false"):
        raise bad_request(
            "include_proposed must be true or false",
            "include_proposed",
            "must be true or false",
            rule="type",
            source="query",
        )
    return Walk(direction, int(raw), proposed == "true")


def reachable_statement(
    start: uuid.UUID, walk: Walk, visible: frozenset[uuid.UUID] | None
) -> Select[Any]:
    """The services reachable from ``start`` within ``walk.depth`` edges, each once: its
    shortest depth and the (lowest-id) edge reaching it there, as ``(service_id, depth,
    edge_id)``. One recursive query on either database (``WITH RECURSIVE``); cycles end
    because a step never goes beyond the depth asked and ``UNION`` drops rows already
    found. Only ``visible`` services are entered (None: every one), so a path never goes
    through a service the reader may not see; ``start`` is never reached again."""
    d = Dependency
    here, there = (
        (d.source_id, d.target_id)
        if walk.direction == DOWNSTREAM
        else (
            d.target_id,
            d.source_id,
        )
    )
    extra: list[Any] = [] if walk.include_proposed else [d.status == CONFIRMED]
    if visible is not None:
        extra.append(there.in_(visible))
    anchor = select(
        there.label("service_id"), literal(1).label("depth"), d.id.label("edge_id")
    ).where(here == start, *extra)
    reached = anchor.cte("reached", recursive=True)
    step = (
        select(there, reached.c.depth + 1, d.id)
        .join(reached, here == reached.c.service_id)
        .where(reached.c.depth < walk.depth, there != start, *extra)
    )
    reached = reached.union(step)
    ranked = select(
        reached.c.service_id,
        reached.c.depth,
        reached.c.edge_id,
        func.row_number()
        .over(partition_by=reached.c.service_id, order_by=(reached.c.depth, reached.c.edge_id))
        .label("rank"),
    ).subquery("ranked")
    return select(ranked.c.service_id, ranked.c.depth, ranked.c.edge_id).where(ranked.c.rank == 1)


def page_statement(
    start: uuid.UUID, walk: Walk, visible: frozenset[uuid.UUID] | None, page: q.PageRequest
) -> Select[Any]:
    """One page of :func:`reachable_statement`'s services, nearest first then by name, each
    row with its edge, the service's name and the total count."""
    found = reachable_statement(start, walk, visible).subquery("found")
    d, cs = Dependency, CatalogService
    return (
        select(
            found.c.depth,
            d.id,
            d.source_id,
            d.target_id,
            d.label,
            d.status,
            d.origin,
            d.created_at,
            d.updated_at,
            cs.id.label("service_id"),
            cs.name,
            cs.display_name,
            func.count().over().label("total"),
        )
        .join(d, d.id == found.c.edge_id)
        .join(cs, cs.id == found.c.service_id)
        .order_by(found.c.depth, cs.name)
        .limit(page.size)
        .offset((page.number - 1) * page.size)
    )


def list_dependencies(
    session: Session, *, service: str, query: list[tuple[str, str]], actor: Actor
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of the services ``service`` depends on (``direction=downstream``) or that
    depend on it (``upstream``), up to ``depth`` edges away, each once at its shortest
    depth, nearest first (then by name), with the edge that reaches it. A reader of
    ``service``; services the reader may not see are left out, and not walked through."""
    qd = dict(query)
    walk = walk_request(qd)
    page = q.page_request(qd)
    svc = readable_service(session, actor, service)
    rows = session.execute(page_statement(svc.id, walk, readable_ids(actor), page)).all()
    data = [
        {
            **to_dict(r),
            "depth": r.depth,
            "service": {"id": str(r.service_id), "name": r.name, "display_name": r.display_name},
        }
        for r in rows
    ]
    total = rows[0].total if rows else _total(session, svc.id, walk, actor, page)
    return data, q.page_meta(page, total)


def _total(
    session: Session, start: uuid.UUID, walk: Walk, actor: Actor, page: q.PageRequest
) -> int:
    """The count of a walk whose page came back empty (page 1: none at all)."""
    if page.number == 1:
        return 0
    found = reachable_statement(start, walk, readable_ids(actor)).subquery()
    return int(session.scalar(select(func.count()).select_from(found)) or 0)


# --- proposals ---------------------------------------------------------------------------


def _named_by_host(host: str) -> list[str]:
    """The catalog service names an upstream host can name: the whole host
    (``orders.internal``) and its first DNS label (``orders``)."""
    host = host.strip().lower().rstrip(".")
    if not host:
        return []
    return list(dict.fromkeys([host, host.split(".", 1)[0]]))


def propose_from_gateway(session: Session, *, actor: Actor) -> list[Dependency]:
    """Propose ``calls`` edges from Kong Gateway data: a catalog service mapped to a
    ``gateway_svc`` resource whose upstream host (``integration_data.gateway_service.host``)
    names another catalog service (its whole name, or its first DNS label: ``orders``,
    ``orders.internal``, ``orders.default.svc.cluster.local`` all name ``orders``) gets a
    ``proposed`` edge to it, unless an edge between the two already exists. Only for
    source services the actor administers; targets it may see. Returns the new edges."""
    pairs = session.execute(
        select(ResourceMapping.service_id, Resource.id, Resource.integration_data)
        .join(Resource, Resource.id == ResourceMapping.resource_id)
        .where(Resource.type == GATEWAY_SERVICE, Resource.archived.is_(False))
    ).all()
    wanted: dict[str, list[tuple[uuid.UUID, str]]] = {}
    for service_id, resource_id, data in pairs:
        gateway = (data or {}).get("gateway_service") if isinstance(data, dict) else None
        host = gateway.get("host") if isinstance(gateway, dict) else None
        if isinstance(host, str):
            for name in _named_by_host(host):
                wanted.setdefault(name, []).append((service_id, resource_id))
    if not wanted:
        return []
    targets = dict(
        session.execute(
            select(CatalogService.name, CatalogService.id).where(CatalogService.name.in_(wanted))
        ).all()
    )
    visible = readable_ids(actor)
    created: list[Dependency] = []
    for name, target_id in targets.items():
        for source_id, resource_id in wanted[name]:
            if source_id == target_id or not actor.rights.has(SERVICE_ADMIN, str(source_id)):
                continue
            if visible is not None and target_id not in visible:
                continue
            exists = session.scalar(
                select(Dependency.id).where(
                    Dependency.source_id == source_id, Dependency.target_id == target_id
                )
            )
            if exists is not None:
                continue
            dep = create_dependency(
                session,
                source=str(source_id),
                target=str(target_id),
                label=GATEWAY_LABEL,
                actor=actor,
                status=PROPOSED,
                origin=f"gateway-manager:{resource_id}",
            )
            created.append(dep)
    return created


# --- the graph around a service (the console's view) -----------------------------------


@dataclass(frozen=True)
class Graph:
    """The services around one within some depth, and every edge among them.

    ``nodes`` maps a service id to ``(column, name, display_name)``: 0 for the service
    itself, ``+d`` for one it depends on ``d`` edges away, ``-d`` for one that depends on it
    (a service both ways keeps its downstream column). ``edges`` are ``(id, source_id,
    target_id, label, status)``. ``truncated``: a side had more than the limit."""

    nodes: dict[uuid.UUID, tuple[int, str, str]]
    edges: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str, str]]
    truncated: bool


def graph_around(
    session: Session, *, service: str, actor: Actor, depth: int = 3, limit: int = 60
) -> Graph:
    """The services within ``depth`` edges of ``service`` both ways (proposed edges
    included), at most ``limit`` a side, nearest first, and the edges among them; only
    services the actor may read (a reader of ``service``, else 404)."""
    svc = readable_service(session, actor, service)
    visible = readable_ids(actor)
    columns: dict[uuid.UUID, int] = {svc.id: 0}
    truncated = False
    for direction, sign in ((DOWNSTREAM, 1), (UPSTREAM, -1)):
        found = reachable_statement(svc.id, Walk(direction, depth, True), visible).subquery()
        rows = session.execute(
            select(found.c.service_id, found.c.depth)
            .order_by(found.c.depth, found.c.service_id)
            .limit(limit + 1)
        ).all()
        truncated = truncated or len(rows) > limit
        for service_id, d in rows[:limit]:
            columns.setdefault(service_id, sign * int(d))
    ids = list(columns)
    names = {
        r.id: (r.name, r.display_name)
        for r in session.execute(
            select(CatalogService.id, CatalogService.name, CatalogService.display_name).where(
                CatalogService.id.in_(ids)
            )
        )
    }
    edges = [
        (r.id, r.source_id, r.target_id, r.label, r.status)
        for r in session.execute(
            select(
                Dependency.id,
                Dependency.source_id,
                Dependency.target_id,
                Dependency.label,
                Dependency.status,
            )
            .where(Dependency.source_id.in_(ids), Dependency.target_id.in_(ids))
            .order_by(Dependency.id)
        )
    ]
    nodes = {i: (columns[i], *names[i]) for i in ids if i in names}
    return Graph(nodes=nodes, edges=edges, truncated=truncated)


# --- declarative callers (catalog files) ------------------------------------------------


def edges_from(
    session: Session, source_ids: list[uuid.UUID], *, status: str | None = None
) -> list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str, str]]:
    """Every edge leaving ``source_ids`` (with ``status`` only, given one): ``(id,
    source_id, target_id, label, origin)``."""
    d = Dependency
    extra = [] if status is None else [d.status == status]
    out: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str, str]] = []
    for start in range(0, len(source_ids), 5000):
        out.extend(
            (r.id, r.source_id, r.target_id, r.label, r.origin)
            for r in session.execute(
                select(d.id, d.source_id, d.target_id, d.label, d.origin).where(
                    d.source_id.in_(source_ids[start : start + 5000]), *extra
                )
            )
        )
    return out


def replace_edges(
    session: Session,
    *,
    add: list[tuple[uuid.UUID, uuid.UUID, str]],
    remove: list[uuid.UUID],
    names: Mapping[uuid.UUID, str],
    origin: str,
    actor: Actor,
) -> None:
    """Create the confirmed edges ``add`` (``(source_id, target_id, label)``, each absent)
    with ``origin`` and delete the edges ``remove`` (by id), with an audit entry each, in
    a few set-based statements (a catalog apply of thousands of edges). The caller checked
    the rights (Service Admin on each source, targets readable) while planning; ``names``
    gives each service's name for the audit entries."""
    deleted = _edge_rows(session, remove)
    for start in range(0, len(remove), 5000):
        session.execute(delete(Dependency).where(Dependency.id.in_(remove[start : start + 5000])))
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {"id": uuid.uuid4(), "source_id": source_id, "target_id": target_id, "label": label}
        for source_id, target_id, label in add
    ]
    same = {"status": CONFIRMED, "origin": origin, "created_at": now, "updated_at": now}
    insert_rows(session, cast(Table, Dependency.__table__), rows, same=same)
    # One audit entry per source service and verb, listing its edges (an import of 10,000
    # services with 2 edges each writes 10,000 entries, not 20,000).
    made = [(r["id"], r["source_id"], r["target_id"], r["label"], CONFIRMED) for r in rows]
    gone = [(r.id, r.source_id, r.target_id, r.label, r.status) for r in deleted]
    actions = _actions("deleted", gone, names, actor) + _actions("created", made, names, actor)
    record_actions(session, actor=actor, actions=actions)


def _edge_rows(session: Session, ids: list[uuid.UUID]) -> list[Any]:
    d = Dependency
    return [
        r
        for start in range(0, len(ids), 5000)
        for r in session.execute(
            select(d.id, d.source_id, d.target_id, d.label, d.status).where(
                d.id.in_(ids[start : start + 5000])
            )
        )
    ]


def _actions(
    verb: str,
    edges: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str, str]],
    names: Mapping[uuid.UUID, str],
    actor: Actor,
) -> list[dict[str, Any]]:
    """The audit entries ``catalog_service.dependency_<verb>`` of ``edges`` (``(id,
    source_id, target_id, label, status)``): one per source service, listing its edges."""
    by_source: dict[uuid.UUID, list[tuple[uuid.UUID, uuid.UUID, str, str]]] = {}
    for dep_id, source_id, target_id, label, status in edges:
        by_source.setdefault(source_id, []).append((dep_id, target_id, label, status))
    out: list[dict[str, Any]] = []
    for source_id, found in by_source.items():
        source = names.get(source_id, str(source_id))
        listed = [
            {
                "dependency_id": str(dep_id),
                "target": names.get(target_id, str(target_id)),
                "label": label or None,
                "status": status,
            }
            for dep_id, target_id, label, status in found
        ]
        shown = ", ".join(
            f"{source} -> {e['target']}" + (f" ({e['label']})" if e["label"] else "")
            for e in listed
        )
        out.append(
            {
                "type": f"catalog_service.dependency_{verb}",
                "service_id": source_id,
                "detail": f"Dependencies {shown} {verb} by {actor.name}",
                "attributes": {"source": source, "dependencies": listed},
            }
        )
    return out

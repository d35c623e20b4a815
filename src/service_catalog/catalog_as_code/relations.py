"""Catalog files' relations: service dependencies, APIs and API mappings, stored through
the dependencies and APIs domains (:mod:`service_catalog.dependencies.service`,
:mod:`service_catalog.apis.service`).

Catalog files and the Backstage import read ``dependencies`` and ``apis`` (and Backstage
``API`` entities) and hand them here, resolved to catalog service names. Declarative, as
for the services themselves: after an apply, the dependencies and provided APIs of every
service the files name are exactly those declared. Edges and mappings an apply creates
remember its source as their ``origin``; an apply deletes only those with its own origin
that the files no longer declare (an edge made by hand, or proposed by an integration,
stays). A declared edge or mapping that exists already, whoever made it, is unchanged.
APIs are created or updated, never deleted (other services, and other sources, may map
them). An API mapping is the contract's "this service provides this API"; consumed APIs
(``relation: consumes``) are stored apart, by :mod:`.consumers`.

Each ``plan_*`` answers a :class:`Planned` (changes in the plan's diff style, warnings,
errors); rights are checked there (Service Admin on a service whose relations change,
Service Creator for APIs), so each ``apply_*`` (in the apply's transaction, after services
were created and before prune deletes any, with the ids of every service the files name)
writes in a few set-based statements without checking again.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session, aliased

from service_catalog.apis import service as apis
from service_catalog.apis.models import Api, ApiMapping
from service_catalog.apis.schemas import ApiCreate, ApiUpdate
from service_catalog.apis.specs import check_spec
from service_catalog.auth.access import SERVICE_ADMIN, SERVICE_CREATOR
from service_catalog.auth.service import Actor
from service_catalog.catalog_services.models import CatalogService
from service_catalog.core.errors import Problem
from service_catalog.dependencies import service as dependencies
from service_catalog.dependencies.models import CONFIRMED, Dependency
from service_catalog.dependencies.rights import readable_ids

SUPPORTED = True
#: Longest ``origin`` of a dependency edge (its column); a longer source is cut to it.
_ORIGIN = 200
_CHUNK = 5000
#: Specification types the API registry validates and stores (Backstage ``spec.type``).
_SPEC_TYPES = ("openapi", "asyncapi")


@dataclass(frozen=True)
class Where:
    """The file and line a relation was declared at."""

    file: str
    line: int


@dataclass(frozen=True)
class DeclaredDependency:
    """``service`` depends on ``depends_on`` (both catalog service names)."""

    service: str
    depends_on: str
    label: str | None
    where: Where


@dataclass(frozen=True)
class DeclaredApiMapping:
    """``service`` provides or consumes the API ``api`` (name, optional version)."""

    service: str
    api: str
    version: str | None
    relation: str  # "provides" | "consumes"
    where: Where


@dataclass(frozen=True)
class DeclaredApi:
    """An API with its definition (a Backstage ``API`` entity)."""

    name: str
    version: str | None
    description: str | None
    spec_type: str | None  # openapi, asyncapi, graphql, grpc ...
    definition: str | None
    where: Where


@dataclass
class Planned:
    """What applying some relations would change: ``changes`` as the plan shows them
    (``{action, kind, name, file?, line?, fields?}``), ``warnings`` (``{file, line,
    message}``) and ``errors`` (where, message, HTTP status) that forbid applying."""

    changes: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    errors: list[tuple[Where | None, str, int]] = field(default_factory=list)
    state: Any = None  # what the matching apply_* may reuse in the same transaction


def origin_of(source: str) -> str:
    """The ``origin`` recorded on the edges and mappings the source ``source`` makes."""
    return source[:_ORIGIN]


def _change(action: str, kind: str, name: str, where: Where | None) -> dict[str, Any]:
    out: dict[str, Any] = {"action": action, "kind": kind, "name": name}
    if where is not None:
        out["file"], out["line"] = where.file, where.line
    return out


def _ids_by_name(session: Session, names: Sequence[str]) -> dict[str, uuid.UUID]:
    cs = CatalogService
    out: dict[str, uuid.UUID] = {}
    for start in range(0, len(names), _CHUNK):
        part = names[start : start + _CHUNK]
        out.update(
            (r.name, r.id) for r in session.execute(select(cs.name, cs.id).where(cs.name.in_(part)))
        )
    return out


def _stored(services: Sequence[str], existing: Mapping[str, uuid.UUID] | None) -> list[str]:
    """Those of ``services`` that may have stored relations (all, when it is not known
    which exist): a service this apply creates has none, and need not be looked up."""
    return list(services) if existing is None else [n for n in services if n in existing]


def _names_by_id(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    cs = CatalogService
    out: dict[uuid.UUID, str] = {}
    for start in range(0, len(ids), _CHUNK):
        part = ids[start : start + _CHUNK]
        out.update(
            (r.id, r.name) for r in session.execute(select(cs.id, cs.name).where(cs.id.in_(part)))
        )
    return out


# --- dependencies -----------------------------------------------------------------------

_Edge = tuple[str, str, str]  # source name, target name, label ('' for none)


@dataclass
class _EdgeDiff:
    create: dict[_Edge, Where]
    delete: dict[_Edge, uuid.UUID]


def _edge_name(edge: _Edge) -> str:
    return f"{edge[0]} -> {edge[1]}" + (f" ({edge[2]})" if edge[2] else "")


def _stored_edges(session: Session, services: Sequence[str]) -> list[tuple[str, _Edge, str]]:
    """Every edge leaving the services named ``services``, by names: ``(id as text, edge,
    origin)`` (joined in the database: no id of a service is read here, and an edge's id
    becomes a UUID only when the edge is to be deleted)."""
    d = Dependency
    source, target = aliased(CatalogService), aliased(CatalogService)
    out: list[tuple[str, _Edge, str]] = []
    for start in range(0, len(services), _CHUNK):
        out.extend(
            (r.id, (r.source, r.target, r.label), r.origin)
            for r in session.execute(
                select(
                    cast(d.id, String).label("id"),
                    source.name.label("source"),
                    target.name.label("target"),
                    d.label,
                    d.origin,
                )
                .join(source, source.id == d.source_id)
                .join(target, target.id == d.target_id)
                .where(source.name.in_(services[start : start + _CHUNK]))
            )
        )
    return out


def _diff_dependencies(
    session: Session,
    declared: Sequence[DeclaredDependency],
    services: Sequence[str],
    origin: str,
) -> _EdgeDiff:
    """Declared edges that are not stored (create), and edges of ``origin`` leaving the
    services the files name that are no longer declared (delete)."""
    wanted: dict[_Edge, Where] = {}
    for dep in declared:
        wanted.setdefault((dep.service, dep.depends_on, dep.label or ""), dep.where)
    present: set[_Edge] = set()
    delete: dict[_Edge, uuid.UUID] = {}
    for dep_id, edge, dep_origin in _stored_edges(session, services):
        present.add(edge)
        if dep_origin == origin and edge not in wanted:
            delete[edge] = uuid.UUID(dep_id)
    create = {edge: where for edge, where in wanted.items() if edge not in present}
    return _EdgeDiff(create, delete)


def plan_dependencies(
    session: Session,
    declared: Sequence[DeclaredDependency],
    *,
    services: Sequence[str],
    source: str,
    actor: Actor,
    existing: Mapping[str, uuid.UUID] | None = None,
) -> Planned:
    """The edges applying ``declared`` would create and delete (of the services named
    ``services``, those the files declare); an error for an edge of a service the actor
    may not administer, to a service it may not read, or from a service to itself. The
    answer keeps the difference for :func:`apply_dependencies` in the same transaction.
    ``existing``: the ids of those of ``services`` that are stored (the others are new,
    with no edge yet), when the caller knows them."""
    diff = _diff_dependencies(session, declared, _stored(services, existing), origin_of(source))
    out = Planned(state=diff)
    changed = {edge[0] for edge in diff.create} | {edge[0] for edge in diff.delete}
    needed = changed | {edge[1] for edge in diff.create}
    ids = {n: existing[n] for n in needed if n in existing} if existing is not None else {}
    unknown = needed - set(ids) - (set(services) if existing is not None else set())
    ids.update(_ids_by_name(session, sorted(unknown)))
    visible = readable_ids(actor)
    for edge, where in sorted(diff.create.items()):
        if edge[0] == edge[1]:
            out.errors.append(
                (where, f"dependencies: catalog service [{edge[0]}] cannot depend on itself", 400)
            )
        target = ids.get(edge[1])
        if visible is not None and target is not None and target not in visible:
            out.errors.append(
                (where, f"dependencies: catalog service [{edge[1]}] does not exist", 400)
            )
        out.changes.append(_change("create", "dependency", _edge_name(edge), where))
    out.changes.extend(
        _change("delete", "dependency", _edge_name(edge), None) for edge in sorted(diff.delete)
    )
    for name in sorted(changed):
        sid = ids.get(name)  # None: created by this apply (its creator administers it)
        if sid is not None and not actor.rights.has(SERVICE_ADMIN, str(sid)):
            out.errors.append(
                (None, f"changing the dependencies of [{name}] needs Service Admin on it", 403)
            )
    return out


def apply_dependencies(
    session: Session,
    declared: Sequence[DeclaredDependency],
    *,
    services: Sequence[str],
    service_ids: Mapping[str, uuid.UUID],
    source: str,
    actor: Actor,
    planned: Planned | None = None,
) -> None:
    """Make the dependencies of ``services`` (every service the files name; ``service_ids``
    has their ids) exactly those declared: create the missing edges (with ``source`` as
    their origin), delete this source's edges no longer declared. ``planned``: what
    :func:`plan_dependencies` answered in this transaction (its difference is reused)."""
    origin = origin_of(source)
    diff = planned.state if planned is not None and isinstance(planned.state, _EdgeDiff) else None
    if diff is None:
        diff = _diff_dependencies(session, declared, services, origin)
    if not diff.create and not diff.delete:
        return
    ids = dict(service_ids)  # may lack unchanged services: look up those the edges name
    involved = {e[0] for e in diff.create} | {e[1] for e in diff.create}
    involved |= {e[0] for e in diff.delete}
    ids.update(_ids_by_name(session, sorted(involved - set(ids))))
    names = {ids[n]: n for n in involved}
    removed = list(diff.delete.values())
    d = Dependency
    for start in range(0, len(removed), _CHUNK):  # the deleted edges' targets, for the audit
        names.update(
            (r.id, r.name)
            for r in session.execute(
                select(CatalogService.id, CatalogService.name)
                .join(d, d.target_id == CatalogService.id)
                .where(d.id.in_(removed[start : start + _CHUNK]))
            )
        )
    dependencies.replace_edges(
        session,
        add=[(ids[s], ids[t], label) for (s, t, label) in diff.create],
        remove=removed,
        names=names,
        origin=origin,
        actor=actor,
    )


# --- APIs -------------------------------------------------------------------------------


def _api_name(name: str, version: str | None) -> str:
    return f"{name} {version}" if version else name


def _spec_of(api: DeclaredApi) -> tuple[str | None, str | None]:
    """The definition to store with ``api`` (None when there is none to store), and why
    one given is not stored."""
    if api.definition is None:
        return None, None
    if (api.spec_type or "").lower() not in _SPEC_TYPES:
        return None, f"its definition of type [{api.spec_type}] is not stored"
    try:
        check_spec(api.definition, None)
    except Problem as exc:
        return None, f"its definition is not stored: {exc.detail}"
    return api.definition, None


def _unique_apis(declared: Sequence[DeclaredApi]) -> list[DeclaredApi]:
    seen: dict[tuple[str, str], DeclaredApi] = {}
    for api in declared:
        seen.setdefault((api.name, api.version or ""), api)
    return list(seen.values())


def _create_body(api: DeclaredApi, spec: str | None) -> ApiCreate:
    return ApiCreate(
        name=api.name, version=api.version, description=api.description, spec_content=spec
    )


def plan_apis(session: Session, declared: Sequence[DeclaredApi], *, actor: Actor) -> Planned:
    """The APIs applying ``declared`` would create or update (their description)."""
    out = Planned()
    for api in _unique_apis(declared):
        stored = apis.find_api(session, name=api.name, version=api.version)
        name = _api_name(api.name, api.version)
        if stored is None:
            spec, why = _spec_of(api)
            if why is not None:
                out.warnings.append(
                    {
                        "file": api.where.file,
                        "line": api.where.line,
                        "message": f"API [{name}]: {why}",
                    }
                )
            try:
                _create_body(api, spec)
            except ValidationError as exc:
                out.errors.append((api.where, f"API [{name}]: {exc.errors()[0]['msg']}", 400))
            out.changes.append(_change("create", "api", name, api.where))
        elif (stored.description or None) != (api.description or None):
            change = _change("update", "api", name, api.where)
            change["fields"] = {"description": {"old": stored.description, "new": api.description}}
            out.changes.append(change)
        else:
            continue
        if not actor.rights.has(SERVICE_CREATOR):
            out.errors.append((api.where, f"changing API [{name}] needs Service Creator", 403))
    return out


def apply_apis(
    session: Session, declared: Sequence[DeclaredApi], *, source: str, actor: Actor
) -> None:
    """Create the APIs ``declared`` that are missing (with their definition when the
    registry can hold it) and update the description of the others."""
    for api in _unique_apis(declared):
        stored = apis.find_api(session, name=api.name, version=api.version)
        if stored is None:
            apis.create_api(session, data=_create_body(api, _spec_of(api)[0]), actor=actor)
        elif (stored.description or None) != (api.description or None):
            apis.update_api(
                session,
                api_id=str(stored.id),
                data=ApiUpdate(description=api.description),
                actor=actor,
            )


# --- API mappings -----------------------------------------------------------------------

_Pair = tuple[str, str, str]  # service name, API name, API version ('' for none)


@dataclass
class LinkDiff:
    ids: dict[str, uuid.UUID]
    apis: dict[tuple[str, str], uuid.UUID]
    create: dict[_Pair, Where]
    delete: dict[_Pair, tuple[uuid.UUID, uuid.UUID, uuid.UUID]]
    unknown: dict[_Pair, Where]


def _pair_name(pair: _Pair) -> str:
    return f"{pair[0]} provides {_api_name(pair[1], pair[2])}"


StoredLink = tuple[uuid.UUID, uuid.UUID, uuid.UUID, str | None]  # id, service, API, origin


def link_diff(
    session: Session,
    wanted: Mapping[_Pair, Where],
    stored: Sequence[StoredLink],
    names: Mapping[uuid.UUID, str],
    coming: set[tuple[str, str]],
    origin: str,
) -> tuple[
    dict[tuple[str, str], uuid.UUID],
    dict[_Pair, Where],
    dict[_Pair, tuple[uuid.UUID, uuid.UUID, uuid.UUID]],
    dict[_Pair, Where],
]:
    """Between service-to-API links ``wanted`` (by names) and ``stored`` (by ids; ``names``
    has their services' names): the APIs' ids by (name, version), the links to create, the
    links of ``origin`` no longer wanted (to delete), and wanted links to an API that
    neither exists nor is among ``coming`` (unknown). Provided and consumed APIs alike."""
    wanted_names = sorted({p[1] for p in wanted})
    rows = [
        r
        for start in range(0, len(wanted_names), _CHUNK)
        for r in session.execute(
            select(Api.id, Api.name, Api.version).where(
                Api.name.in_(wanted_names[start : start + _CHUNK])
            )
        )
    ]
    stored_apis = sorted({s[2] for s in stored})
    for start in range(0, len(stored_apis), _CHUNK):
        rows += session.execute(
            select(Api.id, Api.name, Api.version).where(
                Api.id.in_(stored_apis[start : start + _CHUNK])
            )
        ).all()
    api_ids = {(r.name, r.version): r.id for r in rows}
    api_keys = {r.id: (r.name, r.version) for r in rows}
    present: set[_Pair] = set()
    delete: dict[_Pair, tuple[uuid.UUID, uuid.UUID, uuid.UUID]] = {}
    for link_id, service_id, api_id, link_origin in stored:
        pair = (names[service_id], *api_keys[api_id])
        present.add(pair)
        if link_origin == origin and pair not in wanted:
            delete[pair] = (link_id, service_id, api_id)
    create: dict[_Pair, Where] = {}
    unknown: dict[_Pair, Where] = {}
    for pair, where in wanted.items():
        if pair in present:
            continue
        known_api = (pair[1], pair[2]) in api_ids or (pair[1], pair[2]) in coming
        (create if known_api else unknown)[pair] = where
    return api_ids, create, delete, unknown


def _diff_mappings(
    session: Session,
    declared: Sequence[DeclaredApiMapping],
    services: Sequence[str],
    known: Mapping[str, uuid.UUID],
    coming: set[tuple[str, str]],
    origin: str,
) -> LinkDiff:
    """Provided APIs declared but not mapped (create; ``unknown`` when the API neither
    exists nor is among ``coming``), and mappings of ``origin`` no longer declared."""
    wanted: dict[_Pair, Where] = {}
    for m in declared:
        if m.relation == "provides":
            wanted.setdefault((m.service, m.api, m.version or ""), m.where)
    ids = dict(known)
    am, cs = ApiMapping, CatalogService
    stored: list[StoredLink] = []
    names: dict[uuid.UUID, str] = {}
    for start in range(0, len(services), _CHUNK):  # by name: no id read for an unmapped one
        for r in session.execute(
            select(am.id, am.service_id, am.api_id, am.origin, cs.name)
            .join(cs, cs.id == am.service_id)
            .where(cs.name.in_(services[start : start + _CHUNK]))
        ):
            stored.append((r.id, r.service_id, r.api_id, r.origin))
            names[r.service_id] = r.name
            ids[r.name] = r.service_id
    api_ids, create, delete, unknown = link_diff(session, wanted, stored, names, coming, origin)
    changed = {p[0] for p in create} | {p[0] for p in delete}
    ids.update(_ids_by_name(session, sorted(changed - set(ids))))
    return LinkDiff(ids, api_ids, create, delete, unknown)


def plan_api_mappings(
    session: Session,
    declared: Sequence[DeclaredApiMapping],
    *,
    services: Sequence[str],
    apis_declared: Sequence[DeclaredApi],
    source: str,
    actor: Actor,
    existing: Mapping[str, uuid.UUID] | None = None,
) -> Planned:
    """The API mappings applying ``declared`` would create and delete; an error for an API
    that neither exists nor is declared, or a service the actor may not administer.
    ``existing``: as for :func:`plan_dependencies`."""
    coming = {(a.name, a.version or "") for a in apis_declared}
    stored = _stored(services, existing)
    diff = _diff_mappings(session, declared, stored, existing or {}, coming, origin_of(source))
    return planned_links(diff, "api_mapping", _pair_name, actor, unknown="API")


def planned_links(
    diff: LinkDiff, kind: str, name_of: Any, actor: Actor, *, unknown: str
) -> Planned:
    """What a plan says of a :func:`link_diff` of service-to-API links of ``kind``
    (``api_mapping``, ``api_consumer``): a change for each link created or deleted, named by
    ``name_of(pair)``; an error for a link to an API that neither exists nor is declared
    (``unknown``: how the message calls that API) or of a service the actor may not
    administer (None in ``diff.ids``: created by this apply, so its creator administers it)."""
    out = Planned()
    for pair, where in sorted(diff.unknown.items()):
        api = _api_name(pair[1], pair[2])
        out.errors.append((where, f"apis: {unknown} [{api}] does not exist", 400))
    for pair, where in sorted(diff.create.items()):
        out.changes.append(_change("create", kind, name_of(pair), where))
    out.changes.extend(_change("delete", kind, name_of(pair), None) for pair in sorted(diff.delete))
    for name in sorted({p[0] for p in diff.create} | {p[0] for p in diff.delete}):
        sid = diff.ids.get(name)
        if sid is not None and not actor.rights.has(SERVICE_ADMIN, str(sid)):
            out.errors.append(
                (None, f"changing the APIs of [{name}] needs Service Admin on it", 403)
            )
    return out


def apply_api_mappings(
    session: Session,
    declared: Sequence[DeclaredApiMapping],
    *,
    services: Sequence[str],
    service_ids: Mapping[str, uuid.UUID],
    source: str,
    actor: Actor,
    existing: Mapping[str, uuid.UUID] | None = None,
) -> None:
    """Make the provided APIs of the services the files name exactly those declared (the
    APIs exist: :func:`apply_apis` ran first). ``existing``: as for
    :func:`plan_dependencies` (the services stored before this apply)."""
    origin = origin_of(source)
    stored = _stored(services, existing)
    diff = _diff_mappings(session, declared, stored, service_ids, set(), origin)
    store_links(session, diff, apis.replace_api_mappings, origin=origin, actor=actor)


def store_links(
    session: Session, diff: LinkDiff, replace: Any, *, origin: str, actor: Actor
) -> None:
    """Create and delete the links of a :func:`link_diff` through ``replace``
    (``apis.replace_api_mappings`` or ``apis.replace_api_consumers``)."""
    if not diff.create and not diff.delete:
        return
    replace(
        session,
        add=[(diff.ids[s], diff.apis[(a, v)]) for (s, a, v) in diff.create],
        remove=list(diff.delete.values()),
        origin=origin,
        actor=actor,
    )


# --- export -----------------------------------------------------------------------------


def export_relations(
    session: Session, service_ids: Mapping[uuid.UUID, str]
) -> dict[uuid.UUID, dict[str, list[dict[str, Any]]]]:
    """The ``dependencies`` (confirmed edges) and ``apis`` (provided) entries of each
    exported service (by id), in the file format's shape and a stable order."""
    ids = list(service_ids)
    out: dict[uuid.UUID, dict[str, list[dict[str, Any]]]] = {}
    edges = dependencies.edges_from(session, ids, status=CONFIRMED)
    names = dict(service_ids)
    names.update(_names_by_id(session, sorted({e[2] for e in edges} - set(names))))
    for _, source_id, target_id, label, _origin in sorted(
        edges, key=lambda e: (names.get(e[2], ""), e[3])
    ):
        entry: dict[str, Any] = {"service": names[target_id]}
        if label:
            entry["label"] = label
        out.setdefault(source_id, {}).setdefault("dependencies", []).append(entry)
    mappings = apis.mappings_of_services(session, ids)
    api_rows = {
        r.id: r
        for r in session.execute(
            select(Api.id, Api.name, Api.version).where(Api.id.in_({m[2] for m in mappings}))
        )
    }
    for _, service_id, api_id, _made_by in sorted(
        mappings, key=lambda m: (api_rows[m[2]].name, api_rows[m[2]].version)
    ):
        row = api_rows[api_id]
        provided: dict[str, Any] = {"api": row.name}
        if row.version:
            provided["version"] = row.version
        out.setdefault(service_id, {}).setdefault("apis", []).append(provided)
    return out

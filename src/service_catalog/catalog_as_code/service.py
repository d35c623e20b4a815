"""Plan and apply catalog files: the only place that turns documents into changes.

:func:`plan` compares the documents with what is stored and answers a :class:`Plan`
(create, update, delete, unchanged; warnings), reading only; :func:`apply` makes the
plan's changes in the caller's transaction (all or nothing: it never commits, and any
error leaves the caller to roll back). Rights are checked while planning, so a dry run
says what the actor could not do.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from service_catalog.access.service import audit
from service_catalog.auth.access import (
    SERVICE_ADMIN,
    SERVICE_CREATOR,
    grant_creator_admin,
)
from service_catalog.auth.models import Team
from service_catalog.auth.service import Actor
from service_catalog.catalog_as_code import consumers, relations
from service_catalog.catalog_as_code.documents import (
    CatalogFileErrors,
    FileError,
    Located,
    ServiceDoc,
    TeamDoc,
)
from service_catalog.catalog_as_code.models import CatalogServiceSource
from service_catalog.catalog_services.models import CatalogService
from service_catalog.catalog_services.schemas import CatalogServiceCreate, CatalogServiceUpdate
from service_catalog.catalog_services.service import (
    create_services,
    delete_service,
    update_service,
)
from service_catalog.core.bulk import insert_rows, roomy_cache
from service_catalog.core.db import new_uuid, utcnow
from service_catalog.core.errors import Problem
from service_catalog.events.service import record_action
from service_catalog.integrations.instances import find_instance
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.resources.ids import resource_id
from service_catalog.resources.mappings import create_mapping
from service_catalog.resources.models import Resource, ResourceMapping
from service_catalog.resources.validation import check_resource

_CHUNK = 2000
#: Changes from which an apply gives SQLite a larger page cache (core.bulk.roomy_cache).
_BULK = 2000
#: Fields of a service a plan compares, in the order a diff shows them.
SERVICE_FIELDS = ("display_name", "description", "labels", "custom_fields", "owner")


def chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    """``values`` in slices of ``size`` (IN lists stay under every database's limits)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass
class Change:
    """One planned change: ``action`` create | update | delete | unchanged of a ``kind``
    (service | team) named ``name``, declared at ``file``:``line`` (none for a prune),
    with the ``fields`` that change (``{field: {"old", "new"}}``)."""

    action: str
    kind: str
    name: str
    file: str | None = None
    line: int | None = None
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The change as plan output shows it."""
        out: dict[str, Any] = {"action": self.action, "kind": self.kind, "name": self.name}
        if self.file is not None:
            out["file"], out["line"] = self.file, self.line
        if self.fields:
            out["fields"] = self.fields
        return out


@dataclass
class _ServiceWork:
    """What applying one service document takes."""

    loc: Located
    doc: ServiceDoc
    current: Any | None  # the stored row (id, name, ...), None when it is new
    owner_id: uuid.UUID | None
    owner_changed: bool
    patch: dict[str, Any]
    add_resources: list[dict[str, Any]] = field(default_factory=list)
    remove_mappings: list[uuid.UUID] = field(default_factory=list)


@dataclass
class Plan:
    """What applying catalog files from ``source`` would change."""

    source: str
    prune: bool
    changes: list[Change] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    _teams: list[tuple[TeamDoc, Team | None, dict[str, Any]]] = field(default_factory=list)
    _services: list[_ServiceWork] = field(default_factory=list)
    _prune: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    _dependencies: list[relations.DeclaredDependency] = field(default_factory=list)
    _api_mappings: list[relations.DeclaredApiMapping] = field(default_factory=list)
    apis: list[relations.DeclaredApi] = field(default_factory=list)
    _names: list[str] = field(default_factory=list)  # every service the files name
    _planned_dependencies: relations.Planned | None = None
    _existing: dict[str, uuid.UUID] = field(default_factory=dict)  # named and stored: ids

    def summary(self) -> dict[str, int]:
        """How many changes of each action."""
        counts = {"create": 0, "update": 0, "delete": 0, "unchanged": 0}
        for change in self.changes:
            counts[change.action] += 1
        return counts

    def as_dict(self, *, applied: bool, dry_run: bool) -> dict[str, Any]:
        """The plan as the API and ``--output json`` answer it (unchanged entries by name
        only)."""
        return {
            "source": self.source,
            "dry_run": dry_run,
            "applied": applied,
            "prune": self.prune,
            "summary": self.summary(),
            "changes": [c.as_dict() for c in self.changes if c.action != "unchanged"],
            "unchanged": [c.name for c in self.changes if c.action == "unchanged"],
            "warnings": self.warnings,
        }


# --- reading what is stored -------------------------------------------------------------


def _services_named(session: Session, names: Sequence[str]) -> dict[str, Any]:
    cs = CatalogService
    cols = (cs.id, cs.name, cs.display_name, cs.description, cs.labels, cs.custom_fields)
    return {
        row.name: row
        for part in chunks(names)
        for row in session.execute(select(*cols).where(cs.name.in_(part)))
    }


def _services_and_sources(
    session: Session, names: Sequence[str]
) -> tuple[dict[str, Any], dict[uuid.UUID, Any]]:
    """The services named ``names`` (by name) and, of those that have one, their source
    rows (``source``, ``owner_team_id``; by service id), read in one statement per chunk."""
    cs, src = CatalogService, CatalogServiceSource
    cols = (cs.id, cs.name, cs.display_name, cs.description, cs.labels, cs.custom_fields)
    current: dict[str, Any] = {}
    sources: dict[uuid.UUID, Any] = {}
    for part in chunks(names):
        for row in session.execute(
            select(
                *cols,
                src.service_id.is_not(None).label("has_source"),
                src.source,
                src.owner_team_id,
            )
            .outerjoin(src, src.service_id == cs.id)
            .where(cs.name.in_(part))
        ):
            current[row.name] = row
            if row.has_source:
                sources[row.id] = row
    return current, sources


def _teams(
    session: Session, *, names: Sequence[str] = (), ids: Sequence[uuid.UUID] = ()
) -> list[Team]:
    found: list[Team] = []
    for part in chunks(list(names)):
        found.extend(session.scalars(select(Team).where(Team.name.in_(part))))
    for part in chunks(list(ids)):
        found.extend(session.scalars(select(Team).where(Team.id.in_(part))))
    return found


def _mappings_of(
    session: Session, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, uuid.UUID]]:
    """Each service's mapped resource ids, with the mapping's id."""
    out: dict[uuid.UUID, dict[str, uuid.UUID]] = {}
    m = ResourceMapping
    for part in chunks(ids):
        for row in session.execute(
            select(m.service_id, m.resource_id, m.id).where(m.service_id.in_(part))
        ):
            out.setdefault(row.service_id, {})[row.resource_id] = row.id
    return out


def resource_keys(session: Session, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The natural key ``{integration_instance, type, config}`` of resources by id."""
    out: dict[str, dict[str, Any]] = {}
    for part in chunks(ids):
        for row in session.execute(
            select(Resource.id, IntegrationInstance.name, Resource.type, Resource.config)
            .join(IntegrationInstance, IntegrationInstance.id == Resource.instance_id)
            .where(Resource.id.in_(part))
        ):
            out[row.id] = {"integration_instance": row.name, "type": row.type, "config": row.config}
    return out


# --- planning ---------------------------------------------------------------------------


class _Errors:
    """Errors gathered while planning, raised together with the worst status."""

    def __init__(self) -> None:
        self.errors: list[FileError] = []
        self.status = 400

    def add(self, loc: Located | None, message: str, status: int = 400) -> None:
        self.at(loc.file if loc else "-", loc.line if loc else None, message, status)

    def at(self, file: str, line: int | None, message: str, status: int = 400) -> None:
        self.errors.append(FileError(file, line, message))
        if status == 409 or (status == 403 and self.status != 409):
            self.status = status

    def raise_any(self) -> None:
        if self.errors:
            shown = self.errors[:20]
            raise CatalogFileErrors(shown, status=self.status, more=len(self.errors) - len(shown))


def _unique(docs: Iterable[Located], errors: _Errors) -> tuple[list[Located], list[Located]]:
    """Service and team documents; a name given twice is an error naming both places."""
    seen: dict[tuple[str, str], Located] = {}
    services: list[Located] = []
    teams: list[Located] = []
    for loc in docs:
        key = (loc.doc.kind, loc.doc.name)
        if key in seen:
            first = seen[key]
            errors.add(
                loc,
                f"{loc.doc.kind} [{loc.doc.name}] is declared twice "
                f"(also at {first.file}:{first.line})",
                409,
            )
            continue
        seen[key] = loc
        (services if isinstance(loc.doc, ServiceDoc) else teams).append(loc)
    return services, teams


def plan(
    session: Session,
    *,
    docs: Sequence[Located],
    source: str,
    actor: Actor,
    prune: bool = False,
    apis: Sequence[relations.DeclaredApi] = (),
) -> Plan:
    """Compare ``docs`` with the catalog: what applying them from ``source`` would do.

    Raises :class:`CatalogFileErrors` (each naming file and line) when they cannot be
    applied: a name declared twice or a service another source manages would change
    (409), an owner team, integration instance or dependency that names nothing (400),
    a change the actor may not make (403)."""
    errors = _Errors()
    result = Plan(source=source, prune=prune, apis=list(apis))
    service_locs, team_locs = _unique(docs, errors)
    teams_by_name = _plan_teams(session, result, team_locs, actor, errors)
    current, sources = _services_and_sources(session, [loc.doc.name for loc in service_locs])
    owner_ids = {s.owner_team_id for s in sources.values() if s.owner_team_id is not None}
    team_names = {t.id: t.name for t in _teams(session, ids=sorted(owner_ids))}
    mapped = _mappings_of(
        session,
        [
            current[loc.doc.name].id
            for loc in service_locs
            if loc.doc.name in current and getattr(loc.doc, "resources", None) is not None
        ],
    )
    instances: dict[str, IntegrationInstance | None] = {}
    removed_keys: list[str] = []
    for loc in service_locs:
        doc = loc.doc
        assert isinstance(doc, ServiceDoc)
        row = current.get(doc.name)
        stored = sources.get(row.id) if row is not None else None
        work, change = _plan_service(
            session, loc, doc, row, stored, team_names, teams_by_name, instances, mapped, errors
        )
        if change.action != "unchanged":
            stored_source = stored.source if stored is not None else None
            if stored_source is not None and stored_source != source:
                errors.add(
                    loc,
                    f"catalog service [{doc.name}] is managed by source [{stored_source}]; "
                    f"this source is [{source}]",
                    409,
                )
            _check_rights(actor, loc, doc.name, row, errors)
            result._services.append(work)
            removed_keys.extend(str(r) for r in _removed_resource_ids(work, mapped, row))
        result.changes.append(change)
        _declare_relations(result, loc, doc)
    if removed_keys:
        _describe_removed(session, result, removed_keys)
    _check_relation_targets(session, result, {loc.doc.name for loc in service_locs}, errors)
    if prune:
        _plan_prune(session, result, {loc.doc.name for loc in service_locs}, actor, errors)
    names = result._names = [loc.doc.name for loc in service_locs]
    result._existing = {name: row.id for name, row in current.items()}
    result._planned_dependencies = relations.plan_dependencies(
        session,
        result._dependencies,
        services=names,
        source=source,
        actor=actor,
        existing=result._existing,
    )
    api_links: dict[str, Any] = {  # provided and consumed APIs are planned alike
        "services": names,
        "apis_declared": result.apis,
        "source": source,
        "actor": actor,
    }
    for planned in (
        relations.plan_apis(session, result.apis, actor=actor),
        result._planned_dependencies,
        relations.plan_api_mappings(
            session, result._api_mappings, existing=result._existing, **api_links
        ),
        consumers.plan_consumed_apis(session, result._api_mappings, **api_links),
    ):
        result.changes.extend(
            Change(
                c["action"], c["kind"], c["name"], c.get("file"), c.get("line"), c.get("fields", {})
            )
            for c in planned.changes
        )
        result.warnings.extend(planned.warnings)
        for where, message, status in planned.errors:
            errors.at(where.file if where else "-", where.line if where else None, message, status)
    errors.raise_any()
    return result


def _plan_teams(
    session: Session, result: Plan, locs: list[Located], actor: Actor, errors: _Errors
) -> dict[str, uuid.UUID | None]:
    """Plan the team documents; every team a service may name as owner (declared or
    stored), by name (None: created by this plan)."""
    stored = {t.name: t for t in _teams(session, names=[loc.doc.name for loc in locs])}
    names: dict[str, uuid.UUID | None] = {}
    for loc in locs:
        doc = loc.doc
        assert isinstance(doc, TeamDoc)
        team = stored.get(doc.name)
        names[doc.name] = team.id if team is not None else None
        fields: dict[str, dict[str, Any]] = {}
        labels = dict(doc.labels or {})
        if team is None:
            action = "create"
            fields = {
                "description": {"old": None, "new": doc.description},
                "labels": {"old": None, "new": labels},
            }
        else:
            if (team.description or None) != doc.description:
                fields["description"] = {"old": team.description, "new": doc.description}
            if (team.labels or {}) != labels:
                fields["labels"] = {"old": team.labels or {}, "new": labels}
            action = "update" if fields else "unchanged"
        if action != "unchanged":
            if not actor.rights.org_admin:
                errors.add(
                    loc, f"creating or changing team [{doc.name}] needs Organization Admin", 403
                )
            result._teams.append((doc, team, {"description": doc.description, "labels": labels}))
        result.changes.append(
            Change(
                action, "team", doc.name, loc.file, loc.line, fields if action != "create" else {}
            )
        )
    return names


def _plan_service(
    session: Session,
    loc: Located,
    doc: ServiceDoc,
    row: Any | None,
    stored: Any | None,
    team_names: dict[uuid.UUID, str],
    teams_by_name: dict[str, uuid.UUID | None],
    instances: dict[str, IntegrationInstance | None],
    mapped: dict[uuid.UUID, dict[str, uuid.UUID]],
    errors: _Errors,
) -> tuple[_ServiceWork, Change]:
    desired: dict[str, Any] = {
        "display_name": doc.display_name or doc.name,
        "description": doc.description,
        "labels": dict(doc.labels or {}),
        "custom_fields": {k: v for k, v in (doc.custom_fields or {}).items() if v is not None},
        "owner": doc.owner,
    }
    owner_id = _owner_id(session, loc, doc.owner, teams_by_name, errors)
    stored_owner = stored.owner_team_id if stored is not None else None
    work = _ServiceWork(loc, doc, row, owner_id, owner_id != stored_owner, {})
    if doc.resources is not None:
        work.add_resources = _desired_resources(session, loc, doc, instances, errors)
    if row is None:
        return work, Change("create", "service", doc.name, loc.file, loc.line)
    old: dict[str, Any] = {
        "display_name": row.display_name,
        "description": row.description,
        "labels": row.labels or {},
        "custom_fields": row.custom_fields or {},
        "owner": team_names.get(stored_owner) if stored_owner is not None else None,
    }
    fields = {f: {"old": old[f], "new": desired[f]} for f in SERVICE_FIELDS if old[f] != desired[f]}
    work.owner_changed = "owner" in fields
    for name in ("display_name", "description"):
        if name in fields:
            work.patch[name] = desired[name]
    for name in ("labels", "custom_fields"):
        if name in fields:
            work.patch[name] = {
                **{k: None for k in old[name] if k not in desired[name]},
                **desired[name],
            }
    if doc.resources is not None:
        current = mapped.get(row.id, {})
        wanted = {r["id"] for r in work.add_resources}
        work.remove_mappings = [mid for rid, mid in current.items() if rid not in wanted]
        work.add_resources = [r for r in work.add_resources if r["id"] not in current]
        if work.add_resources or work.remove_mappings:
            fields["resources"] = {
                "add": [r["key"] for r in work.add_resources],
                "remove": [rid for rid in current if rid not in wanted],
            }
    action = "update" if fields else "unchanged"
    return work, Change(action, "service", doc.name, loc.file, loc.line, fields)


def _owner_id(
    session: Session,
    loc: Located,
    owner: str | None,
    teams_by_name: dict[str, uuid.UUID | None],
    errors: _Errors,
) -> uuid.UUID | None:
    """The owner team's id (None: no owner, or a team this plan creates)."""
    if owner is None:
        return None
    if owner in teams_by_name:
        return teams_by_name[owner]
    team_id = session.scalar(select(Team.id).where(Team.name == owner))
    if team_id is None:
        errors.add(
            loc,
            f"owner of [{loc.doc.name}]: team [{owner}] does not exist (declare it as a Team "
            "document, or a Group in Backstage)",
        )
    teams_by_name[owner] = team_id
    return team_id


def _desired_resources(
    session: Session,
    loc: Located,
    doc: ServiceDoc,
    instances: dict[str, IntegrationInstance | None],
    errors: _Errors,
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, ref in enumerate(doc.resources or []):
        if ref.integration_instance not in instances:
            instances[ref.integration_instance] = find_instance(session, ref.integration_instance)
        instance = instances[ref.integration_instance]
        if instance is None:
            errors.add(
                loc,
                f"resources.{i}.integration_instance: integration instance "
                f"[{ref.integration_instance}] not found",
            )
            continue
        try:
            check_resource(instance, ref.type, ref.config, f"resources.{i}.")
        except Problem as exc:
            errors.add(loc, f"resources.{i}: {exc.detail}")
            continue
        out.append(
            {
                "id": resource_id(instance.id, ref.type, ref.config),
                "key": {
                    "integration_instance": instance.name,
                    "type": ref.type,
                    "config": ref.config,
                },
            }
        )
    return out


def _removed_resource_ids(
    work: _ServiceWork, mapped: dict[uuid.UUID, dict[str, uuid.UUID]], row: Any | None
) -> list[str]:
    if row is None or not work.remove_mappings:
        return []
    gone = set(work.remove_mappings)
    return [rid for rid, mid in mapped.get(row.id, {}).items() if mid in gone]


def _describe_removed(session: Session, result: Plan, ids: list[str]) -> None:
    """Show removed mappings by their resource's natural key, as files write them."""
    keys = resource_keys(session, ids)
    for change in result.changes:
        res = change.fields.get("resources")
        if res:
            res["remove"] = [keys.get(rid, rid) for rid in res["remove"]]


def _check_rights(actor: Actor, loc: Located, name: str, row: Any | None, errors: _Errors) -> None:
    if row is None:
        if not actor.rights.has(SERVICE_CREATOR):
            errors.add(loc, f"creating catalog service [{name}] needs Service Creator", 403)
    elif not actor.rights.has(SERVICE_ADMIN, str(row.id)):
        errors.add(loc, f"changing catalog service [{name}] needs Service Admin on it", 403)


def _declare_relations(result: Plan, loc: Located, doc: ServiceDoc) -> None:
    where = relations.Where(loc.file, loc.line)
    for dep in doc.dependencies or []:
        result._dependencies.append(
            relations.DeclaredDependency(doc.name, dep.service, dep.label, where)
        )
    for api in doc.apis or []:
        result._api_mappings.append(
            relations.DeclaredApiMapping(doc.name, api.api, api.version, api.relation, where)
        )


def _check_relation_targets(
    session: Session, result: Plan, declared: set[str], errors: _Errors
) -> None:
    """A dependency must name a catalog service (declared, or stored)."""
    targets = sorted({d.depends_on for d in result._dependencies} - declared)
    known = set(_services_named(session, targets)) if targets else set()
    for dep in result._dependencies:
        if dep.depends_on not in declared and dep.depends_on not in known:
            errors.errors.append(
                FileError(
                    dep.where.file,
                    dep.where.line,
                    f"dependencies: catalog service [{dep.depends_on}] (a dependency of "
                    f"[{dep.service}]) does not exist",
                )
            )


def _plan_prune(
    session: Session, result: Plan, declared: set[str], actor: Actor, errors: _Errors
) -> None:
    src = CatalogServiceSource
    rows = session.execute(
        select(CatalogService.id, CatalogService.name)
        .join(src, src.service_id == CatalogService.id)
        .where(src.source == result.source)
        .order_by(CatalogService.name)
    ).all()
    for row in rows:
        if row.name in declared:
            continue
        if not actor.rights.has(SERVICE_ADMIN, str(row.id)):
            errors.add(
                None, f"deleting catalog service [{row.name}] needs Service Admin on it", 403
            )
        result._prune.append((row.id, row.name))
        result.changes.append(Change("delete", "service", row.name))


# --- applying ---------------------------------------------------------------------------


def apply(session: Session, *, result: Plan, actor: Actor) -> None:
    """Make ``result``'s changes in the caller's transaction (never committing: a failure
    part-way leaves the caller to roll everything back)."""
    if len(result._services) + len(result._dependencies) < _BULK:
        _apply(session, result, actor)
        return
    with roomy_cache(session):
        _apply(session, result, actor)


def _apply(session: Session, result: Plan, actor: Actor) -> None:
    team_ids = _apply_teams(session, result, actor)
    creates = [w for w in result._services if w.current is None]
    created = create_services(
        session,
        data=[
            # Validated already as a ServiceDoc (the same field types): not a second time.
            CatalogServiceCreate.model_construct(
                name=w.doc.name,
                display_name=w.doc.display_name or w.doc.name,
                description=w.doc.description,
                labels=w.doc.labels,
                custom_fields=w.doc.custom_fields,
            )
            for w in creates
        ],
        actor=actor,
    )
    if not actor.rights.has(SERVICE_ADMIN):  # a Service Creator administers what it made
        for service_id in created.values():
            grant_creator_admin(session, actor, str(service_id))
    now = utcnow()
    source_rows: list[dict[str, Any]] = []
    for work in result._services:
        owner = work.owner_id if work.owner_id is not None else team_ids.get(work.doc.owner or "")
        if work.current is None:
            service_id = created[work.doc.name]
        else:
            service_id = work.current.id
            if work.patch:
                update_service(
                    session,
                    service_id=str(service_id),
                    data=CatalogServiceUpdate.model_validate(work.patch),
                    actor=actor,
                )
            if work.owner_changed:
                _record_owner(session, actor, service_id, work.doc.name, work.doc.owner)
        source_rows.append({"service_id": service_id, "owner_team_id": owner})
        _apply_mappings(session, work, str(service_id), actor)
    _store_sources(
        session,
        source_rows,
        stored=[w.current.id for w in result._services if w.current is not None],
        same={"source": result.source, "updated_at": now},
    )
    ids = dict(created)
    ids.update({w.doc.name: w.current.id for w in result._services if w.current is not None})
    relations.apply_apis(session, result.apis, source=result.source, actor=actor)
    named: dict[str, Any] = {  # the services the files name, as each relation is applied
        "services": result._names,
        "service_ids": ids,
        "source": result.source,
        "actor": actor,
    }
    relations.apply_dependencies(
        session, result._dependencies, planned=result._planned_dependencies, **named
    )
    relations.apply_api_mappings(session, result._api_mappings, existing=result._existing, **named)
    consumers.apply_consumed_apis(session, result._api_mappings, **named)
    for service_id, _name in result._prune:
        delete_service(session, service_id=str(service_id), actor=actor)


def _apply_teams(session: Session, result: Plan, actor: Actor) -> dict[str, uuid.UUID]:
    made: dict[str, uuid.UUID] = {}
    now = utcnow()
    for doc, team, values in result._teams:
        if team is None:
            team = Team(
                id=new_uuid(),
                name=doc.name,
                description=values["description"],
                labels=values["labels"],
                created_at=now,
                updated_at=now,
            )
            session.add(team)
            audit(session, actor, "team.created", f"Created team {team.name}", team_id=str(team.id))
        else:
            team.description = values["description"]
            team.labels = values["labels"]
            team.updated_at = now
            audit(session, actor, "team.updated", f"Updated team {team.name}", team_id=str(team.id))
        made[doc.name] = team.id
    session.flush()
    return made


def _record_owner(
    session: Session, actor: Actor, service_id: uuid.UUID, name: str, owner: str | None
) -> None:
    record_action(
        session,
        actor=actor,
        type="catalog_service.updated",
        service_id=service_id,
        detail=f"Catalog service {name} updated by {actor.name}: owner",
        attributes={"name": name, "changed": ["owner"], "owner": owner},
    )


def _apply_mappings(session: Session, work: _ServiceWork, service_id: str, actor: Actor) -> None:
    for mapping_id in work.remove_mappings:
        session.execute(delete(ResourceMapping).where(ResourceMapping.id == mapping_id))
        record_action(
            session,
            actor=actor,
            type="resource_mapping.deleted",
            service_id=uuid.UUID(service_id),
            detail=f"Resource unmapped from {work.doc.name} by {actor.name} (catalog files)",
            attributes={"mapping_id": str(mapping_id)},
        )
    for res in work.add_resources:
        create_mapping(session, service=service_id, resource=res["key"], actor=actor)


def _store_sources(
    session: Session,
    rows: list[dict[str, Any]],
    *,
    stored: list[uuid.UUID],
    same: dict[str, Any],
) -> None:
    """Remember the source and owner of every service applied (``rows``, the values
    ``same`` for all), replacing what the services ``stored`` (those that existed) had."""
    src = CatalogServiceSource
    for part in chunks(stored):
        session.execute(delete(src).where(src.service_id.in_(part)))
    insert_rows(session, cast(Table, src.__table__), rows, same=same)

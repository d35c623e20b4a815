"""Recording and reading events: integration events and the audit trail of user actions.

Both live in one table and one list. Integration events carry an integration and an
instance and are idempotent per instance by ``deduplication_id``; audit entries
(user actions recorded by :func:`record_action`) carry no integration and an actor
of type ``token`` (or ``system``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from sqlalchemy import ColumnElement, Select, Table, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service_catalog.auth.access import INTEGRATION_ADMIN, ORGANIZATION_ADMIN
from service_catalog.auth.guard import UNMAPPED_EVENT_READERS, readable_services, require_any
from service_catalog.auth.service import Actor
from service_catalog.catalog_services.models import CatalogService
from service_catalog.core import query as q
from service_catalog.core.bulk import insert_rows
from service_catalog.core.db import new_uuid, utcnow
from service_catalog.core.errors import bad_request, invalid_request
from service_catalog.core.render import ts
from service_catalog.events.models import Event, is_audit
from service_catalog.integrations import registry
from service_catalog.integrations.instances import get_instance
from service_catalog.resources.models import Resource

if TYPE_CHECKING:  # imported for types only: integrations import this module
    from service_catalog.events.schemas import CreateIntegrationEvent
    from service_catalog.integrations.connectors.base import EventRecord
    from service_catalog.integrations.models import IntegrationInstance

DEDUP_MAX = 255
_CHUNK = 2000

FILTERS = q.FilterSpec(
    fields={
        **q.model_fields(
            Event, "id type ts service_id resource_id deduplication_id binding detail"
        ),
        "integration.name": q.FilterField("string", Event.integration_name),
        "integration.instance.id": q.FilterField("uuid", Event.instance_id),
        "integration.instance.name": q.FilterField("string", Event.instance_name),
        "actor.type": q.FilterField("string", Event.actor_type),
        "actor.id": q.FilterField("string", Event.actor_id),
        "actor.name": q.FilterField("string", Event.actor_name),
    },
    json_prefixes={"attributes": q.FilterField("json", Event.attributes)},
)
SORTS = {"ts": Event.ts}
DEFAULT_SORT = "ts desc"


# --- writing ------------------------------------------------------------------------


def record_action(
    session: Session,
    *,
    actor: Actor,
    type: str,
    detail: str,
    service_id: uuid.UUID | None = None,
    resource_id: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> Event:
    """Record a user action in the audit trail, in the caller's transaction.

    ``type`` follows ``subject.action`` (``catalog_service.created``). Callers pass
    only non-secret attributes.
    """
    event = Event(
        type=type,
        ts=utcnow(),
        service_id=service_id,
        resource_id=resource_id,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_name=actor.name,
        attributes=attributes or {},
        detail=detail,
    )
    session.add(event)
    return event


def record_actions(session: Session, *, actor: Actor, actions: list[dict[str, Any]]) -> None:
    """Record many user actions at once (``{type, detail, service_id?, resource_id?,
    attributes?}`` each), in the caller's transaction, in one set-based insert."""
    if not actions:
        return
    rows = [
        {
            "id": new_uuid(),
            "type": a["type"],
            "service_id": a.get("service_id"),
            "resource_id": a.get("resource_id"),
            "attributes": a.get("attributes") or {},
            "detail": a["detail"],
        }
        for a in actions
    ]
    same = {"ts": utcnow(), "actor_type": actor.type, "actor_id": actor.id}
    same["actor_name"] = actor.name
    insert_rows(session, cast(Table, Event.__table__), rows, same=same)


def _dedup_key(dedup_id: str, service_id: uuid.UUID | None) -> str:
    """The stored deduplication key of a derived event: unique per (event, service)."""
    key = dedup_id if service_id is None else f"{dedup_id}:{service_id}"
    if len(key) > DEDUP_MAX:
        key = "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return key


def _jsonable(value: dict[str, Any] | None) -> dict[str, Any]:
    """Attributes as plain JSON (datetimes and other values become strings)."""
    if not value:
        return {}
    out = json.loads(json.dumps(value, default=str))
    return out if isinstance(out, dict) else {}


def _integration_actor(instance: IntegrationInstance) -> dict[str, str]:
    return {"actor_type": "integration", "actor_id": str(instance.id), "actor_name": instance.name}


def _instance_columns(instance: IntegrationInstance) -> dict[str, Any]:
    return {
        "integration_name": instance.integration_name,
        "integration_display_name": registry.display_name_of(instance.integration_name),
        "instance_id": instance.id,
        "instance_name": instance.name,
        "instance_display_name": instance.display_name,
    }


def _existing_keys(session: Session, instance_id: uuid.UUID, keys: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        found.update(
            session.scalars(
                select(Event.deduplication_id).where(
                    Event.instance_id == instance_id, Event.deduplication_id.in_(chunk)
                )
            )
        )
    return found


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> int:
    """INSERT rows, skipping any a concurrent writer stored first; the number inserted."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    stored = 0
    for i in range(0, len(rows), _CHUNK):
        chunk = rows[i : i + _CHUNK]
        if dialect == "postgresql":
            stmt: Any = postgresql.insert(Event).on_conflict_do_nothing()
        elif dialect == "sqlite":
            stmt = sqlite.insert(Event).on_conflict_do_nothing()
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            session.execute(insert(Event), chunk)
            stored += len(chunk)
            continue
        result = session.execute(stmt.returning(Event.id), chunk)
        stored += len(result.all())
    return stored


class ResourceEvents(NamedTuple):
    """The integration events a sync derived (or polled) for one resource: the resource,
    its binding (resource type), the catalog services mapped to it, the events."""

    resource_id: str
    binding: str
    service_ids: list[uuid.UUID]
    events: list[EventRecord]


def record_integration_events(
    session: Session,
    *,
    instance: IntegrationInstance,
    resource_id: str,
    binding: str,
    service_ids: list[uuid.UUID],
    events: list[EventRecord],
) -> int:
    """Store the integration events a sync derived for one resource, in the caller's
    transaction; return how many were new.

    One event is stored per (service the resource is mapped to, event), deduplicated
    per instance by ``f"{event.deduplication_id}:{service_id}"``, so deriving the same
    events again stores nothing. A resource mapped to no service gets one event with
    ``service_id: null`` (deduplicated by ``event.deduplication_id``), visible in the
    global list. Set-based: one SELECT of known keys and one INSERT per 2000 events.
    """
    return record_resources_events(
        session,
        instance=instance,
        items=[ResourceEvents(resource_id, binding, service_ids, events)],
    )


def record_resources_events(
    session: Session, *, instance: IntegrationInstance, items: Iterable[ResourceEvents]
) -> int:
    """:func:`record_integration_events` for many resources at once: one SELECT of known
    keys and one INSERT per 2000 events for them all, not two statements per resource
    (a poll's events concern thousands of resources). Of two events with the same key,
    the first is stored, as when they were recorded one resource after the other."""
    common = {**_instance_columns(instance), **_integration_actor(instance)}
    now = utcnow()
    candidates: dict[str, dict[str, Any]] = {}
    for item in items:
        if not item.events:
            continue
        targets: list[uuid.UUID | None] = list(dict.fromkeys(item.service_ids)) or [None]
        for ev in item.events:
            when = ev.ts or now
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            for sid in targets:
                key = _dedup_key(ev.deduplication_id, sid)
                if key in candidates:
                    continue
                candidates[key] = {
                    **common,
                    "id": new_uuid(),
                    "type": ev.type,
                    "ts": when,
                    "service_id": sid,
                    "resource_id": item.resource_id,
                    "deduplication_id": key,
                    "attributes": _jsonable(ev.attributes),
                    "binding": item.binding,
                    "detail": ev.detail,
                    "link_html": ev.link_html,
                }
    if not candidates:
        return 0
    known = _existing_keys(session, instance.id, list(candidates))
    return _insert_new(session, [row for key, row in candidates.items() if key not in known])


def _known_services(
    session: Session, items: Sequence[CreateIntegrationEvent]
) -> tuple[dict[uuid.UUID, uuid.UUID], dict[str, uuid.UUID]]:
    """The catalog services the events name, by id and by name, in one query."""
    refs: set[str] = {i.service for i in items if i.service is not None}
    ids: set[uuid.UUID] = {i.service_id for i in items if i.service_id is not None}
    for ref in refs:
        with contextlib.suppress(ValueError):
            ids.add(uuid.UUID(ref))
    by_id: dict[uuid.UUID, uuid.UUID] = {}
    by_name: dict[str, uuid.UUID] = {}
    if ids or refs:
        names = [r for r in refs if len(r) <= 120]
        for found_id, name in session.execute(
            select(CatalogService.id, CatalogService.name).where(
                or_(CatalogService.id.in_(list(ids)), CatalogService.name.in_(names))
            )
        ):
            by_id[found_id] = found_id
            by_name[name] = found_id
    return by_id, by_name


def _service_of(
    n: int,
    item: CreateIntegrationEvent,
    by_id: dict[uuid.UUID, uuid.UUID],
    by_name: dict[str, uuid.UUID],
    problems: list[dict[str, Any]],
) -> uuid.UUID | None:
    """The catalog service event ``n`` names (service_id, service, or both agreeing);
    what is wrong is added to ``problems``."""
    sid: uuid.UUID | None = None
    if item.service_id is not None:
        sid = by_id.get(item.service_id)
        if sid is None:
            problems.append(
                _param(
                    f"data.{n}.service_id", "is not a known catalog service", "missing_reference"
                )
            )
    if item.service is not None:
        found = by_name.get(item.service)
        if found is None:
            try:
                found = by_id.get(uuid.UUID(item.service))
            except ValueError:
                found = None
        if found is None:
            problems.append(
                _param(
                    f"data.{n}.service",
                    f"names no catalog service [{item.service}]",
                    "missing_reference",
                )
            )
        elif sid is not None and found != sid:
            problems.append(
                _param(
                    f"data.{n}.service", "names another catalog service than service_id", "invalid"
                )
            )
        sid = sid or found
    return sid


def _resolve_targets(
    session: Session, instance: IntegrationInstance, items: Sequence[CreateIntegrationEvent]
) -> tuple[list[uuid.UUID | None], list[str | None]]:
    """The catalog service and binding of each pushed event; unknown ones are a 400 naming
    ``data.N.<field>``. Two queries whatever the number of events."""
    by_id, by_name = _known_services(session, items)
    rids = {i.resource_id for i in items if i.resource_id is not None}
    types: dict[str, str] = {}
    if rids:
        types = dict(
            session.execute(
                select(Resource.id, Resource.type).where(
                    Resource.instance_id == instance.id, Resource.id.in_(list(rids))
                )
            ).all()
        )
    problems: list[dict[str, Any]] = []
    services: list[uuid.UUID | None] = []
    bindings: list[str | None] = []
    for n, item in enumerate(items):
        sid = _service_of(n, item, by_id, by_name, problems)
        binding = None
        if item.resource_id is not None:
            binding = types.get(item.resource_id)
            if binding is None:
                problems.append(
                    _param(
                        f"data.{n}.resource_id",
                        f"is not a resource of integration instance [{instance.name}]",
                        "missing_reference",
                    )
                )
        services.append(sid)
        bindings.append(binding)
    if problems:
        raise invalid_request(problems, shown=100)
    return services, bindings


def _param(field: str, reason: str, rule: str) -> dict[str, Any]:
    return {"field": field, "rule": rule, "reason": reason, "source": "body"}


def post_integration_events(
    session: Session,
    *,
    instance_id: str,
    items: Sequence[CreateIntegrationEvent],
    actor: Actor,
) -> dict[str, int]:
    """Store events pushed to an instance, in the caller's transaction.

    Idempotent by ``deduplication_id`` per instance (also within one request); returns
    ``{accepted, duplicates}``. An unknown instance is a 404; an unknown service or a
    resource of another instance is a 400 naming ``data.N.<field>``, and then nothing
    is stored. Needs Integration Admin (a system that posts events holds it).
    """
    require_any(actor.rights, INTEGRATION_ADMIN)
    instance = get_instance(session, instance_id=instance_id)
    services, bindings = _resolve_targets(session, instance, items)
    columns = _instance_columns(instance)
    now = utcnow()
    candidates: dict[str, dict[str, Any]] = {}
    for item, sid, binding in zip(items, services, bindings, strict=True):
        key = item.deduplication_id
        if key in candidates:
            continue
        who = _integration_actor(instance)
        if item.actor is not None:
            who = {
                "actor_type": item.actor.type or "user",
                "actor_id": item.actor.id or item.actor.name,
                "actor_name": item.actor.name,
            }
        when = item.ts or now
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        candidates[key] = {
            **columns,
            **who,
            "id": new_uuid(),
            "type": item.type,
            "ts": when,
            "service_id": sid,
            "resource_id": item.resource_id,
            "deduplication_id": key,
            "attributes": _jsonable(item.attributes),
            "binding": binding,
            "detail": item.detail,
            "link_html": item.link_html,
        }
    known = _existing_keys(session, instance.id, list(candidates))
    stored = _insert_new(session, [row for key, row in candidates.items() if key not in known])
    return {"accepted": stored, "duplicates": len(items) - stored}


# --- reading ------------------------------------------------------------------------


def to_dict(event: Event) -> dict[str, Any]:
    """An event as the API shows it; ``integration`` is null for audit entries."""
    integration = None
    if event.integration_name is not None:
        integration = {
            "name": event.integration_name,
            "display_name": event.integration_display_name or event.integration_name,
            "instance": {
                "id": str(event.instance_id) if event.instance_id else None,
                "name": event.instance_name,
                "display_name": event.instance_display_name,
            },
        }
    return {
        "id": str(event.id),
        "type": event.type,
        "ts": ts(event.ts),
        "service_id": str(event.service_id) if event.service_id else None,
        "resource_id": event.resource_id,
        "deduplication_id": event.deduplication_id,
        "actor": {"type": event.actor_type, "id": event.actor_id, "name": event.actor_name},
        "attributes": event.attributes or {},
        "integration": integration,
        "binding": event.binding,
        "detail": event.detail,
        "link_html": event.link_html,
    }


def list_statement(clauses: Iterable[Any]) -> Select[Any]:
    """SELECT of events matching compiled filter clauses."""
    return select(Event).where(*clauses)


def _check_cursor(param: str, values: Sequence[Any]) -> None:
    """Our sort keys (ts, id) are never null and ts is a real UTC instant; a forged cursor
    saying otherwise is a 400."""
    try:
        if any(v is None for v in values):
            raise ValueError
        values[0].astimezone(dt.UTC)
    except (ValueError, OverflowError, AttributeError):
        raise bad_request(
            f"Invalid query parameter [{param}]: is not a cursor this API issued",
            param,
            "is not a cursor this API issued",
            source="query",
        ) from None


def _event_scope(actor: Actor, dialect: str) -> ColumnElement[bool] | None:
    """The clause restricting integration events to those ``actor`` reads (None: all)."""
    services = readable_services(actor.rights)
    unmapped = any(actor.rights.has(role) for role in UNMAPPED_EVENT_READERS)
    if services is None:
        return None if unmapped else Event.service_id.is_not(None)
    on_services = q.keys_in(Event.service_id, services, dialect)
    return or_(on_services, Event.service_id.is_(None)) if unmapped else on_services


def list_events(
    session: Session,
    *,
    query: list[tuple[str, str]],
    path: str,
    actor: Actor,
    service_id: uuid.UUID | None = None,
    audit_only: bool = False,
) -> tuple[list[Event], dict[str, Any]]:
    """One cursor page of events, filtered and sorted (``ts``, default ``ts desc``) as the
    query string asks; optionally only one service's. Two feeds with one meaning each:
    integration events (from upstream systems), or, with ``audit_only``, the audit trail
    (user actions: an Organization Admin's to read).

    Integration events are those ``actor`` reads: on a catalog service it reads, or on
    none when it is an Integration Admin or Viewer."""
    qd = dict(query)
    if audit_only:
        require_any(actor.rights, ORGANIZATION_ADMIN)
    clauses = q.filter_clauses(FILTERS, query, session.get_bind().dialect.name)
    if not audit_only:
        scope = _event_scope(actor, session.get_bind().dialect.name)
        if scope is not None:
            clauses.append(scope)
    if service_id is not None:
        clauses.append(Event.service_id == service_id)
    clauses.append(is_audit == int(audit_only))  # the key the feeds' indexes lead with
    sort = q.parse_sort(qd.get("sort"), SORTS, DEFAULT_SORT)
    desc = sort[0][1] if sort else True
    cols = [
        q.CursorColumn(Event.ts, "datetime", "ts", desc=desc),
        q.CursorColumn(Event.id, "uuid", "id", desc=desc),
    ]
    req = q.cursor_request(qd)
    for param, cursor in (("page[after]", req.after), ("page[before]", req.before)):
        if cursor:
            _check_cursor(param, q.decode_cursor(cursor, param, [c.kind for c in cols]))
    return q.cursor_page(session, list_statement(clauses), cols, req, path=path, query=qd)


__all__ = [
    "DEFAULT_SORT",
    "FILTERS",
    "SORTS",
    "list_events",
    "post_integration_events",
    "record_action",
    "record_integration_events",
    "to_dict",
]

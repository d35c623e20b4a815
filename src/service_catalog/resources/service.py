"""Rules of resources and resource mappings: the only place that changes them.

Resources: listing (cursor paging), initializing, bulk push, archiving. Mappings:
create (by service id/name and resource id or ``{integration_instance, type, config}``),
list, get, delete. Every user action is recorded in the audit trail.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, case, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service_catalog.auth.service import Actor
from service_catalog.core import query as q
from service_catalog.core.db import utcnow
from service_catalog.core.errors import Problem, bad_request, not_found
from service_catalog.core.lookup import find_by_id_or_name, get_by_id_or_name
from service_catalog.core.render import ts
from service_catalog.events.service import record_action
from service_catalog.integrations import registry
from service_catalog.integrations.connectors.base import ResourceRecord
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.resources.ids import (
    canonical_json,
    json_has_nul,
    looks_like_resource_id,
    resource_id,
)
from service_catalog.resources.ingest import UpsertResult, column_in, upsert_resources
from service_catalog.resources.models import Resource, ResourceMapping
from service_catalog.resources.schemas import ResourcePushItem

MAX_CONFIG_BYTES = 16_384

# --- integration descriptors (owned by integrations.registry) -------------------------


def descriptor_of(integration_name: str) -> dict[str, Any] | None:
    """The descriptor of an integration (``CatalogIntegration`` as a dict), or None."""
    return registry.get_descriptor(integration_name)


def integration_display_name(integration_name: str) -> str:
    """The integration's display name (its name when it is not shipped)."""
    return registry.display_name_of(integration_name)


def _display_name_expr() -> Any:
    """SQL for an integration's display name (descriptors are data in code, so a CASE)."""
    names = {n: i.display_name for n, i in registry.integrations().items()}
    if not names:
        return Resource.integration_name
    return case(names, value=Resource.integration_name, else_=Resource.integration_name)


# --- instances and validation ---------------------------------------------------------


def find_instance(session: Session, ref: str) -> IntegrationInstance | None:
    """An integration instance by id or, failing that, by name."""
    return find_by_id_or_name(session, IntegrationInstance, ref)


def get_instance(session: Session, *, instance_id: str) -> IntegrationInstance:
    """An integration instance by id or name; 404 when there is none."""
    return get_by_id_or_name(session, IntegrationInstance, instance_id,
                             what="Integration instance", listing="/v1/integration-instances")


def _no_nul(text: str, field: str, *, is_json: bool = False) -> None:
    if json_has_nul(text) if is_json else "\x00" in text:
        raise bad_request(f"Invalid request: {field} must not contain NUL characters",
                          field, "must not contain NUL characters (\\u0000)")


def _json_checked(value: Any, field: str, *, limit: int | None = None) -> None:
    try:
        text = canonical_json(value)
    except (ValueError, TypeError):
        raise bad_request(f"Invalid request: {field} must be valid JSON (no NaN or Infinity)",
                          field, "must be valid JSON (no NaN or Infinity)") from None
    _no_nul(text, field, is_json=True)
    if limit is not None and len(text.encode()) > limit:
        raise bad_request(f"Invalid request: {field} must not be larger than {limit} bytes",
                          field, f"must not be larger than {limit} bytes", rule="max_length",
                          maximum=limit)


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "object": (dict,), "array": (list,),
}


def check_resource(instance: IntegrationInstance, type_: str, config: dict[str, Any],
                   field: str = "") -> None:
    """400 unless ``type_`` is one of the instance's integration's resource types and
    ``config`` fits that type's schema (when the descriptor declares one). ``field``
    prefixes the reported field names (``data.3.``)."""
    _no_nul(type_, f"{field}type")
    _json_checked(config, f"{field}config", limit=MAX_CONFIG_BYTES)
    desc = descriptor_of(instance.integration_name)
    types = desc.get("resource_types") if desc else None
    if not isinstance(types, dict):
        return  # unknown integration: nothing to check against
    configured = (instance.config or {}).get("resource_type")
    if type_ not in types:
        allowed = sorted({*types, *([configured] if isinstance(configured, str) else [])})
        if type_ == configured:
            return
        raise bad_request(
            f"Invalid request: {field}type [{type_}] is not a resource type of integration "
            f"[{instance.integration_name}]; use one of {', '.join(allowed)}",
            f"{field}type", f"must be one of {', '.join(allowed)}", rule="enum", choices=allowed)
    schema = (types[type_] or {}).get("schema") if isinstance(types[type_], dict) else None
    definition = schema.get("definition") if isinstance(schema, dict) else None
    if not isinstance(definition, dict) or not definition:
        return
    for key, kind in definition.items():
        if key not in config:
            raise bad_request(f"Invalid request: {field}config.{key} is a required field",
                              f"{field}config.{key}", "is a required field", rule="required")
        expected = _JSON_TYPES.get(str(kind))
        value = config[key]
        if expected and (not isinstance(value, expected)
                         or (isinstance(value, bool) and bool not in expected)):
            raise bad_request(f"Invalid request: {field}config.{key} must be a {kind}",
                              f"{field}config.{key}", f"must be a {kind}", rule=f"is_{kind}")
    for key in config:
        if key not in definition:
            raise bad_request(
                f"Invalid request: {field}config.{key} is not a known property of resource "
                f"type [{type_}]", f"{field}config.{key}", "is not a known property",
                rule="unknown_property")


# --- rendering ------------------------------------------------------------------------


def _count_expr() -> Any:
    return (select(func.count(ResourceMapping.id))
            .where(ResourceMapping.resource_id == Resource.id)
            .correlate(Resource).scalar_subquery())


def integration_ref(instance: IntegrationInstance) -> dict[str, Any]:
    """``integration`` of a resource (``IntegrationRef``)."""
    return {
        "name": instance.integration_name,
        "display_name": integration_display_name(instance.integration_name),
        "instance": {"id": str(instance.id), "name": instance.name,
                     "display_name": instance.display_name},
    }


def resource_dicts(session: Session, rows: Sequence[Resource], *, full: bool = True
                   ) -> list[dict[str, Any]]:
    """Resources as the contract's ``CatalogResource`` (``full``) or ``CatalogResourceRef``.

    Two queries for the whole list (instances, mapping counts), never one per row.
    """
    if not rows:
        return []
    inst_ids = {r.instance_id for r in rows}
    instances = {i.id: integration_ref(i) for i in session.scalars(
        select(IntegrationInstance).where(IntegrationInstance.id.in_(inst_ids)))}
    counts: dict[str, int] = {}
    if full:
        counts = dict(session.execute(
            select(ResourceMapping.resource_id, func.count(ResourceMapping.id))
            .where(column_in(session, ResourceMapping.resource_id, [r.id for r in rows]))
            .group_by(ResourceMapping.resource_id)).all())
    out = []
    for r in rows:
        item: dict[str, Any] = {
            "id": r.id,
            "name": r.name,
            "integration": instances.get(r.instance_id) or {
                "name": r.integration_name, "display_name": r.integration_name,
                "instance": {"id": str(r.instance_id), "name": "", "display_name": ""}},
            "type": r.type,
            "config": r.config or {},
        }
        if full:
            item.update({
                "integration_data": r.integration_data,
                "archived": bool(r.archived),
                "service_associations": int(counts.get(r.id, 0)),
                "discovered": bool(r.discovered),
                "last_discovered_at": ts(r.last_discovered_at),
                "created_at": ts(r.created_at),
                "updated_at": ts(r.updated_at),
            })
        out.append(item)
    return out


def to_dict(session: Session, row: Resource) -> dict[str, Any]:
    """One resource as ``CatalogResource``."""
    return resource_dicts(session, [row])[0]


# --- reading --------------------------------------------------------------------------


def _resource_filter_fields(archived: bool) -> dict[str, q.FilterField]:
    fields = {
        "id": q.FilterField("enum", Resource.id),
        "name": q.FilterField("string", Resource.name),
        "type": q.FilterField("enum", Resource.type),
        "integration.name": q.FilterField("string", Resource.integration_name),
        "integration.display_name": q.FilterField("string", _display_name_expr()),
        "integration.instance.id": q.FilterField("uuid", Resource.instance_id),
        "integration.instance.name": q.FilterField("string", IntegrationInstance.name),
        "integration.instance.display_name": q.FilterField("string",
                                                           IntegrationInstance.display_name),
        "service_associations": q.FilterField("number", _count_expr()),
        "discovered": q.FilterField("boolean", Resource.discovered),
        "created_at": q.FilterField("datetime", Resource.created_at),
        "updated_at": q.FilterField("datetime", Resource.updated_at),
    }
    if archived:
        fields["archived"] = q.FilterField("boolean", Resource.archived)
    return fields


JSON_PREFIXES = {
    "config": q.FilterField("json", Resource.config),
    "integration_data": q.FilterField("json", Resource.integration_data),
}
RESOURCE_SORTS = {"created_at": Resource.created_at, "updated_at": Resource.updated_at,
                  "name": func.coalesce(Resource.name, ""), "id": Resource.id}
DEFAULT_RESOURCE_SORT = "created_at desc"


def resource_filters(*, archived: bool = True) -> q.FilterSpec:
    """The ``filter[...]`` fields of resource lists (``CatalogResourceFilter``; without
    ``archived`` for ``CatalogResourceRefFilter``)."""
    return q.FilterSpec(fields=_resource_filter_fields(archived), json_prefixes=JSON_PREFIXES)


def _resource_select(clauses: Iterable[Any]) -> Select[Any]:
    return (select(Resource)
            .join(IntegrationInstance, IntegrationInstance.id == Resource.instance_id)
            .where(*clauses))


def get_resource(session: Session, *, resource_id: str) -> Resource:
    """A resource by id; 404 when there is none."""
    row = session.get(Resource, resource_id) if looks_like_resource_id(resource_id) else None
    if row is None:
        raise not_found("Resource", resource_id)
    return row


def list_resources(session: Session, *, query: list[tuple[str, str]], path: str
                   ) -> tuple[list[Resource], dict[str, Any]]:
    """One cursor page of resources, filtered and sorted as the query string asks.

    ``sort`` takes one field (``created_at``, ``updated_at``, ``name`` or ``id``, asc or
    desc); ``id`` breaks ties, so paging is stable.
    """
    qd = dict(query)
    clauses = q.filter_clauses(resource_filters(), query, session.get_bind().dialect.name)
    sort = q.parse_sort(qd.get("sort"), RESOURCE_SORTS, DEFAULT_RESOURCE_SORT)
    if len(sort) > 1:
        raise Problem(400, "Invalid query parameter [sort]: resources sort by one field",
                      invalid_parameters=[{"field": "sort", "rule": "invalid", "source": "query",
                                           "reason": "takes one field with cursor paging"}])
    req = q.cursor_request(qd)
    field, desc = sort[0]
    kinds = {"created_at": "datetime", "updated_at": "datetime", "name": "string",
             "id": "string"}
    if field == "name":
        # Keyset paging cannot compare NULLs: order by coalesce(name, '') instead.
        cols = [q.CursorColumn(func.coalesce(Resource.name, ""), "string", "sort_name", desc)]
    else:
        cols = [q.CursorColumn(RESOURCE_SORTS[field], kinds[field], field, desc)]
    if field != "id":
        cols.append(q.CursorColumn(Resource.id, "string", "id", desc))
    for param, cursor in (("page[after]", req.after), ("page[before]", req.before)):
        # Our sort keys are never NULL; a cursor saying otherwise was not issued by us.
        if cursor and None in q.decode_cursor(cursor, param, [c.kind for c in cols]):
            raise Problem(400, f"Invalid query parameter [{param}]: is not a cursor this API "
                               f"issued", invalid_parameters=[{
                                   "field": param, "rule": "invalid", "source": "query",
                                   "reason": "is not a cursor this API issued"}])
    return q.cursor_page(session, _resource_select(clauses), cols, req, path=path, query=qd)


def list_resource_services(session: Session, *, resource_id: str, query: list[tuple[str, str]]
                           ) -> tuple[list[Any], dict[str, Any]]:
    """A page of the catalog services a resource is mapped to (number paging, the catalog
    services' filters and sort)."""
    from service_catalog.catalog_services import service as svc_service
    from service_catalog.catalog_services.models import CatalogService

    get_resource(session, resource_id=resource_id)
    qd = dict(query)
    clauses = q.filter_clauses(svc_service.FILTERS, query, session.get_bind().dialect.name)
    sort = q.parse_sort(qd.get("sort"), svc_service.SORTS, svc_service.DEFAULT_SORT)
    page = q.page_request(qd)
    stmt = (select(CatalogService)
            .join(ResourceMapping, ResourceMapping.service_id == CatalogService.id)
            .where(ResourceMapping.resource_id == resource_id, *clauses))
    rows, total = q.numbered_page(session, stmt, q.order_by(sort, svc_service.SORTS,
                                                            CatalogService.id), page)
    return rows, q.page_meta(page, total)


def list_service_resources(session: Session, *, service_id: str, query: list[tuple[str, str]]
                           ) -> tuple[list[Resource], dict[str, Any]]:
    """A page of the resources mapped to a catalog service (``CatalogResourceRefFilter``,
    number paging, sort as on ``/resources``)."""
    from service_catalog.catalog_services.service import get_service

    svc = get_service(session, service_id=service_id)
    qd = dict(query)
    clauses = q.filter_clauses(resource_filters(archived=False), query,
                               session.get_bind().dialect.name)
    sort = q.parse_sort(qd.get("sort"), RESOURCE_SORTS, DEFAULT_RESOURCE_SORT)
    page = q.page_request(qd)
    stmt = (_resource_select(clauses)
            .join(ResourceMapping, ResourceMapping.resource_id == Resource.id)
            .where(ResourceMapping.service_id == svc.id))
    rows, total = q.numbered_page(session, stmt, q.order_by(sort, RESOURCE_SORTS, Resource.id),
                                  page)
    return rows, q.page_meta(page, total)


# --- writing --------------------------------------------------------------------------


def initialize_resource(session: Session, *, instance: IntegrationInstance, type: str,
                        config: dict[str, Any], actor: Actor, field: str = ""
                        ) -> tuple[Resource, bool]:
    """The resource ``(instance, type, config)``, created with name and integration_data
    null when it does not exist yet. Returns ``(resource, created)``. The type must be one
    of the integration's resource types (400 otherwise)."""
    check_resource(instance, type, config, field)
    rid = resource_id(instance.id, type, config)
    row = session.get(Resource, rid)
    if row is not None:
        return row, False
    now = utcnow()
    row = Resource(id=rid, instance_id=instance.id, integration_name=instance.integration_name,
                   type=type, config=config, name=None, integration_data=None,
                   content_hash=None, archived=False, discovered=True,
                   created_at=now, updated_at=now)
    try:
        with session.begin_nested():  # a concurrent initialize of the same resource wins
            session.add(row)
            session.flush()
    except IntegrityError:
        existing = session.get(Resource, rid)
        if existing is None:
            raise
        return existing, False
    record_action(session, actor=actor, type="resource.initialized", resource_id=rid,
                  detail=f"Resource {type} {rid} initialized on instance {instance.name} "
                         f"by {actor.name}",
                  attributes={"instance": instance.name, "type": type})
    return row, True


def push_resources(session: Session, *, instance_id: str, items: Sequence[ResourcePushItem],
                   actor: Actor) -> tuple[list[Resource], UpsertResult]:
    """Bulk upsert pushed resources (``PUT .../resources``) through the sync's own write
    path. Resources not named are left alone (a push is not a complete listing). Returns
    the upserted resources in request order (a duplicate once, last wins) and the counts."""
    instance = get_instance(session, instance_id=instance_id)
    for i, item in enumerate(items):
        check_resource(instance, item.type, item.config, f"data.{i}.")
        if item.name is not None:
            _no_nul(item.name, f"data.{i}.name")
        _json_checked(item.integration_data, f"data.{i}.integration_data")
    records = [ResourceRecord(type=it.type, config=it.config, name=it.name,
                              integration_data=it.integration_data) for it in items]
    result = upsert_resources(session, instance=instance, records=records, run_id=None,
                              now=utcnow())
    if result.created or result.updated:
        record_action(session, actor=actor, type="resource.pushed",
                      detail=f"{result.created} resources created and {result.updated} updated "
                             f"on instance {instance.name} by {actor.name}",
                      attributes={"instance": instance.name, "created": result.created,
                                  "updated": result.updated, "unchanged": result.unchanged})
    rows = {r.id: r for r in session.scalars(
        select(Resource).where(column_in(session, Resource.id, result.ids)))}
    return [rows[i] for i in result.ids if i in rows], result


def update_resource(session: Session, *, instance_id: str, resource_id: str,
                    archived: bool | None, actor: Actor) -> Resource:
    """Archive or restore a resource. Archiving removes its mappings (restoring does not
    bring them back)."""
    instance = get_instance(session, instance_id=instance_id)
    row = session.get(Resource, resource_id) if looks_like_resource_id(resource_id) else None
    if row is None or row.instance_id != instance.id:
        raise not_found("Resource", resource_id)
    if archived is None or bool(row.archived) == archived:
        return row
    row.archived = archived
    row.updated_at = utcnow()
    removed: list[uuid.UUID] = []
    if archived:
        removed = list(session.scalars(select(ResourceMapping.service_id)
                                       .where(ResourceMapping.resource_id == row.id)))
        session.execute(delete(ResourceMapping).where(ResourceMapping.resource_id == row.id))
        for sid in removed:
            record_action(session, actor=actor, type="resource_mapping.deleted",
                          service_id=sid, resource_id=row.id,
                          detail=f"Resource {row.name or row.id} unmapped because it was "
                                 f"archived by {actor.name}",
                          attributes={"reason": "archived"})
    verb = "archived" if archived else "restored"
    record_action(session, actor=actor, type=f"resource.{verb}", resource_id=row.id,
                  detail=f"Resource {row.name or row.id} {verb} by {actor.name}",
                  attributes={"instance": instance.name, "mappings_removed": len(removed)})
    session.flush()
    return row


# --- resource mappings ----------------------------------------------------------------


def _mapping_filters() -> q.FilterSpec:
    from service_catalog.catalog_services.models import CatalogService

    return q.FilterSpec(
        fields={
            "resource.id": q.FilterField("enum", Resource.id),
            "resource.name": q.FilterField("string", Resource.name),
            "resource.type": q.FilterField("string", Resource.type),
            "resource.integration.name": q.FilterField("string", Resource.integration_name),
            "resource.integration.display_name": q.FilterField("string", _display_name_expr()),
            "resource.integration.instance.id": q.FilterField("uuid", Resource.instance_id),
            "resource.integration.instance.name": q.FilterField("string",
                                                                IntegrationInstance.name),
            "resource.integration.instance.display_name": q.FilterField(
                "string", IntegrationInstance.display_name),
            "service.id": q.FilterField("uuid", CatalogService.id),
            "service.name": q.FilterField("string", CatalogService.name),
            "service.display_name": q.FilterField("string", CatalogService.display_name),
            "created_at": q.FilterField("datetime", ResourceMapping.created_at),
        },
        json_prefixes={"resource.config": q.FilterField("json", Resource.config)},
    )


MAPPING_SORTS = {"created_at": ResourceMapping.created_at}
DEFAULT_MAPPING_SORT = "created_at desc"


def _mapping_clauses(session: Session, query: list[tuple[str, str]]) -> list[Any]:
    # The core grammar splits a JSON prefix at the first dot; ``resource.config.<path>``
    # has a dotted prefix, so those terms are compiled against a ``config`` prefix and
    # errors are renamed back to the parameter the user wrote.
    spec = _mapping_filters()
    plain: list[tuple[str, str]] = []
    json_terms: list[tuple[str, str]] = []
    for key, value in query:
        if key.startswith("filter[resource.config."):
            json_terms.append((key.replace("filter[resource.config.", "filter[config.", 1),
                               value))
        else:
            plain.append((key, value))
    dialect = session.get_bind().dialect.name
    clauses = q.filter_clauses(spec, plain, dialect)
    if json_terms:
        try:
            clauses += q.filter_clauses(
                q.FilterSpec(fields={}, json_prefixes={"config": spec.json_prefixes[
                    "resource.config"]}), json_terms, dialect)
        except Problem as exc:
            # Name the parameter as the user wrote it.
            for p in exc.invalid_parameters or []:
                p["field"] = str(p.get("field", "")).replace("filter[config.",
                                                             "filter[resource.config.", 1)
            exc.detail = exc.detail.replace("[filter[config.", "[filter[resource.config.", 1)
            raise
    return clauses


def mapping_dicts(session: Session, rows: Sequence[ResourceMapping]) -> list[dict[str, Any]]:
    """Mappings as the contract's ``CatalogResourceMapping`` (three queries per list)."""
    from service_catalog.catalog_services.models import CatalogService

    if not rows:
        return []
    resources = {r.id: r for r in session.scalars(
        select(Resource).where(column_in(session, Resource.id, list({m.resource_id for m in rows}))))}
    refs = {d["id"]: d for d in resource_dicts(session, list(resources.values()), full=False)}
    services = {s.id: s for s in session.scalars(
        select(CatalogService).where(CatalogService.id.in_({m.service_id for m in rows})))}
    out = []
    for m in rows:
        svc = services[m.service_id]
        out.append({
            "id": str(m.id),
            "resource": refs[m.resource_id],
            "service": {"id": str(svc.id), "name": svc.name, "display_name": svc.display_name},
            "created_at": ts(m.created_at),
        })
    return out


def _resolve_mapping_resource(session: Session, ref: Any, actor: Actor) -> Resource:
    from service_catalog.resources.schemas import ResourceByConfig

    if isinstance(ref, str):
        row = session.get(Resource, ref) if looks_like_resource_id(ref) else None
        if row is None:
            raise not_found("Resource", ref)
        return row
    if not isinstance(ref, dict):
        raise bad_request("Invalid request: resource must be a resource id or an object "
                          "{integration_instance, type, config}", "resource",
                          "must be a resource id or an object {integration_instance, type, "
                          "config}", rule="invalid")
    from pydantic import ValidationError

    from service_catalog.core.errors import validation_problem

    try:
        by_config = ResourceByConfig.model_validate(ref)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", "resource", *e.get("loc", ()))} for e in exc.errors()]
        raise validation_problem(errors) from None
    instance = find_instance(session, by_config.integration_instance)
    if instance is None:
        raise not_found("Integration instance", by_config.integration_instance)
    row, _ = initialize_resource(session, instance=instance, type=by_config.type,
                                 config=by_config.config, actor=actor, field="resource.")
    return row


def create_mapping(session: Session, *, service: str, resource: Any, actor: Actor
                   ) -> ResourceMapping:
    """Map a resource to a catalog service.

    Unknown service or resource: 404 naming which; an archived resource: 400; an
    existing mapping: 409. A resource named by config that does not exist yet is
    initialized first.
    """
    from service_catalog.catalog_services.service import find_service
    from service_catalog.core.errors import conflict

    svc = find_service(session, service) if "\x00" not in service else None
    if svc is None:
        raise not_found("Catalog service", service)
    row = _resolve_mapping_resource(session, resource, actor)
    if row.archived:
        raise bad_request(f"Invalid request: resource [{row.id}] is archived and cannot be "
                          f"mapped; restore it first", "resource", "is archived",
                          rule="invalid")
    if session.scalar(select(ResourceMapping.id).where(ResourceMapping.service_id == svc.id,
                                                       ResourceMapping.resource_id == row.id)):
        raise conflict(f"Resource [{row.id}] is already mapped to catalog service [{svc.name}]")
    mapping = ResourceMapping(service_id=svc.id, resource_id=row.id, created_at=utcnow())
    session.add(mapping)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise conflict(f"Resource [{row.id}] is already mapped to catalog service "
                       f"[{svc.name}]") from None
    record_action(session, actor=actor, type="resource_mapping.created", service_id=svc.id,
                  resource_id=row.id,
                  detail=f"Resource {row.name or row.id} mapped to {svc.name} by {actor.name}",
                  attributes={"service": svc.name, "resource_type": row.type,
                              "mapping_id": str(mapping.id)})
    return mapping


def get_mapping(session: Session, *, mapping_id: str) -> ResourceMapping:
    """A resource mapping by id; 404 when there is none."""
    try:
        ident = uuid.UUID(mapping_id)
    except ValueError:
        raise not_found("Resource mapping", mapping_id) from None
    row = session.get(ResourceMapping, ident)
    if row is None:
        raise not_found("Resource mapping", mapping_id)
    return row


def delete_mapping(session: Session, *, mapping_id: str, actor: Actor) -> None:
    """Remove a resource mapping (the resource and the service stay)."""
    row = get_mapping(session, mapping_id=mapping_id)
    res = session.get(Resource, row.resource_id)
    record_action(session, actor=actor, type="resource_mapping.deleted",
                  service_id=row.service_id, resource_id=row.resource_id,
                  detail=f"Resource {(res.name if res else None) or row.resource_id} unmapped "
                         f"by {actor.name}",
                  attributes={"mapping_id": str(row.id)})
    session.execute(delete(ResourceMapping).where(ResourceMapping.id == row.id))


def list_mappings(session: Session, *, query: list[tuple[str, str]]
                  ) -> tuple[list[ResourceMapping], dict[str, Any]]:
    """A page of resource mappings (number paging), filtered and sorted."""
    from service_catalog.catalog_services.models import CatalogService

    qd = dict(query)
    clauses = _mapping_clauses(session, query)
    sort = q.parse_sort(qd.get("sort"), MAPPING_SORTS, DEFAULT_MAPPING_SORT)
    page = q.page_request(qd)
    stmt = (select(ResourceMapping)
            .join(Resource, Resource.id == ResourceMapping.resource_id)
            .join(IntegrationInstance, IntegrationInstance.id == Resource.instance_id)
            .join(CatalogService, CatalogService.id == ResourceMapping.service_id)
            .where(*clauses))
    rows, total = q.numbered_page(session, stmt, q.order_by(sort, MAPPING_SORTS,
                                                            ResourceMapping.id), page)
    return rows, q.page_meta(page, total)

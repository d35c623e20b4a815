"""Resource mappings: which resources belong to which catalog service. Create (by service
id or name, and resource id or ``{integration_instance, type, config}``), list, get,
delete; every change is recorded in the audit trail."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service_catalog.auth.access import Rights
from service_catalog.auth.guard import check_service, readable_services
from service_catalog.auth.service import Actor
from service_catalog.catalog_services.models import CatalogService
from service_catalog.catalog_services.service import find_service
from service_catalog.core import query as q
from service_catalog.core.db import utcnow
from service_catalog.core.errors import (
    Problem,
    bad_request,
    conflict,
    not_found,
    validation_problem,
)
from service_catalog.events.service import record_action
from service_catalog.integrations import registry
from service_catalog.integrations.instances import find_instance
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.resources.commands import initialize_resource
from service_catalog.resources.ids import looks_like_resource_id
from service_catalog.resources.models import Resource, ResourceMapping
from service_catalog.resources.queries import CONFIG_INDEX
from service_catalog.resources.schemas import ResourceByConfig


def mapping_filters() -> q.FilterSpec:
    """The ``filter[...]`` fields of ``GET /v1/resource-mappings``."""
    return q.FilterSpec(
        fields={
            "resource.id": q.FilterField("enum", Resource.id),
            **q.model_fields(Resource, "name type", prefix="resource."),
            "resource.integration.name": q.FilterField("string", Resource.integration_name),
            "resource.integration.display_name": q.FilterField(
                "string", registry.display_name_sql(Resource.integration_name)
            ),
            "resource.integration.instance.id": q.FilterField("uuid", Resource.instance_id),
            **q.model_fields(
                IntegrationInstance, "name display_name", prefix="resource.integration.instance."
            ),
            **q.model_fields(CatalogService, "id name display_name", prefix="service."),
            **q.model_fields(ResourceMapping, "created_at"),
        },
        json_prefixes={
            "resource.config": q.FilterField("json", Resource.config, index=CONFIG_INDEX)
        },
    )


MAPPING_SORTS = {"created_at": ResourceMapping.created_at}
DEFAULT_MAPPING_SORT = "created_at desc"


def _mapping_clauses(session: Session, query: list[tuple[str, str]]) -> list[Any]:
    # The core grammar splits a JSON prefix at the first dot; ``resource.config.<path>``
    # has a dotted prefix, so those terms are compiled against a ``config`` prefix and
    # errors are renamed back to the parameter the user wrote.
    spec = mapping_filters()
    plain: list[tuple[str, str]] = []
    json_terms: list[tuple[str, str]] = []
    for key, value in query:
        if key.startswith("filter[resource.config."):
            json_terms.append((key.replace("filter[resource.config.", "filter[config.", 1), value))
        else:
            plain.append((key, value))
    dialect = session.get_bind().dialect.name
    clauses = q.filter_clauses(spec, plain, dialect)
    if json_terms:
        try:
            clauses += q.filter_clauses(
                q.FilterSpec(
                    fields={}, json_prefixes={"config": spec.json_prefixes["resource.config"]}
                ),
                json_terms,
                dialect,
            )
        except Problem as exc:
            # Name the parameter as the user wrote it.
            for p in exc.invalid_parameters or []:
                p["field"] = str(p.get("field", "")).replace(
                    "filter[config.", "filter[resource.config.", 1
                )
            exc.detail = exc.detail.replace("[filter[config.", "[filter[resource.config.", 1)
            raise
    return clauses


def _resolve_mapping_resource(session: Session, ref: Any, actor: Actor) -> Resource:
    if isinstance(ref, str):
        row = session.get(Resource, ref) if looks_like_resource_id(ref) else None
        if row is None:
            raise not_found("Resource", ref)
        return row
    if not isinstance(ref, dict):
        raise bad_request(
            "Invalid request: resource must be a resource id or an object "
            "{integration_instance, type, config}",
            "resource",
            "must be a resource id or an object {integration_instance, type, config}",
            rule="invalid",
        )
    try:
        by_config = ResourceByConfig.model_validate(ref)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", "resource", *e.get("loc", ()))} for e in exc.errors()]
        raise validation_problem(errors) from None
    instance = find_instance(session, by_config.integration_instance)
    if instance is None:
        raise not_found("Integration instance", by_config.integration_instance)
    row, _ = initialize_resource(
        session,
        instance=instance,
        type=by_config.type,
        config=by_config.config,
        actor=actor,
        field="resource.",
        for_mapping=True,
    )
    return row


def create_mapping(
    session: Session, *, service: str, resource: Any, actor: Actor
) -> ResourceMapping:
    """Map a resource to a catalog service.

    Unknown service or resource: 404 naming which; an archived resource: 400; an
    existing mapping: 409. A resource named by config that does not exist yet is
    initialized first. Needs Service Admin of the service (404 for a principal that
    may not read it, 403 for one that only reads it).
    """
    svc = find_service(session, service) if "\x00" not in service else None
    if svc is None:
        raise not_found("Catalog service", service)
    check_service(actor.rights, svc.id, change=True, missing=not_found("Catalog service", service))
    row = _resolve_mapping_resource(session, resource, actor)
    if row.archived:
        raise bad_request(
            f"Invalid request: resource [{row.id}] is archived and cannot be "
            f"mapped; restore it first",
            "resource",
            "is archived",
            rule="invalid",
        )
    if session.scalar(
        select(ResourceMapping.id).where(
            ResourceMapping.service_id == svc.id, ResourceMapping.resource_id == row.id
        )
    ):
        raise conflict(f"Resource [{row.id}] is already mapped to catalog service [{svc.name}]")
    mapping = ResourceMapping(service_id=svc.id, resource_id=row.id, created_at=utcnow())
    session.add(mapping)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise conflict(
            f"Resource [{row.id}] is already mapped to catalog service [{svc.name}]"
        ) from None
    _record(
        session,
        actor,
        mapping,
        "created",
        f"Resource {row.name or row.id} mapped to {svc.name} by {actor.name}",
        {"service": svc.name, "resource_type": row.type, "mapping_id": str(mapping.id)},
    )
    return mapping


def _record(
    session: Session,
    actor: Actor,
    mapping: ResourceMapping,
    action: str,
    detail: str,
    attributes: dict[str, Any],
) -> None:
    """The audit entry of a mapping ``created`` or ``deleted``."""
    record_action(
        session,
        actor=actor,
        type=f"resource_mapping.{action}",
        service_id=mapping.service_id,
        resource_id=mapping.resource_id,
        detail=detail,
        attributes=attributes,
    )


def get_mapping(
    session: Session, *, mapping_id: str, rights: Rights, change: bool = False
) -> ResourceMapping:
    """A resource mapping by id; 404 when there is none or ``rights`` may not read its
    catalog service; 403 when ``change`` and they may not change that service."""
    try:
        ident = uuid.UUID(mapping_id)
    except ValueError:
        raise not_found("Resource mapping", mapping_id) from None
    row = session.get(ResourceMapping, ident)
    if row is None:
        raise not_found("Resource mapping", mapping_id)
    check_service(
        rights, row.service_id, change=change, missing=not_found("Resource mapping", mapping_id)
    )
    return row


def delete_mapping(session: Session, *, mapping_id: str, actor: Actor) -> None:
    """Remove a resource mapping (the resource and the service stay). Needs Service
    Admin of its service."""
    row = get_mapping(session, mapping_id=mapping_id, rights=actor.rights, change=True)
    res = session.get(Resource, row.resource_id)
    name = (res.name if res else None) or row.resource_id
    _record(
        session,
        actor,
        row,
        "deleted",
        f"Resource {name} unmapped by {actor.name}",
        {"mapping_id": str(row.id)},
    )
    session.execute(delete(ResourceMapping).where(ResourceMapping.id == row.id))


def list_mappings(
    session: Session, *, query: list[tuple[str, str]], actor: Actor
) -> tuple[list[ResourceMapping], dict[str, Any]]:
    """A page of the resource mappings on catalog services ``actor`` reads (number
    paging), filtered and sorted."""
    qd = dict(query)
    clauses = _mapping_clauses(session, query)
    services = readable_services(actor.rights)
    if services is not None:
        clauses.append(
            q.keys_in(ResourceMapping.service_id, services, session.get_bind().dialect.name)
        )
    sort = q.parse_sort(qd.get("sort"), MAPPING_SORTS, DEFAULT_MAPPING_SORT)
    page = q.page_request(qd)
    stmt = (
        select(ResourceMapping)
        .join(Resource, Resource.id == ResourceMapping.resource_id)
        .join(IntegrationInstance, IntegrationInstance.id == Resource.instance_id)
        .join(CatalogService, CatalogService.id == ResourceMapping.service_id)
        .where(*clauses)
    )
    rows, total = q.numbered_page(
        session, stmt, q.order_by(sort, MAPPING_SORTS, ResourceMapping.id), page
    )
    return rows, q.page_meta(page, total)


__all__ = [
    "DEFAULT_MAPPING_SORT",
    "MAPPING_SORTS",
    "create_mapping",
    "delete_mapping",
    "get_mapping",
    "list_mappings",
]

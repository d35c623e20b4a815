"""Reading resources: lookups, the filter and sort definitions of resource lists, and the
lists themselves (``/v1/resources``, a resource's services, a service's resources)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from service_catalog.auth.access import Rights
from service_catalog.auth.guard import readable_services, reads_all_resources
from service_catalog.auth.service import Actor
from service_catalog.catalog_services import service as svc_service
from service_catalog.catalog_services.models import CatalogService
from service_catalog.catalog_services.service import get_service
from service_catalog.core import query as q
from service_catalog.core.errors import Problem, not_found
from service_catalog.core.jsonindex import PATH_MAX, JsonIndex
from service_catalog.integrations import registry
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.resources.dataindex import data_index
from service_catalog.resources.ids import looks_like_resource_id
from service_catalog.resources.models import Resource, ResourceAttribute, ResourceMapping


def _count_expr() -> Any:
    return (
        select(func.count(ResourceMapping.id))
        .where(ResourceMapping.resource_id == Resource.id)
        .correlate(Resource)
        .scalar_subquery()
    )


def _resource_filter_fields(archived: bool) -> dict[str, q.FilterField]:
    fields = {
        "id": q.FilterField("enum", Resource.id),
        "name": q.FilterField("string", Resource.name),
        "type": q.FilterField("enum", Resource.type),
        "integration.name": q.FilterField("string", Resource.integration_name),
        "integration.display_name": q.FilterField(
            "string", registry.display_name_sql(Resource.integration_name)
        ),
        "integration.instance.id": q.FilterField("uuid", Resource.instance_id),
        "integration.instance.name": q.FilterField("string", IntegrationInstance.name),
        "integration.instance.display_name": q.FilterField(
            "string", IntegrationInstance.display_name
        ),
        "service_associations": q.FilterField("number", _count_expr()),
        "discovered": q.FilterField("boolean", Resource.discovered),
        "created_at": q.FilterField("datetime", Resource.created_at),
        "updated_at": q.FilterField("datetime", Resource.updated_at),
    }
    if archived:
        fields["archived"] = q.FilterField("boolean", Resource.archived)
    return fields


#: ``config.*`` filters read the side table (every path of a resource's config, written
#: once with the resource). ``integration_data.*`` filters read it for the paths the
#: installed integrations declare (:mod:`~service_catalog.resources.dataindex`), the JSON
#: for any other: indexing every path of integration_data cost a 100,000-item first sync
#: 3.3 -> 7.6 s and a 10,000-service Traceable sync 326 -> 469 MB of peak memory.
CONFIG_INDEX = JsonIndex(ResourceAttribute, Resource.id, "config", path_max=PATH_MAX)


def json_prefixes() -> dict[str, q.FilterField]:
    """The JSON prefixes of resource filters (their indexes as the installed integrations
    declare them)."""
    return {
        "config": q.FilterField("json", Resource.config, index=CONFIG_INDEX),
        "integration_data": q.FilterField("json", Resource.integration_data, index=data_index()),
    }


RESOURCE_SORTS = {
    "created_at": Resource.created_at,
    "updated_at": Resource.updated_at,
    "name": func.coalesce(Resource.name, ""),
    "id": Resource.id,
}
DEFAULT_RESOURCE_SORT = "created_at desc"


def resource_filters(*, archived: bool = True) -> q.FilterSpec:
    """The ``filter[...]`` fields of resource lists (``CatalogResourceFilter``; without
    ``archived`` for ``CatalogResourceRefFilter``)."""
    return q.FilterSpec(fields=_resource_filter_fields(archived), json_prefixes=json_prefixes())


def _resource_select(clauses: Iterable[Any]) -> Select[Any]:
    return (
        select(Resource)
        .join(IntegrationInstance, IntegrationInstance.id == Resource.instance_id)
        .where(*clauses)
    )


def resource_scope(rights: Rights, dialect: str) -> ColumnElement[bool] | None:
    """The clause restricting resources to those ``rights`` read: None for a principal
    that reads every resource (Service Creator, Integration Admin or Viewer, a reader of
    every service), else those mapped to a catalog service it reads."""
    if reads_all_resources(rights):
        return None
    services = readable_services(rights) or frozenset()
    return Resource.id.in_(
        select(ResourceMapping.resource_id).where(
            q.keys_in(ResourceMapping.service_id, services, dialect)
        )
    )


def get_resource(session: Session, *, resource_id: str, rights: Rights | None = None) -> Resource:
    """A resource by id; 404 when there is none or ``rights`` (the asking principal's)
    may not read it (:func:`resource_scope`)."""
    row = session.get(Resource, resource_id) if looks_like_resource_id(resource_id) else None
    if row is not None and rights is not None:
        scope = resource_scope(rights, session.get_bind().dialect.name)
        if (
            scope is not None
            and session.scalar(select(Resource.id).where(Resource.id == row.id, scope)) is None
        ):
            row = None
    if row is None:
        raise not_found("Resource", resource_id)
    return row


def list_resources(
    session: Session, *, query: list[tuple[str, str]], path: str, actor: Actor
) -> tuple[list[Resource], dict[str, Any]]:
    """One cursor page of the resources ``actor`` reads (:func:`resource_scope`), filtered
    and sorted as the query string asks.

    ``sort`` takes one field (``created_at``, ``updated_at``, ``name`` or ``id``, asc or
    desc); ``id`` breaks ties, so paging is stable.
    """
    qd = dict(query)
    clauses = q.filter_clauses(resource_filters(), query, session.get_bind().dialect.name)
    scope = resource_scope(actor.rights, session.get_bind().dialect.name)
    if scope is not None:
        clauses.append(scope)
    sort = q.parse_sort(qd.get("sort"), RESOURCE_SORTS, DEFAULT_RESOURCE_SORT)
    if len(sort) > 1:
        raise Problem(
            400,
            "Invalid query parameter [sort]: resources sort by one field",
            invalid_parameters=[
                {
                    "field": "sort",
                    "rule": "invalid",
                    "source": "query",
                    "reason": "takes one field with cursor paging",
                }
            ],
        )
    req = q.cursor_request(qd)
    field, desc = sort[0]
    kinds = {"created_at": "datetime", "updated_at": "datetime", "name": "string", "id": "string"}
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
            raise Problem(
                400,
                f"Invalid query parameter [{param}]: is not a cursor this API issued",
                invalid_parameters=[
                    {
                        "field": param,
                        "rule": "invalid",
                        "source": "query",
                        "reason": "is not a cursor this API issued",
                    }
                ],
            )
    return q.cursor_page(session, _resource_select(clauses), cols, req, path=path, query=qd)


def list_resource_services(
    session: Session, *, resource_id: str, query: list[tuple[str, str]], actor: Actor
) -> tuple[list[Any], dict[str, Any]]:
    """A page of the catalog services a resource is mapped to that ``actor`` reads (number
    paging, the catalog services' filters and sort)."""
    get_resource(session, resource_id=resource_id, rights=actor.rights)
    qd = dict(query)
    clauses = q.filter_clauses(svc_service.FILTERS, query, session.get_bind().dialect.name)
    services = readable_services(actor.rights)
    if services is not None:
        clauses.append(q.keys_in(CatalogService.id, services, session.get_bind().dialect.name))
    sort = q.parse_sort(qd.get("sort"), svc_service.SORTS, svc_service.DEFAULT_SORT)
    page = q.page_request(qd)
    stmt = (
        select(CatalogService)
        .join(ResourceMapping, ResourceMapping.service_id == CatalogService.id)
        .where(ResourceMapping.resource_id == resource_id, *clauses)
    )
    rows, total = q.numbered_page(
        session, stmt, q.order_by(sort, svc_service.SORTS, CatalogService.id), page
    )
    return rows, q.page_meta(page, total)


def list_service_resources(
    session: Session, *, service_id: str, query: list[tuple[str, str]], actor: Actor
) -> tuple[list[Resource], dict[str, Any]]:
    """A page of the resources mapped to a catalog service ``actor`` reads
    (``CatalogResourceRefFilter``, number paging, sort as on ``/resources``)."""
    svc = get_service(session, service_id=service_id, rights=actor.rights)
    qd = dict(query)
    clauses = q.filter_clauses(
        resource_filters(archived=False), query, session.get_bind().dialect.name
    )
    sort = q.parse_sort(qd.get("sort"), RESOURCE_SORTS, DEFAULT_RESOURCE_SORT)
    page = q.page_request(qd)
    stmt = (
        _resource_select(clauses)
        .join(ResourceMapping, ResourceMapping.resource_id == Resource.id)
        .where(ResourceMapping.service_id == svc.id)
    )
    rows, total = q.numbered_page(
        session, stmt, q.order_by(sort, RESOURCE_SORTS, Resource.id), page
    )
    return rows, q.page_meta(page, total)


def top_mapped_by_data(
    session: Session,
    *,
    type: str,
    path: str,
    limit: int = 5,
    service_ids: frozenset[str] | None = None,
) -> list[dict[str, Any]]:
    """The unarchived resources of ``type`` mapped to catalog services with the largest
    positive number at the indexed ``integration_data`` path ``path`` (a declared one, such
    as Traceable's ``vulnerabilities.open``), largest first: each ``{resource, value,
    services}`` (``services``: ``(id, name, display_name)`` of the services it is mapped
    to). ``service_ids`` restricts the services to those (the asking principal's readable
    services; None: every one). Reads the index, never the JSON."""
    mapped = select(ResourceMapping.id).where(ResourceMapping.resource_id == Resource.id)
    if service_ids is not None:
        mapped = mapped.where(ResourceMapping.service_id.in_([uuid.UUID(s) for s in service_ids]))
    rows = session.execute(
        select(Resource, ResourceAttribute.num)
        .join(ResourceAttribute, ResourceAttribute.owner_id == Resource.id)
        .where(
            ResourceAttribute.path == f"integration_data.{path}",
            ResourceAttribute.num > 0,
            Resource.type == type,
            Resource.archived.is_(False),
            mapped.exists(),
        )
        .order_by(ResourceAttribute.num.desc(), Resource.id)
        .limit(limit)
    ).all()
    if not rows:
        return []
    links = select(
        ResourceMapping.resource_id,
        CatalogService.id,
        CatalogService.name,
        CatalogService.display_name,
    ).join(CatalogService, CatalogService.id == ResourceMapping.service_id)
    links = links.where(ResourceMapping.resource_id.in_([r[0].id for r in rows]))
    if service_ids is not None:
        links = links.where(CatalogService.id.in_([uuid.UUID(s) for s in service_ids]))
    services: dict[str, list[tuple[str, str, str]]] = {}
    for resource_id, sid, name, display in session.execute(links.order_by(CatalogService.name)):
        services.setdefault(resource_id, []).append((str(sid), name, display))
    return [
        {"resource": res, "value": num, "services": services.get(res.id, [])} for res, num in rows
    ]


#: The fields whose values ``/v1/resources/facets`` counts.
RESOURCE_FACETS = {
    "type": Resource.type,
    "integration.name": Resource.integration_name,
    "integration.instance.name": IntegrationInstance.name,
    "discovered": Resource.discovered,
    "archived": Resource.archived,
}


def resource_facets(
    session: Session, query: list[tuple[str, str]], actor: Actor
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The values of one resource field (``field=type``, ``integration.name``, ...)
    among the resources ``actor`` reads that the query's filters match, each with its
    count, most frequent first."""
    req = q.facet_request(dict(query))
    spec = resource_filters()
    clauses = q.filter_clauses(spec, query, session.get_bind().dialect.name)
    scope = resource_scope(actor.rights, session.get_bind().dialect.name)
    if scope is not None:
        clauses.append(scope)
    data, truncated = q.facet_counts(
        session,
        spec=spec,
        columns=RESOURCE_FACETS,
        rows=_resource_select(clauses),
        key=Resource.id,
        req=req,
    )
    return data, {"field": req.field, "limit": req.limit, "truncated": truncated}


__all__ = [
    "CONFIG_INDEX",
    "DEFAULT_RESOURCE_SORT",
    "RESOURCE_FACETS",
    "RESOURCE_SORTS",
    "get_resource",
    "json_prefixes",
    "list_resource_services",
    "list_resources",
    "list_service_resources",
    "resource_facets",
    "resource_filters",
    "resource_scope",
    "top_mapped_by_data",
]

"""HTTP routes of resources and resource mappings.

``/v1/resources``, ``/v1/integration-instances/{id}/resources`` (initialize, bulk push,
archive), ``/v1/resource-mappings`` and ``/v1/catalog-services/{id}/resources``.
"""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from service_catalog.auth.deps import CtxDep, run_read
from service_catalog.catalog_services import service as svc_service
from service_catalog.catalog_services.schemas import CatalogServiceList
from service_catalog.core.openapi import facet_params, list_params
from service_catalog.core.pages import FacetList
from service_catalog.core.responses import json_response, no_content, page
from service_catalog.core.routes import Router
from service_catalog.resources import service
from service_catalog.resources.children import PAGE_PARAMS, children_page
from service_catalog.resources.mappings import mapping_filters
from service_catalog.resources.schemas import (
    ResourceInitialize,
    ResourceList,
    ResourceMappingCreate,
    ResourceMappingList,
    ResourceMappingRead,
    ResourcePush,
    ResourcePushResult,
    ResourceRead,
    ResourceUpdate,
    ServiceResourceList,
)

resources = Router(prefix="/v1", tags=["Catalog Resources"])
instance_resources = resources.section("/integration-instances")
resource_services = Router(prefix="/v1", tags=["Catalog Resource Services"])
mappings = Router(prefix="/v1/resource-mappings", tags=["Catalog Resource Mappings"])
service_resources = Router(prefix="/v1", tags=["Catalog Service Resources"])


@resources.op(
    "GET /resources",
    "list-resources",
    "List Resources",
    ResourceList,
    openapi_extra=list_params(service.resource_filters, service.RESOURCE_SORTS, cursor=True),
)
def list_resources(ctx: CtxDep) -> JSONResponse:
    """A cursor page of resources (``page[size]``/``size``, ``page[after]``/``after``,
    ``page[before]``/``before``), filtered and sorted (default ``created_at desc``)."""
    rows, meta = service.list_resources(
        ctx.session, query=ctx.query, path="/v1/resources", actor=ctx.actor
    )
    return page(service.resource_dicts(ctx.session, rows, rights=ctx.actor.rights), meta)


@resources.op(
    "GET /resources/facets",
    "list-resource-facets",
    "Count Resource Field Values",
    FacetList,
    openapi_extra=facet_params(service.resource_filters),
    description="Each value of one resource field (``field=type``, ``integration.name``, "
    "``integration.instance.name``, ``discovered``, ``archived``) among the resources the "
    "``filter[...]`` parameters match, with its count, the most frequent first. An "
    "extension: Konnect has no facets.",
)
async def resource_facets(request: Request) -> JSONResponse:
    """Value counts of one field among the matching resources."""
    data, meta = await run_read(request, service.resource_facets)
    return page(data, meta)


@resources.op("GET /resources/{id}", "fetch-resource", "Get a Resource", ResourceRead)
def get_resource(id: str, ctx: CtxDep) -> JSONResponse:
    """One resource."""
    return json_response(
        service.to_dict(
            ctx.session,
            service.get_resource(ctx.session, resource_id=id, rights=ctx.actor.rights),
            ctx.actor.rights,
        )
    )


@resources.op(
    "GET /resources/{id}/children/{kind}",
    "list-resource-children",
    "List a Resource's children",
    openapi_extra={"parameters": PAGE_PARAMS},
)
def list_children(id: str, kind: str, ctx: CtxDep) -> JSONResponse:
    """A page of the resource's children of ``kind`` (e.g. a Traceable Service's
    ``endpoints``), read from the upstream now; 404 when its connector lists no such
    children."""
    return json_response(
        children_page(
            ctx.session,
            resource_id=id,
            kind=kind,
            query=ctx.query,
            settings=ctx.request.app.state.settings,
            rights=ctx.actor.rights,
        )
    )


@instance_resources.op(
    "POST /{id}/resources", "initialize-resource", "Initialize a Resource", ResourceRead
)
def initialize(id: str, body: ResourceInitialize, ctx: CtxDep) -> JSONResponse:
    """Initialize a resource (name and integration_data null until the integration hydrates
    it): 201 when created, 200 with the existing resource when it already exists."""
    instance = service.get_instance(ctx.session, instance_id=id)
    row, created = service.initialize_resource(
        ctx.session, instance=instance, type=body.type, config=body.config, actor=ctx.actor
    )
    return json_response(
        service.to_dict(ctx.session, row, ctx.actor.rights), 201 if created else 200
    )


@instance_resources.op(
    "PUT /{id}/resources", "upsert-resources", "Bulk upsert Resources", ResourcePushResult
)
def push(id: str, body: ResourcePush, ctx: CtxDep) -> JSONResponse:
    """Create or update up to 1000 resources pushed by an integration. Returns them (request
    order, a duplicate once) and ``meta {created, updated, unchanged}``; resources not in
    the body are left alone."""
    rows, result = service.push_resources(
        ctx.session, instance_id=id, items=body.data, actor=ctx.actor
    )
    return json_response(
        {
            "data": service.resource_dicts(ctx.session, rows, rights=ctx.actor.rights),
            "meta": {
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
            },
        }
    )


@instance_resources.op(
    "PATCH /{integrationInstanceId}/resources/{resourceId}",
    "update-resource",
    "Update a Resource",
    ResourceRead,
)
def update(
    integrationInstanceId: str, resourceId: str, body: ResourceUpdate, ctx: CtxDep
) -> JSONResponse:
    """Archive (removing its mappings) or restore a resource."""
    row = service.update_resource(
        ctx.session,
        instance_id=integrationInstanceId,
        resource_id=resourceId,
        archived=body.archived,
        actor=ctx.actor,
    )
    return json_response(service.to_dict(ctx.session, row, ctx.actor.rights))


@resource_services.op(
    "GET /resources/{id}/catalog-services",
    "list-catalog-resource-services",
    "List Resource Services",
    CatalogServiceList,
    openapi_extra=list_params(svc_service.FILTERS, svc_service.SORTS),
)
def list_resource_services(id: str, ctx: CtxDep) -> JSONResponse:
    """A page of the catalog services a resource is mapped to."""
    rows, meta = service.list_resource_services(
        ctx.session, resource_id=id, query=ctx.query, actor=ctx.actor
    )
    return page([svc_service.to_dict(s) for s in rows], meta)


@mappings.op("POST ", "create-resource-mapping", "Create Resource Mapping", ResourceMappingRead)
def create_mapping(body: ResourceMappingCreate, ctx: CtxDep) -> JSONResponse:
    """Map a resource (by id, or by integration instance, type and config) to a service."""
    row = service.create_mapping(
        ctx.session, service=body.service, resource=body.resource, actor=ctx.actor
    )
    return json_response(service.mapping_dicts(ctx.session, [row])[0], 201)


@mappings.op(
    "GET ",
    "list-resource-mappings",
    "List Resource Mappings",
    ResourceMappingList,
    openapi_extra=list_params(mapping_filters, service.MAPPING_SORTS),
)
def list_mappings(ctx: CtxDep) -> JSONResponse:
    """A page of resource mappings (default sort ``created_at desc``)."""
    rows, meta = service.list_mappings(ctx.session, query=ctx.query, actor=ctx.actor)
    return page(service.mapping_dicts(ctx.session, rows), meta)


@mappings.op(
    "GET /{resourceMappingId}",
    "fetch-resource-mapping",
    "Get a Resource Mapping",
    ResourceMappingRead,
)
def get_mapping(resourceMappingId: str, ctx: CtxDep) -> JSONResponse:
    """One resource mapping."""
    row = service.get_mapping(ctx.session, mapping_id=resourceMappingId, rights=ctx.actor.rights)
    return json_response(service.mapping_dicts(ctx.session, [row])[0])


@mappings.op("DELETE /{resourceMappingId}", "delete-resource-mapping", "Delete Resource Mapping")
def delete_mapping(resourceMappingId: str, ctx: CtxDep) -> Response:
    """Remove a resource mapping."""
    service.delete_mapping(ctx.session, mapping_id=resourceMappingId, actor=ctx.actor)
    return no_content()


@service_resources.op(
    "GET /catalog-services/{id}/resources",
    "list-catalog-service-resources",
    "List Service Resources",
    ServiceResourceList,
    openapi_extra=list_params(
        lambda: service.resource_filters(archived=False), service.RESOURCE_SORTS
    ),
)
def list_service_resources(id: str, ctx: CtxDep) -> JSONResponse:
    """A page of the resources mapped to a catalog service."""
    rows, meta = service.list_service_resources(
        ctx.session, service_id=id, query=ctx.query, actor=ctx.actor
    )
    return page(service.resource_dicts(ctx.session, rows, rights=ctx.actor.rights), meta)


router = Router()
for _sub in (resources, resource_services, mappings, service_resources):
    router.include_router(_sub)

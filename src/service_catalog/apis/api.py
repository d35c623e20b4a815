"""HTTP routes of APIs (``/v3/apis``, Konnect's API Builder shapes) and of API mappings
(the catalog contract's five operations under ``/v1``)."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from fastapi.responses import JSONResponse

from service_catalog.apis import service
from service_catalog.apis.schemas import (
    ApiCreate,
    ApiList,
    ApiMappingCreate,
    ApiMappingList,
    ApiMappingRead,
    ApiRead,
    ApiSpecCreate,
    ApiSpecList,
    ApiSpecRead,
    ApiUpdate,
)
from service_catalog.auth.deps import CtxDep, page_endpoint
from service_catalog.core.openapi import list_params
from service_catalog.core.responses import json_response, no_content, page
from service_catalog.core.routes import Router

apis_router = Router(prefix="/v3/apis", tags=["APIs"])
mappings_router = Router(prefix="/v1", tags=["Catalog Service API Mappings"])
service_mappings = mappings_router.section("/catalog-services/{serviceId}/api-mappings")


# --- /v3/apis ------------------------------------------------------------------------------


@apis_router.op("POST ", "create-api", "Create API", ApiRead)
def create_api(body: ApiCreate, ctx: CtxDep) -> JSONResponse:
    """Create an API (Organization Admin or Service Creator)."""
    api = service.create_api(ctx.session, data=body, actor=ctx.actor)
    return json_response(service.api_dict(ctx.session, api), 201)


@apis_router.op(
    "GET ",
    "list-apis",
    "List APIs",
    ApiList,
    openapi_extra=list_params(service.API_FILTERS, service.API_SORTS),
)
def list_apis(ctx: CtxDep) -> JSONResponse:
    """A page of APIs."""
    data, meta = service.list_apis(ctx.session, ctx.query)
    return page(data, meta)


@apis_router.op("GET /{apiId}", "fetch-api", "Fetch API", ApiRead)
def get_api(apiId: str, ctx: CtxDep) -> JSONResponse:
    """One API."""
    return json_response(service.api_dict(ctx.session, service.get_api(ctx.session, api_id=apiId)))


@apis_router.op("PATCH /{apiId}", "update-api", "Update API", ApiRead)
def update_api(apiId: str, body: ApiUpdate, ctx: CtxDep) -> JSONResponse:
    """Change an API."""
    api = service.update_api(ctx.session, api_id=apiId, data=body, actor=ctx.actor)
    return json_response(service.api_dict(ctx.session, api))


@apis_router.op("DELETE /{apiId}", "delete-api", "Delete API")
def delete_api(apiId: str, ctx: CtxDep) -> Response:
    """Delete an API, its specifications and its mappings."""
    service.delete_api(ctx.session, api_id=apiId, actor=ctx.actor)
    return no_content()


@apis_router.op(
    "POST /{apiId}/specifications", "create-api-spec", "Create API Specification", ApiSpecRead
)
def create_spec(apiId: str, body: ApiSpecCreate, ctx: CtxDep) -> JSONResponse:
    """Add an OpenAPI or AsyncAPI document to an API (checked; a 400 lists the problems)."""
    spec = service.create_spec(
        ctx.session, api_id=apiId, content=body.content, type=body.type, actor=ctx.actor
    )
    return json_response(service.spec_to_dict(spec), 201)


@apis_router.op(
    "GET /{apiId}/specifications", "list-api-specs", "List API Specifications", ApiSpecList
)
def list_specs(apiId: str, ctx: CtxDep) -> JSONResponse:
    """A page of an API's specification documents."""
    data, meta = service.list_specs(ctx.session, api_id=apiId, query=ctx.query)
    return page(data, meta)


@apis_router.op(
    "GET /{apiId}/specifications/{specId}", "fetch-api-spec", "Fetch API Specification", ApiSpecRead
)
def get_spec(apiId: str, specId: str, ctx: CtxDep) -> JSONResponse:
    """One specification document."""
    return json_response(
        service.spec_to_dict(service.get_spec(ctx.session, api_id=apiId, spec_id=specId))
    )


@apis_router.op(
    "DELETE /{apiId}/specifications/{specId}", "delete-api-spec", "Delete API Specification"
)
def delete_spec(apiId: str, specId: str, ctx: CtxDep) -> Response:
    """Delete a specification document."""
    service.delete_spec(ctx.session, api_id=apiId, spec_id=specId, actor=ctx.actor)
    return no_content()


# --- /v1 API mappings (the contract's five operations) -----------------------------------

SERVICE_ID = {
    "name": "serviceId",
    "in": "path",
    "required": True,
    "description": "The `id` of the service (or its name).",
    "schema": {"type": "string"},
}


def _mapping_list_params(spec: Any) -> dict[str, Any]:
    return list_params(spec, service.MAPPING_SORTS)


list_service_mappings = service_mappings.op(
    "GET ",
    "list-catalog-service-api-mappings",
    "List API Mappings for a Service",
    ApiMappingList,
    openapi_extra=_mapping_list_params(service.SERVICE_MAPPING_FILTERS),
)(
    page_endpoint(
        service.list_service_api_mappings,
        "A page of a service's API mappings.",
        serviceId="service",
    )
)


@service_mappings.op(
    "POST ",
    "create-catalog-service-api-mapping",
    "Create API Mapping for a Service",
    ApiMappingRead,
)
def create_mapping(serviceId: str, body: ApiMappingCreate, ctx: CtxDep) -> JSONResponse:
    """Map an API to a service."""
    m = service.create_api_mapping(
        ctx.session, service=serviceId, api_id=body.api_id, actor=ctx.actor
    )
    return json_response(service.mapping_to_dict(m), 201)


@service_mappings.op(
    "GET /{mappingId}",
    "get-catalog-service-api-mapping",
    "Get API Mapping for a Service",
    ApiMappingRead,
)
def get_mapping(serviceId: str, mappingId: str, ctx: CtxDep) -> JSONResponse:
    """One API mapping of a service."""
    m = service.get_api_mapping(
        ctx.session, service=serviceId, mapping_id=mappingId, actor=ctx.actor
    )
    return json_response(service.mapping_to_dict(m))


@service_mappings.op(
    "DELETE /{mappingId}", "delete-catalog-service-api-mapping", "Delete API Mapping for a Service"
)
def delete_mapping(serviceId: str, mappingId: str, ctx: CtxDep) -> Response:
    """Remove an API mapping of a service."""
    service.delete_api_mapping(
        ctx.session, service=serviceId, mapping_id=mappingId, actor=ctx.actor
    )
    return no_content()


list_api_mappings = mappings_router.op(
    "GET /apis/{apiId}/service-mappings",
    "list-service-mappings-for-api",
    "List Service Mappings for an API",
    ApiMappingList,
    openapi_extra=_mapping_list_params(service.API_MAPPING_FILTERS),
)(
    page_endpoint(
        service.list_api_service_mappings,
        "A page of an API's mappings to the services the caller may read.",
        apiId="api_id",
    )
)


consumed = mappings_router.section("/catalog-services/{serviceId}/consumed-api-mappings")

list_consumed_apis = consumed.op(
    "GET ",
    "list-catalog-service-consumed-apis",
    "List APIs a Service Consumes",
    ApiMappingList,
    openapi_extra=list_params(service.CONSUMER_FILTERS, service.CONSUMER_SORTS),
    description="A page of the APIs the service consumes (Backstage ``consumesApis``, "
    "catalog files' ``relation: consumes``), each shaped as an API mapping. An "
    "extension: Kong's API mappings record the APIs a service provides and have no "
    "direction, so consumed APIs are kept apart and the five mapping operations never "
    "list them.",
)(
    page_endpoint(
        service.list_service_consumed_apis,
        "A page of the APIs a service consumes.",
        serviceId="service",
    )
)


@consumed.op(
    "POST ",
    "create-catalog-service-consumed-api",
    "Record an API a Service Consumes",
    ApiMappingRead,
    description="Record by hand that the service consumes an API (body ``{api_id}``, as "
    "an API mapping's). An unknown API is a 404, an API the service consumes already a "
    "409. Catalog files and the Backstage import never delete a consumed API recorded by "
    "hand. An extension: Service Admin of the service, as for its API mappings.",
)
def create_consumed_api(serviceId: str, body: ApiMappingCreate, ctx: CtxDep) -> JSONResponse:
    """Record an API the service consumes."""
    row = service.create_api_consumer(
        ctx.session, service=serviceId, api_id=body.api_id, actor=ctx.actor
    )
    return json_response(service.mapping_to_dict(row), 201)


@consumed.op(
    "GET /{mappingId}",
    "get-catalog-service-consumed-api",
    "Get an API a Service Consumes",
    ApiMappingRead,
    description="One consumed API of the service, shaped as an API mapping. An extension.",
)
def get_consumed_api(serviceId: str, mappingId: str, ctx: CtxDep) -> JSONResponse:
    """One API the service consumes."""
    row = service.get_api_consumer(
        ctx.session, service=serviceId, consumer_id=mappingId, actor=ctx.actor
    )
    return json_response(service.mapping_to_dict(row))


@consumed.op(
    "DELETE /{mappingId}",
    "delete-catalog-service-consumed-api",
    "Remove an API a Service Consumes",
    description="Remove a consumed API of the service, whoever recorded it (an apply of "
    "catalog files that declares it records it again). An extension.",
)
def delete_consumed_api(serviceId: str, mappingId: str, ctx: CtxDep) -> Response:
    """Remove an API the service consumes."""
    service.delete_api_consumer(
        ctx.session, service=serviceId, consumer_id=mappingId, actor=ctx.actor
    )
    return no_content()

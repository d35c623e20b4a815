"""HTTP routes of catalog services: ``/v1/catalog-services``."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from service_catalog.auth.deps import (
    CtxDep,
    authenticate_request,
    page_endpoint,
    run_read,
    run_short_read,
)
from service_catalog.catalog_services import documents, service
from service_catalog.catalog_services.schemas import (
    CatalogServiceCreate,
    CatalogServiceList,
    CatalogServiceRead,
    CatalogServiceUpdate,
    DocumentCreate,
    DocumentList,
    DocumentRead,
    DocumentUpdate,
)
from service_catalog.core.openapi import facet_params, list_params
from service_catalog.core.pages import FacetList
from service_catalog.core.responses import json_response, no_content, page
from service_catalog.core.routes import Router

ID_PARAM = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "The service's id.",
    "schema": {"type": "string", "title": "Id"},
}

router = Router(prefix="/v1/catalog-services", tags=["Catalog Services"])
DOC_TAGS = ["Service Documents"]
docs = router.section("/{id}/documents", tags=DOC_TAGS)


@router.op("POST ", "create-catalog-service", "Create Service", CatalogServiceRead)
def create(body: CatalogServiceCreate, ctx: CtxDep) -> JSONResponse:
    """Create a catalog service."""
    svc = service.create_service(ctx.session, data=body, actor=ctx.actor)
    return json_response(service.to_dict(svc), 201)


@router.op(
    "GET ",
    "list-catalog-services",
    "List Services",
    CatalogServiceList,
    openapi_extra=list_params(service.FILTERS, service.SORTS),
)
async def list_(request: Request) -> JSONResponse:
    """A page of catalog services, filtered and sorted."""
    data, meta = await run_read(request, service.list_services)
    return page(data, meta)


@router.op(
    "GET /facets",
    "list-catalog-service-facets",
    "Count Service Label or Custom Field Values",
    FacetList,
    openapi_extra=facet_params(service.FILTERS),
    description="Each value of one label or custom field (``field=labels.team``, "
    "``field=custom_fields.tier``) among the services the ``filter[...]`` parameters "
    "match, with its count, the most frequent first. An extension: Konnect has no facets. "
    "(A service named ``facets`` is read by its id.)",
)
async def facets(request: Request) -> JSONResponse:
    """Value counts of one label or custom field among the matching services."""
    data, meta = await run_read(request, service.service_facets)
    return page(data, meta)


@router.op(
    "GET /{id}",
    "fetch-catalog-service",
    "Get a Service",
    CatalogServiceRead,
    openapi_extra={"parameters": [ID_PARAM]},
)
async def get(request: Request) -> JSONResponse:
    """One catalog service."""
    # The hottest route takes the request alone and authenticates it itself, sparing
    # FastAPI's dependency resolution (as costly as the read); ``id`` is documented
    # through ``openapi_extra``.
    rights = (await authenticate_request(request)).rights
    db = request.app.state.db
    service_id = request.path_params["id"]
    return json_response(
        await run_short_read(
            db, lambda: service.read_service(db, service_id=service_id, rights=rights)
        )
    )


@router.op("PATCH /{id}", "update-catalog-service", "Update Service", CatalogServiceRead)
def update(id: str, body: CatalogServiceUpdate, ctx: CtxDep) -> JSONResponse:
    """Change a catalog service."""
    svc = service.update_service(ctx.session, service_id=id, data=body, actor=ctx.actor)
    return json_response(service.to_dict(svc))


@router.op("DELETE /{id}", "delete-catalog-service", "Delete Service")
def delete(id: str, ctx: CtxDep) -> Response:
    """Delete a catalog service; its resources stay, its mappings go."""
    service.delete_service(ctx.session, service_id=id, actor=ctx.actor)
    return no_content()


# --- service documents (an extension) ----------------------------------------------


@docs.op(
    "POST ",
    "create-catalog-service-document",
    "Create Service Document",
    DocumentRead,
    description="An extension: attach a markdown document to the service.",
)
def create_document(id: str, body: DocumentCreate, ctx: CtxDep) -> JSONResponse:
    """Attach a markdown document to a service."""
    doc = documents.create_document(ctx.session, service_ref=id, data=body, actor=ctx.actor)
    return json_response(doc, 201)


list_documents = docs.op(
    "GET ",
    "list-catalog-service-documents",
    "List Service Documents",
    DocumentList,
    openapi_extra=list_params(documents.FILTERS, documents.SORTS),
)(page_endpoint(documents.list_documents, "A page of a service's documents.", id="service_ref"))


@docs.op(
    "GET /{documentId}", "fetch-catalog-service-document", "Get a Service Document", DocumentRead
)
def get_document(id: str, documentId: str, ctx: CtxDep) -> JSONResponse:
    """One document of a service."""
    return json_response(
        documents.read_document(
            ctx.session, service_ref=id, document_id=documentId, actor=ctx.actor
        )
    )


@docs.op(
    "PATCH /{documentId}",
    "update-catalog-service-document",
    "Update Service Document",
    DocumentRead,
)
def update_document(
    id: str,
    documentId: str,
    body: DocumentUpdate,
    ctx: CtxDep,
) -> JSONResponse:
    """Change a document's title or content."""
    return json_response(
        documents.update_document(
            ctx.session, service_ref=id, document_id=documentId, data=body, actor=ctx.actor
        )
    )


@docs.op("DELETE /{documentId}", "delete-catalog-service-document", "Delete Service Document")
def delete_document(id: str, documentId: str, ctx: CtxDep) -> Response:
    """Delete a document."""
    documents.delete_document(ctx.session, service_ref=id, document_id=documentId, actor=ctx.actor)
    return no_content()

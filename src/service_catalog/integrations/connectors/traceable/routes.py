"""The routes the Traceable package contributes (mounted by the app through the
integration's declared ``routes``).

* ``POST /v2/catalog/entities`` - import a Traceable service (the seed's *Import
  entities*): 201 with the ``CatalogResource`` named as given the first time the service
  is imported, 200 when the import is repeated;
* ``POST /v2/catalog/entity-mappings`` - map a Traceable service to a catalog service
  (the seed's *Map entities*): 201 with the ``CatalogResourceMapping``;
* ``GET /v1/resources/{id}/endpoints`` - a paged list of a Traceable Service's API
  endpoints, read from Traceable: an alias of the generic
  ``GET /v1/resources/{id}/children/endpoints``.

Same bearer authentication as ``/v1``. Logic in :mod:`.entities`.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from service_catalog.auth.deps import CtxDep
from service_catalog.core.responses import json_response
from service_catalog.core.routes import Router
from service_catalog.integrations.connectors.traceable import entities
from service_catalog.resources.children import PAGE_PARAMS, children_page
from service_catalog.resources.service import mapping_dicts, to_dict

router = Router(tags=["Traceable"])


@router.op("POST /v2/catalog/entities", "import-catalog-entity", "Import a Traceable service")
def import_entity(body: entities.EntityCreate, ctx: CtxDep) -> JSONResponse:
    """Import the Traceable Service ``metadata.service_id`` of the Traceable integration
    instance under ``name`` (201 the first time, 200 when repeated); the next sync that
    finds the service in Traceable writes Traceable's own name and data."""
    row, created = entities.import_entity(ctx.session, data=body, actor=ctx.actor)
    return json_response(to_dict(ctx.session, row), 201 if created else 200)


@router.op("POST /v2/catalog/entity-mappings", "map-catalog-entity", "Map a Traceable service")
def map_entity(body: entities.EntityMappingCreate, ctx: CtxDep) -> JSONResponse:
    """Map the Traceable service to the catalog service ``catalog_entity`` (name or id),
    importing it first when needed."""
    mapping = entities.map_entity(ctx.session, data=body, actor=ctx.actor)
    return json_response(mapping_dicts(ctx.session, [mapping])[0], 201)


@router.op(
    "GET /v1/resources/{id}/endpoints",
    "list-traceable-service-endpoints",
    "List a Traceable Service's endpoints",
    openapi_extra={"parameters": PAGE_PARAMS},
)
def endpoints(id: str, ctx: CtxDep) -> JSONResponse:
    """Every endpoint of a Traceable Service, page by page, as Traceable reports them now
    (the resource's ``integration_data.endpoints.items`` holds only the riskiest); the
    same as ``GET /v1/resources/{id}/children/endpoints``."""
    body = children_page(
        ctx.session,
        resource_id=id,
        kind="endpoints",
        query=ctx.query,
        settings=ctx.request.app.state.settings,
        rights=ctx.actor.rights,
    )
    return json_response(body)

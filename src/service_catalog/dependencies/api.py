"""HTTP routes of dependencies: ``/v1/catalog-services/{id}/dependencies`` and
``/v1/dependency-proposals``. An extension: Konnect's catalog has no dependencies."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from fastapi.responses import JSONResponse

from service_catalog.auth.deps import CtxDep, page_endpoint
from service_catalog.core.responses import json_response, no_content
from service_catalog.core.routes import Router
from service_catalog.dependencies import service
from service_catalog.dependencies.schemas import (
    DependencyCreate,
    DependencyList,
    DependencyRead,
    ProposalList,
)

EXTENSION = " An extension: Konnect's Service Catalog has no dependencies."


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


WALK_PARAMS = {
    "parameters": [
        _query(
            "direction",
            "``downstream`` (default): the services this one depends on; ``upstream``: the "
            "services that depend on it.",
            {"type": "string", "enum": ["downstream", "upstream"], "default": "downstream"},
        ),
        _query(
            "depth",
            "How many edges away to look (each service is listed once, at its shortest depth).",
            {"type": "integer", "minimum": 1, "maximum": service.MAX_DEPTH, "default": 1},
        ),
        _query(
            "include_proposed",
            "Also follow edges proposed by integrations and not yet confirmed.",
            {"type": "boolean", "default": False},
        ),
        _query("page[size]", "Items per page (at most 1000).", {"type": "integer"}),
        _query("page[number]", "The page, from 1.", {"type": "integer"}),
    ]
}

router = Router(prefix="/v1", tags=["Dependencies (extension)"])
dependencies = router.section("/catalog-services/{id}/dependencies")


list_ = dependencies.op(
    "GET ",
    "list-catalog-service-dependencies",
    "List a Service's Dependencies",
    DependencyList,
    openapi_extra=WALK_PARAMS,
    description="The services this one depends on (or that depend on it), up to "
    "``depth`` edges away, each once at its shortest depth, nearest first, with the "
    "edge that first reaches it. Services the caller may not read are left out." + EXTENSION,
)(
    page_endpoint(
        service.list_dependencies,
        "A page of a service's dependencies, downstream or upstream.",
        id="service",
    )
)


@dependencies.op(
    "POST ",
    "create-catalog-service-dependency",
    "Add a Dependency",
    DependencyRead,
    description="Record that this service depends on ``target`` (an id or a name), "
    "optionally labelled (``calls``, ``reads-from``). Needs Service Admin on this "
    "service." + EXTENSION,
)
def create(id: str, body: DependencyCreate, ctx: CtxDep) -> JSONResponse:
    """Add a confirmed dependency."""
    dep = service.create_dependency(
        ctx.session, source=id, target=body.target, label=body.label, actor=ctx.actor
    )
    return json_response(service.to_dict(dep), 201)


@dependencies.op(
    "GET /{dependencyId}",
    "get-catalog-service-dependency",
    "Get a Dependency",
    DependencyRead,
    description="One edge whose source is this service." + EXTENSION,
)
def get(id: str, dependencyId: str, ctx: CtxDep) -> JSONResponse:
    """One dependency."""
    dep = service.get_dependency(
        ctx.session, service=id, dependency_id=dependencyId, actor=ctx.actor
    )
    return json_response(service.to_dict(dep))


@dependencies.op(
    "DELETE /{dependencyId}",
    "delete-catalog-service-dependency",
    "Delete a Dependency",
    description="Needs Service Admin on this service." + EXTENSION,
)
def delete(id: str, dependencyId: str, ctx: CtxDep) -> Response:
    """Delete a dependency (also a proposed one: how a proposal is declined)."""
    service.delete_dependency(ctx.session, service=id, dependency_id=dependencyId, actor=ctx.actor)
    return no_content()


@dependencies.op(
    "POST /{dependencyId}/confirm",
    "confirm-catalog-service-dependency",
    "Confirm a Proposed Dependency",
    DependencyRead,
    description="Turn a proposed edge into a confirmed one (a confirmed edge "
    "is answered as it is). Needs Service Admin on this service." + EXTENSION,
    status=200,
)
def confirm(id: str, dependencyId: str, ctx: CtxDep) -> JSONResponse:
    """Confirm a proposed dependency."""
    dep = service.confirm_dependency(
        ctx.session, service=id, dependency_id=dependencyId, actor=ctx.actor
    )
    return json_response(service.to_dict(dep))


@router.op(
    "POST /dependency-proposals",
    "propose-dependencies",
    "Propose Dependencies from Integration Data",
    ProposalList,
    description="Propose ``calls`` edges from Kong Gateway data (a service mapped to a "
    "``gateway_svc`` whose upstream host names another catalog service), for the "
    "services the caller administers; answers the edges it created, each "
    "``proposed``." + EXTENSION,
    status=200,
)
def propose(ctx: CtxDep) -> JSONResponse:
    """Run the proposal heuristics once."""
    created = service.propose_from_gateway(ctx.session, actor=ctx.actor)
    return json_response({"data": [service.to_dict(d) for d in created]})

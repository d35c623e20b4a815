"""HTTP routes of integration events and the audit trail.

Two feeds with one meaning each: ``GET /v1/integration-events`` (and a catalog service's
``.../integration-events``) lists what upstream systems reported; ``GET /v1/audit-log``
lists user actions (``integration: null``, ``actor.type`` ``token``), with the same
grammar (``filter[service_id]`` narrows it to one service).
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from service_catalog.auth.deps import Ctx, CtxDep
from service_catalog.catalog_services.service import get_service
from service_catalog.core.openapi import list_params
from service_catalog.core.responses import json_response, page
from service_catalog.core.routes import Router
from service_catalog.events import service
from service_catalog.events.schemas import (
    CreateIntegrationEvents,
    IntegrationEventList,
    IntegrationEventsAccepted,
)

router = Router(tags=["Integration Events"])
v1 = router.section("/v1")

_LIST_PARAMS = list_params(service.FILTERS, service.SORTS, cursor=True)
listing = router.section("/v1", response_model=IntegrationEventList, openapi_extra=_LIST_PARAMS)


def _events_page(ctx: Ctx, **only: Any) -> JSONResponse:
    """A page of the events ``only`` selects (``service_id``, ``audit_only``)."""
    rows, meta = service.list_events(
        ctx.session, query=ctx.query, path=ctx.request.url.path, actor=ctx.actor, **only
    )
    return page([service.to_dict(e) for e in rows], meta)


@listing.op("GET /integration-events", "list-integration-events", "List Integration Events")
def list_all(ctx: CtxDep) -> JSONResponse:
    """Integration events (what upstream systems reported), newest first by default."""
    return _events_page(ctx)


@listing.op(
    "GET /catalog-services/{serviceId}/integration-events",
    "list-catalog-service-integration-events",
    "List a Service's Integration Events",
)
def list_for_service(serviceId: str, ctx: CtxDep) -> JSONResponse:
    """The integration events of one catalog service (its audit entries are in
    ``/v1/audit-log?filter[service_id]=...``)."""
    svc = get_service(ctx.session, service_id=serviceId, rights=ctx.actor.rights)
    return _events_page(ctx, service_id=svc.id)


@listing.op("GET /audit-log", "list-audit-log", "List the Audit Trail")
def list_audit(ctx: CtxDep) -> JSONResponse:
    """User actions that changed the catalog (who, what, when), newest first by default."""
    return _events_page(ctx, audit_only=True)


@v1.op(
    "POST /integration-instances/{id}/integration-events",
    "create-integration-events",
    "Push Integration Events",
    IntegrationEventsAccepted,
    status=202,
)
def push(id: str, body: CreateIntegrationEvents, ctx: CtxDep) -> JSONResponse:
    """Store events an integration pushes; the same ``deduplication_id`` twice stores one."""
    counts = service.post_integration_events(
        ctx.session, instance_id=id, items=body.data, actor=ctx.actor
    )
    return json_response(counts, 202)

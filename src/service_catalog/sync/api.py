"""HTTP routes of sync scheduling: ``.../resource-ingestion`` and ``.../sync-runs``."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from service_catalog.auth.deps import CtxDep
from service_catalog.core.openapi import list_params
from service_catalog.core.responses import json_response, page
from service_catalog.core.routes import Router
from service_catalog.sync import service
from service_catalog.sync.schemas import ResourceIngestion, ResourceIngestionRequest, SyncRunList
from service_catalog.sync.worker import notify

router = Router(prefix="/v1/integration-instances", tags=["Integration Instances"])

_RUN_LIST_PARAMS = list_params(service.RUN_FILTERS, cursor=True)  # newest first, no sort


@router.op(
    "PUT /{id}/resource-ingestion", "schedule-resource-ingestion", "Sync now", ResourceIngestion
)
def schedule(id: str, ctx: CtxDep, body: ResourceIngestionRequest | None = None) -> JSONResponse:
    """Schedule a sync of an authorized instance now; an unauthorized one is a 400."""
    data = body or ResourceIngestionRequest()
    state = service.request_sync(
        ctx.session, instance_id=id, ingest_from=data.ingest_from, actor=ctx.actor
    )

    ctx.after_commit(notify)  # wake the workers once the request is stored
    return json_response(state)


@router.op(
    "GET /{id}/resource-ingestion",
    "get-resource-ingestion",
    "Get the sync schedule",
    ResourceIngestion,
)
def get_schedule(id: str, ctx: CtxDep) -> JSONResponse:
    """When the instance last synced and syncs next, and whether its schedule is healthy."""
    state = service.get_ingestion(ctx.session, instance_id=id, rights=ctx.actor.rights)
    return json_response(state)


@router.op(
    "GET /{id}/sync-runs",
    "list-sync-runs",
    "List sync runs",
    SyncRunList,
    openapi_extra=_RUN_LIST_PARAMS,
)
def list_runs(id: str, ctx: CtxDep) -> JSONResponse:
    """Every sync run of the instance, newest first, cursor-paged."""
    rows, meta = service.list_runs(
        ctx.session, instance_id=id, query=ctx.query, rights=ctx.actor.rights
    )
    return page([service.run_to_dict(r) for r in rows], meta)

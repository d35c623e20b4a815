"""HTTP routes of sync scheduling: ``.../resource-ingestion`` and ``.../sync-runs``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service_catalog.auth.deps import CtxDep
from service_catalog.core.openapi import PROBLEMS, list_params
from service_catalog.core.render import json_response
from service_catalog.sync import service
from service_catalog.sync.schemas import ResourceIngestion, ResourceIngestionRequest, SyncRunList
from service_catalog.sync.worker import notify

router = APIRouter(prefix="/v1/integration-instances", tags=["Integration Instances"])

_RUN_LIST_PARAMS = list_params(service.RUN_FILTERS, cursor=True)  # newest first, no sort


@router.put(
    "/{id}/resource-ingestion",
    response_model=ResourceIngestion,
    responses=PROBLEMS,
    operation_id="schedule-resource-ingestion",
    summary="Sync now",
)
def schedule(id: str, ctx: CtxDep, body: ResourceIngestionRequest | None = None) -> JSONResponse:
    """Schedule a sync of an authorized instance now; an unauthorized one is a 400."""
    data = body or ResourceIngestionRequest()
    state = service.request_sync(
        ctx.session, instance_id=id, ingest_from=data.ingest_from, actor=ctx.actor
    )

    ctx.after_commit(notify)  # wake the workers once the request is stored
    return json_response(state)


@router.get(
    "/{id}/resource-ingestion",
    response_model=ResourceIngestion,
    responses=PROBLEMS,
    operation_id="get-resource-ingestion",
    summary="Get the sync schedule",
)
def get_schedule(id: str, ctx: CtxDep) -> JSONResponse:
    """When the instance last synced and syncs next, and whether its schedule is healthy."""
    state = service.get_ingestion(ctx.session, instance_id=id)
    return json_response(state)


@router.get(
    "/{id}/sync-runs",
    response_model=SyncRunList,
    responses=PROBLEMS,
    operation_id="list-sync-runs",
    summary="List sync runs",
    openapi_extra=_RUN_LIST_PARAMS,
)
def list_runs(id: str, ctx: CtxDep) -> JSONResponse:
    """Every sync run of the instance, newest first, cursor-paged."""
    rows, meta = service.list_runs(ctx.session, instance_id=id, query=ctx.query)
    return json_response({"data": [service.run_to_dict(r) for r in rows], "meta": meta})

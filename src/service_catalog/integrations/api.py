"""HTTP routes of integrations: ``/v1/integrations``, ``/v1/integration-instances`` and an
instance's ``auth-credential`` and ``auth-config``."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Body, Response
from fastapi.responses import JSONResponse

from service_catalog.auth.deps import Ctx, CtxDep, DeferredWriteCtxDep
from service_catalog.core.openapi import PROBLEMS, list_params
from service_catalog.core.render import json_response
from service_catalog.core.secrets import SecretBox, get_box
from service_catalog.integrations import service
from service_catalog.integrations.schemas import (
    CREDENTIAL_TYPES,
    AuthCredentialRead,
    CatalogIntegrationList,
    IntegrationInstanceCreate,
    IntegrationInstanceList,
    IntegrationInstanceRead,
    IntegrationInstanceUpdate,
    OAuthAuthConfigRead,
    UpsertOAuthAuthConfig,
)

router = APIRouter(prefix="/v1")

_INTEGRATION_PARAMS = list_params(service.integration_filters, service.integration_sorts)
_INSTANCE_PARAMS = list_params(service.instance_filters, service.instance_sorts)

_CREDENTIAL_EXAMPLE = {
    "type": "multi_key_auth",
    "config": {"headers": [{"name": "authorization", "key": "<token>"}]},
}


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    """A JSON schema with its local ``$defs`` references inlined."""
    if isinstance(schema, list):
        return [_inline(s, defs) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return _inline(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}


def _credential_body_doc() -> dict[str, Any]:
    variants = []
    for model in CREDENTIAL_TYPES.values():
        schema = model.model_json_schema()
        variants.append(_inline(schema, schema.get("$defs", {})))
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": variants,
                        "title": "CreateIntegrationInstanceAuthCredential",
                    },
                    "example": _CREDENTIAL_EXAMPLE,
                }
            },
        }
    }


def _box(ctx: Ctx) -> SecretBox:
    return get_box(ctx.request.app.state.settings)


# --- integrations ---------------------------------------------------------------------


@router.get(
    "/integrations",
    tags=["Integrations"],
    response_model=CatalogIntegrationList,
    responses=PROBLEMS,
    operation_id="list-catalog-integrations",
    summary="List Integrations",
    openapi_extra=_INTEGRATION_PARAMS,
)
def list_integrations(ctx: CtxDep) -> JSONResponse:
    """A page of the integrations this catalog ships, filtered and sorted."""
    data, meta = service.list_integrations(ctx.session, query=ctx.query)
    return json_response({"data": data, "meta": meta})


# --- instances ------------------------------------------------------------------------

_TAG: list[str | Enum] = ["Integration Instances"]


@router.post(
    "/integration-instances",
    tags=_TAG,
    status_code=201,
    response_model=IntegrationInstanceRead,
    responses=PROBLEMS,
    operation_id="create-integration-instance",
    summary="Create Integration Instance",
)
def create_instance(body: IntegrationInstanceCreate, ctx: CtxDep) -> JSONResponse:
    """Install an integration: config validated against the integration's config_schema."""
    inst = service.create_instance(ctx.session, data=body, actor=ctx.actor)
    return json_response(service.to_dict(inst), 201)


@router.get(
    "/integration-instances",
    tags=_TAG,
    response_model=IntegrationInstanceList,
    responses=PROBLEMS,
    operation_id="list-integration-instances",
    summary="List Integration Instances",
    openapi_extra=_INSTANCE_PARAMS,
)
def list_instances(ctx: CtxDep) -> JSONResponse:
    """A page of integration instances, filtered and sorted."""
    rows, meta = service.list_instances(ctx.session, query=ctx.query)
    return json_response({"data": [service.to_dict(i) for i in rows], "meta": meta})


@router.get(
    "/integration-instances/{id}",
    tags=_TAG,
    response_model=IntegrationInstanceRead,
    responses=PROBLEMS,
    operation_id="fetch-integration-instance",
    summary="Get an Integration Instance",
)
def get_instance(id: str, ctx: CtxDep) -> JSONResponse:
    """One integration instance."""
    return json_response(service.to_dict(service.get_instance(ctx.session, instance_id=id)))


@router.patch(
    "/integration-instances/{id}",
    tags=_TAG,
    response_model=IntegrationInstanceRead,
    responses=PROBLEMS,
    operation_id="update-integration-instance",
    summary="Update Integration Instance",
)
def update_instance(id: str, body: IntegrationInstanceUpdate, ctx: CtxDep) -> JSONResponse:
    """Change an instance; labels and config merge (null removes a key)."""
    inst = service.update_instance(ctx.session, instance_id=id, data=body, actor=ctx.actor)
    return json_response(service.to_dict(inst))


@router.delete(
    "/integration-instances/{id}",
    tags=_TAG,
    status_code=204,
    responses=PROBLEMS,
    operation_id="delete-integration-instance",
    summary="Delete Integration Instance",
)
def delete_instance(id: str, ctx: CtxDep) -> Response:
    """Delete an instance with its credential, resources and their mappings."""
    service.delete_instance(ctx.session, instance_id=id, actor=ctx.actor)
    return Response(status_code=204)


# --- auth credential ------------------------------------------------------------------

_CRED = "/integration-instances/{integrationInstanceId}/auth-credential"


@router.post(
    _CRED,
    tags=_TAG,
    status_code=201,
    response_model=AuthCredentialRead,
    responses=PROBLEMS,
    operation_id="create-integration-instance-auth-credential",
    summary="Create Integration Instance Auth Credential",
    openapi_extra=_credential_body_doc(),
)
def create_credential(
    integrationInstanceId: str, ctx: DeferredWriteCtxDep, body: Annotated[Any, Body()]
) -> JSONResponse:
    """Add the instance's credential; the upstream verifies it first (rejected: 400)."""
    cred, inst = service.create_credential(
        ctx, instance_id=integrationInstanceId, body=body, actor=ctx.actor, box=_box(ctx)
    )
    return json_response(service.credential_to_dict(cred, inst), 201)


@router.get(
    _CRED,
    tags=_TAG,
    response_model=AuthCredentialRead,
    responses=PROBLEMS,
    operation_id="get-integration-instance-auth-credential",
    summary="Get Integration Instance Auth Credential",
)
def get_credential(integrationInstanceId: str, ctx: CtxDep) -> JSONResponse:
    """The instance's credential metadata (never its secret)."""
    cred, inst = service.get_credential(ctx.session, instance_id=integrationInstanceId)
    return json_response(service.credential_to_dict(cred, inst))


@router.post(
    _CRED + "/verify",
    tags=_TAG,
    response_model=AuthCredentialRead,
    responses=PROBLEMS,
    operation_id="verify-integration-instance-auth-credential",
    summary="Verify Integration Instance Auth Credential again",
)
def verify_credential(integrationInstanceId: str, ctx: DeferredWriteCtxDep) -> JSONResponse:
    """Ask the upstream again (e.g. after it was unreachable); beyond the contract."""
    cred, inst = service.reverify_credential(
        ctx,
        instance_id=integrationInstanceId,
        actor=ctx.actor,
        settings=ctx.request.app.state.settings,
    )
    return json_response(service.credential_to_dict(cred, inst))


@router.delete(
    _CRED,
    tags=_TAG,
    status_code=204,
    responses=PROBLEMS,
    operation_id="delete-integration-instance-auth-credential",
    summary="Delete Integration Instance Auth Credential",
)
def delete_credential(integrationInstanceId: str, ctx: CtxDep) -> Response:
    """Remove the credential; the instance becomes unauthorized."""
    service.delete_credential(ctx.session, instance_id=integrationInstanceId, actor=ctx.actor)
    return Response(status_code=204)


# --- auth config ----------------------------------------------------------------------

_CFG = "/integration-instances/{integrationInstanceId}/auth-config"


@router.get(
    _CFG,
    tags=_TAG,
    response_model=OAuthAuthConfigRead,
    responses=PROBLEMS,
    operation_id="get-integration-instance-auth-config",
    summary="Get Integration Instance Auth Config",
)
def get_auth_config(integrationInstanceId: str, ctx: CtxDep) -> JSONResponse:
    """The instance's OAuth config (never the client secret)."""
    cfg = service.get_auth_config(ctx.session, instance_id=integrationInstanceId)
    return json_response(service.auth_config_to_dict(cfg))


@router.put(
    _CFG,
    tags=_TAG,
    response_model=OAuthAuthConfigRead,
    responses=PROBLEMS,
    operation_id="upsert-integration-instance-auth-config",
    summary="Update Integration Instance Auth Config",
)
def put_auth_config(
    integrationInstanceId: str, body: UpsertOAuthAuthConfig, ctx: CtxDep
) -> JSONResponse:
    """Create or replace the instance's OAuth config; the client secret is encrypted."""
    cfg = service.put_auth_config(
        ctx.session, instance_id=integrationInstanceId, data=body, actor=ctx.actor, box=_box(ctx)
    )
    return json_response(service.auth_config_to_dict(cfg))


@router.delete(
    _CFG,
    tags=_TAG,
    status_code=204,
    responses=PROBLEMS,
    operation_id="delete-integration-instance-auth-config",
    summary="Delete Integration Instance Auth Config",
)
def delete_auth_config(integrationInstanceId: str, ctx: CtxDep) -> Response:
    """Remove the instance's auth config."""
    service.delete_auth_config(ctx.session, instance_id=integrationInstanceId, actor=ctx.actor)
    return Response(status_code=204)

"""HTTP routes of integrations: ``/v1/integrations``, ``/v1/integration-instances`` and an
instance's ``auth-credential`` and ``auth-config``."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from fastapi import Body, Response
from fastapi.responses import JSONResponse

from service_catalog.auth.deps import Ctx, CtxDep, DeferredWriteCtxDep
from service_catalog.core.openapi import list_params
from service_catalog.core.responses import json_response, no_content, page
from service_catalog.core.routes import Router
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

router = Router(prefix="/v1")
_TAG: list[str | Enum] = ["Integration Instances"]
instances = router.section("/integration-instances", tags=_TAG)

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


@router.op(
    "GET /integrations",
    "list-catalog-integrations",
    "List Integrations",
    CatalogIntegrationList,
    tags=["Integrations"],
    openapi_extra=_INTEGRATION_PARAMS,
)
def list_integrations(ctx: CtxDep) -> JSONResponse:
    """A page of the integrations this catalog ships, filtered and sorted."""
    data, meta = service.list_integrations(ctx.session, query=ctx.query, rights=ctx.actor.rights)
    return page(data, meta)


# --- instances ------------------------------------------------------------------------


@instances.op(
    "POST ", "create-integration-instance", "Create Integration Instance", IntegrationInstanceRead
)
def create_instance(body: IntegrationInstanceCreate, ctx: CtxDep) -> JSONResponse:
    """Install an integration: config validated against the integration's config_schema."""
    inst = service.create_instance(ctx.session, data=body, actor=ctx.actor)
    return json_response(service.to_dict(inst), 201)


@instances.op(
    "GET ",
    "list-integration-instances",
    "List Integration Instances",
    IntegrationInstanceList,
    openapi_extra=_INSTANCE_PARAMS,
)
def list_instances(ctx: CtxDep) -> JSONResponse:
    """A page of integration instances, filtered and sorted."""
    rows, meta = service.list_instances(ctx.session, query=ctx.query, rights=ctx.actor.rights)
    return page([service.to_dict(i) for i in rows], meta)


@instances.op(
    "GET /{id}",
    "fetch-integration-instance",
    "Get an Integration Instance",
    IntegrationInstanceRead,
)
def get_instance(id: str, ctx: CtxDep) -> JSONResponse:
    """One integration instance."""
    return json_response(
        service.to_dict(service.get_instance(ctx.session, instance_id=id, rights=ctx.actor.rights))
    )


@instances.op(
    "PATCH /{id}",
    "update-integration-instance",
    "Update Integration Instance",
    IntegrationInstanceRead,
)
def update_instance(id: str, body: IntegrationInstanceUpdate, ctx: CtxDep) -> JSONResponse:
    """Change an instance; labels and config merge (null removes a key)."""
    inst = service.update_instance(ctx.session, instance_id=id, data=body, actor=ctx.actor)
    return json_response(service.to_dict(inst))


@instances.op("DELETE /{id}", "delete-integration-instance", "Delete Integration Instance")
def delete_instance(id: str, ctx: CtxDep) -> Response:
    """Delete an instance with its credential, resources and their mappings."""
    service.delete_instance(ctx.session, instance_id=id, actor=ctx.actor)
    return no_content()


# --- auth credential ------------------------------------------------------------------

_CRED = "/integration-instances/{integrationInstanceId}/auth-credential"
credential = router.section(_CRED, tags=_TAG)


@credential.op(
    "POST ",
    "create-integration-instance-auth-credential",
    "Create Integration Instance Auth Credential",
    AuthCredentialRead,
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


@credential.op(
    "GET ",
    "get-integration-instance-auth-credential",
    "Get Integration Instance Auth Credential",
    AuthCredentialRead,
)
def get_credential(integrationInstanceId: str, ctx: CtxDep) -> JSONResponse:
    """The instance's credential metadata (never its secret)."""
    cred, inst = service.get_credential(
        ctx.session, instance_id=integrationInstanceId, rights=ctx.actor.rights
    )
    return json_response(service.credential_to_dict(cred, inst))


@credential.op(
    "POST /verify",
    "verify-integration-instance-auth-credential",
    "Verify Integration Instance Auth Credential again",
    AuthCredentialRead,
    status=200,
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


@credential.op(
    "DELETE ",
    "delete-integration-instance-auth-credential",
    "Delete Integration Instance Auth Credential",
)
def delete_credential(integrationInstanceId: str, ctx: CtxDep) -> Response:
    """Remove the credential; the instance becomes unauthorized."""
    service.delete_credential(ctx.session, instance_id=integrationInstanceId, actor=ctx.actor)
    return no_content()


# --- auth config ----------------------------------------------------------------------

_CFG = "/integration-instances/{integrationInstanceId}/auth-config"
auth_config = router.section(_CFG, tags=_TAG)


@auth_config.op(
    "GET ",
    "get-integration-instance-auth-config",
    "Get Integration Instance Auth Config",
    OAuthAuthConfigRead,
)
def get_auth_config(integrationInstanceId: str, ctx: CtxDep) -> JSONResponse:
    """The instance's OAuth config (never the client secret)."""
    cfg = service.get_auth_config(
        ctx.session, instance_id=integrationInstanceId, rights=ctx.actor.rights
    )
    return json_response(service.auth_config_to_dict(cfg))


@auth_config.op(
    "PUT ",
    "upsert-integration-instance-auth-config",
    "Update Integration Instance Auth Config",
    OAuthAuthConfigRead,
)
def put_auth_config(
    integrationInstanceId: str, body: UpsertOAuthAuthConfig, ctx: CtxDep
) -> JSONResponse:
    """Create or replace the instance's OAuth config; the client secret is encrypted."""
    cfg = service.put_auth_config(
        ctx.session, instance_id=integrationInstanceId, data=body, actor=ctx.actor, box=_box(ctx)
    )
    return json_response(service.auth_config_to_dict(cfg))


@auth_config.op(
    "DELETE ", "delete-integration-instance-auth-config", "Delete Integration Instance Auth Config"
)
def delete_auth_config(integrationInstanceId: str, ctx: CtxDep) -> Response:
    """Remove the instance's auth config."""
    service.delete_auth_config(ctx.session, instance_id=integrationInstanceId, actor=ctx.actor)
    return no_content()

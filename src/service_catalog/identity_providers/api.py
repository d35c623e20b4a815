"""HTTP routes of identity providers (``/v3/identity-providers``, the identity contract) and
of signing in through one (``/v3/authenticate/...``, ours: Konnect signs in elsewhere)."""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import uuid
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.orm import Session

from service_catalog.auth.deps import CtxDep
from service_catalog.auth.service import Actor
from service_catalog.auth.sessions import (
    SESSION_COOKIE,
    create_session,
    revoke_session,
    session_holder,
)
from service_catalog.core.db import Database
from service_catalog.core.errors import Problem, bad_request
from service_catalog.core.http_errors import problem_response
from service_catalog.core.render import ts
from service_catalog.core.responses import json_response, no_content, page
from service_catalog.core.routes import Router
from service_catalog.core.secrets import SecretBox, get_box
from service_catalog.events.service import record_action
from service_catalog.identity_providers import oidc, service
from service_catalog.identity_providers.models import IdentityProvider
from service_catalog.identity_providers.schemas import (
    GroupTeamsList,
    GroupTeamsPage,
    IdentityProviderCreate,
    IdentityProviderList,
    IdentityProviderRead,
    IdentityProviderUpdate,
    IdpConfiguration,
    IdpConfigurationUpdate,
    TeamGroupMappingCreate,
    TeamGroupMappingList,
    TeamGroupMappingRead,
    TeamGroupsPage,
    TeamGroupsPatch,
    TeamMappingsUpdate,
)
from service_catalog.identity_providers.sign_in import SignInRefused, apply_sign_in
from service_catalog.settings import Settings

log = logging.getLogger("service_catalog.identity_providers")

router = Router(prefix="/v3", tags=["Auth Settings"])
idp_mappings = router.section("/identity-providers/{idpId}/team-group-mappings")
idps = router.section("/identity-providers")
idp_config = router.section("/identity-provider")
STATE_COOKIE = "sc_oidc_state"
STATE_COOKIE_PATH = "/v3/authenticate"


def _box(request: Request) -> SecretBox:
    settings: Settings = request.app.state.settings
    return get_box(settings)


# --- identity providers -----------------------------------------------------------------


@idps.op("GET ", "get-identity-providers", "List Identity Providers", IdentityProviderList)
def list_(ctx: CtxDep) -> JSONResponse:
    """Every identity provider (``filter[type]``)."""
    rows = service.list_identity_providers(ctx.session, actor=ctx.actor, query=ctx.query)
    return json_response([service.to_dict(r) for r in rows])


@idps.op("POST ", "create-identity-provider", "Create Identity Provider", IdentityProviderRead)
def create(body: IdentityProviderCreate, ctx: CtxDep) -> JSONResponse:
    """Configure an identity provider; its client secret is write-only."""
    idp = service.create_identity_provider(
        ctx.session, data=body, actor=ctx.actor, box=_box(ctx.request)
    )
    return json_response(service.to_dict(idp), 201)


@idps.op("GET /{id}", "get-identity-provider", "Get Identity Provider", IdentityProviderRead)
def get(id: str, ctx: CtxDep) -> JSONResponse:
    """One identity provider."""
    idp = service.read_identity_provider(ctx.session, actor=ctx.actor, idp_id=id)
    return json_response(service.to_dict(idp))


@idps.op(
    "PATCH /{id}", "update-identity-provider", "Update Identity Provider", IdentityProviderRead
)
def update(id: str, body: IdentityProviderUpdate, ctx: CtxDep) -> JSONResponse:
    """Change an identity provider (a new issuer needs the client secret again)."""
    idp = service.update_identity_provider(
        ctx.session, idp_id=id, data=body, actor=ctx.actor, box=_box(ctx.request)
    )
    return json_response(service.to_dict(idp))


@idps.op("DELETE /{id}", "delete-identity-provider", "Delete Identity Provider")
def delete(id: str, ctx: CtxDep) -> Response:
    """Remove an identity provider and its team-group mappings."""
    service.delete_identity_provider(ctx.session, idp_id=id, actor=ctx.actor)
    return no_content()


@idp_mappings.op(
    "GET ", "list-idp-team-group-mappings", "List Team Group Mappings", TeamGroupMappingList
)
def list_mappings(idpId: str, ctx: CtxDep) -> JSONResponse:
    """A cursor page of the provider's team-group mappings."""
    rows, meta = service.list_mappings(
        ctx.session, actor=ctx.actor, idp_id=idpId, query=ctx.query, path=ctx.request.url.path
    )
    return page([service.mapping_to_dict(r) for r in rows], meta)


@idp_mappings.op(
    "POST ", "create-idp-team-group-mapping", "Create Team Group Mapping", TeamGroupMappingRead
)
def create_mapping(idpId: str, body: TeamGroupMappingCreate, ctx: CtxDep) -> JSONResponse:
    """Map a group of the provider to a team (members join it at their next sign-in)."""
    row = service.create_mapping(ctx.session, idp_id=idpId, data=body, actor=ctx.actor)
    return json_response(service.mapping_to_dict(row), 201)


@idp_mappings.op(
    "GET /{id}", "get-idp-team-group-mapping", "Get Team Group Mapping", TeamGroupMappingRead
)
def get_mapping(idpId: str, id: str, ctx: CtxDep) -> JSONResponse:
    """One team-group mapping."""
    row = service.get_mapping(ctx.session, actor=ctx.actor, idp_id=idpId, mapping_id=id)
    return json_response(service.mapping_to_dict(row))


@idp_mappings.op("DELETE /{id}", "delete-idp-team-group-mapping", "Delete Team Group Mapping")
def delete_mapping(idpId: str, id: str, ctx: CtxDep) -> Response:
    """Remove a team-group mapping."""
    service.delete_mapping(ctx.session, idp_id=idpId, mapping_id=id, actor=ctx.actor)
    return no_content()


# --- the legacy single-provider paths ---------------------------------------------------


@idp_config.op("GET ", "get-idp-configuration", "Get the IdP Configuration", IdpConfiguration)
def get_configuration(ctx: CtxDep) -> JSONResponse:
    """The enabled identity provider, in the older single-provider shape."""
    return json_response(
        service.configuration_dict(service.enabled_provider(ctx.session, actor=ctx.actor))
    )


@idp_config.op("PATCH ", "update-idp-configuration", "Update IdP Configuration", IdpConfiguration)
def update_configuration(body: IdpConfigurationUpdate, ctx: CtxDep) -> JSONResponse:
    """Change the enabled identity provider (a new issuer needs the client secret again)."""
    idp = service.update_configuration(
        ctx.session, actor=ctx.actor, data=body, box=_box(ctx.request)
    )
    return json_response(service.configuration_dict(idp))


@idp_config.op("GET /team-mappings", "get-idp-team-mappings", "Get a Team Mapping", GroupTeamsPage)
def get_team_mappings(ctx: CtxDep) -> JSONResponse:
    """A numbered page of the enabled provider's groups, each with its teams."""
    return page(*service.list_group_teams(ctx.session, actor=ctx.actor, query=ctx.query))


@idp_config.op(
    "PUT /team-mappings", "update-idp-team-mappings", "Update Team Mappings", GroupTeamsList
)
def put_team_mappings(body: TeamMappingsUpdate, ctx: CtxDep) -> JSONResponse:
    """Map each given group to exactly the given teams."""
    return json_response(
        {"data": service.replace_group_teams(ctx.session, actor=ctx.actor, data=body)}
    )


@idp_config.op(
    "GET /team-group-mappings",
    "get-team-group-mappings",
    "Get a Team Group Mappings",
    TeamGroupsPage,
)
def get_team_group_mappings(ctx: CtxDep) -> JSONResponse:
    """A numbered page of the enabled provider's teams, each with its groups."""
    return page(*service.list_team_groups(ctx.session, actor=ctx.actor, query=ctx.query))


@idp_config.op(
    "PATCH /team-group-mappings",
    "patch-team-group-mappings",
    "Patch Mappings by Team ID",
    TeamGroupsPage,
)
def patch_team_group_mappings(body: TeamGroupsPatch, ctx: CtxDep) -> JSONResponse:
    """Map each given team from exactly the given groups (an empty list unmaps it)."""
    return page(
        *service.replace_team_groups(ctx.session, actor=ctx.actor, data=body, query=ctx.query)
    )


# --- signing in -------------------------------------------------------------------------


def _redirect_uri(request: Request, login_path: str) -> str:
    settings: Settings = request.app.state.settings
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    return f"{base}/v3/authenticate/{login_path}/callback"


def _check_return_to(value: str | None) -> str | None:
    if value is None:
        return None
    if (
        not value.startswith("/")
        or value.startswith(("//", "/\\"))
        or len(value) > 2048
        or any(ord(c) < 0x21 or c == "\\" for c in value)
    ):
        reason = "must be a path on this server (starting with a single /)"
        raise bad_request(
            f"Invalid query parameter [return_to]: {reason}", "return_to", reason, source="query"
        )
    return value


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _enabled_idp(session: Session, login_path: str) -> IdentityProvider:
    idp = service.find_by_login_path(session, login_path)
    if idp is None:
        raise Problem(404, f"No enabled identity provider has the login path [{login_path}]")
    return idp


def _timeout(request: Request) -> float:
    settings: Settings = request.app.state.settings
    return settings.connector_timeout_seconds


@router.op(
    "GET /authenticate/{login_path}",
    "sign-in",
    "Sign In Through an Identity Provider",
    status=302,
    description="Redirects the browser to the identity provider's sign-in page "
    "(authorization code with PKCE). ``return_to``: a path of this server to go to "
    "once signed in.",
    tags=["Authentication"],
)
def sign_in(login_path: str, request: Request) -> Response:
    """Start signing in: redirect to the identity provider."""
    return_to = _check_return_to(request.query_params.get("return_to"))
    db: Database = request.app.state.db
    box = _box(request)
    with db.session(write=False) as session:
        idp = _enabled_idp(session, login_path)
    try:
        with oidc.client(timeout=_timeout(request)) as http:
            started = oidc.begin(http, idp, redirect_uri=_redirect_uri(request, login_path))
    except SignInRefused as exc:
        _record_refusal(db, request, idp, exc)
        raise Problem(exc.status, exc.detail) from None
    with db.session() as session:
        oidc.remember(session, idp, started, return_to=return_to, box=box)
    response = RedirectResponse(started.url, status_code=302)
    response.set_cookie(
        STATE_COOKIE,
        started.state,
        max_age=int(oidc.STATE_TTL.total_seconds()),
        path=STATE_COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    return response


def _record_refusal(
    db: Database, request: Request, idp: IdentityProvider, exc: SignInRefused
) -> None:
    log.warning("sign-in through %s refused: %s", idp.login_path, exc.reason)
    with db.session() as session:
        record_action(
            session,
            actor=Actor(type="anonymous", id="anonymous", name="anonymous"),
            type="identity_provider.sign_in_refused",
            detail=f"Sign-in through {idp.login_path} refused: {exc.detail}",
            attributes={
                "identity_provider_id": str(idp.id),
                "login_path": idp.login_path,
                "reason": exc.reason,
                "client": request.client.host if request.client else None,
            },
        )


def _take_state(
    db: Database, idp: IdentityProvider, request: Request, box: SecretBox
) -> oidc.PendingSignIn:
    state = request.query_params.get("state") or ""
    cookie = request.cookies.get(STATE_COOKIE) or ""
    if not state or not cookie or not hmac.compare_digest(state.encode(), cookie.encode()):
        raise SignInRefused(
            400,
            "state_mismatch",
            "The sign-in state does not match this browser's; start signing in again",
        )
    refused: SignInRefused | None = None
    with db.session() as session:  # the state is used up even when it is refused
        try:
            pending = oidc.consume_state(session, idp, state, box)
        except SignInRefused as exc:
            refused = exc
    if refused is not None:
        raise refused
    return pending


def _signed_in(
    db: Database, request: Request, idp: IdentityProvider, claims: Any
) -> tuple[dict[str, Any], str, int]:
    settings: Settings = request.app.state.settings
    lifetime = dt.timedelta(hours=settings.session_lifetime_hours)
    with db.session() as session:
        current = session.get(IdentityProvider, idp.id)
        if current is None or not current.enabled:
            raise SignInRefused(403, "provider_disabled", "The identity provider was disabled")
        user = apply_sign_in(session, current, claims)
        row, token = create_session(
            session,
            user_id=uuid.UUID(user.id),
            user_name=user.name,
            idp_id=str(idp.id),
            lifetime=lifetime,
        )
        record_action(
            session,
            actor=Actor(type="user", id=user.id, name=user.name),
            type="identity_provider.signed_in",
            detail=f"{user.name} signed in through {idp.login_path}",
            attributes={
                "identity_provider_id": str(idp.id),
                "login_path": idp.login_path,
                "subject": claims.subject,
                "email": user.email,
                "groups": user.groups,
                "team_ids": user.team_ids,
                "first_sign_in": user.first_sign_in,
                "session_id": str(row.id),
            },
        )
        body = {
            "user": {"id": user.id, "name": user.name, "email": user.email},
            "groups": user.groups,
            "team_ids": user.team_ids,
            "first_sign_in": user.first_sign_in,
            "expires_at": ts(row.expires_at),
        }
    return body, token, int(lifetime.total_seconds())


@router.op(
    "GET /authenticate/{login_path}/callback",
    "sign-in-callback",
    "Identity Provider Callback",
    description="Where the identity provider sends the browser back (register this URL "
    "at the provider). Starts a console session (an HttpOnly cookie) and redirects to "
    "``return_to``, or answers who signed in.",
    tags=["Authentication"],
)
def callback(login_path: str, request: Request) -> Response:
    """Finish signing in: check the state, exchange the code, validate the ID token."""
    db: Database = request.app.state.db
    box = _box(request)
    params = request.query_params
    with db.session(write=False) as session:
        idp = _enabled_idp(session, login_path)
    try:
        pending = _take_state(db, idp, request, box)
        if params.get("error"):
            raise SignInRefused(
                401,
                "provider_denied",
                f"The identity provider did not sign you in ({params.get('error', '')[:100]})",
            )
        code = params.get("code")
        if not code:
            raise SignInRefused(400, "no_code", "The callback carries no authorization code")
        with oidc.client(timeout=_timeout(request)) as http:
            claims = oidc.finish(
                idp,
                http,
                pending,
                code=code,
                redirect_uri=_redirect_uri(request, login_path),
                iss=params.get("iss"),
                box=box,
            )
        body, token, max_age = _signed_in(db, request, idp, claims)
    except SignInRefused as exc:
        _record_refusal(db, request, idp, exc)
        response: Response = problem_response(request, Problem(exc.status, exc.detail))
        response.delete_cookie(STATE_COOKIE, path=STATE_COOKIE_PATH)
        return response
    if pending.return_to:
        response = RedirectResponse(pending.return_to, status_code=303)
    else:
        response = json_response(body)
    response.delete_cookie(STATE_COOKIE, path=STATE_COOKIE_PATH)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    return response


@router.op("POST /authenticate/logout", "sign-out", "Sign Out", status=204, tags=["Authentication"])
def sign_out(request: Request) -> Response:
    """End the browser's console session (its cookie stops working at once)."""
    token = request.cookies.get(SESSION_COOKIE)
    db: Database = request.app.state.db
    if token:
        with db.session() as session:
            row = revoke_session(session, token)
            if row is not None:
                record_action(
                    session,
                    actor=session_holder(row),
                    type="identity_provider.signed_out",
                    detail=f"{row.user_name} signed out",
                    attributes={"session_id": str(row.id), "identity_provider_id": row.idp_id},
                )
    response = no_content()
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response

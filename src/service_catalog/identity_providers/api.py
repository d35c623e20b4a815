"""HTTP routes of identity providers (``/v3/identity-providers``, the identity contract) and
of signing in through one (``/v3/authenticate/...``, ours: Konnect signs in elsewhere)."""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.orm import Session

from service_catalog.auth.deps import CtxDep
from service_catalog.auth.service import Actor
from service_catalog.auth.sessions import SESSION_COOKIE, create_session, revoke_session
from service_catalog.core.db import Database
from service_catalog.core.errors import Problem, bad_request, problem_response
from service_catalog.core.render import json_response, no_content, page, ts
from service_catalog.core.routes import operation
from service_catalog.core.secrets import SecretBox, get_box
from service_catalog.events.service import record_action
from service_catalog.identity_providers import oidc, service
from service_catalog.identity_providers.models import IdentityProvider
from service_catalog.identity_providers.schemas import (
    IdentityProviderCreate,
    IdentityProviderList,
    IdentityProviderRead,
    IdentityProviderUpdate,
    TeamGroupMappingCreate,
    TeamGroupMappingList,
    TeamGroupMappingRead,
)
from service_catalog.identity_providers.sign_in import SignInRefused, apply_sign_in
from service_catalog.settings import Settings

log = logging.getLogger("service_catalog.identity_providers")

router = APIRouter(prefix="/v3", tags=["Auth Settings"])
STATE_COOKIE = "sc_oidc_state"
STATE_COOKIE_PATH = "/v3/authenticate"


def _box(request: Request) -> SecretBox:
    settings: Settings = request.app.state.settings
    return get_box(settings)


# --- identity providers -----------------------------------------------------------------


@router.get(
    "/identity-providers",
    **operation("get-identity-providers", "List Identity Providers", IdentityProviderList),
)
def list_(ctx: CtxDep) -> JSONResponse:
    """Every identity provider (``filter[type]``)."""
    rows = service.list_identity_providers(ctx.session, query=ctx.query, actor=ctx.actor)
    return json_response([service.to_dict(r) for r in rows])


@router.post(
    "/identity-providers",
    **operation(
        "create-identity-provider", "Create Identity Provider", IdentityProviderRead, status=201
    ),
)
def create(body: IdentityProviderCreate, ctx: CtxDep) -> JSONResponse:
    """Configure an identity provider; its client secret is write-only."""
    idp = service.create_identity_provider(
        ctx.session, data=body, actor=ctx.actor, box=_box(ctx.request)
    )
    return json_response(service.to_dict(idp), 201)


@router.get(
    "/identity-providers/{id}",
    **operation("get-identity-provider", "Get Identity Provider", IdentityProviderRead),
)
def get(id: str, ctx: CtxDep) -> JSONResponse:
    """One identity provider."""
    return json_response(service.to_dict(service.get_identity_provider(ctx.session, id, ctx.actor)))


@router.patch(
    "/identity-providers/{id}",
    **operation("update-identity-provider", "Update Identity Provider", IdentityProviderRead),
)
def update(id: str, body: IdentityProviderUpdate, ctx: CtxDep) -> JSONResponse:
    """Change an identity provider (a new issuer needs the client secret again)."""
    idp = service.update_identity_provider(
        ctx.session, idp_id=id, data=body, actor=ctx.actor, box=_box(ctx.request)
    )
    return json_response(service.to_dict(idp))


@router.delete(
    "/identity-providers/{id}",
    **operation("delete-identity-provider", "Delete Identity Provider", status=204),
)
def delete(id: str, ctx: CtxDep) -> Response:
    """Remove an identity provider and its team-group mappings."""
    service.delete_identity_provider(ctx.session, idp_id=id, actor=ctx.actor)
    return no_content()


@router.get(
    "/identity-providers/{idpId}/team-group-mappings",
    **operation("list-idp-team-group-mappings", "List Team Group Mappings", TeamGroupMappingList),
)
def list_mappings(idpId: str, ctx: CtxDep) -> JSONResponse:
    """A cursor page of the provider's team-group mappings."""
    rows, meta = service.list_mappings(
        ctx.session, idp_id=idpId, query=ctx.query, path=ctx.request.url.path, actor=ctx.actor
    )
    return page([service.mapping_to_dict(r) for r in rows], meta)


@router.post(
    "/identity-providers/{idpId}/team-group-mappings",
    **operation(
        "create-idp-team-group-mapping",
        "Create Team Group Mapping",
        TeamGroupMappingRead,
        status=201,
    ),
)
def create_mapping(idpId: str, body: TeamGroupMappingCreate, ctx: CtxDep) -> JSONResponse:
    """Map a group of the provider to a team (members join it at their next sign-in)."""
    row = service.create_mapping(ctx.session, idp_id=idpId, data=body, actor=ctx.actor)
    return json_response(service.mapping_to_dict(row), 201)


@router.get(
    "/identity-providers/{idpId}/team-group-mappings/{id}",
    **operation("get-idp-team-group-mapping", "Get Team Group Mapping", TeamGroupMappingRead),
)
def get_mapping(idpId: str, id: str, ctx: CtxDep) -> JSONResponse:
    """One team-group mapping."""
    row = service.get_mapping(ctx.session, idp_id=idpId, mapping_id=id, actor=ctx.actor)
    return json_response(service.mapping_to_dict(row))


@router.delete(
    "/identity-providers/{idpId}/team-group-mappings/{id}",
    **operation("delete-idp-team-group-mapping", "Delete Team Group Mapping", status=204),
)
def delete_mapping(idpId: str, id: str, ctx: CtxDep) -> Response:
    """Remove a team-group mapping."""
    service.delete_mapping(ctx.session, idp_id=idpId, mapping_id=id, actor=ctx.actor)
    return no_content()


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


@router.get(
    "/authenticate/{login_path}",
    tags=["Authentication"],
    **operation(
        "sign-in",
        "Sign In Through an Identity Provider",
        status=302,
        description="Redirects the browser to the identity provider's sign-in page "
        "(authorization code with PKCE). ``return_to``: a path of this server to go to "
        "once signed in.",
    ),
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
            session, user_id=user.id, user_name=user.name, idp_id=str(idp.id), lifetime=lifetime
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


@router.get(
    "/authenticate/{login_path}/callback",
    tags=["Authentication"],
    **operation(
        "sign-in-callback",
        "Identity Provider Callback",
        description="Where the identity provider sends the browser back (register this URL "
        "at the provider). Starts a console session (an HttpOnly cookie) and redirects to "
        "``return_to``, or answers who signed in.",
    ),
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


@router.post(
    "/authenticate/logout",
    tags=["Authentication"],
    **operation("sign-out", "Sign Out", status=204),
)
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
                    actor=Actor(type="user", id=row.user_id, name=row.user_name),
                    type="identity_provider.signed_out",
                    detail=f"{row.user_name} signed out",
                    attributes={"session_id": str(row.id), "identity_provider_id": row.idp_id},
                )
    response = no_content()
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response

"""Signing in to the console and out again.

``/sign-in`` offers the organization's OpenID Connect provider when one is enabled (the
existing ``/v3/authenticate/{login_path}`` flow, coming back to ``next``), and always an
API token form: the token is checked exactly as a bearer token is (the same failure limit)
and exchanged for a console session (:func:`~service_catalog.auth.sessions.create_token_session`),
an HttpOnly, SameSite=Lax cookie, Secure over HTTPS. ``/sign-out`` ends the session.
"""

from __future__ import annotations

import datetime as dt

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from service_catalog.auth.deps import authenticate_request, check_token
from service_catalog.auth.service import Actor, TokenInfo
from service_catalog.auth.sessions import (
    SESSION_COOKIE,
    create_token_session,
    revoke_session,
    session_holder,
)
from service_catalog.core.db import Database
from service_catalog.core.errors import Problem
from service_catalog.events.service import record_action
from service_catalog.identity_providers.service import sign_in_provider
from service_catalog.settings import Settings
from service_catalog.web.pages import form_of, page_router
from service_catalog.web.templating import render

router = page_router()


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of this server, else Home."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith(("//", "/\\"))
        or len(value) > 2048
        or any(ord(c) < 0x21 or c == "\\" for c in value)
    ):
        return "/"
    return value


async def _signed_in_actor(request: Request) -> Actor | None:
    if not request.cookies.get(SESSION_COOKIE):
        return None
    try:
        return await authenticate_request(request)
    except Problem:
        return None


def _page(request: Request, next_path: str, *, error: str = "", status: int = 200) -> Response:
    db: Database = request.app.state.db
    with db.session(write=False) as session:
        provider = sign_in_provider(session)
        login_path = provider.login_path if provider is not None else None
    return render(
        request,
        "sign_in.html",
        status=status,
        actor=None,
        provider={"login_path": login_path} if login_path else None,
        next=next_path,
        error=error,
    )


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    """The sign-in page (straight on to ``next`` when already signed in)."""
    next_path = safe_next(request.query_params.get("next"))
    if await _signed_in_actor(request) is not None:
        return RedirectResponse(next_path, status_code=303)
    return await run_in_threadpool(_page, request, next_path)


def _start_session(db: Database, settings: Settings, info: TokenInfo) -> str:
    with db.session() as session:
        row, cookie = create_token_session(
            session,
            info=info,
            lifetime=dt.timedelta(hours=settings.session_lifetime_hours),
        )
        record_action(
            session,
            actor=info.actor,
            type="console.signed_in",
            detail=f"{info.actor.name} signed in to the console with an API token",
            attributes={"session_id": str(row.id), "token_id": str(info.token_id)},
        )
    return cookie


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """Exchange an API token for a console session, then go on to ``next``."""
    form = form_of(request)
    next_path = safe_next(form.get("next"))
    token = (form.get("token") or "").strip()
    if not token:
        return await run_in_threadpool(
            _page, request, next_path, error="Enter an API token.", status=400
        )
    info = await check_token(request, token)
    if info is None:
        return await run_in_threadpool(
            _page,
            request,
            next_path,
            error="That token was not accepted: it is unknown, expired or revoked.",
            status=401,
        )
    cookie = await run_in_threadpool(
        _start_session, request.app.state.db, request.app.state.settings, info
    )
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(request.app.state.settings.session_lifetime_hours * 3600),
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


def _end_session(db: Database, cookie: str) -> None:
    with db.session() as session:
        row = revoke_session(session, cookie)
        if row is not None:
            holder = session_holder(row)
            record_action(
                session,
                actor=holder,
                type="console.signed_out",
                detail=f"{holder.name} signed out of the console",
                attributes={"session_id": str(row.id)},
            )


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    """End this browser's console session."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await run_in_threadpool(_end_session, request.app.state.db, cookie)
    response: Response = RedirectResponse("/sign-in?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


__all__ = ["router", "safe_next"]

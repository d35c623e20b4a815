"""Cross-site request forgery protection of the console's forms.

Every form carries a token (:func:`csrf_token`, a hidden ``csrf_token`` field; htmx sends it
as the ``X-CSRF-Token`` header) that every POST must send back (:func:`check_csrf`, called
for every console POST by :class:`service_catalog.web.pages.PageRoute` before the handler
runs). The token is an HMAC, under a key derived from the server secret, of what binds it to
this browser: its session cookie once signed in, before that a random pre-session cookie
(:data:`CSRF_COOKIE`). Another site can neither read the token nor compute it, and a token
stolen from one session is worthless in another; nothing is stored on the server.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response

from service_catalog.auth.sessions import SESSION_COOKIE
from service_catalog.core.errors import Problem
from service_catalog.core.secrets import derive_subkey, load_secret

CSRF_COOKIE = "sc_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def _key(request: Request) -> bytes:
    key: bytes | None = getattr(request.app.state, "console_csrf_key", None)
    if key is None:
        key = derive_subkey(load_secret(request.app.state.settings), "console-csrf")
        request.app.state.console_csrf_key = key
    return key


def _binding(request: Request) -> str:
    """What the token is bound to: the session cookie, else the pre-session nonce (made
    now, and set on the response by :func:`set_csrf_cookie`, when the browser has none)."""
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return "session:" + session
    nonce = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf_nonce", None)
    if not nonce:
        nonce = request.state.new_csrf_nonce = secrets.token_urlsafe(24)
    return "pre:" + nonce


def csrf_token(request: Request) -> str:
    """The token the forms of this page carry."""
    return hmac.new(_key(request), _binding(request).encode(), hashlib.sha256).hexdigest()


def set_csrf_cookie(request: Request, response: Response) -> None:
    """Give the browser the pre-session nonce its forms' tokens were made with, if new."""
    nonce = getattr(request.state, "new_csrf_nonce", None)
    if nonce:
        response.set_cookie(
            CSRF_COOKIE,
            nonce,
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )


def check_csrf(request: Request, sent: str | None) -> None:
    """A 403 problem unless ``sent`` (the form's field or the header) is this browser's
    token."""
    bound = request.cookies.get(SESSION_COOKIE) or request.cookies.get(CSRF_COOKIE)
    if not sent or not bound or not hmac.compare_digest(sent, csrf_token(request)):
        raise Problem(
            403,
            "The form's security token is missing or out of date. Go back, reload the page "
            "and try again.",
            title="Forbidden",
        )

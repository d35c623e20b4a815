"""What every console page shares: :class:`PageRoute` (form parsing, the CSRF check of every
POST, problems shown as pages, sign-in redirects), :func:`form_of`, and :func:`install`,
which mounts the console on the app.

A page handler is a FastAPI route on a router made by :func:`page_router`. It declares
``ctx: CtxDep`` (``service_catalog.auth.deps``) exactly as an API route does: the request's
unit of work and the signed-in actor (from the console session cookie), committed when the
handler returns. It calls the domains' service functions with ``ctx.session`` and
``ctx.actor`` (never the HTTP API), and answers :func:`~service_catalog.web.templating.render`.
A :class:`~service_catalog.core.errors.Problem` it raises (or a service function raises)
becomes the error page of its status; a 401 (no session, or a session that ended) redirects
to ``/sign-in?next=<this page>``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import ImmutableMultiDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from service_catalog.auth.sessions import SESSION_COOKIE
from service_catalog.core.errors import Problem, validation_problem
from service_catalog.core.http_errors import notify_denied
from service_catalog.web.csrf import CSRF_FIELD, CSRF_HEADER, check_csrf
from service_catalog.web.templating import render

STATIC = Path(__file__).parent / "static"
#: Paths that are never console pages (their errors stay problem+json).
NOT_PAGES = ("/v1/", "/v2/", "/v3/", "/static/", "/_docs-static/")
FORM_TYPE = "application/x-www-form-urlencoded"


def form_of(request: Request) -> ImmutableMultiDict[str, str]:
    """The submitted form of a console POST (parsed, and its CSRF token checked, by
    :class:`PageRoute` before the handler runs); empty for other requests."""
    form: ImmutableMultiDict[str, str] = getattr(request.state, "form", ImmutableMultiDict())
    return form


async def _read_form(request: Request) -> ImmutableMultiDict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type != FORM_TYPE:
        raise Problem(415, f"A console form is sent as {FORM_TYPE}")
    body = await request.body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Problem(400, "The form is not valid UTF-8") from None
    form = ImmutableMultiDict(parse_qsl(text, keep_blank_values=True))
    request.state.form = form
    return form


def sign_in_redirect(request: Request) -> Response:
    """Send the browser to sign in, then back to this page (a form's page for a POST)."""
    target = request.url.path
    if request.method == "GET" and request.url.query:
        target += "?" + request.url.query
    location = "/sign-in?next=" + quote(target, safe="")
    response: Response
    if request.headers.get("hx-request"):
        response = Response(status_code=204, headers={"HX-Redirect": location})
    else:
        response = RedirectResponse(location, status_code=303)
    if request.cookies.get(SESSION_COOKIE):
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def problem_page(request: Request, problem: Problem) -> Response:
    """A problem as the console shows it: a sign-in redirect for a 401, else the error
    page of its status, saying what went wrong and where to go."""
    if problem.status == 401:
        return sign_in_redirect(request)
    return render(
        request,
        "error.html",
        status=problem.status,
        headers=problem.headers,
        problem=problem,
    )


class PageRoute(APIRoute):
    """The route class of console pages: a POST's form is parsed (:func:`form_of`) and its
    CSRF token checked before anything else (a 403 page when missing or wrong), and a
    problem raised while handling becomes a page (:func:`problem_page`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                if request.method == "POST":
                    form = await _read_form(request)
                    check_csrf(request, form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER))
                return await handle(request)
            except Problem as exc:
                await notify_denied(request, exc)
                return problem_page(request, exc)
            except RequestValidationError as exc:
                return problem_page(request, validation_problem(list(exc.errors())))

        return page_handler


def page_router() -> APIRouter:
    """A router of console pages (:class:`PageRoute`, left out of the API description)."""
    return APIRouter(route_class=PageRoute, include_in_schema=False)


def _wants_page(request: Request) -> bool:
    return not request.url.path.startswith(NOT_PAGES) and "text/html" in request.headers.get(
        "accept", ""
    )


def install(app: FastAPI, routers: list[APIRouter]) -> None:
    """Mount the console on ``app``: its pages, ``/static`` from the package, and a 404
    page (instead of a problem) for a browser asking for a path that is no page."""
    for router in routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    previous = app.exception_handlers[StarletteHTTPException]

    async def http_error(request: Request, exc: Exception) -> Response:
        if (
            isinstance(exc, StarletteHTTPException)
            and exc.status_code == 404
            and _wants_page(request)
        ):
            return problem_page(request, Problem(404, "There is no page at this address."))
        response = previous(request, exc)
        if inspect.isawaitable(response):
            response = await response
        return response

    app.add_exception_handler(StarletteHTTPException, http_error)

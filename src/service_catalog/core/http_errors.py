"""Problems as HTTP responses: :func:`problem_response` renders a
:class:`~service_catalog.core.errors.Problem` as ``application/problem+json`` and
:func:`install_error_handlers` turns validation errors, unknown routes, wrong methods and
unexpected exceptions into problems, so no request ends in a traceback.

Apart from :mod:`service_catalog.core.errors` (which the domains raise from, and the
command line imports without FastAPI).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service_catalog.core.errors import (
    UNEXPECTED_DETAIL,
    WRITE_METHODS,
    Problem,
    problem_body,
    validation_problem,
)

log = logging.getLogger("service_catalog.errors")


async def notify_denied(request: Request, problem: Problem) -> None:
    """Hand a write refused for lack of rights to the app's ``on_denied`` hook (the audit
    trail: ``app.py`` sets it; the core knows no domain)."""
    if not problem.denial or request.method not in WRITE_METHODS:
        return
    hook = getattr(request.app.state, "on_denied", None)
    if hook is not None and getattr(request.state, "actor", None) is not None:
        await hook(request, problem)


def trace_id_of(request: Request) -> str:
    """The request's trace id, set by the request middleware."""
    return str(getattr(request.state, "trace_id", "") or request.scope.get("trace_id", ""))


class _ProblemJSON(JSONResponse):
    """A problem body as ASCII JSON (non-ASCII escaped): a problem often echoes what the
    client sent, and a client that guesses the charset of ``application/problem+json``
    (it has no ``charset`` parameter) must still read valid JSON."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def problem_response(request: Request, problem: Problem) -> JSONResponse:
    """Render a problem for ``request``."""
    body = problem_body(problem.status, problem.title, problem.detail, trace_id_of(request))
    if problem.status == 400:
        body["invalid_parameters"] = problem.invalid_parameters or [
            {"field": "request", "rule": "invalid", "reason": problem.detail, "source": "body"}
        ]
    elif problem.invalid_parameters:
        body["invalid_parameters"] = problem.invalid_parameters
    return _ProblemJSON(
        body,
        status_code=problem.status,
        media_type="application/problem+json",
        headers=problem.headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Make every error a problem+json response."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        await notify_denied(request, exc)
        return problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(request, validation_problem(list(exc.errors())))

    @app.exception_handler(ValidationError)
    async def _pyd_validation(request: Request, exc: ValidationError) -> JSONResponse:
        return problem_response(request, validation_problem(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        if status == 404:
            detail = f"No route matches [{request.method} {request.url.path}]"
            if exc.detail and exc.detail != "Not Found":
                detail = str(exc.detail)
        elif status == 405:
            detail = f"Method [{request.method}] is not allowed on [{request.url.path}]"
        else:
            detail = str(exc.detail)
        headers = getattr(exc, "headers", None)
        return problem_response(request, Problem(status, detail, headers=headers))

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeoutError)
    async def _database_down(request: Request, exc: Exception) -> JSONResponse:
        # The database is gone, locked past the busy timeout, refusing connections, or
        # every pooled connection stayed busy past the pool timeout: a retryable 503,
        # not a 500.
        log.warning(
            "database unavailable: %s",
            type(getattr(exc, "orig", exc)).__name__,
            extra={"trace_id": trace_id_of(request)},
        )
        return problem_response(
            request,
            Problem(
                503,
                "The database is not reachable right now; retry later",
                headers={"Retry-After": "5"},
            ),
        )

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value (out of range, unstorable text): the client's input.
        log.warning(
            "database refused a value: %s",
            type(exc.orig).__name__,
            extra={"trace_id": trace_id_of(request)},
        )
        return problem_response(
            request,
            Problem(
                400, "Invalid request: a value cannot be stored (out of range or unstorable text)"
            ),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"trace_id": trace_id_of(request)})
        return problem_response(request, Problem(500, UNEXPECTED_DETAIL))

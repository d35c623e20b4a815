"""The keyword arguments every route decorator repeats, in one call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter
from pydantic import BaseModel

from service_catalog.core.openapi import PROBLEMS


def operation(
    operation_id: str,
    summary: str,
    model: type[BaseModel] | None = None,
    *,
    status: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A route's contract id and summary, the schema of its body (``model``: documented in
    the OpenAPI description; handlers build bodies with ``json_response``, which FastAPI
    does not re-validate, so tests check them against it), its status when not 200, the
    problem responses, and ``extra`` (``tags``, ``openapi_extra``) as given."""
    kwargs: dict[str, Any] = {
        "operation_id": operation_id,
        "summary": summary,
        "responses": PROBLEMS,
        **extra,
    }
    if model is not None:
        kwargs["response_model"] = model
    if status is not None:
        kwargs["status_code"] = status
    return kwargs


Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


#: A route's status when the declaration names none: Konnect's (and so our) convention.
DEFAULT_STATUS = {"POST": 201, "DELETE": 204}


class Section:
    """A part of a router's routes sharing a path prefix and keyword arguments (``tags``):
    ``@section.op("GET /path", operation_id, summary, model, status=..., **extra)`` is
    ``@router.get(prefix + "/path", **operation(operation_id, summary, model, ...))``, with
    the status, when not given, 201 for ``POST``, 204 for ``DELETE``, else 200."""

    def __init__(self, router: APIRouter, prefix: str = "", **defaults: Any) -> None:
        self.router = router
        self.prefix = prefix
        self.defaults = defaults

    def op(
        self,
        route: str,
        operation_id: str,
        summary: str,
        model: type[BaseModel] | None = None,
        *,
        status: int | None = None,
        **extra: Any,
    ) -> Callable[[Endpoint], Endpoint]:
        """Declare the route ``route`` ("METHOD /path", the path below the router's prefix;
        "POST " alone for the prefix itself)."""
        method, _, path = route.partition(" ")
        status = status or DEFAULT_STATUS.get(method)
        extra = {**self.defaults, **extra}
        kwargs = operation(operation_id, summary, model, status=status, **extra)
        return self.router.api_route(self.prefix + path, methods=[method], **kwargs)


class Router(APIRouter):
    """An ``APIRouter`` whose routes are declared in one short call each:
    ``@router.op("GET /path", operation_id, summary, model)`` (see :class:`Section`)."""

    def section(self, prefix: str = "", **defaults: Any) -> Section:
        """The routes below ``prefix`` (of this router's), with ``defaults`` (``tags``)."""
        return Section(self, prefix, **defaults)

    def op(self, route: str, *args: Any, **kwargs: Any) -> Callable[[Endpoint], Endpoint]:
        """Declare the route ``route`` ("METHOD /path"), as :meth:`Section.op` does."""
        return Section(self).op(route, *args, **kwargs)

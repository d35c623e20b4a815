"""The keyword arguments every route decorator repeats, in one call."""

from __future__ import annotations

from typing import Any

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

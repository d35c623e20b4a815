"""Pieces of our own OpenAPI description: problem responses and list query parameters."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class InvalidParameter(BaseModel):
    """One entry of ``invalid_parameters``."""

    field: str
    rule: str | None = None
    reason: str
    source: str | None = None


class ProblemModel(BaseModel):
    """An ``application/problem+json`` error."""

    status: int
    title: str
    type: str | None = None
    instance: str
    detail: str
    invalid_parameters: list[InvalidParameter] | None = None


def _problem(desc: str) -> dict[str, Any]:
    return {"model": ProblemModel, "description": desc,
            "content": {"application/problem+json": {}}}


PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: _problem("Bad Request"),
    401: _problem("Unauthorized"),
    404: _problem("Not Found"),
    409: _problem("Conflict"),
}


def _params(*extra: dict[str, Any], sort_fields: list[str], cursor: bool = False
            ) -> dict[str, Any]:
    paging: list[dict[str, Any]]
    if cursor:
        paging = [
            {"name": "page[size]", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                             "maximum": 1000}},
            {"name": "page[after]", "in": "query", "schema": {"type": "string"}},
            {"name": "page[before]", "in": "query", "schema": {"type": "string"}},
        ]
    else:
        paging = [
            {"name": "page[size]", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                             "maximum": 1000}},
            {"name": "page[number]", "in": "query", "schema": {"type": "integer", "minimum": 1}},
        ]
    return {"parameters": [
        *paging,
        {"name": "sort", "in": "query", "schema": {"type": "string"},
         "description": "Comma-separated fields, each optionally followed by asc or desc: "
                        + ", ".join(sort_fields)},
        *extra,
    ]}


def filter_param(name: str, ops: list[str], description: str = "") -> dict[str, Any]:
    """One documented ``filter[name][op]`` parameter per operator."""
    return {"name": f"filter[{name}]", "in": "query", "schema": {"type": "string"},
            "description": description or f"Operators: {', '.join(ops)} as filter[{name}][op]"}


LIST_PARAMS: dict[str, dict[str, Any]] = {
    "catalog_services": _params(
        filter_param("name", ["eq", "neq", "contains", "oeq", "ocontains"]),
        filter_param("display_name", ["eq", "neq", "contains", "oeq", "ocontains"]),
        {"name": "filter[name][contains]", "in": "query", "schema": {"type": "string"}},
        {"name": "filter[created_at][gte]", "in": "query",
         "schema": {"type": "string", "format": "date-time"}},
        sort_fields=["name", "display_name", "created_at", "updated_at"],
    ),
}


def list_params(key: str, *filters: dict[str, Any], sort_fields: list[str], cursor: bool = False
                ) -> dict[str, Any]:
    """Register and return the documented query parameters of a list endpoint."""
    LIST_PARAMS[key] = _params(*filters, sort_fields=sort_fields, cursor=cursor)
    return LIST_PARAMS[key]

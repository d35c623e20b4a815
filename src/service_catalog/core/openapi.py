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


def finalize_openapi(doc: dict[str, Any]) -> dict[str, Any]:
    """Make FastAPI's generated description say what the API really does.

    Problems are ``application/problem+json`` (FastAPI files their schema under
    ``application/json``); validation errors are our 400s, never FastAPI's 422;
    every ``/v1``, ``/v2`` and ``/v3`` operation needs a bearer token.
    """
    problem_ref = {"$ref": "#/components/schemas/ProblemModel"}
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    if "ProblemModel" not in schemas:
        schemas["ProblemModel"] = ProblemModel.model_json_schema(
            ref_template="#/components/schemas/{model}")
        schemas.setdefault("InvalidParameter", InvalidParameter.model_json_schema())
        schemas["ProblemModel"].pop("$defs", None)
    components.setdefault("securitySchemes", {})["bearerAuth"] = {
        "type": "http", "scheme": "bearer",
        "description": "An access token from `service-catalog token create`.",
    }
    for path, item in doc.get("paths", {}).items():
        for op in item.values():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses = op["responses"]
            responses.pop("422", None)
            for status, resp in responses.items():
                content = resp.get("content", {})
                if "application/problem+json" in content or (
                    status[:1] in ("4", "5")
                    and content.get("application/json", {}).get("schema") == problem_ref
                ):
                    resp["content"] = {"application/problem+json": {"schema": problem_ref}}
            if path.startswith(("/v1/", "/v2/", "/v3/")) and path != "/v1/openapi.json":
                op.setdefault("security", [{"bearerAuth": []}])
                for status, desc in (("400", "Bad Request"), ("401", "Unauthorized")):
                    responses.setdefault(status, {
                        "description": desc,
                        "content": {"application/problem+json": {"schema": problem_ref}},
                    })
    unused = "HTTPValidationError" not in str(doc.get("paths"))
    if unused:
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    return doc

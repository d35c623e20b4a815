"""Pieces of our own OpenAPI description: problem responses and list query parameters
(generated from each list's FilterSpec and sort fields)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel

from service_catalog.core.query import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    OPS,
    FilterField,
    FilterSpec,
)


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
    return {"model": ProblemModel, "description": desc, "content": {"application/problem+json": {}}}


PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: _problem("Bad Request"),
    401: _problem("Unauthorized"),
    404: _problem("Not Found"),
    409: _problem("Conflict"),
}


# --- list query parameters, generated from each list's FilterSpec and sort fields -------

SpecSource = FilterSpec | Callable[[], FilterSpec]
SortSource = Mapping[str, Any] | Callable[[], Mapping[str, Any]]

_OP_TEXT = {
    "eq": "equals",
    "neq": "does not equal (rows without a value match too)",
    "contains": "contains, case-insensitive",
    "oeq": "equals one of the comma-separated values",
    "ocontains": "contains one of the comma-separated values, case-insensitive",
    "lt": "is less than",
    "lte": "is at most",
    "gt": "is greater than",
    "gte": "is at least",
}
_KIND_SCHEMA: dict[str, dict[str, Any]] = {
    "uuid": {"type": "string", "format": "uuid"},
    "datetime": {"type": "string", "format": "date-time"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
}


def query_param(
    name: str, schema: dict[str, Any], description: str | None = None, *, required: bool = False
) -> dict[str, Any]:
    """An OpenAPI query parameter (``required`` only when it is)."""
    param: dict[str, Any] = {"name": name, "in": "query"}
    if required:
        param["required"] = True
    param["schema"] = schema
    if description is not None:
        param["description"] = description
    return param


_PAGE_SIZE = query_param(
    "page[size]",
    {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE},
)
_NUMBER_PAGING = [
    _PAGE_SIZE,
    query_param("page[number]", {"type": "integer", "minimum": 1, "default": 1}),
]
_CURSOR_PAGING = [
    _PAGE_SIZE,
    query_param(
        "page[after]", {"type": "string"}, "The next page: the cursor from meta.page.next."
    ),
    query_param(
        "page[before]", {"type": "string"}, "The previous page: the cursor from meta.page.previous."
    ),
]
_FACET_PARAMS: list[dict[str, Any]] = [
    query_param(
        "field",
        {"type": "string"},
        "The field whose values to count, e.g. labels.team",
        required=True,
    ),
    query_param(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
        "At most this many values, the most frequent first.",
    ),
]
Paging = Literal["number", "cursor", "facets"]
_LISTS: dict[str, tuple[SpecSource, SortSource | None, Paging]] = {}

_MARK = "x-list-params"


def _op_schema(ff: FilterField, op: str) -> dict[str, Any]:
    if op in ("oeq", "ocontains"):
        return {"type": "string"}  # comma-separated values
    if ff.choices:
        return {"type": "string", "enum": list(ff.choices)}
    return dict(_KIND_SCHEMA.get(ff.kind, {"type": "string"}))


def filter_parameters(spec: FilterSpec) -> list[dict[str, Any]]:
    """One query parameter per field and operator of ``spec``: ``filter[field]`` (equality)
    and ``filter[field][op]``; a JSON prefix is one ``filter[prefix.<key>]`` parameter."""
    params: list[dict[str, Any]] = []
    for name, ff in sorted(spec.fields.items()):
        for op in OPS[ff.kind]:
            params.append(
                query_param(
                    f"filter[{name}]" if op == "eq" else f"filter[{name}][{op}]",
                    _op_schema(ff, op),
                    f"{name} {_OP_TEXT[op]}",
                )
            )
    for prefix, ff in sorted(spec.json_prefixes.items()):
        ops = OPS[ff.kind]
        how = "one key, which may hold dots" if ff.flat else "a dot path into the object"
        params.append(
            query_param(
                f"filter[{prefix}.<key>]",
                {"type": "string"},
                f"A value inside {prefix} ({how}), e.g. filter[{prefix}.env]=prod; "
                f"operators as filter[{prefix}.<key>][op]: {', '.join(ops)}",
            )
        )
    return params


def sort_parameter(sorts: Iterable[str]) -> dict[str, Any]:
    """The ``sort`` query parameter naming the sortable fields."""
    return query_param(
        "sort",
        {"type": "string"},
        "Comma-separated fields, each optionally followed by asc or desc: " + ", ".join(sorts),
    )


def list_params(
    filters: SpecSource, sorts: SortSource | None = None, *, cursor: bool = False
) -> dict[str, Any]:
    """``openapi_extra`` of a list route: its paging, ``sort`` and ``filter[...]`` query
    parameters, generated from the list's own FilterSpec and sort fields (a spec or sorts
    given as a function are read when the OpenAPI document is built, not at import)."""
    return _register(filters, sorts, "cursor" if cursor else "number")


def facet_params(filters: SpecSource) -> dict[str, Any]:
    """``openapi_extra`` of a facets route: ``field``, ``limit`` and the list's
    ``filter[...]`` parameters."""
    return _register(filters, None, "facets")


def _register(filters: SpecSource, sorts: SortSource | None, paging: Paging) -> dict[str, Any]:
    key = f"list-{len(_LISTS)}"
    _LISTS[key] = (filters, sorts, paging)
    return {_MARK: key}


def _expand_list_params(op: dict[str, Any]) -> None:
    filters, sorts, paging = _LISTS[op.pop(_MARK)]
    spec = filters() if callable(filters) else filters
    first = {"number": _NUMBER_PAGING, "cursor": _CURSOR_PAGING, "facets": _FACET_PARAMS}
    params = [dict(p) for p in first[paging]]
    if sorts is not None:
        params.append(sort_parameter(sorts() if callable(sorts) else sorts))
    params += filter_parameters(spec)
    existing = op.setdefault("parameters", [])
    taken = {(p.get("name"), p.get("in")) for p in existing}
    existing += [p for p in params if (p["name"], p["in"]) not in taken]


def finalize_openapi(doc: dict[str, Any]) -> dict[str, Any]:
    """Make FastAPI's generated description say what the API really does.

    Problems are ``application/problem+json`` (FastAPI files their schema under
    ``application/json``); validation errors are our 400s, never FastAPI's 422;
    every ``/v1``, ``/v2`` and ``/v3`` operation needs a bearer token; list routes
    declared with :func:`list_params` get their query parameters.
    """
    problem_ref = {"$ref": "#/components/schemas/ProblemModel"}
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    if "ProblemModel" not in schemas:
        schemas["ProblemModel"] = ProblemModel.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        schemas.setdefault("InvalidParameter", InvalidParameter.model_json_schema())
        schemas["ProblemModel"].pop("$defs", None)
    components.setdefault("securitySchemes", {})["bearerAuth"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An access token from `service-catalog token create`.",
    }
    for path, item in doc.get("paths", {}).items():
        for op in item.values():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            if _MARK in op:
                _expand_list_params(op)
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
                    responses.setdefault(
                        status,
                        {
                            "description": desc,
                            "content": {"application/problem+json": {"schema": problem_ref}},
                        },
                    )
    unused = "HTTPValidationError" not in str(doc.get("paths"))
    if unused:
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    return doc

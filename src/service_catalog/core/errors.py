"""Errors as the contract shapes them: ``application/problem+json``.

Every error a client can see is a :class:`Problem`, raised by the domains; this module
builds them and their bodies and knows no web framework (the command line imports the
domains without FastAPI). :mod:`service_catalog.core.http_errors` renders them as
responses and installs the handlers that turn validation errors, unknown routes, wrong
methods and unexpected exceptions into problems, so no request ends in a traceback.
"""

from __future__ import annotations

from typing import Any

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


UNEXPECTED_DETAIL = "An unexpected error occurred; the trace id identifies it in the logs"


class Problem(Exception):
    """An error response: status, a stable title and a specific detail."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        invalid_parameters: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        denial: bool = False,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title or TITLES.get(status, "Error")
        self.detail = detail
        self.invalid_parameters = invalid_parameters
        self.headers = headers
        #: A refusal for lack of rights (a 403, or the 404 of what the principal may not
        #: see): a write refused so goes to the audit trail (:func:`notify_denied`).
        self.denial = denial


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def bad_request(
    detail: str,
    field: str,
    reason: str,
    *,
    rule: str | None = "invalid",
    source: str = "body",
    **extra: Any,
) -> Problem:
    """A 400 naming one invalid parameter."""
    param: dict[str, Any] = {"field": field, "reason": reason, "source": source}
    if rule is not None:
        param["rule"] = rule
    param.update(extra)
    return Problem(400, detail, invalid_parameters=[param])


def not_found(what: str, ident: object) -> Problem:
    """A 404 for an entity that does not exist."""
    return Problem(404, f"{what} [{ident}] not found")


def conflict(detail: str) -> Problem:
    """A 409 for a request that clashes with what is stored."""
    return Problem(409, detail)


def name_taken(what: str, name: str) -> Problem:
    """The 409 of a name already taken: ``name_taken("A team", "ops")`` says
    ``A team named [ops] already exists``."""
    return conflict(f"{what} named [{name}] already exists")


def problem_body(status: int, title: str, detail: str, trace_id: str) -> dict[str, Any]:
    """The JSON body of a problem."""
    return {
        "status": status,
        "title": title,
        "type": f"https://httpstatuses.com/{status}",
        "instance": f"kong:trace:{trace_id}",
        "detail": detail,
    }


_TYPE_RULES = {
    "string_type": ("is_string", "must be a string"),
    "bool_type": ("is_boolean", "must be a boolean"),
    "bool_parsing": ("is_boolean", "must be a boolean"),
    "int_type": ("is_integer", "must be an integer"),
    "int_parsing": ("is_integer", "must be an integer"),
    "int_from_float": ("is_integer", "must be an integer"),
    "float_type": ("is_number", "must be a number"),
    "float_parsing": ("is_number", "must be a number"),
    "dict_type": ("is_object", "must be an object"),
    "model_type": ("is_object", "must be an object"),
    "model_attributes_type": ("is_object", "must be an object"),
    "list_type": ("is_array", "must be an array"),
    "uuid_type": ("is_uuid", "must be a UUID"),
    "uuid_parsing": ("is_uuid", "must be a UUID"),
    "datetime_type": ("is_date_time", "must be an RFC 3339 date-time"),
    "datetime_parsing": ("is_date_time", "must be an RFC 3339 date-time"),
    "datetime_from_date_parsing": ("is_date_time", "must be an RFC 3339 date-time"),
    "missing": ("required", "is a required field"),
    "extra_forbidden": ("unknown_property", "is not a known property"),
    "string_pattern_mismatch": ("matches_regex", None),
    "none_required": ("is_null", "must be null"),
    "json_invalid": ("invalid", None),
    "json_type": ("invalid", None),
}


def _field_of(loc: tuple[Any, ...]) -> tuple[str, str]:
    parts = list(loc)
    source = "body"
    if parts and parts[0] in ("body", "query", "path", "header"):
        source = str(parts.pop(0))
    # pydantic adds the union member's tag to a location; users never see those.
    clean = [str(p) for p in parts if not _is_union_tag(p)]
    return (".".join(clean) or ("body" if source == "body" else source)), source


_UNION_TAGS = (
    "str",
    "float",
    "int",
    "bool",
    "UrlField",
    "constrained-str",
    "json-or-python[json=float,python=float]",
)


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and (part.startswith("function-") or part in _UNION_TAGS)


def _count(prefix: str, n: Any, noun: str) -> str:
    return f"{prefix} {n} {noun}{'' if n == 1 else 's'}"


def _size_rule(etype: str, ctx: dict[str, Any], msg: str) -> dict[str, Any] | None:
    """The rule of a length or bound error, None for any other error."""
    if etype == "string_too_short":
        return dict(
            rule="min_length",
            minimum=int(ctx.get("min_length", 0)),
            reason=_count("must have at least", ctx.get("min_length"), "character"),
        )
    if etype == "string_too_long":
        return dict(
            rule="max_length",
            maximum=int(ctx.get("max_length", 0)),
            reason=_count("must not have more than", ctx.get("max_length"), "character"),
        )
    if etype == "too_short":
        return dict(
            rule="min_items",
            minimum=int(ctx.get("min_length", 0)),
            reason=f"must have at least {ctx.get('min_length')} items",
        )
    if etype == "too_long":
        return dict(
            rule="max_items",
            maximum=int(ctx.get("max_length", 0)),
            reason=f"must not have more than {ctx.get('max_length')} items",
        )
    if etype in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt", 0))
        return dict(rule="min", minimum=int(bound), reason=msg.lower())
    if etype in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt", 0))
        return dict(rule="max", maximum=int(bound), reason=msg.lower())
    return None


def _rule_of(etype: str, ctx: dict[str, Any], msg: str, field: str) -> dict[str, Any]:
    """What an error adds to its ``invalid_parameters`` entry (a rule, a reason, bounds;
    our own rules may name the entry at fault in ``field``)."""
    sized = _size_rule(etype, ctx, msg)
    if sized is not None:
        return sized
    if etype in ("enum", "literal_error"):
        choices = ctx.get("expected", "")
        items = [c.strip().strip("'\"") for c in str(choices).replace(" or ", ",").split(",")]
        return dict(
            rule="enum",
            choices=[c for c in items if c] or ["?"],
            reason=f"must be one of {choices}",
        )
    if "rule" in ctx:
        # our own rules (core/validation.py): the entry at fault and the bound, if any
        own: dict[str, Any] = {}
        if ctx.get("key") is not None:
            own["field"] = f"{field}.{ctx['key']}"
        own.update(rule=ctx["rule"], reason=str(ctx.get("reason", msg)))
        for bound in ("minimum", "maximum"):
            if bound in ctx:
                own[bound] = int(ctx[bound])
        return own
    if etype in _TYPE_RULES:
        rule, reason = _TYPE_RULES[etype]
        if etype == "string_pattern_mismatch":
            reason = f"must match the pattern {ctx.get('pattern')}"
        if etype in ("json_invalid", "json_type"):
            reason = "is not valid JSON" + (f": {ctx['error']}" if ctx.get("error") else "")
        return dict(rule=rule, reason=reason)
    return dict(rule="invalid", reason=msg.removeprefix("Value error, "))


def invalid_parameters_from(errors: list[Any]) -> list[dict[str, Any]]:
    """Translate pydantic errors to the contract's ``invalid_parameters``."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for err in errors:
        field, source = _field_of(tuple(err.get("loc", ())))
        etype = err.get("type", "")
        ctx = err.get("ctx") or {}
        msg = str(err.get("msg", "is invalid"))
        if etype in ("json_invalid", "json_type"):
            field = "body"
        param: dict[str, Any] = {"field": field, "source": source}
        param.update(_rule_of(etype, ctx, msg, field))
        key = (param["field"], param["reason"])
        if key in seen:
            continue
        seen.add(key)
        out.append(param)
    return out


def _describe(params: list[dict[str, Any]]) -> str:
    first = params[0]
    more = f" (and {len(params) - 1} more)" if len(params) > 1 else ""
    return f"Invalid request: {first['field']} {first['reason']}{more}"


def invalid_request(params: list[dict[str, Any]], *, shown: int | None = None) -> Problem:
    """A 400 naming the first of the invalid parameters ``params`` in its detail (and how
    many more there are) and listing them (the first ``shown`` when given)."""
    return Problem(400, _describe(params), invalid_parameters=params[:shown])


def validation_problem(errors: list[Any]) -> Problem:
    """A 400 problem for a list of pydantic errors."""
    params = invalid_parameters_from(errors) or [
        {"field": "body", "rule": "invalid", "reason": "is invalid", "source": "body"}
    ]
    return Problem(400, _describe(params), invalid_parameters=params)

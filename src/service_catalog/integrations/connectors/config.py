"""A connector's configuration as a pydantic model, and the ``config_schema`` made from it.

Each connector declares a :class:`ConnectorConfig` subclass whose fields are declared
with :func:`setting`. From it come both what ``GET /v1/integrations`` shows (the
descriptor's ``config_schema``, in the shape of Konnect's ``CatalogIntegration``: fields of
type ``string``, ``enum``, ``boolean`` or ``integer`` with ``display_name``,
``description``, ``required``, ``default``, ``examples``, ``mutable_condition``,
``choices``, ``minimum``, ``maximum``) and the validation of an instance's config
(:func:`config_faults`): one declaration, so the two cannot drift.

Field types: ``bool``; :data:`ConfigText` (a string of at most :data:`MAX_STRING`
characters); a ``Literal`` of strings (an enum; each choice's display name comes from
``setting(choices=...)``); ``int`` with ``ge``/``le``. A field that may be left out has a
default; ``None`` as default means "no default" (the field is optional and has none).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Le, MaxLen
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.fields import FieldInfo

MAX_STRING = 2048
#: A config string: at most :data:`MAX_STRING` characters.
ConfigText = Annotated[str, StringConstraints(max_length=MAX_STRING)]


class ConnectorConfig(BaseModel):
    """Base of every connector's config model: strict types, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class NoConfig(ConnectorConfig):
    """The config of an integration that takes none."""


def setting(
    default: Any = ...,
    *,
    display_name: str,
    description: str,
    examples: list[Any] | None = None,
    mutable_condition: str | None = None,
    choices: Mapping[str, str] | None = None,
    ge: int | None = None,
    le: int | None = None,
) -> Any:
    """A config field: what the descriptor shows about it. ``default=...`` makes it
    required; ``choices`` gives an enum field's display names by value;
    ``mutable_condition="unauthorized"`` keeps it fixed while the instance is authorized."""
    extra: dict[str, Any] = {}
    if mutable_condition is not None:
        extra["mutable_condition"] = mutable_condition
    if choices is not None:
        extra["choices"] = dict(choices)
    return Field(
        default,
        title=display_name,
        description=description,
        examples=examples,
        ge=ge,
        le=le,
        json_schema_extra=extra or None,
    )


def sync_interval_setting() -> Any:
    """The optional ``sync_interval`` field (seconds, at least 10) a connector's config may
    declare; unset, the server's default applies."""
    return setting(
        None,
        display_name="Sync interval (seconds)",
        description="How often the catalog syncs this instance; default: the server's "
        "SERVICE_CATALOG_SYNC_INTERVAL_SECONDS.",
        ge=10,
    )


def _kind(annotation: Any) -> tuple[str, tuple[Any, ...]]:
    """(Konnect field type, enum values) of a field's annotation."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return _kind(args[0])
    if origin is Annotated:
        return _kind(get_args(annotation)[0])
    if origin is Literal:
        return "enum", get_args(annotation)
    if annotation is bool:
        return "boolean", ()
    if annotation is int:
        return "integer", ()
    if annotation is str:
        return "string", ()
    raise TypeError(f"config field type {annotation!r} has no Konnect config_schema type")


def _extra(info: FieldInfo) -> dict[str, Any]:
    extra = info.json_schema_extra
    return dict(extra) if isinstance(extra, dict) else {}


def _bounds(info: FieldInfo) -> dict[str, int]:
    out: dict[str, int] = {}
    for meta in info.metadata:
        if isinstance(meta, Ge):
            out["minimum"] = int(typing.cast(int, meta.ge))
        elif isinstance(meta, Le):
            out["maximum"] = int(typing.cast(int, meta.le))
    return out


def config_schema(model: type[ConnectorConfig]) -> dict[str, dict[str, Any]]:
    """The descriptor's ``config_schema`` of ``model``: its fields by name, in order."""
    schema: dict[str, dict[str, Any]] = {}
    for name, info in model.model_fields.items():
        kind, values = _kind(info.annotation)
        extra = _extra(info)
        spec: dict[str, Any] = {
            "type": kind,
            "display_name": info.title or name,
            "description": info.description or "",
            "required": info.is_required(),
        }
        if not info.is_required() and info.default is not None:
            spec["default"] = info.default
        if info.examples:
            spec["examples"] = list(info.examples)
        if "mutable_condition" in extra:
            spec["mutable_condition"] = extra["mutable_condition"]
        if kind == "enum":
            labels = extra.get("choices") or {}
            spec["choices"] = [{"value": v, "display_name": labels.get(v, v)} for v in values]
        spec.update(_bounds(info))
        schema[name] = spec
    return schema


def _fault(key: str, rule: str, reason: str, **extra: Any) -> dict[str, Any]:
    return {"field": f"config.{key}", "rule": rule, "reason": reason, "source": "body", **extra}


def _string_limit(info: FieldInfo) -> int:
    for meta in [*info.metadata, *getattr(info.annotation, "__metadata__", ())]:
        if isinstance(meta, MaxLen | StringConstraints) and meta.max_length is not None:
            return int(meta.max_length)
    return MAX_STRING


def _as_fault(
    model: type[ConnectorConfig], error: Mapping[str, Any], integration: str
) -> dict[str, Any]:
    """One pydantic error as an ``invalid_parameters`` entry, in the API's words."""
    key = str(error["loc"][0]) if error.get("loc") else "config"
    kind = error["type"]
    info = model.model_fields.get(key)
    if kind == "extra_forbidden" or info is None:
        known = ", ".join(model.model_fields) or "none"
        return _fault(
            key,
            "unknown_property",
            f"is not a config field of integration {integration} (known: {known})",
        )
    if kind == "missing":
        return _fault(key, "required", "is a required config field")
    ftype, values = _kind(info.annotation)
    bounds = _bounds(info)
    if ftype == "enum":
        choices = [str(v) for v in values]
        return _fault(key, "enum", f"must be one of {', '.join(choices)}", choices=choices)
    if ftype == "boolean":
        return _fault(key, "is_boolean", "must be a boolean")
    if ftype == "integer":
        if kind == "greater_than_equal":
            return _fault(
                key, "min", f"must be at least {bounds['minimum']}", minimum=bounds["minimum"]
            )
        if kind == "less_than_equal":
            return _fault(
                key, "max", f"must be at most {bounds['maximum']}", maximum=bounds["maximum"]
            )
        return _fault(key, "is_integer", "must be an integer")
    if kind == "string_too_long":
        limit = _string_limit(info)
        return _fault(
            key, "max_length", f"must not have more than {limit} characters", maximum=limit
        )
    return _fault(key, "is_string", "must be a string")


def config_faults(
    model: type[ConnectorConfig], given: Mapping[str, Any], integration: str
) -> list[dict[str, Any]]:
    """What is wrong with ``given`` (null values already dropped) against ``model``, as
    ``invalid_parameters`` entries: unknown keys first, then the fields in order, one
    fault a field. Empty when it is valid."""
    try:
        model.model_validate(dict(given))
    except ValidationError as exc:
        faults = [_as_fault(model, e, integration) for e in exc.errors()]
    else:
        return []
    order = {name: i for i, name in enumerate(model.model_fields)}
    seen: set[str] = set()
    unique = []
    for fault in faults:
        if fault["field"] not in seen:
            seen.add(fault["field"])
            unique.append(fault)
    unknown = [f for f in unique if f["rule"] == "unknown_property"]
    known = sorted(
        (f for f in unique if f["rule"] != "unknown_property"),
        key=lambda f: order.get(f["field"][len("config.") :], 0),
    )
    return [*unknown, *known]


__all__ = [
    "MAX_STRING",
    "ConfigText",
    "ConnectorConfig",
    "NoConfig",
    "config_faults",
    "config_schema",
    "setting",
]

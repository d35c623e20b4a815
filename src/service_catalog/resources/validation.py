"""What a resource's type and config must be before it is stored: the checks of
initialize, push and mapping-by-config (400 problems naming the field)."""

from __future__ import annotations

from typing import Any

from service_catalog.core.errors import bad_request
from service_catalog.integrations import registry
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.resources.ids import canonical_json, json_has_nul

MAX_CONFIG_BYTES = 16_384


def descriptor_of(integration_name: str) -> dict[str, Any] | None:
    """The descriptor of an integration (``CatalogIntegration`` as a dict), or None."""
    return registry.get_descriptor(integration_name)


def no_nul(text: str, field: str, *, is_json: bool = False) -> None:
    if json_has_nul(text) if is_json else "\x00" in text:
        raise bad_request(
            f"Invalid request: {field} must not contain NUL characters",
            field,
            "must not contain NUL characters (\\u0000)",
        )


def json_checked(value: Any, field: str, *, limit: int | None = None) -> None:
    try:
        text = canonical_json(value)
    except (ValueError, TypeError):
        raise bad_request(
            f"Invalid request: {field} must be valid JSON (no NaN or Infinity)",
            field,
            "must be valid JSON (no NaN or Infinity)",
        ) from None
    no_nul(text, field, is_json=True)
    if limit is not None and len(text.encode()) > limit:
        raise bad_request(
            f"Invalid request: {field} must not be larger than {limit} bytes",
            field,
            f"must not be larger than {limit} bytes",
            rule="max_length",
            maximum=limit,
        )


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def check_resource(
    instance: IntegrationInstance, type_: str, config: dict[str, Any], field: str = ""
) -> None:
    """400 unless ``type_`` is one of the instance's integration's resource types and
    ``config`` fits that type's schema (when the descriptor declares one). ``field``
    prefixes the reported field names (``data.3.``)."""
    no_nul(type_, f"{field}type")
    json_checked(config, f"{field}config", limit=MAX_CONFIG_BYTES)
    # The integration says which types an instance with this config holds.
    types = registry.resource_types_for(instance.integration_name, instance.config)
    if types is None:
        return  # unknown integration: nothing to check against
    if type_ not in types:
        allowed = sorted(types)
        raise bad_request(
            f"Invalid request: {field}type [{type_}] is not a resource type of integration "
            f"[{instance.integration_name}]; use one of {', '.join(allowed)}",
            f"{field}type",
            f"must be one of {', '.join(allowed)}",
            rule="enum",
            choices=allowed,
        )
    schema = (types[type_] or {}).get("schema") if isinstance(types[type_], dict) else None
    definition = schema.get("definition") if isinstance(schema, dict) else None
    if not isinstance(definition, dict) or not definition:
        return
    for key, kind in definition.items():
        if key not in config:
            raise bad_request(
                f"Invalid request: {field}config.{key} is a required field",
                f"{field}config.{key}",
                "is a required field",
                rule="required",
            )
        expected = _JSON_TYPES.get(str(kind))
        value = config[key]
        if expected and (
            not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected)
        ):
            raise bad_request(
                f"Invalid request: {field}config.{key} must be a {kind}",
                f"{field}config.{key}",
                f"must be a {kind}",
                rule=f"is_{kind}",
            )
    for key in config:
        if key not in definition:
            raise bad_request(
                f"Invalid request: {field}config.{key} is not a known property of resource "
                f"type [{type_}]",
                f"{field}config.{key}",
                "is not a known property",
                rule="unknown_property",
            )


__all__ = ["MAX_CONFIG_BYTES", "check_resource", "descriptor_of", "json_checked", "no_nul"]

"""Field rules shared by several domains: labels and custom fields, as the contract states them."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

LABEL_VALUE = re.compile(r"^[a-z0-9A-Z]([a-z0-9A-Z\-._]*[a-z0-9A-Z]+)?$")
RESERVED_LABEL_PREFIXES = ("kong", "konnect", "mesh", "kic", "_")
MAX_LABELS = 50


def _err(rule: str, reason: str, *, key: str | None = None, **extra: Any) -> PydanticCustomError:
    """A validation error carrying the contract's rule; ``key`` names the entry at fault
    (reported as ``field.key``), ``extra`` adds ``minimum``/``maximum`` where the rule needs it."""
    ctx: dict[str, Any] = {"rule": rule, "reason": reason, **extra}
    if key is not None:
        ctx["key"] = key
    return PydanticCustomError("catalog_rule", "{reason}", ctx)


def check_labels(value: Any, *, allow_null_values: bool) -> dict[str, str | None] | None:
    """Validate a labels map (keys and values 1-63 characters, reserved prefixes refused)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _err("is_object", "must be an object")
    if len(value) > MAX_LABELS:
        raise _err("max_items", f"must not have more than {MAX_LABELS} labels", maximum=MAX_LABELS)
    for key, val in value.items():
        _check_label_text(key, f"key [{key}]", key)
        if key.lower().startswith(RESERVED_LABEL_PREFIXES):
            raise _err(
                "is_label",
                f"key [{key}] must not start with kong, konnect, mesh, kic or _",
                key=key,
            )
        if val is None:
            if allow_null_values:
                continue
            raise _err("is_string", f"value of [{key}] must be a string", key=key)
        if not isinstance(val, str):
            raise _err("is_string", f"value of [{key}] must be a string", key=key)
        _check_label_text(val, f"value of [{key}]", key)
    return value


def _check_label_text(text: str, what: str, key: str) -> None:
    """A label's key or value: 1-63 characters of the label alphabet."""
    if not (1 <= len(text) <= 63) or not LABEL_VALUE.match(text):
        raise _err(
            "is_label",
            f"{what} must be 1-63 letters, digits, '-', '.' or '_', "
            "starting and ending with a letter or digit",
            key=key,
        )


def _check_url_field(key: str, val: dict[str, Any]) -> None:
    """A custom field's ``{name, link}`` value."""
    extra = set(val) - {"name", "link"}
    if extra:
        raise _err(
            "unknown_property",
            f"[{key}] has unknown properties {sorted(extra)}; a URL field is {{name, link}}",
            key=key,
        )
    if not isinstance(val.get("name"), str) or not isinstance(val.get("link"), str):
        raise _err("required", f"[{key}] is a URL field and needs string name and link", key=key)
    if len(val["link"]) > 2048 or len(val["name"]) > 255:
        raise _err(
            "max_length",
            f"[{key}] name must not have more than 255 and link more than 2048 characters",
            key=key,
            maximum=255 if len(val["name"]) > 255 else 2048,
        )


def _check_custom_field(key: str, val: Any, allow_null_values: bool) -> None:
    if not (1 <= len(key) <= 120) or "." in key:
        raise _err("invalid", f"key [{key}] must be 1-120 characters without '.'", key=key)
    if val is None:
        if not allow_null_values:
            raise _err("invalid", f"[{key}] must not be null", key=key)
        return
    if isinstance(val, bool | int | float):
        if isinstance(val, float) and not math.isfinite(val):
            raise _err("is_number", f"[{key}] must be a finite number", key=key)
        return
    if isinstance(val, str):
        if len(val) > 2048:
            raise _err(
                "max_length",
                f"[{key}] must not have more than 2048 characters",
                key=key,
                maximum=2048,
            )
        return
    if isinstance(val, dict):
        _check_url_field(key, val)
        return
    raise _err("invalid", f"[{key}] must be a string, number, boolean or {{name, link}}", key=key)


def check_custom_fields(value: Any, *, allow_null_values: bool = True) -> dict[str, Any] | None:
    """Validate custom fields: each a string, number, boolean, null or ``{name, link}``."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _err("is_object", "must be an object")
    if len(value) > 100:
        raise _err("max_items", "must not have more than 100 fields", maximum=100)
    for key, val in value.items():
        _check_custom_field(key, val, allow_null_values)
    return value


def _new_labels(value: Any) -> dict[str, str | None] | None:
    return check_labels(value, allow_null_values=False)


def _changed_labels(value: Any) -> dict[str, str | None] | None:
    return check_labels(value, allow_null_values=True)


#: The labels of a body that creates an object (every value a string).
Labels = Annotated[dict[str, Any], AfterValidator(_new_labels)]
#: The labels of a body that changes an object (a null value removes the label).
LabelChanges = Annotated[dict[str, Any], AfterValidator(_changed_labels)]
#: Custom fields (a null value removes the field on a change, and means none on a create).
CustomFields = Annotated[dict[str, Any], AfterValidator(check_custom_fields)]


class StrictBody(BaseModel):
    """A request body: an unknown property is a 400 (``rule: unknown_property``)."""

    model_config = ConfigDict(extra="forbid")

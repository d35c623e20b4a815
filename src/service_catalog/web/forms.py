"""Forms generated from what an integration declares, so a new connector gets its console
forms for free: the install form from its ``config_schema`` (string, enum, integer and
boolean fields; nested objects as fieldsets) and the authorize form from its credential
type (secret inputs are password inputs, always blank: a stored secret is never shown).

A field is a dict the templates render (``templates/integrations/_field.html``):
``{name, label, help, kind, required, value, choices, minimum, maximum, placeholder,
fields}``; ``name`` is the form input's name and also the API field an error names
(``config.base_url``), so errors are shown next to their input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import ImmutableMultiDict

from service_catalog.core.errors import Problem, invalid_parameters_from
from service_catalog.integrations.schemas import CREDENTIAL_TYPES

CONFIG = "config"


def _field(name: str, spec: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    kind = str(spec.get("type", "string"))
    full = f"{prefix}.{name}"
    help_text = str(spec.get("description") or "")
    default = spec.get("default")
    field: dict[str, Any] = {
        "name": full,
        "id": re.sub(r"[^A-Za-z0-9_-]+", "-", full).strip("-"),
        "label": str(spec.get("display_name") or name),
        "help": help_text,
        "kind": kind,
        "required": bool(spec.get("required")),
        "default": default,
        "minimum": spec.get("minimum"),
        "maximum": spec.get("maximum"),
        "placeholder": "",
        "choices": [],
        "fields": [],
    }
    examples = spec.get("examples") or []
    if examples:
        field["placeholder"] = str(examples[0])
    elif default is not None and kind in ("string", "integer"):
        field["placeholder"] = str(default)
    if kind == "enum":
        field["choices"] = [
            (str(c.get("value")), str(c.get("display_name") or c.get("value")))
            if isinstance(c, Mapping)
            else (str(c), str(c))
            for c in spec.get("choices") or spec.get("enum") or []
        ]
    if kind == "object":
        nested = spec.get("properties") or spec.get("fields") or {}
        field["fields"] = [_field(k, v, full) for k, v in nested.items() if isinstance(v, Mapping)]
    return field


def config_fields(schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The install form's fields of an integration's ``config_schema``, in its order."""
    return [_field(k, v, CONFIG) for k, v in schema.items() if isinstance(v, Mapping)]


def _value(field: dict[str, Any], form: ImmutableMultiDict[str, str]) -> Any:
    """The submitted value of a field, typed as its schema says (text that is no number
    is passed on as text, for the API's validation to name); None when left empty."""
    if field["kind"] == "boolean":
        return form.get(field["name"]) == "true"
    raw = form.get(field["name"], "").strip()
    if raw == "":
        return None
    if field["kind"] in ("integer", "number"):
        for number in (int, float):
            try:
                return number(raw)
            except ValueError:
                pass
        return raw
    if field["kind"] == "list":
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def config_from_form(
    fields: list[dict[str, Any]], form: ImmutableMultiDict[str, str]
) -> dict[str, Any]:
    """The object a submitted generated form stands for (an install form's ``config``, a
    criterion's ``template_parameters``), typed as the fields say; empty fields left out."""
    out: dict[str, Any] = {}
    for field in fields:
        key = field["name"].rsplit(".", 1)[-1]
        if field["kind"] == "object":
            nested = config_from_form(field["fields"], form)
            if nested:
                out[key] = nested
            continue
        value = _value(field, form)
        if value is not None:
            out[key] = value
    return out


def submitted(fields: list[dict[str, Any]], form: ImmutableMultiDict[str, str]) -> dict[str, str]:
    """What was typed into the form's (non-secret) inputs, to show it again."""
    out: dict[str, str] = {}
    for field in fields:
        if field["kind"] == "object":
            out.update(submitted(field["fields"], form))
        elif field["name"] in form:
            out[field["name"]] = form[field["name"]]
    return out


def param_fields(schema: Mapping[str, Any] | None, prefix: str) -> list[dict[str, Any]]:
    """The inputs of a criterion's ``template_parameters`` from its criteria template's
    ``schema`` (the contract's ``{type: json_schema, definition}``): a choice list for an
    ``enum``, a number input for an integer or number, a checkbox for a boolean, a
    comma-separated text input for an array; each named ``<prefix>.<parameter>``."""
    definition: Mapping[str, Any] = (schema or {}).get("definition") or {}
    required = set(definition.get("required") or [])
    out = []
    for name, spec in (definition.get("properties") or {}).items():
        choices = spec.get("enum") or (spec.get("items") or {}).get("enum") or []
        kind = "enum" if spec.get("enum") else str(spec.get("type", "string"))
        kind = "list" if kind == "array" else kind
        help_text = f"Comma-separated, of: {', '.join(choices)}." if kind == "list" else ""
        spec = {
            **spec,
            "type": kind,
            "choices": choices,
            "required": name in required,
            "display_name": name.replace("_", " ").capitalize(),
            "description": help_text,
        }
        out.append(_field(name, spec, prefix))
    return out


def param_values(fields: list[dict[str, Any]], params: Mapping[str, Any] | None) -> dict[str, str]:
    """What the inputs of :func:`param_fields` show for stored ``params``."""
    out: dict[str, str] = {}
    for field in fields:
        value = (params or {}).get(field["name"].rsplit(".", 1)[-1])
        if isinstance(value, bool):
            out[field["name"]] = "true" if value else "false"
        elif isinstance(value, list):
            out[field["name"]] = ", ".join(str(v) for v in value)
        elif value is not None:
            out[field["name"]] = str(value)
    return out


def refusal(exc: ValidationError | Problem) -> list[dict[str, Any]]:
    """Why a form's save was refused, as the API's ``invalid_parameters`` (``field``,
    ``reason``): from a schema's validation error or a 400/409 problem of a service
    function. Any other problem is raised again (it becomes the error page)."""
    if isinstance(exc, ValidationError):
        return invalid_parameters_from(list(exc.errors()))
    if exc.status not in (400, 409):
        raise exc
    return exc.invalid_parameters or [{"field": "form", "reason": exc.detail}]


def credential_fields(authorization: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The authorize form's fields of an integration's ``authorization`` descriptor: one
    password input per header of a ``multi_key_auth``; for another credential type, its
    config's fields (its secret ones as password inputs). Empty: it takes no credential."""
    if not authorization:
        return []
    kind = str(authorization.get("type", ""))
    if kind == "multi_key_auth":
        headers = (authorization.get("config") or {}).get("headers") or []
        return [
            {
                "name": f"header.{h['name']}",
                "id": f"header-{h['name']}".lower(),
                "label": str(h.get("display_name") or h["name"]),
                "help": str(h.get("description") or ""),
                "kind": "password",
                "required": h.get("required", True) is not False,
                "default": None,
            }
            for h in headers
            if isinstance(h, Mapping) and h.get("name")
        ]
    model = CREDENTIAL_TYPES.get(kind)
    if model is None:
        return []
    config_model = model.model_fields["config"].annotation
    props: Mapping[str, Any] = getattr(config_model, "model_fields", {})
    return [
        {
            "name": f"field.{name}",
            "id": f"field-{name}",
            "label": str(info.title or name.replace("_", " ").capitalize()),
            "help": str(info.description or ""),
            "kind": "password" if name in model.secret_fields else "text",
            "required": bool(info.is_required()),
            "default": None,
        }
        for name, info in props.items()
    ]


def credential_body(
    authorization: Mapping[str, Any], fields: list[dict[str, Any]], form: Mapping[str, str]
) -> dict[str, Any]:
    """The ``POST .../auth-credential`` body of a submitted authorize form."""
    kind = str(authorization.get("type", ""))
    if kind == "multi_key_auth":
        headers = [
            {"name": f["name"].split(".", 1)[1], "key": form.get(f["name"], "")}
            for f in fields
            if form.get(f["name"], "")
        ]
        return {"type": kind, "config": {"headers": headers}}
    config = {
        f["name"].split(".", 1)[1]: form[f["name"]] for f in fields if form.get(f["name"], "")
    }
    return {"type": kind, "config": config}


def error_field(api_field: str, fields: list[dict[str, Any]]) -> str:
    """The input an API error's ``field`` belongs to (``config.headers.0.key`` is the first
    header's input); ``form`` when none."""
    names = [str(f["name"]) for f in fields]
    if api_field in names or api_field in ("name", "display_name", "description"):
        return api_field
    parts = api_field.split(".")
    if parts[:2] == ["config", "headers"] and len(parts) > 2 and parts[2].isdigit():
        index = int(parts[2])
        if index < len(names):
            return names[index]
    for name in names:
        if api_field.startswith(name + "."):
            return name
    if api_field == "config" and names and names[0].startswith(("header.", "field.")):
        return names[0]  # the credential as a whole: shown at its first input
    return "form"

"""A structural check of API specification documents (OpenAPI 2, OpenAPI 3, AsyncAPI).

Neither ``openapi-spec-validator`` nor ``jsonschema`` is a runtime dependency of the
catalog, so a document is checked for what makes it usable as that kind of document: JSON
or YAML text holding one object, with the kind's version marker (``swagger: "2.0"``,
``openapi: 3.x``, ``asyncapi: 2.x/3.x``), an ``info`` object with a string ``title`` and
``version``, and its main section as an object (``paths`` for OpenAPI 2 and 3.0; one of
``paths``, ``components``, ``webhooks`` for 3.1; ``channels`` for AsyncAPI 2). Schemas
inside the document are not validated.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from service_catalog.core.errors import Problem

OAS2, OAS3, ASYNCAPI = "oas2", "oas3", "asyncapi"
TYPES = (OAS2, OAS3, ASYNCAPI)


def _load(content: str) -> Any:
    """The document of JSON or YAML text; a list of messages when it is neither."""
    try:
        return json.loads(content)
    except ValueError:
        pass
    try:
        return yaml.safe_load(content)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise _invalid([f"content is neither JSON nor YAML{where}"]) from None


def _invalid(messages: list[str]) -> Problem:
    return Problem(
        400,
        "The API specification is not valid: " + "; ".join(messages),
        invalid_parameters=[
            {"field": "content", "rule": "invalid", "reason": m, "source": "body"} for m in messages
        ],
    )


def _kind(doc: dict[str, Any]) -> tuple[str, str]:
    """(type, version marker) of a document; a 400 when it declares no known kind."""
    for key, kind in (("openapi", OAS3), ("swagger", OAS2), ("asyncapi", ASYNCAPI)):
        if key in doc:
            marker = str(doc[key])
            ok = {
                OAS3: marker.startswith("3."),
                OAS2: marker == "2.0",
                ASYNCAPI: marker.startswith(("2.", "3.")),
            }[kind]
            if not ok:
                raise _invalid([f"{key} version [{marker}] is not supported"])
            return kind, marker
    raise _invalid(
        ["not an OpenAPI or AsyncAPI document: it has no openapi, swagger or asyncapi field"]
    )


def _info_problems(info: Any) -> list[str]:
    if not isinstance(info, dict):
        return ["info must be an object"]
    return [
        f"info.{k} must be a string"
        for k in ("title", "version")
        if not isinstance(info.get(k), str)
    ]


def _body_problems(doc: dict[str, Any], kind: str, marker: str) -> list[str]:
    """What the document's main section lacks, by kind."""
    if kind == OAS3 and marker.startswith("3.1"):
        if any(isinstance(doc.get(k), dict) for k in ("paths", "components", "webhooks")):
            return []
        return ["an OpenAPI 3.1 document needs paths, components or webhooks"]
    if kind in (OAS2, OAS3):
        return [] if isinstance(doc.get("paths"), dict) else ["paths must be an object"]
    # AsyncAPI: channels required in 2.x, optional in 3.x; an object when present
    if "channels" in doc or marker.startswith("2."):
        return [] if isinstance(doc.get("channels"), dict) else ["channels must be an object"]
    return []


def check_spec(content: str, declared: str | None) -> str:
    """The type (``oas2``, ``oas3``, ``asyncapi``) of a specification document after its
    structural check; a 400 listing every problem found, or when ``declared`` is not the
    type the document is."""
    if not content.strip():
        raise _invalid(["content is empty"])
    doc = _load(content)
    if not isinstance(doc, dict):
        raise _invalid(["the document is not an object"])
    kind, marker = _kind(doc)
    messages = _info_problems(doc.get("info")) + _body_problems(doc, kind, marker)
    if declared is not None and declared != kind:
        messages.append(f"type is [{declared}] but the document is [{kind}]")
    if messages:
        raise _invalid(messages)
    return kind

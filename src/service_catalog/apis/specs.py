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


# --- a readable outline (the console's rendering of a document) -------------------------

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
#: At most this many operations or channels are outlined (the rest counted).
OUTLINE_LIMIT = 1000


def _text(value: Any) -> str:
    """A scalar as text; '' for anything else (objects never leak into the outline)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return ""


def _resolve(doc: dict[str, Any], node: Any, hops: int = 5) -> Any:
    """``node`` with a local ``$ref`` (``#/a/b``) followed (a few hops; others as they are)."""
    while hops and isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if not ref.startswith("#/"):
            return node
        target: Any = doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, dict) else None
        if target is None:
            return node
        node, hops = target, hops - 1
    return node


def _ref_name(node: Any) -> str:
    ref = node.get("$ref") if isinstance(node, dict) else None
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else ""


def _schema_type(doc: dict[str, Any], param: dict[str, Any]) -> str:
    schema = param.get("schema", param)
    if not isinstance(schema, dict):
        return ""
    named = _ref_name(schema)
    schema = _resolve(doc, schema)
    kind = _text(schema.get("type")) if isinstance(schema, dict) else ""
    if kind == "array" and isinstance(schema, dict):
        items = schema.get("items")
        inner = _ref_name(items) or (_text(items.get("type")) if isinstance(items, dict) else "")
        return f"array of {inner}" if inner else "array"
    return named or kind


def _parameters(doc: dict[str, Any], *lists: Any) -> list[dict[str, str]]:
    """Parameters of a path item and an operation (the operation's win by name and place)."""
    merged: dict[tuple[str, str], dict[str, str]] = {}
    for items in lists:
        for raw in items if isinstance(items, list) else []:
            p = _resolve(doc, raw)
            if not isinstance(p, dict):
                continue
            name, where = _text(p.get("name")), _text(p.get("in"))
            merged[(name, where)] = {
                "name": name,
                "in": where,
                "required": "required" if p.get("required") is True else "",
                "type": _schema_type(doc, p),
                "description": _text(p.get("description")),
            }
    return list(merged.values())


def _responses(doc: dict[str, Any], responses: Any) -> list[tuple[str, str]]:
    """(status code, description) of an operation's responses."""
    out: list[tuple[str, str]] = []
    for code, raw in responses.items() if isinstance(responses, dict) else []:
        r = _resolve(doc, raw)
        out.append((_text(code), _text(r.get("description")) if isinstance(r, dict) else ""))
    return out


def _operations(doc: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    out: list[dict[str, Any]] = []
    total = 0
    paths = doc.get("paths")
    for path, item in (paths or {}).items() if isinstance(paths, dict) else []:
        item = _resolve(doc, item)
        if not isinstance(item, dict):
            continue
        for method in HTTP_METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            total += 1
            if len(out) >= OUTLINE_LIMIT:
                continue
            body = _resolve(doc, op.get("requestBody"))
            content = body.get("content") if isinstance(body, dict) else None
            out.append(
                {
                    "method": method.upper(),
                    "path": _text(path),
                    "summary": _text(op.get("summary")),
                    "description": _text(op.get("description")),
                    "operation_id": _text(op.get("operationId")),
                    "deprecated": op.get("deprecated") is True,
                    "parameters": _parameters(doc, item.get("parameters"), op.get("parameters")),
                    "request_types": [_text(k) for k in content]
                    if isinstance(content, dict)
                    else [],
                    "responses": _responses(doc, op.get("responses")),
                }
            )
    return out, total


def _message_name(doc: dict[str, Any], message: Any) -> str:
    named = _ref_name(message)
    message = _resolve(doc, message)
    if isinstance(message, dict):
        if isinstance(message.get("oneOf"), list):
            return " | ".join(_message_name(doc, m) for m in message["oneOf"])
        return _text(message.get("name")) or _text(message.get("title")) or named
    return named


def _channels(doc: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    channels = doc.get("channels")
    if not isinstance(channels, dict):
        channels = {}
    out: dict[str, dict[str, Any]] = {}
    for key, raw in channels.items():
        ch = _resolve(doc, raw)
        if not isinstance(ch, dict) or len(out) >= OUTLINE_LIMIT:
            continue
        entry: dict[str, Any] = {
            "name": _text(ch.get("address")) or _text(key),
            "description": _text(ch.get("description")),
            "operations": [],
            "messages": [],
        }
        for action in ("publish", "subscribe"):  # AsyncAPI 2
            op = ch.get(action)
            if isinstance(op, dict):
                entry["operations"].append(
                    {
                        "action": action,
                        "summary": _text(op.get("summary")),
                        "operation_id": _text(op.get("operationId")),
                        "message": _message_name(doc, op.get("message")),
                    }
                )
        messages = ch.get("messages")  # AsyncAPI 3
        if isinstance(messages, dict):
            entry["messages"] = [_message_name(doc, m) or _text(k) for k, m in messages.items()]
        out[_text(key)] = entry
    operations = doc.get("operations")  # AsyncAPI 3: operations name their channel
    for op_key, raw in (operations or {}).items() if isinstance(operations, dict) else []:
        op = _resolve(doc, raw)
        if not isinstance(op, dict):
            continue
        ref = op.get("channel", {}).get("$ref") if isinstance(op.get("channel"), dict) else None
        key = ref.rsplit("/", 1)[-1] if isinstance(ref, str) else ""
        if key in out:
            out[key]["operations"].append(
                {
                    "action": _text(op.get("action")),
                    "summary": _text(op.get("summary")),
                    "operation_id": _text(op_key),
                    "message": "",
                }
            )
    return list(out.values()), len(channels)


def outline(content: str) -> dict[str, Any]:
    """What a reader needs of a stored document, as plain text values (never markup):
    ``kind``, ``title``, ``version``, ``description``, ``servers``; for OpenAPI
    ``operations`` (method, path, summary, description, operation id, parameters, request
    content types, responses), for AsyncAPI ``channels`` (name, description, operations,
    messages); ``total`` of them (at most :data:`OUTLINE_LIMIT` are outlined). A document
    that no longer reads answers ``{"error": ...}``."""
    try:
        doc = _load(content)
    except Problem as exc:
        return {"error": exc.detail}
    if not isinstance(doc, dict):
        return {"error": "The document is not an object"}
    raw_info = doc.get("info")
    info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
    servers = doc.get("servers")
    server_urls: list[str] = []
    if isinstance(servers, list):
        server_urls = [_text(s.get("url")) for s in servers if isinstance(s, dict)]
    elif isinstance(servers, dict):  # AsyncAPI: servers by name
        server_urls = [
            _text(s.get("url") or s.get("host")) for s in servers.values() if isinstance(s, dict)
        ]
    if isinstance(doc.get("host"), str):  # Swagger 2
        server_urls.append(_text(doc["host"]) + _text(doc.get("basePath")))
    result: dict[str, Any] = {
        "kind": "asyncapi" if "asyncapi" in doc else "openapi",
        "spec_version": _text(doc.get("asyncapi") or doc.get("openapi") or doc.get("swagger")),
        "title": _text(info.get("title")),
        "version": _text(info.get("version")),
        "description": _text(info.get("description")),
        "servers": [s for s in server_urls if s],
    }
    if result["kind"] == "asyncapi":
        result["channels"], result["total"] = _channels(doc)
    else:
        result["operations"], result["total"] = _operations(doc)
    return result

"""Entity selectors compiled to SQL over catalog services: which services a scorecard
targets is one WHERE clause, for the evaluation and for the result lists alike."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, false, func, select, true

from service_catalog.catalog_services.models import CatalogService, ServiceDocument
from service_catalog.resources.models import Resource, ResourceMapping


def _like(col: Any, value: str) -> ColumnElement[bool]:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    clause: ColumnElement[bool] = col.like(f"%{escaped}%", escape="\\")
    return clause


def _string(col: Any, operator: str, value: str) -> ColumnElement[bool]:
    if operator == "eq":
        clause: ColumnElement[bool] = col == value
        return clause
    return _like(col, value)


def _count(operator: str, count: Any, value: float) -> Any:
    if operator == "eq":
        return count == value
    if operator == "gte":
        return count >= value
    return count <= value


def _custom_field(p: dict[str, Any]) -> ColumnElement[bool]:
    node = CatalogService.custom_fields[
        (p["field"], p["subfield"]) if p.get("subfield") else p["field"]
    ]
    value, op = p["value"], p["operator"]
    if isinstance(value, bool):
        clause: ColumnElement[bool] = node.as_boolean() == value
        return clause
    if isinstance(value, str):
        return _string(node.as_string(), op, value)
    num = node.as_float()
    compared: ColumnElement[bool] = {"eq": num == value, "lt": num < value, "gt": num > value}[op]
    return compared


def _resource_count(p: dict[str, Any]) -> ColumnElement[bool]:
    count = (
        select(func.count())
        .select_from(ResourceMapping)
        .join(Resource, Resource.id == ResourceMapping.resource_id)
        .where(
            ResourceMapping.service_id == CatalogService.id,
            Resource.type == p["resource_type"],
            Resource.integration_name == p["integration"],
        )
        .scalar_subquery()
    )
    clause: ColumnElement[bool] = _count(p["operator"], count, p["value"])
    return clause


def selector_clause(selector: dict[str, Any] | None) -> ColumnElement[bool]:
    """The WHERE clause of the services a stored ``entity_selector`` targets (validated
    when stored, see :class:`service_catalog.scorecards.schemas.ScorecardIn`); no
    selector targets every service, as ``all``."""
    kind = (selector or {}).get("selector") or "all"
    p: dict[str, Any] = (selector or {}).get("selector_parameters") or {}
    svc = CatalogService
    if kind == "all":
        return true()
    if kind == "ids":
        return svc.id.in_([uuid.UUID(str(i)) for i in p["ids"]]) if p["ids"] else false()
    if kind in ("name", "display_name"):
        return _string(getattr(svc, kind), p["operator"], p["value"])
    if kind == "label":
        return _string(svc.labels[p["label_key"]].as_string(), p["operator"], p["value"])
    if kind == "has_label_key":
        has_key: ColumnElement[bool] = svc.labels[p["label_key"]].as_string().is_not(None)
        return has_key
    if kind == "custom_field":
        return _custom_field(p)
    if kind == "has_docs":
        docs: ColumnElement[bool] = (
            select(ServiceDocument.id).where(ServiceDocument.service_id == svc.id).exists()
        )
        return docs
    if kind == "api_count":
        # This catalog has no APIs yet: every service has none.
        return true() if _count(p["operator"], 0, p["value"]) else false()
    if kind == "resource_count":
        return _resource_count(p)
    raise ValueError(f"unknown selector {kind!r}")

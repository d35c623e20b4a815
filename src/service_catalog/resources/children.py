"""A resource's children, read from its upstream through its connector.

``GET /v1/resources/{id}/children/{kind}`` serves every connector that declares children
(``Connector.child_kinds``): a Traceable Service's ``endpoints``, for one. Nothing is
stored: each page is read from the upstream with the instance's credential.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from service_catalog.auth.access import Rights
from service_catalog.core import query as q
from service_catalog.core.errors import Problem, bad_request, not_found
from service_catalog.core.openapi import query_param
from service_catalog.integrations import registry
from service_catalog.integrations.connections import build_connector
from service_catalog.integrations.connectors.base import ChildQuery, ConnectorError
from service_catalog.integrations.credentials import scrub
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.resources.queries import get_resource
from service_catalog.settings import Settings

log = logging.getLogger("service_catalog.resources")

#: The OpenAPI query parameters of a children page.
PAGE_PARAMS: list[dict[str, Any]] = [
    query_param("page[size]", {"type": "integer"}, "Children per page (1-1000, default 10)"),
    query_param("page[number]", {"type": "integer"}, "Page number, from 1"),
]


def children_page(
    session: Session,
    *,
    resource_id: str,
    kind: str,
    query: list[tuple[str, str]],
    settings: Settings,
    rights: Rights,
) -> dict[str, Any]:
    """One number page (``page[size]``, ``page[number]``) of the resource's children of
    ``kind``, read from the upstream with the instance's credential.

    404 for an unknown resource or one whose connector lists no such children; 400 when
    its instance is not authorized; 502 (with the reason, never the credential) when the
    upstream fails. Read as the resource (:func:`get_resource` with ``rights``).
    """
    page = q.page_request(dict(query))
    row = get_resource(session, resource_id=resource_id, rights=rights)
    integ = registry.get_integration(row.integration_name)
    kinds = integ.child_kinds(row.type) if integ else ()
    if kind not in kinds:
        offered = f"; it has {', '.join(kinds)}" if kinds else ""
        raise Problem(
            404,
            f"Resource [{resource_id}] is a {row.type} of integration "
            f"[{row.integration_name}], which lists no [{kind}] children of "
            f"it{offered}",
        )
    display = integ.display_name if integ else row.integration_name
    inst = session.get(IntegrationInstance, row.instance_id)
    if inst is None or not inst.authorized:
        name = inst.name if inst else row.instance_id
        raise bad_request(
            f"Invalid request: integration instance [{name}] is not authorized; "
            f"its {kind} cannot be read from {display} until it is",
            "id",
            "the resource's integration instance is not authorized",
            source="path",
        )
    connector = build_connector(session, inst, settings)
    if connector is None:  # a push-only integration declares no children
        raise not_found("Resource", resource_id)
    try:
        result = connector.list_children(
            ChildQuery(
                row.type,
                dict(row.config or {}),
                kind,
                limit=page.size,
                offset=(page.number - 1) * page.size,
            )
        )
    except ConnectorError as exc:
        log.warning("reading the %s of resource %s failed: %s", kind, resource_id, exc.kind)
        raise Problem(
            502, f"{display} could not list the {kind}: {scrub(exc.message, connector.credential)}"
        ) from None
    finally:
        connector.close()
    return {"data": result.items, "meta": q.page_meta(page, result.total)}


__all__ = ["PAGE_PARAMS", "children_page"]

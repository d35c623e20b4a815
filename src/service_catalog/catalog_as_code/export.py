"""``service-catalog export``: the catalog as catalog files, so that applying what it
writes changes nothing. Services carry what catalog files can say (never a secret: no
credential, no integration data), teams their name, description and labels."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service_catalog.auth.models import Team
from service_catalog.catalog_as_code import consumers, relations
from service_catalog.catalog_as_code.documents import API_VERSION
from service_catalog.catalog_as_code.models import CatalogServiceSource
from service_catalog.catalog_as_code.service import chunks
from service_catalog.catalog_services.models import CatalogService
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.resources.models import Resource, ResourceMapping

_PAGE = 2000


def export_documents(session: Session) -> Iterator[dict[str, Any]]:
    """Every team, then every catalog service (by name), as catalog documents."""
    for team in session.scalars(
        select(Team).where(Team.system_team.is_(False)).order_by(Team.name)
    ):
        doc: dict[str, Any] = {"apiVersion": API_VERSION, "kind": "Team", "name": team.name}
        if team.description:
            doc["description"] = team.description
        if team.labels:
            doc["labels"] = team.labels
        yield doc
    after = ""
    while True:
        rows = session.execute(
            select(
                CatalogService.id,
                CatalogService.name,
                CatalogService.display_name,
                CatalogService.description,
                CatalogService.labels,
                CatalogService.custom_fields,
                Team.name.label("owner"),
            )
            .outerjoin(CatalogServiceSource, CatalogServiceSource.service_id == CatalogService.id)
            .outerjoin(Team, Team.id == CatalogServiceSource.owner_team_id)
            .where(CatalogService.name > after)
            .order_by(CatalogService.name)
            .limit(_PAGE)
        ).all()
        if not rows:
            return
        after = rows[-1].name
        ids = [r.id for r in rows]
        resources = _resources_of(session, ids)
        extra = relations.export_relations(session, {r.id: r.name for r in rows})
        for service_id, consumed in consumers.export_consumed(
            session, {r.id: r.name for r in rows}
        ).items():
            extra.setdefault(service_id, {}).setdefault("apis", []).extend(consumed)
        for row in rows:
            yield _service_doc(row, resources.get(row.id), extra.get(row.id, {}))


def _service_doc(
    row: Any, resources: list[dict[str, Any]] | None, extra: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "CatalogService",
        "name": row.name,
        "display_name": row.display_name,
    }
    if row.description is not None:
        doc["description"] = row.description
    if row.labels:
        doc["labels"] = row.labels
    if row.custom_fields:
        doc["custom_fields"] = row.custom_fields
    if row.owner is not None:
        doc["owner"] = row.owner
    if resources:
        doc["resources"] = resources
    doc.update(extra)
    return doc


def _resources_of(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Each service's mapped resources by natural key, in a stable order."""
    out: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for part in chunks(ids):
        for row in session.execute(
            select(
                ResourceMapping.service_id,
                IntegrationInstance.name,
                Resource.type,
                Resource.config,
            )
            .join(Resource, Resource.id == ResourceMapping.resource_id)
            .join(IntegrationInstance, IntegrationInstance.id == Resource.instance_id)
            .where(ResourceMapping.service_id.in_(part))
            .order_by(
                ResourceMapping.service_id, IntegrationInstance.name, Resource.type, Resource.id
            )
        ):
            out.setdefault(row.service_id, []).append(
                {"integration_instance": row.name, "type": row.type, "config": row.config}
            )
    return out

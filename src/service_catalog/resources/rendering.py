"""Resources and resource mappings as the contract shows them (``CatalogResource``,
``CatalogResourceRef``, ``CatalogResourceMapping``): a fixed number of queries per list,
never one per row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service_catalog.auth.access import ALL, Rights
from service_catalog.auth.guard import readable_services
from service_catalog.catalog_services.models import CatalogService
from service_catalog.core.query import keys_in
from service_catalog.core.render import ts
from service_catalog.integrations import registry
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.resources.models import Resource, ResourceMapping
from service_catalog.resources.store import column_in


def integration_ref(instance: IntegrationInstance) -> dict[str, Any]:
    """``integration`` of a resource (``IntegrationRef``)."""
    return {
        "name": instance.integration_name,
        "display_name": registry.display_name_of(instance.integration_name),
        "instance": {
            "id": str(instance.id),
            "name": instance.name,
            "display_name": instance.display_name,
        },
    }


def resource_dicts(
    session: Session, rows: Sequence[Resource], *, full: bool = True, rights: Rights = ALL
) -> list[dict[str, Any]]:
    """Resources as the contract's ``CatalogResource`` (``full``) or ``CatalogResourceRef``.

    Two queries for the whole list (instances, mapping counts), never one per row;
    ``service_associations`` counts the mappings to services ``rights`` may read.
    """
    if not rows:
        return []
    inst_ids = {r.instance_id for r in rows}
    instances = {
        i.id: integration_ref(i)
        for i in session.scalars(
            select(IntegrationInstance).where(IntegrationInstance.id.in_(inst_ids))
        )
    }
    counts: dict[str, int] = {}
    if full:
        counts = dict(
            session.execute(
                select(ResourceMapping.resource_id, func.count(ResourceMapping.id))
                .where(column_in(session, ResourceMapping.resource_id, [r.id for r in rows]))
                .where(*_readable_mappings(rights, session.get_bind().dialect.name))
                .group_by(ResourceMapping.resource_id)
            ).all()
        )
    out = []
    for r in rows:
        item: dict[str, Any] = {
            "id": r.id,
            "name": r.name,
            "integration": instances.get(r.instance_id)
            or {
                "name": r.integration_name,
                "display_name": r.integration_name,
                "instance": {"id": str(r.instance_id), "name": "", "display_name": ""},
            },
            "type": r.type,
            "config": r.config or {},
        }
        if full:
            item.update(
                {
                    "integration_data": r.integration_data,
                    "archived": bool(r.archived),
                    "service_associations": int(counts.get(r.id, 0)),
                    "discovered": bool(r.discovered),
                    "last_discovered_at": ts(r.last_discovered_at),
                    "created_at": ts(r.created_at),
                    "updated_at": ts(r.updated_at),
                }
            )
        out.append(item)
    return out


def to_dict(session: Session, row: Resource, rights: Rights = ALL) -> dict[str, Any]:
    """One resource as ``CatalogResource`` (as ``rights`` may see it)."""
    return resource_dicts(session, [row], rights=rights)[0]


def _readable_mappings(rights: Rights, dialect: str) -> list[Any]:
    services = readable_services(rights)
    if services is None:
        return []
    return [keys_in(ResourceMapping.service_id, services, dialect)]


def mapping_dicts(session: Session, rows: Sequence[ResourceMapping]) -> list[dict[str, Any]]:
    """Mappings as the contract's ``CatalogResourceMapping`` (three queries per list)."""
    if not rows:
        return []
    resources = {
        r.id: r
        for r in session.scalars(
            select(Resource).where(
                column_in(session, Resource.id, list({m.resource_id for m in rows}))
            )
        )
    }
    refs = {d["id"]: d for d in resource_dicts(session, list(resources.values()), full=False)}
    services = {
        s.id: s
        for s in session.scalars(
            select(CatalogService).where(CatalogService.id.in_({m.service_id for m in rows}))
        )
    }
    out = []
    for m in rows:
        svc = services[m.service_id]
        out.append(
            {
                "id": str(m.id),
                "resource": refs[m.resource_id],
                "service": {"id": str(svc.id), "name": svc.name, "display_name": svc.display_name},
                "created_at": ts(m.created_at),
            }
        )
    return out


__all__ = ["integration_ref", "mapping_dicts", "resource_dicts", "to_dict"]

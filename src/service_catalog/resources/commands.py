"""Changing resources: initialize one, push many (through the sync's write path), archive
or restore one. Every user action is recorded in the audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service_catalog.auth.access import INTEGRATION_ADMIN
from service_catalog.auth.guard import require_any
from service_catalog.auth.service import Actor
from service_catalog.core.db import utcnow
from service_catalog.core.errors import not_found
from service_catalog.core.jsonindex import nested_rows
from service_catalog.events.service import record_action
from service_catalog.integrations.connectors.base import ResourceRecord
from service_catalog.integrations.instances import get_instance
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.resources.ids import looks_like_resource_id, resource_id
from service_catalog.resources.ingest import UpsertResult, upsert_resources
from service_catalog.resources.models import Resource, ResourceAttribute, ResourceMapping
from service_catalog.resources.schemas import ResourcePushItem
from service_catalog.resources.store import column_in
from service_catalog.resources.validation import check_resource, json_checked, no_nul


def initialize_resource(
    session: Session,
    *,
    instance: IntegrationInstance,
    type: str,
    config: dict[str, Any],
    actor: Actor,
    field: str = "",
    for_mapping: bool = False,
) -> tuple[Resource, bool]:
    """The resource ``(instance, type, config)``, created with name and integration_data
    null when it does not exist yet. Returns ``(resource, created)``. The type must be one
    of the integration's resource types (400 otherwise). Needs Integration Admin, unless
    ``for_mapping`` (a Service Admin maps a resource by its config: its mapping checked
    the right to map)."""
    if not for_mapping:
        require_any(actor.rights, INTEGRATION_ADMIN)
    check_resource(instance, type, config, field)
    rid = resource_id(instance.id, type, config)
    row = session.get(Resource, rid)
    if row is not None:
        return row, False
    now = utcnow()
    row = Resource(
        id=rid,
        instance_id=instance.id,
        integration_name=instance.integration_name,
        type=type,
        config=config,
        name=None,
        integration_data=None,
        content_hash=None,
        archived=False,
        discovered=True,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():  # a concurrent initialize of the same resource wins
            session.add(row)
            session.flush()
            attrs = nested_rows(rid, "config", config)  # (no integration_data yet)
            if attrs:
                session.execute(insert(ResourceAttribute), attrs)
    except IntegrityError:
        existing = session.get(Resource, rid)
        if existing is None:
            raise
        return existing, False
    record_action(
        session,
        actor=actor,
        type="resource.initialized",
        resource_id=rid,
        detail=f"Resource {type} {rid} initialized on instance {instance.name} by {actor.name}",
        attributes={"instance": instance.name, "type": type},
    )
    return row, True


def push_resources(
    session: Session, *, instance_id: str, items: Sequence[ResourcePushItem], actor: Actor
) -> tuple[list[Resource], UpsertResult]:
    """Bulk upsert pushed resources (``PUT .../resources``) through the sync's own write
    path. Resources not named are left alone (a push is not a complete listing). Returns
    the upserted resources in request order (a duplicate once, last wins) and the counts."""
    require_any(actor.rights, INTEGRATION_ADMIN)
    instance = get_instance(session, instance_id=instance_id)
    for i, item in enumerate(items):
        check_resource(instance, item.type, item.config, f"data.{i}.")
        if item.name is not None:
            no_nul(item.name, f"data.{i}.name")
        json_checked(item.integration_data, f"data.{i}.integration_data")
    records = [
        ResourceRecord(
            type=it.type, config=it.config, name=it.name, integration_data=it.integration_data
        )
        for it in items
    ]
    result = upsert_resources(
        session, instance=instance, records=records, run_id=None, now=utcnow()
    )
    if result.created or result.updated:
        record_action(
            session,
            actor=actor,
            type="resource.pushed",
            detail=f"{result.created} resources created and {result.updated} updated "
            f"on instance {instance.name} by {actor.name}",
            attributes={
                "instance": instance.name,
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
            },
        )
    rows = {
        r.id: r
        for r in session.scalars(
            select(Resource).where(column_in(session, Resource.id, result.ids))
        )
    }
    return [rows[i] for i in result.ids if i in rows], result


def update_resource(
    session: Session, *, instance_id: str, resource_id: str, archived: bool | None, actor: Actor
) -> Resource:
    """Archive or restore a resource. Archiving removes its mappings (restoring does not
    bring them back)."""
    require_any(actor.rights, INTEGRATION_ADMIN)
    instance = get_instance(session, instance_id=instance_id)
    row = session.get(Resource, resource_id) if looks_like_resource_id(resource_id) else None
    if row is None or row.instance_id != instance.id:
        raise not_found("Resource", resource_id)
    if archived is None or bool(row.archived) == archived:
        return row
    row.archived = archived
    row.updated_at = utcnow()
    removed: list[uuid.UUID] = []
    if archived:
        removed = list(
            session.scalars(
                select(ResourceMapping.service_id).where(ResourceMapping.resource_id == row.id)
            )
        )
        session.execute(delete(ResourceMapping).where(ResourceMapping.resource_id == row.id))
        for sid in removed:
            record_action(
                session,
                actor=actor,
                type="resource_mapping.deleted",
                service_id=sid,
                resource_id=row.id,
                detail=f"Resource {row.name or row.id} unmapped because it was "
                f"archived by {actor.name}",
                attributes={"reason": "archived"},
            )
    verb = "archived" if archived else "restored"
    record_action(
        session,
        actor=actor,
        type=f"resource.{verb}",
        resource_id=row.id,
        detail=f"Resource {row.name or row.id} {verb} by {actor.name}",
        attributes={"instance": instance.name, "mappings_removed": len(removed)},
    )
    session.flush()
    return row


__all__ = ["initialize_resource", "push_resources", "update_resource"]

"""The seed's Traceable "entities": import a Traceable service, map it to a catalog service.

Service functions behind :mod:`.routes` (this module and that one are the part of the
Traceable package that works with the catalog's domains; the rest knows only the connector
contract):

* :func:`import_entity` - ``POST /v2/catalog/entities`` ``{name, type: "traceable",
  metadata: {service_id}}``: import the ``traceable_service`` resource of the Traceable
  instance (the only one, or the one named by ``integration_instance``) under the given
  name, which holds until the next sync that finds the service writes Traceable's own.
* :func:`map_entity` - ``POST /v2/catalog/entity-mappings`` ``{catalog_entity,
  traceable_service_id}``: import when needed, then map it to the catalog service.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from service_catalog.auth.access import INTEGRATION_ADMIN
from service_catalog.auth.guard import check_service, require_any
from service_catalog.auth.service import Actor
from service_catalog.catalog_services.service import find_service
from service_catalog.core.db import utcnow
from service_catalog.core.errors import bad_request, not_found
from service_catalog.events.models import Event
from service_catalog.events.service import record_action
from service_catalog.integrations.connectors.traceable.data import RESOURCE_TYPE
from service_catalog.integrations.instances import find_instance
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.resources.models import Resource, ResourceMapping
from service_catalog.resources.service import create_mapping, initialize_resource

INTEGRATION = "traceable"
Name = Annotated[str, StringConstraints(min_length=1, max_length=255, strict=True)]
ServiceId = Annotated[str, StringConstraints(min_length=1, max_length=255, strict=True)]


class TraceableMetadata(BaseModel):
    """The Traceable side of an entity: the Traceable service id."""

    model_config = ConfigDict(extra="forbid")

    service_id: ServiceId = Field(examples=["svc-auth-123"])


class EntityCreate(BaseModel):
    """Body of ``POST /v2/catalog/entities`` (the seed's *Import entities*)."""

    model_config = ConfigDict(extra="forbid")

    name: Name = Field(examples=["traceable-auth-service"])
    type: Literal["traceable"] = Field(examples=["traceable"])
    metadata: TraceableMetadata
    integration_instance: Name | None = Field(
        default=None,
        description="The Traceable integration instance (id or name); needed "
        "only when there are several.",
    )


class EntityMappingCreate(BaseModel):
    """Body of ``POST /v2/catalog/entity-mappings`` (the seed's *Map entities*)."""

    model_config = ConfigDict(extra="forbid")

    catalog_entity: Name = Field(
        description="The catalog service, by name or id.", examples=["my-service"]
    )
    traceable_service_id: ServiceId = Field(examples=["svc-auth-123"])
    integration_instance: Name | None = Field(
        default=None,
        description="The Traceable integration instance (id or name); needed "
        "only when there are several.",
    )


def traceable_instance(session: Session, ref: str | None) -> IntegrationInstance:
    """The Traceable instance named by ``ref`` (id or name), or the only one there is.

    400 when there is none, when ``ref`` names a non-Traceable instance, or when there
    are several and ``ref`` is missing; 404 when ``ref`` names no instance.
    """
    if ref is not None:
        inst = find_instance(session, ref)
        if inst is None:
            raise not_found("Integration instance", ref)
        if inst.integration_name != INTEGRATION:
            raise bad_request(
                f"Invalid request: integration instance [{inst.name}] is a "
                f"{inst.integration_name} instance, not a Traceable one",
                "integration_instance",
                "must name a Traceable integration instance",
            )
        return inst
    rows = list(
        session.scalars(
            select(IntegrationInstance)
            .where(IntegrationInstance.integration_name == INTEGRATION)
            .order_by(IntegrationInstance.name)
            .limit(11)
        )
    )
    if not rows:
        raise bad_request(
            "Invalid request: there is no Traceable integration instance; install one first "
            "(POST /v1/integration-instances with integration_name 'traceable')",
            "integration_instance",
            "no Traceable integration instance exists",
            rule="required",
        )
    if len(rows) > 1:
        names = ", ".join(r.name for r in rows[:10])
        raise bad_request(
            f"Invalid request: there are several Traceable integration instances ({names}); "
            "say which one with integration_instance (its id or name)",
            "integration_instance",
            "is required when there are several Traceable integration instances",
            rule="required",
        )
    return rows[0]


def import_entity(session: Session, *, data: EntityCreate, actor: Actor) -> tuple[Resource, bool]:
    """Import the Traceable service as a catalog entity named ``data.name``;
    ``(resource, imported)``.

    The first import of a service (whether or not a sync already found it) gives its
    resource that name and is ``imported`` (201). A later import answers 200: the same
    import repeated changes nothing (idempotent), one under another name renames it. The
    name holds until the next sync that finds the service in Traceable, which writes
    Traceable's own name and data (an import clears the stored content hash so that sync
    rewrites it). Needs Integration Admin.
    """
    require_any(actor.rights, INTEGRATION_ADMIN)
    inst = traceable_instance(session, data.integration_instance)
    row, _ = initialize_resource(
        session,
        instance=inst,
        type=RESOURCE_TYPE,
        config={"service_id": data.metadata.service_id},
        actor=actor,
    )
    last = session.scalar(
        select(Event.attributes)
        .where(Event.type == "resource.imported", Event.resource_id == row.id)
        .order_by(Event.ts.desc())
        .limit(1)
    )
    if last is not None and last.get("name") == data.name:
        return row, False
    row.name, row.content_hash, row.updated_at = data.name, None, utcnow()
    record_action(
        session,
        actor=actor,
        type="resource.imported",
        resource_id=row.id,
        detail=f"Traceable service {data.metadata.service_id} imported as "
        f"{data.name} on instance {inst.name} by {actor.name}",
        attributes={
            "instance": inst.name,
            "service_id": data.metadata.service_id,
            "name": data.name,
        },
    )
    session.flush()
    return row, last is None


def map_entity(session: Session, *, data: EntityMappingCreate, actor: Actor) -> ResourceMapping:
    """Map the Traceable service to the catalog service ``catalog_entity`` (importing the
    service first when it is not yet a resource). 404 for an unknown catalog service,
    409 when the mapping exists. Needs Service Admin of the catalog service (404 for a
    principal that may not read it, 403 for one that only reads it)."""
    svc = find_service(session, data.catalog_entity)
    missing = not_found("Catalog service", data.catalog_entity)
    if svc is None:
        raise missing
    check_service(actor.rights, svc.id, change=True, missing=missing)
    inst = traceable_instance(session, data.integration_instance)
    return create_mapping(
        session,
        service=data.catalog_entity,
        resource={
            "integration_instance": str(inst.id),
            "type": RESOURCE_TYPE,
            "config": {"service_id": data.traceable_service_id},
        },
        actor=actor,
    )

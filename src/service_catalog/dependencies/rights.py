"""Who may see and change what hangs off a catalog service (its dependencies, its API
mappings), per the roles of README "Access".

Reading follows the service's visibility (Service Admin or Service Viewer on it, or an
Organization Admin): a service the actor may not read answers 404 exactly as a missing
one does, so nobody learns of a service it may not see. Changing needs Service Admin on
the service (403 when the actor may read it but not change it).
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from service_catalog.auth.access import SERVICE_ADMIN, SERVICE_VIEWER
from service_catalog.auth.service import Actor
from service_catalog.catalog_services.models import CatalogService
from service_catalog.catalog_services.service import find_service
from service_catalog.core.errors import Problem
from service_catalog.core.lookup import missing

READERS = (SERVICE_ADMIN, SERVICE_VIEWER)


def may_read(actor: Actor, service_id: uuid.UUID | str) -> bool:
    """Whether ``actor`` may read the catalog service ``service_id``."""
    sid = str(service_id)
    return any(actor.rights.has(role, sid) for role in READERS)


def readable_ids(actor: Actor) -> frozenset[uuid.UUID] | None:
    """The catalog services ``actor`` may read: None when every one."""
    ids = actor.rights.service_ids(*READERS)
    if ids is None:
        return None
    out = set()
    for sid in ids:
        try:
            out.add(uuid.UUID(sid))
        except ValueError:
            continue
    return frozenset(out)


def readable_service(session: Session, actor: Actor, ref: str) -> CatalogService:
    """The catalog service ``ref`` (id or name) if ``actor`` may read it; else a 404, the
    same as for a service that does not exist."""
    svc = find_service(session, ref)
    if svc is None or not may_read(actor, svc.id):
        raise missing("Catalog service", ref, "/v1/catalog-services")
    return svc


def administered_service(session: Session, actor: Actor, ref: str) -> CatalogService:
    """The catalog service ``ref`` if ``actor`` is its Service Admin; a 404 when the actor
    may not even read it, a 403 when it may read but not change it."""
    svc = readable_service(session, actor, ref)
    if not actor.rights.has(SERVICE_ADMIN, str(svc.id)):
        raise Problem(
            403,
            f"You must have the [{SERVICE_ADMIN}] role on catalog service [{svc.name}] "
            "to perform this action",
            title="Permission denied",
        )
    return svc

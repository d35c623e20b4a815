"""Recording and reading events."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from service_catalog.auth.service import Actor
from service_catalog.events.models import Event


def record_action(
    session: Session,
    *,
    actor: Actor,
    type: str,
    detail: str,
    service_id: uuid.UUID | None = None,
    resource_id: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> Event:
    """Record a user action in the audit trail, in the caller's transaction.

    ``type`` follows ``subject.action`` (``catalog_service.created``). Callers pass
    only non-secret attributes.
    """
    event = Event(
        type=type,
        service_id=service_id,
        resource_id=resource_id,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_name=actor.name,
        attributes=attributes or {},
        detail=detail,
    )
    session.add(event)
    return event

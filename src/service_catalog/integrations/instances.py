"""Finding an integration instance by the reference a user gives (its id or its name): the
one lookup every domain uses, on the instance model alone so that any of them can import it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service_catalog.auth.access import Rights
from service_catalog.auth.guard import INTEGRATION_READERS, require_any
from service_catalog.core.lookup import find_by_id_or_name, get_by_id_or_name
from service_catalog.integrations.models import IntegrationInstance


def find_instance(session: Session, ref: str) -> IntegrationInstance | None:
    """The integration instance whose id is ``ref`` or, failing that, whose name is."""
    return find_by_id_or_name(session, IntegrationInstance, ref)


def get_instance(
    session: Session, *, instance_id: str, rights: Rights | None = None
) -> IntegrationInstance:
    """:func:`find_instance`, or a 404 saying what paths take and where to list them; with
    ``rights`` (the asking principal's), first a 403 unless they read integrations."""
    if rights is not None:
        require_any(rights, *INTEGRATION_READERS)
    return get_by_id_or_name(
        session,
        IntegrationInstance,
        instance_id,
        what="Integration instance",
        listing="/v1/integration-instances",
    )


__all__ = ["find_instance", "get_instance"]

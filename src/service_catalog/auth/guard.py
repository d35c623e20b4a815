"""The checks every domain service makes of an actor's rights (issue 12, enforcement).

One place says who may read and change what, so the API and the console never disagree:

* a catalog service is **read** by a Service Viewer or Service Admin of it (or on ``*``);
  a principal that may not read it gets the same 404 as for a service that does not exist,
  and never sees it in a list, a total, a facet, a mapping or an event;
* it is **changed** (updated, deleted, resources mapped to it or unmapped) by its Service
  Admin; one who may read it but not change it gets a 403 naming the role it lacks;
* organization-wide work (creating services, integrations, the audit log) needs a role on
  ``*``: a 403 naming the roles that would do.

An Organization Admin holds every role everywhere (:class:`Rights`).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable

from service_catalog.auth.access import (
    INTEGRATION_ADMIN,
    INTEGRATION_VIEWER,
    ORGANIZATION_ADMIN,
    SERVICE_ADMIN,
    SERVICE_CREATOR,
    SERVICE_VIEWER,
    Rights,
)
from service_catalog.core.errors import Problem

#: Roles that read a catalog service (on it, or on ``*``).
SERVICE_READERS = (SERVICE_VIEWER, SERVICE_ADMIN)
#: Roles that read integrations, their instances (never secrets), sync state and runs.
INTEGRATION_READERS = (INTEGRATION_ADMIN, INTEGRATION_VIEWER, SERVICE_CREATOR)
#: Roles that read every resource (others read those mapped to a service they read).
RESOURCE_READERS = (SERVICE_CREATOR, INTEGRATION_ADMIN, INTEGRATION_VIEWER)
#: Roles that read integration events on no catalog service.
UNMAPPED_EVENT_READERS = (INTEGRATION_ADMIN, INTEGRATION_VIEWER)


def denied(role: str, where: str = "") -> Problem:
    """The 403 of a principal that lacks ``role`` (named in the body) ``where``."""
    scope = f" {where}" if where else ""
    return Problem(
        403,
        f"Permission denied: requires {role}{scope}",
        title="Permission denied",
        denial=True,
    )


def _roles_phrase(roles: Iterable[str]) -> str:
    names = list(dict.fromkeys([*roles, ORGANIZATION_ADMIN]))
    return " or ".join(names) if len(names) < 3 else ", ".join(names[:-1]) + " or " + names[-1]


def require_any(rights: Rights, *roles: str) -> None:
    """A 403 naming ``roles`` unless the principal holds one of them on every service."""
    if not any(rights.has(role) for role in roles):
        raise denied(_roles_phrase(roles))


def reads_service(rights: Rights, service_id: uuid.UUID | str) -> bool:
    """Whether the principal may see the catalog service (an in-memory check)."""
    sid = str(service_id)
    return rights.has(SERVICE_VIEWER, sid) or rights.has(SERVICE_ADMIN, sid)


def check_service(
    rights: Rights, service_id: uuid.UUID | str, *, change: bool, missing: Problem
) -> None:
    """``missing`` (the 404 of a service that does not exist) unless the principal reads
    the service; a 403 naming Service Admin when ``change`` and it only reads it."""
    if not reads_service(rights, service_id):
        # the same 404 as for no such service; marked a denial for the audit trail only
        raise Problem(missing.status, missing.detail, title=missing.title, denial=True)
    if change and not rights.has(SERVICE_ADMIN, str(service_id)):
        raise denied(SERVICE_ADMIN, "on this service")


def readable_services(rights: Rights) -> frozenset[uuid.UUID] | None:
    """The ids of the catalog services the principal reads: None when every one (lists
    then need no extra clause), else a set (empty: it reads none)."""
    ids = rights.service_ids(*SERVICE_READERS)
    return None if ids is None else _as_uuids(ids)


@functools.lru_cache(maxsize=256)
def _as_uuids(ids: frozenset[str]) -> frozenset[uuid.UUID]:
    """Entity ids as UUIDs (memoised: the same principal's set from request to request)."""
    out = set()
    for sid in ids:
        try:
            out.add(uuid.UUID(sid))
        except ValueError:  # not a service id: grants nothing
            continue
    return frozenset(out)


def reads_all_resources(rights: Rights) -> bool:
    """Whether the principal reads every resource (not only those mapped to its services)."""
    return any(rights.has(role) for role in RESOURCE_READERS) or (
        rights.service_ids(*SERVICE_READERS) is None
    )


__all__ = [
    "INTEGRATION_READERS",
    "RESOURCE_READERS",
    "SERVICE_READERS",
    "UNMAPPED_EVENT_READERS",
    "check_service",
    "denied",
    "readable_services",
    "reads_all_resources",
    "reads_service",
    "require_any",
]

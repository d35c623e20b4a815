"""The catalog's roles and what a principal holds of them: :class:`Rights`.

At the bottom of the domains, so that every domain service (catalog services, resources,
integrations, events) can ask ``actor.rights.has(...)`` or restrict a list to
``actor.rights.service_ids(...)``. Rights are resolved once per token at authentication
(:func:`resolve_rights`, two indexed queries) and cached with it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import event, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service_catalog.auth.models import TEAM, RoleAssignment, TeamMembership

if TYPE_CHECKING:
    from service_catalog.auth.service import Actor

ORGANIZATION_ADMIN = "Organization Admin"
SERVICE_CREATOR = "Service Creator"
SERVICE_ADMIN = "Service Admin"
SERVICE_VIEWER = "Service Viewer"
INTEGRATION_ADMIN = "Integration Admin"
INTEGRATION_VIEWER = "Integration Viewer"
SCORECARD_ADMIN = "Scorecard Admin"
SCORECARD_VIEWER = "Scorecard Viewer"

#: Every role: name -> (key in ``GET /v3/roles``, what it grants).
ROLES: dict[str, tuple[str, str]] = {
    ORGANIZATION_ADMIN: (
        "organization_admin",
        "Everything in the catalog, access management included (users, teams, system "
        "accounts, roles, tokens).",
    ),
    SERVICE_CREATOR: (
        "service_creator",
        "Create catalog services (becoming Service Admin of each one created); read "
        "resources and integrations.",
    ),
    SERVICE_ADMIN: (
        "service_admin",
        "Read, edit and delete its services; map and unmap resources on them; read their "
        "events and scorecards.",
    ),
    SERVICE_VIEWER: (
        "service_viewer",
        "Read its services and their resources, events and scorecards.",
    ),
    INTEGRATION_ADMIN: (
        "integration_admin",
        "Install, configure, authorize, sync and uninstall integrations; manage credentials.",
    ),
    INTEGRATION_VIEWER: (
        "integration_viewer",
        "Read integrations and integration instances, never their secrets.",
    ),
    SCORECARD_ADMIN: ("scorecard_admin", "Create, edit and delete scorecards."),
    SCORECARD_VIEWER: ("scorecard_viewer", "Read scorecards and their results."),
}
ROLE_NAMES = tuple(ROLES)
#: Roles that only make sense on every service (``entity_id`` ``*``).
ORG_WIDE_ROLES = frozenset(
    {
        ORGANIZATION_ADMIN,
        SERVICE_CREATOR,
        INTEGRATION_ADMIN,
        INTEGRATION_VIEWER,
        SCORECARD_ADMIN,
        SCORECARD_VIEWER,
    }
)
EVERY = "*"
ENTITY_TYPE = "Service Catalog"


@dataclass(frozen=True)
class Rights:
    """What a principal may do: Organization Admin, or roles on services (by id or ``*``)."""

    org_admin: bool
    by_role: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: :meth:`service_ids` by roles asked (rights are cached with their token: a
    #: restricted principal's list asks the same union of a thousand ids every request).
    _ids: dict[tuple[str, ...], frozenset[str] | None] = field(
        default_factory=dict, compare=False, repr=False
    )

    def has(self, role: str, entity_id: str = EVERY) -> bool:
        """Whether the principal holds ``role`` on ``entity_id`` (on ``*`` holds it on every
        service; an Organization Admin holds every role everywhere)."""
        if self.org_admin:
            return True
        ids = self.by_role.get(role)
        if not ids:
            return False
        return EVERY in ids or entity_id in ids

    def service_ids(self, *roles: str) -> frozenset[str] | None:
        """The services held through any of ``roles``: None when that is every service,
        else their ids (empty when none)."""
        if self.org_admin:
            return None
        if roles in self._ids:
            return self._ids[roles]
        ids: set[str] = set()
        found: frozenset[str] | None = None
        for role in roles:
            held = self.by_role.get(role, frozenset())
            if EVERY in held:
                break
            ids |= held
        else:
            found = frozenset(ids)
        self._ids[roles] = found
        return found


ALL = Rights(org_admin=True, by_role={})
NONE = Rights(org_admin=False, by_role={})


def rights_of(grants: Iterable[tuple[str, str]]) -> Rights:
    """The rights of (role name, entity id) pairs."""
    by_role: dict[str, set[str]] = {}
    for role, entity in grants:
        by_role.setdefault(role, set()).add(entity)
    if EVERY in by_role.get(ORGANIZATION_ADMIN, set()):
        return ALL
    return Rights(org_admin=False, by_role={r: frozenset(e) for r, e in by_role.items()})


def resolve_rights(session: Session, principal_type: str, principal_id: uuid.UUID) -> Rights:
    """The union of a principal's own role assignments and its teams', in one query.

    Requests of one principal that resolve its rights at the same time (its cached token
    expired under concurrent requests) share one query: the first asks, the others wait
    for its answer (read at about the moment they would have read their own; a change of
    rights meanwhile is another generation, resolved afresh). Rights equal to the
    principal's previous ones are that same object, whose :meth:`Rights.service_ids`
    answers are remembered."""
    key = (principal_type, principal_id, GENERATION.value)
    with _FLIGHTS_LOCK:
        flight = _FLIGHTS.get(key)
        leader = flight is None
        if flight is None:
            flight = _FLIGHTS[key] = _Flight()
    if not leader:
        if flight.done.wait(_FLIGHT_WAIT_SECONDS) and flight.rights is not None:
            return flight.rights
        return _query_rights(session, principal_type, principal_id)  # it failed: ask
    try:
        rights = _query_rights(session, principal_type, principal_id)
        previous = _LAST.get(key[:2])
        if previous == rights:
            rights = previous
        elif len(_LAST) >= _LAST_MAX:
            _LAST.clear()
        _LAST[key[:2]] = flight.rights = rights
        return rights
    finally:
        with _FLIGHTS_LOCK:
            _FLIGHTS.pop(key, None)
        flight.done.set()


def _query_rights(session: Session, principal_type: str, principal_id: uuid.UUID) -> Rights:
    teams = select(TeamMembership.team_id).where(
        TeamMembership.member_type == principal_type,
        TeamMembership.member_id == principal_id,
    )
    rows = session.execute(
        select(RoleAssignment.role_name, RoleAssignment.entity_id).where(
            or_(
                (RoleAssignment.principal_type == principal_type)
                & (RoleAssignment.principal_id == principal_id),
                (RoleAssignment.principal_type == TEAM) & RoleAssignment.principal_id.in_(teams),
            )
        )
    ).all()
    return rights_of((r.role_name, r.entity_id) for r in rows)


class _Flight:
    """One resolution of a principal's rights under way, and its answer once done."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.rights: Rights | None = None


_FLIGHTS: dict[tuple[str, uuid.UUID, int], _Flight] = {}
_FLIGHTS_LOCK = threading.Lock()
#: How long a request waits for another's resolution before asking itself.
_FLIGHT_WAIT_SECONDS = 10.0
#: Each principal's last resolved rights (forgotten all at once past _LAST_MAX).
_LAST: dict[tuple[str, uuid.UUID], Rights] = {}
_LAST_MAX = 10_000


def grant_creator_admin(session: Session, actor: Actor, service_id: str) -> None:
    """Make the principal behind ``actor`` Service Admin of the service it just created
    (a Service Creator's due). Nothing for an actor that is no principal (the system) or
    already holds the right on every service; idempotent."""
    if actor.principal is None or actor.rights.has(SERVICE_ADMIN, service_id):
        return
    principal_type, principal_id = actor.principal
    try:
        with session.begin_nested():
            session.add(
                RoleAssignment(
                    principal_type=principal_type,
                    principal_id=principal_id,
                    role_name=SERVICE_ADMIN,
                    entity_id=str(service_id),
                    entity_type_name=ENTITY_TYPE,
                )
            )
    except IntegrityError:  # granted already (a concurrent request, a repeat)
        pass
    identity_changed(session)


def identity_changed(session: Session) -> None:
    """Note that who may do what changed in ``session``'s transaction: every cached token
    of this process is checked again once it commits (and right now, so no request caches
    the old state meanwhile)."""
    session.info["identity_changed"] = True
    GENERATION.bump()


class _Generation:
    """A process-wide counter of identity changes; cached tokens remember the value they
    were checked at and are checked again when it moved on."""

    def __init__(self) -> None:
        self.value = 0

    def bump(self) -> None:
        self.value += 1


GENERATION = _Generation()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    """Once a change of rights is committed, cached tokens are checked again."""
    if session.info.pop("identity_changed", False):
        GENERATION.bump()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("identity_changed", None)

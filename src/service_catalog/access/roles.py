"""The catalog's roles (``GET /v3/roles``) and their assignment to users, teams and system
accounts (``.../assigned-roles``)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service_catalog.access.schemas import AssignRole
from service_catalog.access.service import (
    ENTITY_TYPES,
    ROLE_FILTERS,
    audit,
    get_row,
    insert_row,
    page_of,
    parse_id,
    require_org_admin,
    require_self_or_admin,
)
from service_catalog.auth.access import (
    ENTITY_TYPE,
    EVERY,
    ORG_WIDE_ROLES,
    ROLE_NAMES,
    ROLES,
    identity_changed,
)
from service_catalog.auth.models import (
    SYSTEM_ACCOUNT,
    TEAM,
    USER,
    RoleAssignment,
    SystemAccount,
    Team,
    User,
)
from service_catalog.auth.service import Actor
from service_catalog.catalog_services.models import CatalogService
from service_catalog.core.errors import bad_request, conflict, not_found
from service_catalog.core.render import attrs

PRINCIPALS: dict[str, tuple[type[User] | type[Team] | type[SystemAccount], str]] = {
    USER: (User, "User"),
    TEAM: (Team, "Team"),
    SYSTEM_ACCOUNT: (SystemAccount, "System account"),
}


def roles() -> dict[str, Any]:
    """The catalog's roles in the shape of Konnect's ``GET /v3/roles``: one entity group,
    ``service_catalog``, with each role's name and what it grants."""
    return {
        "service_catalog": {
            "name": ENTITY_TYPE,
            "roles": {
                key: {"name": name, "description": text} for name, (key, text) in ROLES.items()
            },
        }
    }


def assignment_dict(row: RoleAssignment) -> dict[str, Any]:
    """A role assignment as the contract shows it."""
    return {
        "id": str(row.id),
        **attrs(row, "role_name", "entity_id", "entity_type_name", "entity_region"),
    }


def _principal(
    session: Session, actor: Actor, principal_type: str, principal_id: str, *, read: bool
) -> uuid.UUID:
    model, what = PRINCIPALS[principal_type]
    row = get_row(session, model, principal_id, what)
    if read and principal_type == USER:
        require_self_or_admin(actor, row.id)
    else:
        require_org_admin(actor)
    return row.id


def list_assigned(
    session: Session,
    *,
    actor: Actor,
    principal_type: str,
    principal_id: str,
    query: list[tuple[str, str]],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A principal's own role assignments (a user may read its own)."""
    ident = _principal(session, actor, principal_type, principal_id, read=True)
    stmt = select(RoleAssignment).where(
        RoleAssignment.principal_type == principal_type, RoleAssignment.principal_id == ident
    )
    return page_of(session, stmt, RoleAssignment.created_at, query, ROLE_FILTERS, assignment_dict)


def get_assigned(
    session: Session, *, actor: Actor, principal_type: str, principal_id: str, role_id: str
) -> RoleAssignment:
    """One of a principal's role assignments."""
    return _assignment(session, actor, principal_type, principal_id, role_id, read=True)[1]


def _assignment(
    session: Session,
    actor: Actor,
    principal_type: str,
    principal_id: str,
    role_id: str,
    *,
    read: bool,
) -> tuple[uuid.UUID, RoleAssignment]:
    """The principal's id and its assignment ``role_id`` (a 404 when it holds no such one)."""
    ident = _principal(session, actor, principal_type, principal_id, read=read)
    row = session.get(RoleAssignment, parse_id(role_id, "Assigned role"))
    if row is None or row.principal_type != principal_type or row.principal_id != ident:
        raise not_found("Assigned role", role_id)
    return ident, row


def _check(session: Session, data: AssignRole) -> tuple[str, str]:
    """The role's entity id and type name, or a 400 naming what is wrong."""
    if data.role_name not in ROLE_NAMES:
        raise bad_request(
            f"Unknown role [{data.role_name}]",
            "role_name",
            f"must be one of: {', '.join(ROLE_NAMES)}",
            rule="enum",
            choices=list(ROLE_NAMES),
        )
    type_name = data.entity_type_name or ENTITY_TYPE
    if type_name not in ENTITY_TYPES:
        raise bad_request(
            f"Unknown entity type [{type_name}]",
            "entity_type_name",
            f"must be one of: {', '.join(ENTITY_TYPES)}",
            rule="enum",
            choices=list(ENTITY_TYPES),
        )
    if data.entity_id == EVERY:
        return EVERY, type_name
    if data.role_name in ORG_WIDE_ROLES:
        raise bad_request(
            f"The role [{data.role_name}] applies to every service",
            "entity_id",
            "must be '*' for this role",
        )
    try:
        service_id = uuid.UUID(data.entity_id)
    except ValueError:
        raise bad_request(
            "entity_id must be a catalog service id or '*'",
            "entity_id",
            "must be a catalog service id or '*'",
            rule="is_uuid",
        ) from None
    if session.get(CatalogService, service_id) is None:
        raise bad_request(
            f"No catalog service has the id [{data.entity_id}]",
            "entity_id",
            "names no catalog service",
            rule="missing_reference",
        )
    return str(service_id), type_name


def assign(
    session: Session, *, actor: Actor, principal_type: str, principal_id: str, data: AssignRole
) -> RoleAssignment:
    """Assign a role to a principal; an unknown role or service is a 400, a repeat a 409."""
    ident = _principal(session, actor, principal_type, principal_id, read=False)
    entity_id, type_name = _check(session, data)
    row = RoleAssignment(
        principal_type=principal_type,
        principal_id=ident,
        role_name=data.role_name,
        entity_id=entity_id,
        entity_type_name=type_name,
        entity_region=data.entity_region,
    )
    taken = conflict(f"The role [{data.role_name}] on [{entity_id}] is already assigned")
    insert_row(session, row, taken)
    _changed(session, actor, "assigned", f"Assigned {{}} to {principal_type} {ident}", row)
    return row


def unassign(
    session: Session, *, actor: Actor, principal_type: str, principal_id: str, role_id: str
) -> None:
    """Remove a role assignment from a principal."""
    ident, row = _assignment(session, actor, principal_type, principal_id, role_id, read=False)
    session.delete(row)
    _changed(session, actor, "removed", f"Removed {{}} from {principal_type} {ident}", row)


def _changed(session: Session, actor: Actor, verb: str, detail: str, row: RoleAssignment) -> None:
    """Record that the assignment ``row`` was ``verb`` ("assigned", "removed"): ``detail``
    with the role and its entity in place of ``{}``."""
    identity_changed(session)
    audit(
        session,
        actor,
        f"role.{verb}",
        detail.format(f"{row.role_name} on {row.entity_id}"),
        principal_type=row.principal_type,
        principal_id=str(row.principal_id),
        role_name=row.role_name,
        entity_id=row.entity_id,
        assignment_id=str(row.id),
    )

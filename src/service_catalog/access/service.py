"""The rules of access management: who may manage principals, and what each change does.

Only an Organization Admin manages users, teams, system accounts, their tokens and role
assignments; any user may read itself, its teams and its roles, and manage its own personal
access tokens. Every change is audited (never a token's value) and makes every token this
process cached be checked again (:func:`service_catalog.auth.access.identity_changed`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service_catalog.access.schemas import (
    InviteUser,
    SystemAccountCreate,
    SystemAccountUpdate,
    TeamCreate,
    TeamUpdate,
    UserUpdate,
)
from service_catalog.auth.access import (
    ENTITY_TYPE,
    ORGANIZATION_ADMIN,
    identity_changed,
)
from service_catalog.auth.models import (
    SYSTEM_ACCOUNT,
    TEAM,
    USER,
    AccessToken,
    RoleAssignment,
    SystemAccount,
    Team,
    TeamMembership,
    User,
)
from service_catalog.auth.service import Actor
from service_catalog.core import query as q
from service_catalog.core.db import Base, utcnow
from service_catalog.core.errors import Problem, bad_request, conflict, name_taken, not_found
from service_catalog.core.patch import merge_map
from service_catalog.core.render import attrs, ts
from service_catalog.events.service import record_action

M = TypeVar("M", bound=Base)

#: Entity type names a catalog role assignment accepts (Konnect calls the catalog
#: "Service Hub" in its role enum); stored as given.
ENTITY_TYPES = (ENTITY_TYPE, "Service Hub")
PAT_LIMIT = 10

USER_FILTERS = q.FilterSpec(
    fields={
        "id": q.FilterField("uuid", User.id),
        "email": q.FilterField("string", User.email),
        "full_name": q.FilterField("string", User.full_name),
        "active": q.FilterField("boolean", User.active),
    }
)
TEAM_FILTERS = q.FilterSpec(
    fields={"name": q.FilterField("string", Team.name)},
    json_prefixes={"labels": q.FilterField("json", Team.labels, flat=True)},
)
ACCOUNT_FILTERS = q.FilterSpec(
    fields={
        "name": q.FilterField("string", SystemAccount.name),
        "description": q.FilterField("string", SystemAccount.description),
        "konnect_managed": q.FilterField("boolean", SystemAccount.konnect_managed),
    }
)
TOKEN_FILTERS = q.FilterSpec(fields={"name": q.FilterField("string", AccessToken.name)})
ROLE_FILTERS = q.FilterSpec(
    fields={
        "role_name": q.FilterField("string", RoleAssignment.role_name),
        "entity_id": q.FilterField("string", RoleAssignment.entity_id),
        "entity_type_name": q.FilterField("string", RoleAssignment.entity_type_name),
    }
)
ORGANIZATION_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "service-catalog:organization"))
ORGANIZATION_CREATED = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


# --- permissions -----------------------------------------------------------------------


def require_org_admin(actor: Actor) -> None:
    """A 403 unless ``actor`` is an Organization Admin."""
    if not actor.rights.org_admin:
        raise Problem(
            403,
            f"You must have the [{ORGANIZATION_ADMIN}] role to perform this action",
            title="Permission denied",
        )


def _is_self(actor: Actor, user_id: uuid.UUID) -> bool:
    return actor.principal == (USER, user_id)


def require_self_or_admin(actor: Actor, user_id: uuid.UUID) -> None:
    """A 403 unless ``actor`` is that user or an Organization Admin."""
    if not _is_self(actor, user_id):
        require_org_admin(actor)


def parse_id(value: str, what: str) -> uuid.UUID:
    """A path's id; a 404 naming ``what`` when it is no UUID (nothing has that id)."""
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError):
        raise not_found(what, value) from None


def get_row(session: Session, model: type[M], ident: str, what: str) -> M:
    row = session.get(model, parse_id(ident, what))
    if row is None:
        raise not_found(what, ident)
    return row


def audit(session: Session, actor: Actor, type: str, detail: str, **attributes: Any) -> None:
    record_action(session, actor=actor, type=type, detail=detail, attributes=attributes)


def page_of(
    session: Session,
    stmt: Any,
    order: Any,
    query: list[tuple[str, str]],
    spec: q.FilterSpec,
    render: Callable[[Any], dict[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of ``stmt``'s rows filtered by ``spec``, in ``order``, each as ``render`` shows
    it, with the page's meta."""
    clauses = q.filter_clauses(spec, query, session.get_bind().dialect.name)
    page = q.page_request(dict(query))
    rows, total = q.numbered_page(session, stmt.where(*clauses), [order.asc()], page)
    return [render(r) for r in rows], q.page_meta(page, total)


def insert_row(session: Session, row: Base, taken: Problem) -> None:
    """Add ``row`` in a savepoint; ``taken`` (a 409) when a unique key says it exists."""
    try:
        with session.begin_nested():  # a conflict undoes this insert alone
            session.add(row)
    except IntegrityError:
        raise taken from None


def _apply_named(
    session: Session, row: Team | SystemAccount, changes: dict[str, Any], what: str
) -> None:
    """Set ``changes`` on ``row`` and stamp it; a name another row holds is a 409."""
    try:
        with session.begin_nested():  # a taken name undoes this alone
            for key, value in changes.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            session.flush()
    except IntegrityError:
        raise name_taken(what, str(changes.get("name"))) from None


def _stamped(row: Team | SystemAccount, *names: str, **extra: Any) -> dict[str, Any]:
    """``row``'s id, fields ``names``, ``extra`` and timestamps, as the contract shows them."""
    return {
        "id": str(row.id),
        **attrs(row, *names),
        **extra,
        "created_at": ts(row.created_at),
        "updated_at": ts(row.updated_at),
    }


NamedRow = TypeVar("NamedRow", Team, SystemAccount)


@dataclass(frozen=True)
class _Named:
    """Teams and system accounts: named rows only an Organization Admin reads or changes."""

    model: type[Team] | type[SystemAccount]
    what: str  # in a 404: "Team"
    event: str  # the audit type's prefix and its id attribute's: "team"

    @property
    def label(self) -> str:
        return self.what.lower()

    def get(self, session: Session, actor: Actor, ident: str) -> Any:
        """The row ``ident`` (a 404 when none), for an Organization Admin (else a 403)."""
        require_org_admin(actor)
        return get_row(session, self.model, ident, self.what)

    def page(
        self,
        session: Session,
        actor: Actor,
        query: list[tuple[str, str]],
        spec: q.FilterSpec,
        render: Callable[[Any], dict[str, Any]],
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """A page of the rows by name (Organization Admin)."""
        require_org_admin(actor)
        return page_of(session, select(self.model), self.model.name, query, spec, render)

    def audit(
        self, session: Session, actor: Actor, verb: str, row: Team | SystemAccount, **more: Any
    ) -> None:
        """Record ``verb`` ("created" ...) done to ``row`` in the audit trail."""
        detail = f"{verb.capitalize()} {self.label} {row.name}"
        ids = {f"{self.event}_id": str(row.id)}
        audit(session, actor, f"{self.event}.{verb}", detail, **ids, **more)

    def create(self, session: Session, actor: Actor, **fields: Any) -> Any:
        """A new row of ``fields`` (Organization Admin; a 409 when its name is taken)."""
        require_org_admin(actor)
        now = utcnow()
        row = self.model(**fields, created_at=now, updated_at=now)
        insert_row(session, row, name_taken(f"A {self.label}", row.name))
        self.audit(session, actor, "created", row)
        return row

    def update(
        self, session: Session, actor: Actor, row: NamedRow, changes: dict[str, Any], fields: Any
    ) -> NamedRow:
        """Apply ``changes`` to ``row`` (a 409 when the new name is taken), record ``fields``."""
        _apply_named(session, row, changes, f"A {self.label}")
        self.audit(session, actor, "updated", row, fields=sorted(fields))
        return row

    def delete(self, session: Session, actor: Actor, row: Team | SystemAccount, kind: str) -> None:
        """Delete ``row``, a principal of type ``kind``, with what it holds; record it."""
        _forget_principal(session, kind, row.id)
        session.delete(row)
        self.audit(session, actor, "deleted", row)


TEAMS = _Named(Team, "Team", "team")
ACCOUNTS = _Named(SystemAccount, "System account", "system_account")


# --- users -----------------------------------------------------------------------------


def user_dict(user: User) -> dict[str, Any]:
    """A user as the contract shows it."""
    out: dict[str, Any] = {"id": str(user.id), "email": user.email, "active": user.active}
    if user.full_name is not None:
        out["full_name"] = user.full_name
    if user.preferred_name is not None:
        out["preferred_name"] = user.preferred_name
    out["created_at"] = ts(user.created_at)
    out["updated_at"] = ts(user.updated_at)
    return out


def list_users(
    session: Session, *, actor: Actor, query: list[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of users (Organization Admin)."""
    require_org_admin(actor)
    return page_of(session, select(User), User.email, query, USER_FILTERS, user_dict)


def get_user(session: Session, *, actor: Actor, user_id: str) -> User:
    """One user (itself, or any for an Organization Admin)."""
    user = get_row(session, User, user_id, "User")
    require_self_or_admin(actor, user.id)
    return user


def me(session: Session, *, actor: Actor) -> User:
    """The user whose token made the request; a 404 for a system account's token."""
    if actor.principal is None or actor.principal[0] != USER:
        raise Problem(404, "The token belongs to a system account, not a user")
    user = session.get(User, actor.principal[1])
    if user is None:
        raise not_found("User", actor.principal[1])
    return user


def create_user(session: Session, *, actor: Actor, data: InviteUser) -> User:
    """A new, active user (an invitation that needs no e-mail); a taken e-mail is a 409."""
    require_org_admin(actor)
    email = data.email.strip()
    taken = session.scalar(select(User.id).where(User.email == email))
    if taken is not None:
        raise conflict(f"A user with the e-mail [{email}] already exists")
    now = utcnow()
    user = User(
        email=email,
        full_name=data.full_name,
        preferred_name=data.preferred_name,
        active=True,
        created_at=now,
        updated_at=now,
    )
    insert_row(session, user, conflict(f"A user with the e-mail [{email}] already exists"))
    audit(session, actor, "user.created", f"Created user {email}", user_id=str(user.id))
    return user


def update_user(session: Session, *, actor: Actor, user_id: str, data: UserUpdate) -> User:
    """Change a user's names or deactivate (``active: false``) or reactivate it."""
    require_org_admin(actor)
    user = get_row(session, User, user_id, "User")
    changes = data.model_dump(exclude_unset=True)
    if "active" in changes and changes["active"] is None:
        raise bad_request("Invalid request body", "active", "must be true or false", rule="type")
    was_active = user.active
    for key, value in changes.items():
        setattr(user, key, value)
    user.updated_at = utcnow()
    if "active" in changes:
        identity_changed(session)
    if changes.get("active") is False:
        kind, verb = "user.deactivated", "Deactivated"
    elif changes.get("active") is True and not was_active:
        kind, verb = "user.reactivated", "Reactivated"
    else:
        kind, verb = "user.updated", "Updated"
    audit(
        session,
        actor,
        kind,
        f"{verb} user {user.email}",
        user_id=str(user.id),
        fields=sorted(changes),
    )
    return user


def _forget_principal(session: Session, principal_type: str, principal_id: uuid.UUID) -> None:
    """Remove a principal's memberships, role assignments and tokens."""
    session.execute(
        delete(TeamMembership).where(
            TeamMembership.member_type == principal_type,
            TeamMembership.member_id == principal_id,
        )
    )
    session.execute(
        delete(RoleAssignment).where(
            RoleAssignment.principal_type == principal_type,
            RoleAssignment.principal_id == principal_id,
        )
    )
    if principal_type != TEAM:
        session.execute(
            delete(AccessToken).where(
                AccessToken.owner_type == principal_type, AccessToken.owner_id == principal_id
            )
        )
    identity_changed(session)


def delete_user(session: Session, *, actor: Actor, user_id: str) -> None:
    """Delete a user with its tokens, memberships and role assignments."""
    require_org_admin(actor)
    user = get_row(session, User, user_id, "User")
    _forget_principal(session, USER, user.id)
    session.delete(user)
    audit(session, actor, "user.deleted", f"Deleted user {user.email}", user_id=str(user.id))


def user_teams(
    session: Session, *, actor: Actor, user_id: str, query: list[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of the teams a user belongs to (itself, or any for an Organization Admin)."""
    user = get_row(session, User, user_id, "User")
    require_self_or_admin(actor, user.id)
    return _member_teams(session, USER, user.id, query)


def _member_teams(
    session: Session, member_type: str, member_id: uuid.UUID, query: list[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    stmt = select(Team).where(
        Team.id.in_(
            select(TeamMembership.team_id).where(
                TeamMembership.member_type == member_type,
                TeamMembership.member_id == member_id,
            )
        )
    )
    return page_of(session, stmt, Team.name, query, TEAM_FILTERS, team_dict)


# --- teams -----------------------------------------------------------------------------


def team_dict(team: Team) -> dict[str, Any]:
    """A team as the contract shows it."""
    return _stamped(team, "name", "description", "system_team", labels=team.labels or {})


def list_teams(
    session: Session, *, actor: Actor, query: list[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of teams (Organization Admin)."""
    return TEAMS.page(session, actor, query, TEAM_FILTERS, team_dict)


def get_team(session: Session, *, actor: Actor, team_id: str) -> Team:
    """One team (Organization Admin)."""
    return cast("Team", TEAMS.get(session, actor, team_id))


def create_team(session: Session, *, actor: Actor, data: TeamCreate) -> Team:
    """A new team; a taken name is a 409."""
    fields = data.model_dump(include={"name", "description"})
    return cast("Team", TEAMS.create(session, actor, **fields, labels=data.labels or {}))


def update_team(session: Session, *, actor: Actor, team_id: str, data: TeamUpdate) -> Team:
    """Change a team's name, description or labels (a label set to null is removed)."""
    team = get_team(session, actor=actor, team_id=team_id)
    changes = data.model_dump(exclude_unset=True)
    fields = list(changes)
    if "name" in changes and changes["name"] is None:
        raise bad_request("Invalid request body", "name", "cannot be null", rule="type")
    labels = changes.pop("labels", None)
    if labels is not None:
        team.labels = merge_map(team.labels or {}, labels)
    return TEAMS.update(session, actor, team, changes, fields)


def delete_team(session: Session, *, actor: Actor, team_id: str) -> None:
    """Delete a team; its members lose the roles they held through it."""
    team = get_team(session, actor=actor, team_id=team_id)
    session.execute(delete(TeamMembership).where(TeamMembership.team_id == team.id))
    TEAMS.delete(session, actor, team, TEAM)


def team_users(
    session: Session, *, actor: Actor, team_id: str, query: list[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of a team's users (Organization Admin)."""
    team = get_team(session, actor=actor, team_id=team_id)
    stmt = select(User).where(User.id.in_(_member_ids(team.id, USER)))
    return page_of(session, stmt, User.email, query, USER_FILTERS, user_dict)


def team_accounts(
    session: Session, *, actor: Actor, team_id: str, query: list[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of a team's system accounts (Organization Admin)."""
    team = get_team(session, actor=actor, team_id=team_id)
    stmt = select(SystemAccount).where(SystemAccount.id.in_(_member_ids(team.id, SYSTEM_ACCOUNT)))
    return page_of(session, stmt, SystemAccount.name, query, ACCOUNT_FILTERS, account_dict)


def _member_ids(team_id: uuid.UUID, member_type: str) -> Any:
    return select(TeamMembership.member_id).where(
        TeamMembership.team_id == team_id, TeamMembership.member_type == member_type
    )


_MEMBER_MODELS: dict[str, tuple[type[User | SystemAccount], str]] = {
    USER: (User, "User"),
    SYSTEM_ACCOUNT: (SystemAccount, "System account"),
}


def _member_label(member: User | SystemAccount) -> str:
    return member.email if isinstance(member, User) else member.name


def add_member(
    session: Session, *, actor: Actor, team_id: str, member_type: str, member_id: str
) -> None:
    """Add a user or a system account to a team; a 409 when it is a member already."""
    team = get_team(session, actor=actor, team_id=team_id)
    model, what = _MEMBER_MODELS[member_type]
    try:
        ident = uuid.UUID(member_id)
    except ValueError:
        raise bad_request("Invalid request body", "id", "must be a UUID", rule="is_uuid") from None
    member = cast("User | SystemAccount | None", session.get(model, ident))
    if member is None:
        raise not_found(what, member_id)
    insert_row(
        session,
        TeamMembership(team_id=team.id, member_type=member_type, member_id=ident),
        conflict(f"{what} [{member_id}] is already a member of the team"),
    )
    identity_changed(session)
    audit(
        session,
        actor,
        "team.member_added",
        f"Added {_member_label(member)} to team {team.name}",
        team_id=str(team.id),
        member_type=member_type,
        member_id=member_id,
    )


def remove_member(
    session: Session, *, actor: Actor, team_id: str, member_type: str, member_id: str
) -> None:
    """Remove a user or a system account from a team (a 404 when it is no member)."""
    team = get_team(session, actor=actor, team_id=team_id)
    model, what = _MEMBER_MODELS[member_type]
    member = get_row(session, model, member_id, what)
    row = session.get(TeamMembership, (team.id, member_type, member.id))
    if row is None:
        raise Problem(404, f"{what} [{member_id}] is not a member of the team")
    session.delete(row)
    identity_changed(session)
    audit(
        session,
        actor,
        "team.member_removed",
        f"Removed {_member_label(member)} from team {team.name}",
        team_id=str(team.id),
        member_type=member_type,
        member_id=member_id,
    )


# --- system accounts -------------------------------------------------------------------


def account_dict(account: SystemAccount) -> dict[str, Any]:
    """A system account as the contract shows it."""
    return _stamped(account, "name", "description", "konnect_managed")


def list_accounts(
    session: Session, *, actor: Actor, query: list[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of system accounts (Organization Admin)."""
    return ACCOUNTS.page(session, actor, query, ACCOUNT_FILTERS, account_dict)


def get_account(session: Session, *, actor: Actor, account_id: str) -> SystemAccount:
    """One system account (Organization Admin)."""
    return cast("SystemAccount", ACCOUNTS.get(session, actor, account_id))


def create_account(session: Session, *, actor: Actor, data: SystemAccountCreate) -> SystemAccount:
    """A new system account; a taken name is a 409."""
    fields = data.model_dump(include={"name", "description", "konnect_managed"})
    return cast("SystemAccount", ACCOUNTS.create(session, actor, **fields))


def update_account(
    session: Session, *, actor: Actor, account_id: str, data: SystemAccountUpdate
) -> SystemAccount:
    """Rename or describe a system account; a taken name is a 409."""
    account = get_account(session, actor=actor, account_id=account_id)
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    return ACCOUNTS.update(session, actor, account, changes, changes)


def delete_account(session: Session, *, actor: Actor, account_id: str) -> None:
    """Delete a system account with its tokens, memberships and role assignments."""
    account = get_account(session, actor=actor, account_id=account_id)
    ACCOUNTS.delete(session, actor, account, SYSTEM_ACCOUNT)


def account_teams(
    session: Session, *, actor: Actor, account_id: str, query: list[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of the teams a system account belongs to (Organization Admin)."""
    account = get_account(session, actor=actor, account_id=account_id)
    return _member_teams(session, SYSTEM_ACCOUNT, account.id, query)


# --- the organization ------------------------------------------------------------------


def organization() -> dict[str, Any]:
    """The one organization a self-hosted catalog serves."""
    return {
        "id": ORGANIZATION_ID,
        "name": "service-catalog",
        "login_path": "",
        "created_at": ts(ORGANIZATION_CREATED),
        "updated_at": ts(ORGANIZATION_CREATED),
        "state": "active",
        "retention_period_days": 0,
    }

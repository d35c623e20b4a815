"""Users and team memberships of a Backstage import: Backstage ``User`` entities become
identity users, ``Group`` membership (``spec.members``, ``spec.memberOf``) team
memberships. Run after the import's catalog documents were applied (so that the teams
its Groups declare exist), in the same transaction.

- A user is found by e-mail (``spec.profile.email``); a missing one is created (no
  password, no token: it signs in through an identity provider or gets a token from an
  administrator) and remembered as this source's (:class:`UserSource`). A re-import
  updates the name only of the users this source created; a user made otherwise is used
  as it is.
- A team created by this source's import is remembered (:class:`TeamSource`); there a
  re-import makes the user memberships exactly those Backstage lists (removing the
  others, but never a membership an identity provider gave). A team made otherwise only
  gains the members Backstage lists.

Every change goes through the access domain's functions, so it is audited as a change
made through the API (``user.created``, ``team.member_added`` ...); never a secret.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from service_catalog.access import service as access
from service_catalog.access.schemas import InviteUser, UserUpdate
from service_catalog.auth.models import USER, Team, TeamMembership, User
from service_catalog.auth.service import Actor
from service_catalog.catalog_as_code.documents import CatalogFileErrors, FileError
from service_catalog.catalog_as_code.models import TeamSource, UserSource
from service_catalog.core.db import utcnow

_CHUNK = 2000
_Row = TypeVar("_Row", User, Team)


@dataclass(frozen=True)
class DeclaredUser:
    """A Backstage User: its e-mail, its name, its reference and where it was read."""

    email: str
    full_name: str
    ref: str
    file: str
    line: int


@dataclass
class DeclaredPeople:
    """The users and, for each team a Group declares (by team name), the e-mails of its
    members (Group ``spec.members`` and User ``spec.memberOf`` together)."""

    users: list[DeclaredUser] = field(default_factory=list)
    members: dict[str, set[str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.users or self.members)


@dataclass
class _Work:
    create: list[DeclaredUser] = field(default_factory=list)
    update: list[tuple[User, str]] = field(default_factory=list)
    own_teams: list[str] = field(default_factory=list)  # teams to remember as this source's
    add: list[tuple[str, str]] = field(default_factory=list)  # team name, e-mail
    remove: list[tuple[Team, User]] = field(default_factory=list)


def _chunked(session: Session, stmt_of: Any, values: Sequence[Any]) -> list[Any]:
    return [
        row
        for start in range(0, len(values), _CHUNK)
        for row in session.execute(stmt_of(values[start : start + _CHUNK]))
    ]


def _by_key(
    session: Session, model: type[_Row], key: InstrumentedAttribute[str], values: Sequence[str]
) -> dict[str, _Row]:
    """The rows of ``model`` whose natural ``key`` (a user's e-mail, a team's name) is
    among ``values``, by that key."""
    return {
        getattr(row, key.key): row
        for (row,) in _chunked(session, lambda part: select(model).where(key.in_(part)), values)
    }


def _known(
    session: Session,
    model: type[_Row],
    key: InstrumentedAttribute[str],
    values: Sequence[str],
    created: tuple[InstrumentedAttribute[uuid.UUID], InstrumentedAttribute[str]],
    source: str,
) -> tuple[dict[str, _Row], set[uuid.UUID]]:
    """:func:`_by_key`, and the ids of those rows ``source`` created: ``created`` is the
    id and source columns of the table that remembers them (``UserSource``...)."""
    rows = _by_key(session, model, key, values)
    created_id, by_source = created
    own = {
        r[0]
        for r in _chunked(
            session,
            lambda part: select(created_id).where(created_id.in_(part), by_source == source),
            [row.id for row in rows.values()],
        )
    }
    return rows, own


def _plan(
    session: Session,
    people: DeclaredPeople,
    result: dict[str, Any],
    source: str,
) -> tuple[_Work, list[dict[str, Any]], list[str], list[FileError]]:
    work = _Work()
    changes: list[dict[str, Any]] = []
    unchanged: list[str] = []
    errors: list[FileError] = []
    emails = sorted({u.email for u in people.users})
    users, own_users = _known(
        session, User, User.email, emails, (UserSource.user_id, UserSource.source), source
    )
    valid: set[str] = set()
    first_of: dict[str, DeclaredUser] = {}
    for declared in people.users:
        earlier = first_of.setdefault(declared.email, declared)
        if earlier is not declared:
            errors.append(
                FileError(
                    declared.file,
                    declared.line,
                    f"{declared.ref}: spec.profile.email [{declared.email}] is also the e-mail "
                    f"of {earlier.ref} ({earlier.file}:{earlier.line})",
                )
            )
            continue
        try:
            InviteUser.model_validate({"email": declared.email, "full_name": declared.full_name})
        except ValidationError as exc:
            first = exc.errors()[0]
            path = ".".join(str(p) for p in first.get("loc", ()))
            errors.append(
                FileError(declared.file, declared.line, f"{declared.ref}: {path}: {first['msg']}")
            )
            continue
        valid.add(declared.email)
        user = users.get(declared.email)
        where = {"file": declared.file, "line": declared.line}
        if user is None:
            work.create.append(declared)
            changes.append({"action": "create", "kind": "user", "name": declared.email, **where})
        elif user.id in own_users and user.full_name != declared.full_name:
            work.update.append((user, declared.full_name))
            changes.append(
                {
                    "action": "update",
                    "kind": "user",
                    "name": declared.email,
                    **where,
                    "fields": {"full_name": {"old": user.full_name, "new": declared.full_name}},
                }
            )
        else:
            unchanged.append(declared.email)
    created_teams = {
        c["name"] for c in result["changes"] if c["kind"] == "team" and c["action"] == "create"
    }
    names = sorted(people.members)
    teams, own_teams = _known(
        session, Team, Team.name, names, (TeamSource.team_id, TeamSource.source), source
    )
    work.own_teams = sorted(n for n in created_teams if n in people.members)
    current = _members(session, [t.id for t in teams.values()])
    known = {u.id: u for u in users.values()} | {
        u.id: u
        for (u,) in _chunked(
            session,
            lambda part: select(User).where(User.id.in_(part)),
            sorted(
                {m[1] for rows in current.values() for m in rows} - {u.id for u in users.values()}
            ),
        )
    }
    for name in names:
        team = teams.get(name)
        held = current.get(team.id, []) if team is not None else []
        held_emails = {known[uid].email for uid, _idp in held if uid in known}
        for email in sorted(people.members[name]):
            if email in valid and email not in held_emails:
                work.add.append((name, email))
                changes.append(
                    {"action": "create", "kind": "team_member", "name": f"{email} in {name}"}
                )
        managed = name in created_teams or (team is not None and team.id in own_teams)
        if not managed or team is None:
            continue
        for uid, idp in sorted(held, key=lambda m: known[m[0]].email if m[0] in known else ""):
            user = known.get(uid)
            if idp is None and user is not None and user.email not in people.members[name]:
                work.remove.append((team, user))
                changes.append(
                    {"action": "delete", "kind": "team_member", "name": f"{user.email} in {name}"}
                )
    return work, changes, unchanged, errors


def _members(
    session: Session, team_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[uuid.UUID, uuid.UUID | None]]]:
    """Each team's user members: ``(user id, identity provider id or None)``."""
    tm = TeamMembership
    out: dict[uuid.UUID, list[tuple[uuid.UUID, uuid.UUID | None]]] = {}
    for row in _chunked(
        session,
        lambda part: select(tm.team_id, tm.member_id, tm.idp_id).where(
            tm.team_id.in_(part), tm.member_type == USER
        ),
        team_ids,
    ):
        out.setdefault(row.team_id, []).append((row.member_id, row.idp_id))
    return out


def run_people(
    session: Session,
    people: DeclaredPeople,
    *,
    result: dict[str, Any],
    source: str,
    actor: Actor,
    dry_run: bool,
) -> None:
    """Plan (and, unless ``dry_run``, apply) ``people`` after the import's documents;
    their changes are added to ``result`` (the plan :func:`.runner.run_docs` answered).
    Raises :class:`CatalogFileErrors` (nothing applied: the caller rolls back) for a user
    Backstage gives an e-mail the catalog refuses, or an actor that is no Organization
    Admin when something changes."""
    if not people:
        return
    work, changes, unchanged, errors = _plan(session, people, result, source)
    if errors:
        raise CatalogFileErrors(errors[:20], more=max(0, len(errors) - 20))
    if changes and not actor.rights.org_admin:
        message = "creating users or changing team members needs Organization Admin"
        raise CatalogFileErrors([FileError("-", None, message)], status=403)
    result["changes"].extend(changes)
    result["unchanged"].extend(unchanged)
    result["summary"]["unchanged"] += len(unchanged)
    for change in changes:
        result["summary"][change["action"]] += 1
    if dry_run or not (changes or work.own_teams):
        return
    _apply(session, work, source, actor)
    result["applied"] = result["applied"] or bool(changes)


def _apply(session: Session, work: _Work, source: str, actor: Actor) -> None:
    now = utcnow()
    by_email: dict[str, User] = {}
    for declared in work.create:
        user = access.create_user(
            session,
            actor=actor,
            data=InviteUser(email=declared.email, full_name=declared.full_name),
        )
        session.add(UserSource(user_id=user.id, source=source, updated_at=now))
        by_email[user.email] = user
    for user, full_name in work.update:
        access.update_user(
            session, actor=actor, user_id=str(user.id), data=UserUpdate(full_name=full_name)
        )
    teams = _by_key(
        session, Team, Team.name, sorted({n for n, _ in work.add} | set(work.own_teams))
    )
    own_ids = [teams[name].id for name in work.own_teams]
    remembered = {
        r.team_id
        for r in _chunked(
            session,
            lambda part: select(TeamSource.team_id).where(TeamSource.team_id.in_(part)),
            own_ids,
        )
    }
    session.add_all(
        TeamSource(team_id=i, source=source, updated_at=now) for i in own_ids if i not in remembered
    )
    missing = sorted({e for _, e in work.add} - set(by_email))
    by_email.update(_by_key(session, User, User.email, missing))
    for team, user in work.remove:
        access.remove_member(
            session, actor=actor, team_id=str(team.id), member_type=USER, member_id=str(user.id)
        )
    for name, email in work.add:
        access.add_member(
            session,
            actor=actor,
            team_id=str(teams[name].id),
            member_type=USER,
            member_id=str(by_email[email].id),
        )
    session.flush()

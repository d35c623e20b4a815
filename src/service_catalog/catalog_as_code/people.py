"""Users and team memberships of a Backstage import: Backstage ``User`` entities become
identity users, ``Group`` membership (``spec.members``, ``spec.memberOf``) team
memberships. Run after the import's catalog documents were applied (so that the teams
its Groups declare exist), in the same transaction.

- A user is found by e-mail (``spec.profile.email``); a missing one is created (no
  password, no token: it signs in through an identity provider or gets a token from an
  administrator) and remembered as this source's (:class:`UserSource`). A re-import
  updates the name only of the users this source created; a user made otherwise is used
  as it is.
- A user this source created that Backstage no longer lists is removed from this
  source's teams and, with ``--prune`` (as services the files no longer name are
  deleted only then), deactivated (it cannot sign in, its tokens stop working:
  :func:`service_catalog.access.service.update_user`); the import remembers that it did so
  (``UserSource.deactivated_at``) and reactivates the user when Backstage lists it again.
  A user an administrator deactivated is never reactivated, one an administrator
  reactivated while Backstage still leaves it out is left active, and a user the import
  did not create is never touched.
- A team created by this source's import is remembered (:class:`TeamSource`); there a
  re-import makes the user memberships exactly those Backstage lists (removing the
  others, but never a membership an identity provider gave). A team made otherwise only
  gains the members Backstage lists.

Every change goes through the access domain's functions, so it is audited as a change
made through the API (``user.created``, ``team.member_added`` ...); never a secret.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import select, update
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
    update: list[tuple[User, dict[str, Any]]] = field(default_factory=list)  # UserUpdate fields
    deactivate: list[User] = field(default_factory=list)
    unflag: list[uuid.UUID] = field(default_factory=list)  # reactivated users' UserSource
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


@dataclass
class _Plan:
    work: _Work = field(default_factory=_Work)
    changes: list[dict[str, Any]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    #: This source's active users Backstage no longer lists, left active (no ``--prune``).
    left: int = 0


def _plan(
    session: Session, people: DeclaredPeople, result: dict[str, Any], source: str, prune: bool
) -> _Plan:
    plan = _Plan()
    users, valid, gone = _plan_users(session, people, source, plan, prune)
    teams = _plan_members(session, people, result, source, plan, users, valid, gone)
    _leavers_teams(session, plan, gone, source, skip={t.id for t in teams.values()})
    return plan


def _own_users(session: Session, source: str) -> dict[uuid.UUID, tuple[User, dt.datetime | None]]:
    """The users ``source`` created, by id, each with when it deactivated them (or None)."""
    us = UserSource
    return {
        user.id: (user, deactivated)
        for user, deactivated in session.execute(
            select(User, us.deactivated_at)
            .join(us, us.user_id == User.id)
            .where(us.source == source)
        ).tuples()
    }


def _refused(declared: DeclaredUser, earlier: DeclaredUser) -> FileError | None:
    """Why ``declared`` cannot be imported (``earlier``: the first User of its e-mail)."""
    if earlier is not declared:
        return FileError(
            declared.file,
            declared.line,
            f"{declared.ref}: spec.profile.email [{declared.email}] is also the e-mail "
            f"of {earlier.ref} ({earlier.file}:{earlier.line})",
        )
    try:
        InviteUser.model_validate({"email": declared.email, "full_name": declared.full_name})
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first.get("loc", ()))
        return FileError(declared.file, declared.line, f"{declared.ref}: {path}: {first['msg']}")
    return None


def _plan_users(
    session: Session, people: DeclaredPeople, source: str, plan: _Plan, prune: bool
) -> tuple[dict[str, User], set[str], list[User]]:
    """Plan the users: create the missing, update this source's (name; reactivated when
    this import had deactivated it), and with ``prune`` deactivate this source's that
    Backstage no longer lists (without it they are counted in ``plan.left``: an import of
    part of a repository under the same source must not lock the others out). The users
    found by e-mail, the valid e-mails, and this source's users Backstage no longer
    lists."""
    work = plan.work
    users = _by_key(session, User, User.email, sorted({u.email for u in people.users}))
    own = _own_users(session, source)
    valid: set[str] = set()
    first_of: dict[str, DeclaredUser] = {}
    for declared in people.users:
        refused = _refused(declared, first_of.setdefault(declared.email, declared))
        if refused is not None:
            plan.errors.append(refused)
            continue
        valid.add(declared.email)
        user = users.get(declared.email)
        where = {"file": declared.file, "line": declared.line}
        if user is None:
            work.create.append(declared)
            plan.changes.append(
                {"action": "create", "kind": "user", "name": declared.email, **where}
            )
            continue
        fields: dict[str, dict[str, Any]] = {}
        if user.id in own:
            if user.full_name != declared.full_name:
                fields["full_name"] = {"old": user.full_name, "new": declared.full_name}
            if own[user.id][1] is not None:  # this import deactivated it: it is back
                work.unflag.append(user.id)
                if not user.active:
                    fields["active"] = {"old": False, "new": True}
        if not fields:
            plan.unchanged.append(declared.email)
            continue
        work.update.append((user, {k: v["new"] for k, v in fields.items()}))
        plan.changes.append(
            {"action": "update", "kind": "user", "name": declared.email, **where, "fields": fields}
        )
    gone = sorted((o for o in own.values() if o[0].email not in first_of), key=lambda o: o[0].email)
    for user, deactivated in gone:
        if deactivated is None and user.active:  # else deactivated already, or by hand
            if not prune:
                plan.left += 1
                continue
            work.deactivate.append(user)
            plan.changes.append(
                {
                    "action": "update",
                    "kind": "user",
                    "name": user.email,
                    "fields": {"active": {"old": True, "new": False}},
                }
            )
    return users, valid, [u for u, _ in gone]


def _plan_members(
    session: Session,
    people: DeclaredPeople,
    result: dict[str, Any],
    source: str,
    plan: _Plan,
    users: dict[str, User],
    valid: set[str],
    gone: list[User],
) -> dict[str, Team]:
    """Plan the members of the teams the Groups declare: add those Backstage lists; in
    the teams this source created, remove the others. The declared teams that exist."""
    work = plan.work
    created_teams = {
        c["name"] for c in result["changes"] if c["kind"] == "team" and c["action"] == "create"
    }
    names = sorted(people.members)
    teams, own_teams = _known(
        session, Team, Team.name, names, (TeamSource.team_id, TeamSource.source), source
    )
    work.own_teams = sorted(n for n in created_teams if n in people.members)
    current = _members(session, [t.id for t in teams.values()])
    known = {u.id: u for u in [*users.values(), *gone]}
    known |= {
        u.id: u
        for (u,) in _chunked(
            session,
            lambda part: select(User).where(User.id.in_(part)),
            sorted({m[0] for rows in current.values() for m in rows} - set(known)),
        )
    }
    for name in names:
        team = teams.get(name)
        held = current.get(team.id, []) if team is not None else []
        held_emails = {known[uid].email for uid, _idp in held if uid in known}
        for email in sorted(people.members[name]):
            if email in valid and email not in held_emails:
                work.add.append((name, email))
                plan.changes.append(
                    {"action": "create", "kind": "team_member", "name": f"{email} in {name}"}
                )
        managed = name in created_teams or (team is not None and team.id in own_teams)
        if not managed or team is None:
            continue
        for uid, idp in sorted(held, key=lambda m: known[m[0]].email if m[0] in known else ""):
            user = known.get(uid)
            if idp is None and user is not None and user.email not in people.members[name]:
                work.remove.append((team, user))
                plan.changes.append(
                    {"action": "delete", "kind": "team_member", "name": f"{user.email} in {name}"}
                )
    return teams


def _leavers_teams(
    session: Session, plan: _Plan, gone: list[User], source: str, *, skip: set[uuid.UUID]
) -> None:
    """Remove the users Backstage no longer lists (``gone``) from the teams this source
    created that the import no longer declares either (those it declares, ``skip``, were
    made exact already); never a membership an identity provider gave."""
    if not gone:
        return
    tm, ts = TeamMembership, TeamSource
    by_id = {u.id: u for u in gone}
    rows = _chunked(
        session,
        lambda part: (
            select(Team, tm.member_id)
            .join(tm, tm.team_id == Team.id)
            .join(ts, ts.team_id == Team.id)
            .where(
                ts.source == source,
                tm.member_type == USER,
                tm.idp_id.is_(None),
                tm.member_id.in_(part),
            )
        ),
        sorted(by_id),
    )
    for team, member_id in sorted(rows, key=lambda r: (r[0].name, by_id[r[1]].email)):
        if team.id in skip:
            continue
        user = by_id[member_id]
        plan.work.remove.append((team, user))
        plan.changes.append(
            {"action": "delete", "kind": "team_member", "name": f"{user.email} in {team.name}"}
        )


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
    prune: bool = False,
) -> None:
    """Plan (and, unless ``dry_run``, apply) ``people`` after the import's documents;
    their changes are added to ``result`` (the plan :func:`.runner.run_docs` answered).
    Raises :class:`CatalogFileErrors` (nothing applied: the caller rolls back) for a user
    Backstage gives an e-mail the catalog refuses, or an actor that is no Organization
    Admin when something changes."""
    plan = _plan(session, people, result, source, prune)
    work, changes, unchanged, errors = plan.work, plan.changes, plan.unchanged, plan.errors
    if errors:
        raise CatalogFileErrors(errors[:20], more=max(0, len(errors) - 20))
    if changes and not actor.rights.org_admin:
        message = "creating or changing users or team members needs Organization Admin"
        raise CatalogFileErrors([FileError("-", None, message)], status=403)
    result["changes"].extend(changes)
    result["unchanged"].extend(unchanged)
    summary = result["summary"]
    summary["unchanged"] += len(unchanged)
    for change in changes:
        summary[change["action"]] += 1
    summary["deactivated"] = len(work.deactivate)
    summary["reactivated"] = sum(1 for _, f in work.update if f.get("active") is True)
    summary["left_active"] = plan.left
    if dry_run or not (changes or work.own_teams or work.unflag):
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
    for user, fields in work.update:
        access.update_user(
            session, actor=actor, user_id=str(user.id), data=UserUpdate.model_validate(fields)
        )
    for user in work.deactivate:
        access.update_user(
            session, actor=actor, user_id=str(user.id), data=UserUpdate(active=False)
        )
    flags = [(u.id, now) for u in work.deactivate] + [(i, None) for i in work.unflag]
    for user_id, when in flags:
        session.execute(
            update(UserSource)
            .where(UserSource.user_id == user_id)
            .values(deactivated_at=when, updated_at=now)
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

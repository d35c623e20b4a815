"""What a successful sign-in does to the catalog's principals: the one seam between the
OpenID Connect flow (:mod:`.oidc`) and users and teams.

In the caller's transaction, :func:`apply_sign_in`:

1. finds the user of (``idp.id``, ``claims.subject``) (``oidc_identities.user_id``), or
   creates it on the first sign-in (active, with the e-mail and name of the claims); a user
   with that e-mail (compared without case) who never signed in through this provider is
   linked rather than duplicated. It refreshes the user's name and e-mail (an e-mail another
   user has is left as it was);
2. refuses a deactivated user (:class:`SignInRefused`, ``user_inactive``, 403), and a
   sign-in without an e-mail (``no_email``, 403), so no session starts;
3. sets the user's team memberships that come from this identity provider
   (``team_memberships.idp_id``) to exactly ``teams_for_groups(...)``: adds the missing ones
   and removes those whose group is no longer in the claim or no longer mapped, recording
   ``team.member_added``/``team.member_removed`` as the access domain does (the actor is the
   identity provider). Memberships given by hand stay, and a team the user is in by hand
   already is not taken over;
4. returns a :class:`SignedInUser` whose ``id`` is the user's id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service_catalog.auth.access import identity_changed
from service_catalog.auth.models import USER, Team, TeamMembership, User
from service_catalog.auth.service import Actor
from service_catalog.core.db import utcnow
from service_catalog.events.service import record_action
from service_catalog.identity_providers.models import IdentityProvider, OidcIdentity
from service_catalog.identity_providers.service import teams_for_groups


class SignInRefused(Exception):
    """A sign-in that must not start a session: ``reason`` is a short code for the audit
    trail, ``detail`` what the browser is told (never a token or a secret)."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class SignInClaims:
    """What the identity provider said about the person, from a validated ID token (and its
    userinfo), through the provider's claim mappings."""

    subject: str
    email: str | None
    name: str | None
    groups: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SignedInUser:
    """Who signed in: the id and name a console session and the audit trail carry."""

    id: str
    name: str
    email: str | None
    first_sign_in: bool
    groups: list[str]
    team_ids: list[str]


def _refresh(session: Session, user: User, claims: SignInClaims, email: str) -> bool:
    """Take the claims' name and e-mail; whether anything changed."""
    changed = False
    if claims.name and claims.name != user.full_name:
        user.full_name = claims.name[:250]
        changed = True
    if email != user.email:
        taken = session.scalar(select(User.id).where(User.email == email, User.id != user.id))
        if taken is None:
            user.email = email
            changed = True
    if changed:
        user.updated_at = utcnow()
    return changed


def _find_user(
    session: Session, idp: IdentityProvider, identity: OidcIdentity | None, email: str
) -> User | None:
    """The user of an identity, or the user of ``email`` when it has none through ``idp``
    (None: a new user)."""
    if identity is not None and identity.user_id is not None:
        return session.get(User, identity.user_id)
    user = session.scalar(select(User).where(func.lower(User.email) == email.lower()))
    if user is None:
        return None
    other = session.scalar(
        select(OidcIdentity.subject).where(
            OidcIdentity.idp_id == idp.id, OidcIdentity.user_id == user.id
        )
    )
    if other is not None:
        raise SignInRefused(
            409,
            "email_taken",
            "Another account of this identity provider signed in with this e-mail; ask an "
            "administrator",
        )
    return user


def _sync_teams(
    session: Session, idp: IdentityProvider, user: User, team_ids: list[str], groups: list[str]
) -> bool:
    """Make the user's memberships from ``idp`` exactly ``team_ids``; whether any changed."""
    held = {
        m.team_id: m
        for m in session.scalars(
            select(TeamMembership).where(
                TeamMembership.member_type == USER, TeamMembership.member_id == user.id
            )
        )
    }
    wanted = {uuid.UUID(t) for t in team_ids}
    actor = Actor(type="identity_provider", id=str(idp.id), name=idp.login_path)
    names = {
        team_id: name
        for team_id, name in session.execute(
            select(Team.id, Team.name).where(Team.id.in_(wanted | set(held)))
        )
    }
    changed = False
    for team_id in sorted(wanted - set(held), key=str):
        session.add(
            TeamMembership(team_id=team_id, member_type=USER, member_id=user.id, idp_id=idp.id)
        )
        changed = True
        _audit_member(session, actor, "added", user, team_id, names.get(team_id), idp, groups)
    for team_id, membership in sorted(held.items(), key=lambda kv: str(kv[0])):
        if membership.idp_id == idp.id and team_id not in wanted:
            session.delete(membership)
            changed = True
            _audit_member(session, actor, "removed", user, team_id, names.get(team_id), idp, groups)
    return changed


def _audit_member(
    session: Session,
    actor: Actor,
    verb: str,
    user: User,
    team_id: uuid.UUID,
    team_name: str | None,
    idp: IdentityProvider,
    groups: list[str],
) -> None:
    preposition = "to" if verb == "added" else "from"
    record_action(
        session,
        actor=actor,
        type=f"team.member_{verb}",
        detail=f"{verb.capitalize()} {user.email} {preposition} team {team_name or team_id} "
        f"(groups of {idp.login_path})",
        attributes={
            "team_id": str(team_id),
            "member_type": USER,
            "member_id": str(user.id),
            "identity_provider_id": str(idp.id),
            "groups": list(groups),
        },
    )


def apply_sign_in(session: Session, idp: IdentityProvider, claims: SignInClaims) -> SignedInUser:
    """Record a successful sign-in through ``idp``: the user (found, linked or created),
    its name and e-mail, and its teams from the groups claim (see the module's docstring).
    Raises :class:`SignInRefused` for a deactivated user or a sign-in without an e-mail."""
    email = (claims.email or "").strip()
    if not email:
        raise SignInRefused(
            403, "no_email", "The identity provider gave no e-mail address for this account"
        )
    identity = session.scalar(
        select(OidcIdentity).where(
            OidcIdentity.idp_id == idp.id, OidcIdentity.subject == claims.subject
        )
    )
    first = identity is None
    now = utcnow()
    user = _find_user(session, idp, identity, email)
    changed = False
    if user is None:
        user = User(
            email=email[:250],
            full_name=claims.name[:250] if claims.name else None,
            active=True,
            created_at=now,
            updated_at=now,
        )
        session.add(user)
        session.flush()
        record_action(
            session,
            actor=Actor(type="identity_provider", id=str(idp.id), name=idp.login_path),
            type="user.created",
            detail=f"Created user {user.email} at its first sign-in through {idp.login_path}",
            attributes={"user_id": str(user.id), "identity_provider_id": str(idp.id)},
        )
        changed = True
    elif not user.active:
        raise SignInRefused(403, "user_inactive", "This user is deactivated; ask an administrator")
    else:
        changed = _refresh(session, user, claims, email)
    if identity is None:
        identity = OidcIdentity(idp_id=idp.id, subject=claims.subject, first_sign_in_at=now)
        session.add(identity)
    identity.user_id = user.id
    identity.email = claims.email
    identity.name = claims.name
    identity.groups = {"groups": list(claims.groups)}
    identity.last_sign_in_at = now
    team_ids = teams_for_groups(session, idp, claims.groups)
    if _sync_teams(session, idp, user, team_ids, claims.groups) or changed:
        identity_changed(session)
    session.flush()
    return SignedInUser(
        id=str(user.id),
        name=user.email,
        email=user.email,
        first_sign_in=first,
        groups=list(claims.groups),
        team_ids=team_ids,
    )

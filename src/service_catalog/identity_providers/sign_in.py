"""What a successful sign-in does to the catalog's principals: the one seam between the
OpenID Connect flow (:mod:`.oidc`) and users and teams.

Today (no users or teams yet) :func:`apply_sign_in` keeps one ``oidc_identities`` row per
(identity provider, subject): the e-mail, name and groups of the last sign-in, and the team
ids those groups map to are computed but stored nowhere else. Once the access domain has
users and team memberships, :func:`apply_sign_in` must, in the caller's transaction:

1. find the user of (``idp.id``, ``claims.subject``) (a ``user_id`` column on
   ``oidc_identities``), or create it on the first sign-in (active, with the e-mail and name
   of the claims; a user with that e-mail who never signed in through this provider is
   linked rather than duplicated), and refresh its name and e-mail;
2. refuse a deactivated user (raise :class:`SignInRefused` with reason ``user_inactive``,
   status 403), so no session starts;
3. set the user's team memberships that come from the identity provider to exactly
   ``teams_for_groups(session, idp, claims.groups)``: add the missing ones and remove those
   whose group is no longer in the claim or no longer mapped (memberships given by hand,
   not from a group, stay), recording ``team.member_added``/``team.member_removed`` events;
4. return a :class:`SignedInUser` whose ``id`` is the user's id, so the console session
   (``auth.sessions``) and the audit trail name the user.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from service_catalog.core.db import utcnow
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


def apply_sign_in(session: Session, idp: IdentityProvider, claims: SignInClaims) -> SignedInUser:
    """Record a successful sign-in through ``idp`` (see the module's docstring for what it
    must do once users and teams exist)."""
    row = session.scalar(
        select(OidcIdentity).where(
            OidcIdentity.idp_id == idp.id, OidcIdentity.subject == claims.subject
        )
    )
    first = row is None
    now = utcnow()
    if row is None:
        row = OidcIdentity(idp_id=idp.id, subject=claims.subject, first_sign_in_at=now)
        session.add(row)
    row.email = claims.email
    row.name = claims.name
    row.groups = {"groups": list(claims.groups)}
    row.last_sign_in_at = now
    session.flush()
    return SignedInUser(
        id=str(row.id),
        name=claims.email or claims.name or claims.subject,
        email=claims.email,
        first_sign_in=first,
        groups=list(claims.groups),
        team_ids=teams_for_groups(session, idp, claims.groups),
    )

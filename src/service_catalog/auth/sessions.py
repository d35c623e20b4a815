"""Console sessions: what a browser holds after signing in, through an identity provider
or with an API token (the console's sign-in form).

The browser keeps a random session token in an HttpOnly cookie (:data:`SESSION_COOKIE`);
the database keeps only its hash, its user and its expiry, like access tokens. A session acts
as its user, with the user's rights (:func:`lookup_session`: one indexed query for the
session and its user, one for the rights), and is cached like a token (``auth.deps``) until
any change of users, teams or roles: signing out, deactivating or deleting the user stops it
at once.

A session started with an API token (:func:`create_token_session`) names that token
(``token_id``) and acts exactly as the token does: as its user for a ``kpat_``, as its system
account for a ``spat_``/``scat_`` (``user_id`` is then empty). It ends when the token is
revoked, expires or is deleted, whichever comes first.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import uuid

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from service_catalog.auth.access import identity_changed
from service_catalog.auth.models import USER, AccessToken, SystemAccount, User
from service_catalog.auth.service import (
    TOKEN_ACCOUNT,
    Actor,
    TokenInfo,
    account_token_actor,
    hash_token,
    user_actor,
)
from service_catalog.core.db import Base, new_uuid, utcnow

SESSION_COOKIE = "sc_session"
SESSION_PREFIX = "scss_"


class ConsoleSession(Base):
    """A signed-in browser: the hash of its cookie, its user and until when (deleting the
    user deletes its sessions). ``user_name`` is the user's e-mail when it signed in (the
    token's name for a system account's token). ``token_id``: the API token it was
    exchanged for, if any (deleting the token deletes the session); a system account's
    token's session has no ``user_id``."""

    __tablename__ = "console_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(User.id, ondelete="CASCADE"), index=True, default=None
    )
    token_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(AccessToken.id, ondelete="CASCADE"), index=True, default=None
    )
    user_name: Mapped[str] = mapped_column(String(320))
    idp_id: Mapped[str | None] = mapped_column(String(36), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)


def create_session(
    session: Session,
    *,
    user_id: uuid.UUID,
    user_name: str,
    idp_id: str | None,
    lifetime: dt.timedelta,
) -> tuple[ConsoleSession, str]:
    """Start a console session; returns the row and the cookie value (never stored)."""
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    row = ConsoleSession(
        token_hash=hash_token(token),
        user_id=user_id,
        user_name=user_name,
        idp_id=idp_id,
        expires_at=utcnow() + lifetime,
    )
    session.add(row)
    session.flush()
    return row, token


def create_token_session(
    session: Session, *, info: TokenInfo, lifetime: dt.timedelta
) -> tuple[ConsoleSession, str]:
    """Start a console session for a valid API token (``info``, as :func:`lookup_token`
    found it): it acts as the token does and lasts ``lifetime``, or until the token
    expires if that is sooner. Returns the row and the cookie value (never stored)."""
    principal = info.actor.principal
    user_id = principal[1] if principal is not None and principal[0] == USER else None
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + lifetime
    if info.expires_at is not None:
        expires = min(expires, info.expires_at)
    row = ConsoleSession(
        token_hash=hash_token(token),
        user_id=user_id,
        user_name=info.actor.name,
        token_id=info.token_id,
        idp_id=None,
        expires_at=expires,
    )
    session.add(row)
    session.flush()
    return row, token


def lookup_session(session: Session, token: str) -> TokenInfo | None:
    """The actor of a live session cookie (its user, with the user's rights; for a session
    made from a system account's token, that token's actor) and the session's expiry;
    None when the cookie is unknown, expired or signed out, its user deactivated, or the
    token it was made from revoked or expired (a deleted user's or token's sessions are
    deleted with it)."""
    if not token.startswith(SESSION_PREFIX):
        return None
    digest = hash_token(token)
    row = session.execute(
        select(ConsoleSession, User.email, User.active, AccessToken, SystemAccount.id)
        .outerjoin(User, User.id == ConsoleSession.user_id)
        .outerjoin(AccessToken, AccessToken.id == ConsoleSession.token_id)
        .outerjoin(SystemAccount, TOKEN_ACCOUNT)
        .where(ConsoleSession.token_hash == digest)
    ).first()
    if row is None or not hmac.compare_digest(row[0].token_hash, digest):
        return None
    live, email, active, api_token, account_id = row
    now = utcnow()
    if live.revoked_at is not None or live.expires_at <= now:
        return None
    if live.token_id is not None and (
        api_token is None
        or api_token.revoked_at is not None
        or (api_token.expires_at is not None and api_token.expires_at <= now)
    ):
        return None
    if live.user_id is not None:
        if not active:
            return None
        actor = user_actor(session, live.user_id, email)
    elif api_token is not None and account_id is not None:
        actor = account_token_actor(session, api_token, account_id)
    else:
        return None
    return TokenInfo(actor, live.id, live.expires_at, stale_use=False)


def revoke_session(session: Session, token: str) -> ConsoleSession | None:
    """Sign a session out; the row, or None when the cookie names no live session."""
    row = session.scalar(
        select(ConsoleSession).where(ConsoleSession.token_hash == hash_token(token))
    )
    if row is None or row.revoked_at is not None:
        return None
    row.revoked_at = utcnow()
    identity_changed(session)  # a cached session is checked again, so it ends at once
    return row


def session_holder(row: ConsoleSession) -> Actor:
    """Who a session acted as, as events record it (its user, or the system account's
    token it was made from)."""
    if row.user_id is not None:
        return Actor(type=USER, id=str(row.user_id), name=row.user_name)
    return Actor(type="token", id=str(row.token_id), name=row.user_name)

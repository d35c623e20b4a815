"""Console sessions: what a browser holds after signing in through an identity provider.

The browser keeps a random session token in an HttpOnly cookie (:data:`SESSION_COOKIE`);
the database keeps only its hash, its user and its expiry, like access tokens. A session acts
as its user, with the user's rights (:func:`lookup_session`: one indexed query for the
session and its user, one for the rights), and is cached like a token (``auth.deps``) until
any change of users, teams or roles: signing out, deactivating or deleting the user stops it
at once.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import uuid

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from service_catalog.auth.access import identity_changed, resolve_rights
from service_catalog.auth.models import USER, User
from service_catalog.auth.service import Actor, TokenInfo, hash_token
from service_catalog.core.db import Base, new_uuid, utcnow

SESSION_COOKIE = "sc_session"
SESSION_PREFIX = "scss_"


class ConsoleSession(Base):
    """A signed-in browser: the hash of its cookie, its user and until when (deleting the
    user deletes its sessions). ``user_name`` is the user's e-mail when it signed in."""

    __tablename__ = "console_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"), index=True)
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


def lookup_session(session: Session, token: str) -> TokenInfo | None:
    """The actor of a live session cookie (its user, with the user's rights) and the
    session's expiry; None when the cookie is unknown, expired or signed out, or its user
    deactivated (a deleted user's sessions are deleted with it)."""
    if not token.startswith(SESSION_PREFIX):
        return None
    digest = hash_token(token)
    row = session.execute(
        select(ConsoleSession, User.email, User.active)
        .join(User, User.id == ConsoleSession.user_id)
        .where(ConsoleSession.token_hash == digest)
    ).first()
    if row is None or not hmac.compare_digest(row[0].token_hash, digest):
        return None
    live, email, active = row
    if live.revoked_at is not None or live.expires_at <= utcnow() or not active:
        return None
    actor = Actor(
        type=USER,
        id=str(live.user_id),
        name=email,
        rights=resolve_rights(session, USER, live.user_id),
        principal=(USER, live.user_id),
    )
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

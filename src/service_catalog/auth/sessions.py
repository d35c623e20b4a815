"""Console sessions: what a browser holds after signing in through an identity provider.

The browser keeps a random session token in an HttpOnly cookie (:data:`SESSION_COOKIE`);
the database keeps only its hash, its owner and its expiry, like access tokens. Signing out
revokes it at once (sessions are not cached).
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from service_catalog.auth.service import Actor, hash_token
from service_catalog.core.db import Base, new_uuid, utcnow

SESSION_COOKIE = "sc_session"
SESSION_PREFIX = "scss_"


class ConsoleSession(Base):
    """A signed-in browser: the hash of its cookie, who it is and until when.

    ``user_id`` is the id of the signed-in user (today the ``oidc_identities`` row; a user
    of the access domain once it exists), stored without a foreign key."""

    __tablename__ = "console_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    user_name: Mapped[str] = mapped_column(String(320))
    idp_id: Mapped[str | None] = mapped_column(String(36), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)


def create_session(
    session: Session, *, user_id: str, user_name: str, idp_id: str | None, lifetime: dt.timedelta
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


def lookup_session(session: Session, token: str) -> Actor | None:
    """The actor of a live session cookie; None when unknown, expired or signed out."""
    if not token.startswith(SESSION_PREFIX):
        return None
    row = session.scalar(
        select(ConsoleSession).where(ConsoleSession.token_hash == hash_token(token))
    )
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    return Actor(type="user", id=row.user_id, name=row.user_name)


def revoke_session(session: Session, token: str) -> ConsoleSession | None:
    """Sign a session out; the row, or None when the cookie names no live session."""
    row = session.scalar(
        select(ConsoleSession).where(ConsoleSession.token_hash == hash_token(token))
    )
    if row is None or row.revoked_at is not None:
        return None
    row.revoked_at = utcnow()
    return row

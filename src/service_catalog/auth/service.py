"""Creating, listing, revoking and checking access tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service_catalog.auth.models import AccessToken
from service_catalog.core.db import utcnow

TOKEN_PREFIX = "scat_"
TOKEN_CACHE_SECONDS = 0.5
"""How long a serving process trusts a token it has checked: a token revoked (by the CLI,
another process, or directly in the database) is refused within this many seconds, well
inside the one second the README promises. Expiry is checked on every request."""
ROLES = ("admin",)


@dataclass(frozen=True)
class Actor:
    """Who performed an action: a token's owner, or the system itself."""

    type: str
    id: str
    name: str

    def as_dict(self) -> dict[str, str]:
        """The actor as events carry it."""
        return {"type": self.type, "id": self.id, "name": self.name}


SYSTEM = Actor(type="system", id="system", name="service-catalog")


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def create_token(
    session: Session, *, name: str, role: str = "admin", expires_at: dt.datetime | None = None
) -> tuple[AccessToken, str]:
    """Create a token; returns the row and the token text, which is never stored or shown again."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = AccessToken(
        name=name,
        token_hash=hash_token(token),
        prefix=token[:12],
        role=role,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row, token


def list_tokens(session: Session) -> list[AccessToken]:
    """Every token, newest first."""
    return list(session.scalars(select(AccessToken).order_by(AccessToken.created_at.desc())))


def revoke_token(session: Session, *, token_id: str) -> AccessToken | None:
    """Revoke a token by id (or unique id prefix); None when there is no such token."""
    rows = [
        t for t in list_tokens(session) if str(t.id) == token_id or str(t.id).startswith(token_id)
    ]
    if len(rows) != 1:
        return None
    row = rows[0]
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def count_tokens(session: Session) -> int:
    """How many tokens exist, revoked or not."""
    return int(session.scalar(select(func.count()).select_from(AccessToken)) or 0)


@dataclass(frozen=True)
class TokenInfo:
    """What a successful token lookup tells: who, until when, and whether to record use."""

    actor: Actor
    token_id: uuid.UUID
    expires_at: dt.datetime | None
    stale_use: bool


def lookup_token(session: Session, token: str) -> TokenInfo | None:
    """A read-only token check: None when the token is unknown, expired or revoked."""
    row = session.scalar(select(AccessToken).where(AccessToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    now = utcnow()
    if row.expires_at is not None and row.expires_at <= now:
        return None
    stale = row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=1)
    return TokenInfo(
        Actor(type="token", id=str(row.id), name=row.name), row.id, row.expires_at, stale
    )


def touch_token(session: Session, token_id: uuid.UUID) -> None:
    """Record that a token was used just now."""
    row = session.get(AccessToken, token_id)
    if row is not None:
        row.last_used_at = utcnow()


class TokenCache:
    """Tokens checked recently, by hash, for at most :data:`TOKEN_CACHE_SECONDS`.

    Only valid tokens are kept; an expiry is still honoured to the second.
    """

    def __init__(self, ttl: float = TOKEN_CACHE_SECONDS, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, TokenInfo]] = {}

    def get(self, token: str, now: float) -> Actor | None:
        """The cached actor of ``token``, or None when it must be looked up."""
        hit = self._entries.get(hash_token(token))
        if hit is None or now - hit[0] > self.ttl:
            return None
        info = hit[1]
        if info.expires_at is not None and info.expires_at <= utcnow():
            return None
        return info.actor

    def put(self, token: str, info: TokenInfo, now: float) -> None:
        """Remember a token just found valid."""
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[hash_token(token)] = (now, info)

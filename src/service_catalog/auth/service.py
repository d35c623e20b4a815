"""Access tokens and who holds them: creating, checking (with the holder's rights) and
revoking tokens.

Tokens look like Konnect's: ``kpat_`` for a user's personal access token, ``spat_`` for a
system account's; ``scat_`` tokens made before users existed belong to a system account
holding Organization Admin (migration 0011). Only a SHA-256 of a token is stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from service_catalog.auth.access import (
    ALL,
    ENTITY_TYPE,
    EVERY,
    GENERATION,
    NONE,
    ORGANIZATION_ADMIN,
    ROLE_NAMES,
    Rights,
    identity_changed,
    resolve_rights,
)
from service_catalog.auth.models import (
    SYSTEM_ACCOUNT,
    USER,
    AccessToken,
    RoleAssignment,
    SystemAccount,
    User,
)
from service_catalog.core.db import utcnow

USER_TOKEN_PREFIX = "kpat_"
SYSTEM_TOKEN_PREFIX = "spat_"
LEGACY_TOKEN_PREFIX = "scat_"
TOKEN_PREFIX = SYSTEM_TOKEN_PREFIX
TOKEN_CACHE_SECONDS = 0.5
"""How long a serving process trusts a token it has checked: a token revoked (by the CLI,
another process, or directly in the database) is refused within this many seconds, well
inside the one second the README promises. Expiry is checked on every request, and a
change of users, teams or roles made through this process is seen at once."""
#: Role names ``create_token`` also takes, from the one-role days.
LEGACY_ROLES = {"admin": ORGANIZATION_ADMIN}


@dataclass(frozen=True)
class Actor:
    """Who performed an action: a token's holder, or the system itself, and its rights.

    ``type``/``id``/``name`` are what events record: a user's token acts as the user
    (``user``, its id, its e-mail), a system account's as the token (``token``, its id,
    its name). ``principal`` is the (type, id) that role assignments name.
    """

    type: str
    id: str
    name: str
    rights: Rights = field(default=NONE, compare=False)
    principal: tuple[str, uuid.UUID] | None = None

    def as_dict(self) -> dict[str, str]:
        """The actor as events carry it."""
        return {"type": self.type, "id": self.id, "name": self.name}


SYSTEM = Actor(type="system", id="system", name="service-catalog", rights=ALL)


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def _new_token(prefix: str) -> tuple[str, str]:
    token = prefix + secrets.token_urlsafe(32)
    return token, hash_token(token)


def issue_token(
    session: Session,
    *,
    owner_type: str,
    owner_id: uuid.UUID,
    name: str,
    expires_at: dt.datetime | None = None,
) -> tuple[AccessToken, str]:
    """A new token of a user (``kpat_``) or a system account (``spat_``); returns the row
    and the token text, which is never stored or shown again."""
    prefix = USER_TOKEN_PREFIX if owner_type == USER else SYSTEM_TOKEN_PREFIX
    token, digest = _new_token(prefix)
    now = utcnow()
    row = AccessToken(
        name=name,
        token_hash=digest,
        prefix=token[:12],
        role="",
        owner_type=owner_type,
        owner_id=owner_id,
        created_at=now,
        updated_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row, token


def check_role(role: str) -> str:
    """The role named ``role`` (or a legacy name); ValueError naming the roles otherwise."""
    role = LEGACY_ROLES.get(role, role)
    if role not in ROLE_NAMES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLE_NAMES)}")
    return role


def ensure_assignment(
    session: Session, *, principal_type: str, principal_id: uuid.UUID, role: str, entity_id: str
) -> bool:
    """Assign ``role`` on ``entity_id`` to a principal unless it holds it; whether it was new."""
    found = session.scalar(
        select(RoleAssignment.id).where(
            RoleAssignment.principal_type == principal_type,
            RoleAssignment.principal_id == principal_id,
            RoleAssignment.role_name == role,
            RoleAssignment.entity_id == entity_id,
        )
    )
    if found is not None:
        return False
    session.add(
        RoleAssignment(
            principal_type=principal_type,
            principal_id=principal_id,
            role_name=role,
            entity_id=entity_id,
            entity_type_name=ENTITY_TYPE,
            entity_region=EVERY,
        )
    )
    session.flush()
    identity_changed(session)
    return True


def create_token(
    session: Session,
    *,
    name: str,
    role: str = ORGANIZATION_ADMIN,
    entity_id: str = EVERY,
    expires_at: dt.datetime | None = None,
) -> tuple[AccessToken, str]:
    """A system-account token for scripts and the command line: the system account named
    ``name`` (created when missing) gains ``role`` on ``entity_id`` and a new ``spat_``
    token. Returns the row and the token text, which is never stored or shown again."""
    role = check_role(role)
    account = session.scalar(select(SystemAccount).where(SystemAccount.name == name))
    if account is None:
        account = SystemAccount(name=name, description="Created by the command line.")
        session.add(account)
        session.flush()
    ensure_assignment(
        session,
        principal_type=SYSTEM_ACCOUNT,
        principal_id=account.id,
        role=role,
        entity_id=entity_id,
    )
    return issue_token(
        session, owner_type=SYSTEM_ACCOUNT, owner_id=account.id, name=name, expires_at=expires_at
    )


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
        row.revoked_at = row.updated_at = utcnow()
        identity_changed(session)
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


#: A token's join to the system account holding it (none for a user's token).
TOKEN_ACCOUNT = and_(
    AccessToken.owner_type == SYSTEM_ACCOUNT, SystemAccount.id == AccessToken.owner_id
)


def user_actor(session: Session, user_id: uuid.UUID, email: str) -> Actor:
    """A user acting (through a token or a console session), with the user's rights."""
    return Actor(
        type=USER,
        id=str(user_id),
        name=email,
        rights=resolve_rights(session, USER, user_id),
        principal=(USER, user_id),
    )


def account_token_actor(session: Session, tok: AccessToken, account_id: uuid.UUID) -> Actor:
    """A system account's token acting, with the account's rights."""
    return Actor(
        type="token",
        id=str(tok.id),
        name=tok.name,
        rights=resolve_rights(session, SYSTEM_ACCOUNT, account_id),
        principal=(SYSTEM_ACCOUNT, account_id),
    )


def lookup_token(session: Session, token: str) -> TokenInfo | None:
    """A read-only token check, with its holder and the holder's rights (two indexed
    queries): None when the token is unknown, expired or revoked, or its holder is a
    deactivated or deleted user or a deleted system account."""
    digest = hash_token(token)
    row = session.execute(
        select(AccessToken, User.email, User.active, SystemAccount.name)
        .outerjoin(User, and_(AccessToken.owner_type == USER, User.id == AccessToken.owner_id))
        .outerjoin(SystemAccount, TOKEN_ACCOUNT)
        .where(AccessToken.token_hash == digest)
    ).first()
    # The index found the row by its hash; comparing the hashes again in constant time
    # keeps the decision itself from depending on how much of a guess was right.
    if row is None or not hmac.compare_digest(row[0].token_hash, digest):
        return None
    tok, email, active, account_name = row
    if tok.revoked_at is not None or tok.owner_id is None:
        return None
    now = utcnow()
    if tok.expires_at is not None and tok.expires_at <= now:
        return None
    if tok.owner_type == USER:
        if email is None or not active:
            return None
        actor = user_actor(session, tok.owner_id, email)
    elif tok.owner_type == SYSTEM_ACCOUNT and account_name is not None:
        actor = account_token_actor(session, tok, tok.owner_id)
    else:
        return None
    stale = tok.last_used_at is None or now - tok.last_used_at > dt.timedelta(minutes=1)
    return TokenInfo(actor, tok.id, tok.expires_at, stale)


def touch_token(session: Session, token_id: uuid.UUID) -> None:
    """Record that a token was used just now."""
    row = session.get(AccessToken, token_id)
    if row is not None:
        row.last_used_at = utcnow()


class TokenCache:
    """Tokens checked recently, by hash, for at most :data:`TOKEN_CACHE_SECONDS`, and only
    while no change of users, teams, tokens or roles was made in this process since.

    Only valid tokens are kept; an expiry is still honoured to the second.
    """

    def __init__(self, ttl: float = TOKEN_CACHE_SECONDS, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, int, TokenInfo]] = {}

    def get(self, token: str, now: float) -> Actor | None:
        """The cached actor of ``token``, or None when it must be looked up."""
        hit = self._entries.get(hash_token(token))
        if hit is None or now - hit[0] > self.ttl or hit[1] != GENERATION.value:
            return None
        info = hit[2]
        if info.expires_at is not None and info.expires_at <= utcnow():
            return None
        return info.actor

    def put(self, token: str, info: TokenInfo, now: float, generation: int) -> None:
        """Remember a token just found valid (as of identity ``generation``, read before
        the lookup, so a change made during it is not cached as current)."""
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[hash_token(token)] = (now, generation, info)

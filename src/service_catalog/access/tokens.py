"""Access tokens of users (personal, ``kpat_``) and system accounts (``spat_``): created
with an expiry and shown once, listed, renamed, revoked and deleted."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service_catalog.access.schemas import AccountTokenCreate, PersonalTokenCreate
from service_catalog.access.service import (
    PAT_LIMIT,
    TOKEN_FILTERS,
    audit,
    get_row,
    page_of,
    parse_id,
    require_org_admin,
    require_self_or_admin,
)
from service_catalog.auth.access import identity_changed
from service_catalog.auth.models import SYSTEM_ACCOUNT, USER, AccessToken, SystemAccount, User
from service_catalog.auth.service import Actor, issue_token
from service_catalog.core.db import utcnow
from service_catalog.core.errors import bad_request, conflict, not_found
from service_catalog.core.render import ts


def _state(token: AccessToken, now: dt.datetime) -> str:
    if token.revoked_at is not None:
        return "REVOKED"
    if token.expires_at is not None and token.expires_at <= now:
        return "EXPIRED"
    return "ACTIVE"


def personal_dict(token: AccessToken) -> dict[str, Any]:
    """A personal access token as the contract shows it (never its value)."""
    return {
        "id": str(token.id),
        "user_id": str(token.owner_id),
        "name": token.name,
        "state": _state(token, utcnow()),
        "revoked_by": token.revoked_by,
        "created_at": ts(token.created_at),
        "updated_at": ts(token.updated_at or token.created_at),
        "last_used_at": ts(token.last_used_at),
        "expires_at": ts(token.expires_at),
        "revoked_at": ts(token.revoked_at),
    }


def account_token_dict(token: AccessToken) -> dict[str, Any]:
    """A system account's token as the contract shows it (never its value)."""
    out: dict[str, Any] = {
        "id": str(token.id),
        "name": token.name,
        "created_at": ts(token.created_at),
        "updated_at": ts(token.updated_at or token.created_at),
    }
    if token.expires_at is not None:
        out["expires_at"] = ts(token.expires_at)
    if token.last_used_at is not None:
        out["last_used_at"] = ts(token.last_used_at)
    return out


def _owned(session: Session, owner_type: str, owner_id: uuid.UUID, token_id: str) -> AccessToken:
    token = session.get(AccessToken, parse_id(token_id, "Access token"))
    if token is None or token.owner_type != owner_type or token.owner_id != owner_id:
        raise not_found("Access token", token_id)
    return token


def _name_taken(session: Session, owner_type: str, owner_id: uuid.UUID, name: str) -> bool:
    return (
        session.scalar(
            select(AccessToken.id).where(
                AccessToken.owner_type == owner_type,
                AccessToken.owner_id == owner_id,
                AccessToken.name == name,
                AccessToken.revoked_at.is_(None),
            )
        )
        is not None
    )


def _created(
    session: Session, actor: Actor, token: AccessToken, owner: str, detail_owner: str
) -> None:
    audit(
        session,
        actor,
        "access_token.created",
        f"Created access token {token.name} of {detail_owner}",
        token_id=str(token.id),
        token_name=token.name,
        owner_type=owner,
        owner_id=str(token.owner_id),
        expires_at=ts(token.expires_at),
    )


def _future(value: dt.datetime, field: str) -> dt.datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    if value <= utcnow():
        raise bad_request("Invalid request body", field, "must be in the future")
    return value


# --- personal access tokens ------------------------------------------------------------


def _user(session: Session, actor: Actor, user_id: str) -> User:
    user = get_row(session, User, user_id, "User")
    require_self_or_admin(actor, user.id)
    return user


def _personal(session: Session, actor: Actor, user_id: str, token_id: str) -> AccessToken:
    """A user's token ``token_id`` (itself, or any user's for an Organization Admin)."""
    return _owned(session, USER, _user(session, actor, user_id).id, token_id)


def list_personal(
    session: Session, *, actor: Actor, user_id: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A user's personal access tokens, newest first."""
    user = _user(session, actor, user_id)
    rows = list(
        session.scalars(
            select(AccessToken)
            .where(AccessToken.owner_type == USER, AccessToken.owner_id == user.id)
            .order_by(AccessToken.created_at.desc(), AccessToken.id)
        )
    )
    return [personal_dict(t) for t in rows], {"number": 1, "size": len(rows), "total": len(rows)}


def create_personal(
    session: Session, *, actor: Actor, user_id: str, data: PersonalTokenCreate
) -> tuple[AccessToken, str]:
    """A new ``kpat_`` token of a user, expiring after ``ttl_seconds`` or at ``expires_at``
    (one of them, required); at most :data:`PAT_LIMIT` active ones, names unique."""
    user = _user(session, actor, user_id)
    if not user.active:
        raise bad_request("The user is deactivated", "userId", "is deactivated", source="path")
    if (data.ttl_seconds is None) == (data.expires_at is None):
        raise bad_request(
            "Give either ttl_seconds or expires_at",
            "ttl_seconds",
            "exactly one of ttl_seconds and expires_at is required",
            rule="required",
        )
    if data.ttl_seconds is not None:
        expires = utcnow() + dt.timedelta(seconds=data.ttl_seconds)
    else:
        assert data.expires_at is not None
        expires = _future(data.expires_at, "expires_at")
    if _name_taken(session, USER, user.id, data.name):
        raise conflict(f"A token named [{data.name}] already exists")
    active = session.scalar(
        select(func.count()).where(
            AccessToken.owner_type == USER,
            AccessToken.owner_id == user.id,
            AccessToken.revoked_at.is_(None),
            (AccessToken.expires_at.is_(None)) | (AccessToken.expires_at > utcnow()),
        )
    )
    if (active or 0) >= PAT_LIMIT:
        raise conflict(f"A user may hold at most {PAT_LIMIT} active personal access tokens")
    row, token = issue_token(
        session, owner_type=USER, owner_id=user.id, name=data.name, expires_at=expires
    )
    _created(session, actor, row, USER, user.email)
    return row, token


def get_personal(session: Session, *, actor: Actor, user_id: str, token_id: str) -> AccessToken:
    """One of a user's personal access tokens."""
    return _personal(session, actor, user_id, token_id)


def rename_personal(
    session: Session, *, actor: Actor, user_id: str, token_id: str, name: str
) -> AccessToken:
    """Rename one of a user's personal access tokens."""
    return _rename(session, actor, _personal(session, actor, user_id, token_id), name)


def revoke_personal(
    session: Session, *, actor: Actor, user_id: str, token_id: str, remove: bool = False
) -> AccessToken:
    """Revoke (or, ``remove``, delete) one of a user's personal access tokens: it stops
    working at once in this process."""
    return _revoke(session, actor, _personal(session, actor, user_id, token_id), remove)


def _rename(session: Session, actor: Actor, token: AccessToken, name: str) -> AccessToken:
    assert token.owner_id is not None
    if name != token.name and _name_taken(session, token.owner_type, token.owner_id, name):
        raise conflict(f"A token named [{name}] already exists")
    old, token.name, token.updated_at = token.name, name, utcnow()
    audit(
        session,
        actor,
        "access_token.updated",
        f"Renamed access token {old} to {name}",
        token_id=str(token.id),
        token_name=name,
    )
    return token


def _revoke(session: Session, actor: Actor, token: AccessToken, remove: bool) -> AccessToken:
    if token.revoked_at is None:
        token.revoked_at = token.updated_at = utcnow()
        token.revoked_by = str(actor.principal[1]) if actor.principal else None
    identity_changed(session)
    audit(
        session,
        actor,
        "access_token.deleted" if remove else "access_token.revoked",
        f"{'Deleted' if remove else 'Revoked'} access token {token.name}",
        token_id=str(token.id),
        token_name=token.name,
        owner_type=token.owner_type,
        owner_id=str(token.owner_id),
    )
    if remove:
        session.delete(token)
    return token


# --- system accounts' tokens -----------------------------------------------------------


def _account(session: Session, actor: Actor, account_id: str) -> SystemAccount:
    require_org_admin(actor)
    return get_row(session, SystemAccount, account_id, "System account")


def _account_token(session: Session, actor: Actor, account_id: str, token_id: str) -> AccessToken:
    """A system account's token ``token_id`` (Organization Admin)."""
    return _owned(session, SYSTEM_ACCOUNT, _account(session, actor, account_id).id, token_id)


def list_account_tokens(
    session: Session, *, actor: Actor, account_id: str, query: list[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of a system account's tokens (Organization Admin)."""
    account = _account(session, actor, account_id)
    stmt = select(AccessToken).where(
        AccessToken.owner_type == SYSTEM_ACCOUNT, AccessToken.owner_id == account.id
    )
    return page_of(session, stmt, AccessToken.name, query, TOKEN_FILTERS, account_token_dict)


def create_account_token(
    session: Session, *, actor: Actor, account_id: str, data: AccountTokenCreate
) -> tuple[AccessToken, str]:
    """A new ``spat_`` token of a system account; a name it already uses is a 409."""
    account = _account(session, actor, account_id)
    expires = _future(data.expires_at, "expires_at")
    if _name_taken(session, SYSTEM_ACCOUNT, account.id, data.name):
        raise conflict(f"The system account already has a token named [{data.name}]")
    row, token = issue_token(
        session, owner_type=SYSTEM_ACCOUNT, owner_id=account.id, name=data.name, expires_at=expires
    )
    _created(session, actor, row, SYSTEM_ACCOUNT, account.name)
    return row, token


def get_account_token(
    session: Session, *, actor: Actor, account_id: str, token_id: str
) -> AccessToken:
    """One of a system account's tokens (Organization Admin)."""
    return _account_token(session, actor, account_id, token_id)


def rename_account_token(
    session: Session, *, actor: Actor, account_id: str, token_id: str, name: str
) -> AccessToken:
    """Rename one of a system account's tokens."""
    return _rename(session, actor, _account_token(session, actor, account_id, token_id), name)


def delete_account_token(session: Session, *, actor: Actor, account_id: str, token_id: str) -> None:
    """Delete one of a system account's tokens: it stops working at once."""
    _revoke(session, actor, _account_token(session, actor, account_id, token_id), True)

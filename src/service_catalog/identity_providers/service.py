"""Identity providers and their team-group mappings: the rules.

The client secret is encrypted with :mod:`service_catalog.core.secrets` before it is stored,
and is never returned, logged or put in an event. It is bound to the issuer it was given
for: changing ``issuer_url`` without sending the secret again is a 400, so a stored secret
is never sent to a provider it was not meant for. The issuer must be ``https`` (``http``
only on a loopback host) and pass the upstream origin policy (:mod:`core.outbound`).
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service_catalog.access.service import require_org_admin
from service_catalog.auth.service import Actor
from service_catalog.core import query as q
from service_catalog.core.db import utcnow
from service_catalog.core.errors import Problem, bad_request, conflict
from service_catalog.core.outbound import OutboundRefused, check_base_url
from service_catalog.core.render import ts
from service_catalog.core.secrets import SecretBox
from service_catalog.events.service import record_action
from service_catalog.identity_providers.models import IdentityProvider, IdpTeamGroupMapping
from service_catalog.identity_providers.schemas import (
    DEFAULT_SCOPES,
    ClaimMappings,
    IdentityProviderCreate,
    IdentityProviderUpdate,
    TeamGroupMappingCreate,
)

MAPPING_FILTERS = q.FilterSpec(
    fields={
        "team_id": q.FilterField("string", IdpTeamGroupMapping.team_id),
        "group": q.FilterField("string", IdpTeamGroupMapping.group_name),
    }
)
LOOPBACK_NAMES = ("localhost", "localhost.")


# --- checks -----------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_issuer(url: str) -> str:
    """The issuer URL as stored (without a trailing slash added or removed: issuers compare
    as exact strings); a 400 naming ``config.issuer_url`` when the catalog may not use it."""
    field = "config.issuer_url"
    try:
        check_base_url(url)
    except OutboundRefused as exc:
        raise bad_request(f"Invalid request: {field} {exc}", field, str(exc)) from None
    parts = urlsplit(url.strip())
    if parts.scheme.lower() != "https" and not _is_loopback(parts.hostname or ""):
        reason = "must be an https:// URL (http:// only on a loopback host)"
        raise bad_request(f"Invalid request: {field} {reason}", field, reason, rule="is_https")
    return url.strip()


def _check_scopes(scopes: list[str]) -> list[str]:
    if "openid" not in scopes:
        reason = "must include openid"
        raise bad_request(f"Invalid request: config.scopes {reason}", "config.scopes", reason)
    return list(dict.fromkeys(scopes))


def _not_found(what: str, ident: object) -> Problem:
    return Problem(404, f"The requested {what} [{ident}] was not found")


def _parse_id(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        reason = "must be a valid UUID"
        raise bad_request(
            f"Invalid request: {field} {reason}", field, reason, rule="is_uuid", source="path"
        ) from None


# --- identity providers -----------------------------------------------------------------


def to_dict(idp: IdentityProvider) -> dict[str, Any]:
    """An identity provider in the contract's shape: never its client secret."""
    settings = idp.settings or {}
    return {
        "id": str(idp.id),
        "type": idp.type,
        "enabled": idp.enabled,
        "login_path": idp.login_path,
        "config": {
            "issuer_url": idp.issuer_url,
            "client_id": idp.client_id,
            "scopes": list(settings.get("scopes") or DEFAULT_SCOPES),
            "claim_mappings": claim_mappings(idp).model_dump(),
        },
        "created_at": ts(idp.created_at),
        "updated_at": ts(idp.updated_at),
    }


def claim_mappings(idp: IdentityProvider) -> ClaimMappings:
    """The provider's claim mappings (the contract's defaults where unset)."""
    return ClaimMappings.model_validate((idp.settings or {}).get("claim_mappings") or {})


def scopes_of(idp: IdentityProvider) -> list[str]:
    """The scopes a sign-in asks for."""
    return list((idp.settings or {}).get("scopes") or DEFAULT_SCOPES)


def client_secret_of(idp: IdentityProvider, box: SecretBox) -> str | None:
    """The decrypted client secret (for the token request only), or None for a public
    client."""
    if idp.client_secret is None:
        return None
    value = box.decrypt(idp.client_secret)
    return value if isinstance(value, str) else None


def _audit(session: Session, actor: Actor, idp: IdentityProvider, kind: str, detail: str) -> None:
    record_action(
        session,
        actor=actor,
        type=f"identity_provider.{kind}",
        detail=detail,
        attributes={
            "identity_provider_id": str(idp.id),
            "login_path": idp.login_path,
            "issuer_url": idp.issuer_url,
        },
    )


def _flush_unique(session: Session, login_path: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise conflict(f"An identity provider with login_path [{login_path}] exists") from None


def _check_one_enabled(session: Session, idp: IdentityProvider) -> None:
    if not idp.enabled:
        return
    other = session.scalar(
        select(IdentityProvider.login_path).where(
            IdentityProvider.enabled.is_(True), IdentityProvider.id != idp.id
        )
    )
    if other is not None:
        raise conflict(
            f"Only one identity provider can be enabled at a time; [{other}] is enabled: "
            "disable it first"
        )


def create_identity_provider(
    session: Session, *, data: IdentityProviderCreate, actor: Actor, box: SecretBox
) -> IdentityProvider:
    """Configure an identity provider (409 when its login path is taken, or when it is
    enabled while another one is). For an Organization Admin."""
    require_org_admin(actor)
    cfg = data.config
    idp = IdentityProvider(
        type=data.type,
        enabled=data.enabled,
        login_path=data.login_path,
        issuer_url=check_issuer(cfg.issuer_url),
        client_id=cfg.client_id,
        client_secret=box.encrypt(cfg.client_secret) if cfg.client_secret is not None else None,
        settings={
            "scopes": _check_scopes(cfg.scopes if cfg.scopes is not None else DEFAULT_SCOPES),
            "claim_mappings": (cfg.claim_mappings or ClaimMappings()).model_dump(),
        },
    )
    _check_one_enabled(session, idp)
    session.add(idp)
    _flush_unique(session, idp.login_path)
    _audit(session, actor, idp, "created", f"Identity provider {idp.login_path} created")
    return idp


def list_identity_providers(
    session: Session, *, query: list[tuple[str, str]], actor: Actor
) -> list[IdentityProvider]:
    """Every identity provider (``filter[type]``/``filter[type][eq]`` narrows by type);
    for an Organization Admin."""
    require_org_admin(actor)
    stmt = select(IdentityProvider).order_by(IdentityProvider.created_at, IdentityProvider.id)
    for key, value in query:
        if key in ("filter[type]", "filter[type][eq]"):
            stmt = stmt.where(IdentityProvider.type == value)
        elif key.startswith("filter["):
            reason = "is not a supported filter; filter[type] is"
            raise bad_request(
                f"Invalid query parameter [{key}]: {reason}", key, reason, source="query"
            )
    return list(session.scalars(stmt))


def get_identity_provider(session: Session, idp_id: str, actor: Actor) -> IdentityProvider:
    """One identity provider by id; 400 for a malformed id, 404 when there is none. Like
    everything about identity providers, an Organization Admin's (403 otherwise)."""
    require_org_admin(actor)
    idp = session.get(IdentityProvider, _parse_id(idp_id, "id"))
    if idp is None:
        raise _not_found("identity provider", idp_id)
    return idp


def update_identity_provider(
    session: Session,
    *,
    idp_id: str,
    data: IdentityProviderUpdate,
    actor: Actor,
    box: SecretBox,
) -> IdentityProvider:
    """Change an identity provider. A new ``issuer_url`` needs the client secret again."""
    idp = get_identity_provider(session, idp_id, actor)
    if data.enabled is not None:
        idp.enabled = data.enabled
    if data.login_path is not None:
        idp.login_path = data.login_path
    cfg = data.config
    if cfg is not None:
        if cfg.issuer_url is not None and cfg.issuer_url.strip() != idp.issuer_url:
            if cfg.client_secret is None and idp.client_secret is not None:
                reason = (
                    "is bound to the issuer it was given for: send it again with a new issuer_url"
                )
                raise bad_request(
                    f"Invalid request: config.client_secret {reason}",
                    "config.client_secret",
                    reason,
                    rule="required",
                )
            idp.issuer_url = check_issuer(cfg.issuer_url)
        if cfg.client_id is not None:
            idp.client_id = cfg.client_id
        if cfg.client_secret is not None:
            idp.client_secret = box.encrypt(cfg.client_secret)
        settings = dict(idp.settings or {})
        if cfg.scopes is not None:
            settings["scopes"] = _check_scopes(cfg.scopes)
        if cfg.claim_mappings is not None:
            settings["claim_mappings"] = cfg.claim_mappings.model_dump()
        idp.settings = settings
    _check_one_enabled(session, idp)
    idp.updated_at = utcnow()
    _flush_unique(session, idp.login_path)
    _audit(session, actor, idp, "updated", f"Identity provider {idp.login_path} updated")
    return idp


def delete_identity_provider(session: Session, *, idp_id: str, actor: Actor) -> None:
    """Remove an identity provider with its mappings and sign-ins in flight."""
    idp = get_identity_provider(session, idp_id, actor)
    _audit(session, actor, idp, "deleted", f"Identity provider {idp.login_path} deleted")
    session.delete(idp)
    session.flush()


def find_by_login_path(session: Session, login_path: str) -> IdentityProvider | None:
    """The enabled identity provider of a login path, or None."""
    return session.scalar(
        select(IdentityProvider).where(
            IdentityProvider.login_path == login_path, IdentityProvider.enabled.is_(True)
        )
    )


# --- team-group mappings ----------------------------------------------------------------


def mapping_to_dict(row: IdpTeamGroupMapping) -> dict[str, Any]:
    """A team-group mapping in the contract's shape."""
    return {
        "id": str(row.id),
        "team_id": row.team_id,
        "group": row.group_name,
        "created_at": ts(row.created_at),
        "updated_at": ts(row.updated_at),
    }


def list_mappings(
    session: Session, *, idp_id: str, query: list[tuple[str, str]], path: str, actor: Actor
) -> tuple[list[IdpTeamGroupMapping], dict[str, Any]]:
    """One cursor page of an identity provider's mappings (``filter[team_id]``,
    ``filter[group]``), oldest first."""
    idp = get_identity_provider(session, idp_id, actor)
    qd = dict(query)
    clauses = q.filter_clauses(MAPPING_FILTERS, query, session.get_bind().dialect.name)
    stmt = select(IdpTeamGroupMapping).where(IdpTeamGroupMapping.idp_id == idp.id, *clauses)
    cols = [
        q.CursorColumn(IdpTeamGroupMapping.created_at, "datetime", "created_at"),
        q.CursorColumn(IdpTeamGroupMapping.id, "uuid", "id"),
    ]
    return q.cursor_page(session, stmt, cols, q.cursor_request(qd), path=path, query=qd)


def create_mapping(
    session: Session, *, idp_id: str, data: TeamGroupMappingCreate, actor: Actor
) -> IdpTeamGroupMapping:
    """Map a group of the identity provider to a team (409 when already mapped)."""
    idp = get_identity_provider(session, idp_id, actor)
    row = IdpTeamGroupMapping(idp_id=idp.id, team_id=str(data.team_id), group_name=data.group)
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise conflict(f"Group [{data.group}] is already mapped to team [{data.team_id}]") from None
    record_action(
        session,
        actor=actor,
        type="identity_provider.team_group_mapping_created",
        detail=f"Group {data.group} of {idp.login_path} mapped to team {data.team_id}",
        attributes={
            "identity_provider_id": str(idp.id),
            "team_id": row.team_id,
            "group": row.group_name,
        },
    )
    return row


def get_mapping(
    session: Session, *, idp_id: str, mapping_id: str, actor: Actor
) -> IdpTeamGroupMapping:
    """One mapping of an identity provider."""
    idp = get_identity_provider(session, idp_id, actor)
    row = session.get(IdpTeamGroupMapping, _parse_id(mapping_id, "id"))
    if row is None or row.idp_id != idp.id:
        raise _not_found("team group mapping", mapping_id)
    return row


def delete_mapping(session: Session, *, idp_id: str, mapping_id: str, actor: Actor) -> None:
    """Remove a mapping (members keep the team until their next sign-in)."""
    row = get_mapping(session, idp_id=idp_id, mapping_id=mapping_id, actor=actor)
    record_action(
        session,
        actor=actor,
        type="identity_provider.team_group_mapping_deleted",
        detail=f"Group {row.group_name} no longer mapped to team {row.team_id}",
        attributes={
            "identity_provider_id": str(row.idp_id),
            "team_id": row.team_id,
            "group": row.group_name,
        },
    )
    session.delete(row)
    session.flush()


def teams_for_groups(session: Session, idp: IdentityProvider, groups: list[str]) -> list[str]:
    """The team ids the given groups of ``idp`` map to (sorted, each once)."""
    if not groups:
        return []
    rows = session.scalars(
        select(IdpTeamGroupMapping.team_id)
        .where(IdpTeamGroupMapping.idp_id == idp.id, IdpTeamGroupMapping.group_name.in_(groups))
        .distinct()
    )
    return sorted(rows)

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

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service_catalog.access.service import require_org_admin
from service_catalog.auth.access import identity_changed
from service_catalog.auth.models import Team, TeamMembership
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
    IdpConfigurationUpdate,
    OidcConfigUpdate,
    TeamGroupMappingCreate,
    TeamGroupsPatch,
    TeamMappingsUpdate,
)

MAPPING_FILTERS = q.FilterSpec(
    fields={
        "team_id": q.FilterField("uuid", IdpTeamGroupMapping.team_id),
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
    enabled while another one is)."""
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
    session: Session, *, actor: Actor, query: list[tuple[str, str]]
) -> list[IdentityProvider]:
    """Every identity provider (``filter[type]``/``filter[type][eq]`` narrows by type)."""
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


def read_identity_provider(session: Session, *, actor: Actor, idp_id: str) -> IdentityProvider:
    """One identity provider, for an Organization Admin."""
    require_org_admin(actor)
    return get_identity_provider(session, idp_id)


def get_identity_provider(session: Session, idp_id: str) -> IdentityProvider:
    """One identity provider by id; 400 for a malformed id, 404 when there is none."""
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
    require_org_admin(actor)
    idp = get_identity_provider(session, idp_id)
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
    """Remove an identity provider with its mappings and sign-ins in flight, and the team
    memberships its groups gave (a user keeps the teams it was given by hand)."""
    require_org_admin(actor)
    idp = get_identity_provider(session, idp_id)
    gone = session.execute(delete(TeamMembership).where(TeamMembership.idp_id == idp.id))
    if getattr(gone, "rowcount", 0):
        identity_changed(session)
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


def sign_in_provider(session: Session) -> IdentityProvider | None:
    """The enabled identity provider that browsers sign in through (the console's sign-in
    page offers it to anyone: no rights needed), or None."""
    return session.scalar(select(IdentityProvider).where(IdentityProvider.enabled.is_(True)))


# --- team-group mappings ----------------------------------------------------------------


def check_team(session: Session, team_id: uuid.UUID, field: str) -> None:
    """A 400 naming ``field`` unless the team exists."""
    if session.get(Team, team_id) is None:
        reason = f"names no team ({team_id})"
        raise bad_request(f"Invalid request: {field} {reason}", field, reason, rule="exists")


def mapping_to_dict(row: IdpTeamGroupMapping) -> dict[str, Any]:
    """A team-group mapping in the contract's shape."""
    return {
        "id": str(row.id),
        "team_id": str(row.team_id),
        "group": row.group_name,
        "created_at": ts(row.created_at),
        "updated_at": ts(row.updated_at),
    }


def list_mappings(
    session: Session, *, actor: Actor, idp_id: str, query: list[tuple[str, str]], path: str
) -> tuple[list[IdpTeamGroupMapping], dict[str, Any]]:
    """One cursor page of an identity provider's mappings (``filter[team_id]``,
    ``filter[group]``), oldest first."""
    require_org_admin(actor)
    idp = get_identity_provider(session, idp_id)
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
    require_org_admin(actor)
    idp = get_identity_provider(session, idp_id)
    check_team(session, data.team_id, "team_id")
    row = IdpTeamGroupMapping(idp_id=idp.id, team_id=data.team_id, group_name=data.group)
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise conflict(f"Group [{data.group}] is already mapped to team [{data.team_id}]") from None
    detail = f"Group {data.group} of {idp.login_path} mapped to team {data.team_id}"
    _record_mapping(session, actor, "created", detail, row)
    return row


def _record_mapping(
    session: Session, actor: Actor, verb: str, detail: str, row: IdpTeamGroupMapping
) -> None:
    """Record that a team-group mapping was ``verb`` ("created", "deleted")."""
    record_action(
        session,
        actor=actor,
        type=f"identity_provider.team_group_mapping_{verb}",
        detail=detail,
        attributes={
            "identity_provider_id": str(row.idp_id),
            "team_id": str(row.team_id),
            "group": row.group_name,
        },
    )


def get_mapping(
    session: Session, *, actor: Actor, idp_id: str, mapping_id: str
) -> IdpTeamGroupMapping:
    """One mapping of an identity provider."""
    require_org_admin(actor)
    idp = get_identity_provider(session, idp_id)
    row = session.get(IdpTeamGroupMapping, _parse_id(mapping_id, "id"))
    if row is None or row.idp_id != idp.id:
        raise _not_found("team group mapping", mapping_id)
    return row


def delete_mapping(session: Session, *, idp_id: str, mapping_id: str, actor: Actor) -> None:
    """Remove a mapping (members keep the team until their next sign-in)."""
    row = get_mapping(session, actor=actor, idp_id=idp_id, mapping_id=mapping_id)
    detail = f"Group {row.group_name} no longer mapped to team {row.team_id}"
    _record_mapping(session, actor, "deleted", detail, row)
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
    return sorted(str(r) for r in rows)


# --- the legacy single-provider paths (``/v3/identity-provider``) ------------------------
# Konnect's older API knows one identity provider per organization: these functions serve
# it from the enabled provider. Mappings are few (a group per team at most, in practice):
# they are grouped and paged in memory.


def enabled_provider(session: Session, *, actor: Actor, missing: int = 404) -> IdentityProvider:
    """The enabled identity provider, for an Organization Admin; ``missing`` (404, or 400
    where the contract says so) when none is enabled."""
    require_org_admin(actor)
    idp = session.scalar(select(IdentityProvider).where(IdentityProvider.enabled.is_(True)))
    if idp is None:
        detail = "No identity provider is enabled; configure one at /v3/identity-providers"
        if missing == 400:
            raise bad_request(detail, "identity_provider", "is not configured", rule="required")
        raise Problem(missing, detail)
    return idp


def configuration_dict(idp: IdentityProvider) -> dict[str, Any]:
    """The provider in the older contract's ``IdP`` shape (never its client secret)."""
    return {
        "issuer": idp.issuer_url,
        "login_path": idp.login_path,
        "client_id": idp.client_id,
        "scopes": scopes_of(idp),
        "claim_mappings": claim_mappings(idp).model_dump(),
    }


def update_configuration(
    session: Session, *, actor: Actor, data: IdpConfigurationUpdate, box: SecretBox
) -> IdentityProvider:
    """``PATCH /v3/identity-provider``: change the enabled provider."""
    idp = enabled_provider(session, actor=actor)
    fields = data.model_dump(exclude_unset=True)
    config = {
        key: fields[name]
        for name, key in (
            ("issuer", "issuer_url"),
            ("client_id", "client_id"),
            ("client_secret", "client_secret"),
            ("scopes", "scopes"),
            ("claim_mappings", "claim_mappings"),
        )
        if fields.get(name) is not None
    }
    update = IdentityProviderUpdate(
        login_path=data.login_path,
        config=OidcConfigUpdate.model_validate(config) if config else None,
    )
    return update_identity_provider(session, idp_id=str(idp.id), data=update, actor=actor, box=box)


def _all_mappings(session: Session, idp: IdentityProvider) -> list[IdpTeamGroupMapping]:
    return list(
        session.scalars(
            select(IdpTeamGroupMapping)
            .where(IdpTeamGroupMapping.idp_id == idp.id)
            .order_by(IdpTeamGroupMapping.created_at, IdpTeamGroupMapping.id)
        )
    )


def _number_page(
    items: list[dict[str, Any]], query: list[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    request = q.page_request(dict(query))
    start = (request.number - 1) * request.size
    return items[start : start + request.size], q.page_meta(request, len(items))


def group_teams(session: Session, idp: IdentityProvider) -> list[dict[str, Any]]:
    """Every mapped group with its teams (groups by name)."""
    by_group: dict[str, list[str]] = {}
    for row in _all_mappings(session, idp):
        by_group.setdefault(row.group_name, []).append(str(row.team_id))
    return [{"group": g, "team_ids": by_group[g]} for g in sorted(by_group)]


def team_groups(session: Session, idp: IdentityProvider) -> list[dict[str, Any]]:
    """Every mapped team with its groups (teams in the order first mapped)."""
    by_team: dict[str, list[str]] = {}
    for row in _all_mappings(session, idp):
        by_team.setdefault(str(row.team_id), []).append(row.group_name)
    return [{"team_id": t, "groups": groups} for t, groups in by_team.items()]


def list_group_teams(
    session: Session, *, actor: Actor, query: list[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``GET /v3/identity-provider/team-mappings``: a numbered page of groups."""
    return _number_page(group_teams(session, enabled_provider(session, actor=actor)), query)


def list_team_groups(
    session: Session, *, actor: Actor, query: list[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``GET /v3/identity-provider/team-group-mappings``: a numbered page of teams (a 400
    when no provider is enabled, as the contract has it)."""
    idp = enabled_provider(session, actor=actor, missing=400)
    return _number_page(team_groups(session, idp), query)


def _replace(
    session: Session,
    actor: Actor,
    idp: IdentityProvider,
    current: list[IdpTeamGroupMapping],
    wanted: set[tuple[uuid.UUID, str]],
) -> None:
    """Make the (team, group) pairs of ``current`` exactly ``wanted``."""
    have = {(row.team_id, row.group_name): row for row in current}
    for pair, row in have.items():
        if pair not in wanted:
            delete_mapping(session, idp_id=str(idp.id), mapping_id=str(row.id), actor=actor)
    for team_id, group in sorted(wanted - set(have), key=lambda p: (str(p[0]), p[1])):
        create_mapping(
            session,
            idp_id=str(idp.id),
            data=TeamGroupMappingCreate(team_id=team_id, group=group),
            actor=actor,
        )


def replace_group_teams(
    session: Session, *, actor: Actor, data: TeamMappingsUpdate
) -> list[dict[str, Any]]:
    """``PUT /v3/identity-provider/team-mappings``: each given group maps to exactly the
    given teams (an unknown team is a 400); every group's teams after it."""
    idp = enabled_provider(session, actor=actor)
    for n, item in enumerate(data.mappings):
        for m, team_id in enumerate(item.team_ids):
            check_team(session, team_id, f"mappings.{n}.team_ids.{m}")
        current = [r for r in _all_mappings(session, idp) if r.group_name == item.group]
        _replace(session, actor, idp, current, {(t, item.group) for t in item.team_ids})
    return group_teams(session, idp)


def replace_team_groups(
    session: Session, *, actor: Actor, data: TeamGroupsPatch, query: list[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``PATCH /v3/identity-provider/team-group-mappings``: each given team is mapped from
    exactly the given groups (an empty list unmaps it; an unknown team is a 400)."""
    idp = enabled_provider(session, actor=actor, missing=400)
    for n, item in enumerate(data.data):
        check_team(session, item.team_id, f"data.{n}.team_id")
        current = [r for r in _all_mappings(session, idp) if r.team_id == item.team_id]
        _replace(session, actor, idp, current, {(item.team_id, g) for g in item.groups})
    return _number_page(team_groups(session, idp), query)

"""Auth credentials and auth configs of integration instances.

Secrets (credential header values, OAuth codes and client secrets) are encrypted with
:mod:`service_catalog.core.secrets` before they are stored and are never returned,
logged, put in an event or in an error. ``load_credential`` and ``taint_credential`` are
for the sync engine.

A credential is bound to the upstream origin (``scheme://host:port``) it was stored and
verified for (kept in its non-secret ``public`` column, shown as ``upstream_origin``).
Changing an instance's upstream origin while it has a credential is refused (see
``integrations.service.update_instance``); a loaded credential carries its origin, and
``UpstreamHTTP`` sends it nowhere else (verify, sync, the endpoints sub-list).

Why a verification failed is stored classified (``unauthorized``, ``forbidden``,
``unreachable``, ``invalid_response``) with the upstream's status, and the reason text
has every 6+ character piece of the secrets removed, in any encoding or case
(:func:`service_catalog.integrations.connectors.base.redact_secrets`).

Nothing here commits: functions work in the caller's unit of work. Those that ask the
upstream (:func:`create_credential`, :func:`reverify_credential`) take the unit itself, a
deferred one (:data:`service_catalog.auth.deps.DeferredWriteCtxDep`): they read in its read
phase, release it, ask the upstream holding no transaction and no SQLite writer's turn,
and write in its write phase.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service_catalog.auth.access import INTEGRATION_ADMIN, Rights
from service_catalog.auth.guard import INTEGRATION_READERS, require_any
from service_catalog.auth.service import SYSTEM, Actor
from service_catalog.core.db import UnitOfWork, utcnow
from service_catalog.core.errors import Problem, bad_request, conflict, validation_problem
from service_catalog.core.render import ts
from service_catalog.core.secrets import SecretBox, get_box
from service_catalog.events.service import record_action
from service_catalog.integrations import registry
from service_catalog.integrations.connectors.base import (
    ConnectorError,
    Credential,
    UpstreamHTTP,
    VerifyResult,
    redact_secrets,
)
from service_catalog.integrations.instances import get_instance
from service_catalog.integrations.models import AuthConfig, AuthCredential, IntegrationInstance
from service_catalog.integrations.schemas import (
    CREDENTIAL_TYPES,
    CredentialType,
    UpsertOAuthAuthConfig,
)
from service_catalog.settings import Settings

log = logging.getLogger("service_catalog.integrations")


def _record(
    session: Session,
    actor: Actor,
    inst: IntegrationInstance,
    event_type: str,
    detail: str,
    /,
    **attributes: Any,
) -> None:
    """Record ``event_type`` about ``inst``'s auth in the audit trail; its attributes name the
    instance (``instance_id``, ``instance``), then ``attributes``."""
    record_action(
        session,
        actor=actor,
        type=event_type,
        detail=detail,
        attributes={"instance_id": str(inst.id), "instance": inst.name, **attributes},
    )


def _ref(inst: IntegrationInstance) -> dict[str, Any]:
    return {"id": str(inst.id), "name": inst.name, "display_name": inst.display_name}


# --- auth credentials ------------------------------------------------------------------


def credential_to_dict(cred: AuthCredential, inst: IntegrationInstance) -> dict[str, Any]:
    """A credential as the contract's ``IntegrationInstanceAuthCredential``: metadata only,
    plus non-secret extras (``verified``, ``last_verified_at``, ``verification_reason``, and
    the header names or the non-secret config)."""
    missing = cred.missing_permissions
    out: dict[str, Any] = {
        "id": str(cred.id),
        "type": cred.type,
        "integration_instance": _ref(inst),
        "missing_permissions": missing if isinstance(missing, list) else [],
        "tainted": bool(cred.tainted),
        "expires_at": ts(cred.expires_at),
        "created_at": ts(cred.created_at),
        "verified": cred.verification == "verified",
        "last_verified_at": ts(cred.last_verified_at),
        "verification_reason": cred.tainted_reason if cred.tainted else cred.verification_reason,
    }
    public = dict(cred.public or {})
    failure = public.get("verification")
    out["verification_error"] = (
        dict(failure) if isinstance(failure, dict) and cred.verification != "verified" else None
    )
    out["upstream_origin"] = public.get("origin")
    kind = CREDENTIAL_TYPES.get(cred.type)
    if kind is not None:
        out["config"] = kind.public_view(public)
    return out


def _parse_credential(body: Any) -> CredentialType[Any]:
    if not isinstance(body, dict):
        raise bad_request(
            "Invalid request: body must be an object", "body", "must be an object", rule="is_object"
        )
    ctype = body.get("type")
    model = CREDENTIAL_TYPES.get(ctype) if isinstance(ctype, str) else None
    if model is None:
        choices = list(CREDENTIAL_TYPES)
        if ctype is None:
            raise bad_request(
                "Invalid request: type is a required field",
                "type",
                "is a required field",
                rule="required",
            )
        reason = f"must be one of {', '.join(choices)}"
        raise bad_request(
            f"Invalid request: type {reason}", "type", reason, rule="enum", choices=choices
        )
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise validation_problem(list(exc.errors())) from None


def _check_fits(integ: registry.Integration, parsed: CredentialType[Any]) -> None:
    """The credential's type (and what the type checks, e.g. header names) must be what
    the integration declares."""
    want = integ.auth_type
    if want is None:
        return
    accepted = [want, *integ.credential_types]
    if parsed.type not in accepted:
        names = " or ".join(accepted)
        raise bad_request(
            f"Invalid request: integration {integ.name} takes a {names} credential",
            "type",
            f"must be {names} for integration {integ.name}",
            rule="enum",
            choices=accepted,
        )
    parsed.check_fits(integ)


#: Longest reason kept for a failed verification (the upstream's words are an excerpt).
MAX_REASON = 400


def scrub(text: str, credential: Credential | None) -> str:
    """``text`` with every piece of 6+ characters of ``credential``'s secrets (raw, base64,
    URL-encoded, in any case) replaced by ``[redacted]``."""
    if credential is None:
        return text
    return redact_secrets(text, credential.secret_values())


def _classify(result: VerifyResult, failure: ConnectorError | None) -> VerifyResult:
    """``result`` with its ``error`` class and ``upstream_status`` filled in from the
    last failure the HTTP client saw."""
    status = failure.status if failure is not None else None
    if result.status == "accepted":
        return VerifyResult("accepted", "")
    if result.status == "rejected":
        error = "forbidden" if status == 403 else "unauthorized"
    elif failure is not None and (
        failure.kind in ("timeout", "unreachable", "rate_limited", "config")
        or (status is not None and status >= 500)
    ):
        error = "unreachable"
    else:  # no failure seen by the HTTP client (an answer it could not use), 4xx, malformed
        error = "invalid_response"
    return VerifyResult(result.status, result.reason, error=error, upstream_status=status)


def _short_reason(text: str, credential: Credential) -> str:
    text = scrub(" ".join(str(text).split()), credential)
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."


def verify_connection(
    inst: IntegrationInstance, credential: Credential, http: UpstreamHTTP | None = None
) -> VerifyResult | None:
    """Ask the instance's connector whether the upstream accepts ``credential``; None for
    a push-only integration. The reason never contains the credential's secrets (in any
    encoding), and says why by a class (``error``) and the upstream's status."""
    http = http or UpstreamHTTP(timeout=10.0, retries=1, backoff=0.2, max_sleep=2.0)
    try:
        connector = registry.connector_for(inst, credential, http=http)
    except LookupError as exc:
        return VerifyResult("unreachable", str(exc), error="unreachable")
    if connector is None:
        return None
    try:
        result = connector.verify()
    except ConnectorError as exc:
        result = VerifyResult("rejected" if exc.kind == "auth" else "unreachable", exc.message)
    except Exception as exc:  # a connector bug must not leak or 500
        log.warning("verifying instance %s failed: %s", inst.name, type(exc).__name__)
        result = VerifyResult("unreachable", f"The connector failed: {type(exc).__name__}")
    finally:
        connector.close()
    result = _classify(result, http.last_failure)
    result.reason = _short_reason(result.reason, credential)
    return result


def _failure_record(result: VerifyResult) -> dict[str, Any]:
    return {"reason": result.error, "upstream_status": result.upstream_status}


def _origin_mismatch(inst: IntegrationInstance, bound: str | None) -> Problem | None:
    current = registry.instance_origin(inst)
    if bound is None or current is None or bound == current:
        return None
    return Problem(
        400,
        f"The auth credential of integration instance [{inst.name}] was stored for "
        f"{bound}, but the instance now points at {current}; it is never sent to "
        f"another origin. DELETE /v1/integration-instances/{inst.id}/auth-credential and "
        "POST it again for the new upstream",
        invalid_parameters=[
            {
                "field": "config.base_url",
                "rule": "invalid",
                "source": "body",
                "reason": f"the auth credential is bound to {bound}",
            }
        ],
    )


def _existing_credential(session: Session, inst: IntegrationInstance) -> AuthCredential | None:
    return session.scalar(select(AuthCredential).where(AuthCredential.instance_id == inst.id))


def create_credential(
    uow: UnitOfWork,
    *,
    instance_id: str,
    body: Any,
    actor: Actor,
    box: SecretBox,
    http: UpstreamHTTP | None = None,
) -> tuple[AuthCredential, IntegrationInstance]:
    """Store the instance's one credential (409 when it has one) after the upstream
    verified it: rejected is a 400 saying what the upstream said and stores nothing;
    unreachable stores it unverified (instance stays unauthorized); accepted authorizes
    the instance. A push-only integration takes it without verification.

    In three steps of the caller's deferred unit of work: validate and prepare (its read
    phase), ask the upstream holding no transaction and not the SQLite writer's turn (a
    slow upstream holds up no other write), then store (its write phase, where what
    could have changed meanwhile is looked at again)."""
    require_any(actor.rights, INTEGRATION_ADMIN)
    inst = get_instance(uow.session, instance_id=instance_id)
    if _existing_credential(uow.session, inst) is not None:
        raise conflict(
            f"Integration instance [{inst.name}] already has an auth credential; "
            f"verify it again with POST /v1/integration-instances/{inst.id}/"
            "auth-credential/verify, or DELETE it first to replace it"
        )
    parsed = _parse_credential(body)
    integ = registry.require_integration(inst.integration_name)
    _check_fits(integ, parsed)
    public, secret = parsed.split()
    credential = parsed.credential(public, secret)
    origin = registry.instance_origin(inst)
    if origin is not None:
        public["origin"] = credential.origin = origin
    uow.release()
    result = verify_connection(inst, credential, http)
    if result is not None and result.status == "rejected":
        raise Problem(
            400,
            f"The upstream rejected the credential: {result.reason}",
            invalid_parameters=[
                {"field": "config", "rule": "invalid", "reason": result.reason, "source": "body"}
            ],
        )
    session = uow.begin_write()
    now = utcnow()
    # Write first, then look: the instance row's lock serializes concurrent credential
    # writes (PostgreSQL row lock; SQLite takes its write lock before reading a snapshot).
    session.execute(
        update(IntegrationInstance).where(IntegrationInstance.id == inst.id).values(updated_at=now)
    )
    current = session.get(IntegrationInstance, inst.id, populate_existing=True)
    if current is None:
        raise Problem(
            404,
            f"Integration instance [{inst.name}] was deleted while the "
            "credential was being verified",
        )
    inst = current
    if _existing_credential(session, inst) is not None:  # another request was quicker
        raise conflict(f"Integration instance [{inst.name}] already has an auth credential")
    if registry.instance_origin(inst) != origin:  # its base_url changed meanwhile
        raise conflict(
            f"The upstream of integration instance [{inst.name}] changed while the "
            "credential was being verified; POST it again"
        )
    cred = AuthCredential(
        instance_id=inst.id,
        type=parsed.type,
        public=public,
        secret=box.encrypt(secret),
        created_at=now,
    )
    if result is None:
        cred.verification, cred.verification_reason = (
            "unverified",
            (f"Integration {integ.name} does not verify credentials"),
        )
        inst.authorized = True
    elif result.status == "accepted":
        cred.verification, cred.last_verified_at = "verified", now
        inst.authorized = True
    else:
        cred.verification, cred.verification_reason = "unverified", result.reason
        cred.public = {**public, "verification": _failure_record(result)}
        inst.authorized = False
    inst.updated_at = now
    try:
        with session.begin_nested():  # a concurrent POST for the same instance wins
            session.add(cred)
    except IntegrityError:
        raise conflict(
            f"Integration instance [{inst.name}] already has an auth credential"
        ) from None
    log.info("auth credential of instance %s stored (%s)", inst.name, cred.verification)
    _record(
        session,
        actor,
        inst,
        "auth_credential.created",
        f"Auth credential ({cred.type}) of integration instance {inst.name} "
        f"added by {actor.name}; {cred.verification}",
        type=cred.type,
        verification=cred.verification,
        **({"headers": public["headers"]} if "headers" in public else {}),
    )
    return cred, inst


def get_credential(
    session: Session, *, instance_id: str, rights: Rights
) -> tuple[AuthCredential, IntegrationInstance]:
    """The instance's credential (metadata); 404 when the instance or credential is missing."""
    require_any(rights, *INTEGRATION_READERS)
    inst = get_instance(session, instance_id=instance_id)
    cred = _existing_credential(session, inst)
    if cred is None:
        raise Problem(404, f"Integration instance [{inst.name}] has no auth credential")
    return cred, inst


def delete_credential(session: Session, *, instance_id: str, actor: Actor) -> None:
    """Remove the instance's credential; the instance becomes unauthorized (unless its
    integration is push-only)."""
    require_any(actor.rights, INTEGRATION_ADMIN)
    cred, inst = get_credential(session, instance_id=instance_id, rights=actor.rights)
    integ = registry.get_integration(inst.integration_name)
    session.execute(delete(AuthCredential).where(AuthCredential.id == cred.id))
    inst.authorized = bool(integ and integ.push_only)
    inst.updated_at = utcnow()
    _record(
        session,
        actor,
        inst,
        "auth_credential.deleted",
        f"Auth credential ({cred.type}) of integration instance {inst.name} "
        f"removed by {actor.name}",
        type=cred.type,
    )


def load_credential(
    session: Session, instance: IntegrationInstance, *, settings: Settings | None = None
) -> Credential | None:
    """The instance's credential decrypted (in memory only), or None when it has none.

    Pass the process's ``settings`` (key); without them, the key configured with
    :func:`service_catalog.core.secrets.configure` or the environment's is used. The
    credential carries the origin it was stored for: an ``UpstreamHTTP`` given it sends
    it to no other origin, whatever the instance's config says now.
    """
    cred = _existing_credential(session, instance)
    if cred is None:
        return None
    secret = get_box(settings).decrypt(cred.secret) if cred.secret else {}
    public = dict(cred.public or {})
    # The origin it was stored for; one stored before origins were recorded is bound to
    # the instance's (which cannot change while the credential exists).
    origin = public.pop("origin", None) or registry.instance_origin(instance)
    public.pop("verification", None)
    kind = CREDENTIAL_TYPES.get(cred.type)
    if kind is None:  # a type this catalog no longer knows: its parts as they are
        return Credential(type=cred.type, values={**public, **(secret or {})}, origin=origin)
    return kind.credential(public, secret or {}, origin)


def taint_credential(
    session: Session,
    instance: IntegrationInstance,
    reason: str,
    *,
    settings: Settings | None = None,
) -> None:
    """Mark the instance's credential as no longer valid (``tainted: true``, with the
    reason, scrubbed of the secret) and the instance unauthorized, in the caller's
    transaction. For the sync engine, when the upstream rejects the credential."""
    cred = _existing_credential(session, instance)
    if cred is not None:
        try:
            loaded = load_credential(session, instance, settings=settings)
            reason = _short_reason(reason, loaded) if loaded else reason
        except Exception:  # an undecryptable secret cannot be in the reason
            log.debug("cannot decrypt the credential of %s to scrub a reason", instance.name)
        status = 403 if "HTTP 403" in reason else 401 if "HTTP 401" in reason else None
        cred.tainted = True
        cred.tainted_reason = reason
        cred.verification = "rejected"
        cred.public = {
            **(cred.public or {}),
            "verification": {
                "reason": "forbidden" if status == 403 else "unauthorized",
                "upstream_status": status,
            },
        }
    instance.authorized = False
    instance.updated_at = utcnow()
    _record(
        session,
        SYSTEM,
        instance,
        "auth_credential.tainted",
        f"The upstream rejected the credential of integration instance {instance.name}: {reason}",
    )


def reverify_credential(
    uow: UnitOfWork,
    *,
    instance_id: str,
    actor: Actor,
    settings: Settings | None = None,
    http: UpstreamHTTP | None = None,
) -> tuple[AuthCredential, IntegrationInstance]:
    """Verify the stored credential again and record the answer: accepted clears
    ``tainted`` and authorizes the instance; rejected taints it; unreachable leaves it
    unverified and the instance unauthorized. Read, ask the upstream outside any
    transaction, then write, as :func:`create_credential` does."""
    require_any(actor.rights, INTEGRATION_ADMIN)
    cred, inst = get_credential(uow.session, instance_id=instance_id, rights=actor.rights)
    mismatch = _origin_mismatch(inst, (cred.public or {}).get("origin"))
    if mismatch is not None:
        raise mismatch
    credential = load_credential(uow.session, inst, settings=settings)
    assert credential is not None
    verified_id = cred.id
    uow.release()
    result = verify_connection(inst, credential, http)
    cred, inst = get_credential(uow.begin_write(), instance_id=str(inst.id), rights=actor.rights)
    if cred.id != verified_id:  # deleted and stored again meanwhile
        raise conflict(
            f"The auth credential of integration instance [{inst.name}] was "
            "replaced while it was being verified; verify it again"
        )
    now = utcnow()
    public = {k: v for k, v in (cred.public or {}).items() if k != "verification"}
    if credential.origin is not None:
        public["origin"] = credential.origin
    if result is None or result.status == "accepted":
        cred.tainted, cred.tainted_reason = False, None
        if result is not None:
            cred.verification, cred.verification_reason, cred.last_verified_at = (
                "verified",
                None,
                now,
            )
        inst.authorized = True
    elif result.status == "rejected":
        cred.tainted, cred.tainted_reason, cred.verification = True, result.reason, "rejected"
        public["verification"] = _failure_record(result)
        inst.authorized = False
    else:
        cred.verification, cred.verification_reason = "unverified", result.reason
        public["verification"] = _failure_record(result)
        inst.authorized = False
    cred.public = public
    inst.updated_at = now
    _record(
        uow.session,
        actor,
        inst,
        "auth_credential.verified",
        f"Auth credential of integration instance {inst.name} verified by "
        f"{actor.name}: {cred.verification}",
        verification=cred.verification,
    )
    return cred, inst


# --- auth config ----------------------------------------------------------------------


def auth_config_to_dict(cfg: AuthConfig) -> dict[str, Any]:
    """An auth config as the contract's ``OAuthAuthConfig`` (never the client secret)."""
    public = cfg.public or {}
    return {
        "type": cfg.type,
        "client_id": public.get("client_id", ""),
        "authorization_endpoint": public.get("authorization_endpoint", ""),
        "token_endpoint": public.get("token_endpoint", ""),
    }


def _existing_config(session: Session, inst: IntegrationInstance) -> AuthConfig | None:
    return session.scalar(select(AuthConfig).where(AuthConfig.instance_id == inst.id))


def get_auth_config(session: Session, *, instance_id: str, rights: Rights) -> AuthConfig:
    """The instance's auth config; 404 when the instance or the config is missing."""
    require_any(rights, *INTEGRATION_READERS)
    inst = get_instance(session, instance_id=instance_id)
    cfg = _existing_config(session, inst)
    if cfg is None:
        raise Problem(404, f"Integration instance [{inst.name}] has no auth config")
    return cfg


def put_auth_config(
    session: Session, *, instance_id: str, data: UpsertOAuthAuthConfig, actor: Actor, box: SecretBox
) -> AuthConfig:
    """Create or replace the instance's auth config; the client secret is encrypted. A
    type the instance's integration does not take is a 400 (an integration that declares
    no authorization, such as ``custom``, takes any, as it takes any credential)."""
    require_any(actor.rights, INTEGRATION_ADMIN)
    inst = get_instance(session, instance_id=instance_id)
    integ = registry.require_integration(inst.integration_name)
    if integ.auth_type is not None and data.type != integ.auth_type:
        raise bad_request(
            f"Invalid request: integration {integ.name} does not take a {data.type} auth "
            f"config (it authorizes with {integ.auth_type}: POST .../auth-credential)",
            "type",
            f"integration {integ.name} does not support {data.type}",
            rule="enum",
            choices=[integ.auth_type],
        )
    cfg = _existing_config(session, inst)
    now = utcnow()
    public = {
        "client_id": data.client_id,
        "authorization_endpoint": data.authorization_endpoint,
        "token_endpoint": data.token_endpoint,
    }
    if cfg is None:
        cfg = AuthConfig(instance_id=inst.id, created_at=now, type=data.type)
        session.add(cfg)
    cfg.type, cfg.public, cfg.updated_at = data.type, public, now
    cfg.secret = box.encrypt({"client_secret": data.client_secret})
    session.flush()
    _record(
        session,
        actor,
        inst,
        "auth_config.updated",
        f"Auth config ({data.type}) of integration instance {inst.name} set by {actor.name}",
        client_id=data.client_id,
    )
    return cfg


def delete_auth_config(session: Session, *, instance_id: str, actor: Actor) -> None:
    """Remove the instance's auth config (404 when it has none)."""
    require_any(actor.rights, INTEGRATION_ADMIN)
    cfg = get_auth_config(session, instance_id=instance_id, rights=actor.rights)
    inst = get_instance(session, instance_id=instance_id)
    session.execute(delete(AuthConfig).where(AuthConfig.id == cfg.id))
    _record(
        session,
        actor,
        inst,
        "auth_config.deleted",
        f"Auth config of integration instance {inst.name} removed by {actor.name}",
    )

"""Rules of integrations, integration instances, auth credentials and auth configs.

The only place that changes them. Secrets (credential header values, OAuth codes and
client secrets) are encrypted with :mod:`service_catalog.core.secrets` before they are
stored and are never returned, logged, put in an event or in an error.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, String, case, delete, func, literal, select, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service_catalog.auth.service import SYSTEM, Actor
from service_catalog.core import query as q
from service_catalog.core.db import utcnow
from service_catalog.core.errors import (
    Problem,
    bad_request,
    conflict,
    not_found,
    validation_problem,
)
from service_catalog.core.render import ts
from service_catalog.core.secrets import SecretBox, get_box
from service_catalog.events.service import record_action
from service_catalog.integrations import registry
from service_catalog.integrations.connectors.base import (
    ConnectorError,
    Credential,
    UpstreamHTTP,
    VerifyResult,
)
from service_catalog.integrations.models import AuthConfig, AuthCredential, IntegrationInstance
from service_catalog.integrations.schemas import (
    CREDENTIAL_TYPES,
    IntegrationInstanceCreate,
    IntegrationInstanceUpdate,
    UpsertOAuthAuthConfig,
)
from service_catalog.resources.models import Resource
from service_catalog.settings import Settings

log = logging.getLogger("service_catalog.integrations")

# --- integrations (the registry as a list endpoint) ----------------------------------

INTEGRATION_SORT_FIELDS = ("name", "display_name")


def _integrations_table() -> Any:
    """The registry as a tiny SQL row source, so the shared filter grammar compiles
    against it exactly as it does against a table."""
    rows = [select(literal(i.name, String()).label("name"),
                   literal(i.display_name, String()).label("display_name"))
            for i in registry.list_integrations()]
    return union_all(*rows).subquery("integrations")


def list_integrations(session: Session, *, query: list[tuple[str, str]]
                      ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One page of shipped integrations (contract ``CatalogIntegration``), filtered by
    ``filter[name]``/``filter[display_name]`` and sorted by ``name``/``display_name``."""
    table = _integrations_table()
    spec = q.FilterSpec(fields={
        "name": q.FilterField("string", table.c.name),
        "display_name": q.FilterField("string", table.c.display_name),
    })
    sorts = {"name": table.c.name, "display_name": table.c.display_name}
    qd = dict(query)
    clauses = q.filter_clauses(spec, query, session.get_bind().dialect.name)
    sort = q.parse_sort(qd.get("sort"), sorts, "display_name")
    page = q.page_request(qd)
    stmt = select(table.c.name).where(*clauses)
    names, total = q.numbered_page(session, stmt, q.order_by(sort, sorts, table.c.name), page)
    data = [registry.get_descriptor(n) for n in names]
    return [d for d in data if d is not None], q.page_meta(page, total)


# --- instances -----------------------------------------------------------------------


def _integration_display_name_sql() -> Any:
    col = IntegrationInstance.integration_name
    mapping = {i.name: i.display_name for i in registry.list_integrations()}
    return case(mapping, value=col, else_=col) if mapping else col


def instance_filters() -> q.FilterSpec:
    """The ``filter[...]`` fields of ``GET /v1/integration-instances``."""
    return q.FilterSpec(
        fields={
            "id": q.FilterField("uuid", IntegrationInstance.id),
            "name": q.FilterField("string", IntegrationInstance.name),
            "display_name": q.FilterField("string", IntegrationInstance.display_name),
            "integration.name": q.FilterField("string", IntegrationInstance.integration_name),
            "integration.display_name": q.FilterField("string", _integration_display_name_sql()),
            "authorized": q.FilterField("boolean", IntegrationInstance.authorized),
            "created_at": q.FilterField("datetime", IntegrationInstance.created_at),
            "updated_at": q.FilterField("datetime", IntegrationInstance.updated_at),
        },
        json_prefixes={"labels": q.FilterField("json", IntegrationInstance.labels, flat=True)},
    )


def instance_sorts() -> dict[str, Any]:
    """The ``sort`` fields of ``GET /v1/integration-instances``."""
    return {
        "display_name": IntegrationInstance.display_name,
        "name": IntegrationInstance.name,
        "created_at": IntegrationInstance.created_at,
        "updated_at": IntegrationInstance.updated_at,
        "integration.display_name": _integration_display_name_sql(),
    }


DEFAULT_INSTANCE_SORT = "integration.display_name"


def instance_ref(inst: IntegrationInstance) -> dict[str, Any]:
    """The contract's ``IntegrationInstanceRef``."""
    return {"id": str(inst.id), "name": inst.name, "display_name": inst.display_name}


def to_dict(inst: IntegrationInstance) -> dict[str, Any]:
    """An instance as the contract's ``IntegrationInstance``."""
    return {
        "id": str(inst.id),
        "name": inst.name,
        "display_name": inst.display_name,
        "description": inst.description,
        "integration": {"name": inst.integration_name,
                        "display_name": registry.display_name_of(inst.integration_name)},
        "authorized": bool(inst.authorized),
        "labels": inst.labels or {},
        "config": inst.config or {},
        "created_at": ts(inst.created_at),
        "updated_at": ts(inst.updated_at),
    }


def _name_taken(name: str) -> Problem:
    return conflict(f"An integration instance named [{name}] already exists")


def _integration(name: str) -> registry.Integration:
    integ = registry.get_integration(name)
    if integ is None:
        known = ", ".join(i.name for i in registry.list_integrations())
        raise bad_request(f"Invalid request: integration [{name}] does not exist (known: {known})",
                          "integration_name", f"integration [{name}] does not exist",
                          rule="enum", choices=[i.name for i in registry.list_integrations()])
    return integ


def create_instance(session: Session, *, data: IntegrationInstanceCreate, actor: Actor
                    ) -> IntegrationInstance:
    """Create an instance: the integration must exist, the name must be free (409) and the
    config must match the integration's config_schema (defaults filled in). A push-only
    integration's instance is authorized at once."""
    integ = _integration(data.integration_name)
    config = registry.validate_config(integ, data.config)
    if session.scalar(select(IntegrationInstance.id).where(IntegrationInstance.name == data.name)):
        raise _name_taken(data.name)
    now = utcnow()
    inst = IntegrationInstance(
        name=data.name, display_name=data.display_name, description=data.description,
        integration_name=integ.name, config=config, labels=dict(data.labels or {}),
        authorized=integ.push_only, created_at=now, updated_at=now,
    )
    session.add(inst)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise _name_taken(data.name) from None
    record_action(session, actor=actor, type="integration_instance.created",
                  detail=f"Integration instance {inst.name} ({integ.display_name}) created by "
                         f"{actor.name}",
                  attributes={"instance_id": str(inst.id), "name": inst.name,
                              "integration": integ.name})
    return inst


def find_instance(session: Session, ref: str) -> IntegrationInstance | None:
    """An instance by id or, failing that, by name."""
    try:
        ident: uuid.UUID | None = uuid.UUID(ref)
    except ValueError:
        ident = None
    if ident is not None:
        inst = session.get(IntegrationInstance, ident)
        if inst is not None:
            return inst
    return session.scalar(select(IntegrationInstance).where(IntegrationInstance.name == ref))


def get_instance(session: Session, *, instance_id: str) -> IntegrationInstance:
    """An instance by id; 404 when there is none."""
    try:
        ident = uuid.UUID(instance_id)
    except ValueError:
        raise not_found("Integration instance", instance_id) from None
    inst = session.get(IntegrationInstance, ident)
    if inst is None:
        raise not_found("Integration instance", instance_id)
    return inst


def list_statement(clauses: Iterable[Any]) -> Select[Any]:
    """SELECT of instances matching compiled filter clauses."""
    return select(IntegrationInstance).where(*clauses)


def list_instances(session: Session, *, query: list[tuple[str, str]]
                   ) -> tuple[list[IntegrationInstance], dict[str, Any]]:
    """One page of instances, filtered and sorted as the query string asks."""
    qd = dict(query)
    clauses = q.filter_clauses(instance_filters(), query, session.get_bind().dialect.name)
    sorts = instance_sorts()
    sort = q.parse_sort(qd.get("sort"), sorts, DEFAULT_INSTANCE_SORT)
    page = q.page_request(qd)
    rows, total = q.numbered_page(session, list_statement(clauses),
                                  q.order_by(sort, sorts, IntegrationInstance.id), page)
    return rows, q.page_meta(page, total)


def _merge(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(current)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def update_instance(session: Session, *, instance_id: str, data: IntegrationInstanceUpdate,
                    actor: Actor) -> IntegrationInstance:
    """Apply a PATCH. Labels and config merge (null removes a key); config is validated
    again, and fields with ``mutable_condition: unauthorized`` cannot change while the
    instance is authorized."""
    inst = get_instance(session, instance_id=instance_id)
    given = data.model_fields_set
    for required in ("name", "display_name", "config"):
        if required in given and getattr(data, required) is None:
            kind = "an object" if required == "config" else "a string"
            raise bad_request(f"Invalid request: {required} must be {kind}", required,
                              f"must be {kind}",
                              rule="is_object" if required == "config" else "is_string")
    changed: list[str] = []
    if data.name is not None and data.name != inst.name:
        if session.scalar(select(IntegrationInstance.id)
                          .where(IntegrationInstance.name == data.name)):
            raise _name_taken(data.name)
        inst.name = data.name
        changed.append("name")
    if data.display_name is not None and data.display_name != inst.display_name:
        inst.display_name = data.display_name
        changed.append("display_name")
    if "description" in given and data.description != inst.description:
        inst.description = data.description
        changed.append("description")
    if "labels" in given:
        labels = {} if data.labels is None else _merge(inst.labels or {}, data.labels)
        if len(labels) > 50:
            raise bad_request("Invalid request: labels must not have more than 50 labels",
                              "labels", "must not have more than 50 labels", rule="max_items",
                              maximum=50)
        if labels != inst.labels:
            inst.labels = labels
            changed.append("labels")
    if data.config is not None:
        integ = _integration(inst.integration_name)
        merged = _merge(inst.config or {}, data.config)
        for key, value in data.config.items():
            if value is None and key not in integ.config_schema:
                merged[key] = None  # let validation name the unknown key
        config = registry.validate_config(integ, merged, current=inst.config or {},
                                          authorized=inst.authorized)
        if config != inst.config:
            inst.config = config
            changed.append("config")
    if changed:
        inst.updated_at = utcnow()
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            raise _name_taken(data.name or "") from None
        record_action(session, actor=actor, type="integration_instance.updated",
                      detail=f"Integration instance {inst.name} updated by {actor.name}: "
                             f"{', '.join(changed)}",
                      attributes={"instance_id": str(inst.id), "name": inst.name,
                                  "changed": changed})
    return inst


def delete_instance(session: Session, *, instance_id: str, actor: Actor) -> None:
    """Delete an instance with its credential, auth config, resources and their mappings,
    in the caller's transaction (the database cascades from the instance row)."""
    inst = get_instance(session, instance_id=instance_id)
    resources = session.scalar(select(func.count()).select_from(Resource)
                               .where(Resource.instance_id == inst.id)) or 0
    record_action(session, actor=actor, type="integration_instance.deleted",
                  detail=f"Integration instance {inst.name} deleted by {actor.name} "
                         f"with its {resources} resources",
                  attributes={"instance_id": str(inst.id), "name": inst.name,
                              "integration": inst.integration_name, "resources": resources})
    session.execute(delete(IntegrationInstance).where(IntegrationInstance.id == inst.id))
    session.expunge(inst)


# --- auth credentials ------------------------------------------------------------------


def credential_to_dict(cred: AuthCredential, inst: IntegrationInstance) -> dict[str, Any]:
    """A credential as the contract's ``IntegrationInstanceAuthCredential``: metadata only,
    plus non-secret extras (``verified``, ``last_verified_at``, ``verification_reason``, and
    the header names or the non-secret config)."""
    missing = cred.missing_permissions
    out: dict[str, Any] = {
        "id": str(cred.id),
        "type": cred.type,
        "integration_instance": instance_ref(inst),
        "missing_permissions": missing if isinstance(missing, list) else [],
        "tainted": bool(cred.tainted),
        "expires_at": ts(cred.expires_at),
        "created_at": ts(cred.created_at),
        "verified": cred.verification == "verified",
        "last_verified_at": ts(cred.last_verified_at),
        "verification_reason": cred.tainted_reason if cred.tainted else cred.verification_reason,
    }
    public = dict(cred.public or {})
    if cred.type == "multi_key_auth":
        out["config"] = {"headers": [{"name": n} for n in public.get("headers", [])]}
    elif cred.type == "github_app_installation":
        out["config"] = {"installation_id": public.get("installation_id", ""),
                         "app_installed_by": public.get("app_installed_by")}
    elif cred.type == "aws_role_delegation":
        out["config"] = {"role_arn": public.get("role_arn", "")}
    elif cred.type == "oauth":
        out["config"] = {"grant_type": public.get("grant_type"),
                         "redirect_uri": public.get("redirect_uri")}
    return out


def _parse_credential(body: Any) -> Any:
    if not isinstance(body, dict):
        raise bad_request("Invalid request: body must be an object", "body", "must be an object",
                          rule="is_object")
    ctype = body.get("type")
    model = CREDENTIAL_TYPES.get(ctype) if isinstance(ctype, str) else None
    if model is None:
        choices = list(CREDENTIAL_TYPES)
        if ctype is None:
            raise bad_request("Invalid request: type is a required field", "type",
                              "is a required field", rule="required")
        reason = f"must be one of {', '.join(choices)}"
        raise bad_request(f"Invalid request: type {reason}", "type", reason, rule="enum",
                          choices=choices)
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise validation_problem(list(exc.errors())) from None


def _split_secret(parsed: Any) -> tuple[dict[str, Any], dict[str, Any], Credential]:
    """(public parts, secret parts, in-memory Credential) of a parsed credential body."""
    cfg = parsed.config
    if parsed.type == "multi_key_auth":
        headers = {h.name: h.key for h in cfg.headers}
        return ({"headers": list(headers)}, {"headers": headers},
                Credential(type=parsed.type, headers=headers))
    if parsed.type == "oauth":
        public = {"grant_type": cfg.grant_type, "redirect_uri": cfg.redirect_uri}
        return public, {"code": cfg.code}, Credential(type=parsed.type,
                                                      values={**public, "code": cfg.code})
    if parsed.type == "github_app_installation":
        public = {"installation_id": cfg.installation_id, "app_installed_by": cfg.app_installed_by}
        return public, {"code": cfg.code}, Credential(type=parsed.type,
                                                      values={**public, "code": cfg.code})
    public = {"role_arn": cfg.role_arn}
    return public, {}, Credential(type=parsed.type, values=dict(public))


def _check_fits(integ: registry.Integration, parsed: Any) -> None:
    """The credential's type and header names must be what the integration declares."""
    want = integ.auth_type
    if want is None:
        return
    if parsed.type != want:
        raise bad_request(f"Invalid request: integration {integ.name} takes a {want} credential",
                          "type", f"must be {want} for integration {integ.name}", rule="enum",
                          choices=[want])
    if want == "multi_key_auth":
        declared = {h.lower(): h for h in integ.auth_headers}
        given = [h.name for h in parsed.config.headers]
        lowered = [g.lower() for g in given]
        for i, name in enumerate(given):
            if name.lower() not in declared:
                raise bad_request(
                    f"Invalid request: header [{name}] is not one integration {integ.name} uses "
                    f"(expected: {', '.join(declared.values())})",
                    f"config.headers.{i}.name", f"must be one of {', '.join(declared.values())}",
                    rule="enum", choices=list(declared.values()))
            if name.lower() in lowered[:i]:
                raise bad_request(f"Invalid request: header [{name}] is given twice",
                                  f"config.headers.{i}.name", "is given twice", rule="invalid")
        for low, name in declared.items():
            if low not in lowered:
                raise bad_request(f"Invalid request: header [{name}] is required by integration "
                                  f"{integ.name}", "config.headers", f"must include [{name}]",
                                  rule="required")


def _secret_values(credential: Credential) -> list[str]:
    values = [*credential.headers.values(),
              *(v for k, v in credential.values.items() if k in ("code", "client_secret"))]
    out: list[str] = []
    for v in values:
        if isinstance(v, str) and v:
            out.append(v)
            _, _, tail = v.partition(" ")  # "Bearer <token>": the token alone too
            if len(tail) >= 4:
                out.append(tail)
    return out


def scrub(text: str, credential: Credential | None) -> str:
    """``text`` with every secret of ``credential`` replaced by ``[redacted]``."""
    if credential is None:
        return text
    for secret in sorted(_secret_values(credential), key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text


def verify_connection(inst: IntegrationInstance, credential: Credential,
                      http: UpstreamHTTP | None = None) -> VerifyResult | None:
    """Ask the instance's connector whether the upstream accepts ``credential``; None for
    a push-only integration. The reason never contains the credential's secrets."""
    http = http or UpstreamHTTP(timeout=10.0, retries=1, backoff=0.2, max_sleep=2.0)
    try:
        connector = registry.connector_for(inst, credential, http=http)
    except LookupError as exc:
        return VerifyResult("unreachable", str(exc))
    if connector is None:
        return None
    try:
        result = connector.verify()
    except ConnectorError as exc:
        result = VerifyResult("rejected" if exc.kind == "auth" else "unreachable", exc.message)
    except Exception as exc:  # noqa: BLE001 - a connector bug must not leak or 500
        log.warning("verifying instance %s failed: %s", inst.name, type(exc).__name__)
        result = VerifyResult("unreachable", f"The connector failed: {type(exc).__name__}")
    finally:
        connector.close()
    return VerifyResult(result.status, scrub(result.reason, credential))


def _existing_credential(session: Session, inst: IntegrationInstance) -> AuthCredential | None:
    return session.scalar(select(AuthCredential).where(AuthCredential.instance_id == inst.id))


def create_credential(session: Session, *, instance_id: str, body: Any, actor: Actor,
                      box: SecretBox, http: UpstreamHTTP | None = None) -> AuthCredential:
    """Store the instance's one credential (409 when it has one) after the upstream
    verified it: rejected is a 400 saying what the upstream said and stores nothing;
    unreachable stores it unverified (instance stays unauthorized); accepted authorizes
    the instance. A push-only integration takes it without verification."""
    inst = get_instance(session, instance_id=instance_id)
    if _existing_credential(session, inst) is not None:
        raise conflict(f"Integration instance [{inst.name}] already has an auth credential; "
                       "DELETE it first to replace it")
    parsed = _parse_credential(body)
    integ = _integration(inst.integration_name)
    _check_fits(integ, parsed)
    public, secret, credential = _split_secret(parsed)
    # Hold no transaction across the upstream call: nothing is written yet, and a stale
    # SQLite read snapshot could not be upgraded to a write afterwards.
    session.commit()
    result = verify_connection(inst, credential, http)
    now = utcnow()
    # Write first, then look: the instance row's lock serializes concurrent credential
    # writes (PostgreSQL row lock; SQLite takes its write lock before reading a snapshot).
    session.execute(update(IntegrationInstance).where(IntegrationInstance.id == inst.id)
                    .values(updated_at=now))
    if _existing_credential(session, inst) is not None:  # another request was quicker
        raise conflict(f"Integration instance [{inst.name}] already has an auth credential")
    cred = AuthCredential(instance_id=inst.id, type=parsed.type, public=public,
                          secret=box.encrypt(secret), created_at=now)
    if result is None:
        cred.verification, cred.verification_reason = "unverified", (
            f"Integration {integ.name} does not verify credentials")
        inst.authorized = True
    elif result.status == "rejected":
        raise Problem(400, f"The upstream rejected the credential: {result.reason}",
                      invalid_parameters=[{"field": "config", "rule": "invalid",
                                           "reason": result.reason, "source": "body"}])
    elif result.status == "accepted":
        cred.verification, cred.last_verified_at = "verified", now
        inst.authorized = True
    else:
        cred.verification, cred.verification_reason = "unverified", result.reason
        inst.authorized = False
    inst.updated_at = now
    session.add(cred)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise conflict(f"Integration instance [{inst.name}] already has an auth credential"
                       ) from None
    log.info("auth credential of instance %s stored (%s)", inst.name, cred.verification)
    record_action(session, actor=actor, type="auth_credential.created",
                  detail=f"Auth credential ({cred.type}) of integration instance {inst.name} "
                         f"added by {actor.name}; {cred.verification}",
                  attributes={"instance_id": str(inst.id), "instance": inst.name,
                              "type": cred.type, "verification": cred.verification,
                              **({"headers": public["headers"]} if "headers" in public else {})})
    return cred


def get_credential(session: Session, *, instance_id: str
                   ) -> tuple[AuthCredential, IntegrationInstance]:
    """The instance's credential (metadata); 404 when the instance or credential is missing."""
    inst = get_instance(session, instance_id=instance_id)
    cred = _existing_credential(session, inst)
    if cred is None:
        raise Problem(404, f"Integration instance [{inst.name}] has no auth credential")
    return cred, inst


def delete_credential(session: Session, *, instance_id: str, actor: Actor) -> None:
    """Remove the instance's credential; the instance becomes unauthorized (unless its
    integration is push-only)."""
    cred, inst = get_credential(session, instance_id=instance_id)
    integ = registry.get_integration(inst.integration_name)
    session.execute(delete(AuthCredential).where(AuthCredential.id == cred.id))
    inst.authorized = bool(integ and integ.push_only)
    inst.updated_at = utcnow()
    record_action(session, actor=actor, type="auth_credential.deleted",
                  detail=f"Auth credential ({cred.type}) of integration instance {inst.name} "
                         f"removed by {actor.name}",
                  attributes={"instance_id": str(inst.id), "instance": inst.name,
                              "type": cred.type})


def load_credential(session: Session, instance: IntegrationInstance, *,
                    settings: Settings | None = None) -> Credential | None:
    """The instance's credential decrypted (in memory only), or None when it has none.

    Pass the process's ``settings`` (key); without them, the key configured with
    :func:`service_catalog.core.secrets.configure` or the environment's is used.
    """
    cred = _existing_credential(session, instance)
    if cred is None:
        return None
    secret = get_box(settings).decrypt(cred.secret) if cred.secret else {}
    if cred.type == "multi_key_auth":
        return Credential(type=cred.type, headers=dict(secret.get("headers") or {}))
    return Credential(type=cred.type, values={**(cred.public or {}), **(secret or {})})


def taint_credential(session: Session, instance: IntegrationInstance, reason: str, *,
                     settings: Settings | None = None) -> None:
    """Mark the instance's credential as no longer valid (``tainted: true``, with the
    reason, scrubbed of the secret) and the instance unauthorized, in the caller's
    transaction. For the sync engine, when the upstream rejects the credential."""
    cred = _existing_credential(session, instance)
    if cred is not None:
        try:
            reason = scrub(reason, load_credential(session, instance, settings=settings))
        except Exception:  # noqa: BLE001 - an undecryptable secret cannot be in the reason
            log.debug("cannot decrypt the credential of %s to scrub a reason", instance.name)
        cred.tainted = True
        cred.tainted_reason = reason
        cred.verification = "rejected"
    instance.authorized = False
    instance.updated_at = utcnow()
    record_action(session, actor=SYSTEM, type="auth_credential.tainted",
                  detail=f"The upstream rejected the credential of integration instance "
                         f"{instance.name}: {reason}",
                  attributes={"instance_id": str(instance.id), "instance": instance.name})


def reverify_credential(session: Session, *, instance_id: str, actor: Actor,
                        settings: Settings | None = None, http: UpstreamHTTP | None = None
                        ) -> tuple[AuthCredential, IntegrationInstance]:
    """Verify the stored credential again and record the answer: accepted clears
    ``tainted`` and authorizes the instance; rejected taints it; unreachable leaves it
    unverified and the instance unauthorized."""
    cred, inst = get_credential(session, instance_id=instance_id)
    credential = load_credential(session, inst, settings=settings)
    assert credential is not None
    session.commit()  # no transaction across the upstream call (nothing written yet)
    result = verify_connection(inst, credential, http)
    now = utcnow()
    if result is None or result.status == "accepted":
        cred.tainted, cred.tainted_reason = False, None
        if result is not None:
            cred.verification, cred.verification_reason, cred.last_verified_at = (
                "verified", None, now)
        inst.authorized = True
    elif result.status == "rejected":
        cred.tainted, cred.tainted_reason, cred.verification = True, result.reason, "rejected"
        inst.authorized = False
    else:
        cred.verification, cred.verification_reason = "unverified", result.reason
        inst.authorized = False
    inst.updated_at = now
    record_action(session, actor=actor, type="auth_credential.verified",
                  detail=f"Auth credential of integration instance {inst.name} verified by "
                         f"{actor.name}: {cred.verification}",
                  attributes={"instance_id": str(inst.id), "instance": inst.name,
                              "verification": cred.verification})
    return cred, inst


# --- auth config ----------------------------------------------------------------------


def auth_config_to_dict(cfg: AuthConfig) -> dict[str, Any]:
    """An auth config as the contract's ``OAuthAuthConfig`` (never the client secret)."""
    public = cfg.public or {}
    return {"type": cfg.type, "client_id": public.get("client_id", ""),
            "authorization_endpoint": public.get("authorization_endpoint", ""),
            "token_endpoint": public.get("token_endpoint", "")}


def _existing_config(session: Session, inst: IntegrationInstance) -> AuthConfig | None:
    return session.scalar(select(AuthConfig).where(AuthConfig.instance_id == inst.id))


def get_auth_config(session: Session, *, instance_id: str) -> AuthConfig:
    """The instance's auth config; 404 when the instance or the config is missing."""
    inst = get_instance(session, instance_id=instance_id)
    cfg = _existing_config(session, inst)
    if cfg is None:
        raise Problem(404, f"Integration instance [{inst.name}] has no auth config")
    return cfg


def put_auth_config(session: Session, *, instance_id: str, data: UpsertOAuthAuthConfig,
                    actor: Actor, box: SecretBox) -> AuthConfig:
    """Create or replace the instance's auth config; the client secret is encrypted."""
    inst = get_instance(session, instance_id=instance_id)
    cfg = _existing_config(session, inst)
    now = utcnow()
    public = {"client_id": data.client_id, "authorization_endpoint": data.authorization_endpoint,
              "token_endpoint": data.token_endpoint}
    if cfg is None:
        cfg = AuthConfig(instance_id=inst.id, created_at=now, type=data.type)
        session.add(cfg)
    cfg.type, cfg.public, cfg.updated_at = data.type, public, now
    cfg.secret = box.encrypt({"client_secret": data.client_secret})
    session.flush()
    record_action(session, actor=actor, type="auth_config.updated",
                  detail=f"Auth config ({data.type}) of integration instance {inst.name} set by "
                         f"{actor.name}",
                  attributes={"instance_id": str(inst.id), "instance": inst.name,
                              "client_id": data.client_id})
    return cfg


def delete_auth_config(session: Session, *, instance_id: str, actor: Actor) -> None:
    """Remove the instance's auth config (404 when it has none)."""
    cfg = get_auth_config(session, instance_id=instance_id)
    inst = get_instance(session, instance_id=instance_id)
    session.execute(delete(AuthConfig).where(AuthConfig.id == cfg.id))
    record_action(session, actor=actor, type="auth_config.deleted",
                  detail=f"Auth config of integration instance {inst.name} removed by "
                         f"{actor.name}",
                  attributes={"instance_id": str(inst.id), "instance": inst.name})

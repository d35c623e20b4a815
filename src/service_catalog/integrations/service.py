"""Rules of integrations and integration instances: the only place that changes them.

Auth credentials and auth configs live in :mod:`service_catalog.integrations.credentials`
(re-exported here: ``load_credential``, ``taint_credential`` ...).

Every function works in the caller's unit of work (:class:`service_catalog.core.db.UnitOfWork`)
and never commits or rolls back; a name taken by a concurrent writer is caught in a savepoint.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, String, delete, func, literal, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service_catalog.auth.access import INTEGRATION_ADMIN, Rights
from service_catalog.auth.guard import INTEGRATION_READERS, require_any
from service_catalog.auth.service import Actor
from service_catalog.core import query as q
from service_catalog.core.db import utcnow
from service_catalog.core.errors import Problem, name_taken
from service_catalog.core.patch import merge_map, patch_named, set_changed
from service_catalog.core.render import attrs, ts
from service_catalog.events.service import record_action
from service_catalog.integrations import registry

# Credentials and auth configs have their own module; re-exported for callers of this one.
from service_catalog.integrations.credentials import (
    auth_config_to_dict,
    create_credential,
    credential_to_dict,
    delete_auth_config,
    delete_credential,
    get_auth_config,
    get_credential,
    load_credential,
    put_auth_config,
    reverify_credential,
    scrub,
    taint_credential,
    verify_connection,
)
from service_catalog.integrations.instances import find_instance, get_instance
from service_catalog.integrations.models import AuthCredential, IntegrationInstance
from service_catalog.integrations.schemas import (
    IntegrationInstanceCreate,
    IntegrationInstanceUpdate,
)
from service_catalog.resources.models import Resource

log = logging.getLogger("service_catalog.integrations")

# --- integrations (the registry as a list endpoint) ----------------------------------

INTEGRATION_SORT_FIELDS = ("name", "display_name")


def _integrations_table() -> Any:
    """The registry as a tiny SQL row source, so the shared filter grammar compiles
    against it exactly as it does against a table."""
    rows = [
        select(
            literal(i.name, String()).label("name"),
            literal(i.display_name, String()).label("display_name"),
        )
        for i in registry.list_integrations()
    ]
    return union_all(*rows).subquery("integrations")


def integration_filters(table: Any = None) -> q.FilterSpec:
    """The ``filter[...]`` fields of ``GET /v1/integrations`` (over the registry's rows)."""
    t = _integrations_table() if table is None else table
    return q.FilterSpec(
        fields={
            "name": q.FilterField("string", t.c.name),
            "display_name": q.FilterField("string", t.c.display_name),
        }
    )


def integration_sorts(table: Any = None) -> dict[str, Any]:
    """The ``sort`` fields of ``GET /v1/integrations``."""
    t = _integrations_table() if table is None else table
    return {"name": t.c.name, "display_name": t.c.display_name}


def list_integrations(
    session: Session, *, query: list[tuple[str, str]], rights: Rights
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One page of shipped integrations (contract ``CatalogIntegration``), filtered by
    ``filter[name]``/``filter[display_name]`` and sorted by ``name``/``display_name``."""
    require_any(rights, *INTEGRATION_READERS)
    table = _integrations_table()
    spec = integration_filters(table)
    sorts = integration_sorts(table)
    qd = dict(query)
    clauses = q.filter_clauses(spec, query, session.get_bind().dialect.name)
    sort = q.parse_sort(qd.get("sort"), sorts, "display_name")
    page = q.page_request(qd)
    stmt = select(table.c.name).where(*clauses)
    names, total = q.numbered_page(session, stmt, q.order_by(sort, sorts, table.c.name), page)
    data = [registry.get_descriptor(n) for n in names]
    return [d for d in data if d is not None], q.page_meta(page, total)


# --- instances -----------------------------------------------------------------------


def instance_filters() -> q.FilterSpec:
    """The ``filter[...]`` fields of ``GET /v1/integration-instances``."""
    return q.FilterSpec(
        fields={
            **q.model_fields(IntegrationInstance, "id name display_name"),
            "integration.name": q.FilterField("string", IntegrationInstance.integration_name),
            "integration.display_name": q.FilterField(
                "string", registry.display_name_sql(IntegrationInstance.integration_name)
            ),
            **q.model_fields(IntegrationInstance, "authorized created_at updated_at"),
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
        "integration.display_name": registry.display_name_sql(IntegrationInstance.integration_name),
    }


DEFAULT_INSTANCE_SORT = "integration.display_name"
_AN_INSTANCE = "An integration instance"  # as a name taken says it (core.errors.name_taken)


def to_dict(inst: IntegrationInstance) -> dict[str, Any]:
    """An instance as the contract's ``IntegrationInstance``."""
    return {
        "id": str(inst.id),
        **attrs(inst, "name", "display_name", "description"),
        "integration": {
            "name": inst.integration_name,
            "display_name": registry.display_name_of(inst.integration_name),
        },
        "authorized": bool(inst.authorized),
        "labels": inst.labels or {},
        "config": inst.config or {},
        "created_at": ts(inst.created_at),
        "updated_at": ts(inst.updated_at),
    }


def create_instance(
    session: Session, *, data: IntegrationInstanceCreate, actor: Actor
) -> IntegrationInstance:
    """Create an instance: the integration must exist, the name must be free (409) and the
    config must match the integration's config_schema. The config is stored as sent
    (defaults apply where it is used), so the client reads back what it sent. A push-only
    integration's instance is authorized at once."""
    require_any(actor.rights, INTEGRATION_ADMIN)
    integ = registry.require_integration(data.integration_name)
    config = registry.validate_config(integ, data.config)
    if session.scalar(select(IntegrationInstance.id).where(IntegrationInstance.name == data.name)):
        raise name_taken(_AN_INSTANCE, data.name)
    now = utcnow()
    inst = IntegrationInstance(
        name=data.name,
        display_name=data.display_name,
        description=data.description,
        integration_name=integ.name,
        config=config,
        labels=dict(data.labels or {}),
        authorized=integ.push_only,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():  # a concurrent create of the same name wins
            session.add(inst)
    except IntegrityError:
        raise name_taken(_AN_INSTANCE, data.name) from None
    record_action(
        session,
        actor=actor,
        type="integration_instance.created",
        detail=f"Integration instance {inst.name} ({integ.display_name}) created by {actor.name}",
        attributes={"instance_id": str(inst.id), "name": inst.name, "integration": integ.name},
    )
    return inst


def list_statement(clauses: Iterable[Any]) -> Select[Any]:
    """SELECT of instances matching compiled filter clauses."""
    return select(IntegrationInstance).where(*clauses)


def list_instances(
    session: Session, *, query: list[tuple[str, str]], rights: Rights
) -> tuple[list[IntegrationInstance], dict[str, Any]]:
    """One page of instances, filtered and sorted as the query string asks."""
    require_any(rights, *INTEGRATION_READERS)
    qd = dict(query)
    clauses = q.filter_clauses(instance_filters(), query, session.get_bind().dialect.name)
    sorts = instance_sorts()
    sort = q.parse_sort(qd.get("sort"), sorts, DEFAULT_INSTANCE_SORT)
    page = q.page_request(qd)
    rows, total = q.numbered_page(
        session, list_statement(clauses), q.order_by(sort, sorts, IntegrationInstance.id), page
    )
    return rows, q.page_meta(page, total)


def _keep_credential_origin(
    session: Session, inst: IntegrationInstance, integ: registry.Integration, config: dict[str, Any]
) -> None:
    """A 400 when ``config`` moves the instance to another upstream origin while it has an
    auth credential: the credential stays bound to the origin it was stored for."""
    before = registry.upstream_origin(integ, inst.config)
    after = registry.upstream_origin(integ, config)
    if before == after:
        return
    cred = session.scalar(select(AuthCredential).where(AuthCredential.instance_id == inst.id))
    if cred is None:
        return
    bound = (cred.public or {}).get("origin") or before
    path = f"/v1/integration-instances/{inst.id}/auth-credential"
    raise Problem(
        400,
        f"Invalid request: config.base_url cannot move integration instance [{inst.name}] "
        f"to another upstream ({after or 'none'}) while it has an auth credential, which "
        f"is bound to {bound}; DELETE {path} first, then change it and POST the "
        "credential again",
        invalid_parameters=[
            {
                "field": "config.base_url",
                "rule": "invalid",
                "source": "body",
                "reason": f"cannot change the upstream origin while an auth "
                f"credential bound to {bound} exists; delete the "
                "credential first",
            }
        ],
    )


def update_instance(
    session: Session, *, instance_id: str, data: IntegrationInstanceUpdate, actor: Actor
) -> IntegrationInstance:
    """Apply a PATCH. Labels and config merge (null removes a key); config is validated
    again, fields with ``mutable_condition: unauthorized`` cannot change while the
    instance is authorized, and the upstream origin cannot change while the instance has
    an auth credential (which is bound to its origin)."""
    require_any(actor.rights, INTEGRATION_ADMIN)
    inst = get_instance(session, instance_id=instance_id)
    changed = patch_named(session, inst, data, what=_AN_INSTANCE, objects=("config",))
    if data.config is not None:
        integ = registry.require_integration(inst.integration_name)
        merged = merge_map(inst.config or {}, data.config)
        for key, value in data.config.items():
            if value is None and key not in integ.config_schema:
                merged[key] = None  # let validation name the unknown key
        config = registry.validate_config(
            integ, merged, current=inst.config or {}, authorized=inst.authorized
        )
        _keep_credential_origin(session, inst, integ, config)
        set_changed(inst, "config", config, changed)
    if changed:
        inst.updated_at = utcnow()
        session.flush()
        record_action(
            session,
            actor=actor,
            type="integration_instance.updated",
            detail=f"Integration instance {inst.name} updated by {actor.name}: "
            f"{', '.join(changed)}",
            attributes={"instance_id": str(inst.id), "name": inst.name, "changed": changed},
        )
    return inst


def delete_instance(session: Session, *, instance_id: str, actor: Actor) -> None:
    """Delete an instance with its credential, auth config, resources and their mappings,
    in the caller's transaction (the database cascades from the instance row)."""
    require_any(actor.rights, INTEGRATION_ADMIN)
    inst = get_instance(session, instance_id=instance_id)
    resources = (
        session.scalar(
            select(func.count()).select_from(Resource).where(Resource.instance_id == inst.id)
        )
        or 0
    )
    record_action(
        session,
        actor=actor,
        type="integration_instance.deleted",
        detail=f"Integration instance {inst.name} deleted by {actor.name} "
        f"with its {resources} resources",
        attributes={
            "instance_id": str(inst.id),
            "name": inst.name,
            "integration": inst.integration_name,
            "resources": resources,
        },
    )
    session.execute(delete(IntegrationInstance).where(IntegrationInstance.id == inst.id))
    session.expunge(inst)


__all__ = [
    "auth_config_to_dict",
    "create_credential",
    "create_instance",
    "credential_to_dict",
    "delete_auth_config",
    "delete_credential",
    "delete_instance",
    "find_instance",
    "get_auth_config",
    "get_credential",
    "get_instance",
    "instance_filters",
    "instance_sorts",
    "list_instances",
    "list_integrations",
    "load_credential",
    "put_auth_config",
    "reverify_credential",
    "scrub",
    "taint_credential",
    "to_dict",
    "update_instance",
    "verify_connection",
]

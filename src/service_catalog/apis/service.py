"""Rules of APIs, their specifications and API mappings: the only place that changes them.

APIs are readable by any authenticated principal and changed by an Organization Admin or a
Service Creator. API mappings follow the catalog service's rights (see
:mod:`service_catalog.dependencies.rights`): read by a reader of the service, changed by
its Service Admin; an API's service mappings list only the services the reader may see.
Every function works in the caller's unit of work and never commits; changes are audited.
"""

from __future__ import annotations

import re
import uuid
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service_catalog.apis.models import Api, ApiConsumer, ApiMapping, ApiSpecification
from service_catalog.apis.schemas import ApiCreate, ApiUpdate
from service_catalog.apis.specs import check_spec
from service_catalog.auth.access import SERVICE_CREATOR
from service_catalog.auth.service import Actor
from service_catalog.catalog_services.models import CatalogService
from service_catalog.core import query as q
from service_catalog.core.db import utcnow
from service_catalog.core.errors import Problem, conflict, not_found
from service_catalog.core.render import ts
from service_catalog.dependencies.rights import (
    administered_service,
    readable_ids,
    readable_service,
)
from service_catalog.events.service import record_action

API_FILTERS = q.FilterSpec(fields=q.model_fields(Api, "id name version slug created_at updated_at"))
API_SORTS = {"name": Api.name, "created_at": Api.created_at, "updated_at": Api.updated_at}
MAPPING_SORTS = {"created_at": ApiMapping.created_at, "updated_at": ApiMapping.updated_at}
#: ``filter[api_id]`` on a service's mappings, ``filter[service_id]`` on an API's.
SERVICE_MAPPING_FILTERS = q.FilterSpec(fields=q.model_fields(ApiMapping, "api_id"))
API_MAPPING_FILTERS = q.FilterSpec(fields=q.model_fields(ApiMapping, "service_id"))
DEFAULT_MAPPING_SORT = "created_at desc"


# --- rights and lookups ----------------------------------------------------------------


def require_api_writer(actor: Actor) -> None:
    """A 403 unless ``actor`` is an Organization Admin or a Service Creator."""
    if not actor.rights.has(SERVICE_CREATOR):
        raise Problem(
            403,
            f"You must have the [Organization Admin] or [{SERVICE_CREATOR}] role to change APIs",
            title="Permission denied",
        )


def _uuid(value: str | uuid.UUID) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError):
        return None


def get_api(session: Session, *, api_id: str | uuid.UUID) -> Api:
    """An API by id; 404 when there is none."""
    ident = _uuid(api_id)
    api = session.get(Api, ident) if ident is not None else None
    if api is None:
        raise not_found("API", api_id)
    return api


def find_api(session: Session, *, name: str, version: str | None = None) -> Api | None:
    """The API named ``name`` at ``version`` (None: unversioned), if there is one."""
    return session.scalar(select(Api).where(Api.name == name, Api.version == (version or "")))


def slugify(name: str, version: str | None) -> str:
    """Konnect's default slug: ``slugify(name + version)`` (``Orders API`` 1.0 ->
    ``orders-api-1-0``)."""
    text = f"{name} {version or ''}".lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:255] or "api"


# --- rendering ---------------------------------------------------------------------------


def _spec_ids(session: Session, api_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    out: dict[uuid.UUID, list[str]] = {i: [] for i in api_ids}
    if api_ids:
        rows = session.execute(
            select(ApiSpecification.api_id, ApiSpecification.id)
            .where(ApiSpecification.api_id.in_(api_ids))
            .order_by(ApiSpecification.created_at, ApiSpecification.id)
        )
        for api_id, spec_id in rows:
            out[api_id].append(str(spec_id))
    return out


def to_dict(api: Api, spec_ids: list[str]) -> dict[str, Any]:
    """An API as ``/v3/apis`` shows it."""
    return {
        "id": str(api.id),
        "name": api.name,
        "description": api.description,
        "version": api.version or None,
        "slug": api.slug,
        "api_spec_ids": spec_ids,
        "portals": [],
        "labels": api.labels or {},
        "attributes": api.attributes,
        "created_at": ts(api.created_at),
        "updated_at": ts(api.updated_at),
    }


def api_dict(session: Session, api: Api) -> dict[str, Any]:
    """:func:`to_dict` with the API's specification ids read."""
    return to_dict(api, _spec_ids(session, [api.id])[api.id])


def spec_to_dict(spec: ApiSpecification) -> dict[str, Any]:
    """A specification document as ``/v3/apis/{apiId}/specifications`` shows it."""
    return {
        "id": str(spec.id),
        "content": spec.content,
        "validation_messages": [],
        "type": spec.type,
        "created_at": ts(spec.created_at),
        "updated_at": ts(spec.updated_at),
    }


def mapping_to_dict(m: ApiMapping | ApiConsumer) -> dict[str, Any]:
    """The contract's ``CatalogServiceApiMapping`` (a consumed API is shown the same way)."""
    return {
        "id": str(m.id),
        "service_id": str(m.service_id),
        "api_id": str(m.api_id),
        "created_at": ts(m.created_at),
        "updated_at": ts(m.updated_at),
    }


def _record(session: Session, actor: Actor, type_: str, detail: str, **attrs: Any) -> None:
    service_id = attrs.pop("service_id", None)
    record_action(
        session,
        actor=actor,
        type=type_,
        detail=f"{detail} by {actor.name}",
        service_id=service_id,
        attributes=attrs,
    )


# --- APIs --------------------------------------------------------------------------------


def _store(session: Session, row: Any, taken: str) -> None:
    """Flush ``row`` in a savepoint; a unique name+version or slug taken is a 409."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise conflict(taken) from None


def _taken(name: str, version: str, slug: str) -> str:
    return (
        f"An API named [{name}]"
        + (f" at version [{version}]" if version else " without a version")
        + f" or with slug [{slug}] already exists"
    )


def create_api(session: Session, *, data: ApiCreate, actor: Actor) -> Api:
    """Create an API (and, given ``spec_content``, its first specification, checked
    first: an invalid one creates nothing). Organization Admin or Service Creator."""
    require_api_writer(actor)
    kind = check_spec(data.spec_content, None) if data.spec_content is not None else None
    now = utcnow()
    version = data.version or ""
    slug = data.slug or slugify(data.name, data.version)
    api = Api(
        id=uuid.uuid4(),
        name=data.name,
        version=version,
        slug=slug,
        description=data.description,
        labels=dict(data.labels or {}),
        attributes=data.attributes,
        created_at=now,
        updated_at=now,
    )
    _store(session, api, _taken(data.name, version, slug))
    if kind is not None and data.spec_content is not None:
        _add_spec(session, api, data.spec_content, kind)
    _record(session, actor, "api.created", f"API {api.name} created", api_id=str(api.id))
    return api


def update_api(session: Session, *, api_id: str, data: ApiUpdate, actor: Actor) -> Api:
    """Apply a PATCH to an API: the fields given replace the stored ones (a name + version
    or slug another API has is a 409)."""
    require_api_writer(actor)
    api = get_api(session, api_id=api_id)
    new: dict[str, Any] = {}
    for field in sorted(data.model_fields_set):
        value = getattr(data, field)
        if field == "version":
            value = value or ""
        elif field == "labels":
            value = dict(value or {})
        elif field in ("name", "slug") and value is None:
            continue
        if getattr(api, field) != value:
            new[field] = value
    if not new:
        return api
    name, version = new.get("name", api.name), new.get("version", api.version)
    slug = new.get("slug", api.slug)
    clash = session.scalar(
        select(Api.id).where(
            Api.id != api.id,
            ((Api.name == name) & (Api.version == version)) | (Api.slug == slug),
        )
    )
    if clash is not None:
        raise conflict(_taken(name, version, slug))
    for field, value in new.items():
        setattr(api, field, value)
    api.updated_at = utcnow()
    session.flush()
    _record(
        session,
        actor,
        "api.updated",
        f"API {api.name} updated",
        api_id=str(api.id),
        changed=sorted(new),
    )
    return api


def delete_api(session: Session, *, api_id: str, actor: Actor) -> None:
    """Delete an API with its specifications and its mappings."""
    require_api_writer(actor)
    api = get_api(session, api_id=api_id)
    _record(session, actor, "api.deleted", f"API {api.name} deleted", api_id=str(api.id))
    session.execute(delete(Api).where(Api.id == api.id))


def list_apis(
    session: Session, query: list[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of APIs, filtered (``filter[name]`` ...) and sorted (default by name)."""
    qd = dict(query)
    sort = q.parse_sort(qd.get("sort"), API_SORTS, "name")
    page = q.page_request(qd)
    clauses = q.filter_clauses(API_FILTERS, query, session.get_bind().dialect.name)
    keys, total = q.numbered_keys(
        session, select(Api.id).where(*clauses), q.order_by(sort, API_SORTS, Api.id), page
    )
    rows = {a.id: a for a in session.scalars(select(Api).where(Api.id.in_(keys)))}
    specs = _spec_ids(session, keys)
    return [to_dict(rows[k], specs[k]) for k in keys if k in rows], q.page_meta(page, total)


# --- specifications --------------------------------------------------------------------


def _add_spec(session: Session, api: Api, content: str, kind: str) -> ApiSpecification:
    now = utcnow()
    spec = ApiSpecification(
        id=uuid.uuid4(), api_id=api.id, type=kind, content=content, created_at=now, updated_at=now
    )
    session.add(spec)
    session.flush()
    return spec


def create_spec(
    session: Session, *, api_id: str, content: str, type: str | None, actor: Actor
) -> ApiSpecification:
    """Add a specification document to an API after its structural check
    (:func:`service_catalog.apis.specs.check_spec`: a 400 listing the problems)."""
    require_api_writer(actor)
    api = get_api(session, api_id=api_id)
    spec = _add_spec(session, api, content, check_spec(content, type))
    api.updated_at = utcnow()
    _record(
        session,
        actor,
        "api.specification_created",
        f"Specification of API {api.name} added",
        api_id=str(api.id),
        specification_id=str(spec.id),
        type=spec.type,
    )
    return spec


def get_spec(session: Session, *, api_id: str, spec_id: str) -> ApiSpecification:
    """One specification document of an API; 404 otherwise."""
    api = get_api(session, api_id=api_id)
    ident = _uuid(spec_id)
    spec = session.get(ApiSpecification, ident) if ident is not None else None
    if spec is None or spec.api_id != api.id:
        raise not_found("API specification", spec_id)
    return spec


def delete_spec(session: Session, *, api_id: str, spec_id: str, actor: Actor) -> None:
    """Delete a specification document of an API."""
    require_api_writer(actor)
    spec = get_spec(session, api_id=api_id, spec_id=spec_id)
    _record(
        session,
        actor,
        "api.specification_deleted",
        "API specification deleted",
        api_id=str(spec.api_id),
        specification_id=str(spec.id),
    )
    session.execute(delete(ApiSpecification).where(ApiSpecification.id == spec.id))


def list_specs(
    session: Session, *, api_id: str, query: list[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of an API's specification documents, oldest first."""
    api = get_api(session, api_id=api_id)
    page = q.page_request(dict(query))
    stmt = select(ApiSpecification).where(ApiSpecification.api_id == api.id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(ApiSpecification.created_at, ApiSpecification.id)
        .limit(page.size)
        .offset((page.number - 1) * page.size)
    )
    return [spec_to_dict(s) for s in rows], q.page_meta(page, total)


# --- API mappings ------------------------------------------------------------------------

#: An API mapping or a consumed API: the two links of a service to an API, kept alike.
_Link = TypeVar("_Link", ApiMapping, ApiConsumer)


def create_api_mapping(
    session: Session, *, service: str, api_id: str | uuid.UUID, actor: Actor, exist_ok: bool = False
) -> ApiMapping:
    """Map an API to a catalog service (it provides the API); Service Admin on the service.
    A pair already mapped is a 409 (or, with ``exist_ok``, the stored mapping)."""
    svc = administered_service(session, actor, service)
    api = get_api(session, api_id=api_id)
    return _create_link(
        session,
        ApiMapping,
        svc,
        api,
        actor,
        taken=f"API [{api.id}] is already mapped to catalog service [{svc.name}]",
        detail=f"API {api.name} mapped to catalog service {svc.name}",
        exist_ok=exist_ok,
    )


def _record_link(session: Session, actor: Actor, verb: str, detail: str, link: _Link) -> None:
    """Record that an API mapping or consumed API was ``verb`` ("created", "deleted") on
    its service (the event of its kind, :data:`_LINK_EVENTS`)."""
    kind, key, _, _ = _LINK_EVENTS[type(link)]
    _record(
        session,
        actor,
        f"catalog_service.{kind}_{verb}",
        detail,
        service_id=link.service_id,
        api_id=str(link.api_id),
        **{key: str(link.id)},
    )


def _create_link(
    session: Session,
    model: type[_Link],
    svc: CatalogService,
    api: Api,
    actor: Actor,
    *,
    taken: str,
    detail: str,
    exist_ok: bool = False,
) -> _Link:
    """Link ``svc`` to ``api`` (a ``model`` row), audited; a pair linked already is a 409
    saying ``taken`` (or, with ``exist_ok``, the stored link)."""
    found = session.scalar(select(model).where(model.service_id == svc.id, model.api_id == api.id))
    if found is not None:
        if exist_ok:
            return found
        raise conflict(taken)
    now = utcnow()
    row = model(id=uuid.uuid4(), service_id=svc.id, api_id=api.id, created_at=now, updated_at=now)
    _store(session, row, taken)
    _record_link(session, actor, "created", detail, row)
    return row


def _delete_link(session: Session, actor: Actor, detail: str, link: _Link) -> None:
    """Remove an API mapping or consumed API, audited."""
    _record_link(session, actor, "deleted", detail, link)
    model = type(link)
    session.execute(delete(model).where(model.id == link.id))


def _link_of(
    session: Session, model: type[_Link], service_id: uuid.UUID, link_id: str, what: str
) -> _Link:
    """The API mapping or consumed API (``model``) ``link_id`` of the service
    ``service_id``; a 404 naming ``what`` when there is none (or it is another service's)."""
    ident = _uuid(link_id)
    m = session.get(model, ident) if ident is not None else None
    if m is None or m.service_id != service_id:
        raise not_found(what, link_id)
    return m


def _mapping_of(session: Session, service_id: uuid.UUID, mapping_id: str) -> ApiMapping:
    return _link_of(session, ApiMapping, service_id, mapping_id, "Catalog service API mapping")


def get_api_mapping(session: Session, *, service: str, mapping_id: str, actor: Actor) -> ApiMapping:
    """One API mapping of a catalog service the actor may read."""
    svc = readable_service(session, actor, service)
    return _mapping_of(session, svc.id, mapping_id)


def delete_api_mapping(session: Session, *, service: str, mapping_id: str, actor: Actor) -> None:
    """Remove an API mapping; Service Admin on the service."""
    svc = administered_service(session, actor, service)
    m = _mapping_of(session, svc.id, mapping_id)
    _delete_link(session, actor, f"API mapping {m.id} of catalog service {svc.name} deleted", m)


def delete_api_mapping_by_pair(
    session: Session, *, service: str, api_id: str | uuid.UUID, actor: Actor
) -> bool:
    """Remove the mapping of ``api_id`` to ``service`` if there is one; whether there was
    (for declarative callers that know mappings by their ends)."""
    svc = administered_service(session, actor, service)
    ident = _uuid(api_id)
    m = session.scalar(
        select(ApiMapping).where(ApiMapping.service_id == svc.id, ApiMapping.api_id == ident)
    )
    if m is None:
        return False
    delete_api_mapping(session, service=str(svc.id), mapping_id=str(m.id), actor=actor)
    return True


def _link_page(
    session: Session,
    model: type[_Link],
    query: list[tuple[str, str]],
    spec: q.FilterSpec,
    *where: Any,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of API mappings or consumed APIs (``model``) matching ``where`` and the
    query's filters, sorted by ``created_at``/``updated_at`` (newest first by default)."""
    sorts = {"created_at": model.created_at, "updated_at": model.updated_at}
    qd = dict(query)
    sort = q.parse_sort(qd.get("sort"), sorts, DEFAULT_MAPPING_SORT)
    page = q.page_request(qd)
    clauses = q.filter_clauses(spec, query, session.get_bind().dialect.name)
    keys, total = q.numbered_keys(
        session,
        select(model.id).where(*where, *clauses),
        q.order_by(sort, sorts, model.id),
        page,
    )
    rows = {r.id: r for r in session.scalars(select(model).where(model.id.in_(keys)))}
    return [mapping_to_dict(rows[k]) for k in keys if k in rows], q.page_meta(page, total)


def list_service_api_mappings(
    session: Session, *, service: str, query: list[tuple[str, str]], actor: Actor
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of a catalog service's API mappings (``filter[api_id]``, sort by
    ``created_at``/``updated_at``, newest first by default)."""
    svc = readable_service(session, actor, service)
    return _link_page(
        session, ApiMapping, query, SERVICE_MAPPING_FILTERS, ApiMapping.service_id == svc.id
    )


def list_api_service_mappings(
    session: Session, *, api_id: str, query: list[tuple[str, str]], actor: Actor
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of the mappings of an API to the catalog services the actor may read
    (``filter[service_id]``)."""
    api = get_api(session, api_id=api_id)
    where: list[Any] = [ApiMapping.api_id == api.id]
    visible = readable_ids(actor)
    if visible is not None:
        where.append(ApiMapping.service_id.in_(visible))
    return _link_page(session, ApiMapping, query, API_MAPPING_FILTERS, *where)


# --- declarative callers (catalog files) ------------------------------------------------


def _links_of_services(
    session: Session, model: type[ApiMapping] | type[ApiConsumer], service_ids: list[uuid.UUID]
) -> list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str | None]]:
    out: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str | None]] = []
    for start in range(0, len(service_ids), 5000):
        out.extend(
            (r.id, r.service_id, r.api_id, r.origin)
            for r in session.execute(
                select(model.id, model.service_id, model.api_id, model.origin).where(
                    model.service_id.in_(service_ids[start : start + 5000])
                )
            )
        )
    return out


def mappings_of_services(
    session: Session, service_ids: list[uuid.UUID]
) -> list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str | None]]:
    """Every API mapping of ``service_ids``: ``(id, service_id, api_id, origin)``."""
    return _links_of_services(session, ApiMapping, service_ids)


#: Per link model: event type infix, id attribute, deleted and created details
#: (formatted with the row id, service id and API id).
_LINK_EVENTS: dict[type[Any], tuple[str, str, str, str]] = {
    ApiMapping: (
        "api_mapping",
        "mapping_id",
        "API mapping {0} of catalog service {1} deleted",
        "API {2} mapped to catalog service {1}",
    ),
    ApiConsumer: (
        "api_consumer",
        "consumer_id",
        "Consumed API {2} of catalog service {1} removed",
        "API {2} consumed by catalog service {1}",
    ),
}


def _replace_links(
    session: Session,
    *,
    model: type[ApiMapping] | type[ApiConsumer],
    add: list[tuple[uuid.UUID, uuid.UUID]],
    remove: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]],
    origin: str,
    actor: Actor,
) -> None:
    """Insert ``add`` and delete ``remove`` rows of ``model``, each audited with the
    event of its kind (:data:`_LINK_EVENTS`)."""
    kind, key, deleted, created = _LINK_EVENTS[model]
    for row_id, service_id, api_id in remove:
        _record(
            session,
            actor,
            f"catalog_service.{kind}_deleted",
            deleted.format(row_id, service_id, api_id),
            service_id=service_id,
            api_id=str(api_id),
            **{key: str(row_id)},
        )
        session.execute(delete(model).where(model.id == row_id))
    now = utcnow()
    for service_id, api_id in add:
        row = model(
            id=uuid.uuid4(),
            service_id=service_id,
            api_id=api_id,
            origin=origin,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        _record(
            session,
            actor,
            f"catalog_service.{kind}_created",
            created.format(row.id, service_id, api_id),
            service_id=service_id,
            api_id=str(api_id),
            **{key: str(row.id)},
        )
    session.flush()


#: ``replace_api_mappings(session, *, add, remove, origin, actor)``: map the APIs ``add``
#: (``(service_id, api_id)``, each unmapped) with ``origin`` and delete the mappings
#: ``remove`` (``(id, service_id, api_id)``), audited. The caller checked the rights
#: (Service Admin on each service) while planning.
replace_api_mappings = partial(_replace_links, model=ApiMapping)


# --- consumed APIs (an extension beside Kong's mappings) ----------------------------------

CONSUMER_SORTS = {"created_at": ApiConsumer.created_at, "updated_at": ApiConsumer.updated_at}
CONSUMER_FILTERS = q.FilterSpec(fields=q.model_fields(ApiConsumer, "api_id"))


def list_service_consumed_apis(
    session: Session, *, service: str, query: list[tuple[str, str]], actor: Actor
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of the APIs a catalog service consumes (``filter[api_id]``, newest first by
    default); read by a reader of the service."""
    svc = readable_service(session, actor, service)
    return _link_page(
        session, ApiConsumer, query, CONSUMER_FILTERS, ApiConsumer.service_id == svc.id
    )


def create_api_consumer(
    session: Session, *, service: str, api_id: str | uuid.UUID, actor: Actor
) -> ApiConsumer:
    """Record by hand that a catalog service consumes an API (no ``origin``: an apply of
    catalog files never deletes it, as with API mappings made by hand); Service Admin on
    the service. An unknown API is a 404, a pair recorded already a 409."""
    svc = administered_service(session, actor, service)
    api = get_api(session, api_id=api_id)
    return _create_link(
        session,
        ApiConsumer,
        svc,
        api,
        actor,
        taken=f"Catalog service [{svc.name}] already consumes API [{api.id}]",
        detail=f"API {api.name} consumed by catalog service {svc.name}",
    )


def get_api_consumer(
    session: Session, *, service: str, consumer_id: str, actor: Actor
) -> ApiConsumer:
    """One consumed API of a catalog service the actor may read."""
    svc = readable_service(session, actor, service)
    return _link_of(session, ApiConsumer, svc.id, consumer_id, "Catalog service consumed API")


def delete_api_consumer(session: Session, *, service: str, consumer_id: str, actor: Actor) -> None:
    """Remove a consumed API of a catalog service (whoever recorded it); Service Admin on
    the service."""
    svc = administered_service(session, actor, service)
    row = _link_of(session, ApiConsumer, svc.id, consumer_id, "Catalog service consumed API")
    _delete_link(
        session, actor, f"Consumed API {row.api_id} of catalog service {svc.name} removed", row
    )


def consumers_of_services(
    session: Session, service_ids: list[uuid.UUID]
) -> list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str | None]]:
    """Every consumed API of ``service_ids``: ``(id, service_id, api_id, origin)``."""
    return _links_of_services(session, ApiConsumer, service_ids)


#: ``replace_api_consumers(session, *, add, remove, origin, actor)``: record the consumed
#: APIs ``add`` (``(service_id, api_id)``, each not recorded) with ``origin`` and delete
#: ``remove`` (``(id, service_id, api_id)``), audited; rights checked by the caller.
replace_api_consumers = partial(_replace_links, model=ApiConsumer)

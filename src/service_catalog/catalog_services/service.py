"""Rules of catalog services: the only place that changes them.

Every function works in the caller's unit of work (:class:`service_catalog.core.db.UnitOfWork`)
and never commits or rolls back: a name taken by a concurrent writer inserts nothing
(create) or is caught in a savepoint (rename).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Row,
    Select,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy import (
    cast as sql_cast,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from service_catalog.auth.access import (
    SERVICE_CREATOR,
    Rights,
    grant_creator_admin,
    identity_changed,
)
from service_catalog.auth.guard import check_service, readable_services, require_any
from service_catalog.auth.models import RoleAssignment
from service_catalog.auth.service import Actor
from service_catalog.catalog_services.models import (
    RESTRICTED_INDEX,
    CatalogService,
    CatalogServiceAttribute,
    CatalogServiceValueCount,
    CatalogServiceValueCountDelta,
)
from service_catalog.catalog_services.schemas import CatalogServiceCreate, CatalogServiceUpdate
from service_catalog.core import query as q
from service_catalog.core.bulk import BATCH, insert_rows
from service_catalog.core.db import Database, KeyedSelect, keyed_select, new_uuid, utcnow
from service_catalog.core.errors import Problem, name_taken
from service_catalog.core.jsonindex import (
    JsonIndex,
    apply_value_counts,
    attribute_rows,
    fold_lock,
    value_count_deltas,
)
from service_catalog.core.lookup import find_by_id_or_name, get_by_id_or_name, missing
from service_catalog.core.patch import merge_map, patch_named, set_changed
from service_catalog.core.render import ts
from service_catalog.events.service import record_action, record_actions

FILTERS = q.FilterSpec(
    fields=q.model_fields(CatalogService, "id name display_name created_at updated_at"),
    json_prefixes={
        "labels": q.FilterField(
            "json",
            CatalogService.labels,
            flat=True,
            index=JsonIndex(
                CatalogServiceAttribute,
                CatalogService.id,
                "labels",
                CatalogServiceValueCount,
                sorts=("display_name",),
                journal=CatalogServiceValueCountDelta,
            ),
        ),
        "custom_fields": q.FilterField(
            "json",
            CatalogService.custom_fields,
            index=JsonIndex(
                CatalogServiceAttribute,
                CatalogService.id,
                "custom_fields",
                CatalogServiceValueCount,
                sorts=("display_name",),
                journal=CatalogServiceValueCountDelta,
            ),
        ),
    },
)
_A_SERVICE = "A catalog service"  # as a name taken says it (core.errors.name_taken)
SORTS = {
    "name": CatalogService.name,
    "display_name": CatalogService.display_name,
    "created_at": CatalogService.created_at,
    "updated_at": CatalogService.updated_at,
}
DEFAULT_SORT = "display_name"
#: Rendered rows kept by :func:`_render_raw` (about 1 KB each: 25 MB at most).
RENDERED_ROWS = 25_000


def _record(
    session: Session,
    actor: Actor,
    svc: CatalogService,
    verb: str,
    changed: list[str] | None = None,
) -> None:
    """The audit event ``catalog_service.<verb>`` of ``svc`` (with the fields ``changed``
    of an update)."""
    detail = f"Catalog service {svc.name} {verb} by {actor.name}"
    attributes: dict[str, Any] = {"name": svc.name}
    if changed is not None:
        detail += f": {', '.join(changed)}"
        attributes["changed"] = changed
    record_action(
        session,
        actor=actor,
        type=f"catalog_service.{verb}",
        service_id=svc.id,
        detail=detail,
        attributes=attributes,
    )


def attribute_rows_of(
    service_id: uuid.UUID,
    display_name: str,
    labels: dict[str, Any] | None,
    custom_fields: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    """The ``catalog_service_attributes`` rows that index a service's labels and custom
    fields (label keys are whole names; custom fields nest), each with the service's
    ``display_name`` (the side table's sort key)."""
    rows = attribute_rows(
        service_id, {"labels": (labels, False), "custom_fields": (custom_fields, True)}
    )
    for row in rows:
        row["display_name"] = display_name
    return rows


def recount_values(session: Session) -> None:
    """Rebuild the value counts from the side table (after rows were loaded in bulk,
    bypassing :func:`create_service`)."""
    attrs = CatalogServiceAttribute
    if session.get_bind().dialect.name == "postgresql":  # (no fold meanwhile)
        session.execute(
            select(func.pg_advisory_xact_lock(fold_lock(CatalogServiceValueCountDelta)))
        )
    session.execute(delete(CatalogServiceValueCountDelta))
    session.execute(delete(CatalogServiceValueCount))
    session.execute(
        insert(CatalogServiceValueCount).from_select(
            ["path", "short", "count"],
            select(attrs.path, attrs.short, func.count())
            .where(attrs.short.is_not(None))
            .group_by(attrs.path, attrs.short),
        )
    )


def _index_attributes(session: Session, svc: CatalogService, *, old: bool, new: bool) -> None:
    """Keep the side table and its value counts in step with ``svc``'s labels and custom
    fields, in the caller's transaction: drop its ``old`` rows (an update, a delete),
    write its ``new`` ones (a create, an update)."""
    attrs = CatalogServiceAttribute
    removed: list[tuple[str, str | None]] = []
    if old:
        removed = [
            (r.path, r.short)
            for r in session.execute(
                delete(attrs).where(attrs.owner_id == svc.id).returning(attrs.path, attrs.short)
            )
        ]
    rows = attribute_rows_of(svc.id, svc.display_name, svc.labels, svc.custom_fields) if new else []
    if rows:
        session.execute(insert(attrs), rows)
    apply_value_counts(
        session,
        CatalogServiceValueCount,
        value_count_deltas(removed, [(r["path"], r["short"]) for r in rows]),
        CatalogServiceValueCountDelta,
    )


def to_dict(svc: CatalogService | Row[Any]) -> dict[str, Any]:
    """A catalog service as the contract's ``CatalogService``."""
    return {
        "id": str(svc.id),
        "name": svc.name,
        "display_name": svc.display_name,
        "description": svc.description,
        "labels": svc.labels or {},
        "custom_fields": svc.custom_fields or {},
        "created_at": ts(svc.created_at),
        "updated_at": ts(svc.updated_at),
    }


def create_service(session: Session, *, data: CatalogServiceCreate, actor: Actor) -> CatalogService:
    """Create a catalog service; a taken name is a 409.

    One ``INSERT ... ON CONFLICT (name) DO NOTHING RETURNING``: a name taken, also by a
    concurrent writer, inserts nothing and raises no error, so the caller's transaction
    needs no savepoint (measured: a savepoint costs this hot path about a tenth)."""
    require_any(actor.rights, SERVICE_CREATOR)
    now = utcnow()
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    svc: CatalogService | None = session.scalar(
        insert(CatalogService)
        .values(
            id=new_uuid(),
            name=data.name,
            display_name=data.display_name,
            description=data.description,
            labels=dict(data.labels or {}),
            custom_fields={k: v for k, v in (data.custom_fields or {}).items() if v is not None},
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[CatalogService.name])
        .returning(CatalogService)
    )
    if svc is None:
        raise name_taken(_A_SERVICE, data.name)
    _index_attributes(session, svc, old=False, new=True)
    _record(session, actor, svc, "created")
    grant_creator_admin(session, actor, str(svc.id))
    return svc


def create_services(
    session: Session, *, data: list[CatalogServiceCreate], actor: Actor
) -> dict[str, uuid.UUID]:
    """Create many catalog services at once (catalog files, imports): the rows, their
    index entries and value counts, and one audit event each, in a few set-based
    statements. Returns each name's new id; a name taken (also by a concurrent writer)
    is a 409 naming it, and the caller's transaction must then be rolled back."""
    if not data:
        return {}
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "id": new_uuid(),
            "name": d.name,
            "display_name": d.display_name,
            "description": d.description,
            "labels": dict(d.labels or {}),
            "custom_fields": {k: v for k, v in (d.custom_fields or {}).items() if v is not None},
        }
        for d in data
    ]
    names = [r["name"] for r in rows]
    taken = {
        name
        for start in range(0, len(names), 5000)
        for name in session.scalars(
            select(CatalogService.name).where(CatalogService.name.in_(names[start : start + 5000]))
        )
    }
    if taken:
        raise name_taken(_A_SERVICE, sorted(taken)[0])
    # Prepared executemany batches (core.bulk): the ORM's bulk path, and even Core's
    # per-row parameter handling, cost more than the database. The index rows are made
    # a slice of services at a time (they are many: a whole import's would weigh).
    insert_rows(session, _TABLE, rows, same={"created_at": now, "updated_at": now})
    values: list[tuple[str, str | None]] = []
    for start in range(0, len(rows), BATCH):
        attrs = [
            a
            for r in rows[start : start + BATCH]
            for a in attribute_rows_of(r["id"], r["display_name"], r["labels"], r["custom_fields"])
        ]
        for a in attrs:
            a["service_id"] = a.pop("owner_id")  # (the column's name)
            values.append((a["path"], a["short"]))
        insert_rows(session, cast(Table, CatalogServiceAttribute.__table__), attrs)
    apply_value_counts(
        session,
        CatalogServiceValueCount,
        value_count_deltas([], values),
        CatalogServiceValueCountDelta,
    )
    record_actions(
        session,
        actor=actor,
        actions=[
            {
                "type": "catalog_service.created",
                "service_id": r["id"],
                "detail": f"Catalog service {r['name']} created by {actor.name}",
                "attributes": {"name": r["name"]},
            }
            for r in rows
        ],
    )
    return {r["name"]: r["id"] for r in rows}


def find_service(session: Session, ref: str) -> CatalogService | None:
    """A catalog service by id or, failing that, by name."""
    return find_by_id_or_name(session, CatalogService, ref)


def _missing(ref: str) -> Problem:
    return missing("Catalog service", ref, "/v1/catalog-services")


def get_service(
    session: Session, *, service_id: str, rights: Rights | None = None, change: bool = False
) -> CatalogService:
    """A catalog service by id or name; 404 when there is none, or when ``rights`` (the
    asking principal's) may not read it; 403 when ``change`` and they may read but not
    change it (:func:`service_catalog.auth.guard.check_service`)."""
    svc = get_by_id_or_name(
        session, CatalogService, service_id, what="Catalog service", listing="/v1/catalog-services"
    )
    if rights is not None:
        check_service(rights, svc.id, change=change, missing=_missing(service_id))
    return svc


_TABLE = cast(Table, CatalogService.__table__)


def read_service(db: Database, *, service_id: str, rights: Rights) -> dict[str, Any]:
    """One catalog service, by id or name, as the contract's dict, read with SQL alone
    (no ORM session): the hot path of GET by id. 404 when there is none or ``rights`` may
    not read it (checked in memory: no query)."""
    try:
        row = db.read_by_key(_TABLE, _TABLE.c.id, uuid.UUID(service_id))
    except ValueError:
        row = None
    if row is None and "\x00" not in service_id:
        row = db.read_by_key(_TABLE, _TABLE.c.name, service_id)
    if row is None:
        raise _missing(service_id)
    check_service(rights, row.id, change=False, missing=_missing(service_id))
    return to_dict(row)


@functools.lru_cache(maxsize=4)
def _raw_columns(dialect: str) -> list[Any]:
    """The service table's columns as :meth:`KeyedSelect.fetch_in` reads them, for
    :func:`_render_raw`: the driver's values unprocessed (NullType), JSON as its text on
    PostgreSQL."""
    pg = dialect == "postgresql"
    return [
        type_coerce(sql_cast(c, Text) if pg and isinstance(c.type, JSON) else c, NullType()).label(
            c.key
        )
        for c in _TABLE.columns
    ]


def read_services(session: Session, keys: list[uuid.UUID]) -> list[dict[str, Any]]:
    """The catalog services with ids ``keys``, in that order, as the contract's dicts (one
    deleted meanwhile is left out; the dicts may be shared: do not change them).

    The rows come straight from the driver (:meth:`KeyedSelect.fetch_in`) and each
    distinct raw row is rendered once (:func:`_render_raw`), through the same
    :func:`to_dict` as GET by id."""
    if not keys:
        return []
    plan = keyed_select(session.get_bind().dialect, _TABLE, _TABLE.c.id)
    bound = list(map(plan.bound, keys))
    raw = {r[0]: r for r in plan.fetch_in(session.connection(), bound)}
    return [_render_raw(plan, raw[b]) for b in bound if b in raw]


@functools.lru_cache(maxsize=RENDERED_ROWS)
def _render_raw(plan: KeyedSelect, raw: tuple[Any, ...]) -> dict[str, Any]:
    """A raw catalog service row as the contract's dict. A pure function of the row's
    stored values, so memoised: a page read again renders only what changed (a changed
    service is another raw row; the oldest entries go first)."""
    return to_dict(plan.row(raw))


def update_service(
    session: Session, *, service_id: str, data: CatalogServiceUpdate, actor: Actor
) -> CatalogService:
    """Apply a PATCH: given fields replace, labels and custom fields merge (null removes a
    key). Needs Service Admin of it."""
    svc = get_service(session, service_id=service_id, rights=actor.rights, change=True)
    changed = patch_named(session, svc, data, what=_A_SERVICE)
    if "custom_fields" in data.model_fields_set:
        fields = (
            {}
            if data.custom_fields is None
            else merge_map(svc.custom_fields or {}, data.custom_fields)
        )
        set_changed(svc, "custom_fields", fields, changed)
    if changed:
        svc.updated_at = utcnow()
        session.flush()
        if "labels" in changed or "custom_fields" in changed:
            _index_attributes(session, svc, old=True, new=True)
        elif "display_name" in changed:  # the side table's sort key follows
            session.execute(
                update(CatalogServiceAttribute)
                .where(CatalogServiceAttribute.owner_id == svc.id)
                .values(display_name=svc.display_name)
            )
        _record(session, actor, svc, "updated", changed)
    return svc


def delete_service(session: Session, *, service_id: str, actor: Actor) -> None:
    """Delete a catalog service, its resource mappings and the role assignments on it;
    resources stay. Needs Service Admin of it."""
    svc = get_service(session, service_id=service_id, rights=actor.rights, change=True)
    _record(session, actor, svc, "deleted")
    _index_attributes(session, svc, old=True, new=False)
    session.execute(delete(CatalogService).where(CatalogService.id == svc.id))
    removed = session.execute(delete(RoleAssignment).where(RoleAssignment.entity_id == str(svc.id)))
    if removed.rowcount:  # type: ignore[attr-defined]
        identity_changed(session)


def list_statement(clauses: Iterable[Any]) -> Select[Any]:
    """SELECT of catalog services matching compiled filter clauses."""
    return select(CatalogService).where(*clauses)


def list_services(
    session: Session, query: list[tuple[str, str]], actor: Actor
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One page of the catalog services ``actor`` may read, filtered and sorted as the
    query string asks, as the contract's dicts: the page's keys (from the side table's
    index alone when the filters are on labels/custom fields and the sort is by
    display_name: :func:`q.index_walk`; else in one query with the total), then their rows
    by key (:func:`read_services`). A principal restricted to some services gets one more
    clause, its ids as one bound value (:func:`q.keys_in`), on whichever key the query
    reads (none for one that reads every service)."""
    qd = dict(query)
    dialect = session.get_bind().dialect.name
    sort = q.parse_sort(qd.get("sort"), SORTS, DEFAULT_SORT)
    page = q.page_request(qd)
    readable = readable_services(actor.rights)
    # A restricted principal walks the label index too on SQLite (each entry tested
    # against its key set, as fast as the walk alone); on PostgreSQL its keys drive the
    # query instead (each looked up by id): testing 1,000 walked entries against an
    # array measured twice the walk's time there.
    walk = (
        q.index_walk(FILTERS, query, dialect, sort, owners=readable)  # (checks the filters)
        if readable is None or dialect == "sqlite"
        else None
    )
    if readable is not None and not readable:
        return [], q.page_meta(page, 0)  # reads no service: nothing to ask the database
    if walk is not None and dialect == "postgresql":  # the rows in the walk's statement
        plan = keyed_select(session.get_bind().dialect, _TABLE, _TABLE.c.id)
        raws, total = q.walked_rows(session, walk, page, _TABLE.c.id, _raw_columns(dialect))
        return [_render_raw(plan, r) for r in raws], q.page_meta(page, total)
    if walk is not None:  # labels/custom fields alone, sorted by display_name
        keys, total = q.walked_keys(session, walk, page)
    else:
        clauses = q.filter_clauses(FILTERS, query, dialect)
        unique = _unique_lookup(query)
        if unique is not None:  # at most one service: read it by its key, as GET by id
            found = _read_by(session, *unique)
            if readable is not None:
                found = [f for f in found if uuid.UUID(f["id"]) in readable]
            return (found if page.number == 1 else []), q.page_meta(page, len(found))
        by_name = _restricted_by_name(readable, sort, dialect, bool(clauses))
        if by_name is not None and readable is not None:
            keys, total = q.keys_page(session, by_name, readable, page)
            return read_services(session, keys), q.page_meta(page, total)
        if readable is not None:
            clauses.append(q.keys_in(CatalogService.id, readable, dialect))
        narrow = select(CatalogService.id).where(*clauses)
        order = q.order_by(sort, SORTS, CatalogService.id)
        keys, total = q.numbered_keys(session, narrow, order, page)
    return read_services(session, keys), q.page_meta(page, total)


def _restricted_by_name(
    readable: frozenset[uuid.UUID] | None,
    sort: list[tuple[str, bool]],
    dialect: str,
    filtered: bool,
) -> q.KeysPage | None:
    """How to page an unfiltered list of the ``readable`` services sorted by display_name,
    on SQLite: each service looked up by key in the (id, display_name) index, which holds
    the sort key too (through the primary key's index, the planner's choice, each look-up
    also read the service's row); the statement built once per direction. None
    otherwise."""
    if readable is None or dialect != "sqlite" or filtered or len(sort) != 1:
        return None
    name, desc = sort[0]
    return _by_name_page(desc) if name == "display_name" else None


@functools.lru_cache(maxsize=2)
def _by_name_page(desc: bool) -> q.KeysPage:
    t = q.indexed_by(_TABLE, RESTRICTED_INDEX)
    order = q.order_by([("display_name", desc)], {"display_name": t.c.display_name}, t.c.id)
    return q.keys_page_statement(t.c.id, order)


def _unique_lookup(query: list[tuple[str, str]]) -> tuple[Any, Any] | None:
    """``(column, value)`` when the query's only filter is ``name`` or ``id`` equal to one
    value (already validated by ``filter_clauses``): a lookup of one row by key."""
    filters = [(k, v) for k, v in query if k.startswith("filter")]
    if len(filters) != 1:
        return None
    key, value = filters[0]
    if key in ("filter[name]", "filter[name][eq]"):
        return _TABLE.c.name, value
    if key in ("filter[id]", "filter[id][eq]"):
        return _TABLE.c.id, uuid.UUID(value)
    return None


def _read_by(session: Session, column: Any, value: Any) -> list[dict[str, Any]]:
    """The service whose unique ``column`` is ``value`` (as a list of at most one), read
    and rendered as :func:`read_services` reads a page's rows."""
    plan = keyed_select(session.get_bind().dialect, _TABLE, column)
    return [_render_raw(plan, r) for r in plan.fetch_in(session.connection(), [plan.bound(value)])]


def service_facets(
    session: Session, query: list[tuple[str, str]], actor: Actor
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The values of one label or custom field (``field=labels.team``) among the catalog
    services ``actor`` reads that the query's filters match, each with its count, most
    frequent first."""
    req = q.facet_request(dict(query))
    dialect = session.get_bind().dialect.name
    clauses = q.filter_clauses(FILTERS, query, dialect)
    readable = readable_services(actor.rights)
    if readable is not None:
        clauses.append(q.keys_in(CatalogService.id, readable, dialect))
    data, truncated = q.facet_counts(
        session,
        spec=FILTERS,
        columns={},
        rows=list_statement(clauses),
        key=CatalogService.id,
        req=req,
    )
    return data, {"field": req.field, "limit": req.limit, "truncated": truncated}

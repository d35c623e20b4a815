"""The SQL of the resource ingest path, behind one small interface per database.

:mod:`~service_catalog.resources.ingest` decides what to write; a :class:`ResourceStore`
reads and writes it with the statements that are fast on its database:
:class:`SQLiteStore` (ids as one JSON array walked by ``json_each``, the rowid mark of
:class:`KnownResources`) and :class:`PostgresStore` (ids as one array parameter joined by
``unnest``, so the planner always probes the primary key). ``ResourceStore.of(session)``
picks the one for the session's database.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any, NamedTuple
from typing import cast as cast_type

import orjson
from sqlalchemy import (
    Table,
    Text,
    any_,
    bindparam,
    cast,
    delete,
    false,
    func,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from service_catalog.core.db import KeyedSelect, UTCDateTime
from service_catalog.core.jsonindex import nested_rows
from service_catalog.integrations.connectors.base import ResourceRecord
from service_catalog.resources.dataindex import PREFIX, DataPaths, data_rows
from service_catalog.resources.models import Resource, ResourceAttribute

# Bound parameters per statement stay well below SQLite's and PostgreSQL's limits.
CHUNK = 500


class StoredState(NamedTuple):
    """What decides whether a record is unchanged: the stored content hash (None for a
    resource initialized but never hydrated) and whether the resource is discovered."""

    content_hash: str | None
    discovered: bool


class KnownResources(dict[str, StoredState]):
    """``id -> StoredState`` of an instance's stored resources, read once by a sync
    (:meth:`ResourceStore.known`) and kept current across its batches.

    On SQLite it also holds ``rowid_mark``: the highest rowid of ``resources`` when it was
    last known complete. SQLite gives a new row a rowid above every existing one, so the
    rows inserted since are exactly those above the mark: a batch reads those (usually
    none) instead of looking its unknown ids up (a first sync's ids are all unknown).
    Should the highest rowid fall below the mark (rows deleted), the mark is dropped and
    batches look their ids up again.
    """

    rowid_mark: int | None = None
    instance_key: Any = None  # the instance id as SQLite stores it


class ResourceRow(NamedTuple):
    """One resource as the upsert writes it (its JSON canonical text, NUL scrubbed) and
    the record it was made from."""

    id: str
    type: str
    name: str | None
    config_json: str
    data_json: str | None
    content_hash: str
    record: ResourceRecord


#: The columns of a :class:`ResourceRow` the upsert writes (all but ``record``).
_WRITTEN = ResourceRow._fields[:-1]


class ResourceStore(ABC):
    """The reads and writes of the ingest path, in the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    @staticmethod
    def of(session: Session) -> ResourceStore:
        """The store for the session's database."""
        name = session.get_bind().dialect.name
        if name == "sqlite":
            return SQLiteStore(session)
        if name == "postgresql":
            return PostgresStore(session)
        raise RuntimeError(f"unsupported database dialect {name!r}")

    # --- reading ----------------------------------------------------------------------

    def known(self, instance_id: uuid.UUID) -> KnownResources:
        """The stored state of every resource of the instance: one scan by the instance
        index, through the driver with a statement compiled once (100,000 rows through
        SQLAlchemy's result machinery cost noticeably more)."""
        conn = self.session.connection()
        plan = _known_select(conn.dialect)
        rows = conn.exec_driver_sql(plan.sql, plan.params(instance_id)).cursor.fetchall()
        return KnownResources(
            (rid, StoredState(chash, bool(discovered))) for rid, chash, discovered in rows
        )

    def refresh(self, known: KnownResources) -> bool:
        """Bring ``known`` up to date with what other writers inserted since it was read;
        True when it is then complete (an id not in it is not stored), False when the
        database cannot tell (ids must be looked up)."""
        return False

    def note_written(self, known: KnownResources) -> None:
        """Called after this transaction inserted rows already added to ``known``."""
        return

    @abstractmethod
    def states(self, ids: Sequence[str]) -> Iterable[tuple[str, str | None, Any]]:
        """``(id, content_hash, discovered)`` of the resources among ``ids`` that exist."""

    def stored_data(self, ids: Sequence[str]) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """``(id, integration_data)`` of the resources among ``ids`` that exist."""
        for start in range(0, len(ids), CHUNK):
            stmt = self._by_ids(ids[start : start + CHUNK], Resource.integration_data)
            yield from self.session.execute(stmt)

    def _by_ids(self, ids: Sequence[str], *columns: Any) -> Any:
        """SELECT id and ``columns`` of the resources whose id is in ``ids``."""
        return select(Resource.id, *columns).where(Resource.id.in_(ids))

    # --- writing ----------------------------------------------------------------------

    def upsert(
        self,
        rows: Sequence[ResourceRow],
        *,
        instance_id: uuid.UUID,
        integration_name: str,
        run_id: uuid.UUID | None,
        now: dt.datetime,
    ) -> None:
        """``INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE the content hash differs`` of
        ``rows``, as one executemany.

        The statement is compiled once per database and the per-batch constants
        (instance, run, time) go through their type's bind processor once per batch, not
        once per row; each row's parameters are picked in the statement's order by one
        ``itemgetter``.
        """
        conn = self.session.connection()
        sql, positions, procs = _upsert_sql(type(self), conn.dialect)
        consts: dict[str, Any] = {
            "instance_id": instance_id,
            "run_id": run_id,
            "now": now,
            "integration_name": integration_name,
        }
        for key, proc in procs.items():
            if proc is not None and consts[key] is not None:
                consts[key] = proc(consts[key])
        params: list[Any]
        if positions is not None:
            names = (*ResourceRow._fields, *consts)
            pick = operator.itemgetter(*(names.index(name) for name in positions))
            tail = tuple(consts.values())
            params = [pick(row + tail) for row in rows]
        else:
            params = [{**consts, **dict(zip(_WRITTEN, row, strict=False))} for row in rows]
        conn.exec_driver_sql(sql, params)

    def index(
        self,
        rows: Sequence[ResourceRow],
        created: Collection[str],
        data_paths: DataPaths = (),
    ) -> None:
        """Write the ``resource_attributes`` rows of ``rows``, just upserted: every path
        of the config of the ``created`` ones (a resource's config, part of its id, never
        changes afterwards) and, for all of them, the integration_data values at the
        declared ``data_paths`` (the changed ones' previous rows of those paths deleted
        first). One executemany (a row already there, written by a concurrent writer of
        the same resource, is overwritten)."""
        attrs: list[dict[str, Any]] = []
        changed: list[str] = []
        for row in rows:
            if row.id in created:
                attrs += nested_rows(
                    row.id, "config", _document(row.config_json, row.record.config)
                )
            elif data_paths:
                changed.append(row.id)
            if data_paths:
                attrs += data_rows(
                    row.id, _document(row.data_json, row.record.integration_data), data_paths
                )
        if changed:
            self._drop_data_rows(changed, [f"{PREFIX}.{path}" for path, _ in data_paths], attrs)
        if attrs:
            self.write_attributes(attrs)

    def write_attributes(self, attrs: list[dict[str, Any]]) -> None:
        """Insert (or overwrite) the side-table rows ``attrs``: one executemany."""
        conn = self.session.connection()
        sql, positional = _attributes_sql(type(self), conn.dialect)
        params: list[Any]
        if positional:
            params = [(a["owner_id"], a["path"], a["short"], a["value"], a["num"]) for a in attrs]
        else:
            params = attrs
        conn.exec_driver_sql(sql, params)

    def _drop_data_rows(
        self, ids: Sequence[str], paths: list[str], written: list[dict[str, Any]]
    ) -> None:
        """Delete the rows of ``paths`` of the resources ``ids`` (in chunks), before
        ``written`` (their new rows, among others) are written."""
        t = ResourceAttribute
        for start in range(0, len(ids), CHUNK):
            self.session.execute(
                delete(t).where(
                    self.id_in(t.owner_id, ids[start : start + CHUNK]), t.path.in_(paths)
                )
            )

    def update_ids(self, ids: Sequence[str], **values: Any) -> None:
        """Set ``values`` on the resources ``ids`` (in chunks)."""
        for start in range(0, len(ids), CHUNK):
            self.session.execute(
                update(Resource)
                .where(self.id_in(Resource.id, ids[start : start + CHUNK]))
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    def id_in(self, column: Any, values: Sequence[str]) -> Any:
        """``column`` is one of ``values``."""
        return column.in_(values)

    # --- the dialect's statement ------------------------------------------------------

    @staticmethod
    @abstractmethod
    def insert_for(table: Any) -> Any:
        """The dialect's INSERT (with ``on_conflict_do_update``)."""

    @staticmethod
    @abstractmethod
    def json_param(name: str) -> Any:
        """A bound parameter carrying canonical JSON text into a JSON column."""


class SQLiteStore(ResourceStore):
    """SQLite: ids as one JSON array (one parameter however long the batch), and a rowid
    mark that keeps a sync's :class:`KnownResources` complete without lookups."""

    def known(self, instance_id: uuid.UUID) -> KnownResources:
        """The stored states, with the rowid mark of the same snapshot."""
        known = super().known(instance_id)
        known.rowid_mark = self._max_rowid()
        known.instance_key = _known_select(self.session.get_bind().dialect).bound(instance_id)
        return known

    def refresh(self, known: KnownResources) -> bool:
        """Add the instance's resources inserted since ``known.rowid_mark``; False (and
        the mark dropped) when that cannot be told."""
        mark = known.rowid_mark
        if mark is None:
            return False
        current = self._max_rowid()
        if current < mark:
            known.rowid_mark = None
            return False
        if current > mark:
            rows = self.session.connection().exec_driver_sql(
                "SELECT id, content_hash, discovered FROM resources "
                "WHERE rowid > ? AND instance_id = ?",
                (mark, known.instance_key),
            )
            for rid, chash, discovered in rows.cursor.fetchall():
                known[rid] = StoredState(chash, bool(discovered))
            known.rowid_mark = current
        return True

    def note_written(self, known: KnownResources) -> None:
        """Move the mark past the rows this transaction inserted (``known`` has them)."""
        if known.rowid_mark is not None:
            known.rowid_mark = self._max_rowid()

    def states(self, ids: Sequence[str]) -> Iterable[tuple[str, str | None, Any]]:
        """Each id probed by primary key (CROSS JOIN keeps that order) from one JSON
        array that ``json_each`` walks, where an ``IN`` list costs a parameter per id."""
        result = self.session.connection().exec_driver_sql(
            "SELECT r.id, r.content_hash, r.discovered FROM json_each(?) AS j "
            "CROSS JOIN resources AS r ON r.id = j.value",
            (orjson.dumps(list(ids)).decode(),),
        )
        rows: Iterable[tuple[str, str | None, Any]] = result.cursor.fetchall()
        return rows

    def _max_rowid(self) -> int:
        """The highest rowid of ``resources`` (0 when empty): one step down its b-tree."""
        found = (
            self.session.connection().exec_driver_sql("SELECT max(rowid) FROM resources").scalar()
        )
        return int(found or 0)

    @staticmethod
    def insert_for(table: Any) -> Any:
        """SQLite's INSERT."""
        return sqlite.insert(table)

    @staticmethod
    def json_param(name: str) -> Any:
        """JSON as text (SQLite stores JSON as text)."""
        return bindparam(name, type_=Text)


class PostgresStore(ResourceStore):
    """PostgreSQL: ids as one array parameter.

    A long ``IN (...)`` of separate parameters is searched linearly per row, and a freshly
    filled table has no statistics, so the planner may scan the whole table for every
    batch (quadratic over a first sync). Joining ``unnest(array)`` makes it a nested loop
    over the primary key whatever the statistics say; ``= ANY(array)`` is searched by
    index or hash.
    """

    def states(self, ids: Sequence[str]) -> Iterable[tuple[str, str | None, Any]]:
        """Looked up by primary key, a chunk at a time."""
        for start in range(0, len(ids), CHUNK):
            stmt = self._by_ids(
                ids[start : start + CHUNK], Resource.content_hash, Resource.discovered
            )
            yield from self.session.execute(stmt)

    def _by_ids(self, ids: Sequence[str], *columns: Any) -> Any:
        keys = func.unnest(_text_array(ids)).table_valued("id").render_derived(name="k")
        return select(Resource.id, *columns).select_from(
            keys.join(Resource, Resource.id == keys.c.id)
        )

    def id_in(self, column: Any, values: Sequence[str]) -> Any:
        """One array parameter."""
        return column == any_(_text_array(values))

    def upsert(
        self,
        rows: Sequence[ResourceRow],
        *,
        instance_id: uuid.UUID,
        integration_name: str,
        run_id: uuid.UUID | None,
        now: dt.datetime,
    ) -> None:
        """The upsert as one statement over arrays, a column each (``INSERT ... SELECT
        FROM unnest(...)``): PostgreSQL runs a statement per row of an executemany, a
        plan and an executor start each; measured on 200,000 rows, the arrays took 0.4x
        the time. (``rows`` hold each id once: ON CONFLICT may touch a row once.)"""
        if not rows:
            return
        conn = self.session.connection()
        sql, procs = _pg_upsert_sql(conn.dialect)
        params: dict[str, Any] = {
            "instance_id": instance_id,
            "run_id": run_id,
            "now": now,
            "integration_name": integration_name,
        }
        for key, proc in procs.items():
            if proc is not None and params[key] is not None:
                params[key] = proc(params[key])
        for name, column in zip(_WRITTEN, zip(*rows, strict=False), strict=False):
            params[name] = list(column)
        conn.exec_driver_sql(sql, params)

    def write_attributes(self, attrs: list[dict[str, Any]]) -> None:
        """The rows in one statement over arrays (see :meth:`upsert`); a row already
        there with the same value is left alone (a re-sync that renames resources
        rewrites none of their integration_data rows)."""
        params = {
            key: [a[key] for a in attrs] for key in ("owner_id", "path", "short", "value", "num")
        }
        conn = self.session.connection()
        conn.exec_driver_sql(_pg_attributes_sql(conn.dialect), params)

    def _drop_data_rows(
        self, ids: Sequence[str], paths: list[str], written: list[dict[str, Any]]
    ) -> None:
        """Delete only the rows of ``paths`` of ``ids`` that ``written`` does not
        overwrite (a path no longer in the resource's data), in one statement; the
        others are upserted, unchanged ones not written at all. Deleting every row and
        inserting it again cost a re-sync of 50,000 renamed resources a fifth of its
        time. (The rows kept are a hashed subplan; probing each declared path of each
        resource by key instead cost more: most of those rows do not exist.)"""
        keep = [(a["owner_id"], a["path"]) for a in written]
        params = {
            "ids": list(ids),
            "paths": paths,
            "keep_ids": [k[0] for k in keep],
            "keep_paths": [k[1] for k in keep],
        }
        self.session.connection().exec_driver_sql(_PG_DROP_STALE_SQL, params)

    @staticmethod
    def insert_for(table: Any) -> Any:
        """PostgreSQL's INSERT."""
        return postgresql.insert(table)

    @staticmethod
    def json_param(name: str) -> Any:
        """JSON text cast to JSONB."""
        return cast(bindparam(name, type_=Text), postgresql.JSONB)


def _document(json_text: str | None, value: Any) -> Any:
    """A record's config or integration_data as stored: ``value`` itself, or when the
    canonical JSON had NUL characters replaced (``\\ufffd``; rare), that JSON read back."""
    if json_text is not None and "\\ufffd" in json_text:
        return orjson.loads(json_text)
    return value


def _text_array(values: Sequence[str]) -> Any:
    return cast(
        bindparam("ids", list(values), type_=postgresql.ARRAY(Text)), postgresql.ARRAY(Text)
    )


def column_in(session: Session, column: Any, values: Sequence[str]) -> Any:
    """``column`` is one of ``values``, as fast as the session's database allows (one
    array parameter on PostgreSQL, a plain ``IN`` elsewhere)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(_text_array(values))
    return column.in_(values)


@lru_cache(maxsize=4)
def _known_select(dialect: Dialect) -> KeyedSelect:
    """The SELECT of :meth:`ResourceStore.known`, compiled once per dialect."""
    table = Resource.__table__
    return KeyedSelect(
        dialect, [table.c.id, table.c.content_hash, table.c.discovered], table.c.instance_id
    )


@lru_cache(maxsize=4)
def _attributes_sql(store: type[ResourceStore], dialect: Dialect) -> tuple[str, bool]:
    """The compiled INSERT of ``resource_attributes`` rows for ``dialect`` (overwriting a
    row already there) and whether its parameters are positional, in the order
    ``(owner_id, path, short, value, num)``."""
    table = ResourceAttribute.__table__
    stmt = store.insert_for(table).values(
        resource_id=bindparam("owner_id", type_=Text),
        path=bindparam("path", type_=Text),
        short=bindparam("short", type_=Text),
        value=bindparam("value", type_=Text),
        num=bindparam("num", type_=table.c.num.type),
    )
    excluded = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.resource_id, table.c.path],
        set_={"short": excluded["short"], "value": excluded["value"], "num": excluded["num"]},
    )
    compiled = stmt.compile(dialect=dialect)
    positions = tuple(compiled.positiontup) if compiled.positiontup else None
    if positions is not None:
        assert positions == ("owner_id", "path", "short", "value", "num"), positions
    return compiled.string, positions is not None


@lru_cache(maxsize=4)
def _upsert_sql(
    store: type[ResourceStore], dialect: Dialect
) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
    """The compiled upsert of ``store`` for ``dialect``: its SQL text, its positional
    parameter names (None for named styles) and the bind processors of the per-batch
    constants."""
    table = Resource.__table__
    now = bindparam("now", type_=UTCDateTime())
    stmt = store.insert_for(table).values(
        id=bindparam("id", type_=Text),
        instance_id=bindparam("instance_id"),
        integration_name=bindparam("integration_name", type_=Text),
        type=bindparam("type", type_=Text),
        config=store.json_param("config_json"),
        name=bindparam("name", type_=Text),
        integration_data=store.json_param("data_json"),
        content_hash=bindparam("content_hash", type_=Text),
        archived=false(),
        discovered=true(),
        last_seen_run_id=bindparam("run_id"),
        last_discovered_at=now,
        vanished_at=null(),
        created_at=now,
        updated_at=now,
    )
    compiled = _on_conflict(stmt, table).compile(dialect=dialect)
    positions = tuple(compiled.positiontup) if compiled.positiontup else None
    return compiled.string, positions, _constant_processors(dialect)


#: The columns the upsert writes, in :func:`_upsert_sql`'s order.
_UPSERTED = [
    "id",
    "instance_id",
    "integration_name",
    "type",
    "config",
    "name",
    "integration_data",
    "content_hash",
    "archived",
    "discovered",
    "last_seen_run_id",
    "last_discovered_at",
    "vanished_at",
    "created_at",
    "updated_at",
]


def _on_conflict(stmt: Any, table: Any) -> Any:
    """The upsert's conflict rule: a stored resource is overwritten (and rediscovered)
    only when its content hash differs."""
    excluded = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={
            "name": excluded["name"],
            "integration_data": excluded["integration_data"],
            "content_hash": excluded["content_hash"],
            "discovered": true(),
            "last_seen_run_id": excluded["last_seen_run_id"],
            "last_discovered_at": excluded["last_discovered_at"],
            "vanished_at": null(),
            "updated_at": excluded["updated_at"],
        },
        where=table.c.content_hash.is_distinct_from(excluded["content_hash"]),
    )


def _constant_processors(dialect: Dialect) -> dict[str, Any]:
    """The bind processors of the upsert's per-batch constants (applied once a batch)."""
    table = Resource.__table__
    return {
        "instance_id": table.c.instance_id.type.dialect_impl(dialect).bind_processor(dialect),
        "run_id": table.c.last_seen_run_id.type.dialect_impl(dialect).bind_processor(dialect),
        "now": UTCDateTime().dialect_impl(dialect).bind_processor(dialect),
        "integration_name": None,
    }


def _binary_arrays(sql: str) -> str:
    """``sql`` with its array parameters sent in binary (psycopg's ``%(name)b``): a
    text-format array is quoted element by element by a regular expression, in Python
    (3.7 s of a 50,000-resource sync's writes, measured)."""
    return re.sub(r"%\((\w+)\)s(::(?:TEXT|FLOAT)\[\])", r"%(\1)b\2", sql)


#: PostgreSQL: the data rows of changed resources that their new rows do not replace.
_PG_DROP_STALE_SQL = (
    "DELETE FROM resource_attributes AS a "
    "WHERE a.resource_id = ANY(%(ids)b::text[]) AND a.path = ANY(%(paths)b::text[]) "
    "AND (a.resource_id, a.path) NOT IN "  # (a hashed subplan; no NULLs here)
    "(SELECT * FROM unnest(%(keep_ids)b::text[], %(keep_paths)b::text[]))"
)


@lru_cache(maxsize=2)
def _pg_attributes_sql(dialect: Dialect) -> str:
    """PostgreSQL's INSERT of side-table rows from one array per column (overwriting a
    row already there, as :func:`_attributes_sql`), compiled."""
    table = cast_type(Table, ResourceAttribute.__table__)
    names = ("owner_id", "path", "short", "value")
    arrays = [bindparam(n, type_=ARRAY(Text)) for n in names]
    arrays.append(bindparam("num", type_=ARRAY(table.c.num.type)))
    u = func.unnest(*arrays).table_valued(*names, "num").render_derived(name="u")
    stmt = postgresql.insert(table).from_select(
        ["resource_id", "path", "short", "value", "num"],
        select(u.c.owner_id, u.c.path, u.c.short, u.c.value, u.c.num),
    )
    excluded = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.resource_id, table.c.path],
        set_={"short": excluded["short"], "value": excluded["value"], "num": excluded["num"]},
        where=or_(
            *(table.c[name].is_distinct_from(excluded[name]) for name in ("short", "value", "num"))
        ),
    )
    return _binary_arrays(str(stmt.compile(dialect=dialect)))


@lru_cache(maxsize=2)
def _pg_upsert_sql(dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """PostgreSQL's upsert of a batch from one text array per :data:`_WRITTEN` column
    (``INSERT ... SELECT FROM unnest(...)``, the row values and conflict rule of
    :func:`_upsert_sql`), compiled; and the bind processors of the per-batch constants."""
    table = cast_type(Table, Resource.__table__)
    arrays = [bindparam(name, type_=ARRAY(Text)) for name in _WRITTEN]
    u = func.unnest(*arrays).table_valued(*_WRITTEN).render_derived(name="u")
    now = bindparam("now", type_=UTCDateTime())
    rows = select(
        u.c.id,
        bindparam("instance_id", type_=table.c.instance_id.type),
        bindparam("integration_name", type_=Text),
        u.c.type,
        cast(u.c.config_json, JSONB),
        u.c.name,
        cast(u.c.data_json, JSONB),
        u.c.content_hash,
        false(),
        true(),
        bindparam("run_id", type_=table.c.last_seen_run_id.type),
        now,
        null(),
        now,
        now,
    )
    stmt = postgresql.insert(table).from_select(_UPSERTED, rows)
    compiled = _on_conflict(stmt, table).compile(dialect=dialect)
    return _binary_arrays(compiled.string), _constant_processors(dialect)


__all__ = [
    "CHUNK",
    "KnownResources",
    "PostgresStore",
    "ResourceRow",
    "ResourceStore",
    "SQLiteStore",
    "StoredState",
    "column_in",
]

"""Set-based bulk upsert of resources: the one write path of syncs and push integrations.

How "unchanged costs no write" works:

* Each record gets its id (``ids.resource_id``) and a content hash of name and
  integration_data. One SELECT per batch reads ``(id, content_hash, discovered)`` of
  the rows that already exist. Records whose hash matches a discovered row are counted
  as unchanged and not written at all (no ``updated_at``, no ``last_seen_run_id``).
* New and changed records are written with ONE ``INSERT ... ON CONFLICT (id) DO UPDATE
  ... WHERE content_hash IS DISTINCT FROM excluded["content_hash"]`` (executemany); the
  ON CONFLICT arm makes a concurrent insert of the same resource (a user initializing
  it while a sync runs) harmless.
* Rows that were marked not discovered and come back unchanged get one UPDATE
  (``discovered = true``) for the whole batch.

Marking "seen in this run" without writing every unchanged row: the caller keeps the
ids of a run in memory (``UpsertResult.ids``; 100,000 ids are a few MB) and, only after
a COMPLETE listing, calls :func:`mark_vanished` with that set. It reads the ids of the
instance's discovered resources (one column, streamed) and flips only the missing ones
to ``discovered = false``. A no-change re-sync therefore writes zero resource rows.
``last_seen_run_id`` and ``last_discovered_at`` are consequently set only when a run
writes the row (created, changed, or rediscovered): they mean "the run that last changed
or (re)discovered it", not "the last run that saw it".
"""

from __future__ import annotations

import datetime as dt
import operator
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Text, any_, bindparam, cast, false, func, null, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from service_catalog.core.db import KeyedSelect, UTCDateTime, utcnow
from service_catalog.integrations.connectors.base import ResourceRecord
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.resources.ids import (
    canonical_json_bytes,
    content_hash_from_bytes,
    id_prefix,
    resource_id_from_bytes,
    scrub_json_nul_bytes,
    scrub_nul,
)
from service_catalog.resources.models import Resource

# Bound parameters per statement stay well below SQLite's and PostgreSQL's limits.
_CHUNK = 500


@dataclass
class ResourceChange:
    """A resource a batch created or changed.

    ``before`` is the integration_data stored before this batch (None for a new
    resource or one initialized but never hydrated); ``record`` is what the upstream
    reported now. The sync engine passes both to ``Connector.diff_events``.
    """

    id: str
    before: dict[str, Any] | None
    record: ResourceRecord
    created: bool


@dataclass
class UpsertResult:
    """What one call to :func:`upsert_resources` did.

    ``ids`` holds the id of every distinct record in the batch (in first-seen order),
    for the caller's "seen in this run" set. ``rediscovered`` counts unchanged resources
    that had been marked not discovered and were flipped back; they are also counted in
    ``unchanged``. ``created + updated + unchanged == len(ids)``.
    """

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rediscovered: int = 0
    ids: list[str] = field(default_factory=list)
    changes: list[ResourceChange] = field(default_factory=list)


class KnownResources(dict[str, tuple[str | None, bool]]):
    """``id -> (content_hash, discovered)`` of an instance's stored resources, kept by a
    sync across its batches (see :func:`known_resources`).

    On SQLite it also holds ``rowid_mark``: the highest rowid of ``resources`` when it was
    last known complete. SQLite gives a new row a rowid above every existing one, so the
    rows inserted since are exactly those above the mark: a batch reads those (usually
    none) instead of looking its unknown ids up (a first sync's ids are all unknown).
    Should the highest rowid fall below the mark (rows deleted), the mark is dropped and
    batches look their ids up again.
    """

    rowid_mark: int | None = None
    instance_key: Any = None  # the instance id as SQLite stores it


Entry = tuple[ResourceRecord, str, str | None, str, str | None, str]


@dataclass
class PreparedBatch:
    """Records with their ids, canonical JSON and content hashes computed: what
    :func:`upsert_resources` needs beyond the database, made by :func:`prepare_records`.

    ``by_id`` maps each id to ``(record, type, name, config JSON, data JSON or None,
    content hash)``; duplicates are folded (the last wins). Pure computation: a batch whose resources
    turn out all known and unchanged (:meth:`settled`) needs no transaction at all.
    """

    instance_id: str
    by_id: dict[str, Entry]

    def settled(self, known: dict[str, tuple[str | None, bool]]) -> bool:
        """Whether every resource is in ``known``, discovered and unchanged: storing the
        batch would write nothing, so a sync need not open a transaction for it."""
        for rid, entry in self.by_id.items():
            state = known.get(rid)
            if state is None or not state[1] or state[0] != entry[5]:
                return False
        return True

    def __len__(self) -> int:
        return len(self.by_id)


def prepare_records(instance_id: uuid.UUID | str, records: Sequence[ResourceRecord]
                    ) -> PreparedBatch:
    """Compute the ids, canonical JSON and content hashes of ``records`` for the
    resources of the instance ``instance_id``. A NUL character (which PostgreSQL cannot
    store) becomes U+FFFD; NaN or Infinity is a ValueError.

    The same values as :func:`~service_catalog.resources.ids.resource_id` and
    :func:`~service_catalog.resources.ids.content_hash`, from the canonical JSON as bytes
    (encoded once, hashed as is, decoded to text once).
    """
    iid = str(uuid.UUID(str(instance_id)))
    prefixes: dict[str, bytes] = {}
    by_id: dict[str, Entry] = {}
    for rec in records:
        rtype, name, data = rec.type, rec.name, rec.integration_data
        try:
            config_json = canonical_json_bytes(rec.config)
            data_json = canonical_json_bytes(data)
            name_json = canonical_json_bytes(name)
        except ValueError:
            raise ValueError(f"resource {rec.type} {rec.config!r} carries a value JSON cannot "
                             f"hold (NaN, Infinity or a lone surrogate)") from None
        # NUL cannot be stored by PostgreSQL: it becomes U+FFFD, the same on every database.
        if b"\\u0000" in config_json:
            config_json = scrub_json_nul_bytes(config_json)
        if b"\\u0000" in data_json:
            data_json = scrub_json_nul_bytes(data_json)
        if "\x00" in rtype:
            rtype = scrub_nul(rtype)
        if name is not None and "\x00" in name:
            name = scrub_nul(name)
            name_json = canonical_json_bytes(name)
        prefix = prefixes.get(rtype)
        if prefix is None:
            prefix = prefixes[rtype] = id_prefix(iid, rtype)
        by_id[resource_id_from_bytes(prefix, config_json)] = (
            rec, rtype, name, config_json.decode(),
            None if data is None else data_json.decode(),
            content_hash_from_bytes(name_json, data_json))
    return PreparedBatch(iid, by_id)


def upsert_resources(
    session: Session,
    *,
    instance: IntegrationInstance,
    records: Sequence[ResourceRecord] | PreparedBatch,
    run_id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
    known: dict[str, tuple[str | None, bool]] | None = None,
    changes: bool = True,
) -> UpsertResult:
    """Create or update the resources of ``instance`` described by ``records`` (or by a
    batch :func:`prepare_records` made of them).

    Set-based: one SELECT for the batch, one INSERT ... ON CONFLICT for new and changed
    rows, one UPDATE for rediscovered ones; an unchanged resource costs no write.
    Duplicate records (same id) in a batch: the last one wins. Archived resources are
    updated too (they stay archived); mappings are never touched. Resources initialized
    without name and integration_data count as updated when first hydrated. Runs in the
    caller's transaction (flushes, does not commit). Batches of up to ~1000 records.
    A NUL character in a record (which PostgreSQL cannot store) becomes U+FFFD; NaN or
    Infinity is a ValueError.

    ``known`` (from :func:`known_resources`, kept by a sync across its batches) holds the
    ``(content_hash, discovered)`` of the instance's resources: ids found there need no
    SELECT, and it is updated with what this batch writes. ``changes=False`` leaves
    ``UpsertResult.changes`` empty (a sync whose connector derives no events).
    """
    now = now or utcnow()
    result = UpsertResult()
    if not records:
        return result
    if isinstance(records, PreparedBatch):
        if records.instance_id != str(uuid.UUID(str(instance.id))):
            raise ValueError("the batch was prepared for another instance")
        by_id = records.by_id
    else:
        by_id = prepare_records(instance.id, records).by_id
    ids = list(by_id)
    result.ids = ids

    # On SQLite, first the instance's resources other writers inserted since the last
    # batch: then every stored one is known, and an id still missing is a new resource.
    complete = isinstance(known, KnownResources) and known.rowid_mark is not None \
        and session.get_bind().dialect.name == "sqlite" and _catch_up(session, known)
    existing: dict[str, tuple[str | None, bool]] = {}
    unknown = ids
    if known is not None:
        unknown = []
        for rid in ids:
            state = known.get(rid)
            if state is None:
                unknown.append(rid)
            else:
                existing[rid] = state
    if complete:
        unknown = []
    if unknown:
        for rid, chash, discovered in _lookup(session, unknown):
            existing[rid] = (chash, bool(discovered))

    to_write: list[str] = []
    rediscover: list[str] = []
    for rid, entry in by_id.items():
        old = existing.get(rid)
        if old is None or old[0] != entry[5]:
            to_write.append(rid)
        elif not old[1]:
            rediscover.append(rid)
        else:
            result.unchanged += 1
    result.unchanged += len(rediscover)
    result.rediscovered = len(rediscover)

    if to_write:
        updated = [rid for rid in to_write if rid in existing]
        # The stored integration_data of changed rows, read (before writing) only for
        # those: it may be big.
        before: dict[str, dict[str, Any] | None] = {}
        for start in range(0, len(updated) if changes else 0, _CHUNK):
            chunk = updated[start:start + _CHUNK]
            for rid, data in session.execute(_by_ids(session, chunk, Resource.integration_data)):
                before[rid] = data
        _write_rows(session, by_id, to_write, instance=instance, run_id=run_id, now=now)
        result.updated = len(updated)
        result.created = len(to_write) - len(updated)
        if changes:
            result.changes = [ResourceChange(id=rid, before=before.get(rid),
                                             record=by_id[rid][0], created=rid not in existing)
                              for rid in to_write]

    for start in range(0, len(rediscover), _CHUNK):
        session.execute(
            update(Resource)
            .where(column_in(session, Resource.id, rediscover[start:start + _CHUNK]))
            .values(discovered=True, vanished_at=None, last_discovered_at=now,
                    last_seen_run_id=run_id, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    if known is not None:
        known.update((rid, (by_id[rid][5], True)) for rid in (*to_write, *rediscover))
    if complete and to_write and isinstance(known, KnownResources):
        known.rowid_mark = _max_rowid(session)  # our rows: known already
    if (to_write or rediscover) and session.identity_map:
        # Objects of these rows already loaded in this session must not show stale data.
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Resource) and obj.id in by_id:
                session.expire(obj)
    return result


def known_resources(session: Session, instance_id: uuid.UUID) -> KnownResources:
    """``id -> (content_hash, discovered)`` of every resource of the instance: one scan
    by the instance index, which a sync reads once instead of looking its records up
    batch by batch (a fifth of the time on an unchanged re-sync). Read through the
    driver with a statement compiled once: 100,000 rows through SQLAlchemy's result
    machinery cost a few tenths of a second more. On SQLite, with the rowid mark of the
    same snapshot (see :class:`KnownResources`)."""
    conn = session.connection()
    plan = _known_select(conn.dialect)
    rows = conn.exec_driver_sql(plan.sql, plan.params(instance_id)).cursor.fetchall()
    known = KnownResources((rid, (chash, bool(discovered))) for rid, chash, discovered in rows)
    if conn.dialect.name == "sqlite":
        known.rowid_mark, known.instance_key = _max_rowid(session), plan.bound(instance_id)
    return known


@lru_cache(maxsize=4)
def _known_select(dialect: Dialect) -> KeyedSelect:
    """The SELECT of :func:`known_resources`, compiled once per dialect."""
    return KeyedSelect(dialect, [Resource.__table__.c.id, Resource.__table__.c.content_hash,
                                 Resource.__table__.c.discovered],
                       Resource.__table__.c.instance_id)


def _catch_up(session: Session, known: KnownResources) -> bool:
    """Add the instance's resources inserted since ``known.rowid_mark`` to ``known``;
    False (and the mark dropped) when that cannot be told."""
    current = _max_rowid(session)
    mark = known.rowid_mark
    if mark is None or current < mark:
        known.rowid_mark = None
        return False
    if current > mark:
        rows = session.connection().exec_driver_sql(
            "SELECT id, content_hash, discovered FROM resources "
            "WHERE rowid > ? AND instance_id = ?", (mark, known.instance_key))
        for rid, chash, discovered in rows.cursor.fetchall():
            known[rid] = (chash, bool(discovered))
        known.rowid_mark = current
    return True


def _max_rowid(session: Session) -> int:
    """The highest rowid of ``resources`` (0 when empty): one step down the table's
    b-tree."""
    found = session.connection().exec_driver_sql("SELECT max(rowid) FROM resources").scalar()
    return int(found or 0)


def _by_ids(session: Session, ids: list[str], *columns: Any) -> Any:
    """SELECT id and ``columns`` of the resources whose id is in ``ids``, by primary key.

    On PostgreSQL a long ``IN (...)`` of separate parameters is searched linearly per
    row, and a freshly filled table has no statistics, so the planner may scan the whole
    table for every batch (quadratic over a first sync). Joining ``unnest(array)`` makes
    it a nested loop over the primary key whatever the statistics say.
    """
    if session.get_bind().dialect.name == "postgresql":
        keys = func.unnest(cast(bindparam("ids", ids, type_=postgresql.ARRAY(Text)),
                                postgresql.ARRAY(Text))).table_valued("id").render_derived(name="k")
        return (select(Resource.id, *columns)
                .select_from(keys.join(Resource, Resource.id == keys.c.id)))
    return select(Resource.id, *columns).where(Resource.id.in_(ids))


def _lookup(session: Session, ids: list[str]) -> Any:
    """``(id, content_hash, discovered)`` of the resources among ``ids`` that exist.

    On SQLite the ids go as one JSON array that ``json_each`` walks, each looked up by
    primary key (CROSS JOIN keeps that order): one parameter however long the batch,
    where an ``IN`` list costs a bound parameter (and its SQL) per id.
    """
    if session.get_bind().dialect.name == "sqlite":
        return session.connection().exec_driver_sql(
            "SELECT r.id, r.content_hash, r.discovered FROM json_each(?) AS j "
            "CROSS JOIN resources AS r ON r.id = j.value", (orjson.dumps(ids).decode(),))
    return (row for start in range(0, len(ids), _CHUNK)
            for row in session.execute(_by_ids(session, ids[start:start + _CHUNK],
                                               Resource.content_hash, Resource.discovered)))


def column_in(session: Session, column: Any, values: list[str]) -> Any:
    """``column`` is one of ``values``: one array parameter on PostgreSQL (searched by
    index or hash, where an ``IN`` of many separate parameters is searched linearly per
    row), a plain ``IN`` elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(cast(bindparam("ids", values, type_=postgresql.ARRAY(Text)),
                                   postgresql.ARRAY(Text)))
    return column.in_(values)


_ROW_KEYS = ("id", "type", "name", "config_json", "data_json", "content_hash")


@lru_cache(maxsize=4)
def _upsert_sql(dialect: Dialect) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
    """The compiled ``INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE the content hash
    differs`` for ``dialect``: its SQL text, its positional parameter names (None for
    named styles) and the bind processors of the per-batch constants."""
    table = Resource.__table__
    if dialect.name == "postgresql":
        insert: Any = postgresql.insert

        def as_json(name: str) -> Any:
            return cast(bindparam(name, type_=Text), postgresql.JSONB)
    elif dialect.name == "sqlite":
        insert = sqlite.insert

        def as_json(name: str) -> Any:
            return bindparam(name, type_=Text)  # SQLite stores JSON as text
    else:
        raise RuntimeError(f"unsupported database dialect {dialect.name!r}")
    now = bindparam("now", type_=UTCDateTime())
    stmt = insert(table).values(
        id=bindparam("id", type_=Text), instance_id=bindparam("instance_id"),
        integration_name=bindparam("integration_name", type_=Text),
        type=bindparam("type", type_=Text), config=as_json("config_json"),
        name=bindparam("name", type_=Text), integration_data=as_json("data_json"),
        content_hash=bindparam("content_hash", type_=Text), archived=false(),
        discovered=true(), last_seen_run_id=bindparam("run_id"),
        last_discovered_at=now, vanished_at=null(), created_at=now, updated_at=now,
    )
    excluded = stmt.excluded
    stmt = stmt.on_conflict_do_update(
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
    compiled = stmt.compile(dialect=dialect)
    positions = tuple(compiled.positiontup) if compiled.positiontup else None
    processors = {
        "instance_id": table.c.instance_id.type.dialect_impl(dialect).bind_processor(dialect),
        "run_id": table.c.last_seen_run_id.type.dialect_impl(dialect).bind_processor(dialect),
        "now": UTCDateTime().dialect_impl(dialect).bind_processor(dialect),
        "integration_name": None,
    }
    return compiled.string, positions, processors


def _write_rows(session: Session, by_id: dict[str, Entry], ids: list[str], *,
                instance: IntegrationInstance, run_id: uuid.UUID | None,
                now: dt.datetime) -> None:
    """Upsert the resources ``ids`` of a prepared batch's ``by_id`` with one executemany
    of the compiled statement.

    The statement is compiled once per dialect and the per-batch constants (instance,
    run, time) go through their type's bind processor once per batch, not once per row;
    each row's parameters are picked in the statement's order by one ``itemgetter``: the
    write path of a 100,000-resource sync is dominated by the database, not by
    parameter processing.
    """
    conn = session.connection()
    sql, positions, procs = _upsert_sql(conn.dialect)
    consts: dict[str, Any] = {
        "instance_id": uuid.UUID(str(instance.id)), "run_id": run_id, "now": now,
        "integration_name": instance.integration_name,
    }
    for key, proc in procs.items():
        if proc is not None and consts[key] is not None:
            consts[key] = proc(consts[key])
    rows = [(rid, *by_id[rid][1:]) for rid in ids]
    if positions is not None:
        names = (*_ROW_KEYS, *consts)
        pick = operator.itemgetter(*(names.index(name) for name in positions))
        tail = tuple(consts.values())
        params: list[Any] = [pick(row + tail) for row in rows]
    else:
        params = [{**consts, **dict(zip(_ROW_KEYS, row, strict=True))} for row in rows]
    conn.exec_driver_sql(sql, params)


def mark_vanished(
    session: Session,
    *,
    instance: IntegrationInstance,
    seen_ids: Collection[str],
    now: dt.datetime | None = None,
) -> int:
    """After a COMPLETE listing, mark the instance's discovered resources whose id is not
    in ``seen_ids`` as not discovered (``discovered = false``, ``vanished_at = now``).

    Returns how many were marked. Resources stay, and so do their mappings. Call it only
    when the listing finished without error; a partial sync must not call it. Reads one
    column of the instance's discovered resources (streamed) and writes only the rows
    that vanished.
    """
    now = now or utcnow()
    seen = seen_ids if isinstance(seen_ids, set | frozenset) else set(seen_ids)
    gone: list[str] = []
    rows = session.execute(
        select(Resource.id)
        .where(Resource.instance_id == instance.id, Resource.discovered.is_(True))
        .execution_options(yield_per=5000)
    )
    for (rid,) in rows:
        if rid not in seen:
            gone.append(rid)
    for start in range(0, len(gone), _CHUNK):
        session.execute(
            update(Resource)
            .where(column_in(session, Resource.id, gone[start:start + _CHUNK]))
            .values(discovered=False, vanished_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    if gone:
        gone_set = set(gone)
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Resource) and obj.id in gone_set:
                session.expire(obj)
    return len(gone)


__all__ = ["KnownResources", "ResourceChange", "UpsertResult", "column_in", "mark_vanished", "upsert_resources"]

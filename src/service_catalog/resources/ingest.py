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
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service_catalog.core.db import utcnow
from service_catalog.integrations.connectors.base import ResourceRecord
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.resources.ids import content_hash, resource_id
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


def _insert_for(session: Session) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"unsupported database dialect {name!r}")


def upsert_resources(
    session: Session,
    *,
    instance: IntegrationInstance,
    records: Sequence[ResourceRecord],
    run_id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> UpsertResult:
    """Create or update the resources of ``instance`` described by ``records``.

    Set-based: one SELECT for the batch, one INSERT ... ON CONFLICT for new and changed
    rows, one UPDATE for rediscovered ones; an unchanged resource costs no write.
    Duplicate records (same id) in a batch: the last one wins. Archived resources are
    updated too (they stay archived); mappings are never touched. Resources initialized
    without name and integration_data count as updated when first hydrated. Runs in the
    caller's transaction (flushes, does not commit). Batches of up to ~1000 records.
    """
    now = now or utcnow()
    result = UpsertResult()
    if not records:
        return result
    by_id: dict[str, tuple[ResourceRecord, str]] = {}
    for rec in records:
        rid = resource_id(instance.id, rec.type, rec.config)
        by_id[rid] = (rec, content_hash(rec.name, rec.integration_data))
    ids = list(by_id)
    result.ids = ids

    existing: dict[str, tuple[str | None, bool]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        rows = session.execute(
            select(Resource.id, Resource.content_hash, Resource.discovered)
            .where(Resource.id.in_(chunk))
        )
        for rid, chash, discovered in rows:
            existing[rid] = (chash, bool(discovered))

    to_write: list[str] = []
    rediscover: list[str] = []
    for rid in ids:
        _rec, chash = by_id[rid]
        old = existing.get(rid)
        if old is None or old[0] != chash:
            to_write.append(rid)
        elif not old[1]:
            rediscover.append(rid)
            result.unchanged += 1
            result.rediscovered += 1
        else:
            result.unchanged += 1

    # The stored integration_data of changed rows, read only for those (it may be big).
    before: dict[str, dict[str, Any] | None] = {}
    changed_ids = [rid for rid in to_write if rid in existing]
    for start in range(0, len(changed_ids), _CHUNK):
        chunk = changed_ids[start:start + _CHUNK]
        for rid, data in session.execute(
            select(Resource.id, Resource.integration_data).where(Resource.id.in_(chunk))
        ):
            before[rid] = data

    if to_write:
        insert = _insert_for(session)
        rows_out = []
        for rid in to_write:
            rec, chash = by_id[rid]
            rows_out.append({
                "id": rid,
                "instance_id": instance.id,
                "integration_name": instance.integration_name,
                "type": rec.type,
                "config": rec.config,
                "name": rec.name,
                "integration_data": rec.integration_data,
                "content_hash": chash,
                "archived": False,
                "discovered": True,
                "last_seen_run_id": run_id,
                "last_discovered_at": now,
                "vanished_at": None,
                "created_at": now,
                "updated_at": now,
            })
        stmt = insert(Resource)
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=[Resource.id],
            set_={
                "name": excluded["name"],
                "integration_data": excluded["integration_data"],
                "content_hash": excluded["content_hash"],
                "discovered": True,
                "last_seen_run_id": excluded["last_seen_run_id"],
                "last_discovered_at": excluded["last_discovered_at"],
                "vanished_at": None,
                "updated_at": excluded["updated_at"],
            },
            where=Resource.content_hash.is_distinct_from(excluded["content_hash"]),
        )
        for start in range(0, len(rows_out), _CHUNK):
            session.execute(stmt, rows_out[start:start + _CHUNK])
        for rid in to_write:
            rec, _ = by_id[rid]
            created = rid not in existing
            if created:
                result.created += 1
            else:
                result.updated += 1
            result.changes.append(ResourceChange(id=rid, before=before.get(rid), record=rec,
                                                 created=created))

    for start in range(0, len(rediscover), _CHUNK):
        session.execute(
            update(Resource)
            .where(Resource.id.in_(rediscover[start:start + _CHUNK]))
            .values(discovered=True, vanished_at=None, last_discovered_at=now,
                    last_seen_run_id=run_id, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    if to_write or rediscover:
        # Objects of these rows already loaded in this session must not show stale data.
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Resource) and obj.id in by_id:
                session.expire(obj)
    return result


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
            .where(Resource.id.in_(gone[start:start + _CHUNK]))
            .values(discovered=False, vanished_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    if gone:
        gone_set = set(gone)
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Resource) and obj.id in gone_set:
                session.expire(obj)
    return len(gone)


__all__ = ["ResourceChange", "UpsertResult", "mark_vanished", "upsert_resources"]

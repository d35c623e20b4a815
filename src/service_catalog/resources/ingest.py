"""Set-based bulk upsert of resources: the one write path of syncs and push integrations.

When a record costs no write ("unchanged"): its resource exists, is discovered, and its
stored content hash (of name and integration_data) equals the record's. That is the only
rule, and the stored ``(content_hash, discovered)`` of a resource (a
:class:`~service_catalog.resources.store.StoredState`) is the only thing it reads. Where
those states come from:

* a push (and any caller without ``known``) looks the batch's ids up, one SELECT;
* a sync reads its instance's states once (:func:`known_resources`, a
  :class:`~service_catalog.resources.store.KnownResources`) and keeps them current with
  what it writes; ids it does not hold are looked up (on SQLite the rowid mark tells
  instead which rows other writers inserted meanwhile, so a first sync looks nothing up).

Two shortcuts apply the same rule to a whole batch, reading the same states:
:meth:`PreparedBatch.settled` (nothing to write, so no transaction is opened) and the
sync's page digests (``sync.pages``: an upstream page met again whose resources are stored
as the last complete sync left them is not even prepared). The digests are what keeps a
no-change re-sync within its target (``bench/bench_sync.py``): without them every record
is hashed again, which is most of such a sync's work.

New and changed records are written with ONE ``INSERT ... ON CONFLICT (id) DO UPDATE ...
WHERE content_hash IS DISTINCT FROM excluded.content_hash`` (executemany); the ON CONFLICT
arm makes a concurrent insert of the same resource (a user initializing it while a sync
runs) harmless. Unchanged rows that had been marked not discovered get one UPDATE
(``discovered = true``) for the whole batch. The SQL of each database lives in
:mod:`~service_catalog.resources.store`.

Marking "seen in this run" without writing every unchanged row: the caller keeps the
ids of a run in memory (``UpsertResult.ids``) and, only after a COMPLETE listing, calls
:func:`mark_vanished` with that set. It reads the ids of the instance's discovered
resources (one column, streamed) and flips only the missing ones to
``discovered = false``. A no-change re-sync therefore writes zero resource rows.
``last_seen_run_id`` and ``last_discovered_at`` are consequently set only when a run
writes the row (created, changed, or rediscovered): they mean "the run that last changed
or (re)discovered it", not "the last run that saw it".
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service_catalog.core.db import utcnow
from service_catalog.integrations.connectors.base import ResourceRecord
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.resources.dataindex import data_paths
from service_catalog.resources.ids import (
    canonical_json_bytes,
    content_hash_from_bytes,
    id_prefix,
    resource_id_from_bytes,
    scrub_json_nul_bytes,
    scrub_nul,
)
from service_catalog.resources.models import Resource
from service_catalog.resources.store import (
    KnownResources,
    ResourceRow,
    ResourceStore,
    StoredState,
)


def unchanged(state: StoredState | None, content_hash: str) -> bool:
    """Whether a record with ``content_hash`` costs no write against the stored ``state``
    (None: not stored): the rule every "unchanged" decision of the ingest path applies."""
    return state is not None and state.discovered and state.content_hash == content_hash


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


@dataclass
class PreparedBatch:
    """Records with their ids, canonical JSON and content hashes computed: what
    :func:`upsert_resources` needs beyond the database, made by :func:`prepare_records`.

    ``by_id`` maps each id to its :class:`~service_catalog.resources.store.ResourceRow`;
    duplicates are folded (the last wins). Pure computation: a batch whose resources
    turn out all known and unchanged (:meth:`settled`) needs no transaction at all.
    """

    instance_id: str
    by_id: dict[str, ResourceRow]

    def settled(self, known: Mapping[str, StoredState]) -> bool:
        """Whether every resource is unchanged against ``known``: storing the batch would
        write nothing, so a sync need not open a transaction for it."""
        return all(unchanged(known.get(rid), row.content_hash) for rid, row in self.by_id.items())

    def __len__(self) -> int:
        return len(self.by_id)


def prepare_records(
    instance_id: uuid.UUID | str, records: Sequence[ResourceRecord]
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
    by_id: dict[str, ResourceRow] = {}
    for rec in records:
        rtype, name, config_json, data_json, name_json = _canonical(rec)
        prefix = prefixes.get(rtype)
        if prefix is None:
            prefix = prefixes[rtype] = id_prefix(iid, rtype)
        rid = resource_id_from_bytes(prefix, config_json)
        by_id[rid] = ResourceRow(
            rid,
            rtype,
            name,
            config_json.decode(),
            None if rec.integration_data is None else data_json.decode(),
            content_hash_from_bytes(name_json, data_json),
            rec,
        )
    return PreparedBatch(iid, by_id)


def _canonical(rec: ResourceRecord) -> tuple[str, str | None, bytes, bytes, bytes]:
    """``(type, name, config JSON, data JSON, name JSON)`` of a record, canonical and with
    NUL (which PostgreSQL cannot store) replaced by U+FFFD, the same on every database."""
    rtype, name = rec.type, rec.name
    try:
        config_json = canonical_json_bytes(rec.config)
        data_json = canonical_json_bytes(rec.integration_data)
        name_json = canonical_json_bytes(name)
    except ValueError:
        raise ValueError(
            f"resource {rec.type} {rec.config!r} carries a value JSON cannot "
            f"hold (NaN, Infinity or a lone surrogate)"
        ) from None
    if b"\\u0000" in config_json:
        config_json = scrub_json_nul_bytes(config_json)
    if b"\\u0000" in data_json:
        data_json = scrub_json_nul_bytes(data_json)
    if "\x00" in rtype:
        rtype = scrub_nul(rtype)
    if name is not None and "\x00" in name:
        name = scrub_nul(name)
        name_json = canonical_json_bytes(name)
    return rtype, name, config_json, data_json, name_json


@dataclass
class _Plan:
    """What a batch needs: rows to write (new or changed), unchanged rows to flip back to
    discovered, and how many are unchanged and discovered already."""

    write: list[str] = field(default_factory=list)
    rediscover: list[str] = field(default_factory=list)
    unchanged: int = 0

    @classmethod
    def of(cls, by_id: dict[str, ResourceRow], stored: Mapping[str, StoredState]) -> _Plan:
        """The plan of a batch against the stored states of its resources."""
        plan = cls()
        for rid, row in by_id.items():
            state = stored.get(rid)
            if unchanged(state, row.content_hash):
                plan.unchanged += 1
            elif state is None or state.content_hash != row.content_hash:
                plan.write.append(rid)
            else:
                plan.rediscover.append(rid)
        return plan


def upsert_resources(
    session: Session,
    *,
    instance: IntegrationInstance,
    records: Sequence[ResourceRecord] | PreparedBatch,
    run_id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
    known: KnownResources | None = None,
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
    stored states of the instance's resources: ids found there need no SELECT, and it is
    updated with what this batch writes. ``changes=False`` leaves
    ``UpsertResult.changes`` empty (a sync whose connector derives no events).
    """
    now = now or utcnow()
    if not records:
        return UpsertResult()
    by_id = _rows_of(instance, records)
    ids = list(by_id)
    store = ResourceStore.of(session)
    stored = _stored_states(store, ids, known)
    plan = _Plan.of(by_id, stored)
    result = UpsertResult(
        ids=ids, unchanged=plan.unchanged + len(plan.rediscover), rediscovered=len(plan.rediscover)
    )
    if plan.write:
        _write(
            store,
            by_id,
            plan.write,
            stored,
            result,
            instance=instance,
            run_id=run_id,
            now=now,
            changes=changes,
        )
    store.update_ids(
        plan.rediscover,
        discovered=True,
        vanished_at=None,
        last_discovered_at=now,
        last_seen_run_id=run_id,
        updated_at=now,
    )
    if known is not None:
        known.update(
            (rid, StoredState(by_id[rid].content_hash, True))
            for rid in (*plan.write, *plan.rediscover)
        )
        if plan.write:
            store.note_written(known)
    if plan.write or plan.rediscover:
        _expire_loaded(session, by_id)
    return result


def _rows_of(
    instance: IntegrationInstance, records: Sequence[ResourceRecord] | PreparedBatch
) -> dict[str, ResourceRow]:
    if isinstance(records, PreparedBatch):
        if records.instance_id != str(uuid.UUID(str(instance.id))):
            raise ValueError("the batch was prepared for another instance")
        return records.by_id
    return prepare_records(instance.id, records).by_id


def _stored_states(
    store: ResourceStore, ids: list[str], known: KnownResources | None
) -> dict[str, StoredState]:
    """The stored states of the resources among ``ids`` that exist: from ``known`` where
    it holds them (brought up to date first), looked up otherwise."""
    stored: dict[str, StoredState] = {}
    unknown = ids
    if known is not None:
        complete = store.refresh(known)
        unknown = []
        for rid in ids:
            state = known.get(rid)
            if state is not None:
                stored[rid] = state
            elif not complete:
                unknown.append(rid)
    if unknown:
        for rid, chash, discovered in store.states(unknown):
            stored[rid] = StoredState(chash, bool(discovered))
    return stored


def _write(
    store: ResourceStore,
    by_id: dict[str, ResourceRow],
    ids: list[str],
    stored: Mapping[str, StoredState],
    result: UpsertResult,
    *,
    instance: IntegrationInstance,
    run_id: uuid.UUID | None,
    now: dt.datetime,
    changes: bool,
) -> None:
    """Upsert the new and changed rows ``ids``, counting them into ``result`` and, when
    ``changes``, recording each with the integration_data it replaced (read before the
    write, only for changed rows: it may be big)."""
    updated = [rid for rid in ids if rid in stored]
    before = dict(store.stored_data(updated)) if changes and updated else {}
    rows = [by_id[rid] for rid in ids]
    store.upsert(
        rows,
        instance_id=uuid.UUID(str(instance.id)),
        integration_name=instance.integration_name,
        run_id=run_id,
        now=now,
    )
    # The side table that indexes config and integration_data, in the same transaction.
    store.index(rows, created={rid for rid in ids if rid not in stored}, data_paths=data_paths())
    result.updated = len(updated)
    result.created = len(ids) - len(updated)
    if changes:
        result.changes = [
            ResourceChange(
                id=rid, before=before.get(rid), record=by_id[rid].record, created=rid not in stored
            )
            for rid in ids
        ]


def _expire_loaded(session: Session, ids: Collection[str]) -> None:
    """Objects of these rows already loaded in this session must not show stale data."""
    if not session.identity_map:
        return
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Resource) and obj.id in ids:
            session.expire(obj)


def known_resources(session: Session, instance_id: uuid.UUID) -> KnownResources:
    """The stored state of every resource of the instance, which a sync reads once (one
    scan by the instance index) instead of looking its records up batch by batch."""
    return ResourceStore.of(session).known(instance_id)


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
    rows = session.execute(
        select(Resource.id)
        .where(Resource.instance_id == instance.id, Resource.discovered.is_(True))
        .execution_options(yield_per=5000)
    )
    gone = [rid for (rid,) in rows if rid not in seen]
    ResourceStore.of(session).update_ids(gone, discovered=False, vanished_at=now, updated_at=now)
    if gone:
        _expire_loaded(session, set(gone))
    return len(gone)


__all__ = [
    "KnownResources",
    "PreparedBatch",
    "ResourceChange",
    "StoredState",
    "UpsertResult",
    "known_resources",
    "mark_vanished",
    "prepare_records",
    "unchanged",
    "upsert_resources",
]

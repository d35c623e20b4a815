"""One sync run of one integration instance: stream the connector's pages into storage.

The engine knows only the connector contract (``integrations/connectors/base.py``):

* it builds the instance's connector from the registry with its decrypted credential;
* it streams ``discover()`` batches (fetched one page ahead in a helper thread, so the
  upstream and the database work at the same time), upserts each batch set-based and
  hash-gated (``resources.ingest.upsert_resources``: an unchanged resource costs no
  write), and stores the integration events ``diff_events()`` derives for changed
  resources against the catalog services mapped to them;
* only when ``discover()`` ends normally does it mark what the upstream no longer lists
  as not discovered (``mark_vanished``). A :class:`ConnectorError` part-way marks
  nothing; the batches already stored stay (they are current);
* then, when the connector declares ``polls_events``, it asks ``poll_events()`` for the
  upstream's events since the last complete poll (``SyncState.events_polled_at``, less
  :data:`POLL_OVERLAP`) and records them, a bounded batch at a time as they are listed,
  as integration events of the resources they concern (deduplicated, so the overlap
  stores nothing twice); only a complete poll moves the mark.

How a failure changes the schedule is decided here and recorded by
``sync.service.finish_run``: ``auth`` taints the credential, unauthorizes the instance and
halts the schedule; every other kind delays the next run with a backoff.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service_catalog.core.ahead import read_ahead
from service_catalog.core.db import Database, utcnow
from service_catalog.events.service import ResourceEvents, record_resources_events
from service_catalog.integrations.connections import build_connector
from service_catalog.integrations.connectors.base import (
    Connector,
    ConnectorError,
    EventRecord,
    PolledEvent,
)
from service_catalog.integrations.credentials import scrub, taint_credential
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.resources.ids import resource_id
from service_catalog.resources.ingest import (
    KnownResources,
    PreparedBatch,
    ResourceChange,
    known_resources,
    mark_vanished,
    prepare_records,
    upsert_resources,
)
from service_catalog.resources.models import Resource, ResourceMapping
from service_catalog.settings import Settings
from service_catalog.sync.gc import fewer_gc_passes
from service_catalog.sync.models import SyncState
from service_catalog.sync.pages import PageMemo
from service_catalog.sync.service import Counts, Outcome
from service_catalog.sync.states import load_state, save_state

T = TypeVar("T")

log = logging.getLogger("service_catalog.sync")

#: Default remediation per error kind when the connector gave none.
REMEDIATION = {
    "rate_limited": "The upstream is rate limiting the catalog; the next sync waits and retries.",
    "upstream": "The upstream answered with an error; the next sync retries. If this persists, "
    "check the upstream's health.",
    "timeout": "The upstream did not answer in time; the next sync retries. If this persists, "
    "check the upstream's health and load.",
    "unreachable": "The catalog cannot reach the upstream; check the instance's base URL and "
    "the network. The next sync retries.",
    "malformed": "The upstream sent data the integration cannot read; check that the instance "
    "points at the right API. Nothing was lost; the next sync retries.",
    "config": "Fix the integration instance's config; the next sync retries.",
    "auth": "The upstream rejected the credential. Replace the instance's auth credential "
    "(DELETE then POST /v1/integration-instances/{id}/auth-credential), or, if the "
    "rejection was temporary, verify it again (POST /v1/integration-instances/{id}"
    "/auth-credential/verify); syncing resumes once the upstream accepts it.",
}


class LeaseLost(Exception):
    """Another worker took this instance's lease over; the run stops where it is."""


class Stopped(Exception):
    """The worker is shutting down; the run stops where it is and runs again soon."""


@dataclass(kw_only=True)
class Progress(Counts):
    """Counters of a run in progress, handed to the progress callback after each page."""

    resources: int = 0
    started: float = 0.0

    @property
    def rate(self) -> float:
        """Resources per second so far."""
        elapsed = time.monotonic() - self.started
        return self.resources / elapsed if elapsed > 0 else 0.0


ProgressFn = Callable[[Progress], None]


#: Seconds the storing thread waits for the next batch before it calls ``before_wait``
#: (commits): a batch a moment away (the connector shaping it) costs no extra commit,
#: while a slow upstream still never keeps the write lock held longer than this.
WAIT_GRACE = 0.05


def _prefetch(
    batches: Iterator[T], depth: int = 2, before_wait: Callable[[], None] | None = None
) -> Iterator[T]:
    """Iterate ``batches`` in a helper thread, ``depth`` pages ahead; errors re-raise here.
    ``before_wait`` is called whenever the next batch is not ready within
    :data:`WAIT_GRACE` (a sync commits then, so a slow upstream never keeps the write lock
    held).

    When the consumer stops early, the helper stops at its next page; the consumer waits
    for it a few seconds at most (a request in flight may take up to its timeout).
    """
    return read_ahead(
        batches, depth, name="sync-prefetch", grace=WAIT_GRACE, before_wait=before_wait
    )


def _built_ahead(memo: PageMemo, batches: Iterator[Sequence[Any]]) -> Iterator[Sequence[Any]]:
    """``batches``, each one the last complete sync did not store as a page measured first
    (``len``): a connector that builds a batch's records only when it is read (so that a
    page the engine skips costs no shaping) then builds it here, in the prefetch thread,
    as it would have without that laziness, not in the storing thread."""
    for records in batches:
        if memo.lookup(records)[1] is None:
            len(records)
        yield records


def _mapped_services(session: Session, resource_ids: list[str]) -> dict[str, list[uuid.UUID]]:
    out: dict[str, list[uuid.UUID]] = {}
    for start in range(0, len(resource_ids), 500):
        chunk = resource_ids[start : start + 500]
        for rid, sid in session.execute(
            select(ResourceMapping.resource_id, ResourceMapping.service_id).where(
                ResourceMapping.resource_id.in_(chunk)
            )
        ):
            out.setdefault(rid, []).append(sid)
    return out


#: Seconds a sync keeps one write transaction open across batches before it commits.
#: A commit writes every page the transaction dirtied to the WAL, and a batch of 1,000
#: new resources dirties pages all over the id and name indexes: committing every batch
#: wrote those pages again and again (commits were a third of a first sync). Half a
#: second bounds how long an API write waits for the lock.
COMMIT_INTERVAL = 0.5
#: Seconds after which a sync's write transaction commits early when API writes (or other
#: writers of this process) wait for the SQLite writer, which then serves them in order.
YIELD_AFTER = 0.1


class _BatchWriter:
    """The write transaction a sync's batches share, committed every ``COMMIT_INTERVAL``.

    Rolling back (an unexpected error) restores the run's counters to what was committed.
    """

    def __init__(self, db: Database, progress: Progress) -> None:
        self.db = db
        self.progress = progress
        self._session: Session | None = None
        self._opened = 0.0
        self._committed = (0, 0, 0, 0, 0)

    def session(self) -> Session:
        """The open write transaction's session (opened if none is)."""
        if self._session is None:
            self._session = self.db.new_session(write=True)
            self._opened = time.monotonic()
        return self._session

    def commit_if_due(self) -> None:
        """Commit after ``COMMIT_INTERVAL``, or after ``YIELD_AFTER`` when other writers
        of this process wait for the SQLite writer (they get their turn in between)."""
        if self._session is None:
            return
        held = time.monotonic() - self._opened
        if held >= COMMIT_INTERVAL or (held >= YIELD_AFTER and self.db.writers_waiting()):
            self.commit()

    def commit(self) -> None:
        """Commit what was stored (if anything); the counters so far are now committed."""
        self._end(commit=True)
        p = self.progress
        self._committed = (p.created, p.updated, p.unchanged, p.resources, p.events)

    def rollback(self) -> None:
        """Roll back what is not committed, and the counters with it."""
        self._end(commit=False)
        p = self.progress
        p.created, p.updated, p.unchanged, p.resources, p.events = self._committed

    def _end(self, *, commit: bool) -> None:
        if self._session is None:
            return
        session, self._session = self._session, None
        try:
            if commit:
                session.commit()
            else:
                session.rollback()
        finally:
            session.close()


@dataclass
class SyncContext:
    """One run's streaming: what it lists from, where it stores, and its state so far.

    ``known`` is the stored state of the instance's resources, kept current as batches
    are stored (see ``resources.ingest``); ``seen`` the ids the listing returned so far;
    ``memo`` the page digests. ``lease_ok`` and ``should_stop`` are asked before each
    page; ``on_progress`` is told after each.
    """

    db: Database
    connector: Connector
    instance: IntegrationInstance
    run_id: uuid.UUID
    progress: Progress
    known: KnownResources
    memo: PageMemo
    on_progress: ProgressFn | None = None
    lease_ok: Callable[[], bool] | None = None
    should_stop: Callable[[], bool] | None = None
    seen: set[str] = field(default_factory=set)

    def check(self) -> None:
        """LeaseLost when another worker owns the instance now, Stopped when the worker
        is shutting down."""
        if self.lease_ok is not None and not self.lease_ok():
            raise LeaseLost
        if self.should_stop is not None and self.should_stop():
            raise Stopped

    def skip(self, ids: Collection[str]) -> None:
        """Count resources seen and unchanged without storing them."""
        self.seen.update(ids)
        self.progress.unchanged += len(ids)
        self.progress.resources += len(ids)


def _store_page(ctx: SyncContext, writer: _BatchWriter, records: Sequence[Any]) -> None:
    """Store one page of the listing, or only count it when it is the page the last
    complete sync stored and its resources are stored as that sync left them."""
    key, page = ctx.memo.lookup(records)
    if page is not None and key is not None and ctx.memo.settled(key, page, ctx.known):
        ctx.skip(page.ids)
        return
    batch = prepare_records(ctx.instance.id, records)
    _store_batch(ctx, writer, batch)
    if key is not None:
        ctx.memo.remember(key, list(batch.by_id), ctx.known)


def _store_batch(ctx: SyncContext, writer: _BatchWriter, batch: PreparedBatch) -> None:
    if batch.settled(ctx.known):
        # Every resource known, discovered and unchanged: nothing to write, no transaction
        # (the write lock stays free for the API).
        ctx.skip(batch.by_id)
        return
    derives = derives_events(ctx.connector)
    session = writer.session()
    result = upsert_resources(
        session,
        instance=ctx.instance,
        records=batch,
        run_id=ctx.run_id,
        now=utcnow(),
        known=ctx.known,
        changes=derives,
    )
    ctx.seen.update(result.ids)
    progress = ctx.progress
    progress.created += result.created
    progress.updated += result.updated
    progress.unchanged += result.unchanged
    progress.resources += len(result.ids)
    if derives and result.changes:
        _record_events(ctx, session, result.changes)


def _record_events(ctx: SyncContext, session: Session, changes: list[ResourceChange]) -> None:
    """Store the integration events the connector derives from changed resources, for the
    catalog services mapped to them."""
    derived = [(ch, ctx.connector.diff_events(ch.before, ch.record)) for ch in changes]
    derived = [(ch, evs) for ch, evs in derived if evs]
    if not derived:
        return
    services = _mapped_services(session, [ch.id for ch, _ in derived])
    ctx.progress.events += record_resources_events(
        session,
        instance=ctx.instance,
        items=[
            ResourceEvents(ch.id, ch.record.type, services.get(ch.id, []), evs)
            for ch, evs in derived
        ],
    )


#: How far before the last poll's start the next one asks from: events the upstream
#: stamped just before (its clock behind ours, or written as we asked) are not missed;
#: those polled twice are stored once (their deduplication ids).
POLL_OVERLAP = dt.timedelta(minutes=5)


#: How many polled events are stored at a time: a poll's events are never all held at once.
POLL_BATCH = 1000


def _poll_events(ctx: SyncContext) -> None:
    """Record the events the upstream reported since the last complete poll, then
    remember when this poll began. Events are stored as they are listed, in batches of
    :data:`POLL_BATCH` (each in its own transaction); a ConnectorError part-way leaves the
    mark where it was, so the next poll lists again from it and stores only what is new
    (deduplication ids)."""
    started = utcnow()
    with ctx.db.session(write=False) as session:
        since = session.scalar(
            select(SyncState.events_polled_at).where(SyncState.instance_id == ctx.instance.id)
        )
    polled = ctx.connector.poll_events(since - POLL_OVERLAP if since else None)
    while batch := list(itertools.islice(polled, POLL_BATCH)):
        ctx.check()
        _store_polled(ctx, batch)
        del batch  # not held while the next batch is listed
    ctx.check()
    with ctx.db.session() as session:
        state = session.get(SyncState, ctx.instance.id)
        if state is not None:
            state.events_polled_at = started


def _store_polled(ctx: SyncContext, polled: list[PolledEvent]) -> None:
    """Store one batch of polled events against the catalog services mapped to their
    resources, in one transaction (one lookup of known keys and one INSERT for the whole
    batch, not two statements per resource)."""
    by_resource: defaultdict[tuple[str, str], list[EventRecord]] = defaultdict(list)
    for event in polled:
        by_resource[(_polled_resource(ctx, event), event.resource_type)].append(event.event)
    with ctx.db.session() as session:
        services = _mapped_services(session, sorted({rid for rid, _ in by_resource}))
        ctx.progress.events += record_resources_events(
            session,
            instance=ctx.instance,
            items=[
                ResourceEvents(rid, rtype, services.get(rid, []), events)
                for (rid, rtype), events in by_resource.items()
            ],
        )


def _polled_resource(ctx: SyncContext, event: PolledEvent) -> str:
    return resource_id(ctx.instance.id, event.resource_type, event.resource_config)


def derives_events(connector: Connector) -> bool:
    """Whether the connector derives integration events (it declares ``derives_events``);
    when not, a sync neither reads the stored data of changed resources nor calls it."""
    return connector.derives_events


def _mark_vanished(session: Session, instance: IntegrationInstance, seen: set[str]) -> int:
    """Mark the instance's discovered resources not in ``seen`` as vanished; the count.

    Every id in ``seen`` is a discovered resource of the instance once its batch is
    stored, so when the instance has exactly ``len(seen)`` discovered resources nothing
    vanished, and one COUNT spares reading every id (the common, unchanged case).
    """
    discovered = session.scalar(
        select(func.count())
        .select_from(Resource)
        .where(Resource.instance_id == instance.id, Resource.discovered.is_(True))
    )
    if discovered == len(seen):
        return 0
    return mark_vanished(session, instance=instance, seen_ids=seen, now=utcnow())


def _stream(ctx: SyncContext) -> int:
    """Store every batch of the connector's listing, then mark what it did not return as
    vanished; the count of those. Raises what the connector raises, LeaseLost or Stopped
    (nothing is marked then)."""
    writer = _BatchWriter(ctx.db, ctx.progress)
    try:
        # The helper thread fetches (and the connector decodes) the next page while this
        # one is processed and written here: the upstream keeps answering meanwhile.
        batches = _built_ahead(ctx.memo, ctx.connector.discover())
        for records in _prefetch(batches, before_wait=writer.commit):
            ctx.check()
            ctx.progress.pages += 1
            _store_page(ctx, writer, records)
            del records  # not kept alive while the next page is awaited
            writer.commit_if_due()  # also while unchanged pages stream after a write
            if ctx.on_progress is not None:
                ctx.on_progress(ctx.progress)
        writer.commit()
    except (ConnectorError, LeaseLost, Stopped):
        writer.commit()  # the batches stored so far are current: keep them
        raise
    except BaseException:
        writer.rollback()
        raise
    if ctx.lease_ok is not None and not ctx.lease_ok():
        raise LeaseLost
    # The listing was complete: what it did not return is no longer discovered, and the
    # pages it stored are remembered for the next sync.
    with ctx.db.session() as session:
        vanished = _mark_vanished(session, ctx.instance, ctx.seen)
        ctx.memo.save(session, ctx.instance.id)
        if ctx.connector.keeps_state:
            save_state(session, ctx.instance.id, ctx.connector.state, ctx.connector.next_state())
    return vanished


def run_sync(
    db: Database,
    settings: Settings,
    *,
    instance_id: uuid.UUID,
    run_id: uuid.UUID,
    on_progress: ProgressFn | None = None,
    lease_ok: Callable[[], bool] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Outcome:
    """Sync one instance and say how it went; never raises for an upstream failure.

    ``on_progress`` is called after every stored page; ``lease_ok`` is asked before each
    page and a False stops the run (another worker owns the instance now), as does a
    True from ``should_stop`` (the worker is shutting down). The caller
    records the outcome with ``sync.service.finish_run``.
    """
    progress = Progress(started=time.monotonic())
    connector: Connector | None = None
    try:
        with db.session() as session:
            instance = session.get(IntegrationInstance, instance_id)
            if instance is None:
                return Outcome(status="failed", error="The integration instance was deleted.")
            session.expunge(instance)
            connector = build_connector(session, instance, settings)
        if connector is None:
            # A push-only integration: nothing to poll, and nothing may vanish.
            return _outcome(progress, status="succeeded")
        with db.session(write=False) as session:
            if connector.keeps_state:
                connector.state = load_state(session, instance_id)
            ctx = SyncContext(
                db=db,
                connector=connector,
                instance=instance,
                run_id=run_id,
                progress=progress,
                known=known_resources(session, instance_id),
                memo=PageMemo.load(session, connector, instance),
                on_progress=on_progress,
                lease_ok=lease_ok,
                should_stop=should_stop,
            )
        with fewer_gc_passes():
            vanished = _stream(ctx)
        if connector.polls_events:
            _poll_events(ctx)
        return _outcome(progress, status="succeeded", vanished=vanished)
    except ConnectorError as exc:
        return _connector_failure(db, settings, instance_id, progress, exc, connector)
    except Stopped:
        return _outcome(
            progress,
            status="failed",
            error="The worker was stopped during the sync; the next sync runs it again.",
            schedule="retry",
        )
    except LeaseLost:
        return _outcome(
            progress,
            status="failed",
            error="Another worker took this sync over (this worker's lease expired).",
            reason="A worker stopped renewing its lease; another worker resumed.",
            remediation="None needed; the sync continues on another worker.",
            schedule="retry",
        )
    except Exception as exc:
        log.exception("sync of instance %s failed unexpectedly", instance_id)
        return _outcome(
            progress,
            status="failed",
            error=f"The sync failed unexpectedly ({type(exc).__name__}); see the worker's log.",
            reason="The last sync failed unexpectedly.",
            remediation="Check the worker's log; the next sync retries.",
        )
    finally:
        if connector is not None:
            try:
                connector.close()
            except Exception:
                log.warning("closing the connector of instance %s failed", instance_id)


def _outcome(
    progress: Progress,
    *,
    status: str,
    vanished: int = 0,
    error: str | None = None,
    reason: str | None = None,
    remediation: str | None = None,
    schedule: str = "ok",
    retry_after: float | None = None,
) -> Outcome:
    return Outcome(
        status=status,
        **progress.counts(),
        vanished=vanished,
        error=error,
        schedule=schedule,
        reason=reason if reason is not None else error,
        remediation=remediation,
        retry_after=retry_after,
    )


def _connector_failure(
    db: Database,
    settings: Settings,
    instance_id: uuid.UUID,
    progress: Progress,
    exc: ConnectorError,
    connector: Connector | None,
) -> Outcome:
    # Connector messages never carry a credential; scrub anyway, they are shown to users.
    message = scrub(exc.message, connector.credential if connector is not None else None)
    remediation = exc.remediation or REMEDIATION.get(exc.kind, "The next sync retries.")
    log.warning("sync of instance %s failed: %s (%s)", instance_id, message, exc.kind)
    if exc.kind == "auth":
        remediation = REMEDIATION["auth"].replace("{id}", str(instance_id))
        with db.session() as session:
            instance = session.get(IntegrationInstance, instance_id)
            if instance is not None:
                taint_credential(session, instance, message, settings=settings)
        return _outcome(
            progress,
            status="failed",
            error=message,
            schedule="halted",
            reason=message,
            remediation=remediation,
        )
    return _outcome(
        progress,
        status="failed",
        error=message,
        schedule="delayed",
        reason=message,
        remediation=remediation,
        retry_after=exc.retry_after,
    )


__all__ = ["LeaseLost", "Progress", "run_sync"]

"""Sync workers: claim due instances, sync them while renewing the lease, release it.

``Worker.run_once`` does one claimed sync; ``Worker.run_forever`` loops until stopped;
:class:`BackgroundWorker` runs that loop in a thread of ``serve``; ``service-catalog
worker`` runs it in its own process. Any number of workers may share one database: a
lease (``sync.service.claim_due``) makes one instance sync on one worker at a time. While
it syncs, a heartbeat thread renews the lease every few seconds (whatever the sync is
doing: a slow upstream page does not lose it) and stores the run's counters so far. A
lease whose heartbeat stopped for a worker's ``lease_timeout_seconds`` is taken over by
that worker; a lease held by a process of the same host that is gone, at once.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Self

from sqlalchemy import event
from sqlalchemy.orm import Session

from service_catalog.core.db import Database
from service_catalog.events.models import Event
from service_catalog.scorecards.evaluation import note_resources_changed
from service_catalog.settings import Settings
from service_catalog.sync import scorecards, service
from service_catalog.sync.engine import Progress, ProgressFn, run_sync
from service_catalog.sync.models import SyncRun
from service_catalog.sync.service import worker_name

#: Longest pause between two heartbeats of a sync (shorter when the lease timeout is short:
#: at least three heartbeats per timeout).
HEARTBEAT_SECONDS = 2.0

log = logging.getLogger("service_catalog.sync")

_wakeup = threading.Condition()
_generation = 0


def notify() -> None:
    """Wake the workers of this process now (a sync was requested)."""
    global _generation
    with _wakeup:
        _generation += 1
        _wakeup.notify_all()


def _wait(seconds: float, stop: threading.Event) -> None:
    """Sleep up to ``seconds``, less when stopped or notified."""
    with _wakeup:
        start_gen = _generation
        deadline = time.monotonic() + seconds
        while not stop.is_set() and _generation == start_gen:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            _wakeup.wait(min(left, 0.5))


@event.listens_for(Session, "after_flush")
def _note_service_change(session: Session, flush_context: object) -> None:
    """Remember that the transaction recorded an audit entry naming a service (a change
    of its fields, mappings or documents): its scorecards are re-evaluated once it
    commits."""
    if any(isinstance(o, Event) and o.service_id is not None for o in session.new):
        session.info["service_changed"] = True


@event.listens_for(Session, "after_commit")
def _wake_on_service_change(session: Session) -> None:
    """Wake this process's workers to evaluate the changed services' scorecards now."""
    if session.info.pop("service_changed", False):
        notify()


@event.listens_for(Session, "after_rollback")
def _forget_service_change(session: Session) -> None:
    session.info.pop("service_changed", None)


def heartbeat_seconds(settings: Settings) -> float:
    """Seconds between two heartbeats of a sync under ``settings``."""
    return max(0.5, min(HEARTBEAT_SECONDS, settings.lease_timeout_seconds / 3))


class _Heartbeat:
    """Renews a claim's lease in a thread every :func:`heartbeat_seconds`, and stores the
    run's counters so far (the latest :class:`Progress` handed to :meth:`progress`).

    It runs beside the sync, so a sync waiting on a slow upstream page keeps its lease. Its
    writes are separate short transactions (never the sync's own, which may be open).
    """

    def __init__(self, db: Database, settings: Settings, claim: service.Claim) -> None:
        self.db, self.settings, self.claim = db, settings, claim
        self.lost = False
        self._latest: Progress | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sync-heartbeat", daemon=True)

    def progress(self, progress: Progress) -> None:
        """Remember the run's counters so far; the next heartbeat stores them."""
        self._latest = progress

    def _run(self) -> None:
        every = heartbeat_seconds(self.settings)
        while not self._stop.wait(every):
            latest = self._latest
            counters = (
                {k: v for k, v in asdict(latest).items() if isinstance(v, int)}
                if latest is not None
                else None
            )
            try:
                with self.db.session() as session:
                    if not service.renew_lease(session, claim=self.claim, counters=counters):
                        self.lost = True
                        log.warning("lost the lease of instance %s", self.claim.instance_id)
                        return
            except Exception:
                log.warning(
                    "renewing the lease of instance %s failed",
                    self.claim.instance_id,
                    exc_info=True,
                )

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


class Worker:
    """Claims and runs syncs. ``name`` identifies it in leases and run records."""

    def __init__(self, settings: Settings, db: Database, *, name: str | None = None) -> None:
        self.settings = settings
        self.db = db
        self.name = name or worker_name()

    def run_once(
        self,
        *,
        instance_id: uuid.UUID | None = None,
        force: bool = False,
        trigger: str | None = None,
        on_progress: ProgressFn | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_claim: Callable[[service.Claim], None] | None = None,
    ) -> SyncRun | None:
        """Claim one due instance (or ``instance_id``; with ``force`` even when not due),
        sync it and record the run. None when nothing could be claimed (or the instance
        was deleted during its sync)."""
        with self.db.session() as session:
            claim = service.claim_due(
                session,
                owner=self.name,
                settings=self.settings,
                instance_id=instance_id,
                force=force,
                trigger=trigger,
            )
        if claim is None:
            return None
        if on_claim is not None:
            on_claim(claim)
        log.info(
            "sync of instance %s started (run %s, %s)",
            claim.instance_id,
            claim.run_id,
            claim.trigger,
        )
        with _Heartbeat(self.db, self.settings, claim) as beat:

            def progressed(progress: Progress) -> None:
                beat.progress(progress)
                if on_progress is not None:
                    on_progress(progress)

            outcome = run_sync(
                self.db,
                self.settings,
                instance_id=claim.instance_id,
                run_id=claim.run_id,
                on_progress=progressed,
                lease_ok=lambda: not beat.lost,
                should_stop=should_stop,
            )
        with self.db.session() as session:
            run = service.finish_run(session, claim=claim, outcome=outcome, settings=self.settings)
        if run is None:
            log.info("instance %s was deleted during its sync", claim.instance_id)
            return None
        if run.created or run.updated:
            with self.db.session() as session:
                note_resources_changed(session, claim.instance_id, run.started_at)
        log.info(
            "sync of instance %s %s: %s pages, %s created, %s updated, %s unchanged, %s vanished%s",
            claim.instance_id,
            run.status,
            run.pages,
            run.created,
            run.updated,
            run.unchanged,
            run.vanished,
            f" ({run.error})" if run.error else "",
        )
        return run

    def run_forever(self, stop: threading.Event) -> None:
        """Sync due instances until ``stop`` is set; sleep ``worker_poll_seconds`` when idle."""
        log.info("sync worker %s started", self.name)
        while not stop.is_set():
            try:
                run = self.run_once(should_stop=stop.is_set)
            except Exception:
                log.warning("worker %s: looking for due syncs failed", self.name, exc_info=True)
                run = None
            try:  # after each sync and at every poll: the scorecards' due passes
                scorecards.run_due(self.db, self.settings, self.name)
            except Exception:
                log.warning("worker %s: evaluating scorecards failed", self.name, exc_info=True)
            if run is None:
                _wait(self.settings.worker_poll_seconds, stop)


def run_workers(
    settings: Settings, db: Database, *, concurrency: int, stop: threading.Event
) -> None:
    """Run ``concurrency`` workers in threads of this process until ``stop`` is set."""
    base = worker_name()
    threads = [
        threading.Thread(
            target=Worker(settings, db, name=f"{base}/{i}").run_forever,
            args=(stop,),
            name=f"sync-worker-{i}",
            daemon=True,
        )
        for i in range(concurrency)
    ]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.5)


class BackgroundWorker:
    """One sync worker in a thread of the ``serve`` process; ``start()``/``stop()``."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.worker = Worker(settings, db)

    def start(self) -> None:
        """Start syncing in the background."""
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.worker.run_forever, args=(self._stop,), name="sync-worker", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop: a sync in progress ends after its current page and releases its lease."""
        self._stop.set()
        notify()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


__all__ = ["BackgroundWorker", "Worker", "notify", "run_workers", "worker_name"]

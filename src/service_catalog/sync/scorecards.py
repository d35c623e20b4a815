"""Scorecard evaluation in the worker: after each sync, at every poll (the services whose
inputs changed since the last pass) and in full every ``scorecard_interval_seconds`` or
when a scorecard changed. Each pass holds the scorecard's lease
(:func:`service_catalog.scorecards.evaluation.claim`), renewed after every chunk, so two
workers never evaluate one scorecard at once."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from sqlalchemy import select

from service_catalog.core.db import Database, utcnow
from service_catalog.scorecards import evaluation as ev
from service_catalog.scorecards.models import ScorecardState
from service_catalog.settings import Settings
from service_catalog.sync.gc import fewer_gc_passes

log = logging.getLogger("service_catalog.scorecards")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def run_pass(
    db: Database, settings: Settings, scorecard_id: uuid.UUID, owner: str
) -> ev.PassStats | None:
    """Take the scorecard's lease and run the pass it is due for (full, or of the services
    changed since its last pass); None when another worker holds the lease."""
    with db.session() as session:
        ev.ensure_states(session)
        if not ev.claim(session, scorecard_id, owner, settings.lease_timeout_seconds):
            return None
        state = session.get(ScorecardState, scorecard_id)
    if state is None:
        return None
    start = utcnow()
    interval = dt.timedelta(seconds=settings.scorecard_interval_seconds)
    full = state.full_due or state.last_full_at is None or state.last_full_at < start - interval
    stats = ev.PassStats()
    done = False
    try:
        with db.session() as session:
            asked = None
            if not full:
                since = (state.changes_seen_at or _EPOCH) - ev.OVERLAP
                asked = ev.changed_services(session, since)
            ids = ev.targets(session, scorecard_id, asked) if asked != set() else []
        # A chunk's results are thousands of short-lived dicts (no cycles): see fewer_gc_passes.
        with fewer_gc_passes():
            for i in range(0, len(ids), ev.CHUNK):
                with db.session() as session:
                    if not ev.renew(session, scorecard_id, owner):
                        log.warning("lost the lease of scorecard %s", scorecard_id)
                        return stats
                    part = ids[i : i + ev.CHUNK]
                    stats.written += ev.evaluate_ids(session, scorecard_id, part, start)
                    stats.services += len(part)
                    if i + ev.CHUNK >= len(ids):  # the last chunk's transaction ends the pass
                        stats.removed = ev.finish(session, scorecard_id, full=full)
        if full and not ids:
            with db.session() as session:
                stats.removed = ev.finish(session, scorecard_id, full=full)
        done = True
    finally:
        with db.session() as session:
            ev.release(
                session,
                scorecard_id,
                owner,
                full_at=start if (full and done) else None,
                seen_at=start if done else (state.changes_seen_at or _EPOCH),
            )
    if stats.services:
        log.info(
            "scorecard %s: %s pass over %s services, %s results written",
            scorecard_id,
            "full" if full else "incremental",
            stats.services,
            stats.written,
        )
    return stats


def run_due(db: Database, settings: Settings, owner: str) -> int:
    """Run every scorecard's due pass whose lease is free; the number of passes run."""
    with db.session() as session:
        ev.ensure_states(session)
        ids = list(session.scalars(select(ScorecardState.scorecard_id)))
    ran = 0
    for sid in ids:
        if run_pass(db, settings, sid, owner) is not None:
            ran += 1
    return ran

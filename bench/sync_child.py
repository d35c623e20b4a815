"""One sync in a child process of its own, for the sync benchmarks: the child loads only
what a sync worker loads, so its peak RSS is the sync's own.

``sync_in_child(db_url, key_file, instance_id)`` runs this file as a script, which syncs the
instance once through the worker's code (as ``service-catalog sync`` does) and prints what
it measured as one JSON line: times, the run's counters, the resource rows written and the
peak RSS.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def sync_in_child(
    db_url: str, key_file: str, instance_id: str, *, warm: bool = False
) -> dict[str, Any]:
    """Sync ``instance_id`` once in a new process and return its figures. ``warm`` loads
    the sync's modules before the clock starts (as a running worker has them loaded)."""
    args = [db_url, key_file, instance_id, *(["--warm"] if warm else [])]
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the sync process failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _run(db_url: str, key_file: str, instance_id: str, warm: bool) -> None:
    """Run one sync in this (child) process and print what it measured as JSON."""
    import resource
    import uuid

    from sqlalchemy import event

    from service_catalog.core.db import Database
    from service_catalog.settings import Settings
    from service_catalog.sync.worker import Worker

    settings = Settings(database_url=db_url, run_worker=False, key_file=key_file)
    db = Database(db_url)
    written = {"resource_rows": 0}
    if warm:
        import service_catalog.events.service
        import service_catalog.resources.ingest  # noqa: F401
        from service_catalog.integrations import registry

        registry.integrations()

    @event.listens_for(db.engine, "after_cursor_execute")
    def _count(
        _conn: Any, cursor: Any, statement: str, _params: Any, _ctx: Any, _many: bool
    ) -> None:
        head = statement.lstrip()[:60].upper()
        if head.startswith(("INSERT", "UPDATE", "DELETE")) and " RESOURCES" in head:
            written["resource_rows"] += max(0, cursor.rowcount)

    start, cpu = time.perf_counter(), time.process_time()
    run = Worker(settings, db, name="bench").run_once(
        instance_id=uuid.UUID(instance_id), force=True, trigger="cli"
    )
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert run is not None
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "cpu_seconds": cpu,
                "status": run.status,
                "error": run.error,
                "pages": run.pages,
                "created": run.created,
                "updated": run.updated,
                "unchanged": run.unchanged,
                "vanished": run.vanished,
                "resource_rows_written": written["resource_rows"],
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )
    db.dispose()


if __name__ == "__main__":
    db_url, key_file, instance_id = sys.argv[1:4]
    _run(db_url, key_file, instance_id, warm="--warm" in sys.argv[4:])

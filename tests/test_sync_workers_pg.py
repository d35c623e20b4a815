"""Several real ``service-catalog worker`` processes sharing one PostgreSQL database."""

from __future__ import annotations

import datetime as dt
import itertools
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import LiveServer, PgProvider
from serveproc import CLI, cli_env
from service_catalog.core.db import Database
from service_catalog.settings import Settings
from service_catalog.sync.models import SyncRun
from service_catalog.testing.inventory_sim import InventorySimulator
from sync_support import make_instance, wait_for

TOKEN = "workers-secret-92d1"


@pytest.fixture
def pg_url(pg: PgProvider) -> Iterator[str]:
    url = pg.new_database()
    yield url
    pg.drop(url)


@pytest.fixture
def pg_server(pg_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    settings = Settings(
        database_url=pg_url, run_worker=False, key_file=str(tmp_path / "test.key"), secret_key=None
    )
    db = Database(pg_url)
    live = LiveServer(settings, db).start()
    yield live
    live.stop()
    db.dispose()


class Workers:
    """``service-catalog worker`` subprocesses, stopped (or killed) at the end."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env, self.tmp = env, tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        with open(self.tmp / f"worker-{n}.log", "wb") as log:
            proc = subprocess.Popen(
                [CLI, "worker"], env=self.env, stdout=log, stderr=log, stdin=subprocess.DEVNULL
            )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    def log(self, n: int) -> str:
        return (self.tmp / f"worker-{n}.log").read_text(errors="replace")


@pytest.fixture
def workers(pg_url: str, tmp_path: Path) -> Iterator[Workers]:
    env = cli_env(
        pg_url,
        tmp_path,
        SERVICE_CATALOG_WORKER_POLL_SECONDS="0.2",
        SERVICE_CATALOG_LEASE_TIMEOUT_SECONDS="5",
        SERVICE_CATALOG_LOG_LEVEL="INFO",
    )
    w = Workers(env, tmp_path)
    yield w
    w.stop_all()


def _runs(db: Database) -> list[SyncRun]:
    with db.session() as s:
        return list(s.scalars(select(SyncRun).order_by(SyncRun.started_at)))


def _pid_of(worker: str | None) -> int:
    assert worker is not None
    return int(worker.split(":")[1].split("/")[0])


def test_two_workers_sync_each_instance_exactly_once_per_schedule(
    pg_server: LiveServer, workers: Workers
) -> None:
    interval = 10
    with InventorySimulator(items=30, token=TOKEN) as sim, pg_server.client() as api:
        sim.delay = 0.05  # every sync takes a moment, so the two workers overlap
        ids = [
            make_instance(api, sim, f"inv-{i}", page_size=10, sync_interval=interval)
            for i in range(6)
        ]
        a, b = workers.start(), workers.start()

        def three_runs_each() -> bool:
            done: dict[uuid.UUID, int] = {}
            for r in _runs(pg_server.db):
                if r.status != "running":
                    done[r.instance_id] = done.get(r.instance_id, 0) + 1
            return len(done) == 6 and min(done.values()) >= 3

        # The first run of each instance, then two more on schedule.
        wait_for(three_runs_each, lambda: workers.log(0) + workers.log(1), timeout=90)
        workers.stop_all()
    runs = _runs(pg_server.db)
    assert runs, workers.log(0) + workers.log(1)
    # A worker stopped mid-sync records its run as failed ("stopped during the sync").
    finished = [r for r in runs if not (r.status == "failed" and "stopped" in (r.error or ""))]
    assert {r.status for r in finished} == {"succeeded"}, [r.error for r in runs]
    by_instance: dict[uuid.UUID, list[SyncRun]] = {}
    for r in finished:
        by_instance.setdefault(r.instance_id, []).append(r)
    assert sorted(map(str, by_instance)) == sorted(ids)
    for iid, mine in by_instance.items():
        # Due at once, then `interval` seconds after the previous run ended: never two in
        # one window, never overlapping.
        assert len(mine) >= 3, (iid, [(r.started_at, r.worker) for r in mine])
        for prev, cur in itertools.pairwise(mine):
            assert prev.finished_at is not None
            assert cur.started_at >= prev.finished_at
            assert cur.started_at - prev.finished_at >= dt.timedelta(seconds=interval * 0.95)
        assert all(r.trigger == "schedule" and r.created + r.unchanged == 30 for r in mine)
    assert {_pid_of(r.worker) for r in runs} <= {a.pid, b.pid}  # only these two synced
    logs = workers.log(0) + workers.log(1)
    assert "sync of instance" in logs and TOKEN not in logs


def test_killed_worker_loses_its_lease_and_another_takes_over(
    pg_server: LiveServer, workers: Workers
) -> None:
    with InventorySimulator(items=40, token=TOKEN) as sim, pg_server.client() as api:
        sim.delay = 0.3  # 20 pages: a sync of several seconds
        make_instance(api, sim, "slow", page_size=2)
        first = workers.start()

        def pages_served() -> int:
            return sum(1 for r in sim.requests if r["path"] == "/items")

        wait_for(lambda: pages_served() >= 4, lambda: workers.log(0), timeout=90)
        # Hold the first worker's run (its next page waits 20 s) so that it is still
        # running however long the second worker takes to start on a busy machine.
        sim.delay = 20.0
        second = workers.start()
        # The second worker polls while the first holds the lease: one run, the first's.
        wait_for(lambda: "sync worker" in workers.log(1), lambda: workers.log(1), timeout=90)
        only = _runs(pg_server.db)
        assert len(only) == 1 and only[0].status == "running"
        assert _pid_of(only[0].worker) == first.pid
        killed_at = dt.datetime.now(dt.UTC)
        first.send_signal(signal.SIGKILL)
        first.wait(5)
        sim.delay = 0.0

        def taken_over() -> list[SyncRun]:
            runs = _runs(pg_server.db)
            return runs if len(runs) == 2 and runs[1].status == "succeeded" else []

        wait_for(lambda: bool(taken_over()), lambda: workers.log(1), timeout=90)
        old, new = taken_over()
    assert _pid_of(old.worker) == first.pid and _pid_of(new.worker) == second.pid
    # The dead worker's run is over, said so, and the takeover came after the kill.
    assert old.status == "failed" and (old.error or "").startswith("Abandoned:")
    assert old.finished_at is not None and old.finished_at >= killed_at
    assert new.started_at >= old.finished_at
    assert new.created + new.unchanged + new.updated == 40 and new.vanished == 0

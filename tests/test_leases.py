"""Sync leases and heartbeats, on SQLite and PostgreSQL: a killed server's sync is taken over
at once by a restarted one, a dead worker's lease is judged by the reader's timeout, a slow
upstream page keeps its lease, and a running sync shows its progress."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from conftest import LiveServer
from serveproc import ServeProcess, cli_env
from service_catalog.core.db import Database, utcnow
from service_catalog.settings import Settings
from service_catalog.sync import service
from service_catalog.sync.models import SyncState
from service_catalog.sync.worker import Worker, worker_name
from service_catalog.testing.inventory_sim import InventorySimulator
from sync_support import make_instance, wait_for

TOKEN = "lease-secret-7d2e"


class GatedSimulator(InventorySimulator):
    """The inventory upstream, holding every ``/items`` page from ``hold_from`` on until
    ``gate`` is set: a sync that stored the pages before it waits there (a slow page)."""

    def __init__(self, *args: Any, hold_from: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hold_from = hold_from
        self.gate = threading.Event()
        self.held = threading.Event()  # a request is waiting at the gate

    def _answer(
        self, method: str, target: str, authorization: str | None
    ) -> tuple[int, dict[str, str], bytes, dict[str, Any]]:
        parts = urlsplit(target)
        page = parse_qs(parts.query).get("page", ["1"])[0]
        if parts.path == "/items" and page.isdigit() and int(page) >= self.hold_from:
            self.held.set()
            self.gate.wait(120)
        return super()._answer(method, target, authorization)


class ServeWithWorker(ServeProcess):
    """``service-catalog serve`` with its in-process sync worker."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        super().__init__(env, tmp)
        self.args.remove("--no-worker")


def runs_of(api: httpx.Client, iid: str) -> list[dict[str, Any]]:
    """The instance's sync runs as the API lists them, oldest first."""
    resp = api.get(f"/v1/integration-instances/{iid}/sync-runs")
    assert resp.status_code == 200, resp.text
    return list(reversed(resp.json()["data"]))


@pytest.fixture
def gated() -> Iterator[GatedSimulator]:
    sim = GatedSimulator(items=40, token=TOKEN, hold_from=4)
    with sim:
        yield sim
        sim.gate.set()


def test_a_killed_server_is_taken_over_at_once_by_its_restart(
    server: LiveServer, api: httpx.Client, database_url: str, tmp_path: Path, gated: GatedSimulator
) -> None:
    iid = make_instance(api, gated, "slow", page_size=4)  # 10 pages; the 4th waits
    # A lease timeout far longer than the test: only seeing the process gone frees it.
    env = cli_env(
        database_url,
        tmp_path,
        SERVICE_CATALOG_WORKER_POLL_SECONDS="0.2",
        SERVICE_CATALOG_LEASE_TIMEOUT_SECONDS="3600",
        SERVICE_CATALOG_BOOTSTRAP_TOKEN="false",
    )
    token = server.token()
    first = ServeWithWorker(env, tmp_path).start()
    try:
        with first.client(token) as c:
            # Progress shows while the sync runs (here: waiting on the 4th page).
            running = wait_for(
                lambda: [
                    r
                    for r in runs_of(c, iid)
                    if r["status"] == "running" and r["pages"] == 3 and r["created"] == 12
                ],
                why=lambda: f"{runs_of(c, iid)}\n{first.stderr}",
            )[0]
            assert gated.held.is_set() and running["finished_at"] is None
            assert first.proc is not None
            assert running["worker"].split(":")[1] == str(first.proc.pid)
    finally:
        assert first.proc is not None
        first.proc.kill()  # SIGKILL: no chance to release the lease
        first.proc.wait(10)
    gated.gate.set()
    with ServeWithWorker(env, tmp_path) as second, second.client(token) as c:

        def settled() -> list[dict[str, Any]]:
            runs = runs_of(c, iid)
            return runs if len(runs) == 2 and runs[1]["status"] == "succeeded" else []

        old, new = wait_for(settled, why=lambda: f"{runs_of(c, iid)}\n{second.stderr}")
        assert second.proc is not None
        assert new["worker"].split(":")[1] == str(second.proc.pid)
        sched = c.get(f"/v1/integration-instances/{iid}/resource-ingestion").json()
    assert old["id"] == running["id"] and old["status"] == "failed"
    assert old["error"].startswith("Abandoned:")
    assert f"pid {first.proc.pid}" in old["error"] and "is gone" in old["error"]
    assert old["pages"] == 3 and old["created"] == 12  # its progress stays on record
    assert old["finished_at"] <= new["started_at"]
    assert new["created"] + new["unchanged"] == 40 and new["trigger"] == "schedule"
    assert sched["scheduler_state"] == {"status": "ok"}
    assert TOKEN not in first.stderr + second.stderr


def test_a_dead_workers_lease_is_judged_by_the_readers_timeout(
    server: LiveServer, api: httpx.Client, db: Database, settings: Settings
) -> None:
    with InventorySimulator(items=10, token=TOKEN) as sim:
        iid = make_instance(api, sim, "orphan", page_size=5)
        # A worker on another host took the instance under a one-hour timeout, then died.
        long = settings.model_copy(update={"lease_timeout_seconds": 3600})
        with db.session() as s:
            claim = service.claim_due(
                s, owner="elsewhere:4242:dead01", settings=long, instance_id=uuid.UUID(iid)
            )
        assert claim is not None
        short = settings.model_copy(update={"lease_timeout_seconds": 5})
        here = Worker(short, db)
        assert here.run_once(instance_id=uuid.UUID(iid)) is None  # held: its heartbeat is fresh
        run = wait_for(lambda: here.run_once(instance_id=uuid.UUID(iid)), timeout=90)
        assert run.status == "succeeded" and run.created == 10
        old, new = runs_of(api, iid)
    assert old["id"] == str(claim.run_id) and old["worker"] == "elsewhere:4242:dead01"
    assert old["status"] == "failed" and "stopped responding" in old["error"]
    assert "not renewed for over 5 s" in old["error"]
    assert new["id"] == str(run.id) and new["status"] == "succeeded"


def test_a_slow_upstream_page_keeps_the_lease(
    server: LiveServer, api: httpx.Client, db: Database, settings: Settings, gated: GatedSimulator
) -> None:
    iid = make_instance(api, gated, "patient", page_size=4)
    short = settings.model_copy(update={"lease_timeout_seconds": 5})
    holder = Worker(short, db, name=worker_name("/holder"))
    result: list[Any] = []
    thread = threading.Thread(
        target=lambda: result.append(holder.run_once(instance_id=uuid.UUID(iid))), daemon=True
    )
    thread.start()
    try:
        wait_for(gated.held.is_set)
        with db.session() as s:
            state = s.get(SyncState, uuid.UUID(iid))
            assert state is not None
            taken = state.lease_renewed_at
        assert taken is not None
        rival = Worker(short, db, name=worker_name("/rival"))

        def renewed_past_the_timeout() -> bool:
            assert rival.run_once(instance_id=uuid.UUID(iid), force=True) is None
            with db.session() as s:
                st = s.get(SyncState, uuid.UUID(iid))
                assert st is not None and st.lease_owner == holder.name
                assert st.lease_renewed_at is not None
                return (st.lease_renewed_at - taken).total_seconds() > 6

        # The page waits longer than the lease timeout; the heartbeat keeps the lease.
        wait_for(renewed_past_the_timeout)
    finally:
        gated.gate.set()
        thread.join(60)
    assert result and result[0] is not None
    assert result[0].status == "succeeded" and result[0].created == 40
    assert [r["worker"] for r in runs_of(api, iid)] == [holder.name]


def test_worker_names_say_whose_process_is_gone() -> None:
    mine = worker_name("/0")
    assert not service.owner_is_gone(mine)
    host, pid, tag = mine.split(":", 2)
    assert pid.isdigit() and tag.endswith("/0")
    # This pid, but a name this process never made: a previous process with the same pid.
    assert service.owner_is_gone(f"{host}:{pid}:zzzzzz")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        name = f"{host}:{alive.pid}:abcdef"
        assert not service.owner_is_gone(name, utcnow())
        # Its pid, but the process started after the lease's last heartbeat: pid reused.
        assert service.owner_is_gone(name, utcnow() - dt.timedelta(hours=1))
        # Another host, or a name not made by worker_name: only the lease timeout frees it.
        assert not service.owner_is_gone(f"elsewhere:{alive.pid}:abcdef")
        assert not service.owner_is_gone("test-worker")
    finally:
        alive.kill()
        alive.wait(10)
    assert service.owner_is_gone(name, utcnow())

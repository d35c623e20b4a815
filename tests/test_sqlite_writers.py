"""Concurrency on the embedded default (issue 8, items 8 and 10): writes on SQLite go
through one writer, in arrival order, while reads never wait for it; the database files
are private.

Timings are benchmarked in ``bench/bench_writers.py``; these tests assert outcomes only.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import stat
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from serveproc import ServeProcess, cli_env
from service_catalog.core.db import Database, WriterBusy, WriterQueue
from service_catalog.settings import Settings
from service_catalog.sync.worker import Worker
from service_catalog.testing.inventory_sim import InventorySimulator
from sync_support import make_instance, wait_until

TOKEN = re.compile(r"(?:scat|spat|kpat)_[A-Za-z0-9_\-]{20,}")
WRITERS = 30


def run_threads(n: int, target: Callable[[int], None]) -> None:
    """Run ``target(i)`` in ``n`` threads and wait for them all (re-raising a failure)."""
    failures: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:  # re-raised below
            failures.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,), daemon=True) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
        assert not th.is_alive(), "a client thread did not finish"
    if failures:
        raise failures[0]


def test_writers_and_a_sync_at_once_all_land(
    server: LiveServer, api: httpx.Client, settings: Settings, db: Database
) -> None:
    """Many keep-alive clients create, patch, map, list and delete services while a sync
    stores thousands of resources in the same process: no 5xx, every row is there."""
    token = server.token("writers")
    with InventorySimulator(items=3000, token="inv-token") as sim:
        iid = make_instance(api, sim, page_size=50)
        assert (
            api.put(f"/v1/integration-instances/{iid}/resource-ingestion", json={}).status_code
            == 200
        )
        first_page = threading.Event()
        runs: list[Any] = []

        def sync() -> None:
            runs.append(
                Worker(settings, db, name="writers-test").run_once(
                    instance_id=uuid.UUID(iid), on_progress=lambda _p: first_page.set()
                )
            )

        syncing = threading.Thread(target=sync, daemon=True)
        syncing.start()
        assert first_page.wait(60), "the sync did not store its first page"
        statuses: list[tuple[str, int, str]] = []
        kept: list[str] = []

        def writer(t: int) -> None:
            with server.client(token) as c:

                def call(op: str, resp: httpx.Response) -> httpx.Response:
                    statuses.append((op, resp.status_code, resp.text[:200]))
                    return resp

                made = [
                    call(
                        "create",
                        c.post(
                            "/v1/catalog-services",
                            json={"name": f"writer-{t}-{k}", "display_name": f"Writer {t} {k}"},
                        ),
                    )
                    for k in range(3)
                ]
                ids = [m.json()["id"] for m in made if m.status_code == 201]
                for sid in ids:
                    call(
                        "patch",
                        c.patch(
                            f"/v1/catalog-services/{sid}", json={"description": f"patched by {t}"}
                        ),
                    )
                call(
                    "map",
                    c.post(
                        "/v1/resource-mappings",
                        json={
                            "service": ids[0],
                            "resource": {
                                "integration_instance": "inventory",
                                "type": "inventory_item",
                                "config": {"item_id": f"item-{t + 1:05d}"},
                            },
                        },
                    ),
                )
                call("list", c.get("/v1/catalog-services", params={"page[size]": 5}))
                call("delete", c.delete(f"/v1/catalog-services/{ids[2]}"))
                kept.extend(ids[:2])

        run_threads(WRITERS, writer)
        syncing.join(120)
    assert not [s for s in statuses if s[1] >= 500], statuses
    expected = {"create": 201, "patch": 200, "map": 201, "list": 200, "delete": 204}
    assert all(code == expected[op] for op, code, _ in statuses), [
        s for s in statuses if s[1] != expected[s[0]]
    ]
    assert runs and runs[0] is not None and runs[0].status == "succeeded", runs
    assert runs[0].created + runs[0].updated == 3000
    # every row is there: the services kept (and none deleted), the mappings, the resources
    listed = api.get("/v1/catalog-services", params={"page[size]": 1}).json()
    assert listed["meta"]["page"]["total"] == 2 * WRITERS
    for sid in kept:
        got = api.get(f"/v1/catalog-services/{sid}").json()
        assert got["description"].startswith("patched by"), got
    mappings = api.get("/v1/resource-mappings", params={"page[size]": 1}).json()
    assert mappings["meta"]["page"]["total"] == WRITERS
    resources = api.get(
        "/v1/resources", params={"filter[integration.name]": "rest-inventory", "page[size]": 1000}
    ).json()
    total = len(resources["data"])
    while resources["meta"]["page"].get("next"):
        resources = api.get(resources["meta"]["page"]["next"]).json()
        total += len(resources["data"])
    assert total == 3000


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_reads_answer_while_writers_wait_for_the_lock(
    server: LiveServer, api: httpx.Client, database_url: str, db: Database
) -> None:
    """While another process holds SQLite's write lock (a ``service-catalog worker``),
    fifty writes wait for it in order, and reads still answer; once it is released,
    every write lands."""
    token = server.token("waiting")
    existing = api.post(
        "/v1/catalog-services", json={"name": "already-here", "display_name": "Already here"}
    ).json()
    n = 50
    other = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the other process's write transaction
    statuses: list[int] = []
    try:
        writers = threading.Thread(
            target=run_threads,
            daemon=True,
            args=(n, lambda t: statuses.append(_create(server, token, f"queued-{t}"))),
        )
        writers.start()
        # one write waits on SQLite's lock at the writer connection, the others queue
        wait_until(lambda: db.writers_waiting() >= n - 1, "every write is queued")
        with _client(server, token, timeout=10) as reader:
            listed = reader.get("/v1/catalog-services")
            assert listed.status_code == 200, listed.text
            assert listed.json()["meta"]["page"]["total"] == 1
            one = reader.get(f"/v1/catalog-services/{existing['id']}")
            assert one.status_code == 200, one.text
        assert not statuses, "no write can have landed while the lock is held"
    finally:
        other.execute("ROLLBACK")
        other.close()
    writers.join(120)
    assert statuses == [201] * n
    assert api.get("/v1/catalog-services").json()["meta"]["page"]["total"] == n + 1


def _client(server: LiveServer, token: str, *, timeout: float) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
    )


def _create(server: LiveServer, token: str, name: str) -> int:
    with _client(server, token, timeout=60) as c:
        return c.post("/v1/catalog-services", json={"name": name, "display_name": name}).status_code


def test_writer_queue_serves_in_arrival_order() -> None:
    """Threads and coroutines get the writer in the order they asked for it; one that
    gives up waiting (timeout or cancellation) passes its place on."""
    queue = WriterQueue()
    held = queue.turn()
    order: list[str] = []

    def thread_writer(name: str) -> None:
        turn = queue.turn()
        order.append(name)
        turn.release()

    async def task_writers() -> None:
        async def one(name: str) -> None:
            turn = await queue.turn_async()
            order.append(name)
            turn.release()

        tasks = []
        for k in range(3):
            tasks.append(asyncio.create_task(one(f"task-{k}")))
            await asyncio.sleep(0)  # queued in this order
        cancelled = asyncio.create_task(one("cancelled"))
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.gather(*tasks)

    def waiting(n: int) -> Callable[[], bool]:
        return lambda: queue.waiting == n

    threads = []
    for k in range(3):
        th = threading.Thread(target=thread_writer, args=(f"thread-{k}",), daemon=True)
        th.start()
        threads.append(th)
        wait_until(waiting(k + 1), f"thread {k} queued")
    with pytest.raises(RuntimeError):
        queue.turn()  # this thread holds the turn: it would wait for itself
    gave_up: list[BaseException] = []

    def impatient() -> None:
        try:
            queue.turn(timeout=0.05)
        except WriterBusy as exc:
            gave_up.append(exc)

    th = threading.Thread(target=impatient, daemon=True)
    th.start()
    th.join(30)
    assert len(gave_up) == 1 and queue.waiting == 3  # it left the queue
    loop_thread = threading.Thread(target=asyncio.run, args=(task_writers(),), daemon=True)
    loop_thread.start()
    wait_until(lambda: queue.waiting == 6, "the tasks queued")
    held.release()
    for th in [*threads, loop_thread]:
        th.join(30)
    assert order == ["thread-0", "thread-1", "thread-2", "task-0", "task-1", "task-2"]
    assert queue.waiting == 0
    queue.turn(timeout=0).release()  # free again
    held.release()  # releasing twice changes nothing
    assert queue.turn(timeout=0).held


def test_sqlite_files_are_created_private(tmp_path: Path) -> None:
    """``serve`` on a new SQLite path creates the database, its WAL and its shared-memory
    file readable by their owner only (0600), as the key file is, whatever the umask."""
    db_path = tmp_path / "fresh" / "catalog.db"
    db_path.parent.mkdir()
    env = cli_env(f"sqlite:///{db_path}", tmp_path)
    previous = os.umask(0o022)  # a usual umask: files would be created 0644
    try:
        serve = ServeProcess(env, tmp_path).start()
    finally:
        os.umask(previous)
    try:
        tokens = TOKEN.findall(serve.stdout)
        with serve.client(tokens[0]) as c:
            made = c.post("/v1/catalog-services", json={"name": "a", "display_name": "A"})
            assert made.status_code == 201, made.text
        files = [db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")]
        modes = {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in files}
        assert modes == {f.name: "0o600" for f in files}
    finally:
        serve.stop()

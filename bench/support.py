"""What the connector benchmarks share: a simulator started in its own process, an
instance installed and authorized through the HTTP API as a user would, and the limits and
verdicts their reports print (the connector alone, the SQLite insert floor, the best of
several syncs, ok/MISSED)."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from service_catalog.app import create_app
from service_catalog.auth.service import create_token
from service_catalog.core.db import Database
from service_catalog.core.migrate import upgrade
from service_catalog.integrations.connectors.base import Connector
from service_catalog.settings import Settings
from service_catalog.sync.gc import fewer_gc_passes

T = TypeVar("T")


def start_simulator(module: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    """``python -m module args...`` (a simulator printing ``{"url": ...}`` when it
    listens); the process and its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError(f"the simulator {module} did not start")
    return proc, str(json.loads(line)["url"])


@contextmanager
def running_simulator(module: str, *args: str) -> Iterator[str]:
    """:func:`start_simulator` for the length of a ``with`` block: its URL; the simulator is
    terminated when the block ends."""
    proc, url = start_simulator(module, *args)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def serve_app(db_url: str, key_file: str) -> tuple[Any, str, Any]:
    """The catalog app on a loopback port in a thread (for setting up through the API)."""
    settings = Settings(
        database_url=db_url, run_worker=False, key_file=key_file, bootstrap_token=False
    )
    db = Database(db_url)
    upgrade(db)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, db=db),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
    )
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline:
            raise RuntimeError("the catalog did not start")
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}", db


def install_instance(
    db_url: str, key_file: str, instance: dict[str, Any], header: str, key: str
) -> str:
    """Install ``instance`` (a ``POST /v1/integration-instances`` body) and authorize it
    with a ``multi_key_auth`` credential sending ``key`` in ``header``, through a server
    started for the purpose; the instance's id."""
    server, url, db = serve_app(db_url, key_file)
    try:
        with db.session() as s:
            _, token = create_token(s, name="bench")
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as api:
            resp = api.post("/v1/integration-instances", json=instance)
            resp.raise_for_status()
            iid = str(resp.json()["id"])
            resp = api.post(
                f"/v1/integration-instances/{iid}/auth-credential",
                json={
                    "type": "multi_key_auth",
                    "config": {"headers": [{"name": header, "key": key}]},
                },
            )
            resp.raise_for_status()
        return iid
    finally:
        server.should_exit = True
        time.sleep(0.3)
        db.dispose()


def timed_fetch(send: Callable[[T], bytes], requests: Sequence[T]) -> tuple[float, float, int]:
    """The raw fetch: seconds to make every request with a plain loop (``send`` makes one
    and returns its body), bytes only; seconds to make them again with ``json.loads`` of
    every body; and the bytes answered."""
    start = time.perf_counter()
    size = sum(len(send(r)) for r in requests)
    raw = time.perf_counter() - start
    start = time.perf_counter()
    for r in requests:
        json.loads(send(r))
    return raw, time.perf_counter() - start, size


def connector_only(make: Callable[[], Connector]) -> float:
    """Seconds for a connector alone (``make()`` builds it) to list every resource as
    records (fetch, decode, build records; nothing stored), under the garbage collector's
    settings a sync runs with; the best of two."""
    best = float("inf")
    for _ in range(2):
        conn = make()
        start = time.perf_counter()
        with fewer_gc_passes():  # as a sync runs it
            count = sum(len(batch) for batch in conn.discover())
        best = min(best, time.perf_counter() - start)
        conn.close()
        assert count > 0
    return best


def insert_floor(db_path: Path, tmp: str) -> float:
    """Seconds to insert the rows a first sync stored in the SQLite catalog ``db_path``
    (resources and their resource_attributes), as they are (no processing at all), into a
    fresh catalog database with plain sqlite3 executemany in one transaction: what storing
    them costs at the least, whatever the sync does. The best of two, in ``tmp``."""
    src = sqlite3.connect(db_path)
    cols = [r[1] for r in src.execute("PRAGMA table_info(resources)")]
    rows = src.execute(f"SELECT {', '.join(cols)} FROM resources").fetchall()
    # the side table that indexes config and integration_data is stored by the sync too
    attr_cols = [r[1] for r in src.execute("PRAGMA table_info(resource_attributes)")]
    attrs = src.execute(f"SELECT {', '.join(attr_cols)} FROM resource_attributes").fetchall()
    instances = src.execute("SELECT * FROM integration_instances").fetchall()
    src.close()
    best = float("inf")
    for n in range(2):
        path = Path(tmp) / f"floor-{n}.db"
        db = Database(f"sqlite:///{path}")
        upgrade(db)
        db.dispose()
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA foreign_keys=ON")
        con.executemany(
            f"INSERT INTO integration_instances VALUES ({', '.join('?' for _ in instances[0])})",
            instances,
        )
        sql = f"INSERT INTO resources ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
        attr_sql = (
            f"INSERT INTO resource_attributes ({', '.join(attr_cols)}) "
            f"VALUES ({', '.join('?' for _ in attr_cols)})"
        )
        start = time.perf_counter()
        con.execute("BEGIN IMMEDIATE")
        for at in range(0, len(rows), 1000):
            con.executemany(sql, rows[at : at + 1000])
        for at in range(0, len(attrs), 5000):
            con.executemany(attr_sql, attrs[at : at + 5000])
        con.execute("COMMIT")
        best = min(best, time.perf_counter() - start)
        assert con.execute("SELECT count(*) FROM resources").fetchone()[0] == len(rows)
        found = con.execute("SELECT count(*) FROM resource_attributes").fetchone()[0]
        assert found == len(attrs)
        con.close()
    return best


def fresh_catalogs(tmp: str, install: Callable[[str, str], str]) -> list[tuple[str, str, str]]:
    """Two fresh SQLite catalogs in ``tmp`` (on a shared, noisy machine a first sync is
    the best of two, each into a fresh database), each with the instance ``install(database
    URL, key file)`` installs: (database URL, key file, instance id) each."""
    targets = []
    for k in (1, 2):
        db_url = f"sqlite:///{Path(tmp) / f'catalog{k}.db'}"
        key_file = str(Path(tmp) / f"catalog{k}.key")
        targets.append((db_url, key_file, install(db_url, key_file)))
    return targets


def best_sync(results: list[dict[str, Any]], *worst: str) -> dict[str, Any]:
    """The fastest of several runs of one sync (``sync_in_child`` figures), given the
    largest value any of them had of each key in ``worst`` (peak RSS, rows written...)."""
    best = min(results, key=lambda r: r["seconds"])
    for key in worst:
        best[key] = max(r[key] for r in results)
    return best


def syncs_valid(first: dict[str, Any], second: dict[str, Any], count: int) -> bool:
    """Whether a first sync created all ``count`` resources and an unchanged re-sync found
    them all unchanged, both succeeding (else the figures measure something else)."""
    return bool(
        first["status"] == "succeeded"
        and first["created"] == count
        and second["status"] == "succeeded"
        and second["unchanged"] == count
    )


def verdict(ok: bool) -> str:
    """What a report prints beside a figure: ``ok``, or ``MISSED`` when it misses its target."""
    return "ok" if ok else "MISSED"

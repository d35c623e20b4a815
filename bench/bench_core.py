"""Issue 2's benchmark: the catalog's core over loopback, with 100,000 catalog services.

Seeds a fresh SQLite file (bulk SQL, not the API), starts ``service-catalog serve``
as a real single-process subprocess, and measures throughput and p50/p99 latency of
GET /health (the limit: the same server doing no work), GET by id, a filtered list page
and a create. Prints each figure, the targets and the ratios.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import httpx
import psutil
from sqlalchemy import Table, insert

from bench.loadgen import Result, build, run
from service_catalog.auth.service import create_token
from service_catalog.catalog_services.models import CatalogService
from service_catalog.core.db import Database
from service_catalog.core.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
CLI = str(ROOT / ".venv" / "bin" / "service-catalog")
N_SERVICES = int(os.environ.get("BENCH_SERVICES", "100000"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
THREADS = int(os.environ.get("BENCH_THREADS", "4"))
WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
]
TARGET_LIST_P99_MS = 50.0
TARGET_GET_RATIO = 0.40
TARGET_RSS_MB = 300.0


def seed(url: str, n: int) -> tuple[list[str], str]:
    """Migrate and bulk-insert ``n`` catalog services; returns their ids and an admin token."""
    db = Database(url)
    upgrade(db)
    rnd = random.Random(42)
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    ids: list[str] = []
    table = cast(Table, CatalogService.__table__)
    batch = 10_000
    with db.engine.begin() as conn:
        for start in range(0, n, batch):
            rows = []
            for i in range(start, min(n, start + batch)):
                ident = uuid.UUID(int=rnd.getrandbits(128), version=4)
                ids.append(str(ident))
                word = WORDS[i % len(WORDS)]
                when = base + dt.timedelta(seconds=i)
                rows.append(
                    {
                        "id": ident,
                        "name": f"{word}-svc-{i:06d}",
                        "display_name": f"{word.title()} service {i}",
                        "description": f"Service number {i}",
                        "labels": {"env": rnd.choice(["prod", "staging", "dev"]), "team": word},
                        "custom_fields": {"owner": f"owner{i % 97}", "tier": i % 4},
                        "created_at": when,
                        "updated_at": when,
                    }
                )
            conn.execute(insert(table), rows)
    with db.session() as s:
        _, token = create_token(s, name="bench")
    with db.engine.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return ids, token


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RssWatcher(threading.Thread):
    """Samples the server's resident memory (with its children) every 20 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.02)


def main() -> int:
    """Seed, serve, measure, print; returns 1 when a target is missed."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-core-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    t0 = time.perf_counter()
    ids, token = seed(url, N_SERVICES)
    print(
        f"seeded {N_SERVICES} catalog services in {time.perf_counter() - t0:.1f}s "
        f"({(tmp / 'bench.db').stat().st_size / 1e6:.0f} MB SQLite file)",
        flush=True,
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVICE_CATALOG_")}
    env.update(
        SERVICE_CATALOG_DATABASE_URL=url,
        SERVICE_CATALOG_KEY_FILE=str(tmp / "k"),
        SERVICE_CATALOG_BOOTSTRAP_TOKEN="false",
    )
    out = open(tmp / "serve.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [CLI, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--no-worker"],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    watcher = RssWatcher(proc.pid)
    watcher.start()
    try:
        wait_healthy(port, proc)
        results, single = measure(port, token, ids)
    finally:
        watcher.done.set()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        out.close()
    peak_mb = watcher.peak / 1e6
    health, by_id, listing, create = results
    print()
    for r in results:
        print(r.line())
    ratio = by_id.rps / health.rps if health.rps else 0.0
    print()
    print(
        "targets (single serve process, SQLite, "
        f"{N_SERVICES} services, {THREADS} client connections):"
    )
    print(single.line())
    rows = [
        (
            "filtered list page p99, 1 client",
            f"{single.pct(99):.1f} ms",
            f"<= {TARGET_LIST_P99_MS:.0f} ms",
            f"{single.pct(99) / TARGET_LIST_P99_MS:.2f} of the limit",
            single.pct(99) <= TARGET_LIST_P99_MS,
        ),
        (
            f"filtered list page p99, {THREADS} clients",
            f"{listing.pct(99):.1f} ms",
            "(queueing)",
            f"{listing.pct(99) / TARGET_LIST_P99_MS:.2f} of the limit",
            True,
        ),
        (
            "GET by id / GET /health throughput",
            f"{by_id.rps:.0f} / {health.rps:.0f} req/s",
            f">= {TARGET_GET_RATIO:.0%}",
            f"{ratio:.0%}",
            ratio >= TARGET_GET_RATIO,
        ),
        (
            "peak RSS of the server",
            f"{peak_mb:.0f} MB",
            f"<= {TARGET_RSS_MB:.0f} MB",
            f"{peak_mb / TARGET_RSS_MB:.2f} of the limit",
            peak_mb <= TARGET_RSS_MB,
        ),
        (
            "create / GET /health throughput",
            f"{create.rps:.0f} / {health.rps:.0f} req/s",
            "(no target)",
            f"{create.rps / health.rps:.0%}" if health.rps else "-",
            True,
        ),
        (
            "filtered list / GET /health throughput",
            f"{listing.rps:.0f} / {health.rps:.0f} req/s",
            "(no target)",
            f"{listing.rps / health.rps:.0%}" if health.rps else "-",
            True,
        ),
    ]
    missed = print_targets(rows, 40, 22)
    errors = sum(r.errors for r in results)
    if errors:
        print(f"  {errors} requests answered with an unexpected status")
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if missed or errors else 0


def print_targets(rows: Sequence[tuple[str, str, str, str, bool]], name: int, value: int) -> int:
    """Print a report's rows (name, value, target, ratio, whether the target is met), the
    name and value in columns ``name`` and ``value`` wide, each ending ``ok`` or
    ``MISSED``; how many missed."""
    for label, shown, target, ratio, ok in rows:
        print(
            f"  {label:<{name}} {shown:>{value}}   target {target:<10} ratio {ratio:<18} "
            f"{'ok' if ok else 'MISSED'}"
        )
    return sum(not ok for *_, ok in rows)


def wait_healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("serve did not become healthy")


def measure(port: int, token: str, ids: list[str]) -> tuple[list[Result], Result]:
    """The four measured endpoints, one after the other, and the filtered list with one
    client (whose p99 has the target)."""
    rnd = random.Random(7)
    health_req = build("GET", "/health", None)
    health = run(
        "GET /health (the limit)", port, lambda t, i: health_req, threads=THREADS, seconds=SECONDS
    )
    by_id = run(
        "GET /v1/catalog-services/{id}",
        port,
        lambda t, i: build("GET", f"/v1/catalog-services/{rnd.choice(ids)}", token),
        threads=THREADS,
        seconds=SECONDS,
    )

    def list_req(t: int, i: int) -> bytes:
        word = rnd.choice(WORDS)
        return build(
            "GET",
            f"/v1/catalog-services?filter%5Bname%5D%5Bcontains%5D={word}"
            f"&page%5Bsize%5D=100&page%5Bnumber%5D={rnd.randint(1, 20)}",
            token,
        )

    listing_1 = run("GET filtered list, 1 client", port, list_req, threads=1, seconds=SECONDS)
    listing = run(
        "GET filtered list (contains, 100)", port, list_req, threads=THREADS, seconds=SECONDS
    )

    def create_req(t: int, i: int) -> bytes:
        body = json.dumps(
            {
                "name": f"bench-{t}-{i}-{uuid.uuid4().hex[:8]}",
                "display_name": "Bench",
                "labels": {"env": "bench"},
                "custom_fields": {"owner": "bench"},
            }
        ).encode()
        return build("POST", "/v1/catalog-services", token, body)

    create = run(
        "POST /v1/catalog-services", port, create_req, threads=THREADS, seconds=SECONDS, ok=(201,)
    )
    return [health, by_id, listing, create], listing_1


if __name__ == "__main__":
    sys.exit(main())

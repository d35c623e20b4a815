"""Issue 16's dependency benchmark: a 3-deep downstream walk over 100,000 services.

For each database: seeds a fresh database (bulk SQL, not the API) with ``BENCH_DEPS_SIZE``
catalog services (100,000), each depending on 2 others chosen at random (200,000
confirmed edges: cycles everywhere), starts ``service-catalog serve`` as a user would (no
sync worker), and sends ``GET /v1/catalog-services/{id}/dependencies?direction=downstream
&depth=3`` for random services from one keep-alive connection (latency, not queueing),
beside ``GET /health`` on the same server. Prints p50/p99 of each and the walk's p99
against its limit (50 ms) with the ratio; a miss prints MISSED and makes the exit status
non-zero.

Environment: ``BENCH_DEPS_SECONDS`` (5), ``BENCH_DEPS_SIZE`` (100000),
``BENCH_DEPS_DATABASES`` (``sqlite,postgresql``).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import cast

from sqlalchemy import Table, insert

from bench.bench_writers import database, serve, settle
from bench.loadgen import Result, build, run
from service_catalog.auth.service import create_token
from service_catalog.catalog_services.models import CatalogService
from service_catalog.core.db import Database
from service_catalog.core.migrate import upgrade
from service_catalog.dependencies.models import Dependency

SECONDS = float(os.environ.get("BENCH_DEPS_SECONDS", "5"))
SIZE = int(os.environ.get("BENCH_DEPS_SIZE", "100000"))
DATABASES = os.environ.get("BENCH_DEPS_DATABASES", "sqlite,postgresql").split(",")
DEPENDS_ON = 2
DEPTH = 3
LIMIT_MS = 50.0


def seed(url: str, n: int) -> tuple[list[str], str]:
    """Migrate and bulk-insert ``n`` services with ``DEPENDS_ON`` edges each; their ids and
    an admin token."""
    db = Database(url)
    upgrade(db)
    rnd = random.Random(16)
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    ids = [uuid.UUID(int=rnd.getrandbits(128), version=4) for _ in range(n)]
    services = cast(Table, CatalogService.__table__)
    edges = cast(Table, Dependency.__table__)
    batch = 10_000
    pending: list[dict[str, object]] = []
    try:
        for start in range(0, n, batch):
            rows: list[dict[str, object]] = []
            deps: list[dict[str, object]] = []
            for i in range(start, min(n, start + batch)):
                when = base + dt.timedelta(seconds=i)
                rows.append(
                    {
                        "id": ids[i],
                        "name": f"svc-{i:07d}",
                        "display_name": f"Service {i}",
                        "description": None,
                        "labels": {},
                        "custom_fields": {},
                        "created_at": when,
                        "updated_at": when,
                    }
                )
                targets: set[int] = set()
                while len(targets) < DEPENDS_ON:
                    t = rnd.randrange(n)
                    if t != i:
                        targets.add(t)
                deps.extend(
                    {
                        "id": uuid.UUID(int=rnd.getrandbits(128), version=4),
                        "source_id": ids[i],
                        "target_id": ids[t],
                        "label": "calls",
                        "status": "confirmed",
                        "origin": "bench",
                        "created_at": when,
                        "updated_at": when,
                    }
                    for t in sorted(targets)
                )
            with db.session() as s:
                s.execute(insert(services), rows)
            # edges may name services of later batches: inserted once all exist
            pending.extend(deps)
        with db.session() as s:
            for at in range(0, len(pending), batch):
                s.execute(insert(edges), pending[at : at + batch])
            _, token = create_token(s, name="bench-deps")
        settle(db)
    finally:
        db.dispose()
    return [str(i) for i in ids], token


def measure(kind: str, tmp: Path, url: str) -> tuple[Result, Result]:
    """Seed, serve, and measure /health and the 3-deep walk."""
    ids, token = seed(url, SIZE)
    rnd = random.Random(3)
    with serve(url, tmp, worker=False) as port:
        health_req = build("GET", "/health", None)
        health = run(
            f"{kind} {SIZE}: GET /health",
            port,
            lambda t, i: health_req,
            threads=1,
            seconds=SECONDS,
            max_requests=10**6,
        )
        print(health.line(), flush=True)
        walk = run(
            f"{kind} {SIZE}: {DEPTH}-deep downstream walk",
            port,
            lambda t, i: build(
                "GET",
                f"/v1/catalog-services/{rnd.choice(ids)}/dependencies"
                f"?direction=downstream&depth={DEPTH}&page%5Bsize%5D=100",
                token,
            ),
            threads=1,
            seconds=SECONDS,
            max_requests=10**6,
        )
        print(walk.line(), flush=True)
    return health, walk


def main() -> int:
    """Measure every database; 1 when the target is missed."""
    missed = 0
    for kind in DATABASES:
        tmp = Path(tempfile.mkdtemp(prefix="bench-deps-"))
        try:
            with database(kind, tmp) as url:
                if url is None:
                    print(f"{kind}: no server binaries here; skipped")
                    continue
                health, walk = measure(kind, tmp, url)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        p99 = walk.pct(99)
        ok = p99 <= LIMIT_MS and not walk.errors
        missed += not ok
        print(
            f"  {kind:<10} {DEPTH}-deep downstream walk at {SIZE} services: p99 measured "
            f"{p99:.1f} ms, limit {LIMIT_MS:.0f} ms, ratio {p99 / LIMIT_MS:.2f} "
            f"(GET /health p99 {health.pct(99):.1f} ms; {walk.errors} errors)   "
            f"{'ok' if ok else 'MISSED'}",
            flush=True,
        )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

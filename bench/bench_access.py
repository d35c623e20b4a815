"""Issue 12's benchmark: lists for a principal restricted to some services, at scale.

For each database: seeds 100,000 catalog services (as ``bench_reads``: a ``team`` label and
a 1%-selective ``bench_shard`` label), a user holding Service Viewer on 1,000 of them
(picked at random) and an Organization Admin, starts ``service-catalog serve`` and drives
16 keep-alive connections at the services list as each: the default list (page of 100,
sorted by display_name) and a 1% label filter (page of 100: the label-walk path). The
restricted list must take at most 1.5x the Organization Admin's time for the same query
(its rate at least 1/1.5 of the admin's). Prints both rates, the ratio, and MISSED (and a
non-zero exit) for a miss.

Environment: ``BENCH_ACCESS_SECONDS`` (4), ``BENCH_ACCESS_SIZE`` (100000),
``BENCH_ACCESS_GRANTS`` (1000), ``BENCH_ACCESS_DATABASES`` (``sqlite,postgresql``),
``BENCH_ACCESS_CLIENTS`` (16).
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.bench_reads import SHARDS, seed
from bench.bench_writers import database, serve
from bench.loadgen import Result, build, run
from service_catalog.auth.access import SERVICE_VIEWER
from service_catalog.auth.models import USER, RoleAssignment, User
from service_catalog.auth.service import issue_token
from service_catalog.core.db import Database

SECONDS = float(os.environ.get("BENCH_ACCESS_SECONDS", "4"))
SIZE = int(os.environ.get("BENCH_ACCESS_SIZE", "100000"))
GRANTS = int(os.environ.get("BENCH_ACCESS_GRANTS", "1000"))
DATABASES = os.environ.get("BENCH_ACCESS_DATABASES", "sqlite,postgresql").split(",")
CLIENTS = int(os.environ.get("BENCH_ACCESS_CLIENTS", "16"))
#: The restricted list may take at most this many times the Organization Admin's time.
LIMIT = 1.5


def restricted_user(url: str, service_ids: list[str]) -> str:
    """A user holding Service Viewer on ``service_ids``; its personal access token."""
    db = Database(url)
    try:
        with db.session() as s:
            user = User(email="viewer@bench.example")
            s.add(user)
            s.flush()
            s.add_all(
                RoleAssignment(
                    principal_type=USER,
                    principal_id=user.id,
                    role_name=SERVICE_VIEWER,
                    entity_id=sid,
                )
                for sid in service_ids
            )
            _, token = issue_token(s, owner_type=USER, owner_id=user.id, name="bench")
    finally:
        db.dispose()
    return token


def queries() -> dict[str, Callable[[str], Callable[[int, int], bytes]]]:
    """Each measured list, as a request builder for a token."""
    rnd = random.Random(12)
    lists = "/v1/catalog-services?page%5Bsize%5D=100"
    return {
        "list, page of 100": lambda token: lambda t, i: build("GET", lists, token),
        "1% label page": lambda token: (
            lambda t, i: build(
                "GET", f"{lists}&filter%5Blabels.bench_shard%5D=s{rnd.randrange(SHARDS)}", token
            )
        ),
    }


def measure(kind: str, tmp: Path, url: str) -> int:
    """Seed, serve and measure one database; the number of targets missed."""
    services, admin = seed(url, SIZE)
    granted = random.Random(7).sample([sid for sid, _ in services], min(GRANTS, len(services)))
    viewer = restricted_user(url, granted)
    missed = 0
    with serve(url, tmp, worker=False) as port:
        for label, make in queries().items():
            results: dict[str, Result] = {}
            for who, token in (("Organization Admin", admin), (f"Viewer of {GRANTS}", viewer)):
                results[who] = run(
                    f"{kind} {SIZE}: {label} as {who}",
                    port,
                    make(token),
                    threads=CLIENTS,
                    seconds=SECONDS,
                    max_requests=10**6,
                )
                print(results[who].line(), flush=True)
            base, restricted = results.values()
            # time per request ratio: restricted / admin (the inverse of the rates' ratio)
            ratio = base.rps / restricted.rps if restricted.rps else float("inf")
            ok = ratio <= LIMIT and not base.errors and not restricted.errors
            missed += not ok
            print(
                f"  {kind:<10} {label:<18} restricted {restricted.rps:8.0f} req/s, admin "
                f"{base.rps:8.0f} req/s: measured {ratio:4.2f}x the admin's time / limit "
                f"{LIMIT:.2f}x / ratio {ratio / LIMIT:4.2f} of the limit   "
                f"{'ok' if ok else 'MISSED'}",
                flush=True,
            )
    return missed


def main() -> int:
    """Measure every database; 1 when a target is missed."""
    missed = 0
    for kind in DATABASES:
        tmp = Path(tempfile.mkdtemp(prefix="bench-access-"))
        try:
            with database(kind, tmp) as url:
                if url is None:
                    print(f"{kind}: no server binaries here; skipped")
                    continue
                missed += measure(kind, tmp, url)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

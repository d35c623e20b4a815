"""Benchmark: catalog as code at scale.

1. ``service-catalog import backstage`` of a generated Backstage tree
   (:mod:`bench.gen_backstage`: 10,000 Components in files of 500, 200 Groups, 500
   Systems, 2 ``dependsOn`` and 2 labels each) into a fresh SQLite catalog served by
   ``service-catalog serve``: the time from starting the command until every service and
   team is visible through the API (target <= 5 s), and the command's peak RSS
   (target <= 250 MB).
2. The same at 100,000 Components (target <= 60 s), when ``BENCH_BACKSTAGE_100K=1``.
3. ``apply`` of the unchanged 10,000-service tree (its ``export``): time (target <= 2 s)
   and the statements that write (target 0).

Each line prints measured / limit / ratio; a missed target prints MISSED and makes the exit
status non-zero. Run: ``python -m bench.bench_catalog_as_code``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

from bench.gen_backstage import generate
from service_catalog.auth.service import SYSTEM, create_token
from service_catalog.catalog_as_code.documents import dump_documents
from service_catalog.catalog_as_code.export import export_documents
from service_catalog.catalog_as_code.runner import run_files
from service_catalog.core.db import Database

CLI = str(Path(sys.executable).with_name("service-catalog"))
GROUPS = 200


def _report(what: str, measured: float, limit: float, unit: str) -> bool:
    ratio = measured / limit if limit else (0.0 if measured == 0 else float("inf"))
    missed = measured > limit
    print(
        f"{what}: {measured:.2f} {unit} / limit {limit:g} {unit} / ratio {ratio:.2f}"
        + ("  MISSED" if missed else ""),
        flush=True,
    )
    return not missed


def _env(url: str, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVICE_CATALOG_")}
    env.update(
        {
            "SERVICE_CATALOG_DATABASE_URL": url,
            "SERVICE_CATALOG_KEY_FILE": str(tmp / "bench.key"),
            "SERVICE_CATALOG_BOOTSTRAP_TOKEN": "false",
            "SERVICE_CATALOG_RUN_WORKER": "false",
            "NO_COLOR": "1",
        }
    )
    return env


def _free_port() -> int:
    import socket  # noqa: PLC0415 - only the bench's server needs it

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _total(client: httpx.Client, path: str) -> int:
    response = client.get(path, params={"page[size]": 1})
    return int(response.json()["meta"]["page"]["total"]) if response.status_code == 200 else -1


def import_from_cold(components: int, limit_s: float, limit_mb: float) -> bool:
    """Import a generated tree of ``components`` into a fresh served catalog."""
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        generate(tmp / "tree", components)
        url = f"sqlite:///{tmp / 'catalog.db'}"
        env = _env(url, tmp)
        subprocess.run([CLI, "migrate"], env=env, check=True, capture_output=True)
        db = Database(url)
        with db.session() as s:
            _, token = create_token(s, name="bench")
        db.dispose()
        port = _free_port()
        serve = subprocess.Popen(
            [CLI, "serve", "--bind", f"127.0.0.1:{port}", "--no-worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            start = time.perf_counter()
            proc = subprocess.Popen(
                [CLI, "import", "backstage", str(tmp / "tree" / "catalog-info.yaml")],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                print(f"import failed: {proc.stderr.read() if proc.stderr else ''}")
                return False
            while not (
                _total(client, "/v1/catalog-services") == components
                and _total(client, "/v3/teams") >= GROUPS
            ):
                time.sleep(0.05)
            elapsed = time.perf_counter() - start
        finally:
            client.close()
            serve.terminate()
            serve.wait(10)
        peak_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
        ok = _report(f"import of {components:,} components, until visible", elapsed, limit_s, "s")
        return (
            _report(f"import of {components:,} components, peak RSS", peak_mb, limit_mb, "MB")
            and ok
        )


def unchanged_apply(components: int, limit_s: float) -> bool:
    """Apply the export of a catalog of ``components`` services to itself."""
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        generate(tmp / "tree", components)
        url = f"sqlite:///{tmp / 'catalog.db'}"
        env = _env(url, tmp)
        subprocess.run([CLI, "migrate"], env=env, check=True, capture_output=True)
        subprocess.run(
            [CLI, "import", "backstage", str(tmp / "tree")],
            env=env,
            check=True,
            capture_output=True,
        )
        db = Database(url)
        try:
            with db.session(write=False) as s:
                text = dump_documents(export_documents(s))
            writes: list[str] = []

            def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
                if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
                    writes.append(statement)

            event.listen(db.engine, "before_cursor_execute", count)
            start = time.perf_counter()
            with db.session() as s:
                result = run_files(
                    s,
                    files=[("export.yaml", text)],
                    source="bench",
                    actor=SYSTEM,
                    prune=False,
                    dry_run=False,
                )
            elapsed = time.perf_counter() - start
        finally:
            db.dispose()
        ok = _report(
            f"apply of the unchanged {components:,}-service tree "
            f"({result['summary']['unchanged']:,} unchanged)",
            elapsed,
            limit_s,
            "s",
        )
        return _report("writes of that apply", len(writes), 0, "statements") and ok


def main() -> int:
    """Run the measures; non-zero when a target was missed."""
    ok = import_from_cold(10_000, 5, 250)
    if os.environ.get("BENCH_BACKSTAGE_100K") == "1":
        ok = import_from_cold(100_000, 60, 2500) and ok
    else:
        print("import of 100,000 components: skipped (set BENCH_BACKSTAGE_100K=1)")
    ok = unchanged_apply(10_000, 2) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

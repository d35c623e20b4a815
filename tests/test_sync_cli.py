"""``service-catalog sync`` and ``service-catalog worker --once`` as a user runs them."""

from __future__ import annotations

import json
import uuid
from functools import partial
from pathlib import Path

import httpx

from conftest import LiveServer
from serveproc import cli_env as _cli_env
from serveproc import run_cli
from service_catalog.core.db import utcnow
from service_catalog.sync.models import SyncState
from service_catalog.testing.inventory_sim import InventorySimulator
from sync_support import ingestion, make_instance, resources

TOKEN = "cli-secret-e4a7d2"


SIMULATOR = partial(InventorySimulator, items=120, token=TOKEN)


def cli_env(server: LiveServer, tmp: Path, **extra: str) -> dict[str, str]:
    return _cli_env(
        server.settings.database_url, tmp, SERVICE_CATALOG_CONNECTOR_RETRIES="0", **extra
    )


def test_sync_prints_a_summary_and_a_second_run_changes_nothing(
    api: httpx.Client, server: LiveServer, sim: InventorySimulator, tmp_path: Path
) -> None:
    iid = make_instance(api, sim, "warehouse", page_size=50)
    out = run_cli("sync", "warehouse", env=cli_env(server, tmp_path))
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "Sync of warehouse: succeeded" in text
    assert "created" in text and "120" in text and "pages" in text and "duration" in text
    assert TOKEN not in text + out.stderr
    assert len(resources(server.db, iid)) == 120
    # By id, and a second time: all unchanged.
    again = run_cli("sync", iid, env=cli_env(server, tmp_path))
    assert again.returncode == 0, again.stderr
    lines = {
        ln.split()[1]: ln.split()[-2]
        for ln in again.stdout.splitlines()
        if ln.strip().startswith("│") and len(ln.split()) >= 4
    }
    assert lines.get("unchanged") == "120" and lines.get("created") == "0", again.stdout
    runs = api.get(f"/v1/integration-instances/{iid}/sync-runs").json()["data"]
    assert [r["trigger"] for r in runs] == ["cli", "cli"]


def test_sync_output_json_and_unknown_instance_names_the_database(
    api: httpx.Client, server: LiveServer, sim: InventorySimulator, tmp_path: Path
) -> None:
    make_instance(api, sim, "warehouse", page_size=50)
    out = run_cli("sync", "warehouse", "--output", "json", env=cli_env(server, tmp_path))
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["status"] == "succeeded" and summary["created"] == 120
    assert summary["instance"] == "warehouse" and summary["error"] is None
    missing = run_cli("sync", "nope", env=cli_env(server, tmp_path))
    assert missing.returncode == 1
    assert "no integration instance with id or name 'nope'" in missing.stderr
    assert server.settings.database_url.split("///")[-1] in missing.stderr


def test_failed_sync_exits_non_zero_with_the_reason_and_what_to_do(
    api: httpx.Client, server: LiveServer, sim: InventorySimulator, tmp_path: Path
) -> None:
    make_instance(api, sim, "flaky", page_size=50)
    sim.fail_on_page = 2
    out = run_cli("sync", "flaky", env=cli_env(server, tmp_path))
    assert out.returncode == 1
    assert "error: the sync failed: The upstream answered HTTP 500" in out.stderr
    assert "what to do:" in out.stderr
    assert "Traceback" not in out.stderr


def test_rejected_credential_halts_and_says_so(
    api: httpx.Client, server: LiveServer, sim: InventorySimulator, tmp_path: Path
) -> None:
    iid = make_instance(api, sim, "rotated")
    sim.reject_all = True
    out = run_cli("sync", "rotated", env=cli_env(server, tmp_path))
    assert out.returncode == 1
    assert "rejected the credential" in out.stderr and "auth-credential" in out.stderr
    assert TOKEN not in out.stdout + out.stderr
    assert ingestion(api, iid)["scheduler_state"]["status"] == "halted"
    again = run_cli("sync", "rotated", env=cli_env(server, tmp_path))
    assert again.returncode == 1 and "is not authorized" in again.stderr


def test_unknown_instance_is_a_clear_error(server: LiveServer, tmp_path: Path) -> None:
    out = run_cli("sync", "nope", env=cli_env(server, tmp_path))
    assert out.returncode == 1
    assert "no integration instance with id or name 'nope'" in out.stderr
    assert "Traceback" not in out.stderr


def test_instance_held_by_another_worker_is_refused(
    api: httpx.Client, server: LiveServer, sim: InventorySimulator, tmp_path: Path
) -> None:
    iid = make_instance(api, sim, "busy")
    with server.db.session() as s:
        state = s.get(SyncState, uuid.UUID(iid))
        if state is None:
            state = SyncState(instance_id=uuid.UUID(iid))
            s.add(state)
        state.lease_owner = "other-host:4242:abc"
        state.lease_renewed_at = utcnow()  # a live worker of another host holds it
    out = run_cli("sync", "busy", env=cli_env(server, tmp_path))
    assert out.returncode == 1
    assert "being synced by worker other-host:4242:abc" in out.stderr


def test_worker_once_runs_due_syncs_and_exits(
    api: httpx.Client, server: LiveServer, sim: InventorySimulator, tmp_path: Path
) -> None:
    a = make_instance(api, sim, "first")
    b = make_instance(api, sim, "second")
    out = run_cli("worker", "--once", env=cli_env(server, tmp_path))
    assert out.returncode == 0, out.stderr
    assert "Ran 2 due sync(s)" in out.stdout
    assert len(resources(server.db, a)) == 120 and len(resources(server.db, b)) == 120
    # Nothing is due any more.
    again = run_cli("worker", "--once", env=cli_env(server, tmp_path))
    assert "Ran 0 due sync(s)" in again.stdout

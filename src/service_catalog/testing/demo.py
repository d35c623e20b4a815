"""``service-catalog demo``: the whole Traceable flow in one command, on demo data.

Starts a simulated Traceable tenant on loopback (:mod:`.traceable_sim`), then the catalog
on a fresh SQLite database, and through the catalog's own HTTP API: installs and
authorizes a Traceable integration instance, syncs it, creates a few catalog services and
maps Traceable services to them. Everything it creates is labelled ``demo: "true"`` and
described as demo data. It prints the URL and an admin token, then serves (with the sync
worker running) until Ctrl-C.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import uvicorn

from service_catalog.auth.service import create_token
from service_catalog.cli_output import console, print_plain
from service_catalog.core.bootstrap import fail, parse_bind
from service_catalog.core.db import Database
from service_catalog.core.migrate import upgrade
from service_catalog.settings import Settings
from service_catalog.testing.simulate import stop_on_signal
from service_catalog.testing.traceable_tenant import Tenant

DEMO_LABELS = {"demo": "true"}
DEMO_NOTE = (
    "Demo data created by 'service-catalog demo' from a simulated Traceable tenant; "
    "not a real system."
)
# Catalog services the demo creates, and the simulated Traceable services mapped to each.
DEMO_SERVICES: list[tuple[str, str, list[str]]] = [
    ("checkout", "Checkout", ["svc-00001", "svc-00002"]),
    ("payments", "Payments", ["svc-00003"]),
    ("identity", "Identity", ["svc-00004", "svc-00005"]),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _check(resp: httpx.Response, what: str) -> dict[str, Any]:
    if resp.status_code >= 300:
        raise RuntimeError(f"demo setup failed to {what}: HTTP {resp.status_code} {resp.text}")
    return dict(resp.json())


def sync_and_wait(api: httpx.Client, iid: str) -> dict[str, Any]:
    """ "Sync now" through the API; the catalog's own background worker runs it. The run,
    once it ended successfully (an error otherwise)."""
    before = _check(
        api.get(f"/v1/integration-instances/{iid}/sync-runs", params={"page[size]": 1}),
        "read the sync runs",
    )["data"]
    _check(
        api.put(f"/v1/integration-instances/{iid}/resource-ingestion", json={}), "schedule a sync"
    )
    run: dict[str, Any] = {}
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        runs = _check(
            api.get(f"/v1/integration-instances/{iid}/sync-runs", params={"page[size]": 1}),
            "read the sync runs",
        )["data"]
        run = runs[0] if runs and runs[:1] != before else {}
        if run and run.get("status") != "running":
            break
        time.sleep(0.2)
    if run.get("status") != "succeeded":
        raise RuntimeError(f"the demo sync did not succeed: {run or 'it never started'}")
    return run


def stir(api: httpx.Client, iid: str, tenant: Tenant) -> dict[str, Any]:
    """Change the simulated tenant as a week of real work would, and sync again, so the
    mapped catalog services show integration events: a vulnerability opened on
    checkout, one fixed on payments, a new external unauthenticated endpoint carrying
    sensitive data on identity. What changed, and the run."""
    opened = tenant.open_vulnerability("svc-00001", severity="CRITICAL")
    fixed = tenant.open_vulnerabilities_of("svc-00003")[:1]
    for vid in fixed:
        tenant.fix_vulnerability(vid)
    endpoint = tenant.add_endpoint(
        "svc-00004", "POST /v1/password-reset", data_types=("email", "password")
    )
    run = sync_and_wait(api, iid)
    return {"opened": opened, "fixed": fixed, "endpoint": endpoint, "run": run}


def seed(api: httpx.Client, *, traceable_url: str, traceable_token: str) -> dict[str, Any]:
    """Install, authorize and sync a Traceable instance and map some of its services,
    all through the HTTP API (the running catalog's worker syncs); what was created."""
    inst = _check(
        api.post(
            "/v1/integration-instances",
            json={
                "integration_name": "traceable",
                "name": "traceable-demo",
                "display_name": "Traceable (demo data)",
                "description": DEMO_NOTE,
                "labels": DEMO_LABELS,
                "config": {"include_inactive": False, "base_url": traceable_url},
            },
        ),
        "install the Traceable instance",
    )
    iid = str(inst["id"])
    _check(
        api.post(
            f"/v1/integration-instances/{iid}/auth-credential",
            json={
                "type": "multi_key_auth",
                "config": {"headers": [{"name": "authorization", "key": traceable_token}]},
            },
        ),
        "authorize the Traceable instance",
    )
    run = sync_and_wait(api, iid)
    mapped = 0
    for name, display, service_ids in DEMO_SERVICES:
        _check(
            api.post(
                "/v1/catalog-services",
                json={
                    "name": name,
                    "display_name": f"{display} (demo)",
                    "description": DEMO_NOTE,
                    "labels": DEMO_LABELS,
                },
            ),
            f"create catalog service {name}",
        )
        for sid in service_ids:
            _check(
                api.post(
                    "/v1/resource-mappings",
                    json={
                        "service": name,
                        "resource": {
                            "integration_instance": iid,
                            "type": "traceable_service",
                            "config": {"service_id": sid},
                        },
                    },
                ),
                f"map Traceable service {sid} to {name}",
            )
            mapped += 1
    return {"instance_id": iid, "resources": run.get("created"), "mapped": mapped}


def demo(
    bind: Annotated[
        str, typer.Option(help="host:port for the catalog (port 0: any free port).")
    ] = "127.0.0.1:8080",
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Where the demo's SQLite database goes (default: a new temporary "
            "directory; an existing demo database there is replaced).",
        ),
    ] = None,
    services: Annotated[
        int, typer.Option(min=8, max=5000, help="Simulated Traceable services.")
    ] = 40,
    endpoints: Annotated[
        int, typer.Option(min=1, max=200, help="Endpoints per simulated service.")
    ] = 8,
) -> None:
    """Start the catalog with a simulated Traceable tenant installed, synced and partly
    mapped (demo data), print the URL and an admin token, and serve until Ctrl-C."""
    # The API app (every domain) and the simulator (graphql) load when the demo runs, not
    # with every command of the CLI, which imports this module to register the command.
    from service_catalog.app import create_app  # noqa: PLC0415 - see above
    from service_catalog.testing.traceable_sim import TraceableSimulator  # noqa: PLC0415

    host, port = parse_bind(bind) if not bind.endswith(":0") else (bind[:-2], 0)
    port = port or _free_port()
    temporary = directory is None  # a folder the demo made is removed when it stops
    base = directory or Path(tempfile.mkdtemp(prefix="service-catalog-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    db_path = base / "demo.db"
    for old in (db_path, base / "demo.db-wal", base / "demo.db-shm"):
        old.unlink(missing_ok=True)
    settings = Settings(
        database_url=f"sqlite:///{db_path}",
        key_file=str(base / "demo.key"),
        run_worker=True,
        bootstrap_token=False,
        bind=f"{host}:{port}",
    )
    token_value = f"demo-{secrets.token_urlsafe(16)}"
    sim = TraceableSimulator(
        services, endpoints, token_value, inactive_every=6, vulnerable_every=3
    ).start()
    db = Database(settings.database_url)
    upgrade(db)
    with db.session() as session:
        _, admin_token = create_token(session, name="demo admin", role="admin")
    app = create_app(settings, db=db)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, name="demo-server", daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            sim.stop()
            raise fail(f"the catalog did not start on {host}:{port}")
        time.sleep(0.05)
    url = f"http://{host}:{port}"

    def shut_down(wait: float) -> None:
        server.should_exit = True
        thread.join(wait)
        sim.stop()
        db.dispose()
        if temporary:
            shutil.rmtree(base, ignore_errors=True)

    try:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=60
        ) as api:
            made = seed(api, traceable_url=sim.url, traceable_token=token_value)
            stirred = stir(api, made["instance_id"], sim.tenant)
    except Exception as exc:  # shown to the user, then stop cleanly
        shut_down(10)
        raise fail(f"demo setup failed: {exc}") from None

    console.print(
        f"\n[bold green]Service catalog demo[/] (demo data: a simulated Traceable "
        f"tenant on {sim.url})",
        soft_wrap=True,
    )
    print_plain(f"URL: {url}")
    print_plain(f"Admin token: {admin_token}")
    print_plain(
        f"Database: {db_path}\n"
        f"Traceable instance 'traceable-demo' synced {made['resources']} services; "
        f"{made['mapped']} are mapped to the demo catalog services "
        f"{', '.join(n for n, _, _ in DEMO_SERVICES)}.\n"
        f"A second sync brought {stirred['run'].get('events', 0)} integration events (a "
        "vulnerability opened, one fixed, a new exposed endpoint): GET /v1/integration-events\n"
        f"Try:  curl -g -H 'Authorization: Bearer {admin_token}' "
        f"'{url}/v1/resources?filter[integration.name]=traceable'\n"
        f"      API docs at {url}/docs\n"
        "Press Ctrl-C to stop."
    )

    stop = stop_on_signal()
    while not stop.is_set() and thread.is_alive():
        stop.wait(0.5)
    console.print("Stopping the demo.")
    shut_down(15)


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the ``service-catalog`` command."""
    app.command("demo")(demo)

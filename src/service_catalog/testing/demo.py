"""``service-catalog demo``: the catalog with all four simulated integrations, in one
command, on demo data.

Starts four simulators on loopback - a Traceable tenant (:mod:`.traceable_sim`), a Kong
Gateway Admin API (:mod:`.gateway_manager_sim`), a GitHub organization
(:mod:`.github_sim`) and a PagerDuty account (:mod:`.pagerduty_sim`) - whose tenants name
the same services (``checkout``, ``payments``, ``identity``: a Traceable service, a
gateway service, a repository ``acme/<name>`` and a PagerDuty service each), then the
catalog on a fresh SQLite database. Through the catalog's own HTTP API it installs and
authorizes an instance of each integration, syncs them, creates those catalog services and
maps each one's four resources to it; then changes the tenants as a week of work would and
syncs again, so the services show events from every integration. Everything it creates is
labelled ``demo: "true"`` and described as demo data. It prints the URL and an admin
token, then serves (with the sync worker running) until Ctrl-C.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from service_catalog.auth.service import create_token
from service_catalog.cli_output import console, print_plain
from service_catalog.core.bootstrap import fail, parse_bind
from service_catalog.core.db import Database
from service_catalog.core.migrate import upgrade
from service_catalog.settings import Settings
from service_catalog.testing.simulate import stop_on_signal

if TYPE_CHECKING:
    import httpx

    from service_catalog.testing.demo_tenants import Tenants

DEMO_LABELS = {"demo": "true"}
DEMO_NOTE = (
    "Demo data created by 'service-catalog demo' from simulated Traceable, Kong Gateway, "
    "GitHub and PagerDuty tenants; not a real system."
)
# Catalog services the demo creates, and the simulated Traceable services mapped to each
# (the first one of each carries the catalog service's name; the other integrations'
# tenants have one resource of that name each: see demo_tenants).
DEMO_SERVICES: list[tuple[str, str, list[str]]] = [
    ("checkout", "Checkout", ["svc-00001", "svc-00002"]),
    ("payments", "Payments", ["svc-00003"]),
    ("identity", "Identity", ["svc-00004", "svc-00005"]),
]
GITHUB_OWNER = "acme"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _check(resp: httpx.Response, what: str) -> dict[str, Any]:
    if resp.status_code >= 300:
        raise RuntimeError(f"demo setup failed to {what}: HTTP {resp.status_code} {resp.text}")
    return dict(resp.json())


def _latest_run(api: httpx.Client, iid: str) -> dict[str, Any] | None:
    runs = _check(
        api.get(f"/v1/integration-instances/{iid}/sync-runs", params={"page[size]": 1}),
        "read the sync runs",
    )["data"]
    return dict(runs[0]) if runs else None


def sync_and_wait(api: httpx.Client, *iids: str) -> dict[str, dict[str, Any]]:
    """ "Sync now" through the API for each instance; the catalog's own background worker
    runs them. Each instance's run, once all ended successfully (an error otherwise)."""
    before = {iid: _latest_run(api, iid) for iid in iids}
    for iid in iids:
        _check(
            api.put(f"/v1/integration-instances/{iid}/resource-ingestion", json={}),
            "schedule a sync",
        )
    runs: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(runs) < len(iids):
        for iid in iids:
            if iid in runs:
                continue
            run = _latest_run(api, iid)
            if run and run != before[iid] and run.get("status") != "running":
                runs[iid] = run
        time.sleep(0.2)
    for iid in iids:
        run = runs.get(iid) or {}
        if run.get("status") != "succeeded":
            raise RuntimeError(f"the demo sync did not succeed: {run or 'it never ended'}")
    return runs


def stir(api: httpx.Client, iids: dict[str, str], tenants: Tenants) -> dict[str, Any]:
    """Change the simulated tenants as a week of real work would, and sync every instance
    again, so the mapped catalog services show integration events: on checkout a
    vulnerability opened (Traceable) and a pull request opened (GitHub); on payments a
    vulnerability fixed (Traceable) and an incident triggered (PagerDuty); on identity a
    new external unauthenticated endpoint carrying sensitive data (Traceable) and a
    rate-limiting plugin added on its gateway service (Kong). What changed, and the runs."""
    tenant = tenants.traceable_tenant
    opened = tenant.open_vulnerability("svc-00001", severity="CRITICAL")
    fixed = tenant.open_vulnerabilities_of("svc-00003")[:1]
    for vid in fixed:
        tenant.fix_vulnerability(vid)
    endpoint = tenant.add_endpoint(
        "svc-00004", "POST /v1/password-reset", data_types=("email", "password")
    )
    pr = tenants.github.open_pr("checkout", "Retry declined card authorizations", author="dev1")
    incident = tenants.pagerduty.trigger(
        tenants.pagerduty_service_id("payments"), "Payment provider timeouts", "high"
    )
    gateway = tenants.gateway
    existing = {
        p["name"]
        for p in gateway.plugins()
        if (p.get("service") or {}).get("id") == tenants.gateway_service_id("identity")
    }
    plugin = "rate-limiting" if "rate-limiting" not in existing else "ip-restriction"
    gateway.add_plugin(tenants.gateway_service_id("identity"), plugin)
    runs = sync_and_wait(api, *iids.values())
    return {
        "opened": opened,
        "fixed": fixed,
        "endpoint": endpoint,
        "pull_request": pr["number"],
        "incident": incident,
        "plugin": plugin,
        "events": sum(int(r.get("events") or 0) for r in runs.values()),
    }


def _install(
    api: httpx.Client,
    integration: str,
    name: str,
    display_name: str,
    config: dict[str, Any],
    header: str,
    key: str,
) -> str:
    inst = _check(
        api.post(
            "/v1/integration-instances",
            json={
                "integration_name": integration,
                "name": name,
                "display_name": display_name,
                "description": DEMO_NOTE,
                "labels": DEMO_LABELS,
                "config": config,
            },
        ),
        f"install the {integration} instance",
    )
    iid = str(inst["id"])
    _check(
        api.post(
            f"/v1/integration-instances/{iid}/auth-credential",
            json={"type": "multi_key_auth", "config": {"headers": [{"name": header, "key": key}]}},
        ),
        f"authorize the {integration} instance",
    )
    return iid


def seed(api: httpx.Client, tenants: Tenants) -> dict[str, Any]:
    """Install, authorize and sync an instance of each integration against its simulator
    and map each demo service's four resources to it, all through the HTTP API (the
    running catalog's worker syncs); what was created."""
    token = tenants.token
    iids = {
        "traceable": _install(
            api,
            "traceable",
            "traceable-demo",
            "Traceable (demo data)",
            {"include_inactive": False, "base_url": tenants.traceable.url},
            "authorization",
            token,
        ),
        "gateway-manager": _install(
            api,
            "gateway-manager",
            "kong-demo",
            "Kong Gateway (demo data)",
            {"base_url": tenants.gateway.url},
            "Kong-Admin-Token",
            token,
        ),
        "github": _install(
            api,
            "github",
            "github-demo",
            "GitHub (demo data)",
            {"base_url": tenants.github.url, "owner": GITHUB_OWNER},
            "authorization",
            token,
        ),
        "pagerduty": _install(
            api,
            "pagerduty",
            "pagerduty-demo",
            "PagerDuty (demo data)",
            {"base_url": tenants.pagerduty.url},
            "authorization",
            token,
        ),
    }
    runs = sync_and_wait(api, *iids.values())
    mapped = 0
    for name, display, traceable_ids in DEMO_SERVICES:
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
        resources: list[tuple[str, str, dict[str, str]]] = [
            ("traceable", "traceable_service", {"service_id": sid}) for sid in traceable_ids
        ]
        resources += [
            (
                "gateway-manager",
                "gateway_svc",
                {
                    "control_plane_id": "default",
                    "gateway_service_id": tenants.gateway_service_id(name),
                },
            ),
            ("github", "github_repository", {"owner": GITHUB_OWNER, "repo": name}),
            (
                "pagerduty",
                "pagerduty_service",
                {"service_id": tenants.pagerduty_service_id(name)},
            ),
        ]
        for integration, kind, config in resources:
            _check(
                api.post(
                    "/v1/resource-mappings",
                    json={
                        "service": name,
                        "resource": {
                            "integration_instance": iids[integration],
                            "type": kind,
                            "config": config,
                        },
                    },
                ),
                f"map the {kind} {config} to {name}",
            )
            mapped += 1
    return {
        "instances": iids,
        "resources": {k: runs[iid].get("created") for k, iid in iids.items()},
        "mapped": mapped,
    }


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
    """Start the catalog with simulated Traceable, Kong Gateway, GitHub and PagerDuty
    tenants installed, synced and mapped to three catalog services (demo data), print the
    URL and an admin token, and serve until Ctrl-C."""
    # The API app (every domain), its web server, the HTTP client and the simulators
    # (graphql, JWT) load when the demo runs, not with every command of the CLI, which
    # imports this module to register the command.
    import httpx  # noqa: PLC0415 - see above
    import uvicorn  # noqa: PLC0415 - see above

    from service_catalog.app import create_app  # noqa: PLC0415 - see above
    from service_catalog.testing.demo_tenants import start_tenants  # noqa: PLC0415

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
    tenants = start_tenants(services, endpoints)
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
            tenants.stop()
            raise fail(f"the catalog did not start on {host}:{port}")
        time.sleep(0.05)
    url = f"http://{host}:{port}"

    def shut_down(wait: float) -> None:
        server.should_exit = True
        thread.join(wait)
        tenants.stop()
        db.dispose()
        if temporary:
            shutil.rmtree(base, ignore_errors=True)

    try:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=60
        ) as api:
            made = seed(api, tenants)
            stirred = stir(api, made["instances"], tenants)
    except Exception as exc:  # shown to the user, then stop cleanly
        shut_down(10)
        raise fail(f"demo setup failed: {exc}") from None

    console.print(
        "\n[bold green]Service catalog demo[/] (demo data: simulated Traceable, Kong "
        "Gateway, GitHub and PagerDuty tenants on loopback)",
        soft_wrap=True,
    )
    counts = made["resources"]
    print_plain(f"URL: {url}")
    print_plain(f"Admin token: {admin_token}")
    print_plain(
        f"Database: {db_path}\n"
        f"Synced {counts['traceable']} Traceable services, {counts['gateway-manager']} "
        f"gateway services, {counts['github']} repositories and {counts['pagerduty']} "
        f"PagerDuty services; the demo catalog services "
        f"{', '.join(n for n, _, _ in DEMO_SERVICES)} each have one of every kind mapped "
        f"({made['mapped']} mappings).\n"
        f"A second sync brought {stirred['events']} integration events (vulnerabilities, a "
        "new exposed endpoint, a pull request, an incident, a gateway plugin): "
        "GET /v1/integration-events\n"
        f"Try:  curl -g -H 'Authorization: Bearer {admin_token}' "
        f"'{url}/v1/catalog-services/checkout/resources'\n"
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

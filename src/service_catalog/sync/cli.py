"""``service-catalog worker`` and ``service-catalog sync <instance>``."""

from __future__ import annotations

import json
import signal
import threading
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from service_catalog.auth.access import ALL
from service_catalog.cli_output import Output, OutputOpt
from service_catalog.core.bootstrap import fail, load_settings, open_database
from service_catalog.core.db import redact_url
from service_catalog.core.logs import configure_logging

console = Console()


def worker(
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="Syncs this process runs at the same time (threads).")
    ] = 1,
    once: Annotated[
        bool, typer.Option("--once", help="Run the syncs that are due now, then exit.")
    ] = False,
) -> None:
    """Run sync workers (without the HTTP API). Many may share one PostgreSQL database."""
    # The sync engine and the domains under it load when a sync command runs, not with
    # every command of the CLI (which imports this module to register these two).
    from service_catalog.resources.dataindex import ensure_data_index  # noqa: PLC0415
    from service_catalog.sync.worker import (  # noqa: PLC0415 - see above
        Worker,
        notify,
        run_workers,
        worker_name,
    )

    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    db = open_database(settings)
    ensure_data_index(db)  # what it syncs is indexed for the connectors installed here
    stop = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        stop.set()
        notify()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        if once:
            w = Worker(settings, db, name=worker_name())
            count = 0
            while not stop.is_set() and w.run_once(should_stop=stop.is_set) is not None:
                count += 1
            console.print(f"Ran {count} due sync(s).")
            return
        console.print(
            f"Sync worker running ({concurrency} at a time, polling every "
            f"{settings.worker_poll_seconds:g}s); Ctrl+C stops it."
        )
        run_workers(settings, db, concurrency=concurrency, stop=stop)
    finally:
        db.dispose()


def sync(
    instance: Annotated[str, typer.Argument(help="Integration instance id or name.")],
    output: OutputOpt = Output.table,
) -> None:
    """Sync one integration instance now, in the foreground, and print what changed."""
    # Loaded when the command runs, as in worker() above.
    from service_catalog.resources.dataindex import ensure_data_index  # noqa: PLC0415
    from service_catalog.sync import service  # noqa: PLC0415 - see worker()
    from service_catalog.sync.engine import Progress as SyncProgress  # noqa: PLC0415
    from service_catalog.sync.models import SyncState  # noqa: PLC0415 - see worker()
    from service_catalog.sync.worker import Worker  # noqa: PLC0415 - see worker()

    settings = load_settings()
    configure_logging(settings.log_format, "ERROR")
    db = open_database(settings)
    ensure_data_index(db)  # see worker()
    try:
        with db.session() as session:
            inst = service.find_instance(session, instance)
            if inst is None:
                raise fail(
                    f"no integration instance with id or name {instance!r} in the "
                    f"database {redact_url(settings.database_url)}; list them with "
                    "GET /v1/integration-instances (or point "
                    "SERVICE_CATALOG_DATABASE_URL at the catalog's database)"
                )
            if not inst.authorized:
                cred = f"/v1/integration-instances/{inst.id}/auth-credential"
                todo = (
                    f"verify its auth credential again (POST {cred}/verify)"
                    if service.has_credential(session, inst)
                    else f"add a valid auth credential first (POST {cred})"
                )
                raise fail(f"integration instance {inst.name!r} is not authorized; {todo}")
            if inst.integration_name not in service.polled_integrations():
                raise fail(
                    f"integration instance {inst.name!r} is push-based: its resources "
                    "arrive by PUT .../resources, so there is nothing to sync"
                )
            service.ensure_state(session, inst)
            inst_id, inst_name = inst.id, inst.name

        started = time.monotonic()
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=output is Output.json,
        ) as bar:
            task = bar.add_task(
                f"Syncing {inst_name}", total=None, detail="waiting for the first page"
            )

            def on_progress(p: SyncProgress) -> None:
                bar.update(
                    task, detail=f"{p.pages} pages, {p.resources:,} resources, {p.rate:,.0f}/s"
                )

            run = Worker(settings, db).run_once(
                instance_id=inst_id, force=True, trigger="cli", on_progress=on_progress
            )
            bar.update(
                task,
                description=f"Synced {inst_name}"
                if run is not None and run.status == "succeeded"
                else f"Sync of {inst_name} ended",
            )
        if run is None:
            with db.session() as session:
                state = session.get(SyncState, inst_id)
                owner = state.lease_owner if state is not None else None
            raise fail(
                f"integration instance {inst_name!r} is being synced by worker "
                f"{owner or 'another worker'} right now; try again when it finishes"
            )
        duration = time.monotonic() - started
        summary = {
            "run_id": str(run.id),
            "instance": inst_name,
            "status": run.status,
            **service.run_counts(run),
            "duration_seconds": round(duration, 3),
            "error": run.error,
        }
        if output is Output.json:
            console.print_json(json.dumps(summary))
        else:
            table = Table(title=f"Sync of {inst_name}: {run.status}", show_header=False)
            table.add_column("what")
            table.add_column("value", justify="right")
            for label in ("pages", "created", "updated", "unchanged", "vanished", "events"):
                table.add_row(label, f"{summary[label]:,}")
            table.add_row("duration", f"{duration:.1f}s")
            table.add_row("run id", str(run.id))
            if run.error:
                table.add_row("error", run.error)
            console.print(table)
        if run.status != "succeeded":
            with db.session() as session:
                state_view = service.get_ingestion(session, instance_id=str(inst_id), rights=ALL)
            remediation = state_view["scheduler_state"].get("remediation")
            raise fail(
                f"the sync failed: {run.error}"
                + (f"\n  what to do: {remediation}" if remediation else "")
            )
    finally:
        db.dispose()


def register(app: typer.Typer) -> None:
    """Add ``worker`` and ``sync`` to the ``service-catalog`` command."""
    app.command("worker")(worker)
    app.command("sync")(sync)

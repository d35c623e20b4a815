"""``service-catalog simulate traceable``: the bundled Traceable simulator as a process of
its own, so the README's Traceable flow can be followed without a Traceable account.

It serves Traceable's GraphQL API (``POST /graphql``) over a generated tenant on a
loopback port and prints the ``base_url`` and the token to give the catalog. It is a
simulator: its data are generated, labelled as such, and gone when it stops.
"""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from service_catalog.cli_output import print_plain
from service_catalog.core.bootstrap import fail, parse_bind


def stop_on_signal() -> threading.Event:
    """An event that Ctrl-C (SIGINT) or SIGTERM sets: what a command serving in the
    foreground waits on before it stops cleanly."""
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


simulate_app = typer.Typer(
    help="Run a bundled simulator of an upstream system (generated demo data, on loopback).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@simulate_app.command("traceable")
def traceable(
    bind: Annotated[
        str, typer.Option(metavar="HOST:PORT", help="Where the simulator listens.")
    ] = "127.0.0.1:8090",
    token: Annotated[
        str,
        typer.Option(
            metavar="TOKEN", help="The platform API token it accepts in the Authorization header."
        ),
    ] = "sim-token",
    services: Annotated[
        int, typer.Option(min=1, max=100_000, help="Simulated Traceable services.")
    ] = 40,
    endpoints: Annotated[int, typer.Option(min=0, max=1000, help="API endpoints per service.")] = 8,
) -> None:
    """Serve a simulated Traceable tenant until Ctrl-C; prints the base_url and token."""
    # The simulator (graphql) loads when the command runs, not with every command of the CLI.
    from service_catalog.testing.traceable_sim import TraceableSimulator  # noqa: PLC0415

    host, port = parse_bind(bind)
    try:
        sim = TraceableSimulator(
            services, endpoints, token, host=host, port=port, inactive_every=6, vulnerable_every=3
        ).start()
    except OSError as exc:
        raise fail(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another "
            "with --bind HOST:PORT"
        ) from None
    print_plain(
        f"Simulated Traceable tenant (generated demo data) on {sim.url}\n"
        f"base_url: {sim.url}\n"
        f"token:    {token}\n"
        f"{services} services, {endpoints} endpoints each. Press Ctrl-C to stop."
    )
    stop_on_signal().wait()
    sim.stop()


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to the ``service-catalog`` command."""
    app.add_typer(simulate_app, name="simulate")

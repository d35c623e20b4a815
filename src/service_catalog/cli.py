"""The ``service-catalog`` command line."""

from __future__ import annotations

import datetime as dt
import errno
import shutil
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy import inspect, text

from service_catalog.cli_output import Output, OutputOpt, console, print_rows
from service_catalog.core.db import Database, redact_url, utcnow
from service_catalog.settings import Settings
from service_catalog.sync import cli as sync_cli
from service_catalog.testing import demo, simulate

app = typer.Typer(
    help="A self-hosted service catalog, wire-compatible with Kong Konnect's Service Catalog API.",
    epilog="Settings come from SERVICE_CATALOG_* environment variables (see the README). "
           "Start with 'service-catalog serve'; it migrates the database and, on first start, "
           "prints an admin token.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: rich mode mislabels flags as "<bool>" with click 8.2+.
    rich_markup_mode=None,
)
token_app = typer.Typer(help="Create, list and revoke API access tokens.", no_args_is_help=True,
                        rich_markup_mode=None)
app.add_typer(token_app, name="token")

err = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error for the user and return the exit to raise."""
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True, highlight=False)
    return typer.Exit(code)


def load_settings() -> Settings:
    """Settings from the environment; a bad value is a clear error, not a traceback."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"SERVICE_CATALOG_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        raise fail(f"invalid settings: {problems}") from None


class _State:
    """Options given before the command (``service-catalog --verbose sync ...``)."""

    verbose = False


@app.callback()
def _options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Say which database and "
                                          "settings each command uses.")] = False,
) -> None:
    _State.verbose = verbose


def command_name() -> str:
    """This command as the user can type it again: ``service-catalog`` when that is what
    the shell finds on PATH, else the path it was started by (e.g. ``.venv/bin/service-catalog``)."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "service-catalog"
    started = Path(argv0)
    if started.name != "service-catalog":
        return "service-catalog"
    on_path = shutil.which("service-catalog")
    if on_path and started.exists() and Path(on_path).resolve() == started.resolve():
        return "service-catalog"
    try:
        shown = started.resolve().relative_to(Path.cwd())
        return f"./{shown}" if len(shown.parts) == 1 else str(shown)
    except ValueError:
        return str(started.resolve()) if started.exists() else argv0


def open_database(settings: Settings, *, migrate: bool = True, create: bool = False) -> Database:
    """Open, check and (by default) migrate the database, or exit with a clear message.

    Only the commands that make a catalog (``serve``, ``migrate``, ``demo``) pass
    ``create=True``; every other command refuses a database that does not exist yet, so
    that one run from another folder cannot silently start an empty catalog there.
    """
    safe = redact_url(settings.database_url)
    path = settings.sqlite_path()
    where = f"{safe} (file {path.resolve()})" if path is not None else safe
    if _State.verbose:
        err.print(f"using database {where}", highlight=False, soft_wrap=True)
    if path is not None and not create and not path.exists():
        raise fail(f"no catalog database at {where}. Run this command where "
                   "'service-catalog serve' runs, or point SERVICE_CATALOG_DATABASE_URL at the "
                   "catalog's database, e.g. SERVICE_CATALOG_DATABASE_URL=sqlite:////abs/path/"
                   "service-catalog.db")
    try:
        db = Database(settings.database_url)
    except Exception as exc:  # noqa: BLE001 - any bad URL is a user error here
        raise fail(f"cannot use database URL {safe}: {type(exc).__name__}: "
                   f"{_scrub(str(exc), settings.database_url)}") from None
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            empty = not create and not inspect(conn).has_table("alembic_version")
    except Exception as exc:  # noqa: BLE001
        reason = _scrub(str(getattr(exc, "orig", exc)).strip().splitlines()[0]
                        if str(exc).strip() else type(exc).__name__, settings.database_url)
        db.dispose()
        raise fail(f"cannot reach the database at {safe}: {reason}") from None
    if empty:
        db.dispose()
        raise fail(f"the database at {where} holds no catalog yet; start "
                   "'service-catalog serve' (or run 'service-catalog migrate') on it first")
    if migrate:
        from service_catalog.core.migrate import upgrade

        try:
            upgrade(db)
        except Exception as exc:  # noqa: BLE001
            db.dispose()
            raise fail(f"could not migrate the database at {safe}: "
                       f"{_scrub(str(exc).splitlines()[0], settings.database_url)}") from None
    return db


def _scrub(message: str, url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        password = make_url(url).password
    except Exception:  # noqa: BLE001
        password = None
    if password:
        message = message.replace(str(password), "***")
    return message


def bootstrap_admin_token(db: Database, settings: Settings) -> str | None:
    """On an empty database, create an admin token and return it (it is shown once)."""
    if not settings.bootstrap_token:
        return None
    from service_catalog.auth.service import count_tokens, create_token

    with db.session() as session:
        if count_tokens(session) > 0:
            return None
        _, token = create_token(session, name="admin (first start)", role="admin")
        return token


def parse_bind(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit() or not (0 < int(port) < 65536):
        raise fail(f"invalid bind address {bind!r}; expected host:port such as 127.0.0.1:8080")
    return host.strip("[]"), int(port)


@app.command()
def serve(
    bind: Annotated[str | None, typer.Option(
        metavar="HOST:PORT",
        help="Address to listen on (default: SERVICE_CATALOG_BIND, else 127.0.0.1:8080).",
    )] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, metavar="N",
        help="uvicorn worker processes (default: SERVICE_CATALOG_WORKERS, else 1).",
    )] = None,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Do not run the sync worker "
                                            "in this process.")] = False,
) -> None:
    """Start the catalog's HTTP API (and, by default, a sync worker)."""
    import os

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    settings = load_settings()
    host, port = parse_bind(bind or settings.bind)
    n_workers = workers or settings.workers
    # Bind before anything else starts or is announced: a taken port is one clear line.
    sock = listen_socket(host, port)
    db = open_database(settings, create=True)
    token = bootstrap_admin_token(db, settings)
    db.dispose()
    if token:
        console.print(
            "\n[bold green]First start:[/] created an admin API token. It is shown only once; "
            "store it now:\n\n"
            f"    [bold]{token}[/]\n\n"
            "Use it as 'Authorization: Bearer <token>'. Create more with "
            f"'{command_name()} token create --name NAME'.\n",
            soft_wrap=True,
        )
    if no_worker:
        os.environ["SERVICE_CATALOG_RUN_WORKER"] = "false"
    shown = f"[{host}]" if ":" in host else host
    console.print(f"Service catalog listening on http://{shown}:{port} "
                  f"(API docs at http://{shown}:{port}/docs, database "
                  f"{redact_url(settings.database_url)})", soft_wrap=True)
    sys.stdout.flush()
    config = uvicorn.Config("service_catalog.app:app_from_env", factory=True, host=host,
                            port=port, workers=n_workers, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    if n_workers > 1:
        Multiprocess(config, target=server.run, sockets=[sock]).run()
    else:
        server.run(sockets=[sock])


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (as uvicorn binds it), or a clear exit when the
    address is taken or not ours."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise fail(f"cannot listen on {host}:{port}: the port is already in use (another "
                       "catalog running?); choose another with --bind HOST:PORT or "
                       "SERVICE_CATALOG_BIND") from None
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)  # from here a second server's bind fails, even before uvicorn starts
    sock.set_inheritable(True)
    return sock


@app.command()
def migrate() -> None:
    """Apply database migrations (also done on every start of serve)."""
    settings = load_settings()
    db = open_database(settings, migrate=True, create=True)
    db.dispose()
    console.print(f"Database {redact_url(settings.database_url)} is up to date.")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(metavar="NAME",
                                      help="What the token is for, e.g. 'ci' or 'alice'.")],
    expires_in_days: Annotated[int | None, typer.Option(min=1, metavar="DAYS",
                                                        help="Expire after this many "
                                                        "days (default: never).")] = None,
    role: Annotated[str, typer.Option(metavar="ROLE", help="Role of the token.")] = "admin",
) -> None:
    """Create an access token and print it once."""
    from service_catalog.auth.service import create_token

    if not name.strip() or len(name) > 120:
        raise fail("--name must be 1-120 characters")
    settings = load_settings()
    db = open_database(settings)
    expires = utcnow() + dt.timedelta(days=expires_in_days) if expires_in_days else None
    try:
        with db.session() as session:
            row, token = create_token(session, name=name, role=role, expires_at=expires)
            ident = str(row.id)
    except ValueError as exc:
        raise fail(str(exc)) from None
    finally:
        db.dispose()
    console.print(f"Created token [bold]{ident}[/] ({name}). It is shown only once:")
    console.print(token, soft_wrap=True, highlight=False)


@token_app.command("list")
def token_list(output: OutputOpt = Output.table) -> None:
    """List tokens (never their values)."""
    from service_catalog.auth.service import list_tokens

    settings = load_settings()
    db = open_database(settings)
    now = utcnow()
    with db.session() as session:
        rows = [{"id": str(t.id), "name": t.name, "role": t.role, "prefix": t.prefix + "…",
                 "created": _d(t.created_at, output), "expires": _d(t.expires_at, output),
                 "last_used": _d(t.last_used_at, output),
                 "state": ("revoked" if t.revoked_at else
                           "expired" if t.expires_at and t.expires_at <= now else "active")}
                for t in list_tokens(session)]
    db.dispose()
    if not rows and output is Output.table:
        console.print("No tokens.")
        return
    print_rows(rows, output)


def _d(value: dt.datetime | None, output: Output = Output.table) -> str | None:
    if value is None:
        return None if output is Output.json else "-"
    return value.isoformat() if output is Output.json else value.strftime("%Y-%m-%d %H:%M")


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="Token id (or a unique prefix).")]
                 ) -> None:
    """Revoke a token; requests with it get 401 from then on."""
    from service_catalog.auth.service import revoke_token

    settings = load_settings()
    db = open_database(settings)
    try:
        with db.session() as session:
            row = revoke_token(session, token_id=token_id)
            if row is None:
                raise fail(f"no single token matches {token_id!r}; see 'service-catalog token list'")
            label = f"{row.id} ({row.name})"
    finally:
        db.dispose()
    console.print(f"Revoked token {label}.")


# The commands that live with what they run: worker and sync, demo, simulate.
sync_cli.register(app)
demo.register(app)
simulate.register(app)


def main() -> None:
    """Entry point of the ``service-catalog`` command."""
    app()

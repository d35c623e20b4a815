"""What every command shares before it does its job: settings from the environment, the
database opened, checked and migrated, and an address to listen on, each failing as one
clear line for the user (a :class:`typer.Exit`), never a traceback.

Used by ``service_catalog.cli`` (``serve``, ``migrate``, ``token``), ``sync/cli.py``
(``worker``, ``sync``) and the demo commands in ``testing/``; it knows no domain.
"""

from __future__ import annotations

import errno
import socket

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from service_catalog.core.db import Database, redact_url
from service_catalog.core.migrate import upgrade
from service_catalog.settings import Settings

err = Console(stderr=True)


class Options:
    """Options given before the command (``service-catalog --verbose sync ...``)."""

    verbose = False


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


def open_database(settings: Settings, *, migrate: bool = True, create: bool = False) -> Database:
    """Open, check and (by default) migrate the database, or exit with a clear message.

    Only the commands that make a catalog (``serve``, ``migrate``, ``demo``) pass
    ``create=True``; every other command refuses a database that does not exist yet, so
    that one run from another folder cannot silently start an empty catalog there.
    """
    safe = redact_url(settings.database_url)
    path = settings.sqlite_path()
    where = f"{safe} (file {path.resolve()})" if path is not None else safe
    if Options.verbose:
        err.print(f"using database {where}", highlight=False, soft_wrap=True)
    if path is not None and not create and not path.exists():
        raise fail(
            f"no catalog database at {where}. Run this command where "
            "'service-catalog serve' runs, or point SERVICE_CATALOG_DATABASE_URL at the "
            "catalog's database, e.g. SERVICE_CATALOG_DATABASE_URL=sqlite:////abs/path/"
            "service-catalog.db"
        )
    try:
        db = Database(settings.database_url)
    except Exception as exc:  # any bad URL is a user error here
        raise fail(
            f"cannot use database URL {safe}: {type(exc).__name__}: "
            f"{_scrub(str(exc), settings.database_url)}"
        ) from None
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            empty = not create and not inspect(conn).has_table("alembic_version")
    except Exception as exc:
        reason = _scrub(
            str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            if str(exc).strip()
            else type(exc).__name__,
            settings.database_url,
        )
        db.dispose()
        raise fail(f"cannot reach the database at {safe}: {reason}") from None
    if empty:
        db.dispose()
        raise fail(
            f"the database at {where} holds no catalog yet; start "
            "'service-catalog serve' (or run 'service-catalog migrate') on it first"
        )
    if migrate:
        try:
            upgrade(db)
        except Exception as exc:
            db.dispose()
            raise fail(
                f"could not migrate the database at {safe}: "
                f"{_scrub(str(exc).splitlines()[0], settings.database_url)}"
            ) from None
    return db


def _scrub(message: str, url: str) -> str:
    try:
        password = make_url(url).password
    except Exception:
        password = None
    if password:
        message = message.replace(str(password), "***")
    return message


def parse_bind(bind: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:8080`` for IPv6) as a (host, port) pair, or a clear exit."""
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit() or not (0 < int(port) < 65536):
        raise fail(f"invalid bind address {bind!r}; expected host:port such as 127.0.0.1:8080")
    return host.strip("[]"), int(port)


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
            raise fail(
                f"cannot listen on {host}:{port}: the port is already in use (another "
                "catalog running?); choose another with --bind HOST:PORT or "
                "SERVICE_CATALOG_BIND"
            ) from None
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)  # from here a second server's bind fails, even before uvicorn starts
    sock.set_inheritable(True)
    return sock

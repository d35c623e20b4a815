"""The ``service-catalog`` command line.

Every command imports this module (and the modules registering the other commands), so
its imports stay light: settings, the database and the auth tables. What only some
commands run loads inside them: the web server (uvicorn, FastAPI, the app) in ``serve``
and ``demo``, the event log's domains in the commands that record an action, the sync
engine and the connectors in ``sync``/``worker``, catalog files in ``plan``/``apply``/
``import``. ``tests/test_cli_imports.py`` keeps FastAPI, uvicorn and Jinja out of it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from service_catalog.auth.access import EVERY, ORGANIZATION_ADMIN, ROLE_NAMES
from service_catalog.auth.models import USER, User
from service_catalog.auth.service import (
    SYSTEM,
    check_role,
    count_tokens,
    create_token,
    ensure_assignment,
    issue_token,
    list_tokens,
    revoke_token,
)
from service_catalog.catalog_as_code import cli as catalog_as_code_cli
from service_catalog.catalog_services.models import CatalogService
from service_catalog.cli_output import Output, OutputOpt, console, print_rows
from service_catalog.core.bootstrap import (
    Options,
    fail,
    listen_socket,
    load_settings,
    open_database,
    parse_bind,
)
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
token_app = typer.Typer(
    help="Create, list and revoke API access tokens.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(token_app, name="token")
user_app = typer.Typer(
    help="Create users (a self-hosted catalog sends no invitation e-mail).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(user_app, name="user")
ROLE_HELP = "A role: " + ", ".join(f"'{r}'" for r in ROLE_NAMES) + "."


@app.callback()
def _options(
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Say which database and settings each command uses."),
    ] = False,
) -> None:
    Options.verbose = verbose


def command_name() -> str:
    """This command as the user can type it again: ``service-catalog`` when that is what
    the shell finds on PATH, else the path it was started by (e.g.
    ``.venv/bin/service-catalog``)."""
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


def bootstrap_admin_token(db: Database, settings: Settings) -> str | None:
    """On an empty database, create an admin token and return it (it is shown once)."""
    if not settings.bootstrap_token:
        return None
    with db.session() as session:
        if count_tokens(session) > 0:
            return None
        _, token = create_token(session, name="admin (first start)", role=ORGANIZATION_ADMIN)
        return token


@app.command()
def serve(
    bind: Annotated[
        str | None,
        typer.Option(
            metavar="HOST:PORT",
            help="Address to listen on (default: SERVICE_CATALOG_BIND, else 127.0.0.1:8080).",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help="uvicorn worker processes (default: SERVICE_CATALOG_WORKERS, else 1).",
        ),
    ] = None,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Do not run the sync worker in this process.")
    ] = False,
) -> None:
    """Start the catalog's HTTP API (and, by default, a sync worker)."""
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
    console.print(
        f"Service catalog listening on http://{shown}:{port} "
        f"(API docs at http://{shown}:{port}/docs, database "
        f"{redact_url(settings.database_url)})",
        soft_wrap=True,
    )
    sys.stdout.flush()
    # The web server loads here, not with every command (see the module's docstring);
    # the app itself loads in uvicorn, from the path below.
    import uvicorn  # noqa: PLC0415 - see above
    from uvicorn.supervisors import Multiprocess  # noqa: PLC0415 - see above

    config = uvicorn.Config(
        "service_catalog.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=n_workers,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    if n_workers > 1:
        Multiprocess(config, sockets=[sock]).run()  # each worker process runs its own Server
    else:
        server.run(sockets=[sock])


@app.command()
def migrate() -> None:
    """Apply database migrations (also done on every start of serve)."""
    settings = load_settings()
    # The domains load when a command needing them runs, as in sync/cli.py.
    from service_catalog.resources.dataindex import ensure_data_index  # noqa: PLC0415

    db = open_database(settings, migrate=True, create=True)
    try:
        ensure_data_index(db)  # the resource index for the installed connectors
    finally:
        db.dispose()
    console.print(f"Database {redact_url(settings.database_url)} is up to date.")


def _service_id(session: Session, service: str) -> str:
    """``*``, or the id of the catalog service named or id'd by ``service``."""
    if service == EVERY:
        return EVERY
    found = session.scalar(select(CatalogService.id).where(CatalogService.name == service))
    if found is None:
        try:
            by_id = session.get(CatalogService, uuid.UUID(service))
        except ValueError:
            by_id = None
        found = by_id.id if by_id is not None else None
    if found is None:
        raise fail(f"no catalog service is named or has the id {service!r}")
    return str(found)


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(metavar="EMAIL", help="The user's e-mail address.")],
    name: Annotated[str | None, typer.Option(metavar="NAME", help="The user's full name.")] = None,
    role: Annotated[str | None, typer.Option(metavar="ROLE", help=ROLE_HELP)] = None,
    service: Annotated[
        str,
        typer.Option(metavar="SERVICE", help="Where the role applies: a service id or name, or *."),
    ] = EVERY,
) -> None:
    """Create an active user at once, optionally holding a role."""
    # The event log reads every domain's tables: loaded by the commands that record.
    from service_catalog.events.service import record_action  # noqa: PLC0415 - see above

    email = email.strip()
    if "@" not in email or len(email) > 250:
        raise fail("--email must be an e-mail address of at most 250 characters")
    settings = load_settings()
    db = open_database(settings)
    try:
        with db.session() as session:
            if session.scalar(select(User.id).where(User.email == email)) is not None:
                raise fail(f"a user with the e-mail {email!r} already exists")
            user = User(email=email, full_name=name, active=True)
            session.add(user)
            session.flush()
            record_action(
                session,
                actor=SYSTEM,
                type="user.created",
                detail=f"Created user {email} (command line)",
                attributes={"user_id": str(user.id)},
            )
            if role is not None:
                role = check_role(role)
                entity = _service_id(session, service)
                ensure_assignment(
                    session, principal_type=USER, principal_id=user.id, role=role, entity_id=entity
                )
                record_action(
                    session,
                    actor=SYSTEM,
                    type="role.assigned",
                    detail=f"Assigned {role} on {entity} to user {user.id} (command line)",
                    attributes={
                        "principal_type": USER,
                        "principal_id": str(user.id),
                        "role_name": role,
                        "entity_id": entity,
                    },
                )
            ident = str(user.id)
    except ValueError as exc:
        raise fail(str(exc)) from None
    finally:
        db.dispose()
    held = f", {role} on {service}" if role else ""
    console.print(f"Created user [bold]{ident}[/] ({email}{held}).")


@token_app.command("create")
def token_create(
    name: Annotated[
        str, typer.Option(metavar="NAME", help="What the token is for, e.g. 'ci' or 'alice'.")
    ],
    expires_in_days: Annotated[
        int | None,
        typer.Option(min=1, metavar="DAYS", help="Expire after this many days (default: never)."),
    ] = None,
    role: Annotated[
        str | None,
        typer.Option(metavar="ROLE", help=ROLE_HELP + " Default: Organization Admin."),
    ] = None,
    service: Annotated[
        str,
        typer.Option(metavar="SERVICE", help="Where the role applies: a service id or name, or *."),
    ] = EVERY,
    user: Annotated[
        str | None,
        typer.Option(
            metavar="EMAIL",
            help="Make a personal token (kpat_) of this user; --role then assigns it to the user.",
        ),
    ] = None,
) -> None:
    """Create an access token and print it once: a system account's (spat_; the system
    account NAME, created when missing, gains the role) or, with --user, a user's (kpat_)."""
    # Loaded by the commands that record an action, as in user_create().
    from service_catalog.events.service import record_action  # noqa: PLC0415 - see above

    if not name.strip() or len(name) > 120:
        raise fail("--name must be 1-120 characters")
    settings = load_settings()
    db = open_database(settings)
    expires = utcnow() + dt.timedelta(days=expires_in_days) if expires_in_days else None
    try:
        with db.session() as session:
            entity = _service_id(session, service)
            if user is None:
                row, token = create_token(
                    session,
                    name=name,
                    role=role or ORGANIZATION_ADMIN,
                    entity_id=entity,
                    expires_at=expires,
                )
            else:
                holder = session.scalar(select(User).where(User.email == user.strip()))
                if holder is None:
                    raise fail(f"no user has the e-mail {user!r}; create one with 'user create'")
                if not holder.active:
                    raise fail(f"the user {user!r} is deactivated")
                if role is not None:
                    ensure_assignment(
                        session,
                        principal_type=USER,
                        principal_id=holder.id,
                        role=check_role(role),
                        entity_id=entity,
                    )
                row, token = issue_token(
                    session, owner_type=USER, owner_id=holder.id, name=name, expires_at=expires
                )
            record_action(
                session,
                actor=SYSTEM,
                type="access_token.created",
                detail=f"Created access token {name} (command line)",
                attributes={
                    "token_id": str(row.id),
                    "token_name": name,
                    "owner_type": row.owner_type,
                    "owner_id": str(row.owner_id),
                },
            )
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
    settings = load_settings()
    db = open_database(settings)
    now = utcnow()
    with db.session() as session:
        rows = [
            {
                "id": str(t.id),
                "name": t.name,
                "owner": f"{t.owner_type} {t.owner_id}",
                "prefix": t.prefix + "…",
                "created": _d(t.created_at, output),
                "expires": _d(t.expires_at, output),
                "last_used": _d(t.last_used_at, output),
                "state": (
                    "revoked"
                    if t.revoked_at
                    else "expired"
                    if t.expires_at and t.expires_at <= now
                    else "active"
                ),
            }
            for t in list_tokens(session)
        ]
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
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="Token id (or a unique prefix).")],
) -> None:
    """Revoke a token; requests with it get 401 from then on."""
    settings = load_settings()
    db = open_database(settings)
    try:
        with db.session() as session:
            row = revoke_token(session, token_id=token_id)
            if row is None:
                raise fail(
                    f"no single token matches {token_id!r}; see 'service-catalog token list'"
                )
            label = f"{row.id} ({row.name})"
    finally:
        db.dispose()
    console.print(f"Revoked token {label}.")


# The commands that live with what they run: worker and sync, demo, simulate.
sync_cli.register(app)
catalog_as_code_cli.register(app)
demo.register(app)
simulate.register(app)


def main() -> None:
    """Entry point of the ``service-catalog`` command."""
    app()

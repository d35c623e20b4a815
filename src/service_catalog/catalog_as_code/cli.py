"""``service-catalog plan``, ``apply``, ``export`` and ``import backstage``: catalog files
against the catalog's database (as the ``sync`` command works), acting as the system.

Every command of the CLI imports this module to register these, so the catalog-file
machinery (YAML, the documents' schemas, the runner, the Backstage reader and every domain
they write to) loads inside the commands that use it, not here.
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from service_catalog.auth.service import SYSTEM
from service_catalog.cli_output import Output, OutputOpt
from service_catalog.core.bootstrap import fail, load_settings, open_database
from service_catalog.core.db import Database

if TYPE_CHECKING:
    from service_catalog.catalog_as_code.documents import CatalogFileErrors

console = Console()
err = Console(stderr=True)

FilesOpt = Annotated[
    list[str],
    typer.Option(
        "-f",
        "--file",
        help="A catalog file, or a folder (every *.yaml and *.yml under it), or - for "
        "standard input. Repeatable.",
    ),
]
SourceOpt = Annotated[
    str | None,
    typer.Option(
        help="Who applies these files (a repository name). --prune deletes only services "
        "applied by the same source; default: the paths as given.",
    ),
]
PruneOpt = Annotated[
    bool,
    typer.Option(
        "--prune",
        help="Delete the services this source applied that the files no longer name "
        "(a Backstage import also deactivates the users it created that Backstage no "
        "longer lists).",
    ),
]


def read_paths(paths: list[str]) -> list[tuple[str, str]]:
    """``(name, text)`` of every catalog file the paths name (folders walked in name
    order); a path that does not exist or cannot be read is a clear error."""
    files: list[tuple[str, str]] = []
    for given in paths:
        if given == "-":
            files.append(("<stdin>", sys.stdin.read()))
            continue
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
            if not found:
                raise fail(f"{given}: no *.yaml or *.yml file in this folder")
        elif path.exists():
            found = [path]
        else:
            raise fail(f"{given}: no such file or folder")
        for file in found:
            try:
                files.append((str(file), file.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                raise fail(f"{file}: cannot be read ({exc})") from None
    return files


def default_source(paths: list[str]) -> str:
    """The source of files applied without ``--source``: their paths as given."""
    return "files:" + ",".join("stdin" if p == "-" else str(Path(p)) for p in paths)


def _value(value: Any) -> str:
    return escape(json.dumps(value, ensure_ascii=False, default=str))


#: Changes a plan prints for people (``--output json`` has them all).
SHOWN_CHANGES = 200


def print_json(result: dict[str, Any]) -> None:
    """The result as one JSON document (plain: a plan may hold 100,000 changes)."""
    sys.stdout.write(json.dumps(result, default=str, ensure_ascii=False) + "\n")


def print_plan(result: dict[str, Any]) -> None:
    """The plan as a colour diff: + create, ~ update (each field old → new), - delete
    (the first :data:`SHOWN_CHANGES`; the summary counts them all)."""
    marks = {"create": ("+", "green"), "update": ("~", "yellow"), "delete": ("-", "red")}
    for change in result["changes"][:SHOWN_CHANGES]:
        mark, colour = marks[change["action"]]
        where = f"  [dim]({escape(change['file'])}:{change['line']})[/]" if "file" in change else ""
        console.print(
            f"[{colour}]{mark} {change['action']} {change['kind']} "
            f"[bold]{escape(change['name'])}[/bold][/{colour}]{where}",
            highlight=False,
        )
        for name, diff in change.get("fields", {}).items():
            if name == "resources":
                for key in diff["add"]:
                    console.print(f"    [green]+ resource {_value(key)}[/]", highlight=False)
                for key in diff["remove"]:
                    console.print(f"    [red]- resource {_value(key)}[/]", highlight=False)
                continue
            console.print(
                f"    {name}: [red]{_value(diff['old'])}[/] → [green]{_value(diff['new'])}[/]",
                highlight=False,
            )
    hidden = len(result["changes"]) - SHOWN_CHANGES
    if hidden > 0:
        console.print(f"[dim]... and {hidden} more changes (--output json lists every one)[/]")
    for warning in result["warnings"]:
        where = f"{warning['file']}:{warning['line']}: " if warning.get("file") else ""
        console.print(f"[magenta]warning:[/] {escape(where + warning['message'])}", highlight=False)
    s = result["summary"]
    if result["applied"]:
        counts = f"{s['create']} created, {s['update']} updated, {s['delete']} deleted"
    else:
        counts = f"{s['create']} to create, {s['update']} to update, {s['delete']} to delete"
    if "deactivated" in s:  # an import's users (people.run_people), among the updates
        done = "" if result["applied"] else " to be"
        counts += f" (users{done} deactivated: {s['deactivated']}, reactivated: {s['reactivated']})"
        if s.get("left_active"):
            counts += (
                f" ({s['left_active']} users no longer in Backstage left active: "
                "--prune deactivates them)"
            )
    console.print(
        f"{'Applied' if result['applied'] else 'Plan'}: {counts}, {s['unchanged']} unchanged "
        f"(source {escape(result['source'])}).",
        highlight=False,
        soft_wrap=True,
    )


def _print_errors(exc: CatalogFileErrors) -> None:
    for error in exc.errors:
        err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    if exc.more:
        err.print(f"... and {exc.more} more errors", highlight=False)


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector paused for one command's bulk work: reading and
    applying a tree of thousands of documents allocates millions of objects, few of them
    in cycles, and each full collection would walk them all again (a fifth of an import's
    time). A command's process only; the server never pauses it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run_on_database(work: Callable[[Any], dict[str, Any]], *, dry_run: bool) -> dict[str, Any]:
    """``work(session)`` in one transaction on the catalog's database: committed unless
    ``dry_run`` or it failed (catalog file errors print each error and exit 1)."""
    # The catalog-file machinery loads in the commands using it (the module's docstring).
    from service_catalog.catalog_as_code.documents import (  # noqa: PLC0415 - see above
        CatalogFileErrors,
    )

    settings = load_settings()
    db: Database = open_database(settings)
    try:
        with db.session() as session:
            try:
                result = work(session)
            except CatalogFileErrors as exc:
                session.rollback()
                _print_errors(exc)
                raise typer.Exit(1) from None
            if dry_run:
                session.rollback()
        return result
    finally:
        db.dispose()


def _files_command(
    files: list[str], source: str | None, prune: bool, output: Output, *, dry_run: bool
) -> None:
    # Loaded by the commands using it (the module's docstring).
    from service_catalog.catalog_as_code.runner import run_files  # noqa: PLC0415

    texts = read_paths(files)
    src = source or default_source(files)
    with paused_gc():
        result = run_on_database(
            lambda session: run_files(
                session, files=texts, source=src, actor=SYSTEM, prune=prune, dry_run=dry_run
            ),
            dry_run=dry_run,
        )
    if output is Output.json:
        print_json(result)
    else:
        print_plan(result)


def plan(
    files: FilesOpt,
    source: SourceOpt = None,
    prune: PruneOpt = False,
    output: OutputOpt = Output.table,
) -> None:
    """Show what applying catalog files would change (create, update, delete, unchanged)."""
    _files_command(files, source, prune, output, dry_run=True)


def apply(
    files: FilesOpt,
    source: SourceOpt = None,
    prune: PruneOpt = False,
    output: OutputOpt = Output.table,
) -> None:
    """Apply catalog files in one transaction: all of it, or nothing."""
    _files_command(files, source, prune, output, dry_run=False)


def export(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file (default: stdout).")
    ] = None,
) -> None:
    """Write the catalog as catalog files (teams and services; never a secret)."""
    # Loaded by the commands using them (the module's docstring).
    from service_catalog.catalog_as_code.documents import dump_documents  # noqa: PLC0415
    from service_catalog.catalog_as_code.export import export_documents  # noqa: PLC0415

    settings = load_settings()
    db = open_database(settings)
    try:
        with db.session() as session:
            text = dump_documents(export_documents(session))
    finally:
        db.dispose()
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")


import_app = typer.Typer(help="Import a catalog kept elsewhere (Backstage).", no_args_is_help=True)


@import_app.command("backstage")
def import_backstage(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="catalog-info.yaml files, folders (every catalog-info.yaml under them) or "
            "http(s) URLs; Location entities' targets are followed."
        ),
    ],
    source: SourceOpt = None,
    prune: PruneOpt = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; change nothing.")
    ] = False,
    output: OutputOpt = Output.table,
) -> None:
    """Import Backstage entities: Components as catalog services, Groups as teams with
    their members, Users as users, APIs with what provides and consumes them."""
    # Loaded by the commands using them (the module's docstring).
    from service_catalog.catalog_as_code.backstage import (  # noqa: PLC0415 - see above
        convert,
        read_entities,
    )
    from service_catalog.catalog_as_code.documents import (  # noqa: PLC0415 - see above
        CatalogFileErrors,
    )
    from service_catalog.catalog_as_code.people import run_people  # noqa: PLC0415
    from service_catalog.catalog_as_code.runner import run_docs  # noqa: PLC0415

    with paused_gc():
        try:
            imported = convert(read_entities(sources))
        except CatalogFileErrors as exc:
            _print_errors(exc)
            raise typer.Exit(1) from None
        src = source or "backstage:" + ",".join(sources)

        def work(session: Any) -> dict[str, Any]:
            done = run_docs(
                session,
                docs=imported.docs,
                source=src,
                actor=SYSTEM,
                prune=prune,
                dry_run=dry_run,
                apis=imported.apis,
                warnings=imported.warnings,
            )
            run_people(
                session,
                imported.people,
                result=done,
                source=src,
                actor=SYSTEM,
                dry_run=dry_run,
                prune=prune,
            )
            return done

        result = run_on_database(work, dry_run=dry_run)
    if output is Output.json:
        print_json({**result, "entities": imported.entities})
    else:
        print_plan(result)


def register(app: typer.Typer) -> None:
    """Add ``plan``, ``apply``, ``export`` and ``import`` to the ``service-catalog``
    command."""
    app.command("plan")(plan)
    app.command("apply")(apply)
    app.command("export")(export)
    app.add_typer(import_app, name="import")

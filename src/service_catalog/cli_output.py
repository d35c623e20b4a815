"""How commands print what they list: a table for people, or JSON for scripts."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

console = Console()


def print_plain(text: str) -> None:
    """``text`` as is: no markup or highlighting, lines never wrapped (tokens and URLs stay
    whole, to copy)."""
    console.print(text, soft_wrap=True, highlight=False, markup=False)


class Output(str, Enum):
    """How a command prints what it lists."""

    table = "table"
    json = "json"


OutputOpt = Annotated[
    Output,
    typer.Option(
        "--output",
        "-o",
        help="table (for people) or json (for scripts: whole values, one document).",
    ),
]


def print_rows(rows: list[dict[str, Any]], output: Output) -> None:
    """``rows`` as JSON, or as a table (a column per key, headed by the key with spaces for
    underscores) whose cells are never cut: ids stay whole on one line (to copy), the
    other cells wrap."""
    if output is Output.json:
        console.print_json(json.dumps(rows, default=str))
        return
    keys = list(rows[0]) if rows else []
    table = Table(*[k.replace("_", " ") for k in keys], box=box.SIMPLE_HEAD, pad_edge=False)
    for key, col in zip(keys, table.columns, strict=True):
        col.overflow = "fold"
        if key == "id":
            col.no_wrap, col.min_width = True, max(len(str(r[key])) for r in rows)
    for row in rows:
        table.add_row(*["-" if row[k] is None else str(row[k]) for k in keys])
    console.print(table)

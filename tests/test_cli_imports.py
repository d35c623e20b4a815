"""The ``service-catalog`` command starts without the web stack: every command (``--help``,
``token list``, ``import``...) imports ``service_catalog.cli``, so what that module imports
is paid on each of them. The web server, FastAPI and the templates load in ``serve`` and
``demo`` only (see the docstring of ``service_catalog.cli``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# What no command but ``serve`` and ``demo`` needs, and each is a large import.
WEB_STACK = (
    "fastapi",
    "starlette",
    "uvicorn",
    "jinja2",
    "service_catalog.app",
    "service_catalog.web",
)


def loaded_after(code: str, **env: str) -> list[str]:
    """The modules of WEB_STACK (or under them) that a fresh interpreter holds after
    running ``code`` (with ``env`` added to the environment)."""
    probe = (
        f"{code}\n"
        "import json, sys\n"
        f"web = {WEB_STACK!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules "
        "if any(m == w or m.startswith(w + '.') for w in web))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_cli_module_imports_no_web_stack() -> None:
    assert loaded_after("import service_catalog.cli") == []


def test_help_builds_every_command_without_the_web_stack() -> None:
    # --help builds every command's click object (options, help texts) from the Typer
    # apps, as each command's run does before it starts.
    code = "import typer.main\nfrom service_catalog.cli import app\ntyper.main.get_command(app)\n"
    assert loaded_after(code) == []


def test_database_commands_run_without_the_web_stack(tmp_path: Path) -> None:
    # The commands themselves, in one process: what each imports when it runs (the
    # migrations load every domain's tables; the token commands record to the event log;
    # export reads the catalog files' schemas). Imports do not depend on the database, so
    # SQLite stands for both.
    commands = [
        ["migrate"],
        ["token", "create", "--name", "probe"],
        ["token", "list"],
        ["user", "create", "--email", "probe@example.com", "--role", "Service Admin"],
        ["export"],
    ]
    code = (
        "from service_catalog.cli import app\n"
        f"for args in {commands!r}:\n"
        "    app(args, standalone_mode=False)\n"
    )
    loaded = loaded_after(
        code,
        SERVICE_CATALOG_DATABASE_URL=f"sqlite:///{tmp_path / 'catalog.db'}",
        SERVICE_CATALOG_KEY_FILE=str(tmp_path / "test.key"),
    )
    assert loaded == []

"""The CLI as a newcomer meets it: it finds (or refuses) its catalog, says which database it
uses, fails cleanly on a taken port, and takes the database URLs hosting providers hand out."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from serveproc import CLI, ServeProcess, cli_env, run_cli


def no_traceback(result: Any) -> None:
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "command", [("sync", "traceable-prod"), ("token", "create", "--name", "ci"), ("token", "list")]
)
def test_commands_refuse_to_start_a_new_catalog_elsewhere(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    elsewhere = tmp_path / "some-other-folder"
    elsewhere.mkdir()
    env = cli_env("sqlite:///./service-catalog.db", tmp_path)
    result = run_cli(*command, env=env, cwd=elsewhere)
    assert result.returncode != 0
    no_traceback(result)
    assert list(elsewhere.iterdir()) == [], "no database may be created by " + " ".join(command)
    said = " ".join(result.stderr.split())
    assert "no catalog database at sqlite:///./service-catalog.db" in said
    assert str(elsewhere / "service-catalog.db") in said
    assert "SERVICE_CATALOG_DATABASE_URL" in said


def test_commands_refuse_a_database_without_a_catalog(empty_url: str, tmp_path: Path) -> None:
    if empty_url.startswith("sqlite"):
        Path(empty_url.split("///", 1)[1]).touch()  # a file, but no catalog in it
    env = cli_env(empty_url, tmp_path)
    result = run_cli("token", "list", env=env, cwd=tmp_path)
    assert result.returncode != 0
    no_traceback(result)
    assert "holds no catalog yet" in result.stderr
    assert "service-catalog serve" in result.stderr


def test_verbose_names_the_database(database_url: str, tmp_path: Path) -> None:
    env = cli_env(database_url, tmp_path)
    result = run_cli("--verbose", "token", "list", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    shown = " ".join(result.stderr.split())
    assert "using database" in shown
    host_part = database_url.split("@")[-1] if "@" in database_url else database_url
    assert host_part.split("///")[-1] in shown


def test_serve_on_a_taken_port_says_so_and_announces_nothing(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        env = cli_env(f"sqlite:///{tmp_path / 'catalog.db'}", tmp_path)
        result = run_cli("serve", "--bind", f"127.0.0.1:{port}", env=env, cwd=tmp_path)
    finally:
        taken.close()
    assert result.returncode != 0
    no_traceback(result)
    assert "listening" not in result.stdout.lower()
    assert "First start" not in result.stdout, "nothing may happen before the port is ours"
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}: the port is already in use" in lines[0]


def test_postgres_urls_as_providers_write_them(pg: Any, tmp_path: Path) -> None:
    url = pg.new_database()
    try:
        plain = url.replace("postgresql+psycopg://", "postgres://")
        assert plain.startswith("postgres://")
        for form in (plain, url.replace("postgresql+psycopg://", "postgresql://")):
            result = run_cli("token", "create", "--name", "ci", env=cli_env(form, tmp_path))
            assert result.returncode == 0, result.stderr
            assert "Created token" in result.stdout
    finally:
        pg.drop(url)


def test_first_start_hint_is_a_command_that_runs(tmp_path: Path) -> None:
    env = cli_env(f"sqlite:///{tmp_path / 'catalog.db'}", tmp_path)
    env["PATH"] = os.pathsep.join(
        p
        for p in env.get("PATH", "").split(os.pathsep)
        if not (Path(p) / "service-catalog").exists()
    )
    with ServeProcess(env, tmp_path) as first:
        out = " ".join(first.stdout.split())
    assert f"'{CLI} token create --name NAME'" in out or (
        "'.venv/bin/service-catalog token create --name NAME'" in out
    ), out
    hinted = run_cli("token", "create", "--name", "from-hint", env=env, cwd=tmp_path)
    assert hinted.returncode == 0, hinted.stderr


def test_token_list_shows_whole_ids_and_json(database_url: str, tmp_path: Path) -> None:
    env = cli_env(database_url, tmp_path)
    made = run_cli("token", "create", "--name", "a long name for a narrow terminal", env=env)
    assert made.returncode == 0, made.stderr
    ident = made.stdout.split("Created token ", 1)[1].split()[0]
    as_json = run_cli("token", "list", "--output", "json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    mine = next(r for r in rows if r["id"] == ident)
    assert mine["name"] == "a long name for a narrow terminal"
    assert mine["state"] == "active" and mine["expires"] is None
    narrow = run_cli("token", "list", env={**env, "COLUMNS": "80"})
    assert narrow.returncode == 0, narrow.stderr
    assert ident in narrow.stdout, "the id must be whole on one line, to copy it"

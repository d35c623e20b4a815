"""The real ``service-catalog`` command: help, migrate, tokens, first start, bad settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

from pgserver import free_port
from serveproc import ServeProcess, cli_env, run_cli
from service_catalog.auth.service import lookup_token
from service_catalog.catalog_services.models import CatalogService
from service_catalog.core.db import Database

TOKEN = re.compile(r"(?:scat|spat|kpat)_[A-Za-z0-9_\-]{20,}")


def no_traceback(result: Any) -> None:
    assert "Traceback" not in result.stdout + result.stderr


def test_help_reads_well(tmp_path: Path) -> None:
    env = cli_env("sqlite:///unused.db", tmp_path)
    top = run_cli("--help", env=env)
    assert top.returncode == 0, top.stderr
    assert "service catalog" in top.stdout.lower()
    for command in ("serve", "migrate", "token", "user"):
        line = next(
            (ln for ln in top.stdout.splitlines() if re.search(rf"\b{command}\b\s+\w", ln)), None
        )
        assert line, f"{command} has no help line:\n{top.stdout}"
    bare = run_cli(env=env)
    assert "Usage" in bare.stdout + bare.stderr
    serve = run_cli("serve", "--help", env=env)
    assert serve.returncode == 0
    for option in ("--bind", "--workers", "--no-worker", "SERVICE_CATALOG_BIND"):
        assert option in serve.stdout
    token = run_cli("token", "--help", env=env)
    for sub in ("create", "list", "revoke"):
        assert sub in token.stdout
    create = run_cli("token", "create", "--help", env=env)
    assert "--name" in create.stdout and "--expires-in-days" in create.stdout
    for result in (top, bare, serve, token, create):
        no_traceback(result)


def test_migrate(empty_url: str, tmp_path: Path) -> None:
    env = cli_env(empty_url, tmp_path)
    first = run_cli("migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert "up to date" in first.stdout
    db = Database(empty_url)
    try:
        tables = set(inspect(db.engine).get_table_names())
    finally:
        db.dispose()
    assert {"catalog_services", "access_tokens", "alembic_version"} <= tables
    again = run_cli("migrate", env=env)  # idempotent
    assert again.returncode == 0, again.stderr


def test_token_create_list_revoke(database_url: str, tmp_path: Path) -> None:
    env = cli_env(database_url, tmp_path)
    made = run_cli("token", "create", "--name", "ci", "--expires-in-days", "30", env=env)
    assert made.returncode == 0, made.stderr
    tokens = TOKEN.findall(made.stdout)
    assert len(tokens) == 1
    assert "shown only once" in made.stdout
    ident = re.search(r"Created token ([0-9a-f-]{36})", made.stdout)
    assert ident, made.stdout
    listing = run_cli("token", "list", env=env)
    assert listing.returncode == 0
    row = next(ln for ln in listing.stdout.splitlines() if " ci " in ln)
    assert ident.group(1) in row and "active" in row
    assert tokens[0] not in listing.stdout
    revoked = run_cli("token", "revoke", ident.group(1)[:8], env=env)
    assert revoked.returncode == 0, revoked.stderr
    assert ident.group(1) in revoked.stdout
    listing = run_cli("token", "list", env=env)
    assert "revoked" in next(ln for ln in listing.stdout.splitlines() if " ci " in ln)
    missing = run_cli("token", "revoke", "00000000-0000-0000-0000-000000000000", env=env)
    assert missing.returncode != 0
    assert "no single token" in missing.stderr
    for bad in (
        ["token", "create", "--name", ""],
        ["token", "create", "--name", "x", "--expires-in-days", "0"],
        ["token", "create", "--name", "x", "--role", "wizard"],
        ["token", "create"],
    ):
        result = run_cli(*bad, env=env)
        assert result.returncode != 0, bad
        no_traceback(result)
    for result in (made, listing, revoked, missing):
        no_traceback(result)


def test_user_create_and_role_tokens(database_url: str, tmp_path: Path) -> None:
    """``user create`` makes an active user holding a role on a service named by its name;
    ``token create --user`` gives that user a kpat_; ``--role`` without ``--user`` gives a
    system account the role. What each token may do is what lookup finds."""
    env = cli_env(database_url, tmp_path)
    assert run_cli("migrate", env=env).returncode == 0
    db = Database(database_url)
    try:
        with db.session() as s:
            svc = CatalogService(name="pay", display_name="Pay")
            s.add(svc)
            s.flush()
            sid = str(svc.id)
        made = run_cli(
            "user", "create", "--email", "ada@example.com", "--name", "Ada",
            "--role", "Service Viewer", "--service", "pay", env=env,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        assert "ada@example.com" in made.stdout
        again = run_cli("user", "create", "--email", "ada@example.com", env=env)
        assert again.returncode != 0 and "already exists" in again.stderr
        kpat = run_cli("token", "create", "--name", "laptop", "--user", "ada@example.com", env=env)
        assert kpat.returncode == 0, kpat.stderr
        (user_token,) = TOKEN.findall(kpat.stdout)
        assert user_token.startswith("kpat_")
        viewer = run_cli("token", "create", "--name", "dash", "--role", "Scorecard Viewer", env=env)
        (system_token,) = TOKEN.findall(viewer.stdout)
        assert system_token.startswith("spat_")
        with db.session(write=False) as s:
            user_info = lookup_token(s, user_token)
            system_info = lookup_token(s, system_token)
        assert user_info is not None and system_info is not None
        assert user_info.actor.name == "ada@example.com"
        assert user_info.actor.rights.has("Service Viewer", sid)
        assert not user_info.actor.rights.has("Service Viewer", "another")
        assert not user_info.actor.rights.org_admin
        assert system_info.actor.rights.service_ids("Scorecard Viewer") is None
        assert not system_info.actor.rights.has("Service Admin", sid)
        for bad in (
            ["user", "create", "--email", "nope"],
            ["user", "create", "--email", "b@example.com", "--role", "Wizard"],
            ["user", "create", "--email", "c@example.com", "--role", "Service Viewer",
             "--service", "missing"],
            ["token", "create", "--name", "x", "--user", "nobody@example.com"],
        ):  # fmt: skip
            result = run_cli(*bad, env=env)
            assert result.returncode != 0, bad
            no_traceback(result)
    finally:
        db.dispose()


def test_first_serve_prints_admin_token_once(empty_url: str, tmp_path: Path) -> None:
    env = cli_env(empty_url, tmp_path)
    with ServeProcess(env, tmp_path) as first:
        tokens = TOKEN.findall(first.stdout)
        assert len(tokens) == 1, first.stdout
        assert "shown only once" in first.stdout
        assert "service-catalog token create" in first.stdout
        with first.client(tokens[0]) as c:
            made = c.post("/v1/catalog-services", json={"name": "a", "display_name": "A"})
            assert made.status_code == 201, made.text
        with first.client("scat_not-the-token") as c:
            assert c.get("/v1/catalog-services").status_code == 401
    assert tokens[0] not in first.stderr
    with ServeProcess(env, tmp_path) as second:
        assert TOKEN.findall(second.stdout) == []
        assert "First start" not in second.stdout
        with second.client(tokens[0]) as c:
            assert c.get("/v1/catalog-services").json()["meta"]["page"]["total"] == 1


def test_unreachable_postgres_names_url_without_password(tmp_path: Path) -> None:
    port = free_port()
    url = f"postgresql+psycopg://catalog:s3cr3t-pw@127.0.0.1:{port}/catalog"
    env = cli_env(url, tmp_path)
    for args in (["migrate"], ["serve", "--bind", f"127.0.0.1:{free_port()}"], ["token", "list"]):
        result = run_cli(*args, env=env)
        assert result.returncode != 0, args
        output = result.stdout + result.stderr
        assert "s3cr3t-pw" not in output
        assert f"postgresql+psycopg://catalog:***@127.0.0.1:{port}/catalog" in output
        no_traceback(result)


def test_unusable_database_url(tmp_path: Path) -> None:
    for url in (
        "nosuchdriver://x:pw-secret@h/db",
        "not a url at all",
        f"sqlite:///{tmp_path}/missing-dir/x.db",
    ):
        result = run_cli("migrate", env=cli_env(url, tmp_path))
        assert result.returncode != 0, url
        assert "pw-secret" not in result.stdout + result.stderr
        assert "error" in result.stderr.lower()
        no_traceback(result)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WORKERS", "abc"),
        ("WORKERS", "0"),
        ("LOG_FORMAT", "xml"),
        ("RUN_WORKER", "maybe"),
        ("MAX_BODY_BYTES", "-1"),
    ],
)
def test_invalid_setting_is_a_clear_error(tmp_path: Path, name: str, value: str) -> None:
    env = cli_env(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, **{f"SERVICE_CATALOG_{name}": value})
    for args in (["serve"], ["migrate"]):
        result = run_cli(*args, env=env)
        assert result.returncode != 0
        assert f"SERVICE_CATALOG_{name}" in result.stderr
        no_traceback(result)


def test_invalid_bind(tmp_path: Path) -> None:
    env = cli_env(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
    for bind in ("nonsense", "127.0.0.1:99999", ":80"):
        result = run_cli("serve", "--bind", bind, env=env)
        assert result.returncode != 0
        assert "bind" in result.stderr
        no_traceback(result)

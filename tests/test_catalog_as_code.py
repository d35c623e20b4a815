"""Catalog files through a real server (``POST /v1/catalog-apply``) and the real command
(``plan``, ``apply``, ``export``), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from conftest import LiveServer
from serveproc import cli_env, run_cli
from service_catalog.auth.models import User
from service_catalog.auth.service import ensure_assignment, issue_token
from service_catalog.catalog_as_code.documents import json_schema, shipped_schema
from service_catalog.core.db import Database

V = "apiVersion: service-catalog/v1\n"


def svc(name: str, **extra: Any) -> str:
    doc = {"apiVersion": "service-catalog/v1", "kind": "CatalogService", "name": name, **extra}
    return yaml.safe_dump(doc, sort_keys=False)


def stream(*docs: str) -> str:
    return "---\n".join(docs)


def apply(
    api: httpx.Client, files: dict[str, str], *, source: str = "repo-a", **flags: Any
) -> httpx.Response:
    body = {
        "source": source,
        "files": [{"path": p, "content": c} for p, c in files.items()],
        **flags,
    }
    return api.post("/v1/catalog-apply", json=body)


def names(api: httpx.Client) -> set[str]:
    data = api.get("/v1/catalog-services", params={"page[size]": 1000}).json()["data"]
    return {s["name"] for s in data}


def test_the_shipped_json_schema_is_the_format() -> None:
    assert shipped_schema() == json_schema()


def test_plan_apply_update_prune_round_trip(api: httpx.Client) -> None:
    team = V + "kind: Team\nname: payments\ndescription: Pays\n"
    files = {
        "catalog/teams.yaml": team,
        "catalog/services.yaml": stream(
            svc("user-svc", display_name="User Service", labels={"env": "prod"}, owner="payments"),
            svc("pay-svc", custom_fields={"tier": 1}),
        ),
    }
    dry = apply(api, files, dry_run=True)
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert body["dry_run"] is True and body["applied"] is False
    assert body["summary"] == {"create": 3, "update": 0, "delete": 0, "unchanged": 0}
    assert {(c["kind"], c["name"], c["file"], c["line"]) for c in body["changes"]} == {
        ("team", "payments", "catalog/teams.yaml", 1),
        ("service", "user-svc", "catalog/services.yaml", 1),
        ("service", "pay-svc", "catalog/services.yaml", 9),
    }
    assert names(api) == set()  # a dry run changes nothing

    done = apply(api, files)
    assert done.status_code == 200, done.text
    assert done.json()["applied"] is True
    user = api.get("/v1/catalog-services/user-svc").json()
    assert user["display_name"] == "User Service" and user["labels"] == {"env": "prod"}
    teams = api.get("/v3/teams").json()["data"]
    assert [t["name"] for t in teams if t["name"] == "payments"] == ["payments"]

    again = apply(api, files).json()
    assert again["summary"] == {"create": 0, "update": 0, "delete": 0, "unchanged": 3}
    assert again["applied"] is False

    # A change, a removal with --prune: only what this source applied goes.
    api.post("/v1/catalog-services", json={"name": "by-hand", "display_name": "By hand"})
    assert apply(api, {"other.yaml": svc("other-svc")}, source="repo-b").status_code == 200
    files["catalog/services.yaml"] = svc("user-svc", display_name="Users", labels={"env": "dev"})
    changed = apply(api, files, prune=True).json()
    assert changed["summary"] == {"create": 0, "update": 1, "delete": 1, "unchanged": 1}
    update = next(c for c in changed["changes"] if c["action"] == "update")
    assert update["fields"]["labels"] == {"old": {"env": "prod"}, "new": {"env": "dev"}}
    assert update["fields"]["owner"] == {"old": "payments", "new": None}
    assert names(api) == {"user-svc", "by-hand", "other-svc"}

    # Another source may not change a service this one applied.
    clash = apply(api, {"b.yaml": svc("user-svc")}, source="repo-b")
    assert clash.status_code == 409
    assert "b.yaml:1" in clash.json()["detail"] and "repo-a" in clash.json()["detail"]


def test_a_failing_file_rolls_back_everything(api: httpx.Client) -> None:
    files = {
        "a.yaml": stream(svc("one"), svc("two")),
        "b.yaml": stream(svc("three"), svc("four", owner="nobody")),
    }
    refused = apply(api, files)
    assert refused.status_code == 400
    problem = refused.json()
    assert "b.yaml:5" in problem["detail"] and "nobody" in problem["detail"]
    assert names(api) == set()
    twice = apply(
        api, {"a.yaml": svc("one"), "b.yaml": stream(V + "kind: Team\nname: t\n", svc("one"))}
    )
    assert twice.status_code == 409
    assert "b.yaml:5" in twice.json()["detail"] and "a.yaml:1" in twice.json()["detail"]
    assert names(api) == set()


@pytest.mark.parametrize(
    ("content", "where", "words"),
    [
        ("apiVersion: service-catalog/v1\nkind: CatalogService\nname: [oops\n", "x.yaml:4", "YAML"),
        (svc("ok") + "colour: red\n", "x.yaml:4", "colour: is not a known property"),
        (svc("Bad Name"), "x.yaml:3", "name"),
        (svc("ok", labels={"env": "a b"}), "x.yaml:5", "labels.env"),
        ("apiVersion: v0\nkind: CatalogService\nname: x\n", "x.yaml:1", "apiVersion"),
        (V + "kind: Widget\nname: x\n", "x.yaml:1", "kind"),
        ("- a list\n", "x.yaml:1", "mapping"),
    ],
)
def test_bad_files_are_a_400_naming_file_and_line(
    api: httpx.Client, content: str, where: str, words: str
) -> None:
    refused = apply(api, {"x.yaml": content})
    assert refused.status_code == 400, refused.text
    assert where in refused.json()["detail"] and words in refused.json()["detail"]
    assert refused.json()["invalid_parameters"][0]["field"] == "files"


def test_bad_bodies_are_400(api: httpx.Client) -> None:
    assert api.post("/v1/catalog-apply", json={"source": "s", "files": []}).status_code == 400
    assert (
        api.post("/v1/catalog-apply", json={"files": [{"path": "a", "content": ""}]}).status_code
        == 400
    )
    assert (
        api.post(
            "/v1/catalog-apply", json={"source": "s", "files": [{"path": "a", "content": 1}]}
        ).status_code
        == 400
    )


def test_resource_mappings_by_natural_key(api: httpx.Client) -> None:
    made = api.post(
        "/v1/integration-instances",
        json={
            "integration_name": "custom",
            "name": "inventory",
            "display_name": "Inventory",
            "config": {},
        },
    )
    assert made.status_code == 201, made.text
    res = {"integration_instance": "inventory", "type": "custom_resource", "config": {"id": "r1"}}
    files = {"s.yaml": svc("mapped", resources=[res])}
    assert apply(api, files).status_code == 200
    mapped = api.get("/v1/catalog-services/mapped/resources").json()["data"]
    assert [r["config"] for r in mapped] == [{"id": "r1"}]
    assert apply(api, files).json()["summary"]["unchanged"] == 1
    other = {**res, "config": {"id": "r2"}}
    changed = apply(api, {"s.yaml": svc("mapped", resources=[other])}).json()
    assert changed["changes"][0]["fields"]["resources"] == {"add": [other], "remove": [res]}
    mapped = api.get("/v1/catalog-services/mapped/resources").json()["data"]
    assert [r["config"] for r in mapped] == [{"id": "r2"}]
    bad = apply(api, {"s.yaml": svc("mapped", resources=[{**res, "integration_instance": "nope"}])})
    assert bad.status_code == 400 and "s.yaml:1" in bad.json()["detail"]
    assert "nope" in bad.json()["detail"]


def _token_with(db: Database, email: str, *roles: tuple[str, str]) -> str:
    with db.session() as s:
        user = User(email=email)
        s.add(user)
        s.flush()
        for role, entity in roles:
            ensure_assignment(
                s, principal_type="user", principal_id=user.id, role=role, entity_id=entity
            )
        _, token = issue_token(s, owner_type="user", owner_id=user.id, name="t")
    return token


def test_rights_creator_admin_and_teams(
    server: LiveServer, api: httpx.Client, db: Database
) -> None:
    assert apply(api, {"a.yaml": svc("theirs")}).status_code == 200
    creator = _token_with(db, "maker@example.com", ("Service Creator", "*"))
    viewer = _token_with(db, "viewer@example.com", ("Service Viewer", "*"))
    with server.client(creator) as c, server.client(viewer) as v:
        assert apply(v, {"m.yaml": svc("mine")}).status_code == 403
        assert apply(c, {"m.yaml": svc("mine")}).status_code == 200
        # It administers what it created, not the rest; teams need Organization Admin.
        assert apply(c, {"m.yaml": svc("mine", labels={"a": "b"})}).status_code == 200
        other = apply(c, {"m.yaml": svc("theirs", labels={"a": "b"})}, source="repo-a")
        assert other.status_code == 403 and "m.yaml:1" in other.json()["detail"]
        team = apply(c, {"t.yaml": V + "kind: Team\nname: crew\n"})
        assert team.status_code == 403 and "Organization Admin" in team.json()["detail"]


def test_cli_plan_apply_export_round_trip(database_url: str, tmp_path: Path) -> None:
    env = cli_env(database_url, tmp_path)
    assert run_cli("migrate", env=env).returncode == 0
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "a.yaml").write_text(
        stream(V + "kind: Team\nname: core\n", svc("api-gw", labels={"env": "prod"}, owner="core"))
    )
    (folder / "b.yml").write_text(svc("billing", description="Bills", custom_fields={"tier": 2}))
    planned = run_cli("plan", "-f", str(folder), env=env)
    assert planned.returncode == 0, planned.stderr
    assert "+ create service api-gw" in planned.stdout and "a.yaml:5" in planned.stdout
    assert "3 to create" in planned.stdout
    as_json = run_cli("plan", "-f", str(folder), "--output", "json", env=env)
    assert json.loads(as_json.stdout)["summary"]["create"] == 3
    applied = run_cli("apply", "-f", str(folder), env=env)
    assert applied.returncode == 0, applied.stderr
    exported = run_cli("export", env=env)
    assert exported.returncode == 0, exported.stderr
    docs = list(yaml.safe_load_all(exported.stdout))
    assert [d["name"] for d in docs] == ["core", "api-gw", "billing"]
    assert docs[1]["owner"] == "core" and docs[2]["custom_fields"] == {"tier": 2}
    out = tmp_path / "export.yaml"
    out.write_text(exported.stdout)
    again = run_cli("apply", "-f", str(out), "--output", "json", env=env)
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["summary"] == {"create": 0, "update": 0, "delete": 0, "unchanged": 3}
    assert result["applied"] is False

    (folder / "b.yml").write_text(svc("billing", labels={"bad key": "x"}))
    broken = run_cli("apply", "-f", str(folder), env=env)
    assert broken.returncode == 1
    assert "b.yml:5" in broken.stderr and "Traceback" not in broken.stderr
    missing = run_cli("apply", "-f", str(tmp_path / "nowhere"), env=env)
    assert missing.returncode == 1 and "no such file" in missing.stderr

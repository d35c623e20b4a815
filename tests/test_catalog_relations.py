"""Dependencies and API mappings declared in catalog files and Backstage trees, seen
through the dependencies and api-mappings routes, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import func, select

from conftest import LiveServer
from serveproc import cli_env, run_cli
from service_catalog.core.db import Database
from service_catalog.events.models import Event
from test_catalog_as_code import apply, stream, svc


def _events(db: Database) -> int:
    with db.session(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(Event)) or 0)


def _deps(api: httpx.Client, name: str) -> list[tuple[str, str | None, str]]:
    r = api.get(f"/v1/catalog-services/{name}/dependencies", params={"page[size]": 100})
    assert r.status_code == 200, r.text
    return sorted((d["service"]["name"], d["label"], d["origin"]) for d in r.json()["data"])


def _service_id(api: httpx.Client, name: str) -> str:
    r = api.get("/v1/catalog-services", params={"filter[name]": name})
    return str(r.json()["data"][0]["id"])


def _mapped(api: httpx.Client, name: str) -> set[str]:
    r = api.get(f"/v1/catalog-services/{_service_id(api, name)}/api-mappings")
    assert r.status_code == 200, r.text
    return {m["api_id"] for m in r.json()["data"]}


def _consumed(api: httpx.Client, name: str) -> set[str]:
    r = api.get(f"/v1/catalog-services/{name}/consumed-api-mappings")
    assert r.status_code == 200, r.text
    return {m["api_id"] for m in r.json()["data"]}


def _changes(result: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(c["action"], c["kind"], c["name"]) for c in result["changes"]}


def test_dependencies_and_apis_round_trip(api: httpx.Client, db: Database) -> None:
    orders = api.post("/v3/apis", json={"name": "orders-api", "version": "1"}).json()["id"]
    files = {
        "svc.yaml": stream(
            svc(
                "web",
                dependencies=[{"service": "cart", "label": "calls"}, {"service": "stock"}],
                apis=[{"api": "orders-api", "version": "1"}],
            ),
            svc("cart", apis=[{"api": "orders-api", "version": "1", "relation": "consumes"}]),
            svc("stock"),
        )
    }
    planned = apply(api, files, dry_run=True)
    assert planned.status_code == 200, planned.text
    assert {
        ("create", "dependency", "web -> cart (calls)"),
        ("create", "dependency", "web -> stock"),
        ("create", "api_mapping", "web provides orders-api 1"),
        ("create", "api_consumer", "cart consumes orders-api 1"),
    } <= _changes(planned.json())
    assert planned.json()["summary"]["create"] == 7
    assert planned.json()["warnings"] == []
    assert api.get("/v1/catalog-services", params={"filter[name]": "web"}).json()["data"] == []

    assert apply(api, files).status_code == 200
    assert _deps(api, "web") == [("cart", "calls", "repo-a"), ("stock", None, "repo-a")]
    assert _mapped(api, "web") == {orders}
    assert _mapped(api, "cart") == set()  # a consumer is no mapping: Kong's have no direction
    assert _consumed(api, "cart") == {orders}
    up = api.get("/v1/catalog-services/stock/dependencies", params={"direction": "upstream"})
    assert [d["service"]["name"] for d in up.json()["data"]] == ["web"]
    mappings = api.get(f"/v1/apis/{orders}/service-mappings").json()["data"]
    assert [m["service_id"] for m in mappings] == [_service_id(api, "web")]

    # An edge made by hand stays; the same apply again writes nothing.
    made = api.post("/v1/catalog-services/cart/dependencies", json={"target": "stock"})
    assert made.status_code == 201, made.text
    before = _events(db)
    again = apply(api, files)
    assert again.status_code == 200
    assert again.json()["summary"] == {"create": 0, "update": 0, "delete": 0, "unchanged": 3}
    assert _events(db) == before
    assert _deps(api, "cart") == [("stock", None, "manual")]

    # Removing a dependency and an API from the file deletes them (only this source's).
    files["svc.yaml"] = stream(
        svc("web", dependencies=[{"service": "cart", "label": "calls"}]), svc("cart"), svc("stock")
    )
    removed = apply(api, files, dry_run=True).json()
    assert _changes(removed) == {
        ("delete", "dependency", "web -> stock"),
        ("delete", "api_mapping", "web provides orders-api 1"),
        ("delete", "api_consumer", "cart consumes orders-api 1"),
    }
    assert apply(api, files).status_code == 200
    assert _consumed(api, "cart") == set()
    assert _deps(api, "web") == [("cart", "calls", "repo-a")]
    assert _mapped(api, "web") == set()
    assert _deps(api, "cart") == [("stock", None, "manual")]


def test_relation_errors_name_file_and_line(api: httpx.Client) -> None:
    files = {"x.yaml": stream(svc("a"), svc("b", apis=[{"api": "nowhere"}]))}
    bad = apply(api, files)
    assert bad.status_code == 400
    assert (
        "x.yaml:5" in bad.json()["detail"]
        and "API [nowhere] does not exist" in bad.json()["detail"]
    )
    selfish = apply(api, {"y.yaml": svc("a", dependencies=[{"service": "a"}])})
    assert selfish.status_code == 400 and "cannot depend on itself" in selfish.json()["detail"]
    assert api.get("/v1/catalog-services").json()["data"] == []


def test_export_then_apply_is_a_no_op(
    server: LiveServer, database_url: str, tmp_path: Path
) -> None:
    env = cli_env(database_url, tmp_path)
    with server.client() as api:
        api.post("/v3/apis", json={"name": "pay-api"})
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "a.yaml").write_text(
        stream(
            svc("front", dependencies=[{"service": "pay", "label": "calls"}, {"service": "db"}]),
            svc("pay", apis=[{"api": "pay-api"}], dependencies=[{"service": "db"}]),
            svc("db"),
        )
    )
    applied = run_cli("apply", "-f", str(folder), env=env)
    assert applied.returncode == 0, applied.stderr
    exported = run_cli("export", env=env)
    assert exported.returncode == 0, exported.stderr
    docs = {d["name"]: d for d in yaml.safe_load_all(exported.stdout)}
    assert docs["front"]["dependencies"] == [
        {"service": "db"},
        {"service": "pay", "label": "calls"},
    ]
    assert docs["pay"]["apis"] == [{"api": "pay-api"}]
    out = tmp_path / "export.yaml"
    out.write_text(exported.stdout)
    again = run_cli("apply", "-f", str(out), "--output", "json", env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["summary"] == {
        "create": 0,
        "update": 0,
        "delete": 0,
        "unchanged": 3,
    }
    plan = run_cli("plan", "-f", str(folder), env=env)
    assert "0 to create" in plan.stdout and "0 to delete" in plan.stdout


BACKSTAGE = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: shop}
spec:
  type: service
  owner: web-team
  dependsOn: [component:search]
  providesApi: []
  providesApis: [shop-api]
  consumesApis: [search-api]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: search}
spec: {type: service, owner: web-team, providesApis: [search-api]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: index}
spec: {type: service, owner: web-team, dependencyOf: [component:search]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: web-team}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: shop-api, description: The shop}
spec:
  type: openapi
  owner: web-team
  definition: |
    openapi: 3.0.0
    info: {title: Shop, version: '1'}
    paths: {}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: search-api}
spec: {type: graphql, owner: web-team, definition: "type Query { q: String }"}
"""


def test_backstage_relations_through_the_api(
    server: LiveServer, database_url: str, tmp_path: Path
) -> None:
    env = cli_env(database_url, tmp_path)
    (tmp_path / "catalog-info.yaml").write_text(BACKSTAGE)
    first = run_cli("import", "backstage", str(tmp_path), "--output", "json", env=env)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert {
        ("create", "dependency", "shop -> search"),
        ("create", "dependency", "search -> index"),
        ("create", "api", "shop-api"),
        ("create", "api", "search-api"),
        ("create", "api_mapping", "shop provides shop-api"),
        ("create", "api_mapping", "search provides search-api"),
        ("create", "api_consumer", "shop consumes search-api"),
    } <= _changes(result)
    warnings = " ".join(w["message"] for w in result["warnings"])
    assert "graphql" in warnings and "consumed APIs" not in warnings
    with server.client() as api:
        assert [d[0] for d in _deps(api, "shop")] == ["search"]
        deep = api.get("/v1/catalog-services/shop/dependencies", params={"depth": 2})
        assert [d["service"]["name"] for d in deep.json()["data"]] == ["search", "index"]
        found = api.get("/v3/apis", params={"filter[name]": "shop-api"}).json()["data"]
        assert len(found) == 1 and found[0]["description"] == "The shop"
        assert len(found[0]["api_spec_ids"]) == 1
        assert _mapped(api, "shop") == {found[0]["id"]}
    again = run_cli("import", "backstage", str(tmp_path), "--output", "json", env=env)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)["summary"]
    assert summary["create"] == summary["update"] == summary["delete"] == 0


def test_consumed_apis_recorded_by_hand_survive_an_apply_as_mappings_do(
    api: httpx.Client,
) -> None:
    """A consumed API recorded through the API, like an API mapping made there, has no
    origin: an apply that does not declare it (or stops declaring it) leaves it."""
    orders = api.post("/v3/apis", json={"name": "orders-api"}).json()["id"]
    stock = api.post("/v3/apis", json={"name": "stock-api"}).json()["id"]
    files = {
        "svc.yaml": stream(
            svc("cart", apis=[{"api": "stock-api", "relation": "consumes"}, {"api": "stock-api"}])
        )
    }
    assert apply(api, files).status_code == 200
    for path in ("consumed-api-mappings", "api-mappings"):
        made = api.post(f"/v1/catalog-services/cart/{path}", json={"api_id": orders})
        assert made.status_code == 201, made.text
        again = api.post(f"/v1/catalog-services/cart/{path}", json={"api_id": stock})
        assert again.status_code == 409, again.text  # declared by the files already
    assert _consumed(api, "cart") == _mapped(api, "cart") == {orders, stock}

    unchanged = apply(api, files)
    assert unchanged.status_code == 200, unchanged.text
    assert unchanged.json()["summary"]["delete"] == 0
    assert _consumed(api, "cart") == _mapped(api, "cart") == {orders, stock}

    files["svc.yaml"] = stream(svc("cart"))  # no APIs declared any more
    removed = apply(api, files)
    assert removed.status_code == 200, removed.text
    assert _changes(removed.json()) == {
        ("delete", "api_consumer", "cart consumes stock-api"),
        ("delete", "api_mapping", "cart provides stock-api"),
    }
    assert _consumed(api, "cart") == _mapped(api, "cart") == {orders}

    # Removed by hand, a consumed API the files declare comes back at the next apply.
    files["svc.yaml"] = stream(svc("cart", apis=[{"api": "stock-api", "relation": "consumes"}]))
    assert apply(api, files).status_code == 200
    listed = api.get("/v1/catalog-services/cart/consumed-api-mappings").json()["data"]
    declared = next(m for m in listed if m["api_id"] == stock)
    gone = api.delete(f"/v1/catalog-services/cart/consumed-api-mappings/{declared['id']}")
    assert gone.status_code == 204, gone.text
    assert _consumed(api, "cart") == {orders}
    assert apply(api, files).status_code == 200
    assert _consumed(api, "cart") == {orders, stock}

"""``service-catalog import backstage`` through the real command, on SQLite and PostgreSQL:
every kind, references as Backstage resolves them, Locations (files and URLs),
idempotent re-import, errors naming file and entity."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from serveproc import cli_env, run_cli
from service_catalog.auth.models import Team
from service_catalog.catalog_as_code.backstage import parse_ref
from service_catalog.catalog_as_code.models import CatalogServiceSource
from service_catalog.catalog_services.models import CatalogService
from service_catalog.core.db import Database

TREE = """\
apiVersion: backstage.io/v1alpha1
kind: Location
metadata: {name: root}
spec:
  targets: [./more/catalog-info.yaml]
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: payments, description: The payments team}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: ada}
spec: {memberOf: [payments]}
---
apiVersion: backstage.io/v1alpha1
kind: Domain
metadata: {name: commerce}
spec: {owner: payments}
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: checkout}
spec: {owner: group:default/payments, domain: commerce}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: Cart_Service
  title: Cart
  description: Holds carts
  labels: {tier: gold}
  annotations: {github.com/project-slug: acme/cart}
spec:
  type: service
  lifecycle: production
  owner: payments
  system: checkout
  dependsOn: [component:billing, resource:default/carts-db]
  providesApi: []
  providesApis: [cart-api]
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: cart-api}
spec: {type: openapi, lifecycle: production, owner: payments, definition: "openapi: 3.0.0"}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: carts-db}
spec: {type: database, owner: payments}
"""

MORE = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: billing, namespace: default}
spec:
  type: service
  lifecycle: experimental
  owner: user:ada
  dependencyOf: [component:cart_service]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: ledger, namespace: finance}
spec: {type: library, lifecycle: production, owner: group:default/payments}
"""

#: A Backstage import's users summary when no user it created has left Backstage.
NO_LEAVERS = {"deactivated": 0, "reactivated": 0, "left_active": 0}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "more").mkdir(parents=True)
    (root / "catalog-info.yaml").write_text(TREE)
    (root / "more" / "catalog-info.yaml").write_text(MORE)
    return root


def _migrated(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = cli_env(database_url, tmp_path)
    assert run_cli("migrate", env=env).returncode == 0
    return env


def test_references_resolve_as_backstage_does() -> None:
    assert parse_ref("payments", default_kind="group", default_namespace="default") == (
        "group",
        "default",
        "payments",
    )
    assert parse_ref("User:ops/ada", default_kind="group", default_namespace="x") == (
        "user",
        "ops",
        "ada",
    )
    assert parse_ref("team-a", default_kind=None, default_namespace="default") is None
    assert parse_ref(
        {"kind": "Component", "name": "c"}, default_kind=None, default_namespace="n"
    ) == ("component", "n", "c")


def test_import_every_kind_and_reimport(database_url: str, tmp_path: Path, tree: Path) -> None:
    env = _migrated(database_url, tmp_path)
    first = run_cli("import", "backstage", str(tree), "--output", "json", env=env)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["entities"] == 10
    # A team, three services, the edge cart -> billing (dependsOn and dependencyOf), the
    # API cart-api and its mapping.
    assert result["summary"] == {
        "create": 7,
        "update": 0,
        "delete": 0,
        "unchanged": 0,
        **NO_LEAVERS,
    }
    warnings = " ".join(w["message"] for w in result["warnings"])
    assert "resource:default/carts-db" in warnings  # a dependency on a Resource: left out
    assert "user:default/ada" in warnings  # an owner that is no Group: left out
    assert "API [cart-api]: its definition is not stored" in warnings  # not an OpenAPI document

    db = Database(database_url)
    try:
        with db.session(write=False) as s:
            services = {r.name: r for r in s.scalars(select(CatalogService))}
            assert set(services) == {"cart-service", "billing", "finance.ledger"}
            cart = services["cart-service"]
            assert cart.display_name == "Cart" and cart.description == "Holds carts"
            assert cart.labels == {
                "tier": "gold",
                "type": "service",
                "lifecycle": "production",
                "system": "checkout",
                "domain": "commerce",
            }
            assert cart.custom_fields == {"github_com/project-slug": "acme/cart"}
            team = s.scalar(select(Team).where(Team.name == "payments"))
            assert team is not None and team.description == "The payments team"
            owners = {
                r.service_id: r.owner_team_id for r in s.scalars(select(CatalogServiceSource))
            }
            assert owners[cart.id] == team.id
            assert owners[services["finance.ledger"].id] == team.id
            assert owners[services["billing"].id] is None
    finally:
        db.dispose()

    again = run_cli("import", "backstage", str(tree), "--output", "json", env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["summary"] == {
        "create": 0,
        "update": 0,
        "delete": 0,
        "unchanged": 4,
        **NO_LEAVERS,
    }

    (tree / "more" / "catalog-info.yaml").write_text(MORE.split("---")[0])
    pruned = run_cli("import", "backstage", str(tree), "--prune", env=env)
    assert pruned.returncode == 0, pruned.stderr
    assert "- delete service finance.ledger" in pruned.stdout


def test_errors_name_file_and_entity(database_url: str, tmp_path: Path, tree: Path) -> None:
    env = _migrated(database_url, tmp_path)
    (tree / "more" / "catalog-info.yaml").write_text(
        MORE + "---\napiVersion: backstage.io/v1alpha1\nkind: Component\n"
        "metadata: {name: odd}\nspec: {owner: payments, dependsOn: [billing]}\n"
    )
    bad = run_cli("import", "backstage", str(tree), env=env)
    assert bad.returncode == 1
    assert "more/catalog-info.yaml:15" in bad.stderr
    assert "component:default/odd" in bad.stderr and "kind is required" in bad.stderr
    (tree / "more" / "catalog-info.yaml").write_text("kind: [unclosed\n")
    broken = run_cli("import", "backstage", str(tree), env=env)
    assert broken.returncode == 1 and "more/catalog-info.yaml:2" in broken.stderr
    missing = run_cli("import", "backstage", str(tmp_path / "nowhere"), env=env)
    assert missing.returncode == 1 and "no such file" in missing.stderr
    db = Database(database_url)
    try:
        with db.session(write=False) as s:
            assert s.scalars(select(CatalogService)).first() is None  # nothing imported
    finally:
        db.dispose()


class _Files(BaseHTTPRequestHandler):
    files: dict[str, str] = {}  # noqa: RUF012 - set once per test server

    def do_GET(self) -> None:
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        if body is not None:
            self.wfile.write(body.encode())

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def http_tree() -> Iterator[str]:
    _Files.files = {
        "/repo/catalog-info.yaml": TREE.replace("./more/", "more/"),
        "/repo/more/catalog-info.yaml": MORE,
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/repo/catalog-info.yaml"
    server.shutdown()


def test_import_from_urls_follows_locations(tmp_path: Path, http_tree: str) -> None:
    env = _migrated(f"sqlite:///{tmp_path / 'c.db'}", tmp_path)
    done = run_cli("import", "backstage", http_tree, "--output", "json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["create"] == 7  # with the edge, the API, its mapping
    gone = run_cli("import", "backstage", http_tree.replace("repo/", "nope/"), env=env)
    assert gone.returncode == 1 and "HTTP 404" in gone.stderr

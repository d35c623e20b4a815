"""Backstage Users, Groups (nested) and their membership, and Components consuming and
providing APIs: imported through the real ``service-catalog import backstage``, seen
through the API, on SQLite and PostgreSQL; imported twice (nothing written the second
time), then with members removed (only the teams the import created lose them), then
with a user removed (with ``--prune`` deactivated: its token answers 401) and back
(reactivated)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from conftest import LiveServer
from serveproc import cli_env, run_cli
from service_catalog.auth.models import User
from service_catalog.core.db import Database
from service_catalog.events.models import Event
from sync_support import wait_until

CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: platform}
spec: {type: org, children: [payments], members: [ada]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: payments, description: Takes the money}
spec: {type: team, parent: platform, children: [group:default/checkout], members: [user:bob]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: checkout}
spec: {type: team, members: []}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: ada}
spec:
  profile: {email: ada@example.com, displayName: Ada Lovelace}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: bob}
spec:
  profile: {email: bob@example.com}
  memberOf: [checkout]
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: eve}
spec:
  profile: {email: eve@example.com, displayName: Eve From Backstage}
  memberOf: [group:default/checkout]
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: dan}
spec: {memberOf: [payments]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: orders}
spec: {type: service, owner: payments, providesApis: [orders-api]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: shop}
spec: {type: service, owner: checkout, consumesApis: [api:orders-api]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: reports}
spec: {type: service, owner: platform, dependsOn: [component:orders], consumesApis: [orders-api]}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: orders-api}
spec:
  type: openapi
  owner: payments
  definition: |
    openapi: 3.0.0
    info: {title: Orders, version: '1'}
    paths: {}
"""


def _import(env: dict[str, str], folder: Path, *extra: str) -> dict[str, Any]:
    done = run_cli("import", "backstage", str(folder), "--output", "json", *extra, env=env)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def _changes(result: dict[str, Any], *kinds: str) -> set[tuple[str, str]]:
    return {(c["action"], c["name"]) for c in result["changes"] if c["kind"] in kinds}


def _team(api: httpx.Client, name: str) -> dict[str, Any]:
    found = api.get("/v3/teams", params={"filter[name]": name}).json()["data"]
    assert len(found) == 1, found
    return dict(found[0])


def _members(api: httpx.Client, team: str) -> set[str]:
    r = api.get(f"/v3/teams/{_team(api, team)['id']}/users", params={"page[size]": 100})
    assert r.status_code == 200, r.text
    return {u["email"] for u in r.json()["data"]}


def _user(api: httpx.Client, email: str) -> dict[str, Any]:
    found = api.get("/v3/users", params={"filter[email]": email}).json()["data"]
    assert len(found) == 1, found
    return dict(found[0])


def _ids(api: httpx.Client, path: str) -> set[str]:
    r = api.get(path)
    assert r.status_code == 200, r.text
    return {m["api_id"] for m in r.json()["data"]}


def _deps(api: httpx.Client, name: str) -> list[tuple[str, str | None]]:
    r = api.get(f"/v1/catalog-services/{name}/dependencies")
    assert r.status_code == 200, r.text
    return sorted((d["service"]["name"], d["label"]) for d in r.json()["data"])


def _events(db: Database) -> list[tuple[str, dict[str, Any]]]:
    with db.session(write=False) as s:
        return [(e.type, e.attributes) for e in s.scalars(select(Event).order_by(Event.ts))]


def test_people_and_consumed_apis_import_twice_then_members_removed(
    server: LiveServer, database_url: str, tmp_path: Path
) -> None:
    env = cli_env(database_url, tmp_path)
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "catalog-info.yaml").write_text(CATALOG)
    with server.client() as api:
        # Made by hand before the import: the team platform and the user eve, a member.
        platform = api.post("/v3/teams", json={"name": "platform"})
        assert platform.status_code == 201, platform.text
        eve = api.post("/v3/invites", json={"email": "eve@example.com", "full_name": "Eve"})
        assert eve.status_code == 201, eve.text
        added = api.post(f"/v3/teams/{platform.json()['id']}/users", json={"id": eve.json()["id"]})
        assert added.status_code == 201, added.text

        planned = _import(env, folder, "--dry-run")
        assert planned["applied"] is False
        assert (
            api.get("/v3/users", params={"filter[email]": "ada@example.com"}).json()["data"] == []
        )

        first = _import(env, folder)
        assert first["applied"] is True
        assert _changes(first, "user") == {
            ("create", "ada@example.com"),
            ("create", "bob@example.com"),
        }
        assert _changes(first, "team_member") == {
            ("create", "ada@example.com in platform"),
            ("create", "bob@example.com in payments"),
            ("create", "bob@example.com in checkout"),
            ("create", "eve@example.com in checkout"),
        }
        assert _changes(first, "api_consumer") == {
            ("create", "shop consumes orders-api"),
            ("create", "reports consumes orders-api"),
        }
        assert ("create", "shop -> orders (consumes)") in _changes(first, "dependency")
        assert _changes(planned, "user", "team_member", "api_consumer") == _changes(
            first, "user", "team_member", "api_consumer"
        )
        warnings = " ".join(w["message"] for w in first["warnings"])
        assert "Users without spec.profile.email" in warnings and "user:default/dan" in warnings

        # Users: created without a password or a token, named from the profile; eve, made
        # by hand, is used as she is.
        assert _user(api, "ada@example.com")["full_name"] == "Ada Lovelace"
        assert _user(api, "bob@example.com")["full_name"] == "bob"
        assert _user(api, "eve@example.com")["full_name"] == "Eve"
        ada_tokens = api.get(f"/v3/users/{_user(api, 'ada@example.com')['id']}/access-tokens")
        assert ada_tokens.status_code == 200 and ada_tokens.json()["data"] == []
        # Groups: teams with their members, the hierarchy as the label parent.
        assert _team(api, "payments")["labels"] == {"parent": "platform"}
        assert _team(api, "checkout")["labels"] == {"parent": "payments"}
        assert _members(api, "platform") == {"eve@example.com", "ada@example.com"}
        assert _members(api, "payments") == {"bob@example.com"}
        assert _members(api, "checkout") == {"bob@example.com", "eve@example.com"}
        # APIs: orders provides orders-api (Kong's mapping), shop and reports consume it
        # (the extension), shop depends on orders through it.
        orders_api = api.get("/v3/apis", params={"filter[name]": "orders-api"}).json()["data"]
        api_id = orders_api[0]["id"]
        assert _ids(api, "/v1/catalog-services/orders/api-mappings") == {api_id}
        for consumer in ("shop", "reports"):
            assert _ids(api, f"/v1/catalog-services/{consumer}/api-mappings") == set()
            assert _ids(api, f"/v1/catalog-services/{consumer}/consumed-api-mappings") == {api_id}
        mapped = api.get(f"/v1/apis/{api_id}/service-mappings").json()["data"]
        assert len(mapped) == 1  # the contract's list holds the provider only
        assert _deps(api, "shop") == [("orders", "consumes")]
        # The console's service page lists what shop consumes.
        shop = api.get("/v1/catalog-services", params={"filter[name]": "shop"}).json()["data"]
        page = api.get(f"/services/{shop[0]['id']}", headers={"Accept": "text/html"})
        assert page.status_code == 200, page.text
        assert "Consumes" in page.text and f"/apis/{api_id}" in page.text
        assert _deps(api, "reports") == [("orders", None)]  # dependsOn said it already

        events = _events(server.db)
        kinds = [t for t, _ in events]
        assert kinds.count("user.created") == 3  # eve by hand, ada and bob by the import
        assert kinds.count("team.member_added") == 5
        assert kinds.count("catalog_service.api_consumer_created") == 2
        assert "token" not in json.dumps([a for _, a in events]).lower()

        # The same tree again: nothing to do, nothing written.
        again = _import(env, folder)
        assert again["summary"]["create"] == again["summary"]["update"] == 0
        assert again["summary"]["delete"] == 0 and again["applied"] is False
        assert len(_events(server.db)) == len(events)
        assert again["summary"]["unchanged"] == len(again["unchanged"])
        assert {"ada@example.com", "bob@example.com", "eve@example.com"} <= set(again["unchanged"])

        # bob leaves payments, ada leaves platform, ada's name changes.
        changed = (
            CATALOG.replace("members: [user:bob]", "members: []")
            .replace("members: [ada]", "members: []")
            .replace("displayName: Ada Lovelace", "displayName: Ada King")
        )
        (folder / "catalog-info.yaml").write_text(changed)
        third = _import(env, folder)
        assert _changes(third, "team_member") == {("delete", "bob@example.com in payments")}
        assert _changes(third, "user") == {("update", "ada@example.com")}
        assert _members(api, "payments") == set()
        # platform was made by hand: the import adds to it, never takes away.
        assert _members(api, "platform") == {"eve@example.com", "ada@example.com"}
        assert _members(api, "checkout") == {"bob@example.com", "eve@example.com"}
        assert _user(api, "ada@example.com")["full_name"] == "Ada King"
        assert [t for t, _ in _events(server.db)].count("team.member_removed") == 1
        assert _user_rows(server.db) == 3  # re-imports update, never duplicate


def _user_rows(db: Database) -> int:
    with db.session(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(User)) or 0)


def test_people_errors_name_file_and_entity(database_url: str, tmp_path: Path) -> None:
    env = cli_env(database_url, tmp_path)
    assert run_cli("migrate", env=env).returncode == 0
    folder = tmp_path / "repo"
    folder.mkdir()
    two_parents = CATALOG + (
        "---\napiVersion: backstage.io/v1alpha1\nkind: Group\n"
        "metadata: {name: rogue}\nspec: {type: team, children: [checkout]}\n"
    )
    (folder / "catalog-info.yaml").write_text(two_parents)
    bad = run_cli("import", "backstage", str(folder), env=env)
    assert bad.returncode == 1
    assert "catalog-info.yaml:67" in bad.stderr and "group:default/rogue" in bad.stderr
    assert "two parents" in bad.stderr
    (folder / "catalog-info.yaml").write_text(
        CATALOG.replace("email: bob@example.com", "email: not-an-address")
    )
    refused = run_cli("import", "backstage", str(folder), env=env)
    assert refused.returncode == 1
    assert "catalog-info.yaml:22" in refused.stderr and "user:default/bob" in refused.stderr
    (folder / "catalog-info.yaml").write_text(
        CATALOG.replace("email: eve@example.com", "email: ada@example.com")
    )
    twice = run_cli("import", "backstage", str(folder), env=env)
    assert twice.returncode == 1 and "user:default/eve" in twice.stderr
    assert "also the e-mail of user:default/ada" in twice.stderr
    db = Database(database_url)
    try:
        assert _user_rows(db) == 0  # nothing imported
    finally:
        db.dispose()


LEAVERS = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: payments}
spec: {type: team, members: [ada, bob, eve]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: checkout}
spec: {type: team, members: [ada, bob]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: ops}
spec: {type: team, members: [ada]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: ada}
spec:
  profile: {email: ada@example.com, displayName: Ada}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: bob}
spec:
  profile: {email: bob@example.com}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: eve}
spec:
  profile: {email: eve@example.com}
"""
ADA = LEAVERS.split("---\n")[3]
EVE = LEAVERS.split("---\n")[5]
CHECKOUT = LEAVERS.split("---\n")[1]


def _status(client: httpx.Client, code: int) -> Callable[[], bool]:
    """Whether ``client``'s ``/v3/users/me`` answers ``code`` (the server rechecks a
    cached token within half a second of a change another process made)."""
    return lambda: client.get("/v3/users/me").status_code == code


def test_users_backstage_no_longer_lists_are_deactivated_and_come_back(
    server: LiveServer, database_url: str, tmp_path: Path
) -> None:
    env = cli_env(database_url, tmp_path)
    folder = tmp_path / "repo"
    folder.mkdir()
    tree = folder / "catalog-info.yaml"
    tree.write_text(LEAVERS)
    with server.client() as api:
        # Made by hand: the team ops and the user eve (both only used by the import).
        assert api.post("/v3/teams", json={"name": "ops"}).status_code == 201
        assert api.post("/v3/invites", json={"email": "eve@example.com"}).status_code == 201
        first = _import(env, folder)
        assert first["summary"]["deactivated"] == first["summary"]["reactivated"] == 0
        assert _changes(first, "user") == {
            ("create", "ada@example.com"),
            ("create", "bob@example.com"),
        }
        assert _members(api, "payments") == {
            "ada@example.com",
            "bob@example.com",
            "eve@example.com",
        }
        ada = _user(api, "ada@example.com")
        made = api.post(
            f"/v3/users/{ada['id']}/access-tokens", json={"name": "laptop", "ttl_seconds": 86400}
        )
        assert made.status_code == 201, made.text
        with server.client(made.json()["konnect_token"]) as as_ada:
            assert as_ada.get("/v3/users/me").status_code == 200

            # ada and eve leave Backstage, with the Group checkout; an administrator
            # deactivates bob, whom Backstage still lists.
            bob = _user(api, "bob@example.com")
            off = api.patch(f"/v3/users/{bob['id']}", json={"active": False})
            assert off.status_code == 200, off.text
            tree.write_text(
                LEAVERS.replace(ADA, "")
                .replace(EVE, "")
                .replace(CHECKOUT, "")
                .replace("[ada, bob, eve]", "[bob]")
                .replace("members: [ada]", "members: []")
            )
            plan = run_cli("import", "backstage", str(folder), "--dry-run", "--prune", env=env)
            assert plan.returncode == 0, plan.stderr
            assert "users to be deactivated: 1, reactivated: 0" in plan.stdout
            assert _user(api, "ada@example.com")["active"] is True  # a dry run changes nothing
            # Without --prune (an import of part of a repository, say) ada stays active,
            # and the plan says so.
            partial = run_cli("import", "backstage", str(folder), "--dry-run", env=env)
            assert partial.returncode == 0, partial.stderr
            assert "users to be deactivated: 0" in partial.stdout
            assert "1 users no longer in Backstage left active: --prune" in partial.stdout

            second = _import(env, folder, "--prune")
            assert second["summary"]["deactivated"] == 1
            assert second["summary"]["reactivated"] == 0
            assert _changes(second, "user") == {("update", "ada@example.com")}
            assert [c["fields"] for c in second["changes"] if c["kind"] == "user"] == [
                {"active": {"old": True, "new": False}}
            ]
            # Out of the teams the import made (payments, declared; checkout, no longer
            # declared), kept in ops (made by hand); its token stops working.
            assert _changes(second, "team_member") == {
                ("delete", "ada@example.com in payments"),
                ("delete", "ada@example.com in checkout"),
                ("delete", "eve@example.com in payments"),
            }
            assert _user(api, "ada@example.com")["active"] is False
            assert _members(api, "payments") == {"bob@example.com"}
            assert _members(api, "checkout") == {"bob@example.com"}
            assert _members(api, "ops") == {"ada@example.com"}
            wait_until(_status(as_ada, 401), "ada's token answers 401")
            # eve was made by hand: left active; bob, deactivated by hand, stays so.
            assert _user(api, "eve@example.com")["active"] is True
            assert _user(api, "bob@example.com")["active"] is False

            # Again: nothing left to do.
            third = _import(env, folder, "--prune")
            assert third["applied"] is False and third["summary"]["deactivated"] == 0

            # ada is back: reactivated, its token works again, back in payments.
            tree.write_text(LEAVERS)
            back = _import(env, folder)
            assert back["summary"]["reactivated"] == 1 and back["summary"]["deactivated"] == 0
            assert [c["fields"] for c in back["changes"] if c["kind"] == "user"] == [
                {"active": {"old": False, "new": True}}
            ]
            assert _user(api, "ada@example.com")["active"] is True
            assert _user(api, "bob@example.com")["active"] is False  # never by the import
            wait_until(_status(as_ada, 200), "ada's token works again")
            assert _members(api, "payments") == {
                "ada@example.com",
                "bob@example.com",
                "eve@example.com",
            }
    kinds = [t for t, _ in _events(server.db)]
    assert kinds.count("user.deactivated") == 2  # bob by hand, ada by the import
    assert kinds.count("user.reactivated") == 1
    deactivated = [a for t, a in _events(server.db) if t == "user.deactivated"]
    assert deactivated[1]["user_id"] == ada["id"]

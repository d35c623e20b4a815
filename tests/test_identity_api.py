"""The identity API (``/v3``) over HTTP, its bodies validated against Kong's published
Konnect Identity contract: users, teams, members, system accounts and their tokens,
personal access tokens, roles and their assignment, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import httpx

from conftest import LiveServer
from contract import Contract

FOREVER = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()


def invite(api: httpx.Client, c: Contract, email: str, **extra: Any) -> dict[str, Any]:
    """Create a user through ``POST /v3/invites``."""
    return c.check(api.post("/v3/invites", json={"email": email, **extra}), 201, schema="User")


def pat(api: httpx.Client, c: Contract, user_id: str, name: str = "laptop") -> str:
    """A new personal access token of a user, as the contract shapes its creation."""
    body = c.check(
        api.post(f"/v3/users/{user_id}/access-tokens", json={"name": name, "ttl_seconds": 86400}),
        201,
        response="PersonalAccessTokenCreateResponse",
    )
    token: str = body["konnect_token"]
    assert token.startswith("kpat_")
    return token


def as_token(server: LiveServer, token: str) -> httpx.Client:
    """A client sending ``token``."""
    return server.client(token)


def test_users_invites_and_me(server: LiveServer, identity_contract: Contract) -> None:
    c = identity_contract
    with server.client() as admin:
        ada = invite(admin, c, "ada@example.com", full_name="Ada Lovelace")
        assert ada["active"] is True and ada["full_name"] == "Ada Lovelace"
        invite(admin, c, "bob@example.com")
        c.check(admin.post("/v3/invites", json={"email": "ada@example.com"}), 409)
        bad = c.check(admin.post("/v3/invites", json={"email": "nope"}), 400)
        assert bad["invalid_parameters"][0]["field"] == "email"
        c.check(admin.post("/v3/invites", json={"email": "x@y.z", "admin": True}), 400)

        listed = c.check(admin.get("/v3/users"), 200, response="UserCollection")
        assert [u["email"] for u in listed["data"]] == ["ada@example.com", "bob@example.com"]
        assert listed["meta"]["page"] == {"number": 1, "size": 10, "total": 2}
        one = c.check(
            admin.get("/v3/users", params={"filter[email]": "bob@example.com"}),
            200,
            response="UserCollection",
        )
        assert [u["email"] for u in one["data"]] == ["bob@example.com"]
        contains = admin.get("/v3/users", params={"filter[full_name][contains]": "Love"}).json()
        assert [u["id"] for u in contains["data"]] == [ada["id"]]
        paged = admin.get("/v3/users", params={"page[size]": 1, "page[number]": 2}).json()
        assert [u["email"] for u in paged["data"]] == ["bob@example.com"]
        c.check(admin.get("/v3/users", params={"filter[nope]": "x"}), 400)
        c.check(admin.get("/v3/users", params={"page[size]": "many"}), 400)

        c.check(admin.get(f"/v3/users/{ada['id']}"), 200, schema="User")
        c.check(admin.get(f"/v3/users/{uuid.uuid4()}"), 404)
        c.check(admin.get("/v3/users/not-a-uuid"), 404)
        changed = c.check(
            admin.patch(f"/v3/users/{ada['id']}", json={"preferred_name": "Ada"}),
            200,
            schema="User",
        )
        assert changed["preferred_name"] == "Ada"
        # a system account's token has no user
        c.check(admin.get("/v3/users/me"), 404)
        c.check(admin.get("/v3/organizations/me"), 200, response="MeOrganization")

        token = pat(admin, c, ada["id"])
    with as_token(server, token) as ada_api:
        me = c.check(ada_api.get("/v3/users/me"), 200, response="UserSingle")
        assert me["id"] == ada["id"]
        c.check(ada_api.get("/v3/organizations/me"), 200, response="MeOrganization")
        c.check(ada_api.get(f"/v3/users/{ada['id']}/teams"), 200, response="TeamCollection")
        # a user without roles manages no one
        denied = c.check(ada_api.get("/v3/users"), 403)
        assert "Organization Admin" in denied["detail"]
        c.check(ada_api.post("/v3/teams", json={"name": "mine"}), 403)
        c.check(ada_api.get(f"/v3/users/{listed['data'][1]['id']}"), 403)


def test_deactivating_or_deleting_a_user_stops_its_tokens_at_once(
    server: LiveServer, identity_contract: Contract
) -> None:
    c = identity_contract
    with server.client() as admin:
        user = invite(admin, c, "eve@example.com")
        token = pat(admin, c, user["id"])
        with as_token(server, token) as eve:
            assert eve.get("/v3/users/me").status_code == 200
            off = admin.patch(f"/v3/users/{user['id']}", json={"active": False})
            assert c.check(off, 200, schema="User")["active"] is False
            assert eve.get("/v3/users/me").status_code == 401
            admin.patch(f"/v3/users/{user['id']}", json={"active": True})
            assert eve.get("/v3/users/me").status_code == 200
            assert admin.delete(f"/v3/users/{user['id']}").status_code == 204
            assert eve.get("/v3/users/me").status_code == 401
        c.check(admin.delete(f"/v3/users/{user['id']}"), 404)


def test_personal_access_tokens(server: LiveServer, identity_contract: Contract) -> None:
    c = identity_contract
    with server.client() as admin:
        user = invite(admin, c, "pat@example.com")
    uid = user["id"]
    with server.client() as admin:
        first = pat(admin, c, uid, "first")
    base = f"/v3/users/{uid}/access-tokens"
    with as_token(server, first) as me:
        # a user manages its own tokens
        made = c.check(
            me.post(base, json={"name": "ci token", "expires_at": FOREVER}),
            201,
            response="PersonalAccessTokenCreateResponse",
        )
        c.check(me.post(base, json={"name": "ci token", "ttl_seconds": 86400}), 409)
        c.check(me.post(base, json={"name": "short", "ttl_seconds": 60}), 400)
        c.check(me.post(base, json={"name": "both"}), 400)
        c.check(me.post(base, json={"name": "past", "expires_at": "2001-01-01T00:00:00Z"}), 400)
        listed = c.check(me.get(base), 200, response="PersonalAccessTokenListResponse")
        assert sorted(t["name"] for t in listed["data"]) == ["ci token", "first"]
        assert made["konnect_token"] not in str(listed)
        path = f"{base}/{made['id']}"
        c.check(me.get(path), 200, response="PersonalAccessTokenResponse")
        renamed = c.check(
            me.patch(path, json={"name": "renamed"}), 200, response="PersonalAccessTokenResponse"
        )
        assert renamed["name"] == "renamed"
        with as_token(server, made["konnect_token"]) as second:
            assert second.get("/v3/users/me").status_code == 200
            revoked = c.check(
                me.patch(f"{path}/revoke"), 200, response="PersonalAccessTokenResponse"
            )
            assert revoked["state"] == "REVOKED" and revoked["revoked_by"] == uid
            assert second.get("/v3/users/me").status_code == 401
        assert me.delete(path).status_code == 204
        c.check(me.get(path), 404)
        # another user's tokens are not its own
        with server.client() as admin:
            other = invite(admin, c, "other@example.com")
        c.check(me.get(f"/v3/users/{other['id']}/access-tokens"), 403)


def test_teams_and_members(server: LiveServer, identity_contract: Contract) -> None:
    c = identity_contract
    with server.client() as admin:
        team = c.check(
            admin.post(
                "/v3/teams", json={"name": "Payments", "description": "pay", "labels": {"env": "p"}}
            ),
            201,
            response="TeamSingle",
        )
        c.check(admin.post("/v3/teams", json={"name": "Payments"}), 409)
        c.check(admin.post("/v3/teams", json={"name": ""}), 400)
        c.check(admin.post("/v3/teams", json={}), 400)
        c.check(admin.post("/v3/teams", json={"name": "Search"}), 201, response="TeamSingle")
        tid = team["id"]
        listed = c.check(
            admin.get("/v3/teams", params={"filter[name]": "Payments"}),
            200,
            response="TeamCollectionResponse",
        )
        assert [t["id"] for t in listed["data"]] == [tid]
        by_label = admin.get("/v3/teams", params={"filter[labels.env]": "p"}).json()
        assert [t["id"] for t in by_label["data"]] == [tid]
        patched = c.check(
            admin.patch(f"/v3/teams/{tid}", json={"description": "money", "labels": {"env": None}}),
            200,
            response="TeamSingle",
        )
        assert patched["description"] == "money" and patched["labels"] == {}
        c.check(admin.patch(f"/v3/teams/{tid}", json={"name": "Search"}), 409)

        user = invite(admin, c, "m@example.com")
        members = f"/v3/teams/{tid}/users"
        assert admin.post(members, json={"id": user["id"]}).status_code == 201
        c.check(admin.post(members, json={"id": user["id"]}), 409)
        c.check(admin.post(members, json={"id": str(uuid.uuid4())}), 404)
        c.check(admin.post(members, json={"id": "nope"}), 400)
        in_team = c.check(admin.get(members), 200, response="UserCollection")
        assert [u["id"] for u in in_team["data"]] == [user["id"]]
        teams = c.check(admin.get(f"/v3/users/{user['id']}/teams"), 200, response="TeamCollection")
        assert [t["id"] for t in teams["data"]] == [tid]
        assert admin.delete(f"{members}/{user['id']}").status_code == 204
        c.check(admin.delete(f"{members}/{user['id']}"), 404)
        assert admin.delete(f"/v3/teams/{tid}").status_code == 204
        c.check(admin.get(f"/v3/teams/{tid}"), 404)


def test_system_accounts_and_their_tokens(server: LiveServer, identity_contract: Contract) -> None:
    c = identity_contract
    with server.client() as admin:
        acct = c.check(
            admin.post("/v3/system-accounts", json={"name": "ci", "description": "the CI"}),
            201,
            response="SystemAccountSingle",
        )
        c.check(admin.post("/v3/system-accounts", json={"name": "ci", "description": "x"}), 409)
        c.check(admin.post("/v3/system-accounts", json={"name": "no description"}), 400)
        aid = acct["id"]
        listed = c.check(
            admin.get("/v3/system-accounts", params={"filter[name]": "ci"}),
            200,
            response="SystemAccountCollection",
        )
        assert [a["id"] for a in listed["data"]] == [aid]
        c.check(
            admin.patch(f"/v3/system-accounts/{aid}", json={"description": "builds"}),
            200,
            response="SystemAccountSingle",
        )
        base = f"/v3/system-accounts/{aid}/access-tokens"
        made = c.check(
            admin.post(base, json={"name": "deploy", "expires_at": FOREVER}),
            201,
            response="SystemAccountAccessTokenCreated",
        )
        assert made["token"].startswith("spat_")
        c.check(admin.post(base, json={"name": "deploy", "expires_at": FOREVER}), 409)
        tokens = c.check(admin.get(base), 200, response="SystemAccountAccessTokenCollection")
        assert [t["name"] for t in tokens["data"]] == ["deploy"]
        assert made["token"] not in str(tokens)
        path = f"{base}/{made['id']}"
        c.check(admin.get(path), 200, response="SystemAccountAccessTokenSingle")
        c.check(
            admin.patch(path, json={"name": "deploy-2"}),
            200,
            response="SystemAccountAccessTokenSingle",
        )
        team = admin.post("/v3/teams", json={"name": "Robots"}).json()
        add = admin.post(f"/v3/teams/{team['id']}/system-accounts", json={"id": aid})
        assert add.status_code == 201
        teams = c.check(
            admin.get(f"/v3/system-accounts/{aid}/teams"), 200, response="TeamCollection"
        )
        assert [t["name"] for t in teams["data"]] == ["Robots"]
        in_team = c.check(
            admin.get(f"/v3/teams/{team['id']}/system-accounts"),
            200,
            response="SystemAccountCollection",
        )
        assert [a["id"] for a in in_team["data"]] == [aid]
        with as_token(server, made["token"]) as robot:
            # a system account without roles may read the role list, not manage
            assert robot.get("/v3/roles").status_code == 200
            c.check(robot.get("/v3/system-accounts"), 403)
            assert admin.delete(path).status_code == 204
            assert robot.get("/v3/roles").status_code == 401
        assert admin.delete(f"/v3/system-accounts/{aid}").status_code == 204
        c.check(admin.get(f"/v3/system-accounts/{aid}"), 404)


def test_roles_and_assignments(server: LiveServer, identity_contract: Contract) -> None:
    c = identity_contract
    with server.client() as admin:
        roles = c.check(admin.get("/v3/roles"), 200, response="Roles")
        names = {r["name"] for r in roles["service_catalog"]["roles"].values()}
        assert names == {
            "Organization Admin",
            "Service Creator",
            "Service Admin",
            "Service Viewer",
            "Integration Admin",
            "Integration Viewer",
            "Scorecard Admin",
            "Scorecard Viewer",
        }
        svc = admin.post("/v1/catalog-services", json={"name": "pay", "display_name": "Pay"})
        sid = svc.json()["id"]
        user = invite(admin, c, "r@example.com")
        base = f"/v3/users/{user['id']}/assigned-roles"
        body = {"role_name": "Service Viewer", "entity_id": sid, "entity_type_name": "Service Hub"}
        made = c.check(admin.post(base, json=body), 201, response="AssignedRoleSingle")
        assert made["role_name"] == "Service Viewer" and made["entity_id"] == sid
        c.check(admin.post(base, json=body), 409)
        c.check(admin.post(base, json={**body, "role_name": "Overlord"}), 400)
        c.check(admin.post(base, json={**body, "entity_id": str(uuid.uuid4())}), 400)
        c.check(admin.post(base, json={**body, "entity_id": "pay"}), 400)
        c.check(admin.post(base, json={**body, "entity_region": "mars"}), 400)
        c.check(admin.post(base, json={"role_name": "Integration Admin", "entity_id": sid}), 400)
        star = c.check(
            admin.post(base, json={"role_name": "Scorecard Viewer", "entity_id": "*"}),
            201,
            response="AssignedRoleSingle",
        )
        listed = c.check(admin.get(base), 200, response="AssignedRoleCollection")
        assert {r["id"] for r in listed["data"]} == {made["id"], star["id"]}
        only = admin.get(base, params={"filter[role_name]": "Scorecard Viewer"}).json()
        assert [r["id"] for r in only["data"]] == [star["id"]]
        c.check(admin.get(f"{base}/{made['id']}"), 200, response="AssignedRoleSingle")
        assert admin.delete(f"{base}/{made['id']}").status_code == 204
        c.check(admin.delete(f"{base}/{made['id']}"), 404)
        c.check(admin.post(f"/v3/users/{uuid.uuid4()}/assigned-roles", json=body), 404)


def test_rights_follow_teams_at_once(server: LiveServer, identity_contract: Contract) -> None:
    """A user gains Organization Admin through its team and loses it when removed from
    the team or when the team's role goes, each at once."""
    c = identity_contract
    with server.client() as admin:
        user = invite(admin, c, "t@example.com")
        token = pat(admin, c, user["id"])
        team = admin.post("/v3/teams", json={"name": "Admins"}).json()
        roles = f"/v3/teams/{team['id']}/assigned-roles"
        grant = c.check(
            admin.post(roles, json={"role_name": "Organization Admin", "entity_id": "*"}),
            201,
            response="AssignedRoleSingle",
        )
        with as_token(server, token) as api:
            assert api.get("/v3/users").status_code == 403
            admin.post(f"/v3/teams/{team['id']}/users", json={"id": user["id"]})
            assert api.get("/v3/users").status_code == 200
            admin.delete(f"/v3/teams/{team['id']}/users/{user['id']}")
            assert api.get("/v3/users").status_code == 403
            admin.post(f"/v3/teams/{team['id']}/users", json={"id": user["id"]})
            assert api.get("/v3/users").status_code == 200
            admin.delete(f"{roles}/{grant['id']}")
            assert api.get("/v3/users").status_code == 403
            # its own assignment works as well, and a user reads its own roles
            admin.post(
                f"/v3/users/{user['id']}/assigned-roles",
                json={"role_name": "Organization Admin", "entity_id": "*"},
            )
            assert api.get("/v3/users").status_code == 200
            assert api.get(f"/v3/users/{user['id']}/assigned-roles").status_code == 200


def test_identity_changes_are_audited_without_secrets(
    server: LiveServer, identity_contract: Contract
) -> None:
    c = identity_contract
    with server.client(server.token("root")) as admin:
        user = invite(admin, c, "aud@example.com")
        token = pat(admin, c, user["id"], "audited")
        team = admin.post("/v3/teams", json={"name": "Audited"}).json()
        admin.post(f"/v3/teams/{team['id']}/users", json={"id": user["id"]})
        grant = admin.post(
            f"/v3/teams/{team['id']}/assigned-roles",
            json={"role_name": "Scorecard Admin", "entity_id": "*"},
        ).json()
        admin.delete(f"/v3/teams/{team['id']}/assigned-roles/{grant['id']}")
        admin.delete(f"/v3/teams/{team['id']}/users/{user['id']}")
        admin.patch(f"/v3/teams/{team['id']}", json={"description": "d"})
        admin.delete(f"/v3/teams/{team['id']}")
        tokens = admin.get(f"/v3/users/{user['id']}/access-tokens").json()["data"]
        admin.patch(f"/v3/users/{user['id']}/access-tokens/{tokens[0]['id']}/revoke")
        admin.patch(f"/v3/users/{user['id']}", json={"active": False})
        admin.delete(f"/v3/users/{user['id']}")
        feed = admin.get("/v1/audit-log", params={"sort": "ts asc", "page[size]": 100})
        assert feed.status_code == 200, feed.text
    entries = feed.json()["data"]
    assert [e["type"] for e in entries] == [
        "user.created",
        "access_token.created",
        "team.created",
        "team.member_added",
        "role.assigned",
        "role.removed",
        "team.member_removed",
        "team.updated",
        "team.deleted",
        "access_token.revoked",
        "user.deactivated",
        "user.deleted",
    ]
    assert {e["actor"]["name"] for e in entries} == {"root"}
    assert all(e["ts"] for e in entries)
    assert entries[4]["attributes"]["role_name"] == "Scorecard Admin"
    assert token not in feed.text
    assert token[:12] not in feed.text


def test_every_path_parameter_is_documented(server: LiveServer) -> None:
    """The generated OpenAPI document names each ``{param}`` of a path as a path parameter
    of its operations (the ``assigned-roles`` routes read theirs from the path by hand)."""
    doc = server.app.openapi()
    missing = []
    for path, item in doc["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, op in item.items():
            given = {p["name"] for p in op.get("parameters", []) if p.get("in") == "path"}
            if names - given:
                missing.append((method.upper(), path, sorted(names - given)))
    assert missing == []
    assigned = doc["paths"]["/v3/users/{userId}/assigned-roles/{roleId}"]["get"]
    assert {p["name"] for p in assigned["parameters"] if p["in"] == "path"} == {
        "roleId",
        "userId",
    }

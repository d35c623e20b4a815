"""``/v3/identity-providers`` and their team-group mappings: the identity contract's shapes,
a write-only client secret, and a 400 that names the field for bad input (SQLite and
PostgreSQL)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from contract import Contract

SECRET = "idp-client-secret-" + uuid.uuid4().hex


def body(**changes: Any) -> dict[str, Any]:
    config = {
        "issuer_url": "https://idp.example.com/oauth2/default",
        "client_id": "catalog",
        "client_secret": SECRET,
    }
    config.update(changes.pop("config", {}))
    return {"type": "oidc", "login_path": "acme", "config": config, **changes}


def field_of(resp: httpx.Response) -> str:
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    return str(resp.json()["invalid_parameters"][0]["field"])


def test_crud_in_the_contract_shape(api: httpx.Client) -> None:
    made = api.post("/v3/identity-providers", json=body())
    assert made.status_code == 201, made.text
    idp = made.json()
    assert idp["type"] == "oidc" and idp["enabled"] is False and idp["login_path"] == "acme"
    assert idp["config"] == {
        "issuer_url": "https://idp.example.com/oauth2/default",
        "client_id": "catalog",
        "scopes": ["email", "openid", "profile"],
        "claim_mappings": {"name": "name", "email": "email", "groups": "groups"},
    }
    path = f"/v3/identity-providers/{idp['id']}"
    assert api.get(path).json() == idp
    assert api.get("/v3/identity-providers").json() == [idp]
    assert api.get("/v3/identity-providers", params={"filter[type]": "saml"}).json() == []
    assert api.get("/v3/identity-providers", params={"filter[type][eq]": "oidc"}).json() == [idp]
    changed = api.patch(
        path,
        json={
            "enabled": True,
            "login_path": "acme-corp",
            "config": {"scopes": ["openid", "groups"], "claim_mappings": {"groups": "roles"}},
        },
    )
    assert changed.status_code == 200, changed.text
    got = changed.json()
    assert got["enabled"] is True and got["login_path"] == "acme-corp"
    assert got["config"]["scopes"] == ["openid", "groups"]
    assert got["config"]["claim_mappings"]["groups"] == "roles"
    # a new issuer needs the secret again: it is bound to the issuer it was given for
    moved = api.patch(path, json={"config": {"issuer_url": "https://other.example.com"}})
    assert field_of(moved) == "config.client_secret"
    moved = api.patch(
        path,
        json={"config": {"issuer_url": "https://other.example.com", "client_secret": SECRET}},
    )
    assert moved.status_code == 200, moved.text
    types = [e["type"] for e in api.get("/v1/audit-log").json()["data"]]
    assert {"identity_provider.created", "identity_provider.updated"} <= set(types)
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404
    assert api.delete(path).status_code == 404
    assert "identity_provider.deleted" in [
        e["type"] for e in api.get("/v1/audit-log").json()["data"]
    ]


def test_the_client_secret_is_never_returned(api: httpx.Client) -> None:
    made = api.post("/v3/identity-providers", json=body())
    texts = [made.text, api.get("/v3/identity-providers").text]
    texts.append(api.get(f"/v3/identity-providers/{made.json()['id']}").text)
    texts.append(api.post("/v3/identity-providers", json=body()).text)  # 409
    texts.append(api.post("/v3/identity-providers", json=body(login_path="Bad Path")).text)
    texts.append(api.get("/v1/audit-log").text)
    for text in texts:
        assert SECRET not in text


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"config": {"issuer_url": "http://idp.example.com"}}, "config.issuer_url"),
        ({"config": {"issuer_url": "https://user:pw@idp.example.com"}}, "config.issuer_url"),
        ({"config": {"issuer_url": "https://idp.example.com/?q=1"}}, "config.issuer_url"),
        ({"config": {"issuer_url": "http://169.254.169.254/latest"}}, "config.issuer_url"),
        ({"config": {"issuer_url": "file:///etc/passwd"}}, "config.issuer_url"),
        ({"config": {"issuer_url": ""}}, "config.issuer_url"),
        ({"config": {"issuer_url": 5}}, "config.issuer_url"),
        ({"config": {"client_id": ""}}, "config.client_id"),
        ({"config": {"scopes": ["email"]}}, "config.scopes"),
        ({"config": {"scopes": ["open id"]}}, "config.scopes.0"),
        ({"config": {"claim_mappings": {"groups": ""}}}, "config.claim_mappings.groups"),
        ({"config": {"claim_mappings": {"team": "x"}}}, "config.claim_mappings.team"),
        ({"config": {"secret": "x"}}, "config.secret"),
        ({"type": "saml"}, "type"),
        ({"login_path": "Acme Corp"}, "login_path"),
        ({"login_path": "-acme"}, "login_path"),
        ({"enabled": "yes"}, "enabled"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    api: httpx.Client, changes: dict[str, Any], field: str
) -> None:
    assert field_of(api.post("/v3/identity-providers", json=body(**changes))) == field


def test_loopback_issuers_may_be_http(api: httpx.Client) -> None:
    for n, issuer in enumerate(("http://127.0.0.1:9000", "http://localhost:9000/realm")):
        made = api.post(
            "/v3/identity-providers",
            json=body(login_path=f"local-{n}", config={"issuer_url": issuer}),
        )
        assert made.status_code == 201, made.text


def test_missing_fields_bad_ids_conflicts(api: httpx.Client, server: LiveServer) -> None:
    assert field_of(api.post("/v3/identity-providers", json={"login_path": "x"})) == "config"
    assert field_of(api.get("/v3/identity-providers/not-a-uuid")) == "id"
    assert api.get(f"/v3/identity-providers/{uuid.uuid4()}").status_code == 404
    first = api.post("/v3/identity-providers", json=body(enabled=True)).json()
    assert api.post("/v3/identity-providers", json=body()).status_code == 409  # login path
    second = api.post("/v3/identity-providers", json=body(login_path="other", enabled=True))
    assert second.status_code == 409  # one enabled provider at a time
    assert "acme" in second.json()["detail"]
    other = api.post("/v3/identity-providers", json=body(login_path="other")).json()
    taken = api.patch(f"/v3/identity-providers/{other['id']}", json={"login_path": "acme"})
    assert taken.status_code == 409
    api.patch(f"/v3/identity-providers/{first['id']}", json={"enabled": False}).raise_for_status()
    enabled = api.patch(f"/v3/identity-providers/{other['id']}", json={"enabled": True})
    assert enabled.status_code == 200
    with httpx.Client(base_url=server.url) as anon:
        assert anon.get("/v3/identity-providers").status_code == 401
        assert anon.post("/v3/identity-providers", json=body()).status_code == 401


def test_team_group_mappings(api: httpx.Client) -> None:
    idp = api.post("/v3/identity-providers", json=body()).json()
    path = f"/v3/identity-providers/{idp['id']}/team-group-mappings"
    teams = [api.post("/v3/teams", json={"name": f"team-{n}"}).json()["id"] for n in range(3)]
    made = [
        api.post(path, json={"team_id": team, "group": group})
        for team in teams
        for group in ("eng", "ops")
    ]
    assert [m.status_code for m in made] == [201] * 6
    one = made[0].json()
    assert set(one) == {"id", "team_id", "group", "created_at", "updated_at"}
    assert api.get(f"{path}/{one['id']}").json() == one
    again = api.post(path, json={"team_id": teams[0], "group": "eng"})
    assert again.status_code == 409
    # cursor pages, oldest first
    seen: list[str] = []
    page = api.get(path, params={"page[size]": 4}).json()
    while True:
        seen += [m["id"] for m in page["data"]]
        if not page["meta"]["page"]["next"]:
            break
        page = api.get(page["meta"]["page"]["next"]).json()
    assert seen == [m.json()["id"] for m in made]
    by_group = api.get(path, params={"filter[group]": "ops"}).json()["data"]
    assert len(by_group) == 3
    by_team = api.get(path, params={"filter[team_id]": teams[1]}).json()["data"]
    assert {m["group"] for m in by_team} == {"eng", "ops"}
    assert field_of(api.post(path, json={"team_id": "team-1", "group": "eng"})) == "team_id"
    unknown = api.post(path, json={"team_id": str(uuid.uuid4()), "group": "eng"})
    assert field_of(unknown) == "team_id"
    assert field_of(api.post(path, json={"team_id": teams[0]})) == "group"
    assert field_of(api.get(path, params={"page[after]": "forged"})) == "page[after]"
    assert api.delete(f"{path}/{one['id']}").status_code == 204
    assert api.get(f"{path}/{one['id']}").status_code == 404
    other = f"/v3/identity-providers/{uuid.uuid4()}/team-group-mappings"
    assert api.get(other).status_code == 404
    # deleting a team deletes its mappings
    assert api.delete(f"/v3/teams/{teams[2]}").status_code == 204
    assert api.get(path, params={"filter[team_id]": teams[2]}).json()["data"] == []
    # deleting the provider deletes its mappings
    assert api.delete(f"/v3/identity-providers/{idp['id']}").status_code == 204
    assert api.get(path).status_code == 404


def test_responses_match_the_identity_contract(
    api: httpx.Client, identity_contract: Contract
) -> None:
    c = identity_contract
    made = c.check(
        api.post("/v3/identity-providers", json=body(enabled=True)),
        201,
        response="IdentityProvider",
    )
    path = f"/v3/identity-providers/{made['id']}"
    c.check(api.get(path), 200, response="IdentityProvider")
    c.check(api.patch(path, json={"login_path": "acme-2"}), 200, response="IdentityProvider")
    listed = api.get("/v3/identity-providers")
    assert listed.status_code == 200
    c.validate(listed.json(), response="IdentityProviders")
    team = api.post("/v3/teams", json={"name": "eng"}).json()["id"]
    mappings = f"{path}/team-group-mappings"
    one = c.check(
        api.post(mappings, json={"team_id": team, "group": "eng"}),
        201,
        response="IdpTeamGroupMapping",
    )
    c.check(api.get(f"{mappings}/{one['id']}"), 200, response="IdpTeamGroupMapping")
    c.check(api.get(mappings), 200, response="IdpTeamGroupMappingsCollection")
    c.check(api.get(f"{path}/team-group-mappings/{uuid.uuid4()}"), 404)
    c.check(api.get(f"/v3/identity-providers/{uuid.uuid4()}"), 404)


def test_the_single_provider_paths_serve_the_enabled_provider(
    api: httpx.Client, identity_contract: Contract
) -> None:
    c = identity_contract
    # none enabled yet
    c.check(api.get("/v3/identity-provider"), 404)
    c.check(api.get("/v3/identity-provider/team-mappings"), 404)
    c.check(api.get("/v3/identity-provider/team-group-mappings"), 400)
    idp = api.post("/v3/identity-providers", json=body(enabled=True)).json()
    got = c.check(api.get("/v3/identity-provider"), 200, response="IdPConfiguration")
    assert got == {
        "issuer": "https://idp.example.com/oauth2/default",
        "login_path": "acme",
        "client_id": "catalog",
        "scopes": ["email", "openid", "profile"],
        "claim_mappings": {"name": "name", "email": "email", "groups": "groups"},
    }
    changed = c.check(
        api.patch(
            "/v3/identity-provider",
            json={"client_id": "catalog-2", "claim_mappings": {"groups": "roles"}},
        ),
        200,
        response="IdPConfiguration",
    )
    assert changed["client_id"] == "catalog-2" and changed["claim_mappings"]["groups"] == "roles"
    assert api.get(f"/v3/identity-providers/{idp['id']}").json()["config"]["client_id"] == (
        "catalog-2"
    )
    # a new issuer needs the secret again; bad input names the field
    moved = api.patch("/v3/identity-provider", json={"issuer": "https://other.example.com"})
    assert field_of(moved) == "config.client_secret"
    assert field_of(api.patch("/v3/identity-provider", json={"login_path": "A B"})) == "login_path"
    assert field_of(api.patch("/v3/identity-provider", json={"extra": 1})) == "extra"
    assert SECRET not in api.get("/v3/identity-provider").text

    eng, ops = (api.post("/v3/teams", json={"name": n}).json()["id"] for n in ("eng", "ops"))
    put = c.check(
        api.put(
            "/v3/identity-provider/team-mappings",
            json={"mappings": [{"group": "devs", "team_ids": [eng, ops]}]},
        ),
        200,
        response="TeamMappingCollection",
    )
    assert [(g["group"], sorted(g["team_ids"])) for g in put["data"]] == [
        ("devs", sorted([eng, ops]))
    ]
    unknown = api.put(
        "/v3/identity-provider/team-mappings",
        json={"mappings": [{"group": "devs", "team_ids": [str(uuid.uuid4())]}]},
    )
    assert field_of(unknown) == "mappings.0.team_ids.0"
    paged = c.check(
        api.get("/v3/identity-provider/team-mappings"), 200, response="TeamMappingResponse"
    )
    assert paged["meta"]["page"] == {"number": 1, "size": 10, "total": 1}
    patched = c.check(
        api.patch(
            "/v3/identity-provider/team-group-mappings",
            json={"data": [{"team_id": ops, "groups": ["ops", "oncall"]}]},
        ),
        200,
        response="TeamGroupMappingCollection",
    )
    assert {t["team_id"]: sorted(t["groups"]) for t in patched["data"]} == {
        eng: ["devs"],
        ops: ["oncall", "ops"],
    }
    emptied = c.check(
        api.patch(
            "/v3/identity-provider/team-group-mappings",
            json={"data": [{"team_id": eng, "groups": []}]},
        ),
        200,
        response="TeamGroupMappingCollection",
    )
    assert [t["team_id"] for t in emptied["data"]] == [ops]
    bad = api.patch(
        "/v3/identity-provider/team-group-mappings",
        json={"data": [{"team_id": str(uuid.uuid4()), "groups": ["x"]}]},
    )
    assert field_of(bad) == "data.0.team_id"
    listed = c.check(
        api.get("/v3/identity-provider/team-group-mappings", params={"page[size]": 1}),
        200,
        response="TeamGroupMappingCollection",
    )
    assert listed["meta"]["page"]["total"] == 1
    # the same mappings, through the provider's own path
    own = api.get(f"/v3/identity-providers/{idp['id']}/team-group-mappings").json()["data"]
    assert sorted(m["group"] for m in own) == ["oncall", "ops"]

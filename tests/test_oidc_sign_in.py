"""Signing in through a real OpenID Connect provider (npm ``oidc-provider`` on loopback):
the whole browser flow driven with httpx, on SQLite and PostgreSQL. The first sign-in
creates the user (or links the user of that e-mail); every sign-in sets the teams mapped
from the groups claim (a hand-given membership stays); the console session acts as the user,
with its roles, until sign-out, deactivation or deletion; a deactivated user cannot sign in;
a forged or replayed ``state``, a wrong nonce, another issuer or an ID token signed by
another key are refused with a 4xx and start no session."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from conftest import LiveServer
from contract import Contract
from oidc_provider import OidcProvider, follow
from service_catalog.auth.sessions import SESSION_COOKIE

LOGIN_PATH = "acme"
SCOPES = ["openid", "email", "profile", "groups"]


@dataclass
class World:
    """A catalog, an identity provider configured in it, and an admin client."""

    server: LiveServer
    provider: OidcProvider
    api: httpx.Client
    idp_id: str

    @property
    def callback(self) -> str:
        return f"{self.server.url}/v3/authenticate/{LOGIN_PATH}/callback"

    def browser(self) -> httpx.Client:
        """A fresh browser: a cookie jar, no token."""
        return httpx.Client(base_url=self.server.url, timeout=30)

    def sign_in(
        self,
        browser: httpx.Client,
        login: str,
        *,
        tamper: Callable[[str], str] | None = None,
        return_to: str | None = None,
    ) -> httpx.Response:
        """Sign in as ``login`` at the provider; the catalog's answer at its callback."""
        params = {"return_to": return_to} if return_to else {}
        started = browser.get(f"/v3/authenticate/{LOGIN_PATH}", params=params)
        assert started.status_code == 302, started.text
        return follow(browser, started, login=login, stop_at=self.callback, tamper=tamper)

    def team(self, name: str, role: str | None = None, entity_id: str = "*") -> str:
        """A new team (holding ``role`` on ``entity_id`` when given); its id."""
        made = self.api.post("/v3/teams", json={"name": name})
        assert made.status_code == 201, made.text
        team_id: str = made.json()["id"]
        if role is not None:
            self.api.post(
                f"/v3/teams/{team_id}/assigned-roles",
                json={"role_name": role, "entity_id": entity_id},
            ).raise_for_status()
        return team_id

    def map_group(self, group: str, team_id: str) -> str:
        """Map an IdP group to a team; the mapping's id."""
        made = self.api.post(
            f"/v3/identity-providers/{self.idp_id}/team-group-mappings",
            json={"team_id": team_id, "group": group},
        )
        assert made.status_code == 201, made.text
        mapping_id: str = made.json()["id"]
        return mapping_id

    def teams_of(self, user_id: str) -> set[str]:
        """The names of a user's teams, as an Organization Admin reads them."""
        got = self.api.get(f"/v3/users/{user_id}/teams", params={"page[size]": 100})
        assert got.status_code == 200, got.text
        return {t["name"] for t in got.json()["data"]}

    def audit(self, type_: str) -> list[dict[str, Any]]:
        body = self.api.get(
            "/v1/audit-log", params={"filter[type]": type_, "page[size]": 100}
        ).json()
        return list(body["data"])


def idp_body(provider: OidcProvider, **extra: Any) -> dict[str, Any]:
    return {
        "type": "oidc",
        "login_path": LOGIN_PATH,
        "enabled": True,
        "config": {
            "issuer_url": provider.issuer,
            "client_id": provider.client_id,
            "client_secret": provider.client_secret,
            "scopes": SCOPES,
            "claim_mappings": {"name": "name", "email": "email", "groups": "groups"},
        },
        **extra,
    }


@pytest.fixture
def world(server: LiveServer) -> Iterator[World]:
    callback = f"{server.url}/v3/authenticate/{LOGIN_PATH}/callback"
    with OidcProvider(redirect_uris=[callback]) as provider, server.client() as api:
        provider.set_account("alice", email="alice@example.com", name="Alice", groups=["eng"])
        made = api.post("/v3/identity-providers", json=idp_body(provider))
        assert made.status_code == 201, made.text
        yield World(server, provider, api, made.json()["id"])


def session_cookie(response: httpx.Response) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{SESSION_COOKIE}="):
            return header
    return None


def test_first_sign_in_creates_the_user_and_starts_a_session_that_works_until_sign_out(
    world: World, identity_contract: Contract
) -> None:
    c = identity_contract
    team = world.team("Engineering", "Service Creator")
    world.map_group("eng", team)
    world.provider.set_account(
        "alice", email="alice@example.com", name="Alice", groups=["eng", "ops"]
    )
    with world.browser() as browser:
        done = world.sign_in(browser, "alice")
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["user"]["email"] == "alice@example.com"
        assert body["first_sign_in"] is True
        assert body["groups"] == ["eng", "ops"]
        assert body["team_ids"] == [team]
        cookie = session_cookie(done)
        assert cookie is not None
        assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
        # the user exists, with the e-mail and name of the claims, in the mapped team
        user_id = body["user"]["id"]
        listed = c.check(
            world.api.get("/v3/users", params={"filter[email]": "alice@example.com"}),
            200,
            response="UserCollection",
        )
        assert [(u["id"], u["full_name"], u["active"]) for u in listed["data"]] == [
            (user_id, "Alice", True)
        ]
        assert world.teams_of(user_id) == {"Engineering"}
        # the session is the user's
        me = c.check(browser.get("/v3/users/me"), 200, response="UserSingle")
        assert me["id"] == user_id and me["email"] == "alice@example.com"
        c.check(browser.get(f"/v3/users/{user_id}/teams"), 200, response="TeamCollection")
        # the session cookie authenticates /v1, for reads and writes, as the user
        assert browser.get("/v1/catalog-services").status_code == 200
        made = browser.post("/v1/catalog-services", json={"name": "web", "display_name": "Web"})
        assert made.status_code == 201, made.text
        created = world.audit("catalog_service.created")
        assert created[0]["actor"]["type"] == "user"
        assert created[0]["actor"]["name"] == "alice@example.com"
        # sign-out ends it at once
        assert browser.post("/v3/authenticate/logout").status_code == 204
        assert SESSION_COOKIE not in browser.cookies
    with world.browser() as replay:
        value = cookie.split(";", 1)[0].split("=", 1)[1]
        replay.cookies.set(SESSION_COOKIE, value)
        assert replay.get("/v1/catalog-services").status_code == 401
        assert replay.get("/v3/users/me").status_code == 401
    signed_in = world.audit("identity_provider.signed_in")
    assert len(signed_in) == 1
    attrs = signed_in[0]["attributes"]
    assert attrs["subject"] == "alice" and attrs["groups"] == ["eng", "ops"]
    assert attrs["first_sign_in"] is True
    assert signed_in[0]["actor"] == {"type": "user", "id": user_id, "name": "alice@example.com"}
    assert world.audit("identity_provider.signed_out")
    created_user = world.audit("user.created")
    assert [e["attributes"]["user_id"] for e in created_user] == [user_id]
    added = world.audit("team.member_added")
    assert [(e["attributes"]["team_id"], e["attributes"]["member_id"]) for e in added] == [
        (team, user_id)
    ]
    assert added[0]["actor"]["type"] == "identity_provider"


def test_groups_are_taken_again_at_every_sign_in(world: World) -> None:
    eng, ops, manual = world.team("Eng"), world.team("Ops"), world.team("Manual")
    world.map_group("eng", eng)
    ops_mapping = world.map_group("ops", ops)
    world.provider.set_account("bob", email="bob@example.com", name="Bob", groups=["eng", "ops"])
    with world.browser() as browser:
        first = world.sign_in(browser, "bob").json()
    assert first["first_sign_in"] is True
    assert sorted(first["team_ids"]) == sorted([eng, ops])
    uid = first["user"]["id"]
    assert world.teams_of(uid) == {"Eng", "Ops"}
    # an administrator adds bob to a team by hand
    added = world.api.post(f"/v3/teams/{manual}/users", json={"id": uid})
    assert added.status_code == 201, added.text
    # the group is removed at the identity provider: the next sign-in knows it
    world.provider.set_account("bob", email="bob@example.com", name="Bobby", groups=["ops"])
    with world.browser() as browser:
        second = world.sign_in(browser, "bob").json()
    assert second["first_sign_in"] is False
    assert second["user"]["id"] == uid
    assert second["groups"] == ["ops"] and second["team_ids"] == [ops]
    assert world.teams_of(uid) == {"Ops", "Manual"}
    assert world.api.get(f"/v3/users/{uid}").json()["full_name"] == "Bobby"
    # a group no longer mapped takes its team away as well; the hand-given one stays
    world.api.delete(
        f"/v3/identity-providers/{world.idp_id}/team-group-mappings/{ops_mapping}"
    ).raise_for_status()
    with world.browser() as browser:
        third = world.sign_in(browser, "bob").json()
    assert third["team_ids"] == []
    assert world.teams_of(uid) == {"Manual"}
    events = world.audit("identity_provider.signed_in")
    assert [e["attributes"]["groups"] for e in events] == [["ops"], ["ops"], ["eng", "ops"]]
    removed = world.audit("team.member_removed")
    assert [e["attributes"]["team_id"] for e in removed] == [ops, eng]
    assert {e["actor"]["type"] for e in removed} == {"identity_provider"}
    # one user, never duplicated
    users = world.api.get("/v3/users", params={"filter[email]": "bob@example.com"}).json()
    assert users["meta"]["page"]["total"] == 1


def test_a_user_of_that_e_mail_is_linked_not_duplicated(world: World) -> None:
    invited = world.api.post("/v3/invites", json={"email": "carol@example.com"})
    assert invited.status_code == 201, invited.text
    world.provider.set_account("carol", email="Carol@Example.com", name="Carol", groups=[])
    with world.browser() as browser:
        done = world.sign_in(browser, "carol")
        assert done.status_code == 200, done.text
        assert done.json()["user"]["id"] == invited.json()["id"]
        assert browser.get("/v3/users/me").json()["id"] == invited.json()["id"]
    assert world.api.get("/v3/users").json()["meta"]["page"]["total"] == 1


def test_a_deactivated_user_cannot_sign_in_and_its_session_stops_at_once(world: World) -> None:
    with world.browser() as browser:
        done = world.sign_in(browser, "alice")
        assert done.status_code == 200, done.text
        uid = done.json()["user"]["id"]
        assert browser.get("/v3/users/me").status_code == 200
        off = world.api.patch(f"/v3/users/{uid}", json={"active": False})
        assert off.status_code == 200, off.text
        assert browser.get("/v3/users/me").status_code == 401
        assert browser.get("/v1/catalog-services").status_code == 401
    with world.browser() as browser:
        refused = world.sign_in(browser, "alice")
    _refused(world, refused, 403, "user_inactive")
    # reactivated, the user signs in again; deleted, its session ends at once
    world.api.patch(f"/v3/users/{uid}", json={"active": True}).raise_for_status()
    with world.browser() as browser:
        again = world.sign_in(browser, "alice")
        assert again.status_code == 200, again.text
        assert again.json()["user"]["id"] == uid
        assert browser.get("/v3/users/me").status_code == 200
        assert world.api.delete(f"/v3/users/{uid}").status_code == 204
        assert browser.get("/v3/users/me").status_code == 401
    # signing in again after the deletion makes a new user
    with world.browser() as browser:
        fresh = world.sign_in(browser, "alice").json()
    assert fresh["first_sign_in"] is True and fresh["user"]["id"] != uid


def test_a_session_carries_the_user_s_roles(world: World, identity_contract: Contract) -> None:
    c = identity_contract
    made = world.api.post("/v1/catalog-services", json={"name": "pay", "display_name": "Pay"})
    assert made.status_code == 201, made.text
    sid = made.json()["id"]
    viewers = world.team("Pay viewers", "Service Viewer", sid)
    world.map_group("pay", viewers)
    world.provider.set_account("dan", email="dan@example.com", name="Dan", groups=["pay"])
    with world.browser() as browser:
        assert world.sign_in(browser, "dan").status_code == 200
        assert browser.get(f"/v1/catalog-services/{sid}").status_code == 200
        denied = c.check(browser.get("/v3/users"), 403)
        assert "Organization Admin" in denied["detail"]
        c.check(browser.get("/v3/identity-providers"), 403)
        c.check(browser.post("/v3/teams", json={"name": "mine"}), 403)
        # made Organization Admin through a team, the live session may at once
        admins = world.team("Admins", "Organization Admin")
        uid = browser.get("/v3/users/me").json()["id"]
        world.api.post(f"/v3/teams/{admins}/users", json={"id": uid}).raise_for_status()
        c.check(browser.get("/v3/users"), 200, response="UserCollection")


def test_return_to_redirects_after_sign_in(world: World) -> None:
    with world.browser() as browser:
        done = world.sign_in(browser, "alice", return_to="/v1/catalog-services")
        assert done.status_code == 303
        assert done.headers["location"] == "/v1/catalog-services"
        assert browser.get("/v1/catalog-services").status_code == 200
        bad = browser.get(f"/v3/authenticate/{LOGIN_PATH}", params={"return_to": "//evil.example"})
        assert bad.status_code == 400


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def _refused(world: World, response: httpx.Response, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert session_cookie(response) is None
    refusals = world.audit("identity_provider.sign_in_refused")
    assert refusals and refusals[0]["attributes"]["reason"] == reason, refusals


def test_a_forged_or_replayed_state_is_refused(world: World) -> None:
    with world.browser() as browser:
        started = browser.get(f"/v3/authenticate/{LOGIN_PATH}")
        assert started.status_code == 302
        forged = secrets.token_urlsafe(32)
        # a state this browser was not given
        no_match = browser.get(
            f"/v3/authenticate/{LOGIN_PATH}/callback", params={"state": forged, "code": "x"}
        )
        _refused(world, no_match, 400, "state_mismatch")
        # a made-up state, sent with a matching cookie: unknown to the catalog
        browser.cookies.set("sc_oidc_state", forged, path="/v3/authenticate")
        made_up = browser.get(
            f"/v3/authenticate/{LOGIN_PATH}/callback", params={"state": forged, "code": "x"}
        )
        _refused(world, made_up, 400, "unknown_state")
    # a real callback URL replayed after it was used
    with world.browser() as browser:
        seen: list[str] = []

        def keep(url: str) -> str:
            seen.append(url)
            return url

        assert world.sign_in(browser, "alice", tamper=keep).status_code == 200
        callback_url = next(u for u in seen if u.startswith(world.callback))
        state = dict(parse_qsl(urlsplit(callback_url).query))["state"]
        browser.cookies.clear()
        browser.cookies.set("sc_oidc_state", state, path="/v3/authenticate")
        replayed = browser.get(callback_url)
        _refused(world, replayed, 400, "unknown_state")


def test_a_wrong_nonce_is_refused(world: World) -> None:
    def other_nonce(url: str) -> str:
        if url.startswith(world.provider.issuer) and "nonce=" in url:
            return _with_query(url, nonce="not-the-nonce-we-sent")
        return url

    with world.browser() as browser:
        done = world.sign_in(browser, "alice", tamper=other_nonce)
    _refused(world, done, 401, "nonce_mismatch")


def test_an_id_token_signed_by_another_key_is_refused(world: World) -> None:
    world.provider.publish_other_key()
    with world.browser() as browser:
        done = world.sign_in(browser, "alice")
    _refused(world, done, 401, "bad_signature")
    # the same sign-in with the provider's real key is accepted
    world.provider.publish_other_key(False)
    with world.browser() as browser:
        assert world.sign_in(browser, "alice").status_code == 200


def test_an_answer_from_another_issuer_is_refused(world: World) -> None:
    # A second provider (another issuer, the same client registered) answers the
    # authorization request instead of the configured one (an IdP mix-up).
    with OidcProvider(redirect_uris=[world.callback]) as other:
        other.set_account("alice", email="alice@example.com", name="Alice", groups=["eng"])

        def to_other(url: str) -> str:
            if url.startswith(world.provider.issuer):
                return other.issuer + url[len(world.provider.issuer) :]
            return url

        with world.browser() as browser:
            done = world.sign_in(browser, "alice", tamper=to_other)
        _refused(world, done, 400, "issuer_mismatch")


def test_a_provider_naming_another_issuer_is_not_used(server: LiveServer) -> None:
    with OidcProvider(redirect_uris=["http://127.0.0.1/cb"]) as provider, server.client() as api:
        body = idp_body(provider)
        body["config"]["issuer_url"] = f"http://localhost:{provider.port}"
        assert api.post("/v3/identity-providers", json=body).status_code == 201
        with httpx.Client(base_url=server.url) as browser:
            started = browser.get(f"/v3/authenticate/{LOGIN_PATH}")
        assert started.status_code == 502, started.text
        assert "issuer" in started.json()["detail"]


def test_sign_in_needs_an_enabled_provider(world: World) -> None:
    with world.browser() as browser:
        assert browser.get("/v3/authenticate/nobody").status_code == 404
        world.api.patch(
            f"/v3/identity-providers/{world.idp_id}", json={"enabled": False}
        ).raise_for_status()
        assert browser.get(f"/v3/authenticate/{LOGIN_PATH}").status_code == 404
        # a bad or signed-out session cookie is a 401, not a pass
        browser.cookies.set(SESSION_COOKIE, "scss_" + secrets.token_urlsafe(8))
        denied = browser.get("/v1/catalog-services")
        assert denied.status_code == 401
        assert re.search("sign in", denied.json()["detail"])

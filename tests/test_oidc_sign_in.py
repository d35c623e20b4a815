"""Signing in through a real OpenID Connect provider (npm ``oidc-provider`` on loopback):
the whole browser flow driven with httpx, on SQLite and PostgreSQL. A sign-in records the
identity and its groups each time, starts a console session that works on ``/v1`` until
sign-out; a forged or replayed ``state``, a wrong nonce, another issuer or an ID token signed
by another key are refused with a 4xx and start no session."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from conftest import LiveServer
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


def test_first_sign_in_starts_a_session_that_works_until_sign_out(world: World) -> None:
    team = str(uuid.uuid4())
    mapped = world.api.post(
        f"/v3/identity-providers/{world.idp_id}/team-group-mappings",
        json={"team_id": team, "group": "eng"},
    )
    assert mapped.status_code == 201, mapped.text
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
    signed_in = world.audit("identity_provider.signed_in")
    assert len(signed_in) == 1
    attrs = signed_in[0]["attributes"]
    assert attrs["subject"] == "alice" and attrs["groups"] == ["eng", "ops"]
    assert attrs["first_sign_in"] is True
    assert world.audit("identity_provider.signed_out")


def test_groups_are_taken_again_at_every_sign_in(world: World) -> None:
    eng, ops = str(uuid.uuid4()), str(uuid.uuid4())
    for team, group in ((eng, "eng"), (ops, "ops")):
        world.api.post(
            f"/v3/identity-providers/{world.idp_id}/team-group-mappings",
            json={"team_id": team, "group": group},
        ).raise_for_status()
    world.provider.set_account("bob", email="bob@example.com", name="Bob", groups=["eng", "ops"])
    with world.browser() as browser:
        first = world.sign_in(browser, "bob").json()
    assert first["first_sign_in"] is True
    assert sorted(first["team_ids"]) == sorted([eng, ops])
    # the group is removed at the identity provider: the next sign-in knows it
    world.provider.set_account("bob", email="bob@example.com", name="Bob", groups=["ops"])
    with world.browser() as browser:
        second = world.sign_in(browser, "bob").json()
    assert second["first_sign_in"] is False
    assert second["user"]["id"] == first["user"]["id"]
    assert second["groups"] == ["ops"] and second["team_ids"] == [ops]
    events = world.audit("identity_provider.signed_in")
    assert [e["attributes"]["groups"] for e in events] == [["ops"], ["eng", "ops"]]


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

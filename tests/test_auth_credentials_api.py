"""An instance's auth credential and auth config over HTTP, on SQLite and PostgreSQL,
against the inventory simulator on loopback: verification (accepted, rejected, unreachable,
rate limited), one credential per instance, shapes of every credential type, tainting, and
the secret never appearing in a response, the database column, an event or a log."""

from __future__ import annotations

import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from conftest import LiveServer
from contract import Contract
from service_catalog.core.db import Database
from service_catalog.core.secrets import get_box
from service_catalog.events.models import Event
from service_catalog.integrations import service
from service_catalog.integrations.connectors.base import Credential
from service_catalog.integrations.models import AuthConfig, AuthCredential, IntegrationInstance
from service_catalog.settings import Settings
from service_catalog.testing.inventory_sim import InventorySimulator
from sync_support import create_instance

URL = "/v1/integration-instances"
SECRET = "s3cr3t-Token-Value-9f2a3b4c"
CRED_RESPONSE = "IntegrationInstanceAuthCredentialResponse"


def mk_instance(api: httpx.Client, base_url: str, name: str = "inv") -> dict[str, Any]:
    return create_instance(
        api, name, integration="rest-inventory", display_name=name.upper(), base_url=base_url
    )


def multi_key(value: str = SECRET, name: str = "authorization") -> dict[str, Any]:
    return {"type": "multi_key_auth", "config": {"headers": [{"name": name, "key": value}]}}


def rules(problem: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["field"], p.get("rule")) for p in problem["invalid_parameters"]]


SIMULATOR = partial(InventorySimulator, items=3, token=SECRET)


def test_accepted_credential_authorizes_the_instance(
    api: httpx.Client, contract: Contract, sim: InventorySimulator
) -> None:
    inst = mk_instance(api, sim.url)
    path = f"{URL}/{inst['id']}/auth-credential"
    contract.check(api.get(path), 404)
    cred = contract.check(api.post(path, json=multi_key()), 201, response=CRED_RESPONSE)
    assert cred["type"] == "multi_key_auth" and cred["tainted"] is False
    assert cred["verified"] is True and cred["last_verified_at"] is not None
    assert cred["integration_instance"] == {"id": inst["id"], "name": "inv", "display_name": "INV"}
    assert cred["missing_permissions"] == [] and cred["expires_at"] is None
    assert cred["config"] == {"headers": [{"name": "authorization"}]}
    assert [r["path"] for r in sim.requests] == ["/whoami"]
    assert api.get(f"{URL}/{inst['id']}").json()["authorized"] is True
    got = contract.check(api.get(path), 200, response=CRED_RESPONSE)
    assert got == cred
    # one per instance: a second POST is a 409 and does not call the upstream
    again = contract.check(api.post(path, json=multi_key("other")), 409)
    assert "DELETE" in again["detail"]
    assert len(sim.requests) == 1
    # the bearer prefix may be given or not
    assert api.delete(path).status_code == 204
    again = contract.check(
        api.post(path, json=multi_key(f"Bearer {SECRET}")), 201, response=CRED_RESPONSE
    )
    assert again["verified"] is True and again["id"] != cred["id"]


def test_rejected_credential_is_a_400_and_stores_nothing(
    api: httpx.Client, contract: Contract, sim: InventorySimulator, db: Database
) -> None:
    inst = mk_instance(api, sim.url)
    path = f"{URL}/{inst['id']}/auth-credential"
    problem = contract.check(api.post(path, json=multi_key("wrong-token")), 400)
    assert "upstream rejected" in problem["detail"]
    assert "401" in problem["detail"] and "invalid token" in problem["detail"]
    assert "wrong-token" not in json.dumps(problem)
    contract.check(api.get(path), 404)
    assert api.get(f"{URL}/{inst['id']}").json()["authorized"] is False
    with db.session() as s:
        assert s.scalars(select(AuthCredential)).all() == []
        assert s.scalars(select(Event).where(Event.type == "auth_credential.created")).all() == []
    sim.reject_all = True
    contract.check(api.post(path, json=multi_key()), 400)
    sim.reject_all = False
    contract.check(api.post(path, json=multi_key()), 201, response=CRED_RESPONSE)


def test_unreachable_upstream_stores_it_unverified(
    api: httpx.Client, contract: Contract, sim: InventorySimulator
) -> None:
    with InventorySimulator() as closed:
        dead_url = closed.url  # a loopback port nobody listens on once this block ends
    inst = mk_instance(api, dead_url)
    path = f"{URL}/{inst['id']}/auth-credential"
    cred = contract.check(api.post(path, json=multi_key()), 201, response=CRED_RESPONSE)
    assert cred["verified"] is False and cred["last_verified_at"] is None
    assert "Cannot reach" in cred["verification_reason"]
    assert api.get(f"{URL}/{inst['id']}").json()["authorized"] is False
    assert cred["verification_error"] == {"reason": "unreachable", "upstream_status": None}
    # the credential is bound to the origin it was stored for: moving the instance to
    # another upstream is refused until it is deleted
    moved = contract.check(
        api.patch(f"{URL}/{inst['id']}", json={"config": {"base_url": sim.url}}), 400
    )
    assert f"DELETE /v1/integration-instances/{inst['id']}/auth-credential" in moved["detail"]
    assert rules(moved) == [("config.base_url", "invalid")]
    assert api.get(f"{URL}/{inst['id']}").json()["config"] == {"base_url": dead_url}
    assert api.delete(path).status_code == 204
    contract.check(
        api.patch(f"{URL}/{inst['id']}", json={"config": {"base_url": sim.url}}),
        200,
        response="IntegrationInstanceResponse",
    )
    again = contract.check(api.post(path, json=multi_key()), 201, response=CRED_RESPONSE)
    assert again["verified"] is True and again["verification_reason"] is None
    assert again["verification_error"] is None
    assert api.get(f"{URL}/{inst['id']}").json()["authorized"] is True
    contract.check(api.post(f"{URL}/{uuid.uuid4()}/auth-credential/verify"), 404)


def test_upstream_errors_and_rate_limits_during_verification(
    api: httpx.Client, contract: Contract, sim: InventorySimulator
) -> None:
    inst = mk_instance(api, sim.url + "/missing-prefix")
    cred = contract.check(
        api.post(f"{URL}/{inst['id']}/auth-credential", json=multi_key()),
        201,
        response=CRED_RESPONSE,
    )
    assert cred["verified"] is False and "404" in cred["verification_reason"]
    inst2 = mk_instance(api, sim.url, name="inv2")
    sim.rate_limit_next = 1  # one 429 with Retry-After: 1, then the answer
    cred2 = contract.check(
        api.post(f"{URL}/{inst2['id']}/auth-credential", json=multi_key()),
        201,
        response=CRED_RESPONSE,
    )
    assert cred2["verified"] is True
    assert [r["status"] for r in sim.requests[-2:]] == [429, 200]


def test_delete_credential(
    api: httpx.Client, contract: Contract, sim: InventorySimulator, db: Database
) -> None:
    inst = mk_instance(api, sim.url)
    path = f"{URL}/{inst['id']}/auth-credential"
    contract.check(api.delete(path), 404)
    contract.check(api.post(path, json=multi_key()), 201, response=CRED_RESPONSE)
    assert api.delete(path).status_code == 204
    contract.check(api.get(path), 404)
    assert api.get(f"{URL}/{inst['id']}").json()["authorized"] is False
    contract.check(api.delete(path), 404)
    with db.session() as s:
        types = [
            e.type
            for e in s.scalars(
                select(Event).where(Event.type.like("auth_credential.%")).order_by(Event.ts)
            )
        ]
    assert types == ["auth_credential.created", "auth_credential.deleted"]


def test_unknown_instance_is_404(api: httpx.Client, contract: Contract) -> None:
    for ident in (str(uuid.uuid4()), "nope"):
        path = f"{URL}/{ident}/auth-credential"
        contract.check(api.post(path, json=multi_key()), 404)
        contract.check(api.get(path), 404)
        contract.check(api.delete(path), 404)


def test_credential_shapes(api: httpx.Client, contract: Contract, sim: InventorySimulator) -> None:
    inst = mk_instance(api, sim.url)
    path = f"{URL}/{inst['id']}/auth-credential"
    hdr = {"name": "authorization", "key": "k"}
    cases: list[tuple[Any, tuple[str, str]]] = [
        ({}, ("type", "required")),
        ({"type": "basic"}, ("type", "enum")),
        ({"type": "multi_key_auth"}, ("config", "required")),
        ({"type": "multi_key_auth", "config": {}}, ("config.headers", "required")),
        ({"type": "multi_key_auth", "config": {"headers": []}}, ("config.headers", "min_items")),
        (
            {"type": "multi_key_auth", "config": {"headers": [{"name": "authorization"}]}},
            ("config.headers.0.key", "required"),
        ),
        (
            {
                "type": "multi_key_auth",
                "config": {"headers": [{"name": "authorization", "key": 5}]},
            },
            ("config.headers.0.key", "is_string"),
        ),
        (
            {
                "type": "multi_key_auth",
                "config": {"headers": [{"name": "authorization", "key": ""}]},
            },
            ("config.headers.0.key", "min_length"),
        ),
        (
            {"type": "multi_key_auth", "config": {"headers": [hdr], "x": 1}},
            ("config.x", "unknown_property"),
        ),
        ({**multi_key(), "extra": True}, ("extra", "unknown_property")),
        (
            {"type": "multi_key_auth", "config": {"headers": [{**hdr, "name": "bad name"}]}},
            ("config.headers.0.name", "matches_regex"),
        ),
        (multi_key(name="x-api-key"), ("config.headers.0.name", "enum")),
        (
            {"type": "multi_key_auth", "config": {"headers": [hdr, hdr]}},
            ("config.headers.1.name", "invalid"),
        ),
        (
            {
                "type": "aws_role_delegation",
                "config": {"role_arn": "arn:aws:iam::123456789012:role/R"},
            },
            ("type", "enum"),
        ),
        ([1], ("body", "is_object")),
    ]
    for body, expected in cases:
        problem = contract.check(api.post(path, json=body), 400)
        assert expected in rules(problem), (body, problem)
    # a header value with a line break is refused without repeating the value
    problem = contract.check(api.post(path, json=multi_key(SECRET + "\r\nX-Evil: 1")), 400)
    assert ("config.headers.0.key", "invalid") in rules(problem)
    assert SECRET not in json.dumps(problem)
    contract.check(
        api.post(path, content=b"{nope", headers={"content-type": "application/json"}), 400
    )
    contract.check(api.get(path), 404)
    assert sim.requests == []  # nothing malformed reached the upstream


def test_other_credential_types_on_a_push_integration(
    api: httpx.Client, contract: Contract, db: Database, settings: Settings
) -> None:
    bodies = {
        "oauth": {
            "type": "oauth",
            "config": {
                "grant_type": "authorization_code",
                "code": "oauth-code-SECRET",
                "redirect_uri": "https://app.example/cb",
            },
        },
        "github_app_installation": {
            "type": "github_app_installation",
            "config": {"installation_id": "46952218", "code": "gh-code-SECRET"},
        },
        "aws_role_delegation": {
            "type": "aws_role_delegation",
            "config": {"role_arn": "arn:aws:iam::084735895545:role/KonnectServiceCatalogRole"},
        },
        "multi_key_auth": multi_key(),
    }
    for i, (ctype, body) in enumerate(bodies.items()):
        resp = api.post(
            URL,
            json={
                "integration_name": "custom",
                "name": f"push-{i}",
                "display_name": "P",
                "config": {},
            },
        )
        inst = resp.json()
        path = f"{URL}/{inst['id']}/auth-credential"
        cred = contract.check(api.post(path, json=body), 201, response=CRED_RESPONSE)
        assert cred["type"] == ctype and cred["verified"] is False
        assert "does not verify" in cred["verification_reason"]
        assert "SECRET" not in json.dumps(cred) and SECRET not in json.dumps(cred)
        assert api.get(f"{URL}/{inst['id']}").json()["authorized"] is True
        with db.session() as s:
            stored = s.get(IntegrationInstance, uuid.UUID(inst["id"]))
            assert stored is not None
            loaded = service.load_credential(s, stored, settings=settings)
        assert loaded is not None and loaded.type == ctype
        if ctype == "aws_role_delegation":
            assert cred["config"]["role_arn"].endswith("KonnectServiceCatalogRole")
            assert loaded.values["role_arn"] == cred["config"]["role_arn"]
        if ctype == "github_app_installation":
            assert cred["config"] == {
                "installation_id": "46952218",
                "app_installed_by": None,
                "app_id": None,
            }
            assert loaded.values["code"] == "gh-code-SECRET"
        if ctype == "oauth":
            assert loaded.values["code"] == "oauth-code-SECRET"
        # deleting a push-only instance's credential leaves it authorized
        assert api.delete(path).status_code == 204
        assert api.get(f"{URL}/{inst['id']}").json()["authorized"] is True
    bad = contract.check(
        api.post(
            f"{URL}/{inst['id']}/auth-credential",
            json={
                "type": "oauth",
                "config": {"grant_type": "password", "code": "c", "redirect_uri": "not a url"},
            },
        ),
        400,
    )
    assert {"config.grant_type", "config.redirect_uri"} <= {f for f, _ in rules(bad)}


def test_taint_and_load_for_the_sync_engine(
    api: httpx.Client, contract: Contract, sim: InventorySimulator, db: Database, settings: Settings
) -> None:
    inst = mk_instance(api, sim.url)
    path = f"{URL}/{inst['id']}/auth-credential"
    contract.check(api.post(path, json=multi_key()), 201, response=CRED_RESPONSE)
    with db.session() as s:
        row = s.get(IntegrationInstance, uuid.UUID(inst["id"]))
        assert row is not None
        cred = service.load_credential(s, row, settings=settings)
        assert cred == Credential(type="multi_key_auth", headers={"authorization": SECRET})
        assert SECRET not in repr(cred)
        service.taint_credential(s, row, f"HTTP 401 for token {SECRET}", settings=settings)
    got = contract.check(api.get(path), 200, response=CRED_RESPONSE)
    assert got["tainted"] is True and got["verified"] is False
    assert got["verification_reason"] == "HTTP 401 for token [redacted]"
    assert api.get(f"{URL}/{inst['id']}").json()["authorized"] is False
    with db.session() as s:
        ev = s.scalars(select(Event).where(Event.type == "auth_credential.tainted")).one()
        assert SECRET not in ev.detail and ev.actor_type == "system"
    # a new verification that the upstream accepts clears the taint
    fixed = contract.check(api.post(f"{path}/verify"), 200, response=CRED_RESPONSE)
    assert fixed["tainted"] is False and fixed["verified"] is True
    sim.token = "rotated"
    rejected = contract.check(api.post(f"{path}/verify"), 200, response=CRED_RESPONSE)
    assert rejected["tainted"] is True and "401" in rejected["verification_reason"]
    assert api.get(f"{URL}/{inst['id']}").json()["authorized"] is False
    with db.session() as s:
        other = IntegrationInstance(name="nocred", display_name="N", integration_name="custom")
        s.add(other)
        s.flush()
        assert service.load_credential(s, other, settings=settings) is None


def test_secret_never_leaves_the_process(
    api: httpx.Client,
    contract: Contract,
    sim: InventorySimulator,
    db: Database,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    def keep(resp: httpx.Response) -> httpx.Response:
        seen.append(f"{resp.status_code} {dict(resp.headers)} {resp.text}")
        return resp

    inst = mk_instance(api, sim.url)
    path = f"{URL}/{inst['id']}/auth-credential"
    keep(api.post(path, json=multi_key()))
    keep(api.post(path, json=multi_key()))  # 409
    keep(api.get(path))
    keep(api.post(f"{path}/verify"))
    keep(api.get(f"{URL}/{inst['id']}"))
    keep(api.get(URL))
    keep(api.get("/v1/integrations"))
    other = mk_instance(api, sim.url, name="other")
    keep(api.post(f"{URL}/{other['id']}/auth-credential", json=multi_key(SECRET + "x")))  # 400
    oauth_cfg = {
        "type": "oauth",
        "client_id": "cid",
        "client_secret": SECRET,
        "authorization_endpoint": "https://idp/authorize",
        "token_endpoint": "https://idp/t",
    }
    keep(api.put(f"{URL}/{inst['id']}/auth-config", json=oauth_cfg))  # 400: not oauth
    pushed = api.post(
        URL,
        json={
            "integration_name": "custom",
            "name": "pushed",
            "display_name": "Pushed",
            "config": {},
        },
    ).json()
    keep(api.put(f"{URL}/{pushed['id']}/auth-config", json=oauth_cfg))
    keep(api.get(f"{URL}/{pushed['id']}/auth-config"))
    for events_path in ("/v1/integration-events",):
        keep(api.get(events_path, params={"page[size]": 100}))
    keep(api.delete(path))
    assert len(seen) >= 13
    for text_ in seen:
        assert SECRET not in text_, text_
    with db.session() as s:
        raw = s.execute(text("SELECT secret FROM auth_credentials")).scalars().all()
        raw_cfg = s.execute(text("SELECT secret FROM auth_configs")).scalars().all()
        events = s.scalars(select(Event)).all()
    # the credential row is gone after the DELETE; its config is encrypted
    assert raw == [] and len(raw_cfg) == 1 and SECRET not in raw_cfg[0]
    assert get_box(settings).decrypt(raw_cfg[0]) == {"client_secret": SECRET}
    assert events, "the actions were audited"
    for ev in events:
        assert SECRET not in f"{ev.detail} {json.dumps(ev.attributes)}"
    messages = [r.getMessage() for r in caplog.records]
    assert any("auth credential of instance inv stored" in m for m in messages), messages
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in str(record.args)
    # while stored, the credential column holds only ciphertext that the key opens
    contract.check(api.post(path, json=multi_key()), 201, response=CRED_RESPONSE)
    with db.session() as s:
        (stored,) = s.execute(text("SELECT secret FROM auth_credentials")).scalars().all()
    assert SECRET not in stored and stored.startswith("gAAAA")
    assert get_box(settings).decrypt(stored) == {"headers": {"authorization": SECRET}}


def test_auth_config(
    api: httpx.Client, contract: Contract, sim: InventorySimulator, db: Database
) -> None:
    body = {
        "type": "oauth",
        "client_id": "cid-1",
        "client_secret": "cs-SECRET-1",
        "authorization_endpoint": "https://idp.example/oauth/authorize",
        "token_endpoint": "https://idp.example/oauth/token",
    }
    # an integration that authorizes with another type refuses an oauth auth config
    keyed = mk_instance(api, sim.url)
    refused = contract.check(api.put(f"{URL}/{keyed['id']}/auth-config", json=body), 400)
    assert rules(refused) == [("type", "enum")]
    assert refused["invalid_parameters"][0]["choices"] == ["multi_key_auth"]
    assert "cs-SECRET" not in json.dumps(refused)
    contract.check(api.get(f"{URL}/{keyed['id']}/auth-config"), 404)
    # a push-only integration (no authorization of its own) takes it, as it takes any
    # credential
    inst = api.post(
        URL,
        json={
            "integration_name": "custom",
            "name": "pushed",
            "display_name": "Pushed",
            "config": {},
        },
    ).json()
    path = f"{URL}/{inst['id']}/auth-config"
    contract.check(api.get(path), 404)
    contract.check(api.delete(path), 404)
    cfg = contract.check(
        api.put(path, json=body), 200, response="IntegrationInstanceAuthConfigResponse"
    )
    assert cfg == {k: v for k, v in body.items() if k != "client_secret"}
    assert (
        contract.check(api.get(path), 200, response="IntegrationInstanceAuthConfigResponse") == cfg
    )
    replaced = contract.check(
        api.put(path, json={**body, "client_id": "cid-2", "client_secret": "cs-SECRET-2"}),
        200,
        response="IntegrationInstanceAuthConfigResponse",
    )
    assert replaced["client_id"] == "cid-2"
    with db.session() as s:
        rows = s.scalars(select(AuthConfig)).all()
    assert len(rows) == 1 and "cs-SECRET" not in (rows[0].secret or "")
    for bad_body, expected in (
        ({k: v for k, v in body.items() if k != "client_secret"}, ("client_secret", "required")),
        ({**body, "type": "basic"}, ("type", "enum")),
        ({**body, "token_endpoint": "ftp://x"}, ("token_endpoint", "invalid")),
        ({**body, "scope": ["read"]}, ("scope", "unknown_property")),
        ({**body, "client_id": ""}, ("client_id", "min_length")),
    ):
        problem = contract.check(api.put(path, json=bad_body), 400)
        assert expected in rules(problem), (bad_body, problem)
        assert "cs-SECRET" not in json.dumps(problem)
    contract.check(api.put(f"{URL}/{uuid.uuid4()}/auth-config", json=body), 404)
    assert api.delete(path).status_code == 204
    contract.check(api.get(path), 404)
    with db.session() as s:
        types = [
            e.type
            for e in s.scalars(
                select(Event).where(Event.type.like("auth_config.%")).order_by(Event.ts)
            )
        ]
    assert types == ["auth_config.updated", "auth_config.updated", "auth_config.deleted"]


def test_concurrent_posts_store_one_credential(
    server: LiveServer, contract: Contract, sim: InventorySimulator, db: Database
) -> None:
    token = server.token()
    with server.client(token) as api:
        inst = mk_instance(api, sim.url)
    sim.delay = 0.3  # all requests are verifying at the same time

    def post(_: int) -> httpx.Response:
        with server.client(token) as c:
            return c.post(f"{URL}/{inst['id']}/auth-credential", json=multi_key())

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(post, range(4)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409], [r.text for r in responses]
    for r in responses:
        contract.check(r, r.status_code)
    with db.session() as s:
        assert len(s.scalars(select(AuthCredential)).all()) == 1

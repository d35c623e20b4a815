"""A full scenario with a distinctive credential secret, on a real ``service-catalog serve``
and real sync processes (SQLite and PostgreSQL): every response body and header, every log
line (JSON logs), every event and every stored row and database file is searched for the
secret, and none holds it."""

from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from oidc_provider import OidcProvider, follow
from serveproc import ServeProcess, cli_env, run_cli
from service_catalog.auth.sessions import SESSION_COOKIE
from service_catalog.core.db import Database
from service_catalog.models import load_all
from service_catalog.testing.inventory_sim import InventorySimulator

TOKEN = re.compile(r"(?:scat|spat|kpat)_[A-Za-z0-9_\-]+")


class Recorder:
    """Keeps the text of every response the client receives (status, headers, body)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def hook(self, response: httpx.Response) -> None:
        response.read()
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.multi_items())
        self.seen.append(
            f"{response.request.method} {response.request.url.path} -> "
            f"{response.status_code}\n{headers}\n{response.text}"
        )


def ok(resp: httpx.Response, status: int) -> Any:
    assert resp.status_code == status, (
        f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text[:500]}"
    )
    if not resp.content or "json" not in resp.headers.get("content-type", ""):
        return resp.text
    return resp.json()


def all_pages(api: httpx.Client, path: str) -> list[dict[str, Any]]:
    """Follow cursor or number paging to the end."""
    out: list[dict[str, Any]] = []
    body = ok(api.get(path, params={"page[size]": 100}), 200)
    number = 1
    while True:
        out += body["data"]
        page = body["meta"]["page"]
        if "next" in page:
            if not page["next"]:
                return out
            body = ok(api.get(page["next"]), 200)
        else:
            if number * page["size"] >= page["total"]:
                return out
            number += 1
            body = ok(api.get(path, params={"page[size]": 100, "page[number]": number}), 200)


def dump_rows(url: str) -> str:
    """Every row of every table, as text."""
    base = load_all()
    db = Database(url)
    lines: list[str] = []
    try:
        with db.engine.connect() as conn:
            for table in base.metadata.sorted_tables:
                for row in conn.execute(select(table)):
                    lines.append(f"{table.name}: {tuple(row)!r}")
    finally:
        db.dispose()
    return "\n".join(lines)


def sqlite_bytes(url: str) -> bytes:
    """The raw bytes of a SQLite database and its write-ahead log (nothing for PostgreSQL)."""
    if not url.startswith("sqlite"):
        return b""
    path = Path(url.removeprefix("sqlite:///"))
    return b"".join(f.read_bytes() for f in (path, Path(f"{path}-wal")) if f.exists())


def test_the_secret_never_leaves_the_process(database_url: str, tmp_path: Path) -> None:
    secret = "s3cr3t-" + secrets.token_hex(12)
    wrong = secret + "-wrong"
    env = cli_env(
        database_url, tmp_path, SERVICE_CATALOG_LOG_FORMAT="json", SERVICE_CATALOG_LOG_LEVEL="DEBUG"
    )
    outputs: list[str] = []  # every CLI stdout/stderr

    made = run_cli("token", "create", "--name", "leak-hunter", env=env)
    assert made.returncode == 0, made.stderr
    outputs += [made.stdout, made.stderr]
    token = TOKEN.findall(made.stdout)[0]

    rec = Recorder()
    with (
        InventorySimulator(items=5, token=secret) as sim,
        ServeProcess(env, tmp_path) as serve,
        serve.client(token, event_hooks={"response": [rec.hook]}) as api,
        httpx.Client(base_url=serve.url, event_hooks={"response": [rec.hook]}) as anon,
    ):
        ok(api.get("/v1/integrations"), 200)
        svc = ok(
            api.post("/v1/catalog-services", json={"name": "payments", "display_name": "Payments"}),
            201,
        )
        inst = ok(
            api.post(
                "/v1/integration-instances",
                json={
                    "integration_name": "rest-inventory",
                    "name": "inventory",
                    "display_name": "Inventory",
                    "config": {"base_url": sim.url},
                },
            ),
            201,
        )
        iid = inst["id"]
        cred_path = f"/v1/integration-instances/{iid}/auth-credential"

        def cred_body(value: str) -> dict[str, Any]:
            return {
                "type": "multi_key_auth",
                "config": {"headers": [{"name": "authorization", "key": value}]},
            }

        # a credential the upstream rejects: a 400 that says why, nothing stored
        rejected = ok(api.post(cred_path, json=cred_body(wrong)), 400)
        assert "401" in rejected["detail"] or "reject" in rejected["detail"].lower()
        ok(api.get(cred_path), 404)
        # the right one: accepted, authorized; a second POST is a 409
        ok(api.post(cred_path, json=cred_body(secret)), 201)
        ok(api.post(cred_path, json=cred_body(secret)), 409)
        assert ok(api.get(f"/v1/integration-instances/{iid}"), 200)["authorized"] is True
        # rest-inventory takes multi_key_auth only: an oauth auth config is a 400 (without
        # the secret); custom (no authorization of its own) takes it
        ok(
            api.put(
                f"/v1/integration-instances/{iid}/auth-config",
                json={
                    "type": "oauth",
                    "client_id": "cid",
                    "client_secret": secret,
                    "authorization_endpoint": "https://idp.example/authorize",
                    "token_endpoint": "https://idp.example/token",
                },
            ),
            400,
        )
        pid = ok(
            api.post(
                "/v1/integration-instances",
                json={
                    "integration_name": "custom",
                    "name": "pushed",
                    "display_name": "Pushed",
                    "config": {},
                },
            ),
            201,
        )["id"]
        ok(
            api.put(
                f"/v1/integration-instances/{pid}/auth-config",
                json={
                    "type": "oauth",
                    "client_id": "cid",
                    "client_secret": secret,
                    "authorization_endpoint": "https://idp.example/authorize",
                    "token_endpoint": "https://idp.example/token",
                },
            ),
            200,
        )

        # a sync by a real worker process, with debug JSON logs
        ok(api.put(f"/v1/integration-instances/{iid}/resource-ingestion", json={}), 200)
        worker = run_cli("worker", "--once", env=env, timeout=120)
        outputs += [worker.stdout, worker.stderr]
        assert worker.returncode == 0, worker.stderr
        resources = all_pages(api, f"/v1/resources?filter[integration.instance.id]={iid}")
        assert len(resources) == 5, resources
        ok(
            api.post(
                "/v1/resource-mappings",
                json={"service": "payments", "resource": resources[0]["id"]},
            ),
            201,
        )
        ok(
            api.post(
                f"/v1/integration-instances/{iid}/integration-events",
                json={
                    "data": [
                        {
                            "type": "deploy.finished",
                            "deduplication_id": "dep-1",
                            "service": "payments",
                            "resource_id": resources[0]["id"],
                            "detail": "Deployed payments 1.2.3",
                            "attributes": {"version": "1.2.3"},
                        }
                    ]
                },
            ),
            202,
        )

        # the upstream rotates the token: the next sync (401) taints the credential; verify fails
        sim.token = "rotated-" + secrets.token_hex(4)
        synced = run_cli("sync", "inventory", env=env, timeout=120)
        outputs += [synced.stdout, synced.stderr]
        assert synced.returncode != 0
        api.post(f"{cred_path}/verify")  # whatever it answers is recorded and searched
        cred = ok(api.get(cred_path), 200)
        assert cred["tainted"] is True, cred
        state = ok(api.get(f"/v1/integration-instances/{iid}/resource-ingestion"), 200)
        assert state["scheduler_state"]["status"] == "halted", state
        assert state["scheduler_state"]["remediation"]
        assert ok(api.get(f"/v1/integration-instances/{iid}"), 200)["authorized"] is False

        stored_mid = dump_rows(database_url)  # while the encrypted credential is stored
        files_mid = sqlite_bytes(database_url)

        # list everything a user can see
        runs = all_pages(api, f"/v1/integration-instances/{iid}/sync-runs")
        assert len(runs) >= 2 and any(r.get("error") for r in runs), runs
        events = all_pages(api, "/v1/integration-events")
        audit = all_pages(api, "/v1/audit-log")
        assert {e["type"] for e in events} == {"deploy.finished"}
        assert {"auth_credential.created", "auth_credential.tainted"} <= {e["type"] for e in audit}
        all_pages(api, f"/v1/catalog-services/{svc['id']}/integration-events")
        for path in (
            "/v1/integration-instances",
            "/v1/resources",
            "/v1/resource-mappings",
            "/v1/catalog-services",
            "/v1/integrations",
            f"/v1/catalog-services/{svc['id']}/resources",
        ):
            all_pages(api, path)
        for path in (
            f"/v1/integration-instances/{iid}",
            cred_path,
            f"/v1/integration-instances/{pid}/auth-config",
            f"/v1/resources/{resources[0]['id']}",
            f"/v1/resources/{resources[0]['id']}/catalog-services",
            "/v1/openapi.json",
        ):
            ok(api.get(path), 200)
        for path in ("/metrics", "/health"):
            ok(anon.get(path), 200)
        ok(anon.get(cred_path), 401)
        # replacing the tainted credential with a wrong one is again a 400 without the value
        ok(api.delete(cred_path), 204)
        ok(api.post(cred_path, json=cred_body(wrong)), 400)
        ok(api.delete(f"/v1/integration-instances/{pid}/auth-config"), 204)
        all_pages(api, "/v1/audit-log")

        # identity tokens: a user's kpat_ and a system account's spat_, made, used, revoked
        user = ok(api.post("/v3/invites", json={"email": "leak@example.com"}), 201)
        pat = ok(
            api.post(
                f"/v3/users/{user['id']}/access-tokens",
                json={"name": "leaky", "ttl_seconds": 86400},
            ),
            201,
        )
        account = ok(
            api.post("/v3/system-accounts", json={"name": "leaky-ci", "description": "ci"}), 201
        )
        spat = ok(
            api.post(
                f"/v3/system-accounts/{account['id']}/access-tokens",
                json={"name": "leaky", "expires_at": "2099-01-01T00:00:00Z"},
            ),
            201,
        )
        made_tokens = [pat["konnect_token"], spat["token"]]
        for made_token in made_tokens:
            with serve.client(made_token, event_hooks={"response": [rec.hook]}) as holder:
                holder.get("/v3/organizations/me")
        ok(api.patch(f"/v3/users/{user['id']}/access-tokens/{pat['id']}/revoke"), 200)
        ok(api.delete(f"/v3/system-accounts/{account['id']}/access-tokens/{spat['id']}"), 204)
        ok(api.get(f"/v3/users/{user['id']}/access-tokens"), 200)
        all_pages(api, "/v1/audit-log")
        time.sleep(0.2)  # let the last request log lines reach the file

    server_logs = serve.stderr + serve.stdout
    log_lines = [ln for ln in server_logs.splitlines() if ln.strip()]
    json_lines = [json.loads(ln) for ln in log_lines if ln.startswith("{")]
    # the logs were really captured: one JSON line per request at least
    assert sum(1 for ln in json_lines if ln.get("path")) >= len(rec.seen) - 5, server_logs[:2000]
    assert any(ln.get("path") == cred_path and ln.get("status") == 400 for ln in json_lines)

    rows = stored_mid + "\n" + dump_rows(database_url)
    assert "auth_credentials" in stored_mid and "auth_configs" in stored_mid
    assert "'inventory'" in rows  # the dump holds the data
    files = files_mid + sqlite_bytes(database_url)
    if database_url.startswith("sqlite"):
        assert b"leak-hunter" in files  # the raw files are searchable

    assert len(rec.seen) >= 35
    for name, texts in (
        ("response", rec.seen),
        ("server log", log_lines),
        ("CLI output", outputs),
        ("stored row", rows.splitlines()),
    ):
        for text in texts:
            for needle in (secret, wrong):
                assert needle not in text, f"secret in a {name}: {text[:3000]}"
    assert secret.encode() not in files
    # access tokens: shown once (in their creation's answer), never logged, stored or audited
    for made_token in [token, *made_tokens]:
        assert sum(made_token in text for text in rec.seen) == (made_token != token)
        for name, texts in (("server log", log_lines), ("stored row", rows.splitlines())):
            assert not any(made_token in text for text in texts), f"a token in a {name}"
        assert made_token.encode() not in files
    # the secret did reach the upstream: the sync was authorized with it
    assert any(r["path"].startswith("/items") and r["status"] == 200 for r in sim.requests)


def test_the_identity_providers_client_secret_never_leaves_the_process(
    database_url: str, tmp_path: Path
) -> None:
    """An identity provider's client secret, through its configuration, sign-ins (accepted
    and refused) and sign-out, on a real ``serve`` with debug JSON logs: in no response,
    log line, audit entry or stored row (nor the session cookie in a log, event or row)."""
    secret = "idp-s3cr3t-" + secrets.token_hex(12)
    env = cli_env(
        database_url, tmp_path, SERVICE_CATALOG_LOG_FORMAT="json", SERVICE_CATALOG_LOG_LEVEL="DEBUG"
    )
    made = run_cli("token", "create", "--name", "idp-leak-hunter", env=env)
    assert made.returncode == 0, made.stderr
    token = TOKEN.findall(made.stdout)[0]
    rec = Recorder()
    with ServeProcess(env, tmp_path) as serve:
        callback = f"{serve.url}/v3/authenticate/acme/callback"
        with (
            OidcProvider(redirect_uris=[callback], client_secret=secret) as idp,
            serve.client(token, event_hooks={"response": [rec.hook]}) as api,
            httpx.Client(base_url=serve.url, event_hooks={"response": [rec.hook]}) as browser,
        ):
            idp.set_account("carol", email="carol@example.com", name="Carol", groups=["eng"])
            config = {
                "issuer_url": idp.issuer,
                "client_id": idp.client_id,
                "client_secret": secret,
                "scopes": ["openid", "email", "profile", "groups"],
            }
            created = ok(
                api.post(
                    "/v3/identity-providers",
                    json={"login_path": "acme", "enabled": True, "config": config},
                ),
                201,
            )
            path = f"/v3/identity-providers/{created['id']}"
            ok(
                api.post("/v3/identity-providers", json={"login_path": "acme", "config": config}),
                409,
            )
            ok(api.patch(path, json={"config": {**config, "issuer_url": "http://x.example"}}), 400)
            ok(api.patch(path, json={"config": {"client_secret": secret}}), 200)
            ok(api.get(path), 200)
            ok(api.get("/v3/identity-providers"), 200)

            def sign_in() -> httpx.Response:
                started = browser.get("/v3/authenticate/acme")
                assert started.status_code == 302, started.text
                return follow(browser, started, login="carol", stop_at=callback)

            signed_in = sign_in()
            assert signed_in.status_code == 200, signed_in.text
            session = browser.cookies[SESSION_COOKIE]
            ok(browser.get("/v1/catalog-services"), 200)
            ok(browser.post("/v3/authenticate/logout"), 204)
            idp.publish_other_key()
            assert sign_in().status_code == 401  # refused: a key the provider does not publish
            audit = all_pages(api, "/v1/audit-log")
            assert {"identity_provider.signed_in", "identity_provider.sign_in_refused"} <= {
                e["type"] for e in audit
            }
            time.sleep(0.2)  # let the last request log lines reach the file
    logs = [ln for ln in (serve.stderr + serve.stdout).splitlines() if ln.strip()]
    assert any('"path": "/v3/authenticate/acme/callback"' in ln for ln in logs), logs[:20]
    rows = dump_rows(database_url)
    assert "identity_providers" in rows and "console_sessions" in rows
    files = sqlite_bytes(database_url)
    assert len(rec.seen) >= 10
    for name, texts in (
        ("response", rec.seen),
        ("server log", logs),
        ("stored row", rows.splitlines()),
        ("audit entry", [json.dumps(e) for e in audit]),
    ):
        for text in texts:
            assert secret not in text, f"client secret in a {name}: {text[:3000]}"
            if name != "response":
                assert session not in text, f"session cookie in a {name}: {text[:3000]}"
    assert secret.encode() not in files and session.encode() not in files

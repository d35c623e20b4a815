"""A stored credential goes only to the origin it was stored for (issue 8 items 1, 3, 4),
over HTTP on SQLite and PostgreSQL, against the Traceable simulator and loopback listeners.

* Item 1: the issue's reproduction (a transient 503 on verify leaves the instance
  unauthorized with its credential; PATCH of ``base_url`` then ``POST .../verify``) ends
  with the other host's listener receiving nothing; and if the instance row points
  elsewhere anyway (tampered), verify, sync and the endpoints sub-list send nothing there.
* Item 3: an upstream 401 body quoting the token base64-encoded and upper-cased is stored
  classified and redacted: no copy of the token, in any encoding or case, comes back.
* Item 4: an instance unauthorized by a transient failure while its credential exists is
  told to ``POST .../auth-credential/verify``.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import update

from conftest import LiveServer
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.settings import Settings
from service_catalog.sync.worker import Worker
from service_catalog.testing.traceable_sim import TraceableSimulator
from sync_support import ingestion, latest_run

URL = "/v1/integration-instances"
TOKEN = "Zq8vT3kPw9Lm2xR7-trc-Hn4Jd"


class Listener:
    """A loopback HTTP server that records every request it receives (and answers what
    ``answer`` says: by default a 200 with ``{"data": {}}``)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer: Any = None  # a callable (handler) -> (status, headers, body)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                    }
                )
                status, headers, payload = (
                    owner.answer(self) if owner.answer else (200, {}, b'{"data": {}}')
                )
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


SIMULATOR = partial(TraceableSimulator, 3, 2, TOKEN)


@pytest.fixture
def elsewhere() -> Iterator[Listener]:
    with Listener() as listener:
        yield listener


def install(api: httpx.Client, base_url: str, name: str = "traceable") -> str:
    resp = api.post(
        URL,
        json={
            "integration_name": "traceable",
            "name": name,
            "display_name": "Traceable",
            "config": {"include_inactive": True, "base_url": base_url},
        },
    )
    assert resp.status_code == 201, resp.text
    iid = str(resp.json()["id"])
    resp = api.post(
        f"{URL}/{iid}/auth-credential",
        json={
            "type": "multi_key_auth",
            "config": {"headers": [{"name": "authorization", "key": TOKEN}]},
        },
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["verified"] is True
    return iid


def run_sync(api: httpx.Client, settings: Settings, server: LiveServer, iid: str) -> dict[str, Any]:
    resp = api.put(f"{URL}/{iid}/resource-ingestion", json={})
    assert resp.status_code == 200, resp.text
    Worker(
        settings.model_copy(update={"connector_retries": 0}), server.db, name="test-worker"
    ).run_once(instance_id=uuid.UUID(iid))
    return latest_run(api, iid)


def test_a_credential_never_follows_the_instance_to_another_host(
    api: httpx.Client,
    server: LiveServer,
    settings: Settings,
    sim: TraceableSimulator,
    elsewhere: Listener,
) -> None:
    iid = install(api, sim.url)
    cred_path = f"{URL}/{iid}/auth-credential"
    run = run_sync(api, settings, server, iid)
    assert run["status"] == "succeeded", run
    resources = api.get("/v1/resources", params={"page[size]": 100}).json()["data"]
    service = next(r for r in resources if r["type"] == "traceable_service")

    # One verify meets a transient 503: the instance is unauthorized, the credential stays.
    sim.fail_next = 5
    cred = api.post(f"{cred_path}/verify").json()
    sim.clear_faults()
    assert cred["verified"] is False and cred["tainted"] is False
    assert api.get(f"{URL}/{iid}").json()["authorized"] is False
    # Item 4: it is told to verify it again, not to POST another (a 409).
    halted = ingestion(api, iid)["scheduler_state"]
    assert halted["status"] == "halted"
    assert f"POST {cred_path}/verify" in halted["remediation"], halted
    refused = api.put(f"{URL}/{iid}/resource-ingestion", json={})
    assert refused.status_code == 400 and f"POST {cred_path}/verify" in refused.json()["detail"]
    assert (
        api.post(
            cred_path,
            json={
                "type": "multi_key_auth",
                "config": {"headers": [{"name": "authorization", "key": TOKEN}]},
            },
        ).status_code
        == 409
    )

    # Item 1: moving the instance to another host is refused while the credential exists.
    moved = api.patch(f"{URL}/{iid}", json={"config": {"base_url": elsewhere.url}})
    assert moved.status_code == 400, moved.text
    problem = moved.json()
    assert f"DELETE {cred_path}" in problem["detail"]
    assert problem["invalid_parameters"][0]["field"] == "config.base_url"
    assert api.get(f"{URL}/{iid}").json()["config"]["base_url"] == sim.url
    assert cred["verification_error"] == {"reason": "unreachable", "upstream_status": 503}
    assert cred["upstream_origin"] == sim.url
    # a new path on the same origin is not another host
    same = api.patch(f"{URL}/{iid}", json={"config": {"base_url": sim.url + "/"}})
    assert same.status_code == 200, same.text
    again = api.post(f"{cred_path}/verify").json()
    assert again["verified"] is True and again["verification_error"] is None

    # Defence in depth: the row points elsewhere anyway (an older version, a restore, a
    # hand edit), and even says authorized. Nothing is sent there.
    with server.db.session() as s:
        s.execute(
            update(IntegrationInstance)
            .where(IntegrationInstance.id == uuid.UUID(iid))
            .values(config={"include_inactive": True, "base_url": elsewhere.url}, authorized=True)
        )
    verify = api.post(f"{cred_path}/verify")
    assert verify.status_code == 400, verify.text
    assert sim.url in verify.json()["detail"] and "DELETE" in verify.json()["detail"]
    run = run_sync(api, settings, server, iid)
    assert run["status"] == "failed" and "Refused to send the credential" in run["error"], run
    endpoints = api.get(f"/v1/resources/{service['id']}/endpoints")
    assert endpoints.status_code == 502, endpoints.text
    assert "Refused to send the credential" in endpoints.json()["detail"]
    assert elsewhere.requests == []
    # deleting the credential is the way to move: then a new one is bound to the new host
    assert api.delete(cred_path).status_code == 204
    with server.db.session() as s:
        s.execute(
            update(IntegrationInstance)
            .where(IntegrationInstance.id == uuid.UUID(iid))
            .values(authorized=False)
        )
    assert (
        api.post(
            cred_path,
            json={
                "type": "multi_key_auth",
                "config": {
                    "headers": [{"name": "authorization", "key": "another-token-for-elsewhere"}]
                },
            },
        ).status_code
        == 201
    )
    assert [r["headers"].get("Authorization") for r in elsewhere.requests] == [
        "another-token-for-elsewhere"
    ]
    assert api.get(cred_path).json()["upstream_origin"] == elsewhere.url


def _copies(token: str) -> list[str]:
    b64 = base64.b64encode(token.encode()).decode()
    return [
        token,
        token.upper(),
        token.lower(),
        b64,
        b64.upper(),
        b64.lower(),
        quote(token, safe=""),
        base64.b64encode(f"user:{token}".encode()).decode(),
    ]


def _assert_no_copy(text: str, token: str) -> None:
    low = text.lower()
    for copy in _copies(token):
        assert copy.lower() not in low, (copy, text)
    for i in range(len(token) - 5):
        assert token[i : i + 6].lower() not in low, (token[i : i + 6], text)


def test_encoded_copies_of_the_token_never_come_back(
    api: httpx.Client, server: LiveServer, settings: Settings, elsewhere: Listener
) -> None:
    """A Traceable-shaped upstream that accepts the token, then answers 401 quoting it
    base64-encoded and upper-cased (and plain, upper-cased)."""
    b64 = base64.b64encode(TOKEN.encode()).decode()
    quoting: dict[str, bool] = {"on": False}

    def answer(handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        if not quoting["on"]:
            return 200, {}, b'{"data": {"entities": {"total": 0, "results": []}}}'
        body = {
            "error": f"invalid credential {b64.upper()} (token {TOKEN.upper()}, "
            f"header {handler.headers.get('Authorization', '')!s:.8}...)"
        }
        return 401, {}, json.dumps(body).encode()

    elsewhere.answer = answer
    iid = install(api, elsewhere.url)
    cred_path = f"{URL}/{iid}/auth-credential"
    quoting["on"] = True
    # a sync meets the 401: the credential is tainted with a classified, redacted reason
    run = run_sync(api, settings, server, iid)
    assert run["status"] == "failed", run
    cred = api.get(cred_path)
    got = cred.json()
    assert got["tainted"] is True and "401" in got["verification_reason"]
    assert got["verification_error"] == {"reason": "unauthorized", "upstream_status": 401}
    assert "invalid credential [redacted]" in got["verification_reason"]  # the excerpt
    seen = [
        cred.text,
        json.dumps(run),
        api.get(f"{URL}/{iid}/sync-runs").text,
        api.get(f"{URL}/{iid}/resource-ingestion").text,
        api.get("/v1/audit-log", params={"page[size]": 100}).text,
    ]
    # verifying again meets the same answer: stored the same way
    verified = api.post(f"{cred_path}/verify")
    assert verified.status_code == 200
    assert verified.json()["verification_error"] == {
        "reason": "unauthorized",
        "upstream_status": 401,
    }
    seen += [
        verified.text,
        api.get(cred_path).text,
        api.get("/v1/audit-log", params={"page[size]": 100}).text,
    ]
    # a new credential the upstream rejects: the 400 says why, without the token
    other = install_unverified(api, elsewhere.url)
    seen.append(other)
    for text in seen:
        _assert_no_copy(text, TOKEN)


def install_unverified(api: httpx.Client, base_url: str) -> str:
    resp = api.post(
        URL,
        json={
            "integration_name": "traceable",
            "name": "traceable-2",
            "display_name": "Traceable",
            "config": {"base_url": base_url},
        },
    )
    assert resp.status_code == 201, resp.text
    rejected = api.post(
        f"{URL}/{resp.json()['id']}/auth-credential",
        json={
            "type": "multi_key_auth",
            "config": {"headers": [{"name": "authorization", "key": TOKEN}]},
        },
    )
    assert rejected.status_code == 400, rejected.text
    assert "401" in rejected.json()["detail"]
    return rejected.text


def test_redirects_are_not_followed_with_the_credential(
    api: httpx.Client,
    server: LiveServer,
    settings: Settings,
    sim: TraceableSimulator,
    elsewhere: Listener,
) -> None:
    with Listener() as redirecting:
        iid_resp = api.post(
            URL,
            json={
                "integration_name": "traceable",
                "name": "redirected",
                "display_name": "R",
                "config": {"base_url": redirecting.url},
            },
        )
        iid = iid_resp.json()["id"]
        redirecting.answer = lambda h: (307, {"Location": f"{elsewhere.url}/graphql"}, b"")
        cred = api.post(
            f"{URL}/{iid}/auth-credential",
            json={
                "type": "multi_key_auth",
                "config": {"headers": [{"name": "authorization", "key": TOKEN}]},
            },
        )
        assert cred.status_code == 201, cred.text
        body = cred.json()
        assert body["verified"] is False and "redirect" in body["verification_reason"]
        assert elsewhere.url in body["verification_reason"]
        assert len(redirecting.requests) == 1 and elsewhere.requests == []

"""HTTP edges (issue 8): an unexpected exception is a problem+json 500 answered on the same
keep-alive connection and logged once (item 6); request bodies must be declared JSON (415
otherwise), a UTF-8 byte order mark is accepted on every write, a repeated JSON key is a
400 naming it (item 7); a database that is busy (pool exhausted, SQLite locked) is a 503
with Retry-After (item 8), on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import Request
from sqlalchemy import event

from conftest import LiveServer
from service_catalog.core.db import Database
from service_catalog.settings import Settings
from service_catalog.testing.inventory_sim import InventorySimulator
from sync_support import make_instance

URL = "/v1/catalog-services"
BOM = b"\xef\xbb\xbf"


class Collect(logging.Handler):
    """Every log record of the catalog and of uvicorn during a test (attached directly:
    the catalog's logger may not propagate once a CLI test configured logging)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self.guard:
            self.records.append(record)


@pytest.fixture
def logs() -> Iterator[Collect]:
    handler = Collect()
    names = ("service_catalog", "uvicorn", "uvicorn.error", "uvicorn.asgi")
    loggers = [logging.getLogger(n) for n in names]
    for lg in loggers:
        lg.addHandler(handler)
    try:
        yield handler
    finally:
        for lg in loggers:
            lg.removeHandler(handler)


class Boom(Exception):
    """An exception no handler knows."""


@pytest.fixture
def live(settings: Settings, db: Database) -> Iterator[LiveServer]:
    """A catalog with test-only routes that fail unexpectedly, and one that says which
    client port (so which connection) a request came on."""
    server = LiveServer(settings, db)

    async def boom_async() -> None:
        raise Boom("kaboom in an async route")

    def boom_sync(payload: dict[str, Any]) -> None:
        raise Boom(f"kaboom in a sync route with {len(payload)} keys")

    def port(request: Request) -> dict[str, Any]:
        assert request.client is not None
        return {"port": request.client.port}

    server.app.add_api_route("/v1/_edges/boom", boom_async, methods=["GET"])
    server.app.add_api_route("/v1/_edges/boom", boom_sync, methods=["POST"])
    server.app.add_api_route("/v1/_edges/port", port, methods=["GET"])
    server.start()
    yield server
    server.stop()


def _problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = resp.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert body["instance"] == f"kong:trace:{resp.headers['x-trace-id']}"
    assert "Traceback" not in resp.text and "kaboom" not in resp.text
    return body


# --- item 6: a 500 keeps the connection ------------------------------------------------


def test_unexpected_exception_is_a_500_on_the_same_connection_logged_once(
    live: LiveServer, logs: Collect
) -> None:
    with live.client() as api:
        port = api.get("/v1/_edges/port").json()["port"]
        for method, payload in (("GET", None), ("POST", {"a": 1})):
            resp = api.request(method, "/v1/_edges/boom", json=payload)
            body = _problem(resp, 500)
            assert body["title"] == "Internal Server Error"
            assert resp.headers.get("connection", "").lower() != "close"
            trace = resp.headers["x-trace-id"]
            # the next request, a write, succeeds on the same connection
            created = api.post(
                URL, json={"name": f"after-{method.lower()}", "display_name": "After"}
            )
            assert created.status_code == 201, created.text
            assert api.get("/v1/_edges/port").json()["port"] == port
            with logs.guard:
                errors = [r for r in logs.records if r.levelno >= logging.ERROR]
            mine = [r for r in errors if getattr(r, "trace_id", None) == trace]
            assert len(mine) == 1, [r.getMessage() for r in errors]
            assert mine[0].exc_info is not None and mine[0].exc_info[0] is Boom
            assert not [r for r in errors if r.name.startswith("uvicorn")], [
                r.getMessage() for r in errors
            ]
            logs.records.clear()


# --- item 7: content types, byte order marks, repeated keys ----------------------------


def test_a_body_not_declared_json_is_415(api: httpx.Client) -> None:
    svc = api.post(URL, json={"name": "keep", "display_name": "Keep"}).json()
    raw = b'{"name": "x", "display_name": "X"}'
    for ctype in (
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/json; charset=latin-1",
        "application/jsonx",
        "json",
        "text/json",
    ):
        headers = {"content-type": ctype} if ctype else {}
        for method, path in (
            ("POST", URL),
            ("PATCH", f"{URL}/{svc['id']}"),
            ("PUT", "/v1/integration-instances/x/resources"),
        ):
            resp = api.request(method, path, content=raw, headers=headers)
            body = _problem(resp, 415)
            assert "application/json" in body["detail"], body
            assert (ctype or "no Content-Type") in body["detail"], body
            if method == "POST":
                assert resp.headers["accept-post"] == "application/json"
            if method == "PATCH":
                assert resp.headers["accept-patch"] == "application/json"
    listed = api.get(URL).json()["data"]
    assert [(s["name"], s["display_name"]) for s in listed] == [("keep", "Keep")]


def test_json_content_types_the_clients_send_are_accepted(api: httpx.Client) -> None:
    # Kong's Go SDK and Terraform provider send application/json; others add a charset or
    # use a +json type (JSON merge patch for PATCH).
    for n, ctype in enumerate(
        (
            "application/json",
            "application/json; charset=utf-8",
            'Application/JSON;charset="UTF-8"',
            "application/json;charset=utf8",
            "application/merge-patch+json",
            "application/vnd.api+json",
        )
    ):
        resp = api.post(
            URL,
            content=f'{{"name": "c{n}", "display_name": "C"}}'.encode(),
            headers={"content-type": ctype},
        )
        assert resp.status_code == 201, (ctype, resp.text)
        patched = api.patch(
            f"{URL}/{resp.json()['id']}",
            content=b'{"description": "d"}',
            headers={"content-type": ctype},
        )
        assert patched.status_code == 200, (ctype, patched.text)
        assert patched.json()["description"] == "d"


def test_bodiless_writes_need_no_content_type(api: httpx.Client) -> None:
    with InventorySimulator(items=2, token="edges-token-1") as sim:
        iid = make_instance(api, sim, "edges")
        for method, path, status in (
            ("POST", f"/v1/integration-instances/{iid}/auth-credential/verify", 200),
            ("PUT", f"/v1/integration-instances/{iid}/resource-ingestion", 200),
            ("DELETE", f"/v1/integration-instances/{iid}/auth-credential", 204),
        ):
            resp = api.request(method, path)
            assert "content-type" not in resp.request.headers
            assert resp.status_code == status, (method, path, resp.text)


def test_a_utf8_byte_order_mark_is_accepted_on_every_write(api: httpx.Client) -> None:
    headers = {"content-type": "application/json"}
    created = api.post(
        URL, content=BOM + '{"name": "bom", "display_name": "Bóm"}'.encode(), headers=headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["display_name"] == "Bóm"
    sid = created.json()["id"]
    patched = api.patch(f"{URL}/{sid}", content=BOM + b'{"description": "x"}', headers=headers)
    assert patched.status_code == 200 and patched.json()["description"] == "x", patched.text
    inst = api.post(
        "/v1/integration-instances",
        content=BOM + b'{"integration_name": "custom", '
        b'"name": "bom-push", "display_name": "Bom", "config": {}}',
        headers=headers,
    )
    assert inst.status_code == 201, inst.text
    pushed = api.put(
        f"/v1/integration-instances/{inst.json()['id']}/resources",
        content=BOM + b'{"data": [{"name": "r", "type": "custom_resource", '
        b'"config": {"id": "r1"}}]}',
        headers=headers,
    )
    assert pushed.status_code == 200, pushed.text
    # a BOM in front of malformed JSON is still a 400 about the JSON
    bad = api.post(URL, content=BOM + b"{nope", headers=headers)
    assert _problem(bad, 400)["invalid_parameters"][0]["field"] == "body"
    # and a BOM alone is an empty body
    assert api.post(URL, content=BOM, headers=headers).status_code == 400


def test_a_repeated_json_key_is_a_400_naming_it(api: httpx.Client) -> None:
    headers = {"content-type": "application/json"}
    svc = api.post(URL, json={"name": "dup", "display_name": "Dup"}).json()
    inst = api.post(
        "/v1/integration-instances",
        json={
            "integration_name": "custom",
            "name": "dup-push",
            "display_name": "Dup",
            "config": {},
        },
    ).json()
    cases = [
        ("POST", URL, b'{"name": "a", "name": "b", "display_name": "A"}', "name"),
        (
            "POST",
            URL,
            b'{"name": "a", "display_name": "A", "labels": {"env": "x", "env": 1}}',
            "labels.env",
        ),
        (
            "PATCH",
            f"{URL}/{svc['id']}",
            b'{"display_name": "A", "display_name": "A"}',
            "display_name",
        ),
        (
            "PUT",
            f"/v1/integration-instances/{inst['id']}/resources",
            b'{"data": [{"name": "r", "type": "custom_resource", "config": {"id": 1, "id": 2}}]}',
            "data.0.config.id",
        ),
    ]
    for method, path, raw, field in cases:
        body = _problem(api.request(method, path, content=raw, headers=headers), 400)
        param = body["invalid_parameters"][0]
        assert (param["field"], param["source"]) == (field, "body"), body
        assert field in body["detail"], body
    assert api.get(URL, params={"filter[name]": "a"}).json()["data"] == []
    assert api.get(f"{URL}/{svc['id']}").json()["display_name"] == "Dup"
    assert api.get("/v1/resources").json()["data"] == []


# --- item 8: a busy database is a 503 with Retry-After -----------------------------------


def test_an_exhausted_connection_pool_is_a_503_with_retry_after(
    settings: Settings, database_url: str
) -> None:
    small = Database(database_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    server = LiveServer(settings, small).start()
    try:
        with server.client() as api:
            held = small.engine.connect()  # the pool's only connection
            try:
                for method, payload in (
                    ("GET", None),
                    ("POST", {"name": "busy", "display_name": "Busy"}),
                ):
                    resp = api.request(method, URL, json=payload)
                    body = _problem(resp, 503)
                    assert int(resp.headers["retry-after"]) >= 1, body
            finally:
                held.close()
            created = api.post(URL, json={"name": "later", "display_name": "Later"})
            assert created.status_code == 201, created.text
    finally:
        server.stop()
        small.dispose()


def test_a_locked_sqlite_database_is_a_503_with_retry_after(
    settings: Settings, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock")
    impatient = Database(database_url)

    @event.listens_for(impatient.engine, "connect")
    def _short_busy_timeout(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=100")

    server = LiveServer(settings, impatient).start()
    try:
        with server.client() as api:
            holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            try:
                resp = api.post(URL, json={"name": "locked", "display_name": "Locked"})
                _problem(resp, 503)
                assert int(resp.headers["retry-after"]) >= 1
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            created = api.post(URL, json={"name": "locked", "display_name": "Locked"})
            assert created.status_code == 201, created.text
    finally:
        server.stop()
        impatient.dispose()

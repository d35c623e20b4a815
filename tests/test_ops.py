"""Operations: health, readiness, metrics, JSON request logs, our OpenAPI and offline docs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from contract import Contract
from serveproc import ServeProcess, cli_env
from service_catalog.core.db import Database
from service_catalog.settings import Settings

TOKEN = re.compile(r"(?:scat|spat|kpat)_[A-Za-z0-9_\-]{20,}")


def test_health(server: Any) -> None:
    with server.client(token="") as anon:
        resp = anon.get("/health")
        assert resp.status_code == 200
        assert resp.json() == {"status": "ok"}
        assert resp.headers["x-trace-id"]


def test_ready(server: Any) -> None:
    with server.client(token="") as anon:
        resp = anon.get("/ready")
        assert resp.status_code == 200
        assert resp.json() == {"status": "ready"}


def _not_ready(server: Any, contract: Contract) -> None:
    with server.client(token="") as anon:
        resp = anon.get("/ready")
        body = contract.check(resp, 503)
        assert body["instance"] == f"kong:trace:{resp.headers['x-trace-id']}"
        assert "database" in body["detail"].lower()
        assert anon.get("/health").status_code == 200  # the process itself is still up


def test_ready_is_503_when_postgres_database_is_dropped(
    pg: Any, tmp_path: Path, contract: Contract
) -> None:
    url = pg.new_database()
    db = Database(url)
    live = LiveServer(
        Settings(database_url=url, run_worker=False, key_file=str(tmp_path / "k")), db
    ).start()
    try:
        with live.client(token="") as anon:
            assert anon.get("/ready").status_code == 200
        pg.drop(url)  # terminates its connections and removes the database
        _not_ready(live, contract)
        with live.client(token="") as anon:  # a database gone is never a 500 on the API
            resp = anon.get("/v1/catalog-services", headers={"Authorization": "Bearer x"})
            assert resp.status_code == 503, resp.text
            contract.check(resp, 503)
    finally:
        live.stop()
        db.dispose()


def test_ready_is_503_when_sqlite_file_is_gone(
    tmp_path: Path, sqlite_template: Path, contract: Contract
) -> None:
    home = tmp_path / "data"
    home.mkdir()
    shutil.copy(sqlite_template, home / "catalog.db")
    url = f"sqlite:///{home / 'catalog.db'}"
    db = Database(url)
    live = LiveServer(
        Settings(database_url=url, run_worker=False, key_file=str(tmp_path / "k")), db
    ).start()
    try:
        with live.client(token="") as anon:
            assert anon.get("/ready").status_code == 200
        home.rename(tmp_path / "moved-away")  # the volume is unmounted / the file moved
        _not_ready(live, contract)
        (tmp_path / "moved-away").rename(home)
        with live.client(token="") as anon:
            assert anon.get("/ready").status_code == 200
    finally:
        live.stop()
        db.dispose()


def _metric_lines(text: str, name: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith(name + "{")]


def test_metrics_by_route_template_and_status(server: Any, api: httpx.Client) -> None:
    made = api.post("/v1/catalog-services", json={"name": "m", "display_name": "M"}).json()
    for _ in range(3):
        assert api.get(f"/v1/catalog-services/{made['id']}").status_code == 200
    assert api.get("/v1/catalog-services/7f9fd312-a987-4628-b4c5-bb4f4fddd5f7").status_code == 404
    assert api.get("/v1/nothing-here/12345").status_code == 404
    text = httpx.get(f"{server.url}/metrics").text
    reqs = _metric_lines(text, "service_catalog_http_requests_total")

    def count(method: str, route: str, status: str) -> float:
        for ln in reqs:
            if (
                f'method="{method}"' in ln
                and f'route="{route}"' in ln
                and f'status="{status}"' in ln
            ):
                return float(ln.rsplit(" ", 1)[1])
        return 0.0

    assert count("GET", "/v1/catalog-services/{id}", "200") == 3
    assert count("GET", "/v1/catalog-services/{id}", "404") == 1
    assert count("POST", "/v1/catalog-services", "201") == 1
    assert not any(made["id"] in ln or "12345" in ln for ln in reqs)  # templates, not paths
    assert count("GET", "unmatched", "404") == 1
    buckets = _metric_lines(text, "service_catalog_http_request_duration_seconds_bucket")
    by_id = [ln for ln in buckets if 'route="/v1/catalog-services/{id}"' in ln]
    assert any('le="+Inf"' in ln and ln.endswith(" 4.0") for ln in by_id), by_id
    assert len(by_id) > 5  # a real histogram, not a single bucket
    assert "# TYPE service_catalog_http_request_duration_seconds histogram" in text


def test_openapi_and_offline_docs(server: Any) -> None:
    with server.client(token="") as anon:
        spec = anon.get("/v1/openapi.json")
        assert spec.status_code == 200
        doc = spec.json()
        assert doc["openapi"].startswith("3.")
        ops = doc["paths"]["/v1/catalog-services"]
        assert {"get", "post"} <= set(ops)
        assert {"get", "patch", "delete"} <= set(doc["paths"]["/v1/catalog-services/{id}"])
        assert ops["get"]["operationId"] == "list-catalog-services"
        documented = {p["name"] for p in ops["get"]["parameters"]}
        assert {"page[size]", "page[number]", "sort"} <= documented
        page = anon.get("/docs")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page.text)
        refs += re.findall(r"""url:\s*['"]([^'"]+)['"]""", page.text)
        assert refs
        assert not re.search(r"https?://(?!127\.0\.0\.1)", " ".join(refs)), refs
        assets = [r for r in refs if r.startswith("/_docs-static/")]
        assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
        for ref in refs:
            assert ref.startswith(("/_docs-static/", "/v1/openapi.json")), ref
            got = anon.get(ref)
            assert got.status_code == 200, ref
            assert len(got.content) > 100


def test_json_logs_carry_the_trace_id(tmp_path: Path, contract: Contract) -> None:
    env = cli_env(f"sqlite:///{tmp_path / 'logs.db'}", tmp_path, SERVICE_CATALOG_LOG_FORMAT="json")
    with ServeProcess(env, tmp_path) as proc:
        token = TOKEN.findall(proc.stdout)[0]
        with proc.client(token) as c:
            bad = c.post("/v1/catalog-services", json={"name": "Bad Name"})
            body = contract.check(bad, 400)
            good = c.get("/v1/catalog-services")
            assert good.status_code == 200
    trace = body["instance"].removeprefix("kong:trace:")
    records = []
    for line in proc.stderr.splitlines():
        if line.strip():
            records.append(json.loads(line))  # every line is one JSON object
    mine = [r for r in records if r.get("trace_id") == trace]
    assert len(mine) == 1, records
    rec = mine[0]
    assert rec["status"] == 400 and rec["method"] == "POST"
    assert rec["route"] == "/v1/catalog-services" and rec["path"] == "/v1/catalog-services"
    assert isinstance(rec["duration_ms"], int | float)
    assert rec["level"] == "info" and rec["ts"]
    ok = [r for r in records if r.get("trace_id") == good.headers["x-trace-id"]]
    assert ok and ok[0]["status"] == 200
    assert token not in proc.stderr  # the token never reaches a log


@pytest.mark.parametrize("fmt", ["text"])
def test_text_logs_carry_the_trace_id(tmp_path: Path, fmt: str) -> None:
    env = cli_env(f"sqlite:///{tmp_path / 'logs.db'}", tmp_path, SERVICE_CATALOG_LOG_FORMAT=fmt)
    with ServeProcess(env, tmp_path) as proc:
        resp = httpx.get(f"{proc.url}/v1/catalog-services")
        assert resp.status_code == 401
    assert f"trace_id={resp.headers['x-trace-id']}" in proc.stderr

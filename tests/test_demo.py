"""``service-catalog demo`` as a user runs it: a real process, then its API."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _start(
    tmp_path: Path, *, own_dir: bool = True
) -> tuple[subprocess.Popen[str], str, str, list[str]]:
    exe = Path(sys.executable).with_name("service-catalog")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    where = ["--dir", str(tmp_path / "demo")] if own_dir else []
    proc = subprocess.Popen(
        [str(exe), "demo", "--bind", "127.0.0.1:0", *where, "--services", "24", "--endpoints", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    url = token = ""
    deadline = time.time() + 120
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if m := re.match(r"URL: (\S+)", line):
            url = m.group(1)
        if m := re.match(r"Admin token: (\S+)", line):
            token = m.group(1)
        if "Press Ctrl-C to stop" in line:
            return proc, url, token, lines
    proc.kill()
    raise AssertionError("the demo did not come up:\n" + "\n".join(lines))


INTEGRATIONS = {"traceable", "gateway-manager", "github", "pagerduty"}


def test_demo_serves_four_synced_integrations_mapped_together(tmp_path: Path) -> None:
    proc, url, token, lines = _start(tmp_path)
    try:
        assert url.startswith("http://127.0.0.1:") and token
        assert any("demo data" in line for line in lines)
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as api:
            instances = api.get("/v1/integration-instances").json()["data"]
            assert {i["integration"]["name"] for i in instances} == INTEGRATIONS
            assert len(instances) == 4
            for inst in instances:
                assert inst["authorized"] is True, inst
                assert inst["labels"] == {"demo": "true"}
                assert "Demo data" in inst["description"]
            res = api.get(
                "/v1/resources",
                params={"filter[integration.name]": "traceable", "page[size]": "100"},
            ).json()["data"]
            assert len(res) == 20  # 24 services, every 6th inactive
            totals = {
                r["config"]["service_id"]: r["integration_data"]["endpoints"]["total"] for r in res
            }
            assert totals.pop("svc-00004") == 6  # the demo's second sync found a new one
            assert set(totals.values()) == {5}
            services = api.get("/v1/catalog-services").json()["data"]
            assert {s["name"] for s in services} == {"checkout", "payments", "identity"}
            assert all(s["labels"] == {"demo": "true"} for s in services)
            # Each demo service has a resource of every integration, named as it is.
            for service in services:
                name = service["name"]
                mapped = api.get(
                    f"/v1/catalog-services/{service['id']}/resources", params={"page[size]": 100}
                ).json()["data"]
                kinds = {r["integration"]["name"]: r for r in mapped}
                assert set(kinds) == INTEGRATIONS, (name, mapped)
                traceable = {r["name"] for r in mapped if r["integration"]["name"] == "traceable"}
                assert name in traceable, traceable
                assert kinds["gateway-manager"]["type"] == "gateway_svc"
                assert kinds["gateway-manager"]["name"] == name
                assert kinds["github"]["type"] == "github_repository"
                assert kinds["github"]["name"] == f"acme/{name}"
                assert kinds["github"]["integration_data"]["pull_requests"]["open"] >= 1
                assert kinds["pagerduty"]["type"] == "pagerduty_service"
                assert kinds["pagerduty"]["name"] == name
            checkout = next(s for s in services if s["name"] == "checkout")
            mapped = api.get(f"/v1/catalog-services/{checkout['id']}/resources").json()
            assert {
                r["config"]["service_id"]
                for r in mapped["data"]
                if r["integration"]["name"] == "traceable"
            } == {"svc-00001", "svc-00002"}
            unmapped = api.get(
                "/v1/resources", params={"filter[service_associations]": "0", "page[size]": "100"}
            ).json()["data"]
            assert {r["integration"]["name"] for r in unmapped} == INTEGRATIONS  # partly mapped
            # A second sync after the tenants changed: the feed shows each integration's
            # events on the mapped services, and no audit entries.
            events = api.get("/v1/integration-events", params={"page[size]": "100"}).json()["data"]
            by_type = {(e["type"], e["service_id"]) for e in events}
            ids = {s["name"]: s["id"] for s in services}
            assert ("vulnerability_opened", ids["checkout"]) in by_type, by_type
            assert ("vulnerability_fixed", ids["payments"]) in by_type, by_type
            assert ("sensitive_endpoint_exposed", ids["identity"]) in by_type, by_type
            assert ("pull_request_opened", ids["checkout"]) in by_type, by_type
            assert ("incident_triggered", ids["payments"]) in by_type, by_type
            assert ("plugin.added", ids["identity"]) in by_type, by_type
            assert {e["integration"]["name"] for e in events} == INTEGRATIONS
            assert any("integration events" in line for line in lines)
            assert api.get("/v1/resources").status_code == 200
            assert httpx.get(f"{url}/v1/resources").status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, out
    assert "Stopping the demo" in out


def test_demo_try_line_runs_as_pasted_and_its_temporary_folder_goes(tmp_path: Path) -> None:
    proc, _, _, lines = _start(tmp_path, own_dir=False)
    try:
        database = next(
            line.split("Database: ", 1)[1] for line in lines if line.startswith("Database: ")
        )
        folder = Path(database).parent
        assert folder.is_dir()
        tried = next(line.split("Try:", 1)[1].strip() for line in lines if "Try:" in line)
        ran = subprocess.run(
            ["bash", "-c", tried + " -sS --fail"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        assert len(json.loads(ran.stdout)["data"]) > 0
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, out
    assert not folder.exists(), "the demo's temporary folder must go when it stops"

"""What ``base_url`` accepts and where connectors may send requests (issue 8 item 2), over
HTTP on SQLite and PostgreSQL: http(s) origins only, no user-info, query or fragment,
never a link-local or cloud-metadata address (when configured and at request time), and
``SERVICE_CATALOG_UPSTREAM_ALLOW`` narrowing it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import update

from conftest import LiveServer
from service_catalog.core import outbound
from service_catalog.core.db import Database
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.settings import Settings
from service_catalog.sync.worker import Worker
from service_catalog.testing.inventory_sim import InventorySimulator
from sync_support import latest_run, make_instance

URL = "/v1/integration-instances"

REFUSED = [
    ("file:///etc/passwd", "http:// or https://"),
    ("gopher://127.0.0.1:70/_x", "http:// or https://"),
    ("javascript:alert(1)", "http:// or https://"),
    ("ftp://files.example.com/", "http:// or https://"),
    ("http://user:pass@127.0.0.1:9/api", "user-info"),
    ("http://127.0.0.1:9/api?token=x", "query"),
    ("http://127.0.0.1:9/api#top", "fragment"),
    ("http://169.254.169.254/latest/meta-data", "cloud-metadata"),
    ("http://169.254.0.1:8080", "cloud-metadata"),
    ("http://[fe80::1]/", "cloud-metadata"),
    ("http://[::ffff:169.254.169.254]/", "cloud-metadata"),
    ("http://[fd00:ec2::254]/", "cloud-metadata"),
    ("http://100.100.100.200/latest", "cloud-metadata"),
    ("http://2852039166/", "cloud-metadata"),  # 169.254.169.254 as one number
    ("http://0xa9.0xfe.0xa9.0xfe/", "cloud-metadata"),  # ... and in hex
]


SIMULATOR = partial(InventorySimulator, items=2, token="tok-outbound-1")


@pytest.fixture
def policy_reset() -> Iterator[None]:
    yield
    outbound.configure(None)  # the next test's server configures its own


def rules(problem: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["field"], p["rule"]) for p in problem["invalid_parameters"]]


@pytest.mark.parametrize("integration", ["rest-inventory", "traceable"])
def test_base_url_accepts_only_http_origins_off_metadata(
    api: httpx.Client, integration: str
) -> None:
    for i, (base_url, why) in enumerate(REFUSED):
        resp = api.post(
            URL,
            json={
                "integration_name": integration,
                "name": f"bad-{i}",
                "display_name": "B",
                "config": {"base_url": base_url},
            },
        )
        assert resp.status_code == 400, (base_url, resp.text)
        problem = resp.json()
        assert ("config.base_url", "invalid") in rules(problem), (base_url, problem)
        assert why in problem["detail"], (base_url, problem["detail"])
    # loopback, private addresses and names, with a path, are fine
    for i, base_url in enumerate(
        (
            "http://127.0.0.1:9/api",
            "https://10.1.2.3:8443",
            "http://localhost:9",
            "https://inventory.internal/v2/",
            "http://[::1]:9/x",
        )
    ):
        resp = api.post(
            URL,
            json={
                "integration_name": integration,
                "name": f"ok-{i}",
                "display_name": "O",
                "config": {"base_url": base_url},
            },
        )
        assert resp.status_code == 201, (base_url, resp.text)
        assert resp.json()["config"]["base_url"] == base_url
        # and a PATCH is held to the same rules
        moved = api.patch(
            f"{URL}/{resp.json()['id']}", json={"config": {"base_url": "http://169.254.169.254/"}}
        )
        assert moved.status_code == 400 and "cloud-metadata" in moved.json()["detail"]


def test_request_time_checks_refuse_a_metadata_address(
    api: httpx.Client, server: LiveServer, settings: Settings, db: Database, sim: InventorySimulator
) -> None:
    """A row that points at the metadata service anyway (written before this check
    existed, or by hand) syncs nothing: the request is refused before it is sent."""
    iid = make_instance(api, sim)
    with db.session() as s:
        s.execute(
            update(IntegrationInstance)
            .where(IntegrationInstance.id == uuid.UUID(iid))
            .values(config={"base_url": "http://169.254.169.254/latest"})
        )
    assert api.put(f"{URL}/{iid}/resource-ingestion", json={}).status_code == 200
    before = len(sim.requests)
    Worker(settings.model_copy(update={"connector_retries": 0}), db, name="test-worker").run_once(
        instance_id=uuid.UUID(iid)
    )
    run = latest_run(api, iid)
    assert run["status"] == "failed" and "cloud-metadata" in run["error"], run
    assert len(sim.requests) == before


def test_upstream_allow_narrows_where_requests_go(
    api: httpx.Client, settings: Settings, db: Database, sim: InventorySimulator, policy_reset: None
) -> None:
    iid = make_instance(api, sim)  # stored under the default policy (loopback allowed)
    port = httpx.URL(sim.url).port
    narrowed = LiveServer(
        settings.model_copy(update={"upstream_allow": ["localhost", "10.0.0.0/8"]}), db
    ).start()
    try:
        with narrowed.client() as api2:
            # configuring: 127.0.0.1 is neither "localhost" nor inside 10.0.0.0/8
            resp = api2.post(
                URL,
                json={
                    "integration_name": "rest-inventory",
                    "name": "far",
                    "display_name": "F",
                    "config": {"base_url": sim.url},
                },
            )
            assert resp.status_code == 400, resp.text
            assert "SERVICE_CATALOG_UPSTREAM_ALLOW" in resp.json()["detail"]
            for i, ok_url in enumerate((f"http://localhost:{port}", "http://10.20.30.40/api")):
                created = api2.post(
                    URL,
                    json={
                        "integration_name": "rest-inventory",
                        "name": f"near-{i}",
                        "display_name": "N",
                        "config": {"base_url": ok_url},
                    },
                )
                assert created.status_code == 201, created.text
            # at request time: the instance stored before is refused, nothing is sent
            before = len(sim.requests)
            cred = api2.post(f"{URL}/{iid}/auth-credential/verify")
            assert cred.status_code == 200, cred.text
            assert cred.json()["verified"] is False
            assert "SERVICE_CATALOG_UPSTREAM_ALLOW" in cred.json()["verification_reason"]
            assert len(sim.requests) == before
    finally:
        narrowed.stop()


def test_the_setting_parses_lists_and_refuses_typos(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_CATALOG_UPSTREAM_ALLOW", "10.0.0.0/8, *.traceable.ai  ::1")
    assert Settings().upstream_allow == ["10.0.0.0/8", "*.traceable.ai", "::1"]
    monkeypatch.setenv("SERVICE_CATALOG_UPSTREAM_ALLOW", '["192.168.0.0/16", "api.example"]')
    assert Settings().upstream_allow == ["192.168.0.0/16", "api.example"]
    monkeypatch.setenv("SERVICE_CATALOG_UPSTREAM_ALLOW", "")
    assert Settings().upstream_allow == []
    for bad in ("https://api.example", "10.0.0.0/99", "a b/c"):
        monkeypatch.setenv("SERVICE_CATALOG_UPSTREAM_ALLOW", bad)
        with pytest.raises(ValidationError, match="upstream_allow"):
            Settings()

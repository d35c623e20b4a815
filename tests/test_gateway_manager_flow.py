"""The gateway-manager integration end to end through the HTTP API, against the Kong
Gateway simulator on loopback, on SQLite and PostgreSQL: install, authorize (Admin API
token, open Admin API, Konnect token), sync, filter, plugin events, refusals, taint,
faults, and nothing vanishing on a partial listing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from service_catalog.settings import Settings
from service_catalog.sync.worker import Worker
from service_catalog.testing.gateway_manager_sim import GatewaySimulator
from sync_support import ingestion, latest_run

TOKEN = "kong-admin-token-7c1e9b"
KONNECT = "kpat_konnect_token_4d2a8f0b"


@pytest.fixture
def gw() -> Iterator[GatewaySimulator]:
    with GatewaySimulator(
        12, 2, 3, admin_token=TOKEN, konnect_token=KONNECT, global_plugins=1
    ) as sim:
        sim.retry_after = "0"
        yield sim


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return settings.model_copy(update={"connector_retries": 1})


def install(api: httpx.Client, name: str = "kong", **config: Any) -> str:
    body = {
        "integration_name": "gateway-manager",
        "name": name,
        "display_name": "Kong",
        "config": config,
    }
    resp = api.post("/v1/integration-instances", json=body)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def authorize(api: httpx.Client, iid: str, header: str, key: str) -> httpx.Response:
    return api.post(
        f"/v1/integration-instances/{iid}/auth-credential",
        json={"type": "multi_key_auth", "config": {"headers": [{"name": header, "key": key}]}},
    )


def admin_instance(api: httpx.Client, sim: GatewaySimulator, **config: Any) -> str:
    iid = install(api, base_url=sim.url, page_size=5, **config)
    resp = authorize(api, iid, "Kong-Admin-Token", TOKEN)
    assert resp.status_code == 201, resp.text
    return iid


def sync(api: httpx.Client, settings: Settings, server: LiveServer, iid: str) -> dict[str, Any]:
    resp = api.put(f"/v1/integration-instances/{iid}/resource-ingestion", json={})
    assert resp.status_code == 200, resp.text
    run = Worker(settings, server.db, name="test-worker").run_once(instance_id=uuid.UUID(iid))
    assert run is not None
    return latest_run(api, iid)


def resources(api: httpx.Client, **filters: str) -> list[dict[str, Any]]:
    params: dict[str, str] = {"page[size]": "100", "filter[type]": "gateway_svc", **filters}
    resp = api.get("/v1/resources", params=params)
    assert resp.status_code == 200, resp.text
    return list(resp.json()["data"])


def test_the_descriptor_and_kongs_instance_body(api: httpx.Client) -> None:
    listed = api.get("/v1/integrations", params={"page[size]": 100}).json()["data"]
    integ = next(i for i in listed if i["name"] == "gateway-manager")
    assert integ["display_name"] == "API Gateway"
    assert set(integ["events"]["gateway_svc"]) == {
        "plugin.added",
        "plugin.updated",
        "plugin.removed",
    }
    assert integ["resource_types"]["gateway_svc"]["schema"]["definition"] == {
        "control_plane_id": "string",
        "gateway_service_id": "string",
    }
    assert integ["config_schema"]["source"]["type"] == "enum"
    # The gateway-manager instance of Kong's SampleListInstancesResponse, as a create body.
    resp = api.post(
        "/v1/integration-instances",
        json={
            "integration_name": "gateway-manager",
            "name": "gateway-manager",
            "display_name": "Gateway Manager",
            "config": {},
        },
    )
    assert resp.status_code == 201, resp.text


def test_admin_api_sync_filters_and_unchanged_resync(
    api: httpx.Client, server: LiveServer, settings: Settings, gw: GatewaySimulator
) -> None:
    iid = admin_instance(api, gw)
    run = sync(api, settings, server, iid)
    assert (run["status"], run["created"]) == ("succeeded", 12), run
    listed = resources(api)
    assert len(listed) == 12
    first = next(r for r in listed if r["name"] == "svc-00001")
    data = first["integration_data"]
    assert first["config"]["control_plane_id"] == "default"
    assert data["gateway_service"]["host"] == "svc-00001.internal"
    assert [len(r["paths"]) for r in data["routes"]] == [1, 1]
    assert {p["scope"] for p in data["plugins"]} == {"service", "global"}
    assert len(data["plugins"]) == 4
    assert all("config" not in p for p in data["plugins"])  # plugin configs may hold secrets
    https = resources(api, **{"filter[integration_data.gateway_service.protocol]": "https"})
    assert len(https) == 6
    again = sync(api, settings, server, iid)
    assert (again["status"], again["created"], again["updated"], again["unchanged"]) == (
        "succeeded",
        0,
        0,
        12,
    )


def test_plugin_events(
    api: httpx.Client, server: LiveServer, settings: Settings, gw: GatewaySimulator
) -> None:
    iid = admin_instance(api, gw)
    sync(api, settings, server, iid)
    svc = gw.services()[0]
    res = next(r for r in resources(api) if r["name"] == svc["name"])
    cat = api.post("/v1/catalog-services", json={"name": "orders", "display_name": "O"}).json()
    api.post("/v1/resource-mappings", json={"service": "orders", "resource": res["id"]})
    added = gw.add_plugin(svc["id"], "acl")
    existing = next(p for p in gw.plugins() if (p["service"] or {}).get("id") == svc["id"])
    existing["config"] = {"minute": 5, "policy": "redis"}
    gw.remove_plugin(
        next(
            p["id"]
            for p in gw.plugins()
            if (p["service"] or {}).get("id") == svc["id"]
            and p["id"] != existing["id"]
            and p["id"] != added["id"]
        )
    )
    gw.changed()
    run = sync(api, settings, server, iid)
    assert (run["updated"], run["events"]) == (1, 3), run
    events = api.get(f"/v1/catalog-services/{cat['id']}/integration-events").json()["data"]
    assert sorted(e["type"] for e in events) == ["plugin.added", "plugin.removed", "plugin.updated"]
    new = next(e for e in events if e["type"] == "plugin.added")
    assert new["attributes"]["plugin_name"] == "acl"
    assert new["resource_id"] == res["id"]
    assert "acl" in new["detail"]
    assert sync(api, settings, server, iid)["events"] == 0


def test_an_open_admin_api_and_enterprise_workspaces(
    api: httpx.Client, server: LiveServer, settings: Settings
) -> None:
    with GatewaySimulator(3, 1, 1, workspaces=["default", "payments"]) as sim:
        iid = install(api, base_url=sim.url)
        # No RBAC: Kong ignores the header, so any value authorizes.
        assert authorize(api, iid, "Kong-Admin-Token", "none-needed").status_code == 201
        run = sync(api, settings, server, iid)
        assert (run["status"], run["created"]) == ("succeeded", 6), run
        spaces = {r["config"]["control_plane_id"] for r in resources(api)}
        assert spaces == {"default", "payments"}
        one = install(api, "kong-payments", base_url=sim.url, workspace="payments")
        assert authorize(api, one, "Kong-Admin-Token", "none-needed").status_code == 201
        assert sync(api, settings, server, one)["created"] == 3
        nowhere = install(api, "kong-nowhere", base_url=sim.url, workspace="nope")
        resp = authorize(api, nowhere, "Kong-Admin-Token", "none-needed")
        assert resp.status_code == 400 and "no workspace 'nope'" in resp.json()["detail"]


def test_konnect_control_plane(
    api: httpx.Client, server: LiveServer, settings: Settings, gw: GatewaySimulator
) -> None:
    iid = install(api, source="konnect", base_url=gw.url, control_plane_id=gw.control_plane_id)
    resp = authorize(api, iid, "Authorization", "kpat_wrong_token_000")
    assert resp.status_code == 400 and "401" in resp.json()["detail"]
    assert "kpat_wrong_token_000" not in resp.text
    assert authorize(api, iid, "Authorization", KONNECT).status_code == 201
    run = sync(api, settings, server, iid)
    assert (run["status"], run["created"]) == ("succeeded", 12), run
    data = resources(api)[0]["integration_data"]
    assert data["control_plane"] == {
        "id": gw.control_plane_id,
        "name": "sim-control-plane",
        "labels": {"env": "test"},
    }
    other = install(api, "kong-other", source="konnect", base_url=gw.url, control_plane_id="x")
    resp = authorize(api, other, "Authorization", KONNECT)
    assert resp.status_code == 400 and "no control plane x" in resp.json()["detail"]


def test_refusals_and_taint(
    api: httpx.Client, server: LiveServer, settings: Settings, gw: GatewaySimulator
) -> None:
    iid = install(api, base_url=gw.url)
    resp = authorize(api, iid, "Kong-Admin-Token", "wrong-token-123")
    assert resp.status_code == 400
    assert "HTTP 401" in resp.json()["detail"] and "wrong-token-123" not in resp.text
    gw.forbidden = {"/services"}
    resp = authorize(api, iid, "Kong-Admin-Token", TOKEN)
    assert resp.status_code == 400
    assert "missing read permission on /services" in resp.json()["detail"]
    gw.forbidden = set()
    resp = authorize(api, iid, "X-Api-Key", TOKEN)
    assert resp.status_code == 400 and "Kong-Admin-Token" in resp.json()["detail"]
    assert authorize(api, iid, "Kong-Admin-Token", TOKEN).status_code == 201
    assert sync(api, settings, server, iid)["status"] == "succeeded"
    gw.reject_all = True  # the token is revoked
    run = sync(api, settings, server, iid)
    assert run["status"] == "failed" and "401" in run["error"]
    cred = api.get(f"/v1/integration-instances/{iid}/auth-credential").json()
    assert cred["tainted"] is True
    state = ingestion(api, iid)["scheduler_state"]
    assert state["status"] == "halted" and "auth-credential" in state["remediation"]
    assert len(resources(api)) == 12  # nothing lost
    for text in (str(run), str(cred), str(state)):
        assert TOKEN not in text


def test_unreachable_admin_api(api: httpx.Client, fast: Settings) -> None:
    with GatewaySimulator(1) as sim:
        url = sim.url
    iid = install(api, base_url=url)
    resp = authorize(api, iid, "Kong-Admin-Token", TOKEN)
    assert resp.status_code in (201, 400, 502), resp.text
    assert api.get(f"/v1/integration-instances/{iid}").json()["authorized"] is False


@pytest.mark.parametrize("fault", ["5xx", "truncated"])
def test_a_partial_listing_marks_nothing_vanished(
    api: httpx.Client, server: LiveServer, fast: Settings, gw: GatewaySimulator, fault: str
) -> None:
    iid = admin_instance(api, gw)
    assert sync(api, fast, server, iid)["created"] == 12
    gw.remove_service(gw.services()[0]["id"])
    if fault == "5xx":
        gw.fail_on("/services", page=2, status=500)
    else:
        gw.truncate_on("/services", page=2)
    run = sync(api, fast, server, iid)
    assert run["status"] == "failed" and run["vanished"] == 0, run
    assert ("HTTP 500" if fault == "5xx" else "not valid JSON") in run["error"]
    assert ingestion(api, iid)["scheduler_state"]["status"] == "delayed"
    assert len(resources(api)) == 12


def test_429_and_503_are_retried(
    api: httpx.Client, server: LiveServer, settings: Settings, gw: GatewaySimulator
) -> None:
    iid = admin_instance(api, gw)
    gw.rate_limit_next = 2
    gw.fail_next = 1
    run = sync(api, settings, server, iid)
    assert (run["status"], run["created"]) == ("succeeded", 12), run
    assert [r["status"] for r in gw.requests].count(429) >= 2

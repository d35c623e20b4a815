"""The seed's Traceable flow, end to end through the HTTP API, against the Traceable
simulator on loopback, on SQLite and PostgreSQL: install, authorize, sync, list, map,
validate; inactive services, paging, vanished and renamed services, a rejected token,
events, and the endpoints sub-list."""

from __future__ import annotations

from functools import partial
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from service_catalog.settings import Settings
from service_catalog.testing.traceable_sim import TraceableSimulator
from sync_support import authorize_instance, ingestion, sync_now

TOKEN = "trc-platform-token-5e1f"
RESOURCES = "/v1/resources"


SIMULATOR = partial(TraceableSimulator, 12, 4, TOKEN, inactive_every=4, vulnerable_every=3)


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return settings.model_copy(update={"connector_retries": 1})


def install(
    api: httpx.Client,
    sim: TraceableSimulator,
    name: str = "traceable",
    *,
    token: str | None = TOKEN,
    **config: Any,
) -> str:
    """Create a Traceable instance on ``sim`` (authorized with ``token`` unless None)."""
    body = {
        "integration_name": "traceable",
        "name": name,
        "display_name": "Traceable",
        "config": {"include_inactive": False, "base_url": sim.url, **config},
    }
    resp = api.post("/v1/integration-instances", json=body)
    assert resp.status_code == 201, resp.text
    iid = str(resp.json()["id"])
    if token is not None:
        resp = authorize_instance(api, iid, token)
        assert resp.status_code == 201, resp.text
    return iid


def all_resources(api: httpx.Client, **filters: str) -> list[dict[str, Any]]:
    """Every resource matching ``filters``, following the cursor pages."""
    params: dict[str, str] = {"page[size]": "100", **filters}
    out: list[dict[str, Any]] = []
    url: str | None = RESOURCES
    while url:
        resp = api.get(url, params=params if url == RESOURCES else None)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        out.extend(body["data"])
        nxt = body["meta"]["page"].get("next")
        url = f"/v1{nxt}" if nxt and not nxt.startswith("/v1") else nxt
    return out


def by_service_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["config"]["service_id"]: r for r in items}


def test_the_seed_flow(
    api: httpx.Client,
    server: LiveServer,
    settings: Settings,
    sim: TraceableSimulator,
    contract: Any,
) -> None:
    # Install (include_inactive: false, as the seed's Terraform) and authorize.
    resp = api.post(
        "/v1/integration-instances",
        json={
            "integration_name": "traceable",
            "name": "traceable",
            "display_name": "Traceable",
            "config": {"include_inactive": False, "base_url": sim.url},
        },
    )
    inst = contract.check(resp, 201, response="IntegrationInstanceResponse")
    assert inst["authorized"] is False
    assert inst["config"] == {"include_inactive": False, "base_url": sim.url}  # as sent
    iid = inst["id"]
    cred = contract.check(
        authorize_instance(api, iid, TOKEN),
        201,
        response="IntegrationInstanceAuthCredentialResponse",
    )
    assert TOKEN not in str(cred)
    assert api.get(f"/v1/integration-instances/{iid}").json()["authorized"] is True
    integ = [i for i in api.get("/v1/integrations").json()["data"] if i["name"] == "traceable"]
    assert integ and integ[0]["display_name"] == "Traceable"

    # Sync now.
    run = sync_now(api, settings, server.db, iid)
    assert run["status"] == "succeeded", run
    assert (run["created"], run["vanished"]) == (9, 0)  # 12 services, 3 inactive
    assert ingestion(api, iid)["scheduler_state"] == {"status": "ok"}

    # Traceable services are discoverable.
    listing = contract.check(
        api.get(RESOURCES, params={"filter[integration.name]": "traceable", "page[size]": "100"}),
        200,
        response="ListCatalogResourcesResponse",
    )
    found = by_service_id(listing["data"])
    assert len(found) == 9 and "svc-00004" not in found
    auth = found["svc-00001"]
    assert auth["name"] == sim.tenant.services["svc-00001"]["name"]
    assert auth["type"] == "traceable_service"
    assert auth["integration"]["name"] == "traceable"
    assert auth["integration"]["instance"]["id"] == iid

    # Create the catalog service and map one service by id, one by config.
    svc = api.post(
        "/v1/catalog-services", json={"name": "my-service", "display_name": "My Service"}
    )
    assert svc.status_code == 201, svc.text
    sid = svc.json()["id"]
    m1 = contract.check(
        api.post("/v1/resource-mappings", json={"service": "my-service", "resource": auth["id"]}),
        201,
        response="CatalogResourceMappingResponse",
    )
    m2 = contract.check(
        api.post(
            "/v1/resource-mappings",
            json={
                "service": sid,
                "resource": {
                    "integration_instance": "traceable",
                    "type": "traceable_service",
                    "config": {"service_id": "svc-00003"},
                },
            },
        ),
        201,
        response="CatalogResourceMappingResponse",
    )
    assert m2["resource"]["id"] == found["svc-00003"]["id"]  # the same resource, not a new one
    assert m1["service"]["name"] == "my-service"

    # Validate: the service shows the linked Traceable services with grouped endpoints.
    mapped = contract.check(
        api.get(f"/v1/catalog-services/{sid}/resources"),
        200,
        response="ListCatalogServiceResourcesResponse",
    )
    names = {r["name"] for r in mapped["data"]}
    assert names == {
        sim.tenant.services["svc-00001"]["name"],
        sim.tenant.services["svc-00003"]["name"],
    }
    one = api.get(f"{RESOURCES}/{auth['id']}").json()
    data = one["integration_data"]
    assert data["service_id"] == "svc-00001"
    assert data["endpoints"]["total"] == 4
    assert sum(data["endpoints"]["groups"]["risk"].values()) == 4
    assert data["link"].endswith("/service/svc-00001/overview")
    # Filters reach into integration_data.
    hit = api.get(RESOURCES, params={"filter[integration_data.service_id]": "svc-00003"})
    assert [r["id"] for r in hit.json()["data"]] == [found["svc-00003"]["id"]]

    # An unchanged re-sync writes nothing.
    again = sync_now(api, settings, server.db, iid)
    assert (again["status"], again["created"], again["updated"], again["unchanged"]) == (
        "succeeded",
        0,
        0,
        9,
    )
    assert api.get(f"{RESOURCES}/{auth['id']}").json()["updated_at"] == one["updated_at"]


def test_include_inactive_true_vs_false(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: TraceableSimulator
) -> None:
    active = install(api, sim, "traceable-active")
    everything = install(api, sim, "traceable-all", include_inactive=True)
    assert sync_now(api, settings, server.db, active)["created"] == 9
    assert sync_now(api, settings, server.db, everything)["created"] == 12
    a = by_service_id(all_resources(api, **{"filter[integration.instance.id]": active}))
    e = by_service_id(all_resources(api, **{"filter[integration.instance.id]": everything}))
    assert set(e) - set(a) == {"svc-00004", "svc-00008", "svc-00012"}
    # Editing the config takes effect on the next sync.
    resp = api.patch(
        f"/v1/integration-instances/{active}",
        json={"config": {"include_inactive": True, "base_url": sim.url}},
    )
    assert resp.status_code == 200, resp.text
    assert sync_now(api, settings, server.db, active)["created"] == 3


def test_paging_across_many_pages(
    api: httpx.Client, server: LiveServer, settings: Settings
) -> None:
    with TraceableSimulator(1050, 2, TOKEN, inactive_every=0, vulnerable_every=5) as big:
        iid = install(api, big, page_size=100)
        run = sync_now(api, settings, server.db, iid)
        assert (run["status"], run["created"], run["pages"]) == ("succeeded", 1050, 11)
        ops = [r["operation"] for r in big.requests]
        assert ops.count("ApiEndpoints") == 21 and ops.count("Services") == 11
        got = all_resources(api, **{"filter[integration.name]": "traceable"})
        assert len(got) == 1050
        assert len({r["id"] for r in got}) == 1050


def test_a_vanished_service_is_kept_flagged_and_stays_mapped(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: TraceableSimulator
) -> None:
    iid = install(api, sim)
    sync_now(api, settings, server.db, iid)
    gone = by_service_id(all_resources(api))["svc-00002"]
    assert (
        api.post(
            "/v1/catalog-services", json={"name": "billing", "display_name": "Billing"}
        ).status_code
        == 201
    )
    assert (
        api.post(
            "/v1/resource-mappings", json={"service": "billing", "resource": gone["id"]}
        ).status_code
        == 201
    )
    sim.tenant.remove_service("svc-00002")
    run = sync_now(api, settings, server.db, iid)
    assert (run["status"], run["vanished"]) == ("succeeded", 1)
    kept = api.get(f"{RESOURCES}/{gone['id']}").json()
    assert kept["discovered"] is False
    assert kept["name"] == gone["name"] and kept["integration_data"] == gone["integration_data"]
    assert kept["service_associations"] == 1
    mapped = api.get("/v1/resource-mappings", params={"filter[resource.id]": gone["id"]})
    assert mapped.status_code == 200 and len(mapped.json()["data"]) == 1
    undiscovered = all_resources(api, **{"filter[discovered]": "false"})
    assert [r["id"] for r in undiscovered] == [gone["id"]]


def test_a_renamed_service_keeps_its_resource_id(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: TraceableSimulator
) -> None:
    iid = install(api, sim)
    sync_now(api, settings, server.db, iid)
    before = by_service_id(all_resources(api))["svc-00005"]
    sim.tenant.rename_service("svc-00005", "payments-v2")
    run = sync_now(api, settings, server.db, iid)
    assert (run["updated"], run["created"]) == (1, 0)
    after = by_service_id(all_resources(api))["svc-00005"]
    assert after["id"] == before["id"]
    assert before["name"] == "inventory-0005" and after["name"] == "payments-v2"
    assert after["integration_data"]["service_name"] == "payments-v2"


def test_a_rejected_token(
    api: httpx.Client,
    server: LiveServer,
    settings: Settings,
    sim: TraceableSimulator,
    contract: Any,
) -> None:
    iid = install(api, sim, token=None)
    resp = authorize_instance(api, iid, "not-the-token")
    body = contract.check(resp, 400)
    assert "Traceable rejected the API token (HTTP 401" in body["detail"]
    assert "invalid or expired API token" in body["detail"]
    assert "not-the-token" not in resp.text
    assert api.get(f"/v1/integration-instances/{iid}/auth-credential").status_code == 404
    assert api.get(f"/v1/integration-instances/{iid}").json()["authorized"] is False
    # Authorized with the right token, synced; then Traceable revokes the token.
    assert authorize_instance(api, iid, TOKEN).status_code == 201
    assert sync_now(api, settings, server.db, iid)["status"] == "succeeded"
    sim.token = "rotated"
    run = sync_now(api, settings, server.db, iid)
    assert run["status"] == "failed" and "401" in run["error"]
    cred = api.get(f"/v1/integration-instances/{iid}/auth-credential").json()
    assert cred["tainted"] is True
    assert api.get(f"/v1/integration-instances/{iid}").json()["authorized"] is False
    state = ingestion(api, iid)["scheduler_state"]
    assert state["status"] == "halted" and "auth-credential" in state["remediation"]
    assert len(all_resources(api)) == 9  # nothing lost
    for text in (str(run), str(cred), str(state)):
        assert TOKEN not in text


def test_upstream_faults_during_a_sync(
    api: httpx.Client, server: LiveServer, fast: Settings, sim: TraceableSimulator
) -> None:
    iid = install(api, sim)
    assert sync_now(api, fast, server.db, iid)["created"] == 9
    sim.tenant.remove_service("svc-00001")
    sim.fail_on("Services", status=500)
    run = sync_now(api, fast, server.db, iid)
    assert run["status"] == "failed" and "HTTP 500" in run["error"]
    assert run["vanished"] == 0
    assert ingestion(api, iid)["scheduler_state"]["status"] == "delayed"
    sim.clear_faults()
    sim.retry_after = "0"
    sim.rate_limit_next = 1
    ok = sync_now(api, fast, server.db, iid)
    assert (ok["status"], ok["vanished"]) == ("succeeded", 1)


def test_events_on_the_mapped_catalog_service(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: TraceableSimulator
) -> None:
    iid = install(api, sim)
    sync_now(api, settings, server.db, iid)
    res = by_service_id(all_resources(api))["svc-00001"]
    svc = api.post("/v1/catalog-services", json={"name": "auth", "display_name": "Auth"}).json()
    api.post("/v1/resource-mappings", json={"service": "auth", "resource": res["id"]})
    vid = sim.tenant.open_vulnerability("svc-00001", severity="CRITICAL")
    sim.tenant.add_endpoint("svc-00001", "POST /v1/login", data_types=("password",))
    run = sync_now(api, settings, server.db, iid)
    assert (run["updated"], run["events"]) == (1, 2)
    events = api.get(
        f"/v1/catalog-services/{svc['id']}/integration-events",
        params={"filter[integration.name]": "traceable"},
    ).json()["data"]
    types = sorted(e["type"] for e in events)
    assert types == ["sensitive_endpoint_exposed", "vulnerability_opened"]
    opened = next(e for e in events if e["type"] == "vulnerability_opened")
    assert opened["attributes"]["vulnerability_id"] == vid
    assert opened["resource_id"] == res["id"]
    assert opened["integration"]["name"] == "traceable"
    assert "CRITICAL" in opened["detail"]
    sim.tenant.fix_vulnerability(vid)
    assert sync_now(api, settings, server.db, iid)["events"] == 1
    assert sync_now(api, settings, server.db, iid)["events"] == 0
    events = api.get(
        f"/v1/catalog-services/{svc['id']}/integration-events",
        params={"filter[integration.name]": "traceable"},
    ).json()["data"]
    assert sorted(e["type"] for e in events) == [
        "sensitive_endpoint_exposed",
        "vulnerability_fixed",
        "vulnerability_opened",
    ]
    search = api.get(
        "/v1/integration-events", params={"filter[detail][contains]": "POST /v1/login"}
    ).json()["data"]
    assert [e["type"] for e in search] == ["sensitive_endpoint_exposed"]


def test_the_endpoints_sub_list(
    api: httpx.Client,
    server: LiveServer,
    settings: Settings,
    sim: TraceableSimulator,
    contract: Any,
) -> None:
    iid = install(api, sim)
    sync_now(api, settings, server.db, iid)
    res = by_service_id(all_resources(api))["svc-00002"]
    page = api.get(
        f"{RESOURCES}/{res['id']}/endpoints", params={"page[size]": "3", "page[number]": "2"}
    )
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["meta"]["page"] == {"number": 2, "size": 3, "total": 4}
    assert [e["id"] for e in body["data"]] == ["api-00002-004"]
    first = api.get(f"{RESOURCES}/{res['id']}/endpoints").json()
    assert [e["id"] for e in first["data"]] == [f"api-00002-00{k}" for k in range(1, 5)]
    assert set(first["data"][0]) >= {
        "method",
        "path",
        "risk",
        "authenticated",
        "sensitive_data_types",
        "last_seen",
        "calls",
    }
    contract.check(api.get(f"{RESOURCES}/AAAAAAAAAAAAAAAA/endpoints"), 404)
    contract.check(api.get(f"{RESOURCES}/{res['id']}/endpoints", params={"page[size]": "0"}), 400)
    sim.fail_on("ApiEndpoints", status=500)
    failed = api.get(f"{RESOURCES}/{res['id']}/endpoints")
    assert failed.status_code == 502 and "HTTP 500" in failed.json()["detail"]
    assert TOKEN not in failed.text


def test_endpoints_through_the_generic_children_route(
    api: httpx.Client,
    server: LiveServer,
    settings: Settings,
    sim: TraceableSimulator,
    contract: Any,
) -> None:
    iid = install(api, sim)
    sync_now(api, settings, server.db, iid)
    res = by_service_id(all_resources(api))["svc-00002"]
    params = {"page[size]": "3", "page[number]": "1"}
    alias = api.get(f"{RESOURCES}/{res['id']}/endpoints", params=params)
    generic = api.get(f"{RESOURCES}/{res['id']}/children/endpoints", params=params)
    assert alias.status_code == generic.status_code == 200, generic.text
    assert generic.json() == alias.json()
    assert [e["id"] for e in generic.json()["data"]] == [f"api-00002-00{k}" for k in range(1, 4)]
    assert generic.json()["meta"]["page"] == {"number": 1, "size": 3, "total": 4}
    # a kind Traceable does not list
    problem = contract.check(api.get(f"{RESOURCES}/{res['id']}/children/owners"), 404)
    assert "[owners]" in problem["detail"] and "endpoints" in problem["detail"]
    # another integration's resource: neither path offers endpoints
    custom = api.post(
        "/v1/integration-instances",
        json={
            "integration_name": "custom",
            "name": "pushed",
            "display_name": "Pushed",
            "config": {},
        },
    ).json()
    pushed = api.post(
        f"/v1/integration-instances/{custom['id']}/resources",
        json={"type": "custom_resource", "config": {"id": "c-1"}},
    )
    assert pushed.status_code == 201, pushed.text
    for path in ("children/endpoints", "endpoints"):
        problem = contract.check(api.get(f"{RESOURCES}/{pushed.json()['id']}/{path}"), 404)
        assert "custom_resource" in problem["detail"] and "[endpoints]" in problem["detail"]

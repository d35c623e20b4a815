"""The Traceable connector against tenants as Traceable's public schema and clients show
them (issue 8, items 11-15): either naming of an endpoint's risk, endpoints filtered by
discovery state, Hypertrace's 10,000-row cap on entity queries, credentials refused in a
200 answer, and the regional base URLs. Against the Traceable simulator on loopback."""

from __future__ import annotations

import time
import uuid
from functools import partial
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from service_catalog.integrations.connectors.base import (
    ConnectorError,
    Credential,
    ResourceRecord,
    UpstreamHTTP,
)
from service_catalog.integrations.connectors.traceable import INTEGRATION, TraceableConnector
from service_catalog.integrations.connectors.traceable import graphql as gql
from service_catalog.integrations.connectors.traceable.data import (
    app_url,
    integration_data,
    service_link,
)
from service_catalog.settings import Settings
from service_catalog.testing.traceable_sim import TraceableSimulator
from sync_support import authorize_instance, data_of, ingestion, sync_now

TOKEN = "trc-tenant-token-4c2d"
RISKS = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
NOW_MS = int(time.time() * 1000)  # one clock for the tenants a test compares


def connector(sim: TraceableSimulator, token: str = TOKEN, **config: Any) -> TraceableConnector:
    return TraceableConnector(
        config={"base_url": sim.url, **config},
        credential=Credential("multi_key_auth", headers={"authorization": token}),
        http=UpstreamHTTP(timeout=10, retries=1, backoff=0.01, max_sleep=0.1),
    )


def records(conn: TraceableConnector) -> dict[str, ResourceRecord]:
    """The last record of each service a sync yields."""
    out: dict[str, ResourceRecord] = {}
    for batch in conn.discover():
        out.update((rec.config["service_id"], rec) for rec in batch)
    return out


def endpoint_queries(sim: TraceableSimulator) -> list[dict[str, Any]]:
    return [r for r in sim.requests if r["operation"] == "ApiEndpoints"]


# --- 11: risk attributes ----------------------------------------------------------------


@pytest.mark.parametrize(
    "naming,asked", [("current", "riskScore"), ("legacy", "apiRiskScore"), ("both", "riskScore")]
)
def test_risk_comes_from_whichever_names_the_tenant_has(naming: str, asked: str) -> None:
    with TraceableSimulator(6, 8, TOKEN, inactive_every=0, risk_naming=naming) as sim:
        meta = {m["name"] for m in connector(sim).query(gql.METADATA)["metadata"]}
        assert ("riskScore" in meta, "apiRiskScore" in meta) == {
            "current": (True, False),
            "legacy": (False, True),
            "both": (True, True),
        }[naming]
        recs = records(connector(sim))
        for sid, rec in recs.items():
            data = rec.integration_data
            assert data is not None
            eps = [e for e in sim.tenant.endpoints.values() if e["serviceId"] == sid]
            risk = data["endpoints"]["groups"]["risk"]
            assert "unknown" not in risk, (naming, risk)
            assert risk == {
                c: n for c in RISKS if (n := sum(1 for e in eps if e["riskScoreCategory"] == c))
            }
            for item in data["endpoints"]["items"]:
                src = sim.tenant.endpoints[item["id"]]
                assert (item["risk"], item["risk_score"]) == (
                    src["riskScoreCategory"],
                    src["riskScore"],
                )
        rows, _ = connector(sim).endpoints_page("svc-00001", limit=3, offset=0)
        assert all(r["risk"] in RISKS and isinstance(r["risk_score"], float) for r in rows)
        for req in endpoint_queries(sim):
            assert f'attribute(expression: {{key: "{asked}"}})' in req["query"]
            assert gql.validation_errors(req["query"]) == []
        other = "apiRiskScore" if asked == "riskScore" else "riskScore"
        assert all(f'key: "{other}"' not in r["query"] for r in endpoint_queries(sim))


# --- 12: discovery state ------------------------------------------------------------------


def test_endpoints_are_filtered_by_discovery_state_by_default() -> None:
    with TraceableSimulator(3, 25, TOKEN, inactive_every=0, vulnerable_every=0) as sim:
        states = {e["apiDiscoveryState"] for e in sim.tenant.endpoints.values()}
        assert states == {"DISCOVERED", "UNDER_DISCOVERY", "REJECTED"}
        data = records(connector(sim))["svc-00002"].integration_data
        assert data is not None
        # Of 25 endpoints, k = 11 and 22 are REJECTED; k = 7, 14, 21 UNDER_DISCOVERY.
        assert data["endpoints"]["total"] == 23
        assert data["endpoints"]["groups"]["discovery_state"] == {
            "DISCOVERED": 20,
            "UNDER_DISCOVERY": 3,
        }
        assert (
            sum(
                sum(r.integration_data["endpoints"]["groups"]["risk"].values())
                for r in records(connector(sim)).values()
                if r.integration_data
            )
            == 69
        )
        for req in endpoint_queries(sim):
            assert {
                "keyExpression": {"key": "apiDiscoveryState"},
                "operator": "IN",
                "type": "ATTRIBUTE",
                "value": ["DISCOVERED", "UNDER_DISCOVERY"],
            } in req["variables"]["filterBy"]
        rows, total = connector(sim).endpoints_page("svc-00002", limit=100, offset=0)
        assert total == 23 and {r["discovery_state"] for r in rows} == {
            "DISCOVERED",
            "UNDER_DISCOVERY",
        }


@pytest.mark.parametrize(
    "states,total,groups",
    [
        ("ALL", 25, {"DISCOVERED": 20, "REJECTED": 2, "UNDER_DISCOVERY": 3}),
        ("DISCOVERED", 20, {"DISCOVERED": 20}),
        ("UNDER_DISCOVERY", 3, {"UNDER_DISCOVERY": 3}),
    ],
)
def test_the_discovery_states_are_an_instance_option(
    states: str, total: int, groups: dict[str, int]
) -> None:
    with TraceableSimulator(2, 25, TOKEN, inactive_every=0, vulnerable_every=0) as sim:
        data = records(connector(sim, discovery_states=states))["svc-00001"].integration_data
        assert data is not None
        assert data["endpoints"]["total"] == total
        assert data["endpoints"]["groups"]["discovery_state"] == groups
        assert (
            connector(sim, discovery_states=states).endpoints_page("svc-00001", limit=5, offset=0)[
                1
            ]
            == total
        )


def test_a_tenant_without_discovery_states_is_not_filtered() -> None:
    with TraceableSimulator(2, 25, TOKEN, inactive_every=0, vulnerable_every=0) as sim:
        sim.tenant.drop_attribute("apiDiscoveryState")
        data = records(connector(sim))["svc-00001"].integration_data
        assert data is not None
        assert data["endpoints"]["total"] == 25
        assert all(r["variables"]["filterBy"] == [] for r in endpoint_queries(sim))


# --- 13: Hypertrace's row cap -------------------------------------------------------------


def capped_sim(services: int, endpoints: int) -> TraceableSimulator:
    return TraceableSimulator(
        services, endpoints, TOKEN, inactive_every=0, vulnerable_every=3, now_ms=NOW_MS
    )


def reference(services: int, endpoints: int, **config: Any) -> dict[str, Any]:
    """What an uncapped tenant gives: service id -> integration_data."""
    with capped_sim(services, endpoints) as sim:
        return {
            sid: rec.integration_data
            for sid, rec in records(connector(sim, page_size=20, **config)).items()
        }


def links_of(data: dict[str, Any]) -> dict[str, Any]:
    return {sid: {**d, "link": d["link"].rsplit("/service/", 1)[1]} for sid, d in data.items()}


def test_a_capped_endpoint_listing_is_split_by_service() -> None:
    want = links_of(reference(40, 6))
    assert sum(d["endpoints"]["total"] for d in want.values()) == 240
    with capped_sim(40, 6) as sim:
        sim.row_cap = 50
        got = records(connector(sim, page_size=20, row_cap=50))
        assert links_of({sid: r.integration_data for sid, r in got.items()}) == want
        queries = endpoint_queries(sim)
        assert all(r["variables"]["offset"] < 50 for r in queries)  # never past the cap
        split = [
            r
            for r in queries
            if any(f["keyExpression"]["key"] == "serviceId" for f in r["variables"]["filterBy"])
        ]
        assert split, "the listing was split by service"


def test_a_listing_whose_pages_repeat_is_split_by_service() -> None:
    """A gateway that counts every match but drops offsets beyond its cap answers the
    first page again: the connector notices the repeat and lists by service."""
    want = links_of(reference(40, 6))
    with capped_sim(40, 6) as sim:
        sim.row_cap = 50
        sim.row_cap_counts_all = True
        got = records(connector(sim, page_size=20))  # the connector assumes 10,000
        assert links_of({sid: r.integration_data for sid, r in got.items()}) == want


def test_a_capped_service_list_is_completed_from_the_endpoints() -> None:
    want = links_of(reference(80, 1))
    with capped_sim(80, 1) as sim:
        sim.row_cap = 50
        got = records(connector(sim, page_size=20, row_cap=50))
        assert links_of({sid: r.integration_data for sid, r in got.items()}) == want
        assert {sid: r.name for sid, r in got.items()} == {
            sid: s["name"] for sid, s in sim.tenant.services.items()
        }


def test_a_service_with_more_endpoints_than_the_cap_fails_the_sync_clearly() -> None:
    with TraceableSimulator(3, 60, TOKEN, inactive_every=0, vulnerable_every=0) as sim:
        sim.row_cap = 50
        with pytest.raises(ConnectorError) as err:
            records(connector(sim, page_size=20, row_cap=50, discovery_states="ALL"))
        assert err.value.kind == "upstream" and "50 or more endpoints" in err.value.message


def test_the_real_cap_of_10000() -> None:
    with TraceableSimulator(1100, 10, TOKEN, inactive_every=0, vulnerable_every=0) as sim:
        sim.row_cap = 10_000
        got = records(connector(sim))
        assert len(got) == 1100
        assert sum(data_of(r)["endpoints"]["total"] for r in got.values()) == 11_000
        assert all(r["variables"]["limit"] <= 1000 for r in endpoint_queries(sim))


# --- 14: a credential refused in a 200 answer --------------------------------------------


@pytest.mark.parametrize("shape", ["error", "errors"])
def test_a_200_answer_refusing_the_token_is_a_rejected_credential(shape: str) -> None:
    with TraceableSimulator(4, 2, TOKEN, inactive_every=0) as sim:
        sim.reject_shape = shape
        result = connector(sim, token="wrong").verify()
        assert result.status == "rejected"
        assert "Traceable rejected the API token (HTTP 200" in result.reason
        with pytest.raises(ConnectorError) as err:
            records(connector(sim, token="wrong"))
        assert err.value.kind == "auth"
        assert "wrong" not in err.value.message


def test_other_errors_in_a_200_answer_are_upstream_errors() -> None:
    with TraceableSimulator(4, 2, TOKEN, inactive_every=0) as sim:
        sim.fail_on("Services", status=200)  # {"errors": [{"message": "Injected failure"}]}
        with pytest.raises(ConnectorError) as err:
            records(connector(sim))
        assert err.value.kind == "upstream" and "Injected failure" in err.value.message


def install(api: httpx.Client, sim: TraceableSimulator, **config: Any) -> str:
    resp = api.post(
        "/v1/integration-instances",
        json={
            "integration_name": "traceable",
            "name": f"traceable-{uuid.uuid4().hex[:6]}",
            "display_name": "Traceable",
            "config": {"base_url": sim.url, **config},
        },
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


SIMULATOR = partial(TraceableSimulator, 6, 12, TOKEN, inactive_every=0, vulnerable_every=3)


@pytest.mark.parametrize("shape", ["error", "errors"])
def test_verify_and_sync_through_the_api_when_the_token_is_refused_in_a_200(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: TraceableSimulator, shape: str
) -> None:
    sim.reject_shape = shape
    iid = install(api, sim)
    resp = authorize_instance(api, iid, "not-the-token")
    assert resp.status_code == 400, resp.text
    assert "rejected" in resp.json()["detail"] and "not-the-token" not in resp.text
    assert authorize_instance(api, iid, TOKEN).status_code == 201
    assert sync_now(api, settings, server.db, iid)["status"] == "succeeded"
    sim.token = "rotated"
    run = sync_now(api, settings, server.db, iid)
    assert run["status"] == "failed"
    cred = api.get(f"/v1/integration-instances/{iid}/auth-credential").json()
    assert cred["tainted"] is True
    assert ingestion(api, iid)["scheduler_state"]["status"] == "halted"
    assert TOKEN not in str(run) + str(cred)


def test_the_discovery_states_option_through_the_api(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: TraceableSimulator
) -> None:
    bad = api.post(
        "/v1/integration-instances",
        json={
            "integration_name": "traceable",
            "name": "bad",
            "display_name": "Bad",
            "config": {"base_url": sim.url, "discovery_states": "EVERYTHING"},
        },
    )
    assert bad.status_code == 400
    assert bad.json()["invalid_parameters"][0]["field"] == "config.discovery_states"
    totals = {}
    for states in ("DISCOVERED,UNDER_DISCOVERY", "ALL"):
        iid = install(api, sim, discovery_states=states)
        assert authorize_instance(api, iid, TOKEN).status_code == 201
        assert sync_now(api, settings, server.db, iid)["status"] == "succeeded"
        items = api.get(
            "/v1/resources", params={"page[size]": "100", "filter[integration.instance.id]": iid}
        )
        assert items.status_code == 200, items.text
        totals[states] = sum(
            r["integration_data"]["endpoints"]["total"] for r in items.json()["data"]
        )
    assert totals == {"DISCOVERED,UNDER_DISCOVERY": 6 * 11, "ALL": 6 * 12}


# --- 15: regions and links ------------------------------------------------------------


def test_the_regional_base_urls_are_offered_and_free_urls_allowed(
    api: httpx.Client, sim: TraceableSimulator
) -> None:
    spec = INTEGRATION.descriptor["config_schema"]["base_url"]
    assert spec["examples"] == ["https://api.traceable.ai", "https://api.eu.traceable.ai"]
    assert "EU https://api.eu.traceable.ai" in spec["description"]
    listed = api.get("/v1/integrations", params={"filter[name]": "traceable"}).json()
    schema = listed["data"][0]["config_schema"]
    assert schema["base_url"]["examples"] == spec["examples"]
    assert schema["discovery_states"]["default"] == "DISCOVERED,UNDER_DISCOVERY"
    assert install(api, sim)  # a URL of one's own (the simulator) is accepted


def test_the_service_link_is_built_from_the_same_origin() -> None:
    for base, app in [
        ("https://api.traceable.ai", "https://app.traceable.ai"),
        ("https://api.eu.traceable.ai/", "https://app.eu.traceable.ai"),
        ("https://API.EU.Traceable.ai:443/graphql", "https://app.eu.traceable.ai"),
        ("http://127.0.0.1:8123/prefix", "http://127.0.0.1:8123"),
    ]:
        assert app_url(base) == app, base
        assert service_link(base, "svc/1") == f"{app}/service/svc%2F1/overview"
        data = integration_data(service_id="svc-1", name="s", agg=None, base_url=base)
        assert data["link"] == f"{app}/service/svc-1/overview"

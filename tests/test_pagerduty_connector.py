"""The ``pagerduty`` connector against the loopback PagerDuty simulator, through a real
catalog server, on SQLite and PostgreSQL: Kong's example instance body, the simulator's
wire format against PagerDuty's published API description, a sync's services with their
on-call and incident figures, faults, credential refusal and taint, polled incident
events."""

from __future__ import annotations

import datetime as dt
import json
import socket
import statistics
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from conftest import LiveServer
from contract import Contract, contract_path
from service_catalog.integrations.connectors.base import Credential
from service_catalog.integrations.connectors.pagerduty import INTEGRATION, PagerDutyConnector
from service_catalog.settings import Settings
from service_catalog.testing.pagerduty_sim import PagerDutySimulator
from sync_support import (
    authorize_instance,
    create_service,
    ingestion,
    install_pagerduty,
    sync_now,
)

TOKEN = "pd-key-5f1c9e"
SUBSET = Path(__file__).parent / "contracts" / "pagerduty" / "rest-api-v2-subset.json"
RESOURCES = "/v1/resources"
SERVICES, INCIDENTS = 24, 5

SIMULATOR = partial(PagerDutySimulator, SERVICES, INCIDENTS, TOKEN)


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return settings.model_copy(update={"connector_retries": 1})


def all_resources(api: httpx.Client) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    params: dict[str, str] | None = {"page[size]": "100"}
    url: str | None = RESOURCES
    while url:
        resp = api.get(url, params=params)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        out.update({r["config"]["service_id"]: r for r in body["data"]})
        nxt = body["meta"]["page"].get("next")
        url = (nxt if nxt.startswith("/v1") else f"/v1{nxt}") if nxt else None
        params = None
    return out


def events(api: httpx.Client, path: str = "/v1/integration-events") -> list[dict[str, Any]]:
    resp = api.get(path, params={"sort": "ts", "page[size]": "1000"})
    assert resp.status_code == 200, resp.text
    return list(resp.json()["data"])


# --- Kong's example body, the descriptor ----------------------------------------------


def test_kongs_example_instance_body_answers_201(api: httpx.Client, contract: Contract) -> None:
    spec = yaml.safe_load(Path(contract_path() or "").read_text())
    example = spec["components"]["examples"]["SampleInstanceCreatePagerDutyPayload"]["value"]
    resp = api.post("/v1/integration-instances", json=example)
    body = contract.check(resp, 201, schema="IntegrationInstance")
    assert body["integration"]["name"] == "pagerduty"
    assert body["config"] == {"service_region": "us"}
    assert body["authorized"] is False
    integrations = api.get("/v1/integrations", params={"page[size]": "100"}).json()["data"]
    (listed,) = [i for i in integrations if i["name"] == "pagerduty"]
    contract.validate(listed, schema="CatalogIntegration")
    assert listed["config_schema"]["service_region"]["choices"] == [
        {"value": "us", "display_name": "US"},
        {"value": "eu", "display_name": "EU"},
    ]
    assert set(listed["events"]["pagerduty_service"]) == {
        "incident_triggered",
        "incident_acknowledged",
        "incident_resolved",
    }
    bad = api.post(
        "/v1/integration-instances",
        json={**example, "name": "pd-2", "config": {"service_region": "ap"}},
    )
    assert contract.check(bad, 400)["invalid_parameters"][0]["field"] == "config.service_region"


def test_the_region_decides_where_the_key_goes() -> None:
    cred = Credential("multi_key_auth", headers={"authorization": TOKEN})
    eu = PagerDutyConnector(config={"service_region": "eu"}, credential=cred)
    assert eu.base_url == "https://api.eu.pagerduty.com"
    assert PagerDutyConnector(config={}, credential=cred).base_url == "https://api.pagerduty.com"
    assert INTEGRATION.upstream_base_url({"service_region": "eu"}) == eu.base_url


# --- the simulator's wire format ------------------------------------------------------


def _any_of(node: Any) -> Any:
    """PagerDuty's ``oneOf`` alternatives overlap (an API channel ``{"type": "api"}`` is
    every channel kind; a trigger log entry is every log entry kind): the description means
    "one of these shapes", which JSON Schema says as ``anyOf``."""
    if isinstance(node, list):
        return [_any_of(n) for n in node]
    if isinstance(node, dict):
        return {("anyOf" if k == "oneOf" else k): _any_of(v) for k, v in node.items()}
    return node


def _validator(doc: dict[str, Any], path: str, status: int) -> jsonschema.Draft4Validator:
    components = _any_of(Contract(doc).components)
    op = doc["paths"][path]["get"]
    resp = op["responses"][str(status)]
    while "$ref" in resp:
        resp = doc["components"]["responses"][resp["$ref"].split("/")[-1]]
    schema = resp["content"]["application/json"]["schema"]
    converted = _any_of(
        Contract({"components": {"schemas": {"x": schema}}}).components["schemas"]["x"]
    )
    return jsonschema.Draft4Validator({**converted, "components": components})


def test_every_simulator_answer_obeys_pagerdutys_published_description() -> None:
    doc = json.loads(SUBSET.read_text())
    with PagerDutySimulator(12, 4, TOKEN) as sim:
        iid = sim.trigger("PS000003", "queue backlog", "low")
        sim.acknowledge(iid)
        cred = Credential("multi_key_auth", headers={"authorization": TOKEN})
        connector = PagerDutyConnector(config={"base_url": sim.url}, credential=cred)
        assert connector.verify().status == "accepted"
        assert sum(len(b) for b in connector.discover()) == 12
        assert list(connector.poll_events(None))
        by_connector = len(sim.requests)
        assert {r["accept"] for r in sim.requests} == {"application/vnd.pagerduty+json;version=2"}
        headers = {"Authorization": f"Token token={TOKEN}"}
        extra = [
            ("/abilities", {}, 200),
            ("/services", {"limit": "1", "total": "true"}, 200),
            ("/oncalls", {}, 200),
            ("/incidents", {"statuses[]": "acknowledged", "date_range": "all"}, 200),
            ("/log_entries", {"include[]": "incidents"}, 200),
            ("/services", {"offset": "9999", "limit": "100"}, 400),
        ]
        with httpx.Client(base_url=sim.url, headers=headers) as client:
            for path, params, status in extra:
                assert client.get(path, params=params).status_code == status
            assert client.get("/services", headers={"Authorization": "nope"}).status_code == 401
        checked = 0
        for req in list(sim.requests):
            path, status = req["path"], req["status"]
            assert status in (200, 400, 401), req
            # Rebuild the answer the request got and validate it.
            with httpx.Client(base_url=sim.url) as client:
                query = [(k, v) for k, vs in req["query"].items() for v in vs]
                auth = headers if status != 401 else {"Authorization": "nope"}
                again = client.get(path, params=query, headers=auth)
            assert again.status_code == status
            _validator(doc, path, status).validate(again.json())
            checked += 1
        assert checked == by_connector + len(extra) + 1 and by_connector >= 8


# --- syncing ----------------------------------------------------------------------------


def _expected(sim: PagerDutySimulator, sid: str) -> dict[str, Any]:
    """A service's incident figures computed from the simulator's own incidents."""
    i = int(sid[2:])
    incs = [x for x in sim.incidents if x.service == i]
    acked = [x.acked - x.created for x in incs if x.acked is not None]
    resolved = [x.resolved - x.created for x in incs if x.resolved is not None]
    return {
        "open": sum(1 for x in incs if x.resolved is None),
        "in_window": len(incs),
        "mean_seconds_to_acknowledge": round(statistics.fmean(acked), 1) if acked else None,
        "mean_seconds_to_resolve": round(statistics.fmean(resolved), 1) if resolved else None,
    }


def test_a_sync_brings_services_on_call_and_incident_figures(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: PagerDutySimulator
) -> None:
    iid = install_pagerduty(api, sim)
    run = sync_now(api, settings, server.db, iid)
    assert run["status"] == "succeeded", run
    assert run["created"] == SERVICES
    stored = all_resources(api)
    assert len(stored) == SERVICES
    svc5 = stored["PS000005"]
    assert svc5["type"] == "pagerduty_service" and svc5["name"] == "Service 000005"
    data = svc5["integration_data"]
    assert data["status"] == "critical" and data["enabled"] is True
    assert data["html_url"].endswith("/service-directory/PS000005")
    assert data["escalation_policy"]["id"] == "PEP000003"
    assert data["on_call_now"] is True
    assert [lv["level"] for lv in data["on_call"]] == [1, 2]
    for sid in ("PS000005", "PS000007", "PS000012", "PS000019"):
        figures = stored[sid]["integration_data"]["incidents"]
        assert {k: figures[k] for k in _expected(sim, sid)} == _expected(sim, sid), sid
    assert stored["PS000019"]["integration_data"]["enabled"] is False  # disabled
    # Escalation policy 11 (services 21 and 22) has nobody on call.
    assert stored["PS000021"]["integration_data"]["on_call_now"] is False
    assert stored["PS000021"]["integration_data"]["on_call"] == []
    # Filters read the declared paths.
    off = api.get(RESOURCES, params={"filter[integration_data.enabled]": "false"})
    assert [r["config"]["service_id"] for r in off.json()["data"]] == ["PS000019"]
    # Every request carried the key as PagerDuty wants it and asked for API v2.
    assert {r["accept"] for r in sim.requests} == {"application/vnd.pagerduty+json;version=2"}
    assert {r["status"] for r in sim.requests} == {200}

    sim.requests.clear()
    again = sync_now(api, settings, server.db, iid)
    assert again["status"] == "succeeded"
    assert (again["created"], again["updated"]) == (0, 0)
    assert again["unchanged"] == SERVICES


def test_rate_limits_and_5xx_are_retried(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: PagerDutySimulator
) -> None:
    iid = install_pagerduty(api, sim)
    sim.rate_limit_next = 2  # Retry-After: 1
    assert sync_now(api, settings, server.db, iid)["status"] == "succeeded"
    sim.retry_after = None  # only PagerDuty's ratelimit-reset header
    sim.rate_limit_next = 1
    sim.fail_path, sim.fail_times = "/oncalls", 1
    run = sync_now(api, settings, server.db, iid)
    assert run["status"] == "succeeded", run
    assert [r["status"] for r in sim.requests].count(429) == 3
    assert [r["status"] for r in sim.requests].count(500) == 1


def test_failures_part_way_change_nothing(
    api: httpx.Client, server: LiveServer, fast: Settings, sim: PagerDutySimulator
) -> None:
    iid = install_pagerduty(api, sim)
    assert sync_now(api, fast, server.db, iid)["created"] == SERVICES
    sim.remove_service("PS000003")  # gone upstream, but the next listings fail
    sim.fail_path = "/incidents"
    run = sync_now(api, fast, server.db, iid)
    assert run["status"] == "failed" and "HTTP 500" in run["error"], run
    sim.fail_path = None
    sim.truncate_next = 1
    run = sync_now(api, fast, server.db, iid)
    assert run["status"] == "failed" and "not valid JSON" in run["error"], run
    sim.rate_limit_next = 10
    run = sync_now(api, fast, server.db, iid)
    assert run["status"] == "failed" and "429" in run["error"], run
    stored = all_resources(api)
    assert len(stored) == SERVICES and stored["PS000003"]["discovered"] is True
    sim.rate_limit_next = 0
    run = sync_now(api, fast, server.db, iid)
    assert run["status"] == "succeeded"
    assert all_resources(api)["PS000003"]["discovered"] is False


def test_credentials_refused_with_a_clear_reason_and_taint(
    api: httpx.Client,
    server: LiveServer,
    settings: Settings,
    sim: PagerDutySimulator,
    contract: Contract,
) -> None:
    iid = install_pagerduty(api, sim, authorize=False)
    wrong = authorize_instance(api, iid, "not-the-key")
    detail = contract.check(wrong, 400)["detail"]
    assert "PagerDuty rejected the API key (HTTP 401" in detail
    assert "not-the-key" not in wrong.text
    sim.forbidden_paths = {"/services"}
    scoped = authorize_instance(api, iid, TOKEN)
    detail = contract.check(scoped, 400)["detail"]
    assert "HTTP 403" in detail and "GET /services" in detail, detail
    sim.forbidden_paths = set()
    assert authorize_instance(api, iid, TOKEN).status_code == 201
    assert sync_now(api, settings, server.db, iid)["status"] == "succeeded"
    # The key loses access to incidents: the credential is tainted, with what to do.
    sim.forbidden_paths = {"/incidents"}
    run = sync_now(api, settings, server.db, iid)
    assert run["status"] == "failed" and "403" in run["error"], run
    cred = api.get(f"/v1/integration-instances/{iid}/auth-credential").json()
    assert cred["tainted"] is True
    state = ingestion(api, iid)["scheduler_state"]
    assert state["status"] == "halted" and "auth-credential" in state["remediation"]
    assert len(all_resources(api)) == SERVICES
    for text in (str(run), str(cred), str(state)):
        assert TOKEN not in text


def test_an_unreachable_pagerduty_is_reported_with_the_reason(api: httpx.Client) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    resp = api.post(
        "/v1/integration-instances",
        json={
            "integration_name": "pagerduty",
            "name": "pd-down",
            "display_name": "PD",
            "config": {"base_url": f"http://127.0.0.1:{port}"},
        },
    )
    iid = resp.json()["id"]
    stored = authorize_instance(api, iid, TOKEN)  # kept, unverified, with the reason
    assert stored.status_code == 201, stored.text
    body = stored.json()
    assert body["verified"] is False and "Cannot reach" in body["verification_reason"]
    assert body["verification_error"]["reason"] == "unreachable"
    assert TOKEN not in stored.text


def test_incident_events_are_polled_after_each_sync(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: PagerDutySimulator
) -> None:
    iid = install_pagerduty(api, sim)
    first = sync_now(api, settings, server.db, iid)
    assert first["status"] == "succeeded"
    backlog = first["events"]  # the last day's history
    day_ago = time.time() - 86_400
    assert backlog == sum(1 for ts, _, _ in sim._log if ts >= day_ago - 2)
    svc = create_service(api, "checkout")
    rid = all_resources(api)["PS000002"]["id"]
    mapped = api.post("/v1/resource-mappings", json={"service": svc["id"], "resource": rid})
    assert mapped.status_code == 201, mapped.text
    incident = sim.trigger("PS000002", "Checkout errors above 5%", "high")
    second = sync_now(api, settings, server.db, iid)
    assert second["status"] == "succeeded" and second["events"] == 1, second
    sim.acknowledge(incident)
    sim.resolve(incident)
    third = sync_now(api, settings, server.db, iid)
    assert third["events"] == 2, third
    mine = events(api, f"/v1/catalog-services/{svc['id']}/integration-events")
    assert sorted(e["type"] for e in mine) == [  # (stamped within the same second or so)
        "incident_acknowledged",
        "incident_resolved",
        "incident_triggered",
    ]
    (triggered,) = [e for e in mine if e["type"] == "incident_triggered"]
    assert triggered["attributes"]["urgency"] == "high"
    assert triggered["attributes"]["title"] == "Checkout errors above 5%"
    assert "Checkout errors above 5%" in triggered["detail"]
    assert triggered["binding"] == "pagerduty_service" and triggered["resource_id"] == rid
    assert f"/incidents/{incident}" in json.dumps(triggered)
    assert sync_now(api, settings, server.db, iid)["events"] == 0
    assert len(events(api)) == backlog + 3


def test_a_window_beyond_the_offset_cap_is_split() -> None:
    # 60 services x 70 incidents: about 11,000 log entries in the window, more than
    # PagerDuty lets one listing page through.
    with PagerDutySimulator(60, 70, TOKEN) as sim:
        cred = Credential("multi_key_auth", headers={"authorization": TOKEN})
        connector = PagerDutyConnector(config={"base_url": sim.url}, credential=cred)
        records = [r for batch in connector.discover() for r in batch]
        assert len(records) == 60
        windows = {
            (r["query"]["since"][0], r["query"]["until"][0])
            for r in sim.requests
            if r["path"] == "/log_entries"
        }
        assert len(windows) >= 3  # the whole window, then its halves
        assert all(r["status"] == 200 for r in sim.requests)
        data = records[9].integration_data
        assert data is not None
        figures = _expected(sim, "PS000010")
        assert {k: data["incidents"][k] for k in figures} == figures


class _NullLists(PagerDutySimulator):
    """PagerDuty answering ``"acknowledgements": null`` instead of an empty list and a log
    entry's ``incident`` as null: shapes the connector's narrow page decoders refuse."""

    def _incident(self, inc: Any) -> dict[str, Any]:
        body = super()._incident(inc)
        if not body["acknowledgements"]:
            body["acknowledgements"] = None
        return body

    def _log_entry(self, ts: float, kind: str, inc: Any, full: bool) -> dict[str, Any]:
        entry = super()._log_entry(ts, kind, inc, full)
        if kind == "trigger":
            entry["incident"] = None
        return entry


def test_pages_of_another_shape_are_read_in_full() -> None:
    cred = Credential("multi_key_auth", headers={"authorization": TOKEN})
    found = []
    now = dt.datetime.now(dt.UTC)  # the same tenant from both
    for simulator in (PagerDutySimulator, _NullLists):
        with simulator(8, 6, TOKEN, now=now) as sim:
            sim.acknowledge(sim.trigger("PS000003", "disk full", "high"))
            sim.resolve(sim.trigger("PS000005", "latency", "low"))
            connector = PagerDutyConnector(config={"base_url": sim.url}, credential=cred)
            found.append(
                (
                    {
                        r.config["service_id"]: r.integration_data
                        for b in connector.discover()
                        for r in b
                    },
                    sorted(
                        (e.resource_config["service_id"], e.event.deduplication_id)
                        for e in connector.poll_events(None)
                    ),
                )
            )
            connector.close()
    (data, events), (data_odd, events_odd) = found
    assert data_odd == data and len(data) == 8
    # The trigger entries whose incident is null still name their service.
    assert events_odd == events and len(events) == 4

"""The Traceable connector against the Traceable simulator on loopback: the queries it
sends, what a Traceable Service resource holds, paging, faults and events."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

import pytest

from pgserver import free_port
from service_catalog.integrations import registry
from service_catalog.integrations.connectors.base import (
    ConnectorError,
    Credential,
    ResourceRecord,
    UpstreamHTTP,
    decode_json,
)
from service_catalog.integrations.connectors.traceable import INTEGRATION, TraceableConnector
from service_catalog.integrations.connectors.traceable import graphql as gql
from service_catalog.integrations.connectors.traceable.data import (
    ENDPOINTS_LISTED,
    app_url,
    diff_events,
    split_name,
)
from service_catalog.testing.traceable_sim import TraceableSimulator
from sync_support import data_of

EXAMPLES = INTEGRATION.descriptor["discovery"]["resource_integration_data_examples"]

TOKEN = "tr-platform-token-123"


def connector(sim: TraceableSimulator, token: str = TOKEN, **config: Any) -> TraceableConnector:
    return TraceableConnector(
        config={"base_url": sim.url, **config},
        credential=Credential("multi_key_auth", headers={"authorization": token}),
        http=UpstreamHTTP(timeout=5, retries=3, backoff=0.01, max_sleep=2),
    )


def records(conn: TraceableConnector) -> dict[str, ResourceRecord]:
    out: dict[str, ResourceRecord] = {}
    for batch in conn.discover():
        for rec in batch:
            assert rec.config["service_id"] not in out
            out[rec.config["service_id"]] = rec
    return out


SIMULATOR = partial(TraceableSimulator, 25, 6, TOKEN, inactive_every=5, vulnerable_every=2)


# --- the descriptor -------------------------------------------------------------------


def test_descriptor_is_a_catalog_integration(contract: Any) -> None:
    contract.validate(dict(INTEGRATION.descriptor), schema="CatalogIntegration")
    assert registry.get_integration("traceable") is not None
    assert INTEGRATION.descriptor["authorization"]["type"] == "multi_key_auth"
    assert [h["name"] for h in INTEGRATION.descriptor["authorization"]["config"]["headers"]] == [
        "authorization"
    ]
    cfg = INTEGRATION.descriptor["config_schema"]
    assert cfg["include_inactive"]["type"] == "boolean"
    assert cfg["include_inactive"]["default"] is False
    assert cfg["base_url"]["default"] == "https://api.traceable.ai"
    assert cfg["lookback"]["default"] == "7d"
    rtype = INTEGRATION.descriptor["resource_types"]["traceable_service"]
    assert rtype["display_name"] == "Traceable Service"
    assert rtype["schema"]["definition"] == {"service_id": "string"}
    example = EXAMPLES["traceable_service"]
    assert set(example["endpoints"]["groups"]) == {
        "risk",
        "exposure",
        "authentication",
        "sensitive_data",
        "discovery_state",
    }
    assert set(INTEGRATION.descriptor["events"]["traceable_service"]) == {
        "vulnerability_opened",
        "vulnerability_fixed",
        "sensitive_endpoint_exposed",
    }


def test_the_discovery_example_has_the_shape_a_sync_produces(sim: TraceableSimulator) -> None:
    example = EXAMPLES["traceable_service"]
    real = records(connector(sim))["svc-00002"].integration_data
    assert real is not None

    def shape(value: Any) -> Any:
        if isinstance(value, dict):
            return (
                {k: shape(v) for k, v in value.items()}
                if "CRITICAL" not in value
                and "HIGH" not in value
                and "email" not in value
                and "external" not in value
                and "DISCOVERED" not in value
                and "authenticated" not in value
                else "counts"
            )
        if isinstance(value, list):
            return [shape(value[0])] if value else []
        return type(value).__name__

    assert set(shape(example)) == set(shape(real))
    assert set(example["endpoints"]) == set(real["endpoints"])
    assert set(example["endpoints"]["items"][0]) == set(real["endpoints"]["items"][0])
    assert set(example["vulnerabilities"]) == set(real["vulnerabilities"])


# --- every query validates ------------------------------------------------------------


def test_every_document_the_connector_can_send_validates() -> None:
    docs = gql.all_documents()
    assert len(docs) >= 8
    for doc in docs:
        assert gql.validation_errors(doc) == [], doc
    assert gql.validation_errors("{ entities { total } }")  # the check can fail


def test_every_query_sent_in_a_sync_validates(sim: TraceableSimulator) -> None:
    conn = connector(sim, page_size=100)
    assert conn.verify().status == "accepted"
    records(conn)
    conn.endpoints_page("svc-00001", limit=2, offset=0)
    sim.tenant.drop_attribute("dataTypeIds")
    sim.tenant.drop_attribute("numCalls")
    records(conn)
    sent = {r["query"] for r in sim.requests}
    assert len(sent) >= 6
    for doc in sent:
        assert gql.validation_errors(doc) == [], doc
        assert doc in gql.all_documents() or "ApiEndpoints" in doc
    assert {r["status"] for r in sim.requests} == {200}


# --- verify ---------------------------------------------------------------------------


def test_verify(sim: TraceableSimulator) -> None:
    assert connector(sim).verify().status == "accepted"
    assert [r["operation"] for r in sim.requests] == ["VerifyToken"]
    assert sim.requests[0]["variables"]["between"]["startTime"].endswith("Z")
    rejected = connector(sim, token="wrong").verify()
    assert rejected.status == "rejected"
    assert "Traceable rejected the API token (HTTP 401" in rejected.reason
    assert "invalid or expired API token" in rejected.reason
    sim.reject_status = 403
    assert connector(sim, token="wrong").verify().status == "rejected"


def test_verify_unreachable_and_bad_base_url() -> None:
    conn = TraceableConnector(
        config={"base_url": f"http://127.0.0.1:{free_port()}"},
        credential=Credential("multi_key_auth", headers={"authorization": TOKEN}),
        http=UpstreamHTTP(timeout=1, retries=0),
    )
    result = conn.verify()
    assert result.status == "unreachable" and "Cannot reach" in result.reason
    bad = TraceableConnector(
        config={"base_url": "ftp://example"},
        credential=Credential("multi_key_auth", headers={"authorization": TOKEN}),
    )
    assert bad.verify().status == "unreachable"
    assert "not an http(s) URL" in bad.verify().reason
    no_cred = TraceableConnector(config={}, credential=None)
    assert no_cred.verify().status == "rejected"


# --- discover -------------------------------------------------------------------------


def test_include_inactive(sim: TraceableSimulator) -> None:
    active = records(connector(sim))
    everything = records(connector(sim, include_inactive=True))
    assert len(active) == 20 and len(everything) == 25
    assert set(everything) - set(active) == {f"svc-{i:05d}" for i in (5, 10, 15, 20, 25)}
    sent = [
        r["variables"].get("includeInactive")
        for r in sim.requests
        if r["operation"] in ("Services", "ApiEndpoints")
    ]
    assert set(sent) == {False, True}


def test_a_record_holds_the_service_its_grouped_endpoints_and_vulnerabilities(
    sim: TraceableSimulator,
) -> None:
    tenant = sim.tenant
    rec = records(connector(sim))["svc-00004"]
    assert rec.type == "traceable_service"
    assert rec.config == {"service_id": "svc-00004"}
    assert rec.name == tenant.services["svc-00004"]["name"]
    data = rec.integration_data
    assert data is not None
    eps = [e for e in tenant.endpoints.values() if e["serviceId"] == "svc-00004"]
    assert data["service_id"] == "svc-00004"
    assert data["environments"] == [tenant.services["svc-00004"]["environment"]] == ["staging"]
    assert data["link"] == f"{sim.url}/service/svc-00004/overview"
    e = data["endpoints"]
    assert e["total"] == len(eps) == 6 and e["listed"] == 6
    assert e["calls"] == sum(x["_metrics"]["numCalls"] for x in eps)
    for group in e["groups"].values():
        if group is not e["groups"]["sensitive_data"]:
            assert sum(group.values()) == 6
    assert e["groups"]["exposure"]["external"] == sum(1 for x in eps if x["isExternal"])
    assert e["groups"]["authentication"].get("unauthenticated", 0) == sum(
        1 for x in eps if not x["isAuthenticated"]
    )
    for cat in ("LOW", "MEDIUM", "HIGH", "CRITICAL"):
        assert e["groups"]["risk"].get(cat, 0) == sum(
            1 for x in eps if x["apiRiskScoreCategory"] == cat
        )
    scores = [i["risk_score"] for i in e["items"]]
    assert scores == sorted(scores, reverse=True)
    item = next(i for i in e["items"] if i["id"] == "api-00004-001")
    src = tenant.endpoints["api-00004-001"]
    method, path = src["name"].split(" ", 1)
    assert item["method"] == method and item["path"] == path
    assert item["external"] is src["isExternal"]
    assert item["authenticated"] is src["isAuthenticated"]
    assert item["sensitive_data_types"] == src["dataTypeIds"]
    assert item["calls"] == src["_metrics"]["numCalls"]
    assert item["last_seen"] and item["last_seen"].endswith("Z")
    assert (item["risk"], item["risk_score"]) == (src["apiRiskScoreCategory"], src["apiRiskScore"])
    v = data["vulnerabilities"]
    open_ids = tenant.open_vulnerabilities_of("svc-00004")
    assert v["open"] == len(open_ids) > 0
    assert sorted(i["id"] for i in v["items"]) == sorted(open_ids)
    assert sum(v["by_severity"].values()) == v["open"]
    assert "synced_at" not in data  # a per-sync timestamp would defeat the content hash


def test_whole_tenant_pages_not_one_query_per_service() -> None:
    with TraceableSimulator(450, 3, TOKEN, inactive_every=0, vulnerable_every=2) as sim:
        recs = records(connector(sim, page_size=100))
        assert len(recs) == 450
        ops = [r["operation"] for r in sim.requests]
        assert ops.count("Services") == 5
        assert ops.count("ApiEndpoints") == 14  # 1350 endpoints / 100
        assert ops.count("AttributeCatalogue") == 1
        offsets = [
            r["variables"]["offset"] for r in sim.requests if r["operation"] == "ApiEndpoints"
        ]
        assert sorted(offsets) == list(range(0, 1400, 100))
        assert all(
            r["variables"]["limit"] == 100
            for r in sim.requests
            if r["operation"] in ("Services", "ApiEndpoints")
        )
        # A later service got its endpoints although they came on many different pages.
        assert data_of(recs["svc-00450"])["endpoints"]["total"] == 3
        between = {
            str(r["variables"].get("between")) for r in sim.requests if "between" in r["variables"]
        }
        assert len(between) == 1, "one window for the whole sync"


def test_many_endpoints_are_capped_riskiest_first() -> None:
    with TraceableSimulator(2, 120, TOKEN, inactive_every=0, vulnerable_every=0) as sim:
        data = records(connector(sim, discovery_states="ALL"))["svc-00001"].integration_data
        assert data is not None
        e = data["endpoints"]
        assert e["total"] == 120 and e["listed"] == ENDPOINTS_LISTED == len(e["items"])
        all_scores = sorted(
            (
                x["apiRiskScore"]
                for x in sim.tenant.endpoints.values()
                if x["serviceId"] == "svc-00001"
            ),
            reverse=True,
        )
        assert [i["risk_score"] for i in e["items"]] == all_scores[:ENDPOINTS_LISTED]
        rows, total = connector(sim, discovery_states="ALL").endpoints_page(
            "svc-00001", limit=100, offset=100
        )
        assert total == 120 and len(rows) == 20
        assert rows[0]["id"] == "api-00001-101" and rows[0]["method"]


def test_a_tenant_lacking_optional_attributes_still_syncs(sim: TraceableSimulator) -> None:
    for name in (
        "riskScoreCategory",
        "riskScore",
        "apiRiskScoreCategory",
        "apiRiskScore",
        "numCalls",
        "isAuthenticated",
    ):
        sim.tenant.drop_attribute(name)
    data = records(connector(sim))["svc-00001"].integration_data
    assert data is not None
    e = data["endpoints"]
    assert e["total"] == 6
    assert e["groups"]["risk"] == {"unknown": 6}
    assert e["groups"]["authentication"] == {"unknown": 6}
    assert e["calls"] is None
    assert (e["items"][0]["risk"], e["items"][0]["risk_score"]) == (None, None)
    sent = [r["query"] for r in sim.requests if r["operation"] == "ApiEndpoints"]
    assert sent and all("iskScore" not in q and "numCalls" not in q for q in sent)


def test_a_tenant_without_service_ids_on_endpoints_fails_clearly(sim: TraceableSimulator) -> None:
    sim.tenant.drop_attribute("serviceId")
    with pytest.raises(ConnectorError) as err:
        records(connector(sim))
    assert "serviceId" in err.value.message


def test_rate_limits_and_5xx_are_retried(sim: TraceableSimulator) -> None:
    sim.retry_after = "0"
    sim.rate_limit_next = 2
    sim.fail_on("ApiEndpoints", offset=0, status=502, times=1)
    recs = records(connector(sim))
    assert len(recs) == 20
    statuses = [r["status"] for r in sim.requests]
    assert statuses.count(429) == 2 and statuses.count(502) == 1


@pytest.mark.parametrize(
    "fault,kind",
    [("5xx", "upstream"), ("malformed", "malformed"), ("token", "auth"), ("slow", "timeout")],
)
def test_a_failing_sync_raises_a_connector_error(
    sim: TraceableSimulator, fault: str, kind: str
) -> None:
    conn = connector(sim, page_size=100)
    conn.http = UpstreamHTTP(timeout=0.5, retries=1, backoff=0.01, max_sleep=0.1)
    if fault == "5xx":
        sim.fail_on("Services", status=500)
    elif fault == "malformed":
        sim.fail_on("never", status=200)
        sim.malformed_next = 5
    elif fault == "token":
        sim.token = "rotated"
    else:
        sim.delay = 1.0
    with pytest.raises(ConnectorError) as err:
        records(conn)
    assert err.value.kind == kind
    assert TOKEN not in err.value.message


def test_graphql_errors_are_reported(sim: TraceableSimulator) -> None:
    conn = connector(sim)
    with pytest.raises(ConnectorError) as err:
        conn.query("query Broken { entities { total } }")
    assert err.value.kind == "upstream"
    assert "Broken" in err.value.message and "between" in err.value.message


def test_service_names_and_renames(sim: TraceableSimulator) -> None:
    conn = connector(sim)
    before = records(conn)["svc-00003"]
    sim.tenant.rename_service("svc-00003", "auth-v2")
    after = records(conn)["svc-00003"]
    assert (before.name, after.name) == ("catalog-0003", "auth-v2")
    assert before.config == after.config


# --- events ---------------------------------------------------------------------------


def test_diff_events(sim: TraceableSimulator) -> None:
    conn = connector(sim)
    first = records(conn)["svc-00001"]
    assert conn.diff_events(None, first) == []
    vid = sim.tenant.open_vulnerability("svc-00001", severity="CRITICAL")
    eid = sim.tenant.add_endpoint("svc-00001", "POST /v1/login", data_types=("password",))
    sim.tenant.add_endpoint("svc-00001", "GET /v1/ping", data_types=())  # not sensitive
    sim.tenant.add_endpoint("svc-00001", "GET /v1/me", authenticated=True)  # authenticated
    second = records(conn)["svc-00001"]
    events = conn.diff_events(first.integration_data, second)
    by_type = {e.type: e for e in events}
    assert set(by_type) == {"vulnerability_opened", "sensitive_endpoint_exposed"}
    assert len(events) == 2
    opened = by_type["vulnerability_opened"]
    assert opened.attributes["vulnerability_id"] == vid
    assert opened.attributes["severity"] == "CRITICAL"
    assert "CRITICAL vulnerability" in opened.detail and "opened" in opened.detail
    exposed = by_type["sensitive_endpoint_exposed"]
    assert exposed.attributes["endpoint_id"] == eid
    assert "POST /v1/login" in exposed.detail and "password" in exposed.detail
    assert exposed.link_html and "svc-00001" in exposed.link_html
    # The same change derived again (e.g. a retried sync) has the same dedup ids.
    again = conn.diff_events(first.integration_data, records(conn)["svc-00001"])
    assert sorted(e.deduplication_id for e in again) == sorted(e.deduplication_id for e in events)
    # Nothing changed: nothing to report.
    assert conn.diff_events(second.integration_data, second) == []
    sim.tenant.fix_vulnerability(vid)
    third = records(conn)["svc-00001"]
    fixed = conn.diff_events(second.integration_data, third)
    assert [e.type for e in fixed] == ["vulnerability_fixed"]
    assert fixed[0].attributes["vulnerability_id"] == vid
    assert "no longer open" in fixed[0].detail


def test_diff_events_baseline_and_reopen() -> None:
    now = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    base = {
        "service_id": "s",
        "service_name": "S",
        "link": "http://x/service/s/overview",
        "endpoints": {"exposed_sensitive": []},
        "vulnerabilities": {"open": 0, "listed": 0, "items": []},
    }
    reopened = {
        **base,
        "vulnerabilities": {
            "open": 1,
            "listed": 1,
            "items": [
                {
                    "id": "v1",
                    "severity": "LOW",
                    "status": "REOPENED",
                    "title": "T",
                    "opened_at": "2026-01-01T00:00:00Z",
                }
            ],
        },
    }
    assert diff_events(None, reopened) == []
    events = diff_events(base, reopened, now=now)
    assert [e.type for e in events] == ["vulnerability_opened"]
    assert "reopened" in events[0].detail
    assert events[0].deduplication_id == "traceable:s:vulnerability:v1:reopened:2026-11-23"


def test_helpers() -> None:
    assert app_url("https://api.traceable.ai") == "https://app.traceable.ai"
    assert app_url("https://api.eu.traceable.ai/") == "https://app.eu.traceable.ai"
    assert app_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert split_name("GET /users/{id}") == ("GET", "/users/{id}")
    assert split_name("grpc.Service/Method") == (None, "grpc.Service/Method")


def test_an_unchanged_tenant_gives_identical_records(sim: TraceableSimulator) -> None:
    """What makes an unchanged re-sync write nothing: the records do not depend on when
    the sync ran."""
    conn = connector(sim, page_size=100)
    first = records(conn)
    second = records(connector(sim, page_size=100))
    assert first == second


def test_a_service_list_that_shifts_while_paging_fails_instead_of_losing_services() -> None:
    with TraceableSimulator(250, 1, TOKEN, inactive_every=0, vulnerable_every=0) as sim:
        conn = connector(sim, page_size=100)

        def shift(operation: str | None, variables: dict[str, Any]) -> None:
            # A service sorting first appears once page 1 was read: every later page shifts.
            if (
                operation == "Services"
                and variables.get("offset") == 100
                and "svc-00000" not in sim.tenant.services
            ):
                sim.tenant.add_service("svc-00000", "early-bird", endpoints=1)

        sim.before_answer = shift
        got: list[str] = []
        with pytest.raises(ConnectorError) as err:
            for batch in conn.discover():
                got += [r.config["service_id"] for r in batch]
        assert err.value.kind == "upstream" and "changed while it was read" in err.value.message
        assert got == []  # it fails before anything is stored, so nothing can vanish


def test_services_are_yielded_while_the_endpoint_listing_is_still_read() -> None:
    """Endpoints come grouped by service, so a service is stored as soon as the listing
    has moved past it: the first batch arrives long before the last endpoint page."""
    with TraceableSimulator(450, 3, TOKEN, inactive_every=0, vulnerable_every=2) as sim:
        batches = connector(sim, page_size=100).discover()
        first = next(batches)
        assert len(first) == 100
        assert sim.calls("ApiEndpoints") < 14  # of 14 pages
        rest = [rec for batch in batches for rec in batch]
        assert len({r.config["service_id"] for r in [*first, *rest]}) == 450
        assert sim.calls("ApiEndpoints") == 14


def test_an_upstream_that_does_not_group_endpoints_by_service_still_gives_whole_services() -> None:
    """Should Traceable ignore the order by service, a service whose endpoints come back
    after it was yielded is yielded again, complete: the last record of each service is
    the same as with grouped endpoints."""
    yields: list[str] = []

    def last_records(sim: TraceableSimulator) -> dict[str, ResourceRecord]:
        yields.clear()
        out: dict[str, ResourceRecord] = {}
        for batch in connector(sim, page_size=50).discover():
            out.update((r.config["service_id"], r) for r in batch)
            yields.extend(r.config["service_id"] for r in batch)
        return out

    with TraceableSimulator(120, 4, TOKEN, inactive_every=0, vulnerable_every=3) as sim:
        grouped = last_records(sim)
        assert len(yields) == 120  # grouped: each service once
        # Riskiest endpoints first, whatever their service: services interleave.
        sim.order_override = {"API": [{"keyExpression": {"key": "riskScore"}, "direction": "DESC"}]}
        interleaved = last_records(sim)
    assert len(yields) > 120  # some services were yielded early, then again complete
    assert len(grouped) == 120
    assert set(interleaved) == set(grouped)
    for sid, rec in grouped.items():
        assert interleaved[sid].integration_data == rec.integration_data, sid
    assert sum(data_of(r)["endpoints"]["total"] for r in grouped.values()) == 480


def test_endpoints_with_an_odd_service_id_are_skipped(sim: TraceableSimulator) -> None:
    """An endpoint row whose serviceId is not a string (a list, an object, null) belongs to
    no listed service: it is left out, and the sync goes on."""
    before = records(connector(sim))
    odd = list(sim.tenant.endpoints.values())[:3]
    owner = odd[0]["serviceId"]
    for endpoint, value in zip(odd, (["svc"], {"id": owner}, None), strict=True):
        endpoint["serviceId"] = value
    sim.tenant._changed()
    # (The simulator cannot sort mixed types: it lists by id, which keeps services together.)
    sim.order_override = {"API": [{"keyExpression": {"key": "id"}, "direction": "ASC"}]}
    after = records(connector(sim))
    assert set(after) == set(before)
    lost = sum(data_of(before[s])["endpoints"]["total"] for s in before) - sum(
        data_of(after[s])["endpoints"]["total"] for s in after
    )
    assert lost == 3


def test_upstream_json_is_strict_json() -> None:
    """Both connectors decode upstream bodies with decode_json: JSON decodes (a huge
    integer as a float); what is not strict JSON is a ValueError, which the connectors
    report as a malformed answer."""
    assert decode_json(b'{"n": 12345678901234567890123, "s": "\xc3\xa9"}') == {
        "n": 1.2345678901234568e22,
        "s": "\u00e9",
    }
    for bad in (b"{", b"NaN", b'{"x": Infinity}', b"\xff\xfe", b"[" * 2000 + b"]" * 2000, b""):
        with pytest.raises(ValueError):
            decode_json(bad)

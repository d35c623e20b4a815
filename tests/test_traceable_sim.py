"""The Traceable simulator answers like Traceable's GraphQL API (the subset schema): it
validates queries, checks the token, pages, filters, and injects the faults tests ask for."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import pytest

from service_catalog.integrations.connectors.traceable import graphql as gql
from service_catalog.testing.traceable_sim import TraceableSimulator
from service_catalog.testing.traceable_tenant import Tenant

TOKEN = "sim-secret-token"


def window(days: int = 7) -> dict[str, str]:
    now = dt.datetime.now(dt.UTC)
    fmt = "%Y-%m-%dT%H:%M:%S.000Z"
    return {
        "startTime": (now - dt.timedelta(days=days)).strftime(fmt),
        "endTime": now.strftime(fmt),
    }


SIMULATOR = partial(TraceableSimulator, 20, 4, TOKEN, inactive_every=5, vulnerable_every=3)


@pytest.fixture
def client(sim: TraceableSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, headers={"Authorization": TOKEN}, timeout=10) as c:
        yield c


def post(
    client: httpx.Client, query: str, variables: dict[str, Any] | None = None, **kw: Any
) -> httpx.Response:
    return client.post("/graphql", json={"query": query, "variables": variables or {}}, **kw)


def services(client: httpx.Client, **variables: Any) -> dict[str, Any]:
    resp = post(client, gql.SERVICES, {"between": window(), **variables})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert "errors" not in body, body
    entities: dict[str, Any] = body["data"]["entities"]
    return entities


def test_token_is_checked_raw(sim: TraceableSimulator) -> None:
    with httpx.Client(base_url=sim.url, timeout=10) as c:
        for headers in ({}, {"Authorization": "wrong"}, {"Authorization": f"Bearer {TOKEN}"}):
            resp = post(c, gql.VERIFY, {"between": window()}, headers=headers)
            assert resp.status_code == 401
            assert "Unauthorized" in resp.json()["errors"][0]["message"]
        resp = post(c, gql.VERIFY, {"between": window()}, headers={"Authorization": TOKEN})
        assert resp.status_code == 200
        assert resp.json() == {"data": {"entities": {"total": 16}}}
    sim.reject_status = 403
    sim.token = "rotated"
    with httpx.Client(base_url=sim.url, timeout=10) as c:
        assert (
            post(c, gql.VERIFY, {"between": window()}, headers={"Authorization": TOKEN}).status_code
            == 403
        )


def test_queries_the_schema_rejects_get_graphql_errors(client: httpx.Client) -> None:
    unknown_field = post(
        client,
        '{ entities(scope: "API", between: '
        '{startTime: "2026-01-01T00:00:00Z", '
        'endTime: "2026-01-02T00:00:00Z"}) { total nope } }',
    ).json()
    assert "Cannot query field 'nope'" in unknown_field["errors"][0]["message"]
    no_between = post(client, '{ entities(scope: "API") { total } }').json()
    assert "between" in no_between["errors"][0]["message"]
    syntax = post(client, "{ entities(").json()
    assert syntax["errors"] and "Syntax Error" in syntax["errors"][0]["message"]
    bad_var = post(client, gql.SERVICES, {"between": window(), "limit": "ten"}).json()
    assert "Int cannot represent" in bad_var["errors"][0]["message"]
    bad_enum = post(
        client, "{ vulnerabilitiesV3(orderBy: [{key: NOPE, direction: ASC}]) { total } }"
    ).json()
    assert bad_enum["errors"]
    assert client.post("/graphql", content=b"{not json").status_code == 400
    assert client.get("/graphql").status_code == 405
    assert client.post("/other", json={"query": "{ metadata { name } }"}).status_code == 404


def test_include_inactive_and_between(client: httpx.Client, sim: TraceableSimulator) -> None:
    active = services(client, limit=100)
    everything = services(client, limit=100, includeInactive=True)
    assert active["total"] == 16 and everything["total"] == 20
    inactive_ids = {r["id"] for r in everything["results"]} - {r["id"] for r in active["results"]}
    assert inactive_ids == {"svc-00005", "svc-00010", "svc-00015", "svc-00020"}
    # A 60-day window sees the services that were active 40 days ago.
    wide = post(client, gql.SERVICES, {"between": window(60), "limit": 100}).json()
    assert wide["data"]["entities"]["total"] == 20
    sim.tenant.set_inactive("svc-00001")
    assert services(client, limit=100)["total"] == 15


def test_limit_offset_total_and_stable_order(client: httpx.Client) -> None:
    pages = [services(client, limit=6, offset=o, includeInactive=True) for o in (0, 6, 12, 18)]
    assert [p["count"] for p in pages] == [6, 6, 6, 2]
    assert all(p["total"] == 20 for p in pages)
    ids = [r["id"] for p in pages for r in p["results"]]
    assert ids == sorted(ids) and len(set(ids)) == 20
    too_big = post(client, gql.SERVICES, {"between": window(), "limit": 10_001}).json()
    assert "at most 10000" in too_big["errors"][0]["message"]


def test_endpoint_attributes_metrics_filters(client: httpx.Client) -> None:
    doc = gql.endpoints_query(gql.API_ATTRIBUTES, gql.API_METRICS, service_filter=True)
    body = post(
        client,
        doc,
        {
            "between": window(),
            "limit": 50,
            "filterBy": [
                {
                    "keyExpression": {"key": "serviceId"},
                    "operator": "EQUALS",
                    "type": "ATTRIBUTE",
                    "value": "svc-00002",
                }
            ],
        },
    ).json()
    rows = body["data"]["entities"]["results"]
    assert body["data"]["entities"]["total"] == 4
    assert {r["serviceId"] for r in rows} == {"svc-00002"}
    first = rows[0]
    assert first["id"] == "api-00002-001"
    assert first["name"].split(" ", 1)[0] in {"GET", "POST", "PUT", "PATCH", "DELETE"}
    assert isinstance(first["isExternal"], bool) and isinstance(first["riskScore"], float)
    assert first["riskScoreCategory"] in {"LOW", "MEDIUM", "HIGH", "CRITICAL"}
    assert isinstance(first["numCalls"]["sum"]["value"], float)
    ordered = post(
        client,
        """
        query($b: InputTimeRange!) { entities(scope: "API", between: $b, limit: 100,
            orderBy: [{keyExpression: {key: "riskScore"}, direction: DESC}]) {
          results { id score: attribute(key: "riskScore") } } }""",
        {"b": window()},
    ).json()
    scores = [r["score"] for r in ordered["data"]["entities"]["results"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 64


def test_fragments_aliases_typename_and_directives(client: httpx.Client) -> None:
    body = post(
        client,
        """
        query Q($b: InputTimeRange!, $skip: Boolean!) {
          s: entities(type: SERVICE, between: $b, limit: 1) { ...set }
          e: entities(scope: "API", between: $b, limit: 1) { total @skip(if: $skip) }
        }
        fragment set on EntityResultSet { __typename results { ... on Entity { id type
          n: attribute(expression: {key: "name"}) labels { total } } } }
    """,
        {"b": window(), "skip": True},
    ).json()
    assert body == {
        "data": {
            "s": {
                "__typename": "EntityResultSet",
                "results": [
                    {
                        "id": "svc-00001",
                        "type": "SERVICE",
                        "n": "billing-0001",
                        "labels": {"total": 0},
                    }
                ],
            },
            "e": {},
        }
    }


def test_metadata_and_a_tenant_lacking_an_attribute(
    client: httpx.Client, sim: TraceableSimulator
) -> None:
    meta = post(client, gql.METADATA).json()["data"]["metadata"]
    api = {m["name"] for m in meta if m["scope"] == "API"}
    assert {"serviceId", "riskScoreCategory", "numCalls"} <= api
    sim.tenant.drop_attribute("riskScoreCategory")
    meta = post(client, gql.METADATA).json()["data"]["metadata"]
    assert "riskScoreCategory" not in {m["name"] for m in meta if m["scope"] == "API"}
    full = gql.endpoints_query(gql.API_ATTRIBUTES, gql.API_METRICS)
    body = post(client, full, {"between": window()}).json()
    assert body["data"] is None
    assert "riskScoreCategory" in body["errors"][0]["message"]


def test_vulnerabilities_filter_and_selection(
    client: httpx.Client, sim: TraceableSimulator
) -> None:
    body = post(
        client, gql.VULNERABILITIES, {"filter": gql.OPEN_VULNERABILITIES_FILTER, "limit": 1000}
    ).json()
    rows = body["data"]["vulnerabilitiesV3"]["results"]
    expected = [v for v in sim.tenant.vulnerabilities.values() if v["STATUS"] in gql.OPEN_STATUSES]
    assert len(rows) == len(expected) > 0
    assert {r["status"]["value"] for r in rows} <= set(gql.OPEN_STATUSES)
    assert rows[0]["id"]["value"] < rows[-1]["id"]["value"]
    vid = rows[0]["id"]["value"]
    sim.tenant.fix_vulnerability(vid)
    after = post(
        client, gql.VULNERABILITIES, {"filter": gql.OPEN_VULNERABILITIES_FILTER, "limit": 1000}
    ).json()
    assert vid not in {r["id"]["value"] for r in after["data"]["vulnerabilitiesV3"]["results"]}
    nested = post(
        client,
        gql.VULNERABILITIES,
        {
            "filter": {
                "logicalFilter": {
                    "operator": "AND",
                    "filters": [
                        {
                            "relationalFilter": {
                                "key": "SEVERITY",
                                "operator": "EQUALS",
                                "value": "HIGH",
                            }
                        },
                        {
                            "relationalFilter": {
                                "key": "STATUS",
                                "operator": "NOT_EQUALS",
                                "value": "VULNERABILITY_STATUS_FIXED",
                            }
                        },
                    ],
                }
            }
        },
    ).json()
    assert {r["severity"]["value"] for r in nested["data"]["vulnerabilitiesV3"]["results"]} <= {
        "HIGH"
    }


def test_tenant_changes_show_at_once(client: httpx.Client, sim: TraceableSimulator) -> None:
    assert services(client, limit=1)["results"][0]["name"] == "billing-0001"
    sim.tenant.rename_service("svc-00001", "auth-v2")
    assert services(client, limit=1)["results"][0]["name"] == "auth-v2"
    sim.tenant.remove_service("svc-00001")
    assert services(client, limit=1)["results"][0]["id"] == "svc-00002"
    sim.tenant.add_service("svc-auth-123", "traceable-auth-service", endpoints=2)
    ids = [r["id"] for r in services(client, limit=100)["results"]]
    assert "svc-auth-123" in ids


def test_faults(client: httpx.Client, sim: TraceableSimulator) -> None:
    sim.rate_limit_next = 1
    sim.retry_after = "2"
    resp = post(client, gql.METADATA)
    assert resp.status_code == 429 and resp.headers["retry-after"] == "2"
    assert post(client, gql.METADATA).status_code == 200
    sim.fail_next, sim.fail_status = 2, 502
    assert [post(client, gql.METADATA).status_code for _ in range(3)] == [502, 502, 200]
    sim.malformed_next = 1
    resp = post(client, gql.METADATA)
    assert resp.status_code == 200
    with pytest.raises(ValueError):
        resp.json()
    sim.fail_on("Services", offset=6, status=500, times=1)
    ok = client.post(
        "/graphql",
        json={
            "query": gql.SERVICES,
            "operationName": "Services",
            "variables": {"between": window(), "offset": 0},
        },
    )
    failing = client.post(
        "/graphql",
        json={
            "query": gql.SERVICES,
            "operationName": "Services",
            "variables": {"between": window(), "offset": 6},
        },
    )
    again = client.post(
        "/graphql",
        json={
            "query": gql.SERVICES,
            "operationName": "Services",
            "variables": {"between": window(), "offset": 6},
        },
    )
    assert (ok.status_code, failing.status_code, again.status_code) == (200, 500, 200)
    assert sim.calls("Services") == 3
    assert all("variables" in r and TOKEN not in str(r) for r in sim.requests)
    sim.delay = 0.3
    with pytest.raises(httpx.ReadTimeout):
        client.post("/graphql", json={"query": gql.METADATA}, timeout=0.1)


def test_introspection(client: httpx.Client) -> None:
    body = post(client, "{ __schema { queryType { name } } }").json()
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


def test_a_large_tenant_is_generated_deterministically() -> None:
    a = Tenant(300, 20, now_ms=1_790_000_000_000)
    b = Tenant(300, 20, now_ms=1_790_000_000_000)
    assert len(a.endpoints) == 6000
    assert a.endpoints == b.endpoints and a.vulnerabilities == b.vulnerabilities
    exposed = [
        e
        for e in a.endpoints.values()
        if e["isExternal"] and not e["isAuthenticated"] and e["dataTypeIds"]
    ]
    assert exposed, "the generated tenant has external unauthenticated sensitive endpoints"

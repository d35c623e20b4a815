"""APIs (``/v3/apis``), their specifications, the contract's five API-mapping
operations and the consumed APIs (an extension) over HTTP, on SQLite and PostgreSQL,
validated against the contract."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from conftest import LiveServer
from contract import Contract
from service_catalog.auth.service import create_token

OPENAPI = json.dumps(
    {
        "openapi": "3.0.3",
        "info": {"title": "Orders", "version": "1.0.0"},
        "paths": {"/orders": {"get": {"responses": {"200": {"description": "ok"}}}}},
    }
)
ASYNCAPI = """
asyncapi: 3.0.0
info:
  title: Order events
  version: 1.0.0
channels:
  orderPlaced:
    address: orders.placed
"""
SWAGGER = "swagger: '2.0'\ninfo: {title: Legacy, version: '0.9'}\npaths: {}\n"


def make_api(api: httpx.Client, name: str, **body: Any) -> dict[str, Any]:
    resp = api.post("/v3/apis", json={"name": name, **body})
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


def test_apis_and_their_specifications(api: httpx.Client) -> None:
    orders = make_api(
        api,
        "Orders API",
        version="1.0.0",
        description="Orders",
        labels={"team": "core"},
        spec_content=OPENAPI,
    )
    assert orders["slug"] == "orders-api-1-0-0" and orders["version"] == "1.0.0"
    assert orders["portals"] == [] and orders["labels"] == {"team": "core"}
    assert len(orders["api_spec_ids"]) == 1
    spec_id = orders["api_spec_ids"][0]
    spec = api.get(f"/v3/apis/{orders['id']}/specifications/{spec_id}")
    assert spec.status_code == 200 and spec.json()["type"] == "oas3"
    assert spec.json()["content"] == OPENAPI and spec.json()["validation_messages"] == []

    v2 = make_api(api, "Orders API", version="2.0.0")  # another version: another API
    assert v2["api_spec_ids"] == [] and v2["description"] is None
    unversioned = make_api(api, "Events", slug="events")
    assert unversioned["version"] is None
    taken = api.post("/v3/apis", json={"name": "Orders API", "version": "1.0.0"})
    assert taken.status_code == 409, taken.text
    assert api.post("/v3/apis", json={"name": "Other", "slug": "events"}).status_code == 409

    listed = api.get("/v3/apis", params={"filter[name]": "Orders API", "sort": "created_at"})
    assert [a["version"] for a in listed.json()["data"]] == ["1.0.0", "2.0.0"]
    assert listed.json()["meta"]["page"]["total"] == 2

    changed = api.patch(f"/v3/apis/{v2['id']}", json={"description": "Next", "labels": {}})
    assert changed.status_code == 200 and changed.json()["description"] == "Next"
    clash = api.patch(f"/v3/apis/{v2['id']}", json={"version": "1.0.0"})
    assert clash.status_code == 409, clash.text

    base = f"/v3/apis/{unversioned['id']}/specifications"
    added = api.post(base, json={"content": ASYNCAPI})
    assert added.status_code == 201 and added.json()["type"] == "asyncapi", added.text
    legacy = api.post(base, json={"content": SWAGGER, "type": "oas2"})
    assert legacy.status_code == 201 and legacy.json()["type"] == "oas2", legacy.text
    assert api.get(base).json()["meta"]["page"]["total"] == 2
    assert len(api.get(f"/v3/apis/{unversioned['id']}").json()["api_spec_ids"]) == 2

    bad: list[tuple[dict[str, Any], str]] = [
        ({"content": "{not json: [unclosed"}, "neither JSON nor YAML"),
        ({"content": "just text"}, "not an object"),
        ({"content": "{}"}, "no openapi, swagger or asyncapi"),
        ({"content": '{"openapi": "4.0"}'}, "not supported"),
        ({"content": '{"openapi": "3.0.0", "paths": {}}'}, "info must be an object"),
        ({"content": '{"openapi": "3.0.0", "info": {"title": "x"}}'}, "info.version"),
        ({"content": OPENAPI, "type": "asyncapi"}, "but the document is [oas3]"),
        ({"content": "   "}, "empty"),
        ({"content": OPENAPI, "type": "raml"}, "type"),
        ({"content": OPENAPI, "extra": 1}, "extra"),
    ]
    for body, words in bad:
        resp = api.post(base, json=body)
        assert resp.status_code == 400, (body, resp.text)
        assert words in resp.text, resp.text
        assert resp.json()["invalid_parameters"]
    refused = api.post("/v3/apis", json={"name": "Broken", "spec_content": "{}"})
    assert refused.status_code == 400
    assert api.get("/v3/apis", params={"filter[name]": "Broken"}).json()["data"] == []

    assert api.delete(f"{base}/{added.json()['id']}").status_code == 204
    assert api.get(f"{base}/{added.json()['id']}").status_code == 404
    assert api.delete(f"/v3/apis/{unversioned['id']}").status_code == 204
    assert api.get(f"/v3/apis/{unversioned['id']}").status_code == 404
    assert api.get(f"{base}/{legacy.json()['id']}").status_code == 404
    assert api.get("/v3/apis/not-a-uuid").status_code == 404


def test_the_five_api_mapping_operations(api: httpx.Client, contract: Contract) -> None:
    s1 = api.post("/v1/catalog-services", json={"name": "s1", "display_name": "S1"}).json()
    s2 = api.post("/v1/catalog-services", json={"name": "s2", "display_name": "S2"}).json()
    a1, a2 = make_api(api, "A1")["id"], make_api(api, "A2")["id"]

    base = f"/v1/catalog-services/{s1['id']}/api-mappings"
    m1 = contract.check(
        api.post(base, json={"api_id": a1}), 201, response="CatalogServiceApiMappingResponse"
    )
    assert (m1["service_id"], m1["api_id"]) == (s1["id"], a1)
    m2 = contract.check(
        api.post("/v1/catalog-services/s1/api-mappings", json={"api_id": a2}),  # by name
        201,
        response="CatalogServiceApiMappingResponse",
    )
    m3 = contract.check(
        api.post(f"/v1/catalog-services/{s2['id']}/api-mappings", json={"api_id": a1}),
        201,
        response="CatalogServiceApiMappingResponse",
    )
    assert api.post(base, json={"api_id": a1}).status_code == 409
    assert api.post(base, json={"api_id": str(uuid.uuid4())}).status_code == 404
    assert api.post(base, json={"api_id": "nope"}).status_code == 400
    assert api.post(base, json={}).status_code == 400
    assert api.post(base, json={"api_id": a1, "x": 1}).status_code == 400

    page = contract.check(api.get(base), 200, response="ListCatalogServiceApiMappingsResponse")
    assert [m["id"] for m in page["data"]] == [m2["id"], m1["id"]]  # newest first
    assert page["meta"]["page"]["total"] == 2
    oldest = contract.check(
        api.get(base, params={"sort": "created_at"}),
        200,
        response="ListCatalogServiceApiMappingsResponse",
    )
    assert [m["id"] for m in oldest["data"]] == [m1["id"], m2["id"]]
    only = api.get(base, params={"filter[api_id][eq]": a2}).json()
    assert [m["id"] for m in only["data"]] == [m2["id"]]
    assert api.get(base, params={"filter[service_id]": s1["id"]}).status_code == 400

    one = contract.check(
        api.get(f"{base}/{m1['id']}"), 200, response="CatalogServiceApiMappingResponse"
    )
    assert one == m1
    assert api.get(f"/v1/catalog-services/{s2['id']}/api-mappings/{m1['id']}").status_code == 404

    by_api = contract.check(
        api.get(f"/v1/apis/{a1}/service-mappings"),
        200,
        response="ListCatalogServiceApiMappingsResponse",
    )
    assert {m["id"] for m in by_api["data"]} == {m1["id"], m3["id"]}
    narrowed = api.get(f"/v1/apis/{a1}/service-mappings", params={"filter[service_id]": s2["id"]})
    assert [m["id"] for m in narrowed.json()["data"]] == [m3["id"]]
    assert api.get(f"/v1/apis/{uuid.uuid4()}/service-mappings").status_code == 404

    assert api.delete(f"{base}/{m1['id']}").status_code == 204
    assert api.get(f"{base}/{m1['id']}").status_code == 404
    assert api.delete(f"{base}/{m1['id']}").status_code == 404
    # deleting an API or a service deletes its mappings
    assert api.delete(f"/v3/apis/{a2}").status_code == 204
    assert api.get(base).json()["data"] == []
    assert api.delete(f"/v1/catalog-services/{s2['id']}").status_code == 204
    assert api.get(f"/v1/apis/{a1}/service-mappings").json()["data"] == []

    types = [
        e["type"]
        for e in api.get("/v1/audit-log", params={"page[size]": 100}).json()["data"]
        if "api_mapping" in e["type"]
    ]
    assert sorted(types) == ["catalog_service.api_mapping_created"] * 3 + [
        "catalog_service.api_mapping_deleted"
    ]


def test_consumed_apis_recorded_and_removed_by_hand(api: httpx.Client, contract: Contract) -> None:
    s1 = api.post("/v1/catalog-services", json={"name": "c1", "display_name": "C1"}).json()
    s2 = api.post("/v1/catalog-services", json={"name": "c2", "display_name": "C2"}).json()
    a1, a2 = make_api(api, "Used")["id"], make_api(api, "Also used")["id"]
    base = f"/v1/catalog-services/{s1['id']}/consumed-api-mappings"
    m1 = contract.check(
        api.post(base, json={"api_id": a1}), 201, response="CatalogServiceApiMappingResponse"
    )
    assert (m1["service_id"], m1["api_id"]) == (s1["id"], a1)
    m2 = contract.check(
        api.post("/v1/catalog-services/c1/consumed-api-mappings", json={"api_id": a2}),
        201,
        response="CatalogServiceApiMappingResponse",
    )
    m3 = api.post(f"/v1/catalog-services/{s2['id']}/consumed-api-mappings", json={"api_id": a1})
    assert m3.status_code == 201, m3.text

    duplicate = api.post(base, json={"api_id": a1})
    assert duplicate.status_code == 409 and "already consumes" in duplicate.json()["detail"]
    unknown = api.post(base, json={"api_id": str(uuid.uuid4())})
    assert unknown.status_code == 404 and "API" in unknown.json()["detail"]
    assert api.post(base, json={"api_id": "nope"}).status_code == 400
    assert api.post(base, json={}).status_code == 400
    assert api.post(base, json={"api_id": a1, "x": 1}).status_code == 400
    nowhere = f"/v1/catalog-services/{uuid.uuid4()}/consumed-api-mappings"
    assert api.post(nowhere, json={"api_id": a1}).status_code == 404

    # Consumed, not provided: the contract's mapping lists never show them.
    assert api.get(f"/v1/catalog-services/{s1['id']}/api-mappings").json()["data"] == []
    assert api.get(f"/v1/apis/{a1}/service-mappings").json()["data"] == []
    page = contract.check(api.get(base), 200, response="ListCatalogServiceApiMappingsResponse")
    assert [m["id"] for m in page["data"]] == [m2["id"], m1["id"]]  # newest first
    one = contract.check(
        api.get(f"{base}/{m1['id']}"), 200, response="CatalogServiceApiMappingResponse"
    )
    assert one == m1

    # Another service's consumed API is none of this one's.
    other = f"/v1/catalog-services/{s2['id']}/consumed-api-mappings/{m1['id']}"
    assert api.get(other).status_code == 404
    assert api.delete(other).status_code == 404
    assert api.delete(f"{base}/{uuid.uuid4()}").status_code == 404
    assert api.delete(f"{base}/not-an-id").status_code == 404
    assert api.delete(f"{base}/{m1['id']}").status_code == 204
    assert api.get(f"{base}/{m1['id']}").status_code == 404
    assert api.delete(f"{base}/{m1['id']}").status_code == 404
    assert [m["id"] for m in api.get(base).json()["data"]] == [m2["id"]]
    assert (
        len(api.get(f"/v1/catalog-services/{s2['id']}/consumed-api-mappings").json()["data"]) == 1
    )

    entries = api.get("/v1/audit-log", params={"page[size]": 100}).json()["data"]
    consumed = [e for e in entries if "api_consumer" in e["type"]]
    assert sorted(e["type"] for e in consumed) == ["catalog_service.api_consumer_created"] * 3 + [
        "catalog_service.api_consumer_deleted"
    ]
    deleted = next(e for e in consumed if e["type"].endswith("_deleted"))
    assert deleted["attributes"]["consumer_id"] == m1["id"]
    assert deleted["attributes"]["api_id"] == a1


def _token(server: LiveServer, name: str, role: str, entity: str = "*") -> str:
    with server.db.session() as s:
        _, token = create_token(s, name=name, role=role, entity_id=entity)
    return token


def test_rights(server: LiveServer, api: httpx.Client) -> None:
    s1 = api.post("/v1/catalog-services", json={"name": "r1", "display_name": "R1"}).json()
    s2 = api.post("/v1/catalog-services", json={"name": "r2", "display_name": "R2"}).json()
    a1 = make_api(api, "Shared")["id"]
    api.post(f"/v1/catalog-services/{s1['id']}/api-mappings", json={"api_id": a1})
    api.post(f"/v1/catalog-services/{s2['id']}/api-mappings", json={"api_id": a1})

    viewer = _token(server, "viewer", "Service Viewer", s1["id"])
    with server.client(viewer) as v:
        assert v.get("/v3/apis").json()["meta"]["page"]["total"] == 1  # any principal reads
        assert v.post("/v3/apis", json={"name": "Nope"}).status_code == 403
        assert v.delete(f"/v3/apis/{a1}").status_code == 403
        seen = v.get(f"/v1/apis/{a1}/service-mappings").json()["data"]
        assert [m["service_id"] for m in seen] == [s1["id"]]  # r2 is not its to see
        assert v.get("/v1/catalog-services/r2/api-mappings").status_code == 404
        assert v.get("/v1/catalog-services/r1/api-mappings").status_code == 200
        refused = v.post("/v1/catalog-services/r1/api-mappings", json={"api_id": a1})
        assert refused.status_code == 403, refused.text
    creator = _token(server, "creator", "Service Creator")
    with server.client(creator) as c:
        made = c.post("/v3/apis", json={"name": "By a creator"})
        assert made.status_code == 201, made.text
    admin = _token(server, "admin-r1", "Service Admin", s1["id"])
    with server.client(admin) as adm:
        m = adm.get("/v1/catalog-services/r1/api-mappings").json()["data"][0]
        assert adm.delete(f"/v1/catalog-services/r1/api-mappings/{m['id']}").status_code == 204
        assert adm.post("/v3/apis", json={"name": "Not an admin's"}).status_code == 403

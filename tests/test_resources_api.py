"""Resources over HTTP (list, get, initialize, bulk push, archive, their services), on SQLite
and PostgreSQL, validated against the contract."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from contract import Contract
from service_catalog.events.models import Event
from service_catalog.resources.ids import resource_id
from service_catalog.resources.models import Resource
from sync_support import create_instance

CUSTOM = "custom_resource"


@pytest.fixture
def inst(api: httpx.Client) -> dict[str, Any]:
    return create_instance(api)


def push(
    api: httpx.Client, contract: Contract, iid: str, items: list[dict[str, Any]], status: int = 200
) -> dict[str, Any]:
    resp = api.put(f"/v1/integration-instances/{iid}/resources", json={"data": items})
    body = contract.check(resp, status)
    if status == 200:
        for item in body["data"]:
            contract.validate(item, schema="CatalogResource")
    return body


def item(n: int, **extra: Any) -> dict[str, Any]:
    body = {
        "name": f"res-{n:03d}",
        "type": CUSTOM,
        "config": {"id": f"r{n}"},
        "integration_data": {"n": n, "owner": f"team-{n % 3}", "deep": {"tier": n % 2}},
    }
    body.update(extra)
    return body


def make_service(api: httpx.Client, name: str) -> dict[str, Any]:
    resp = api.post("/v1/catalog-services", json={"name": name, "display_name": name.title()})
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


# --- push and initialize ------------------------------------------------------------


def test_push_creates_updates_and_reports_counts(
    api: httpx.Client, contract: Contract, server: Any, inst: dict[str, str]
) -> None:
    first = push(api, contract, inst["id"], [item(i) for i in range(3)])
    assert first["meta"] == {"created": 3, "updated": 0, "unchanged": 0}
    r0 = first["data"][0]
    assert r0["id"] == resource_id(uuid.UUID(inst["id"]), CUSTOM, {"id": "r0"})
    assert r0["name"] == "res-000" and r0["integration_data"]["n"] == 0
    assert r0["integration"] == {
        "name": "custom",
        "display_name": "Custom",
        "instance": {"id": inst["id"], "name": "custom-prod", "display_name": "Custom-Prod"},
    }
    assert r0["archived"] is False and r0["service_associations"] == 0
    assert r0["discovered"] is True
    again = push(
        api, contract, inst["id"], [item(0), item(1, integration_data={"changed": True}), item(3)]
    )
    assert again["meta"] == {"created": 1, "updated": 1, "unchanged": 1}
    assert [r["id"] for r in again["data"]][:2] == [r0["id"], first["data"][1]["id"]]
    unchanged = contract.check(
        api.get(f"/v1/resources/{r0['id']}"), 200, response="CatalogResourceResponse"
    )
    assert unchanged["updated_at"] == r0["updated_at"]
    changed = api.get(f"/v1/resources/{first['data'][1]['id']}").json()
    assert changed["integration_data"] == {"changed": True}
    assert changed["updated_at"] > first["data"][1]["updated_at"]
    # A push that changes nothing records nothing; the others are in the audit trail.
    noop = push(api, contract, inst["id"], [item(0)])
    assert noop["meta"] == {"created": 0, "updated": 0, "unchanged": 1}
    with server.db.session() as s:
        pushed = list(s.scalars(select(Event.attributes).where(Event.type == "resource.pushed")))
    assert sorted((a["created"], a["updated"]) for a in pushed) == [(1, 1), (3, 0)]


def test_push_validation_names_the_item(
    api: httpx.Client, contract: Contract, inst: dict[str, str]
) -> None:
    url = f"/v1/integration-instances/{inst['id']}/resources"
    cases: list[tuple[Any, str]] = [
        ({"data": [item(0), item(1), item(2), item(3, type="nope")]}, "data.3.type"),
        ({"data": [item(0, config="x")]}, "data.0.config"),
        ({"data": [item(0, name="")]}, "data.0.name"),
        ({"data": [item(0, integration_data=[1])]}, "data.0.integration_data"),
        ({"data": [item(0, extra=1)]}, "data.0.extra"),
        ({"data": [item(0, config={"id": 5})]}, "data.0.config.id"),
        ({"data": [item(0, config={"id": "a", "x": 1})]}, "data.0.config.x"),
        ({"data": [{"type": CUSTOM}]}, "data.0.config"),
        ({"data": "x"}, "data"),
        ({}, "data"),
        ({"data": [item(i) for i in range(1001)]}, "data"),
    ]
    for body, field in cases:
        problem = contract.check(api.put(url, json=body), 400)
        fields = [p["field"] for p in problem["invalid_parameters"]]
        assert field in fields, (body if len(str(body)) < 300 else field, problem)
    # Nothing was stored by any of them.
    listing = api.get("/v1/resources").json()
    assert listing["data"] == []
    bad_json = api.put(url, content=b"{not json", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400
    nan = api.put(
        url,
        content=b'{"data": [{"type": "custom_resource", "config": {"id": NaN}}]}',
        headers={"content-type": "application/json"},
    )
    assert nan.status_code == 400, nan.text


def test_push_to_unknown_instance_is_404(api: httpx.Client, contract: Contract) -> None:
    for iid in (str(uuid.uuid4()), "not-a-uuid"):
        problem = contract.check(
            api.put(f"/v1/integration-instances/{iid}/resources", json={"data": [item(0)]}), 404
        )
        assert iid in problem["detail"]


def test_duplicates_in_push_last_wins(
    api: httpx.Client, contract: Contract, inst: dict[str, str]
) -> None:
    body = push(api, contract, inst["id"], [item(0, name="first"), item(0, name="last")])
    assert body["meta"]["created"] == 1 and len(body["data"]) == 1
    assert body["data"][0]["name"] == "last"


def test_initialize_then_hydrate(
    api: httpx.Client, contract: Contract, server: Any, inst: dict[str, str]
) -> None:
    url = f"/v1/integration-instances/{inst['id']}/resources"
    created = contract.check(
        api.post(url, json={"type": CUSTOM, "config": {"id": "r7"}}),
        201,
        response="CatalogResourceResponse",
    )
    assert created["name"] is None and created["integration_data"] is None
    assert created["id"] == resource_id(uuid.UUID(inst["id"]), CUSTOM, {"id": "r7"})
    same = contract.check(
        api.post(url, json={"type": CUSTOM, "config": {"id": "r7"}}),
        200,
        response="CatalogResourceResponse",
    )
    assert same == created
    hydrated = push(api, contract, inst["id"], [item(7)])
    assert hydrated["meta"] == {"created": 0, "updated": 1, "unchanged": 0}
    assert hydrated["data"][0]["name"] == "res-007"
    with server.db.session() as s:
        types = list(s.scalars(select(Event.type).where(Event.resource_id == created["id"])))
    assert "resource.initialized" in types


def test_initialize_validation(
    api: httpx.Client, contract: Contract, server: Any, inst: dict[str, str]
) -> None:
    url = f"/v1/integration-instances/{inst['id']}/resources"
    for body, field, rule in (
        ({"type": "gateway_svc", "config": {"id": "x"}}, "type", "enum"),
        ({"type": CUSTOM, "config": []}, "config", "is_object"),
        ({"type": CUSTOM}, "config", "required"),
        ({"type": "", "config": {"id": "x"}}, "type", "min_length"),
        ({"type": CUSTOM, "config": {"id": "x"}, "name": "n"}, "name", "unknown_property"),
        ({"type": CUSTOM, "config": {}}, "config.id", "required"),
        ({"type": CUSTOM, "config": {"id": "x" * 20000}}, "config", "max_length"),
    ):
        problem = contract.check(api.post(url, json=body), 400)
        assert (field, rule) in [
            (p["field"], p.get("rule")) for p in problem["invalid_parameters"]
        ], problem
    contract.check(
        api.post(
            f"/v1/integration-instances/{uuid.uuid4()}/resources",
            json={"type": CUSTOM, "config": {"id": "x"}},
        ),
        404,
    )
    with server.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Resource)) == 0


def test_instance_with_configured_resource_type(
    api: httpx.Client, contract: Contract, server: Any
) -> None:
    other = create_instance(
        api,
        "inv",
        integration="rest-inventory",
        base_url="http://127.0.0.1:1",
        resource_type="server",
    )
    url = f"/v1/integration-instances/{other['id']}/resources"
    ok = contract.check(
        api.post(url, json={"type": "server", "config": {"item_id": "1"}}),
        201,
        response="CatalogResourceResponse",
    )
    assert ok["integration"]["display_name"] == "REST Inventory"
    contract.check(
        api.post(url, json={"type": "inventory_item", "config": {"item_id": "1"}}),
        201,
        response="CatalogResourceResponse",
    )
    contract.check(api.post(url, json={"type": "other", "config": {"item_id": "1"}}), 400)


# --- get and list ---------------------------------------------------------------------


def test_get_unknown_is_404(api: httpx.Client, contract: Contract) -> None:
    for rid in ("AAAAAAAAAAAAAAAA", "x", "a" * 300):
        problem = contract.check(api.get(f"/v1/resources/{rid}"), 404)
        assert "Resource" in problem["detail"]


def test_cursor_paging_both_spellings(
    api: httpx.Client, contract: Contract, inst: dict[str, str]
) -> None:
    push(api, contract, inst["id"], [item(i) for i in range(25)])
    seen: list[str] = []
    page = contract.check(
        api.get("/v1/resources", params={"page[size]": 10}),
        200,
        response="ListCatalogResourcesResponse",
    )
    assert page["meta"]["page"]["size"] == 10 and page["meta"]["page"]["previous"] is None
    assert page["meta"]["page"]["first"].startswith("/v1/resources")
    seen += [r["id"] for r in page["data"]]
    nxt = page["meta"]["page"]["next"]
    while nxt:
        assert nxt.startswith("/v1/resources?")
        page = contract.check(api.get(nxt), 200, response="ListCatalogResourcesResponse")
        seen += [r["id"] for r in page["data"]]
        nxt = page["meta"]["page"]["next"]
    assert len(seen) == 25 and len(set(seen)) == 25
    # Bare size/after work as page[size]/page[after].
    first = api.get("/v1/resources", params={"size": 5, "sort": "name"}).json()
    assert [r["name"] for r in first["data"]] == [f"res-{i:03d}" for i in range(5)]
    cursor = first["meta"]["page"]["next"].split("page%5Bafter%5D=")[1]
    second = contract.check(
        api.get("/v1/resources", params={"size": 5, "sort": "name", "after": cursor}),
        200,
        response="ListCatalogResourcesResponse",
    )
    assert [r["name"] for r in second["data"]] == [f"res-{i:03d}" for i in range(5, 10)]
    back = api.get(second["meta"]["page"]["previous"]).json()
    assert [r["name"] for r in back["data"]] == [f"res-{i:03d}" for i in range(5)]
    # Default sort is created_at desc: the newest first.
    newest = api.get("/v1/resources", params={"page[size]": 1000}).json()["data"]
    stamps = [r["created_at"] for r in newest]
    assert stamps == sorted(stamps, reverse=True)


def test_bad_cursor_and_page_size(api: httpx.Client, contract: Contract) -> None:
    for params, field in (
        ({"page[after]": "garbage!!"}, "page[after]"),
        ({"after": "eyJ4Ijp9"}, "page[after]"),
        ({"page[size]": 0}, "page[size]"),
        ({"page[size]": 1001}, "page[size]"),
        ({"size": "x"}, "size"),
        ({"sort": "nope"}, "sort"),
        ({"filter[nope]": "x"}, "filter[nope]"),
        ({"filter[archived]": "maybe"}, "filter[archived]"),
        ({"filter[created_at][gte]": "yesterday"}, "filter[created_at][gte]"),
        ({"filter[integration.instance.id]": "x"}, "filter[integration.instance.id]"),
    ):
        problem = contract.check(api.get("/v1/resources", params=params), 400)
        assert problem["invalid_parameters"][0]["field"] == field, problem


def test_filters(api: httpx.Client, contract: Contract, server: Any, inst: dict[str, str]) -> None:
    other = create_instance(api, "custom-dev", display_name="Development")
    data = push(api, contract, inst["id"], [item(i) for i in range(6)])["data"]
    push(api, contract, other["id"], [item(100)])
    svc = make_service(api, "svc-a")
    api.post("/v1/resource-mappings", json={"service": svc["id"], "resource": data[0]["id"]})

    def ids(**params: Any) -> set[str]:
        params.setdefault("page[size]", 100)
        body = contract.check(
            api.get("/v1/resources", params=params), 200, response="ListCatalogResourcesResponse"
        )
        return {r["name"] for r in body["data"]}

    assert ids(**{"filter[id]": data[1]["id"]}) == {"res-001"}
    assert ids(**{"filter[id][oeq]": f"{data[1]['id']},{data[2]['id']}"}) == {"res-001", "res-002"}
    assert ids(**{"filter[name][contains]": "RES-00"}) == {f"res-{i:03d}" for i in range(6)}
    assert ids(**{"filter[name][ocontains]": "001,100"}) == {"res-001", "res-100"}
    assert ids(**{"filter[type]": CUSTOM}) == {*(f"res-{i:03d}" for i in range(6)), "res-100"}
    assert ids(**{"filter[type][neq]": CUSTOM}) == set()
    assert ids(**{"filter[integration.name]": "custom"}) == ids()
    assert ids(**{"filter[integration.display_name][contains]": "cust"}) == ids()
    assert ids(**{"filter[integration.instance.id]": other["id"]}) == {"res-100"}
    assert ids(**{"filter[integration.instance.name]": "custom-dev"}) == {"res-100"}
    assert ids(**{"filter[integration.instance.display_name][contains]": "develop"}) == {"res-100"}
    assert ids(**{"filter[config.id]": "r3"}) == {"res-003"}
    assert ids(**{"filter[config.id][oeq]": "r3,r4"}) == {"res-003", "res-004"}
    assert ids(**{"filter[integration_data.owner]": "team-1"}) == {"res-001", "res-004", "res-100"}
    assert ids(**{"filter[integration_data.deep.tier]": "1"}) == {"res-001", "res-003", "res-005"}
    assert ids(**{"filter[integration_data.n][gte]": "4"}) == {"res-004", "res-005", "res-100"}
    assert ids(**{"filter[service_associations]": "1"}) == {"res-000"}
    assert ids(**{"filter[service_associations][gt]": "0"}) == {"res-000"}
    assert len(ids(**{"filter[service_associations]": "0"})) == 6
    assert ids(**{"filter[archived]": "true"}) == set()
    assert len(ids(**{"filter[archived]": "false"})) == 7
    assert len(ids(**{"filter[discovered]": "true"})) == 7
    assert len(ids(**{"filter[created_at][gte]": "2000-01-01T00:00:00Z"})) == 7
    assert ids(**{"filter[updated_at][lt]": "2000-01-01T00:00:00Z"}) == set()
    # Paging through a filtered list keeps the filter in the links.
    page = api.get(
        "/v1/resources", params={"filter[integration.instance.id]": inst["id"], "page[size]": 4}
    ).json()
    assert "filter%5Bintegration.instance.id%5D" in page["meta"]["page"]["next"]
    rest = api.get(page["meta"]["page"]["next"]).json()
    assert len(page["data"]) + len(rest["data"]) == 6 and rest["meta"]["page"]["next"] is None


# --- archive --------------------------------------------------------------------------


def test_archive_removes_mappings_and_restore_does_not_bring_them_back(
    api: httpx.Client, contract: Contract, server: Any, inst: dict[str, str]
) -> None:
    res = push(api, contract, inst["id"], [item(0)])["data"][0]
    svc_a, svc_b = make_service(api, "svc-a"), make_service(api, "svc-b")
    for svc in (svc_a, svc_b):
        contract.check(
            api.post("/v1/resource-mappings", json={"service": svc["name"], "resource": res["id"]}),
            201,
            response="CatalogResourceMappingResponse",
        )
    got = api.get(f"/v1/resources/{res['id']}").json()
    assert got["service_associations"] == 2
    url = f"/v1/integration-instances/{inst['id']}/resources/{res['id']}"
    archived = contract.check(
        api.patch(url, json={"archived": True}), 200, response="CatalogResourceResponse"
    )
    assert archived["archived"] is True and archived["service_associations"] == 0
    maps = api.get("/v1/resource-mappings", params={"filter[resource.id]": res["id"]}).json()
    assert maps["meta"]["page"]["total"] == 0
    # An archived resource cannot be mapped.
    problem = contract.check(
        api.post("/v1/resource-mappings", json={"service": "svc-a", "resource": res["id"]}), 400
    )
    assert "archived" in problem["detail"]
    restored = contract.check(
        api.patch(url, json={"archived": False}), 200, response="CatalogResourceResponse"
    )
    assert restored["archived"] is False and restored["service_associations"] == 0
    # A sync keeps an archived resource archived.
    with server.db.session() as s:
        types = list(s.scalars(select(Event.type).where(Event.resource_id == res["id"])))
    assert types.count("resource_mapping.deleted") == 2
    assert "resource.archived" in types and "resource.restored" in types
    assert (
        contract.check(api.patch(url, json={}), 200, response="CatalogResourceResponse")["archived"]
        is False
    )


def test_archive_errors(
    api: httpx.Client, contract: Contract, server: Any, inst: dict[str, str]
) -> None:
    res = push(api, contract, inst["id"], [item(0)])["data"][0]
    other = create_instance(api, "custom-dev")
    contract.check(
        api.patch(
            f"/v1/integration-instances/{other['id']}/resources/{res['id']}",
            json={"archived": True},
        ),
        404,
    )
    contract.check(
        api.patch(
            f"/v1/integration-instances/{inst['id']}/resources/AAAAAAAAAAAAAAAA",
            json={"archived": True},
        ),
        404,
    )
    contract.check(
        api.patch(
            f"/v1/integration-instances/{uuid.uuid4()}/resources/{res['id']}",
            json={"archived": True},
        ),
        404,
    )
    url = f"/v1/integration-instances/{inst['id']}/resources/{res['id']}"
    for body, rule in (
        ({"archived": "yes"}, "is_boolean"),
        ({"name": "x"}, "unknown_property"),
        ([], None),
    ):
        problem = contract.check(api.patch(url, json=body), 400)
        if rule:
            assert problem["invalid_parameters"][0]["rule"] == rule
    assert api.get(f"/v1/resources/{res['id']}").json()["archived"] is False


# --- a resource's services --------------------------------------------------------------


def test_resource_catalog_services(
    api: httpx.Client, contract: Contract, inst: dict[str, str]
) -> None:
    res = push(api, contract, inst["id"], [item(0)])["data"][0]
    for name in ("svc-a", "svc-b", "svc-c"):
        make_service(api, name)
        api.post("/v1/resource-mappings", json={"service": name, "resource": res["id"]})
    make_service(api, "svc-unmapped")
    body = contract.check(
        api.get(
            f"/v1/resources/{res['id']}/catalog-services",
            params={"page[size]": 2, "sort": "name desc"},
        ),
        200,
        response="ListCatalogServicesResponse",
    )
    assert body["meta"]["page"] == {"number": 1, "size": 2, "total": 3}
    assert [s["name"] for s in body["data"]] == ["svc-c", "svc-b"]
    filtered = contract.check(
        api.get(f"/v1/resources/{res['id']}/catalog-services", params={"filter[name]": "svc-a"}),
        200,
        response="ListCatalogServicesResponse",
    )
    assert [s["name"] for s in filtered["data"]] == ["svc-a"]
    contract.check(api.get("/v1/resources/AAAAAAAAAAAAAAAA/catalog-services"), 404)
    contract.check(
        api.get(f"/v1/resources/{res['id']}/catalog-services", params={"filter[bogus]": "1"}), 400
    )


def test_requires_a_token(server: Any) -> None:
    with server.client(token="") as anon:
        assert anon.get("/v1/resources").status_code == 401
        assert (
            anon.put(
                f"/v1/integration-instances/{uuid.uuid4()}/resources", json={"data": []}
            ).status_code
            == 401
        )


def test_name_sort_keeps_resources_not_hydrated_yet(
    api: httpx.Client, contract: Contract, inst: dict[str, str]
) -> None:
    push(api, contract, inst["id"], [item(i) for i in range(4)])
    api.post(
        f"/v1/integration-instances/{inst['id']}/resources",
        json={"type": CUSTOM, "config": {"id": "unnamed"}},
    )
    for direction, expected in (
        ("", [None, "res-000", "res-001", "res-002", "res-003"]),
        (" desc", ["res-003", "res-002", "res-001", "res-000", None]),
    ):
        names: list[Any] = []
        url: str | None = f"/v1/resources?page%5Bsize%5D=2&sort=name{direction}"
        while url:
            page = contract.check(api.get(url), 200, response="ListCatalogResourcesResponse")
            names += [r["name"] for r in page["data"]]
            url = page["meta"]["page"]["next"]
        assert names == expected


def test_nul_characters_and_forged_cursors_are_client_errors(
    api: httpx.Client, contract: Contract, inst: dict[str, str]
) -> None:
    url = f"/v1/integration-instances/{inst['id']}/resources"
    for bad_item, field in (
        (item(0, name="a\x00b"), "data.0.name"),
        (item(0, config={"id": "a\x00"}), "data.0.config.id"),
        (item(0, integration_data={"k\x00": 1}), "data.0.integration_data"),
        (item(0, type="custom\x00"), "data.0.type"),
    ):
        problem = contract.check(api.put(url, json={"data": [bad_item]}), 400)
        assert problem["invalid_parameters"][0]["field"] == field
    contract.check(api.post(url, json={"type": CUSTOM, "config": {"id": "\x00"}}), 400)
    # A literal backslash-u0000 text is fine: it is not a NUL character.
    ok = push(api, contract, inst["id"], [item(1, name="\\u0000", config={"id": "\\u0000"})])
    assert ok["data"][0]["name"] == "\\u0000"
    for path in (
        "/v1/resources/%00",
        "/v1/resources/AAAAAAAAAAAAAAA%00",
        "/v1/resources/AAAAAAAAAAAAAAA%00/catalog-services",
    ):
        problem = contract.check(api.get(path), 400)
        assert problem["invalid_parameters"][0]["field"] == "path"
    contract.check(api.patch(f"{url}/AAAAAAAAAAAAAAA%00", json={"archived": True}), 400)
    # A cursor we could have issued only with NULL sort keys.
    problem = contract.check(
        api.get("/v1/resources", params={"page[after]": "W251bGwsbnVsbF0"}), 400
    )
    assert problem["invalid_parameters"][0]["field"] == "page[after]"
    assert api.get("/v1/resources", params={"filter[name]": "a\x00"}).status_code < 500


# --- facets ---------------------------------------------------------------------------


def _facet_pairs(api: httpx.Client, params: dict[str, str]) -> list[tuple[Any, int]]:
    resp = api.get("/v1/resources/facets", params=params)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["meta"]["field"] == params["field"]
    return [(f["value"], f["count"]) for f in body["data"]]


def test_resource_facets_count_the_matching_resources(
    api: httpx.Client, contract: Contract, inst: dict[str, str]
) -> None:
    other = create_instance(api, "custom-staging")
    push(api, contract, inst["id"], [item(n) for n in range(3)])
    push(api, contract, other["id"], [item(n) for n in range(10, 12)])
    by_instance = {"field": "integration.instance.name"}
    assert _facet_pairs(api, by_instance) == [("custom-prod", 3), ("custom-staging", 2)]
    assert _facet_pairs(api, {"field": "integration.name"}) == [("custom", 5)]
    assert _facet_pairs(api, {"field": "discovered"}) == [(True, 5)]
    # the list's filters narrow what is counted
    narrowed = {**by_instance, "filter[name][oeq]": "res-001,res-002,res-010"}
    assert _facet_pairs(api, narrowed) == [("custom-prod", 2), ("custom-staging", 1)]
    assert _facet_pairs(api, {**by_instance, "limit": "1"}) == [("custom-prod", 3)]
    for params, field in (
        # config.* and top-level integration_data.* paths are counted (their side
        # table); a deeper integration_data path is not indexed, so not countable
        ({"field": "integration_data.deep.tier"}, "field"),
        ({"field": "nope"}, "field"),
        ({}, "field"),
        ({"field": "type", "limit": "0"}, "limit"),
        ({"field": "type", "filter[nope]": "x"}, "filter[nope]"),
    ):
        resp = api.get("/v1/resources/facets", params=params)
        assert resp.status_code == 400, (params, resp.text)
        assert resp.json()["invalid_parameters"][0]["field"] == field, resp.text

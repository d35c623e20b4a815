"""Resource mappings and a service's resources over HTTP, on SQLite and PostgreSQL,
validated against the contract."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from contract import Contract
from service_catalog.events.models import Event
from service_catalog.resources.ids import resource_id
from sync_support import create_instance

CUSTOM = "custom_resource"
URL = "/v1/resource-mappings"


def push(api: httpx.Client, iid: str, *numbers: int) -> list[dict[str, Any]]:
    items = [
        {
            "name": f"res-{n}",
            "type": CUSTOM,
            "config": {"id": f"r{n}"},
            "integration_data": {"n": n},
        }
        for n in numbers
    ]
    resp = api.put(f"/v1/integration-instances/{iid}/resources", json={"data": items})
    assert resp.status_code == 200, resp.text
    data: list[dict[str, Any]] = resp.json()["data"]
    return data


def make_service(api: httpx.Client, name: str) -> dict[str, Any]:
    resp = api.post("/v1/catalog-services", json={"name": name, "display_name": name.title()})
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


@pytest.fixture
def world(api: httpx.Client) -> dict[str, Any]:
    prod = create_instance(api, "custom-prod")
    dev = create_instance(api, "custom-dev")
    return {
        "prod": prod,
        "dev": dev,
        "res": push(api, prod["id"], 0, 1, 2),
        "dev_res": push(api, dev["id"], 9),
        "svc_a": make_service(api, "svc-a"),
        "svc_b": make_service(api, "svc-b"),
    }


def create(
    api: httpx.Client, contract: Contract, service: str, resource: Any, status: int = 201
) -> dict[str, Any]:
    resp = api.post(URL, json={"service": service, "resource": resource})
    if status == 201:
        return contract.check(resp, 201, response="CatalogResourceMappingResponse")
    return contract.check(resp, status)


def test_create_get_list_delete(
    api: httpx.Client, contract: Contract, server: Any, world: dict[str, Any]
) -> None:
    res, svc = world["res"][0], world["svc_a"]
    m = create(api, contract, svc["id"], res["id"])
    assert m["service"] == {"id": svc["id"], "name": "svc-a", "display_name": "Svc-A"}
    assert m["resource"]["id"] == res["id"] and m["resource"]["name"] == "res-0"
    assert m["resource"]["config"] == {"id": "r0"} and m["resource"]["type"] == CUSTOM
    assert m["resource"]["integration"]["instance"]["name"] == "custom-prod"
    got = contract.check(
        api.get(f"{URL}/{m['id']}"), 200, response="CatalogResourceMappingResponse"
    )
    assert got == m
    listing = contract.check(api.get(URL), 200, response="ListCatalogResourceMappingsResponse")
    assert listing["meta"]["page"] == {"number": 1, "size": 10, "total": 1}
    assert listing["data"] == [m]
    assert api.get(f"/v1/resources/{res['id']}").json()["service_associations"] == 1
    assert api.delete(f"{URL}/{m['id']}").status_code == 204
    contract.check(api.get(f"{URL}/{m['id']}"), 404)
    contract.check(api.delete(f"{URL}/{m['id']}"), 404)
    # The resource and the service stay.
    assert api.get(f"/v1/resources/{res['id']}").json()["service_associations"] == 0
    assert api.get(f"/v1/catalog-services/{svc['id']}").status_code == 200
    with server.db.session() as s:
        events = list(s.scalars(select(Event).where(Event.type.like("resource_mapping.%"))))
    assert sorted(e.type for e in events) == [
        "resource_mapping.created",
        "resource_mapping.deleted",
    ]
    assert all(e.service_id == uuid.UUID(svc["id"]) and e.resource_id == res["id"] for e in events)


def test_service_by_name_and_resource_by_config(
    api: httpx.Client, contract: Contract, world: dict[str, Any]
) -> None:
    res = world["res"][1]
    by_config = {"integration_instance": "custom-prod", "type": CUSTOM, "config": {"id": "r1"}}
    m = create(api, contract, "svc-a", by_config)
    assert m["resource"]["id"] == res["id"] and m["service"]["name"] == "svc-a"
    by_id_instance = {**by_config, "integration_instance": world["prod"]["id"]}
    create(api, contract, "svc-b", by_id_instance)
    assert api.get(f"/v1/resources/{res['id']}").json()["service_associations"] == 2


def test_mapping_by_config_initializes_a_missing_resource(
    api: httpx.Client, contract: Contract, world: dict[str, Any]
) -> None:
    body = {"integration_instance": "custom-dev", "type": CUSTOM, "config": {"id": "new"}}
    m = create(api, contract, "svc-a", body)
    expected = resource_id(uuid.UUID(world["dev"]["id"]), CUSTOM, {"id": "new"})
    assert m["resource"]["id"] == expected and m["resource"]["name"] is None
    res = contract.check(
        api.get(f"/v1/resources/{expected}"), 200, response="CatalogResourceResponse"
    )
    assert res["integration_data"] is None and res["service_associations"] == 1
    # Hydrating it later keeps the mapping.
    push(api, world["dev"]["id"], 0)  # unrelated
    resp = api.put(
        f"/v1/integration-instances/{world['dev']['id']}/resources",
        json={
            "data": [
                {
                    "name": "hydrated",
                    "type": CUSTOM,
                    "config": {"id": "new"},
                    "integration_data": {"x": 1},
                }
            ]
        },
    )
    assert resp.json()["meta"]["updated"] == 1
    after = api.get(f"/v1/resources/{expected}").json()
    assert after["name"] == "hydrated" and after["service_associations"] == 1


def test_errors(api: httpx.Client, contract: Contract, world: dict[str, Any]) -> None:
    res = world["res"][0]
    create(api, contract, "svc-a", res["id"])
    dup = create(api, contract, "svc-a", res["id"], 409)
    assert res["id"] in dup["detail"] and "svc-a" in dup["detail"]
    dup_by_config = create(
        api,
        contract,
        world["svc_a"]["id"],
        {"integration_instance": "custom-prod", "type": CUSTOM, "config": {"id": "r0"}},
        409,
    )
    assert "already mapped" in dup_by_config["detail"]
    nosvc = create(api, contract, "nope", res["id"], 404)
    assert "Catalog service [nope]" in nosvc["detail"]
    nores = create(api, contract, "svc-a", "AAAAAAAAAAAAAAAA", 404)
    assert "Resource [AAAAAAAAAAAAAAAA]" in nores["detail"]
    noinst = create(
        api,
        contract,
        "svc-a",
        {"integration_instance": "ghost", "type": CUSTOM, "config": {"id": "x"}},
        404,
    )
    assert "Integration instance [ghost]" in noinst["detail"]
    cases: list[tuple[Any, str]] = [
        ({"service": "svc-a"}, "resource"),
        ({"resource": res["id"]}, "service"),
        ({"service": "", "resource": res["id"]}, "service"),
        ({"service": "svc-a", "resource": res["id"], "x": 1}, "x"),
        ({"service": "svc-a", "resource": 5}, "resource"),
        (
            {
                "service": "svc-a",
                "resource": {"integration_instance": "custom-prod", "type": CUSTOM},
            },
            "resource.config",
        ),
        (
            {
                "service": "svc-a",
                "resource": {
                    "integration_instance": "custom-prod",
                    "type": "gateway_svc",
                    "config": {"id": "1"},
                },
            },
            "resource.type",
        ),
        (
            {
                "service": "svc-a",
                "resource": {"integration_instance": "custom-prod", "type": CUSTOM, "config": {}},
            },
            "resource.config.id",
        ),
        (
            {
                "service": "svc-a",
                "resource": {
                    "integration_instance": "custom-prod",
                    "type": CUSTOM,
                    "config": {"id": "1"},
                    "y": 2,
                },
            },
            "resource.y",
        ),
    ]
    for body, field in cases:
        problem = contract.check(api.post(URL, json=body), 400)
        assert field in [p["field"] for p in problem["invalid_parameters"]], (body, problem)
    for bad in ("not-a-uuid", str(uuid.uuid4())):
        contract.check(api.get(f"{URL}/{bad}"), 404)
        contract.check(api.delete(f"{URL}/{bad}"), 404)
    # None of the failures stored anything.
    assert api.get(URL).json()["meta"]["page"]["total"] == 1


def test_filters_sort_and_paging(
    api: httpx.Client, contract: Contract, world: dict[str, Any]
) -> None:
    made = []
    for svc in ("svc-a", "svc-b"):
        for r in (*world["res"], *world["dev_res"]):
            made.append(create(api, contract, svc, r["id"]))

    def names(**params: Any) -> list[tuple[str, str]]:
        params.setdefault("page[size]", 100)
        body = contract.check(
            api.get(URL, params=params), 200, response="ListCatalogResourceMappingsResponse"
        )
        return [(m["service"]["name"], m["resource"]["name"]) for m in body["data"]]

    assert len(names()) == 8
    assert set(names(**{"filter[resource.id]": world["res"][0]["id"]})) == {
        ("svc-a", "res-0"),
        ("svc-b", "res-0"),
    }
    assert set(names(**{"filter[resource.name]": "res-9"})) == {
        ("svc-a", "res-9"),
        ("svc-b", "res-9"),
    }
    assert len(names(**{"filter[resource.name][contains]": "RES"})) == 8
    assert len(names(**{"filter[resource.type]": CUSTOM})) == 8
    assert set(names(**{"filter[resource.config.id]": "r2"})) == {
        ("svc-a", "res-2"),
        ("svc-b", "res-2"),
    }
    assert len(names(**{"filter[resource.integration.name]": "custom"})) == 8
    assert len(names(**{"filter[resource.integration.instance.id]": world["dev"]["id"]})) == 2
    assert len(names(**{"filter[resource.integration.instance.name]": "custom-prod"})) == 6
    assert (
        len(names(**{"filter[resource.integration.instance.display_name][contains]": "dev"})) == 2
    )
    assert {s for s, _ in names(**{"filter[service.id]": world["svc_b"]["id"]})} == {"svc-b"}
    assert {s for s, _ in names(**{"filter[service.name]": "svc-a"})} == {"svc-a"}
    assert len(names(**{"filter[service.display_name][contains]": "svc"})) == 8
    assert len(names(**{"filter[created_at][gte]": "2000-01-01T00:00:00Z"})) == 8
    # Default sort: newest first; created_at asc reverses it.
    body = api.get(URL, params={"page[size]": 100}).json()
    assert [m["id"] for m in body["data"]] == [m["id"] for m in reversed(made)]
    body = api.get(URL, params={"page[size]": 100, "sort": "created_at"}).json()
    assert [m["id"] for m in body["data"]] == [m["id"] for m in made]
    page = contract.check(
        api.get(URL, params={"page[size]": 3, "page[number]": 3}),
        200,
        response="ListCatalogResourceMappingsResponse",
    )
    assert page["meta"]["page"] == {"number": 3, "size": 3, "total": 8}
    assert len(page["data"]) == 2
    for params, field in (
        ({"filter[nope]": "x"}, "filter[nope]"),
        ({"filter[resource.config]": "x"}, "filter[resource.config]"),
        ({"filter[resource.config.id][lol]": "x"}, "filter[resource.config.id][lol]"),
        ({"filter[service.id]": "x"}, "filter[service.id]"),
        ({"sort": "name"}, "sort"),
        ({"page[number]": 0}, "page[number]"),
    ):
        problem = contract.check(api.get(URL, params=params), 400)
        assert problem["invalid_parameters"][0]["field"] == field, problem


def test_service_resources(api: httpx.Client, contract: Contract, world: dict[str, Any]) -> None:
    svc = world["svc_a"]
    for r in (*world["res"][:2], *world["dev_res"]):
        create(api, contract, "svc-a", r["id"])
    create(api, contract, "svc-b", world["res"][2]["id"])
    url = f"/v1/catalog-services/{svc['id']}/resources"
    body = contract.check(api.get(url), 200, response="ListCatalogServiceResourcesResponse")
    assert body["meta"]["page"] == {"number": 1, "size": 10, "total": 3}
    assert {r["name"] for r in body["data"]} == {"res-0", "res-1", "res-9"}
    assert all(r["service_associations"] == 1 for r in body["data"])
    dev = contract.check(
        api.get(url, params={"filter[integration.instance.name]": "custom-dev"}),
        200,
        response="ListCatalogServiceResourcesResponse",
    )
    assert [r["name"] for r in dev["data"]] == ["res-9"]
    by_cfg = api.get(url, params={"filter[config.id]": "r1"}).json()
    assert [r["name"] for r in by_cfg["data"]] == ["res-1"]
    paged = api.get(url, params={"page[size]": 2, "page[number]": 2, "sort": "name"}).json()
    assert [r["name"] for r in paged["data"]] == ["res-9"]
    contract.check(api.get(f"/v1/catalog-services/{uuid.uuid4()}/resources"), 404)
    contract.check(api.get(url, params={"filter[archived]": "true"}), 400)


def test_deleting_a_service_removes_its_mappings_not_resources(
    api: httpx.Client, contract: Contract, world: dict[str, Any]
) -> None:
    res = world["res"][0]
    create(api, contract, "svc-a", res["id"])
    kept = create(api, contract, "svc-b", res["id"])
    assert api.delete(f"/v1/catalog-services/{world['svc_a']['id']}").status_code == 204
    body = api.get(URL).json()
    assert [m["id"] for m in body["data"]] == [kept["id"]]
    after = contract.check(
        api.get(f"/v1/resources/{res['id']}"), 200, response="CatalogResourceResponse"
    )
    assert after["service_associations"] == 1
    assert api.get("/v1/resources").json()["data"]  # every resource is still there


def test_deleting_an_instance_removes_its_resources_and_their_mappings(
    api: httpx.Client, contract: Contract, world: dict[str, Any]
) -> None:
    for r in (*world["res"], *world["dev_res"]):
        create(api, contract, "svc-a", r["id"])
    assert api.delete(f"/v1/integration-instances/{world['prod']['id']}").status_code == 204
    for r in world["res"]:
        contract.check(api.get(f"/v1/resources/{r['id']}"), 404)
    left = api.get(URL).json()
    assert [m["resource"]["id"] for m in left["data"]] == [world["dev_res"][0]["id"]]
    assert api.get(f"/v1/catalog-services/{world['svc_a']['id']}").status_code == 200


def test_nul_in_references_is_a_client_error(
    api: httpx.Client, contract: Contract, world: dict[str, Any]
) -> None:
    """No stored name or id holds a NUL character: a reference holding one is a 400 naming
    the field, never a 500 (PostgreSQL refuses NUL as a parameter) and never a mapping."""
    res = world["res"][0]
    for body, field in (
        ({"service": "svc-a\x00", "resource": res["id"]}, "service"),
        ({"service": "svc-a", "resource": "AAAAAAAAAAAAAAA\x00"}, "resource"),
        (
            {
                "service": "svc-a",
                "resource": {
                    "integration_instance": "custom-prod\x00",
                    "type": CUSTOM,
                    "config": {"id": "r0"},
                },
            },
            "resource.integration_instance",
        ),
        (
            {
                "service": "svc-a",
                "resource": {
                    "integration_instance": "custom-prod",
                    "type": CUSTOM,
                    "config": {"id": "r\x00"},
                },
            },
            "resource.config.id",
        ),
    ):
        problem = contract.check(api.post(URL, json=body), 400)
        assert problem["invalid_parameters"][0]["field"] == field
    assert api.get(URL).json()["meta"]["page"]["total"] == 0


# --- malformed input never ends in a 5xx ---------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
RES_FIELDS = st.sampled_from(
    [
        "service",
        "resource",
        "integration_instance",
        "type",
        "config",
        "name",
        "integration_data",
        "archived",
        "data",
        "x",
    ]
)
BODY = st.one_of(
    JSON,
    st.dictionaries(RES_FIELDS, JSON, max_size=4),
    st.fixed_dictionaries(
        {"data": st.lists(st.dictionaries(RES_FIELDS, JSON, max_size=4), max_size=3)}
    ),
    st.fixed_dictionaries(
        {
            "service": st.text(max_size=10) | JSON,
            "resource": st.dictionaries(RES_FIELDS, JSON, max_size=4) | JSON,
        }
    ),
)
FILTERS = st.sampled_from(
    [
        "id",
        "name",
        "type",
        "integration.name",
        "integration.instance.id",
        "config.id",
        "integration_data.n.x",
        "archived",
        "service_associations",
        "created_at",
        "resource.config.id",
        "service.id",
        "resource.id",
        "x",
        "",
    ]
)
QKEY = st.one_of(
    st.builds(
        lambda f, op: f"filter[{f}]" + (f"[{op}]" if op else ""),
        FILTERS,
        st.sampled_from(["", "eq", "neq", "contains", "oeq", "lt", "gte", "zz"]),
    ),
    st.sampled_from(
        ["sort", "page[size]", "page[number]", "page[after]", "after", "before", "size"]
    ),
    st.text(max_size=12),
)
QUERY = st.lists(st.tuples(QKEY, st.text(max_size=30)), max_size=4)
FUZZ = settings(
    max_examples=int(os.environ.get("SERVICE_CATALOG_FUZZ_EXAMPLES", "40")),
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def test_random_bodies_and_queries_never_5xx(api: httpx.Client, world: dict[str, Any]) -> None:
    iid, rid, sid = world["prod"]["id"], world["res"][0]["id"], world["svc_a"]["id"]
    writes = [
        ("PUT", f"/v1/integration-instances/{iid}/resources"),
        ("POST", f"/v1/integration-instances/{iid}/resources"),
        ("PATCH", f"/v1/integration-instances/{iid}/resources/{rid}"),
        ("POST", URL),
    ]
    reads = [
        "/v1/resources",
        URL,
        f"/v1/catalog-services/{sid}/resources",
        f"/v1/resources/{rid}/catalog-services",
    ]

    @FUZZ
    @given(body=BODY, query=QUERY, which=st.integers(0, len(writes) + len(reads) - 1))
    def run(body: Any, query: list[tuple[str, str]], which: int) -> None:
        if which < len(writes):
            method, path = writes[which]
            resp = api.request(
                method, path, content=json.dumps(body), headers={"content-type": "application/json"}
            )
        else:
            resp = api.get(reads[which - len(writes)], params=tuple(query))
        assert resp.status_code < 500, (resp.status_code, resp.text, body, query)
        if resp.status_code >= 400:
            assert resp.json()["status"] == resp.status_code

    run()
    assert api.get(f"/v1/resources/{rid}").status_code == 200

"""GET /v1/integrations: the registry as the contract's CatalogIntegration list, with the
shared filter, sort and paging grammar; and the registry's module discovery."""

from __future__ import annotations

import time

import httpx
import pytest

from conftest import LiveServer
from contract import Contract
from service_catalog.integrations import registry
from service_catalog.integrations.connectors.base import (
    ConnectorError,
    Credential,
    ResourceRecord,
    UpstreamHTTP,
)
from service_catalog.testing.inventory_sim import InventorySimulator
from service_catalog_rest_inventory import RestInventoryConnector

URL = "/v1/integrations"


def test_lists_every_shipped_integration(api: httpx.Client, contract: Contract) -> None:
    body = contract.check(api.get(URL), 200, response="ListCatalogIntegrationsResponse")
    names = [i["name"] for i in body["data"]]
    assert {"custom", "rest-inventory"} <= set(names)
    assert body["meta"]["page"] == {"number": 1, "size": 10, "total": len(registry.integrations())}
    # default sort: display_name ascending
    displays = [i["display_name"] for i in body["data"]]
    assert displays == sorted(displays)
    by_name = {i["name"]: i for i in body["data"]}
    custom = by_name["custom"]
    assert custom["built_in"] is True and custom["authorization"] is None
    for item in body["data"]:
        contract.validate(item, schema="CatalogIntegration")
    inv = by_name["rest-inventory"]
    assert inv["built_in"] is False
    assert inv["authorization"]["type"] == "multi_key_auth"
    assert inv["authorization"]["config"]["headers"][0]["name"] == "authorization"
    assert inv["config_schema"]["base_url"]["required"] is True
    assert inv["config_schema"]["page_size"]["default"] == 100
    assert "inventory_item" in inv["resource_types"]


def test_filters(api: httpx.Client, contract: Contract) -> None:
    one = contract.check(
        api.get(URL, params={"filter[name]": "custom"}),
        200,
        response="ListCatalogIntegrationsResponse",
    )
    assert [i["name"] for i in one["data"]] == ["custom"]
    assert one["meta"]["page"]["total"] == 1
    eq = api.get(URL, params={"filter[name][eq]": "rest-inventory"}).json()
    assert [i["name"] for i in eq["data"]] == ["rest-inventory"]
    contains = api.get(URL, params={"filter[display_name][contains]": "invent"}).json()
    assert [i["name"] for i in contains["data"]] == ["rest-inventory"]
    neq = api.get(URL, params={"filter[name][neq]": "custom"}).json()
    assert "custom" not in [i["name"] for i in neq["data"]]
    assert neq["meta"]["page"]["total"] == len(registry.integrations()) - 1
    oeq = api.get(URL, params={"filter[name][oeq]": "custom,rest-inventory,nope"}).json()
    assert sorted(i["name"] for i in oeq["data"]) == ["custom", "rest-inventory"]
    oc = api.get(URL, params={"filter[display_name][ocontains]": "CUSTOM,xyz"}).json()
    assert [i["name"] for i in oc["data"]] == ["custom"]
    none = api.get(URL, params={"filter[name]": "absent"}).json()
    assert none == {"data": [], "meta": {"page": {"number": 1, "size": 10, "total": 0}}}


def test_sort_and_paging(api: httpx.Client, contract: Contract) -> None:
    total = len(registry.integrations())
    desc = api.get(URL, params={"sort": "name desc"}).json()
    names = [i["name"] for i in desc["data"]]
    assert names == sorted(names, reverse=True)
    page = contract.check(
        api.get(URL, params={"page[size]": 1, "page[number]": 2, "sort": "name"}),
        200,
        response="ListCatalogIntegrationsResponse",
    )
    assert page["meta"]["page"] == {"number": 2, "size": 1, "total": total}
    assert [i["name"] for i in page["data"]] == [sorted(registry.integrations())[1]]
    beyond = api.get(URL, params={"page[number]": 99}).json()
    assert beyond["data"] == [] and beyond["meta"]["page"]["total"] == total


def test_bad_queries_are_400s_naming_the_parameter(api: httpx.Client, contract: Contract) -> None:
    cases = {
        "filter[built_in]": "unknown_property",
        "filter[name][gt]": "enum",
        "filter[name": "invalid",
    }
    for key, rule in cases.items():
        body = contract.check(api.get(URL, params={key: "x"}), 400)
        assert body["invalid_parameters"][0]["field"] == key, body
        assert body["invalid_parameters"][0]["rule"] == rule, body
    body = contract.check(api.get(URL, params={"sort": "version"}), 400)
    assert body["invalid_parameters"][0]["field"] == "sort"
    assert "display_name" in body["detail"]
    for key, value in (("page[size]", "0"), ("page[size]", "1001"), ("page[number]", "x")):
        body = contract.check(api.get(URL, params={key: value}), 400)
        assert body["invalid_parameters"][0]["field"] == key


def test_needs_a_token(server: LiveServer, contract: Contract) -> None:
    with server.client(token="") as anon:
        contract.check(anon.get(URL), 401)


def test_registry_discovers_modules_and_builds_connectors() -> None:
    found = registry.reload()
    assert found["rest-inventory"].connector is not None
    assert found["custom"].connector is None and found["custom"].push_only
    assert registry.get_integration("nope") is None
    custom = registry.get_descriptor("custom")
    assert custom is not None and custom["display_name"] == "Custom"
    assert registry.display_name_of("rest-inventory") == "REST Inventory"
    assert registry.display_name_of("gone") == "gone"
    for integ in found.values():
        for key in registry.REQUIRED_KEYS:
            assert key in integ.descriptor, (integ.name, key)


# --- the rest-inventory connector against its simulator ---------------------------------


def _connector(
    sim: InventorySimulator, token: str = "t", **config: object
) -> RestInventoryConnector:
    return RestInventoryConnector(
        config={"base_url": sim.url, **config},
        credential=Credential("multi_key_auth", headers={"authorization": token}),
        http=UpstreamHTTP(timeout=2.0, retries=2, backoff=0.01, max_sleep=1.5),
    )


def _all(conn: RestInventoryConnector) -> list[ResourceRecord]:
    return [r for batch in conn.discover() for r in batch]


def test_connector_discovers_every_page_as_records() -> None:
    with InventorySimulator(items=25, token="t") as sim:
        conn = _connector(sim, page_size=10)
        assert conn.verify().status == "accepted"
        batches = list(conn.discover())
        assert [len(b) for b in batches] == [10, 10, 5]
        first = batches[0][0]
        assert first.type == "inventory_item" and first.config == {"item_id": "item-00001"}
        assert first.name == "Item 1" and "id" not in (first.integration_data or {})
        assert first.integration_data == {k: v for k, v in sim.items[0].items() if k != "id"}
        assert [(r["page"], r["per_page"]) for r in sim.requests[1:]] == [(1, 10), (2, 10), (3, 10)]
        assert all(v != "t" for r in sim.requests for v in r.values())
        # in-place changes to the simulator's items show on the next listing
        sim.items[0]["name"] = "Renamed"
        del sim.items[1]
        sim.items.append({"id": "new", "name": "New"})
        records = _all(_connector(sim, page_size=1000, resource_type="host"))
        assert len(records) == 25
        assert records[0].name == "Renamed" and records[0].type == "host"
        assert records[-1].config == {"item_id": "new"}
        sim.items = []
        assert _all(conn) == []


def test_connector_faults() -> None:
    with InventorySimulator(items=30, token="t") as sim:
        assert _connector(sim, token="wrong").verify().status == "rejected"
        sim.reject_all = True
        with pytest.raises(ConnectorError) as err:
            _all(_connector(sim))
        assert err.value.kind == "auth"
        sim.reject_all = False
        for mode, words in (
            ("json", "not valid JSON"),
            ("shape", "no 'items' list"),
            ("item", "without an id"),
        ):
            sim.malformed_page, sim.malformed_mode = 2, mode
            with pytest.raises(ConnectorError) as err:
                _all(_connector(sim, page_size=10))
            assert err.value.kind == "malformed" and words in err.value.message
        sim.malformed_page = None
        sim.fail_on_page, sim.fail_times = 2, 1  # one 500, then fine: retried
        assert len(_all(_connector(sim, page_size=10))) == 30
        sim.fail_times = None  # always 500
        with pytest.raises(ConnectorError) as err:
            _all(_connector(sim, page_size=10))
        assert err.value.kind == "upstream" and "500" in err.value.message
        sim.fail_on_page, sim.fail_status = 3, 503
        with pytest.raises(ConnectorError):
            _all(_connector(sim, page_size=10))
        sim.fail_on_page = None
        sim.rate_limit_next = 1
        start = time.monotonic()
        assert len(_all(_connector(sim, page_size=100))) == 30
        assert time.monotonic() - start >= 0.9  # honoured Retry-After: 1
        assert [r["status"] for r in sim.requests[-2:]] == [429, 200]
        sim.delay = 2.5
        conn = _connector(sim)
        conn.http = UpstreamHTTP(timeout=0.3, retries=0)
        with pytest.raises(ConnectorError) as err:
            _all(conn)
        assert err.value.kind == "timeout"
        assert conn.verify().status == "unreachable"


def test_connector_config_errors() -> None:
    conn = RestInventoryConnector(
        config={"base_url": "ftp://x"},
        credential=Credential("multi_key_auth", headers={"authorization": "t"}),
        http=UpstreamHTTP(retries=0),
    )
    assert conn.verify().status == "unreachable"
    with pytest.raises(ConnectorError) as err:
        _all(RestInventoryConnector(config={}, credential=None))
    assert err.value.kind == "config"
    with InventorySimulator(items=1) as sim:
        with pytest.raises(ConnectorError) as err:
            _all(RestInventoryConnector(config={"base_url": sim.url}, credential=None))
        assert err.value.kind == "auth"

"""GET /v1/integrations: the registry as the contract's CatalogIntegration list, with the
shared filter, sort and paging grammar; and the registry's module discovery."""

from __future__ import annotations

import httpx

from contract import Contract
from service_catalog.integrations import registry

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
    one = contract.check(api.get(URL, params={"filter[name]": "custom"}), 200,
                         response="ListCatalogIntegrationsResponse")
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
    page = contract.check(api.get(URL, params={"page[size]": 1, "page[number]": 2,
                                               "sort": "name"}), 200,
                          response="ListCatalogIntegrationsResponse")
    assert page["meta"]["page"] == {"number": 2, "size": 1, "total": total}
    assert [i["name"] for i in page["data"]] == [sorted(registry.integrations())[1]]
    beyond = api.get(URL, params={"page[number]": 99}).json()
    assert beyond["data"] == [] and beyond["meta"]["page"]["total"] == total


def test_bad_queries_are_400s_naming_the_parameter(api: httpx.Client, contract: Contract
                                                   ) -> None:
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


def test_needs_a_token(server: object, contract: Contract) -> None:
    with server.client(token="") as anon:  # type: ignore[attr-defined]
        contract.check(anon.get(URL), 401)


def test_registry_discovers_modules_and_builds_connectors() -> None:
    found = registry.reload()
    assert found["rest-inventory"].connector is not None
    assert found["custom"].connector is None and found["custom"].push_only
    assert registry.get_integration("nope") is None
    assert registry.get_descriptor("custom")["display_name"] == "Custom"  # type: ignore[index]
    assert registry.display_name_of("rest-inventory") == "REST Inventory"
    assert registry.display_name_of("gone") == "gone"
    for integ in found.values():
        for key in registry.REQUIRED_KEYS:
            assert key in integ.descriptor, (integ.name, key)

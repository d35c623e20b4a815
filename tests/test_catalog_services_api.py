"""Catalog services over HTTP, on SQLite and PostgreSQL, validated against the contract."""

from __future__ import annotations

from typing import Any

import httpx

from contract import Contract


def create(api: httpx.Client, contract: Contract, **body: Any) -> dict[str, Any]:
    body.setdefault("display_name", body["name"].title())
    return contract.check(api.post("/v1/catalog-services", json=body), 201,
                          response="CatalogServiceResponse")


def test_create_get_patch_delete(api: httpx.Client, contract: Contract) -> None:
    svc = create(api, contract, name="user-svc", display_name="User Service",
                 labels={"env": "prod"},
                 custom_fields={"owner": "John", "dashboard": {"name": "D", "link": "https://d"}})
    assert svc["labels"] == {"env": "prod"}
    got = contract.check(api.get(f"/v1/catalog-services/{svc['id']}"), 200,
                         response="CatalogServiceResponse")
    assert got == svc
    patched = contract.check(
        api.patch(f"/v1/catalog-services/{svc['id']}",
                  json={"labels": {"env": None, "team": "core"}, "description": "Users"}),
        200, response="CatalogServiceResponse")
    assert patched["labels"] == {"team": "core"}
    assert patched["description"] == "Users"
    assert patched["updated_at"] >= svc["updated_at"]
    assert api.delete(f"/v1/catalog-services/{svc['id']}").status_code == 204
    contract.check(api.get(f"/v1/catalog-services/{svc['id']}"), 404)


def test_duplicate_name_is_409(api: httpx.Client, contract: Contract) -> None:
    create(api, contract, name="dup")
    body = contract.check(api.post("/v1/catalog-services", json={"name": "dup",
                                                                 "display_name": "x"}), 409)
    assert "dup" in body["detail"]


def test_list_filters_and_paging(api: httpx.Client, contract: Contract) -> None:
    for i in range(12):
        create(api, contract, name=f"svc-{i:02d}", labels={"tier": "gold" if i % 2 else "silver"})
    page = contract.check(api.get("/v1/catalog-services", params={"page[size]": 5,
                                                                  "page[number]": 3,
                                                                  "sort": "name desc"}),
                          200, response="ListCatalogServicesResponse")
    assert page["meta"]["page"] == {"number": 3, "size": 5, "total": 12}
    assert [s["name"] for s in page["data"]] == ["svc-01", "svc-00"]
    gold = api.get("/v1/catalog-services", params={"filter[labels.tier]": "gold",
                                                    "page[size]": 100}).json()
    assert gold["meta"]["page"]["total"] == 6
    assert all(s["labels"]["tier"] == "gold" for s in gold["data"])
    bad = contract.check(api.get("/v1/catalog-services", params={"filter[nope][eq]": "x"}), 400)
    assert bad["invalid_parameters"][0]["field"] == "filter[nope][eq]"

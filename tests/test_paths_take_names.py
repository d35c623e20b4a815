"""Paths take an entity's id or its name, as request bodies and the CLI already do."""

from __future__ import annotations

import uuid
from typing import Any

import httpx


def test_instances_and_services_by_name(api: httpx.Client, contract: Any) -> None:
    made = api.post(
        "/v1/integration-instances",
        json={
            "integration_name": "custom",
            "name": "pushed-prod",
            "display_name": "Pushed",
            "config": {},
        },
    )
    assert made.status_code == 201, made.text
    iid = made.json()["id"]
    by_name = api.get("/v1/integration-instances/pushed-prod")
    assert by_name.status_code == 200 and by_name.json()["id"] == iid
    patched = api.patch("/v1/integration-instances/pushed-prod", json={"display_name": "P"})
    assert patched.status_code == 200 and patched.json()["display_name"] == "P"
    pushed = api.put(
        "/v1/integration-instances/pushed-prod/resources",
        json={"data": [{"name": "q1", "type": "custom_resource", "config": {"id": "q1"}}]},
    )
    assert pushed.status_code in (200, 201), pushed.text

    svc = api.post("/v1/catalog-services", json={"name": "billing", "display_name": "Billing"})
    assert svc.status_code == 201, svc.text
    got = api.get("/v1/catalog-services/billing")
    assert got.status_code == 200 and got.json()["id"] == svc.json()["id"]
    contract.validate(got.json(), schema="CatalogService")
    assert (
        api.patch("/v1/catalog-services/billing", json={"description": "d"}).json()["description"]
        == "d"
    )
    assert api.get("/v1/catalog-services/billing/resources").status_code == 200

    for path, what in (
        ("/v1/integration-instances/nope-prod", "Integration instance"),
        (f"/v1/integration-instances/{uuid.uuid4()}", "Integration instance"),
        ("/v1/catalog-services/nope", "Catalog service"),
        (f"/v1/catalog-services/{uuid.uuid4()}", "Catalog service"),
    ):
        miss = contract.check(api.get(path), 404)
        assert miss["detail"].startswith(f"{what} [")
        assert "give its id or its name" in miss["detail"]
        assert "list them with GET /v1/" in miss["detail"]
    assert api.delete("/v1/catalog-services/billing").status_code == 204
    assert api.delete("/v1/integration-instances/pushed-prod").status_code == 204
    assert api.get(f"/v1/integration-instances/{iid}").status_code == 404

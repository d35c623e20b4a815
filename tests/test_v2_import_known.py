"""The seed's "Import entities" on a Traceable service the catalog already found by sync."""

from __future__ import annotations

from typing import Any

import httpx

from conftest import LiveServer
from service_catalog.settings import Settings
from service_catalog.testing.traceable_sim import TraceableSimulator
from test_v2_seed_api import IMPORT_BODY, SEED_HEADERS, SIMULATOR, run_sync, terraform_install

__all__ = ["SIMULATOR"]  # what the sim fixture (conftest) runs: the seed's how-to tests' simulator


def test_import_of_a_synced_service_is_created_with_its_name(
    server: LiveServer, settings: Settings, sim: TraceableSimulator, contract: Any
) -> None:
    with server.client() as api:
        iid = terraform_install(api, sim)
        sim.tenant.add_service("svc-auth-123", "auth-service", endpoints=2)
        run_sync(api, server, settings, iid)
        found = api.get(
            "/v1/resources", params={"filter[config.service_id]": "svc-auth-123"}
        ).json()["data"]
        assert [r["name"] for r in found] == ["auth-service"]

        imported = api.post("/v2/catalog/entities", json=IMPORT_BODY, headers=SEED_HEADERS)
        assert imported.status_code == 201, imported.text
        contract.validate(imported.json(), schema="CatalogResource")
        assert imported.json()["id"] == found[0]["id"]
        assert imported.json()["name"] == "traceable-auth-service"
        assert api.get(f"/v1/resources/{found[0]['id']}").json()["name"] == (
            "traceable-auth-service"
        )

        again = api.post("/v2/catalog/entities", json=IMPORT_BODY, headers=SEED_HEADERS)
        assert again.status_code == 200, again.text
        assert again.json()["name"] == "traceable-auth-service"
        renamed = api.post(
            "/v2/catalog/entities", json={**IMPORT_BODY, "name": "auth"}, headers=SEED_HEADERS
        )
        assert renamed.status_code == 200 and renamed.json()["name"] == "auth"
        imports = [
            e
            for e in api.get("/v1/audit-log", params={"page[size]": "100"}).json()["data"]
            if e.get("type") == "resource.imported"
        ]
        assert len(imports) == 2, imports

        # The next sync that finds the service writes Traceable's own name (README).
        run_sync(api, server, settings, iid)
        assert api.get(f"/v1/resources/{found[0]['id']}").json()["name"] == "auth-service"
        # The same import repeated is a no-op (200), even after a sync renamed it.
        anew = api.post(
            "/v2/catalog/entities", json={**IMPORT_BODY, "name": "auth"}, headers=SEED_HEADERS
        )
        assert anew.status_code == httpx.codes.OK and anew.json()["name"] == "auth-service"

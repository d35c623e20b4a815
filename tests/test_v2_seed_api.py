"""The seed how-to (``000_909780767820e830.txt``) replayed through the API, verbatim except
for the base URL and the tokens, and the errors of ``/v2/catalog/entities`` and
``/v2/catalog/entity-mappings``. On SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

import httpx

from conftest import LiveServer
from service_catalog.settings import Settings
from service_catalog.sync.worker import Worker
from service_catalog.testing.traceable_sim import TraceableSimulator

TRACEABLE_API_KEY = "trc-seed-token-91b2"
# The seed's request headers and bodies, exactly.
SEED_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}
IMPORT_BODY = {
    "name": "traceable-auth-service",
    "type": "traceable",
    "metadata": {"service_id": "svc-auth-123"},
}
MAP_BODY = {"catalog_entity": "my-service", "traceable_service_id": "svc-auth-123"}


SIMULATOR = partial(TraceableSimulator, 6, 3, TRACEABLE_API_KEY, inactive_every=0)


def terraform_install(api: httpx.Client, sim: TraceableSimulator, name: str = "traceable") -> str:
    """The seed's Terraform resources as API calls (the instance and its credential);
    base_url is the only addition: it points the instance at the simulator."""
    resp = api.post(
        "/v1/integration-instances",
        json={
            "name": name,
            "display_name": "Traceable",
            "integration_name": "traceable",
            "config": {"include_inactive": False, "base_url": sim.url},
        },
    )
    assert resp.status_code == 201, resp.text
    iid = str(resp.json()["id"])
    resp = api.post(
        f"/v1/integration-instances/{iid}/auth-credential",
        json={
            "type": "multi_key_auth",
            "config": {"headers": [{"name": "authorization", "key": TRACEABLE_API_KEY}]},
        },
    )
    assert resp.status_code == 201, resp.text
    return iid


def run_sync(api: httpx.Client, server: LiveServer, settings: Settings, iid: str) -> None:
    assert (
        api.put(f"/v1/integration-instances/{iid}/resource-ingestion", json={}).status_code == 200
    )
    run = Worker(settings, server.db).run_once(instance_id=uuid.UUID(iid))
    assert run is not None and run.status == "succeeded", run and run.error


def test_the_seed_how_to_verbatim(
    server: LiveServer, settings: Settings, sim: TraceableSimulator, contract: Any
) -> None:
    token = server.token("seed")
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=auth, timeout=30) as api:
        iid = terraform_install(api, sim)
        assert (
            api.post(
                "/v1/catalog-services", json={"name": "my-service", "display_name": "My Service"}
            ).status_code
            == 201
        )

        # "Import entities"
        imported = api.post("/v2/catalog/entities", json=IMPORT_BODY, headers=SEED_HEADERS)
        assert imported.status_code == 201, imported.text
        resource = contract.validate(imported.json(), schema="CatalogResource") or imported.json()
        assert resource["type"] == "traceable_service"
        assert resource["config"] == {"service_id": "svc-auth-123"}
        assert resource["name"] == "traceable-auth-service"
        assert resource["integration_data"] is None  # not hydrated yet
        assert resource["integration"]["instance"]["id"] == iid

        # "Map entities"
        mapped = api.post("/v2/catalog/entity-mappings", json=MAP_BODY, headers=SEED_HEADERS)
        assert mapped.status_code == 201, mapped.text
        contract.validate(mapped.json(), schema="CatalogResourceMapping")
        assert mapped.json()["resource"]["id"] == resource["id"]
        assert mapped.json()["service"]["name"] == "my-service"

        # Traceable knows the service: the next sync hydrates the imported resource.
        sim.tenant.add_service("svc-auth-123", "auth-service", endpoints=3)
        sim.tenant.add_endpoint("svc-auth-123", "POST /v1/login", data_types=("password",))
        run_sync(api, server, settings, iid)

        # "Validate": the catalog service shows the linked Traceable service with grouped
        # endpoint metadata and a verified connection.
        svc_id = api.get("/v1/catalog-services", params={"filter[name]": "my-service"}).json()[
            "data"
        ][0]["id"]
        listed = api.get(f"/v1/catalog-services/{svc_id}/resources").json()["data"]
        assert [r["id"] for r in listed] == [resource["id"]]
        linked = api.get(f"/v1/resources/{resource['id']}").json()
        assert linked["name"] == "auth-service"
        groups = linked["integration_data"]["endpoints"]["groups"]
        assert linked["integration_data"]["endpoints"]["total"] == 4
        assert groups["exposure"]["external"] == 1
        assert groups["authentication"]["unauthenticated"] == 1
        assert groups["sensitive_data"] == {"password": 1}
        cred = api.get(f"/v1/integration-instances/{iid}/auth-credential").json()
        assert cred["tainted"] is False
        inst = api.get(f"/v1/integration-instances/{iid}").json()
        assert inst["authorized"] is True
        # Importing it again finds the same resource (200, not a second one).
        again = api.post("/v2/catalog/entities", json=IMPORT_BODY, headers=SEED_HEADERS)
        assert again.status_code == 200 and again.json()["id"] == resource["id"]
        assert again.json()["name"] == "auth-service"


def test_mapping_imports_an_unknown_service_first(
    api: httpx.Client, sim: TraceableSimulator
) -> None:
    terraform_install(api, sim)
    api.post("/v1/catalog-services", json={"name": "my-service", "display_name": "My"})
    resp = api.post("/v2/catalog/entity-mappings", json=MAP_BODY)
    assert resp.status_code == 201, resp.text
    rid = resp.json()["resource"]["id"]
    got = api.get(f"/v1/resources/{rid}").json()
    assert got["config"] == {"service_id": "svc-auth-123"}
    assert got["integration_data"] is None
    dup = api.post("/v2/catalog/entity-mappings", json=MAP_BODY)
    assert dup.status_code == 409


def test_errors(
    api: httpx.Client, server: LiveServer, sim: TraceableSimulator, contract: Any
) -> None:
    none = contract.check(api.post("/v2/catalog/entities", json=IMPORT_BODY), 400)
    assert "no Traceable integration instance" in none["detail"]
    first = terraform_install(api, sim, "traceable-us")
    bad = [
        ({**IMPORT_BODY, "type": "github"}, "type"),
        ({**IMPORT_BODY, "metadata": {}}, "metadata.service_id"),
        ({**IMPORT_BODY, "metadata": {"service_id": ""}}, "metadata.service_id"),
        ({**IMPORT_BODY, "extra": 1}, "extra"),
        ({"type": "traceable", "metadata": {"service_id": "x"}}, "name"),
    ]
    for body, field in bad:
        problem = contract.check(api.post("/v2/catalog/entities", json=body), 400)
        assert field in {p["field"] for p in problem["invalid_parameters"]}, problem
    assert (
        api.post(
            "/v2/catalog/entities", content=b"{nope", headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    # Two Traceable instances: the caller must say which.
    terraform_install(api, sim, "traceable-eu")
    ambiguous = contract.check(api.post("/v2/catalog/entities", json=IMPORT_BODY), 400)
    assert "several Traceable integration instances" in ambiguous["detail"]
    assert "traceable-eu" in ambiguous["detail"]
    chosen = api.post(
        "/v2/catalog/entities", json={**IMPORT_BODY, "integration_instance": "traceable-us"}
    )
    assert chosen.status_code == 201
    assert chosen.json()["integration"]["instance"]["id"] == first
    by_id = api.post("/v2/catalog/entities", json={**IMPORT_BODY, "integration_instance": first})
    assert by_id.status_code == 200 and by_id.json()["id"] == chosen.json()["id"]
    contract.check(
        api.post("/v2/catalog/entities", json={**IMPORT_BODY, "integration_instance": "nope"}), 404
    )
    made = api.post(
        "/v1/integration-instances",
        json={"integration_name": "custom", "name": "mine", "display_name": "Mine", "config": {}},
    )
    assert made.status_code == 201, made.text
    wrong = contract.check(
        api.post("/v2/catalog/entities", json={**IMPORT_BODY, "integration_instance": "mine"}), 400
    )
    assert "not a Traceable one" in wrong["detail"]
    missing = contract.check(
        api.post(
            "/v2/catalog/entity-mappings", json={**MAP_BODY, "integration_instance": "traceable-us"}
        ),
        404,
    )
    assert "my-service" in missing["detail"]
    contract.check(api.post("/v2/catalog/entity-mappings", json={"catalog_entity": "x"}), 400)
    with httpx.Client(base_url=server.url) as anon:
        assert anon.post("/v2/catalog/entities", json=IMPORT_BODY).status_code == 401
        assert anon.post("/v2/catalog/entity-mappings", json=MAP_BODY).status_code == 401


def test_nul_characters_are_client_errors(api: httpx.Client, sim: TraceableSimulator) -> None:
    terraform_install(api, sim)
    api.post("/v1/catalog-services", json={"name": "my-service", "display_name": "My"})
    for body in (
        {**IMPORT_BODY, "metadata": {"service_id": "svc\u0000x"}},
        {**IMPORT_BODY, "name": "a\u0000b"},
        {**IMPORT_BODY, "integration_instance": "t\u0000"},
    ):
        resp = api.post("/v2/catalog/entities", json=body)
        assert 400 <= resp.status_code < 500, resp.text
    for mapping in (
        {**MAP_BODY, "traceable_service_id": "svc\u0000x"},
        {**MAP_BODY, "catalog_entity": "my\u0000service"},
        {**MAP_BODY, "integration_instance": "t\u0000"},
    ):
        resp = api.post("/v2/catalog/entity-mappings", json=mapping)
        assert 400 <= resp.status_code < 500, resp.text
    assert api.get("/v1/resources/%00abc/endpoints").status_code in (400, 404)

"""The audit trail over HTTP: every user action that changes the catalog is recorded with
who (the token's name) and when, and no secret, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from functools import partial
from typing import Any

import httpx

from conftest import LiveServer
from contract import Contract
from service_catalog.testing.inventory_sim import InventorySimulator
from sync_support import EVENT_KEYS, create_instance, make_instance

SECRET = "s3cr3t-audit-7Qx2LmN9"


SIMULATOR = partial(InventorySimulator, items=2, token=SECRET)


def audit(api: httpx.Client, contract: Contract, **params: Any) -> list[dict[str, Any]]:
    """Every audit entry, oldest first, through the cursor pages of /v1/audit-log."""
    out: list[dict[str, Any]] = []
    body = contract.check(
        api.get("/v1/audit-log", params={"sort": "ts asc", "page[size]": 50, **params}), 200
    )
    while True:
        contract.validate(body["meta"], schema="CursorMeta")
        out += body["data"]
        if not body["meta"]["page"]["next"]:
            return out
        body = contract.check(api.get(body["meta"]["page"]["next"]), 200)


def test_every_change_is_audited_with_the_token_name(
    server: LiveServer, contract: Contract, sim: InventorySimulator
) -> None:
    started = dt.datetime.now(dt.UTC)
    with server.client(server.token("alice-laptop")) as api:
        svc = api.post("/v1/catalog-services", json={"name": "audited", "display_name": "A"})
        assert svc.status_code == 201, svc.text
        sid = svc.json()["id"]
        assert (
            api.patch(
                f"/v1/catalog-services/{sid}", json={"description": "now described"}
            ).status_code
            == 200
        )
        # an auth config needs an integration that takes one: custom declares no
        # authorization of its own (rest-inventory takes multi_key_auth only)
        pid = create_instance(api, "pushed")["id"]
        iid = make_instance(api, sim, "inv")  # creates the instance and its credential
        assert (
            api.patch(
                f"/v1/integration-instances/{iid}", json={"display_name": "Inventory"}
            ).status_code
            == 200
        )
        assert (
            api.put(
                f"/v1/integration-instances/{pid}/auth-config",
                json={
                    "type": "oauth",
                    "client_id": "cid",
                    "client_secret": SECRET,
                    "authorization_endpoint": "https://idp.example/authorize",
                    "token_endpoint": "https://idp.example/token",
                },
            ).status_code
            == 200
        )
        res = api.post(
            f"/v1/integration-instances/{iid}/resources",
            json={"type": "inventory_item", "config": {"item_id": "item-00001"}},
        )
        assert res.status_code == 201, res.text
        rid = res.json()["id"]
        mapping = api.post("/v1/resource-mappings", json={"service": "audited", "resource": rid})
        assert mapping.status_code == 201, mapping.text
        assert api.delete(f"/v1/resource-mappings/{mapping.json()['id']}").status_code == 204
        archive = f"/v1/integration-instances/{iid}/resources/{rid}"
        assert api.patch(archive, json={"archived": True}).status_code == 200
        assert api.patch(archive, json={"archived": False}).status_code == 200
        assert api.delete(f"/v1/integration-instances/{pid}/auth-config").status_code == 204
        assert api.delete(f"/v1/integration-instances/{iid}/auth-credential").status_code == 204
        assert api.delete(f"/v1/integration-instances/{iid}").status_code == 204
        assert api.delete(f"/v1/catalog-services/{sid}").status_code == 204
        # reads change nothing and record nothing
        for path in (
            "/v1/catalog-services",
            "/v1/integration-instances",
            "/v1/resources",
            "/v1/resource-mappings",
            "/v1/integration-events",
        ):
            assert api.get(path).status_code == 200
        entries = audit(api, contract)

    types = [e["type"] for e in entries]
    expected = [
        "catalog_service.created",
        "catalog_service.updated",
        "integration_instance.created",
        "auth_credential.created",
        "integration_instance.updated",
        "auth_config.updated",
        "resource.initialized",
        "resource_mapping.created",
        "resource_mapping.deleted",
        "resource.archived",
        "resource.restored",
        "auth_config.deleted",
        "auth_credential.deleted",
        "integration_instance.deleted",
        "catalog_service.deleted",
    ]
    # each action appears, in the order performed
    positions = [types.index(t) for t in expected]
    assert positions == sorted(positions), types
    for entry in entries:
        assert set(entry) == EVENT_KEYS
        assert entry["integration"] is None
        assert entry["actor"]["type"] == "token"
        assert entry["actor"]["name"] == "alice-laptop"
        assert entry["detail"]
        assert dt.datetime.fromisoformat(entry["ts"]) >= started
    by_type = {e["type"]: e for e in entries}
    for t in (
        "catalog_service.created",
        "catalog_service.updated",
        "catalog_service.deleted",
        "resource_mapping.created",
        "resource_mapping.deleted",
    ):
        assert by_type[t]["service_id"] == sid, (t, by_type[t])
    for t in ("resource_mapping.created", "resource.archived", "resource.restored"):
        assert by_type[t]["resource_id"] == rid, (t, by_type[t])
    assert "inv" in by_type["integration_instance.created"]["detail"]
    # never a secret: not the credential header value, not the OAuth client secret
    assert SECRET not in json.dumps(entries)


def test_audit_filters_and_service_view(server: LiveServer, contract: Contract) -> None:
    with server.client(server.token("bob")) as bob, server.client(server.token("carol")) as carol:
        s1 = bob.post("/v1/catalog-services", json={"name": "one", "display_name": "One"}).json()
        carol.post("/v1/catalog-services", json={"name": "two", "display_name": "Two"})
        carol.patch(f"/v1/catalog-services/{s1['id']}", json={"display_name": "Uno"})
        by_carol = audit(bob, contract, **{"filter[actor.name]": "carol"})
        assert [e["type"] for e in by_carol] == [
            "catalog_service.created",
            "catalog_service.updated",
        ]
        assert (
            audit(bob, contract, **{"filter[type]": "catalog_service.updated"})[0]["actor"]["name"]
            == "carol"
        )
        assert len(audit(bob, contract, **{"filter[detail][contains]": "ONE"})) >= 1
        # the service's audit trail shows who touched it; its integration events do not
        feed = audit(bob, contract, **{"filter[service_id]": s1["id"]})
        assert [(e["type"], e["actor"]["name"]) for e in feed] == [
            ("catalog_service.created", "bob"),
            ("catalog_service.updated", "carol"),
        ]
        events = contract.check(bob.get(f"/v1/catalog-services/{s1['id']}/integration-events"), 200)
        assert events["data"] == []
        # a failed change records nothing
        before = len(audit(bob, contract))
        assert (
            bob.post(
                "/v1/catalog-services", json={"name": "one", "display_name": "Dup"}
            ).status_code
            == 409
        )
        assert (
            bob.patch(f"/v1/catalog-services/{s1['id']}", json={"name": "Bad Name"}).status_code
            == 400
        )
        assert len(audit(bob, contract)) == before

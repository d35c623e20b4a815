"""One unit of work per request (issue 10, item 2), on SQLite and PostgreSQL: a credential's
verification asks the upstream holding no transaction and not the SQLite writer's turn,
so a slow upstream holds up no other write; a request's change is stored when its answer
arrives; a conflict inside a service is a 409 that leaves the request's other work alone."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from conftest import LiveServer
from service_catalog.testing.inventory_sim import InventorySimulator
from sync_support import create_instance, wait_until

SECRET = "uow-Secret-Token-4e1f9a"
URL = "/v1/integration-instances"


class SlowWhoami(InventorySimulator):
    """The inventory upstream, holding every ``/whoami`` (what a credential's verification
    asks) until ``gate`` is set: an upstream as slow as the test wants."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()
        self.held = threading.Event()  # a verification is waiting at the gate

    def _answer(
        self, method: str, target: str, authorization: str | None
    ) -> tuple[int, dict[str, str], bytes, dict[str, Any]]:
        if urlsplit(target).path == "/whoami" and not self.gate.is_set():
            self.held.set()
            self.gate.wait(120)
        return super()._answer(method, target, authorization)


@pytest.fixture
def slow() -> Iterator[SlowWhoami]:
    sim = SlowWhoami(items=2, token=SECRET)
    with sim:
        yield sim
        sim.gate.set()


def instance(api: httpx.Client, base_url: str, name: str) -> str:
    return str(
        create_instance(
            api, name, integration="rest-inventory", display_name=name, base_url=base_url
        )["id"]
    )


def credential() -> dict[str, Any]:
    return {
        "type": "multi_key_auth",
        "config": {"headers": [{"name": "authorization", "key": SECRET}]},
    }


def writes_while_held(
    server: LiveServer,
    api: httpx.Client,
    slow: SlowWhoami,
    verify: Callable[[httpx.Client], httpx.Response],
) -> httpx.Response:
    """Start ``verify`` in another connection; while the upstream holds it, create, change
    and delete catalog services (each answered, and stored when answered); then let the
    upstream answer, and return the verification's response."""
    with server.client() as other, ThreadPoolExecutor(1) as pool:
        try:
            verifying = pool.submit(verify, other)
            wait_until(slow.held.is_set, "the verification reached the upstream")
            created = api.post(
                "/v1/catalog-services", json={"name": "meanwhile", "display_name": "Meanwhile"}
            )
            assert created.status_code == 201, created.text
            changed = api.patch(
                f"/v1/catalog-services/{created.json()['id']}",
                json={"description": "written while a verify waits"},
            )
            assert changed.status_code == 200, changed.text
            assert api.get("/v1/catalog-services/meanwhile").json()["description"] == (
                "written while a verify waits"
            )
            assert api.delete("/v1/catalog-services/meanwhile").status_code == 204
            # ...all while the verification is still waiting for its upstream
            assert not verifying.done()
        finally:
            slow.gate.set()
        return verifying.result(timeout=60)


def test_writes_complete_while_a_credential_is_verified_against_a_slow_upstream(
    server: LiveServer, api: httpx.Client, slow: SlowWhoami
) -> None:
    iid = instance(api, slow.url, "slow-inv")
    path = f"{URL}/{iid}/auth-credential"
    resp = writes_while_held(server, api, slow, lambda c: c.post(path, json=credential()))
    assert resp.status_code == 201, resp.text
    assert resp.json()["verified"] is True
    assert api.get(path).json() == resp.json()
    assert api.get(f"{URL}/{iid}").json()["authorized"] is True
    assert api.get("/v1/catalog-services/meanwhile").status_code == 404


def test_writes_complete_while_a_credential_is_verified_again(
    server: LiveServer, api: httpx.Client, slow: SlowWhoami
) -> None:
    iid = instance(api, slow.url, "slow-again")
    path = f"{URL}/{iid}/auth-credential"
    slow.gate.set()
    stored = api.post(path, json=credential())
    assert stored.status_code == 201 and stored.json()["verified"] is True
    slow.gate.clear()
    slow.held.clear()
    resp = writes_while_held(server, api, slow, lambda c: c.post(path + "/verify"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["verified"] is True and resp.json()["tainted"] is False
    assert api.get(path).json() == resp.json()


def test_a_credential_deleted_while_it_was_verified_again_is_not_written_back(
    server: LiveServer, api: httpx.Client, slow: SlowWhoami
) -> None:
    iid = instance(api, slow.url, "slow-gone")
    path = f"{URL}/{iid}/auth-credential"
    slow.gate.set()
    assert api.post(path, json=credential()).status_code == 201
    slow.gate.clear()
    with server.client() as other, ThreadPoolExecutor(1) as pool:
        try:
            verifying = pool.submit(other.post, path + "/verify")
            wait_until(slow.held.is_set, "the verification reached the upstream")
            assert api.delete(path).status_code == 204  # not held up by the verification
            assert not verifying.done()
        finally:
            slow.gate.set()
        resp = verifying.result(timeout=60)
    assert resp.status_code == 404, resp.text
    assert api.get(path).status_code == 404
    assert api.get(f"{URL}/{iid}").json()["authorized"] is False


def test_an_answered_write_is_stored_and_a_conflict_stores_nothing(
    server: LiveServer, api: httpx.Client
) -> None:
    # Each answer comes after its commit: another connection sees the change at once.
    with server.client() as other:
        for i in range(20):
            made = api.post(
                "/v1/catalog-services", json={"name": f"svc-{i}", "display_name": f"S {i}"}
            )
            assert made.status_code == 201, made.text
            assert other.get(f"/v1/catalog-services/{made.json()['id']}").status_code == 200
    # A name taken is a 409 that stores nothing; the catalog is unchanged after it.
    taken = api.post("/v1/catalog-services", json={"name": "svc-1", "display_name": "Again"})
    assert taken.status_code == 409
    renamed = api.patch(
        "/v1/catalog-services/svc-2", json={"name": "svc-3", "display_name": "Changed"}
    )
    assert renamed.status_code == 409
    assert api.get("/v1/catalog-services/svc-2").json()["display_name"] == "S 2"
    assert (
        api.get("/v1/catalog-services", params={"page[size]": 100}).json()["meta"]["page"]["total"]
        == 20
    )
    audit = api.get("/v1/audit-log", params={"page[size]": 100}).json()["data"]
    assert len([e for e in audit if e["type"] == "catalog_service.created"]) == 20
    assert not [e for e in audit if e["type"] == "catalog_service.updated"]


def test_concurrent_creates_of_one_name_are_one_201_and_409s(server: LiveServer) -> None:
    # On PostgreSQL they race for the unique name: the insert that loses inserts nothing
    # and is the same 409, never a 500, nor a rolled-back request.
    clients = [server.client() for _ in range(8)]
    barrier = threading.Barrier(len(clients))

    def create(client: httpx.Client) -> int:
        barrier.wait(30)
        return client.post(
            "/v1/catalog-services", json={"name": "contested", "display_name": "C"}
        ).status_code

    try:
        with ThreadPoolExecutor(len(clients)) as pool:
            codes = sorted(pool.map(create, clients))
        assert codes == [201] + [409] * (len(clients) - 1)
        listed = clients[0].get("/v1/catalog-services", params={"filter[name]": "contested"})
        assert listed.json()["meta"]["page"]["total"] == 1
    finally:
        for client in clients:
            client.close()

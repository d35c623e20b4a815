"""The sync engine against the loopback inventory simulator, with fault injection, on
SQLite and PostgreSQL. Syncs are requested over HTTP and run by an in-test worker."""

from __future__ import annotations

import dataclasses
import sqlite3
import time
import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from conftest import LiveServer
from service_catalog.core.db import Database, utcnow
from service_catalog.integrations import registry
from service_catalog.integrations.connectors.base import EventRecord, ResourceRecord
from service_catalog.settings import Settings
from service_catalog.sync.models import SyncPageDigest, SyncState
from service_catalog.sync.worker import BackgroundWorker, Worker
from service_catalog.testing.inventory_sim import InventorySimulator
from service_catalog_rest_inventory import RestInventoryConnector
from sync_support import data_of, ingestion, latest_run, make_instance, resources, sync_now

TOKEN = "inv-secret-7f3a9c"


SIMULATOR = partial(InventorySimulator, items=250, token=TOKEN)


@pytest.fixture
def fast(settings: Settings) -> Settings:
    """Settings whose connector gives up quickly (one retry) so failures stay fast."""
    return settings.model_copy(update={"connector_retries": 1})


def test_first_sync_creates_then_unchanged_resync_writes_nothing(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: InventorySimulator
) -> None:
    iid = make_instance(api, sim, page_size=100)
    run = sync_now(api, settings, server.db, iid)
    assert run["status"] == "succeeded", run
    assert (run["pages"], run["created"], run["updated"], run["unchanged"], run["vanished"]) == (
        3,
        250,
        0,
        0,
        0,
    )
    assert run["trigger"] == "manual" and run["worker"] == "test-worker"
    stored = resources(server.db, iid)
    assert len(stored) == 250
    assert stored["item-00007"].name == "Item 7"
    assert data_of(stored["item-00007"])["owner"] == "team-0"
    # The resource is visible through the API.
    got = api.get(f"/v1/resources/{stored['item-00007'].id}")
    assert got.status_code == 200 and got.json()["name"] == "Item 7"
    stamps = {k: r.updated_at for k, r in stored.items()}

    again = sync_now(api, settings, server.db, iid)
    assert again["status"] == "succeeded"
    assert (again["created"], again["updated"], again["unchanged"], again["vanished"]) == (
        0,
        0,
        250,
        0,
    )
    after = resources(server.db, iid)
    assert {k: r.updated_at for k, r in after.items()} == stamps  # no row written
    state = ingestion(api, iid)
    assert state["scheduler_state"] == {"status": "ok"}
    assert state["last_scheduled"] is not None
    assert state["next_scheduled_at"] > state["last_scheduled"]


def test_page_failing_midway_marks_nothing_and_keeps_resources(
    api: httpx.Client, server: LiveServer, fast: Settings, sim: InventorySimulator
) -> None:
    iid = make_instance(api, sim, page_size=100)
    assert sync_now(api, fast, server.db, iid)["status"] == "succeeded"
    sim.items.pop(0)  # would vanish on a complete listing
    sim.items[150]["name"] = "Changed on page 2"
    sim.fail_on_page = 2  # page 2 answers 500, every time
    run = sync_now(api, fast, server.db, iid)
    assert run["status"] == "failed"
    assert "HTTP 500" in run["error"] and "2 attempts" in run["error"]
    assert run["vanished"] == 0 and run["pages"] == 1
    stored = resources(server.db, iid)
    assert len(stored) == 250 and all(r.discovered for r in stored.values())
    assert stored["item-00152"].name == "Item 152"  # page 2 was never stored
    state = ingestion(api, iid)["scheduler_state"]
    assert state["status"] == "delayed"
    assert "HTTP 500" in state["reason"] and state["remediation"]
    # Once the upstream is healthy, the next complete sync catches up.
    sim.fail_on_page = None
    ok = sync_now(api, fast, server.db, iid)
    assert (ok["status"], ok["vanished"], ok["updated"]) == ("succeeded", 1, 1)
    assert ingestion(api, iid)["scheduler_state"] == {"status": "ok"}


def test_429_with_retry_after_is_retried_and_succeeds(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: InventorySimulator
) -> None:
    iid = make_instance(api, sim, page_size=100)
    sim.requests.clear()
    sim.rate_limit_next = 2
    sim.retry_after = "1"
    started = time.monotonic()
    run = sync_now(api, settings, server.db, iid)
    elapsed = time.monotonic() - started
    assert run["status"] == "succeeded" and run["created"] == 250
    statuses = [r["status"] for r in sim.requests]
    assert statuses[:3] == [429, 429, 200]
    assert elapsed >= 2.0  # Retry-After: 1 was honoured twice


def test_transient_5xx_is_retried_inside_the_run(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: InventorySimulator
) -> None:
    iid = make_instance(api, sim, page_size=100)
    sim.requests.clear()
    sim.fail_on_page, sim.fail_status, sim.fail_times = 2, 503, 2
    run = sync_now(api, settings, server.db, iid, connector_retries=2)
    assert (run["status"], run["created"], run["pages"]) == ("succeeded", 250, 3)
    page2 = [r["status"] for r in sim.requests if r["page"] == 2]
    assert page2 == [503, 503, 200]


def test_401_taints_credential_unauthorizes_and_halts(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: InventorySimulator
) -> None:
    iid = make_instance(api, sim, page_size=100)
    assert sync_now(api, settings, server.db, iid)["status"] == "succeeded"
    sim.token = "rotated-upstream-token"
    run = sync_now(api, settings, server.db, iid)
    assert run["status"] == "failed"
    assert "rejected the credential" in run["error"] and "401" in run["error"]
    assert TOKEN not in str(run)
    inst = api.get(f"/v1/integration-instances/{iid}").json()
    assert inst["authorized"] is False
    cred = api.get(f"/v1/integration-instances/{iid}/auth-credential")
    assert cred.status_code == 200 and cred.json()["tainted"] is True
    assert TOKEN not in cred.text
    state = ingestion(api, iid)
    assert state["scheduler_state"]["status"] == "halted"
    assert "rejected the credential" in state["scheduler_state"]["reason"]
    assert "auth-credential" in state["scheduler_state"]["remediation"]
    assert state["next_scheduled_at"] is None
    # Sync now is refused until the instance is authorized again.
    again = api.put(f"/v1/integration-instances/{iid}/resource-ingestion", json={})
    assert again.status_code == 400 and "authorize" in again.json()["detail"]
    assert len(resources(server.db, iid)) == 250  # nothing lost
    # Following the remediation resumes syncing at once.
    assert api.delete(f"/v1/integration-instances/{iid}/auth-credential").status_code == 204
    new = api.post(
        f"/v1/integration-instances/{iid}/auth-credential",
        json={
            "type": "multi_key_auth",
            "config": {"headers": [{"name": "authorization", "key": sim.token}]},
        },
    )
    assert new.status_code == 201, new.text
    state = ingestion(api, iid)
    assert state["scheduler_state"] == {"status": "ok"}
    assert state["next_scheduled_at"] <= utcnow().isoformat().replace("+00:00", "Z")
    scheduled = Worker(settings, server.db, name="w2").run_once()
    assert scheduled is not None and scheduled.status == "succeeded"
    assert scheduled.trigger == "schedule"


def test_slow_upstream_times_out_with_a_clear_reason(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: InventorySimulator
) -> None:
    iid = make_instance(api, sim, page_size=100)
    sim.delay = 1.0
    run = sync_now(
        api, settings, server.db, iid, connector_timeout_seconds=0.2, connector_retries=1
    )
    sim.delay = 0
    assert run["status"] == "failed"
    assert "did not answer in time" in run["error"]
    state = ingestion(api, iid)["scheduler_state"]
    assert state["status"] == "delayed" and "did not answer in time" in state["reason"]
    assert "retries" in state["remediation"]


@pytest.mark.parametrize(
    "mode,message",
    [("json", "not valid JSON"), ("shape", "no 'items' list"), ("item", "without an id")],
)
def test_malformed_page_fails_clearly_and_loses_nothing(
    api: httpx.Client,
    server: LiveServer,
    fast: Settings,
    sim: InventorySimulator,
    mode: str,
    message: str,
) -> None:
    iid = make_instance(api, sim, page_size=100)
    assert sync_now(api, fast, server.db, iid)["status"] == "succeeded"
    sim.malformed_page, sim.malformed_mode = 2, mode
    run = sync_now(api, fast, server.db, iid)
    assert run["status"] == "failed" and message in run["error"] and "Page 2" in run["error"]
    assert run["vanished"] == 0
    stored = resources(server.db, iid)
    assert len(stored) == 250 and all(r.discovered for r in stored.values())
    state = ingestion(api, iid)["scheduler_state"]
    assert state["status"] == "delayed" and message in state["reason"]


def test_removed_item_is_kept_as_not_discovered_with_its_mapping(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: InventorySimulator
) -> None:
    iid = make_instance(api, sim, page_size=100)
    assert sync_now(api, settings, server.db, iid)["status"] == "succeeded"
    rid = resources(server.db, iid)["item-00010"].id
    svc = api.post("/v1/catalog-services", json={"name": "billing", "display_name": "Billing"})
    assert svc.status_code == 201
    mapping = api.post("/v1/resource-mappings", json={"service": "billing", "resource": rid})
    assert mapping.status_code == 201, mapping.text
    sim.items[:] = [i for i in sim.items if i["id"] != "item-00010"]
    run = sync_now(api, settings, server.db, iid)
    assert (run["status"], run["vanished"], run["unchanged"]) == ("succeeded", 1, 249)
    gone = resources(server.db, iid)["item-00010"]
    assert gone.discovered is False and gone.vanished_at is not None
    assert api.get(f"/v1/resources/{rid}").status_code == 200
    maps = api.get(f"/v1/resources/{rid}/catalog-services").json()
    assert [s["name"] for s in maps["data"]] == ["billing"]
    # It comes back when the upstream lists it again.
    sim.items.append(
        {
            "id": "item-00010",
            "name": "Item 10",
            "kind": "queue",
            "owner": "team-3",
            "tags": ["env:dev"],
        }
    )
    back = sync_now(api, settings, server.db, iid)
    assert back["status"] == "succeeded" and back["vanished"] == 0
    assert resources(server.db, iid)["item-00010"].discovered is True


def test_renamed_item_keeps_its_id(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: InventorySimulator
) -> None:
    iid = make_instance(api, sim, page_size=100)
    assert sync_now(api, settings, server.db, iid)["status"] == "succeeded"
    before = resources(server.db, iid)["item-00042"]
    sim.items[41]["name"] = "The Answer"
    run = sync_now(api, settings, server.db, iid)
    assert (run["created"], run["updated"], run["unchanged"]) == (0, 1, 249)
    after = resources(server.db, iid)["item-00042"]
    assert after.id == before.id and after.name == "The Answer"
    assert after.updated_at > before.updated_at
    assert api.get(f"/v1/resources/{before.id}").json()["name"] == "The Answer"


class OwnerWatchingInventory(RestInventoryConnector):
    """The rest-inventory connector plus one derived event: an item's owner changed."""

    derives_events = True

    def diff_events(
        self, before: dict[str, Any] | None, after: ResourceRecord
    ) -> list[EventRecord]:
        owner = (after.integration_data or {}).get("owner")
        if before is None or before.get("owner") == owner:
            return []
        item = after.config["item_id"]
        return [
            EventRecord(
                type="owner.changed",
                deduplication_id=f"{item}:owner:{owner}",
                detail=f"{after.name} is now owned by {owner}",
                attributes={"owner": owner},
            )
        ]


@pytest.fixture
def eventful() -> Iterator[str]:
    """A second shipped-like integration whose connector derives events (test plug-in)."""
    base = registry.get_integration("rest-inventory")
    assert base is not None
    registry.integrations()["inventory-events"] = dataclasses.replace(
        base,
        name="inventory-events",
        display_name="Inventory Events",
        connector=OwnerWatchingInventory,
        module=__name__,
    )
    yield "inventory-events"
    registry.integrations().pop("inventory-events", None)


def test_changed_resources_become_events_for_their_mapped_services(
    api: httpx.Client,
    server: LiveServer,
    settings: Settings,
    sim: InventorySimulator,
    eventful: str,
) -> None:
    resp = api.post(
        "/v1/integration-instances",
        json={
            "integration_name": eventful,
            "name": "watched",
            "display_name": "Watched",
            "config": {"base_url": sim.url, "page_size": 100},
        },
    )
    assert resp.status_code == 201, resp.text
    iid = resp.json()["id"]
    cred = api.post(
        f"/v1/integration-instances/{iid}/auth-credential",
        json={
            "type": "multi_key_auth",
            "config": {"headers": [{"name": "authorization", "key": TOKEN}]},
        },
    )
    assert cred.status_code == 201, cred.text
    first = sync_now(api, settings, server.db, iid)
    assert (first["created"], first["events"]) == (250, 0)  # new resources: nothing changed
    rid = resources(server.db, iid)["item-00005"].id
    svc = api.post("/v1/catalog-services", json={"name": "billing", "display_name": "Billing"})
    assert (
        api.post("/v1/resource-mappings", json={"service": "billing", "resource": rid}).status_code
        == 201
    )
    sim.items[4]["owner"] = "team-new"  # mapped to billing
    sim.items[5]["owner"] = "team-new"  # mapped to nothing
    run = sync_now(api, settings, server.db, iid)
    assert (run["updated"], run["events"]) == (2, 2)
    listed = api.get(
        f"/v1/catalog-services/{svc.json()['id']}/integration-events",
        params={"filter[type]": "owner.changed"},
    ).json()
    assert [e["detail"] for e in listed["data"]] == ["Item 5 is now owned by team-new"]
    event = listed["data"][0]
    assert event["type"] == "owner.changed" and event["resource_id"] == rid
    assert event["integration"]["instance"]["id"] == iid
    # Back and forth: the same happening again is deduplicated.
    sim.items[4]["owner"] = "team-old"
    assert sync_now(api, settings, server.db, iid)["events"] == 1
    sim.items[4]["owner"] = "team-new"
    again = sync_now(api, settings, server.db, iid)
    assert (again["updated"], again["events"]) == (1, 0)


def test_stopping_a_worker_mid_sync_releases_the_instance_for_the_next_run(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: InventorySimulator
) -> None:
    iid = make_instance(api, sim, page_size=10)  # 25 pages
    sim.delay = 0.1
    worker = BackgroundWorker(settings.model_copy(update={"worker_poll_seconds": 0.1}), server.db)
    worker.start()
    deadline = time.monotonic() + 20
    while sum(1 for r in sim.requests if r["path"] == "/items") < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    worker.stop()
    sim.delay = 0
    run = latest_run(api, iid)
    assert run["status"] == "failed" and "worker was stopped" in run["error"]
    assert 0 < run["pages"] < 25 and run["vanished"] == 0
    with server.db.session() as s:
        state = s.get(SyncState, uuid.UUID(iid))
        assert state is not None and state.lease_owner is None
        assert state.next_run_at is not None and state.next_run_at <= utcnow()
    assert ingestion(api, iid)["scheduler_state"] == {"status": "ok"}
    assert Worker(settings, server.db).run_once() is not None  # due again at once
    assert latest_run(api, iid)["status"] == "succeeded"


def page_digests(db: Database, iid: str) -> dict[str, list[str]]:
    """The page digests the instance's last complete sync remembered: digest -> ids."""
    with db.session() as s:
        rows = s.execute(
            select(SyncPageDigest.digest, SyncPageDigest.resource_ids).where(
                SyncPageDigest.instance_id == uuid.UUID(iid)
            )
        )
        return {digest: ids.split() for digest, ids in rows}


def test_unchanged_pages_are_remembered_yet_a_push_in_between_is_undone(
    api: httpx.Client,
    server: LiveServer,
    settings: Settings,
    fast: Settings,
    sim: InventorySimulator,
) -> None:
    """A page the upstream serves unchanged is not processed again, unless its resources
    are no longer stored as the last sync left them: then the upstream's data wins."""
    iid = make_instance(api, sim, page_size=100)
    assert sync_now(api, settings, server.db, iid)["created"] == 250
    pages = page_digests(server.db, iid)
    stored = resources(server.db, iid)
    assert sorted(len(ids) for ids in pages.values()) == [50, 100, 100]
    assert {rid for ids in pages.values() for rid in ids} == {r.id for r in stored.values()}

    # Someone pushes other data for an item whose upstream page does not change.
    pushed = api.put(
        f"/v1/integration-instances/{iid}/resources",
        json={
            "data": [
                {
                    "type": "inventory_item",
                    "config": {"item_id": "item-00007"},
                    "name": "Pushed",
                    "integration_data": {"kind": "pushed"},
                }
            ]
        },
    )
    assert pushed.status_code == 200, pushed.text
    run = sync_now(api, settings, server.db, iid)
    assert (run["created"], run["updated"], run["unchanged"]) == (0, 1, 249)
    item = resources(server.db, iid)["item-00007"]
    assert item.name == "Item 7" and data_of(item)["kind"] != "pushed"
    assert page_digests(server.db, iid) == pages  # the same pages, stored as before

    # A changed page is processed and remembered anew; the others stay.
    sim.items[120]["owner"] = "team-new"
    run = sync_now(api, settings, server.db, iid)
    assert (run["updated"], run["unchanged"]) == (1, 249)
    after = page_digests(server.db, iid)
    assert len(after) == 3 and len(set(after) & set(pages)) == 2

    # A failed sync keeps the digests of the last complete one (what it stored stays).
    sim.items[0]["owner"] = "team-x"
    sim.fail_on_page = 3
    failed = sync_now(api, fast, server.db, iid)
    assert (failed["status"], failed["updated"]) == ("failed", 1)
    assert page_digests(server.db, iid) == after
    sim.fail_on_page = None
    run = sync_now(api, settings, server.db, iid)
    assert (run["status"], run["updated"], run["unchanged"]) == ("succeeded", 0, 250)
    assert data_of(resources(server.db, iid)["item-00001"])["owner"] == "team-x"
    assert len(set(page_digests(server.db, iid)) & set(after)) == 2


def test_a_resource_vanished_and_back_on_an_unchanged_page_is_rediscovered(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: InventorySimulator
) -> None:
    iid = make_instance(api, sim, page_size=100)
    assert sync_now(api, settings, server.db, iid)["created"] == 250
    last = sim.items.pop()  # the last page changes; pages 1 and 2 do not
    assert sync_now(api, settings, server.db, iid)["vanished"] == 1
    sim.items.append(last)
    run = sync_now(api, settings, server.db, iid)
    assert (run["unchanged"], run["vanished"]) == (250, 0)
    assert all(r.discovered for r in resources(server.db, iid).values())


def test_a_slow_upstream_never_keeps_the_database_locked(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: InventorySimulator
) -> None:
    """Batches share a write transaction, but it is committed before waiting for the
    upstream: other writers get the SQLite lock while the sync waits for a page."""
    if server.db.dialect != "sqlite":
        pytest.skip("the write lock is SQLite's")
    iid = make_instance(api, sim, page_size=25)  # 10 pages
    sim.delay = 0.6
    worker = BackgroundWorker(settings.model_copy(update={"worker_poll_seconds": 0.1}), server.db)
    assert (
        api.put(f"/v1/integration-instances/{iid}/resource-ingestion", json={}).status_code == 200
    )
    worker.start()
    path = server.db.engine.url.database
    assert path
    locked = 0
    try:
        deadline = time.monotonic() + 30
        while sum(1 for r in sim.requests if r["path"] == "/items") < 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for _ in range(8):  # pages keep arriving while we write
            con = sqlite3.connect(path, timeout=0.3, isolation_level=None)
            try:
                con.execute("BEGIN IMMEDIATE")
                con.execute("ROLLBACK")
            except sqlite3.OperationalError:
                locked += 1
            finally:
                con.close()
            time.sleep(0.25)
    finally:
        sim.delay = 0
        worker.stop()
    assert locked == 0


class FailingInventory(RestInventoryConnector):
    """The rest-inventory connector, broken by a bug after its second page."""

    def discover(self) -> Iterator[list[ResourceRecord]]:
        for n, batch in enumerate(super().discover()):
            if n == 2:
                raise RuntimeError("a bug")
            yield batch


def test_an_unexpected_error_reports_only_what_was_stored(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: InventorySimulator
) -> None:
    base = registry.get_integration("rest-inventory")
    assert base is not None
    registry.integrations()["inventory-buggy"] = dataclasses.replace(
        base, name="inventory-buggy", connector=FailingInventory, module=__name__
    )
    try:
        resp = api.post(
            "/v1/integration-instances",
            json={
                "integration_name": "inventory-buggy",
                "name": "buggy",
                "display_name": "Buggy",
                "config": {"base_url": sim.url, "page_size": 50},
            },
        )
        assert resp.status_code == 201, resp.text
        iid = resp.json()["id"]
        assert (
            api.post(
                f"/v1/integration-instances/{iid}/auth-credential",
                json={
                    "type": "multi_key_auth",
                    "config": {"headers": [{"name": "authorization", "key": TOKEN}]},
                },
            ).status_code
            == 201
        )
        run = sync_now(api, settings, server.db, iid)
    finally:
        registry.integrations().pop("inventory-buggy", None)
    assert run["status"] == "failed" and "RuntimeError" in run["error"]
    assert run["created"] == len(resources(server.db, iid)) <= 100
    assert page_digests(server.db, iid) == {}


def test_pages_remembered_under_another_config_are_processed_again(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: InventorySimulator
) -> None:
    """The same upstream bytes make other resources once the instance's config changes
    (here the type items are recorded as): remembered pages must not stand for them."""
    iid = make_instance(api, sim, page_size=100)
    assert sync_now(api, settings, server.db, iid)["created"] == 250
    resp = api.patch(
        f"/v1/integration-instances/{iid}",
        json={"config": {"base_url": sim.url, "page_size": 100, "resource_type": "server"}},
    )
    assert resp.status_code == 200, resp.text
    run = sync_now(api, settings, server.db, iid)
    assert (run["status"], run["created"], run["vanished"]) == ("succeeded", 250, 250)
    listed = api.get(
        "/v1/resources",
        params={"filter[integration.instance.id]": iid, "filter[type]": "server", "page[size]": 1},
    )
    assert listed.status_code == 200, listed.text
    assert listed.json()["data"][0]["type"] == "server"

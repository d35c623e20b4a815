"""Polled events (the ``polls_events`` capability): after a complete sync the engine asks a
rest-inventory instance with an ``events_path`` for the upstream's events since the last
poll and records them as integration events, against the loopback inventory simulator, on
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

import httpx

from conftest import LiveServer
from service_catalog.settings import Settings
from service_catalog.sync.engine import POLL_OVERLAP
from service_catalog.testing.inventory_sim import InventorySimulator
from sync_support import create_service, make_instance, sync_now

TOKEN = "inv-events-9d2b"

SIMULATOR = partial(InventorySimulator, items=5, token=TOKEN)


def _events(api: httpx.Client, path: str = "/v1/integration-events") -> list[dict[str, Any]]:
    resp = api.get(path, params={"sort": "ts"})
    assert resp.status_code == 200, resp.text
    return list(resp.json()["data"])


def _event_requests(sim: InventorySimulator) -> list[dict[str, Any]]:
    return [r for r in sim.requests if r["path"] == "/events"]


def test_events_since_the_last_poll_become_integration_events(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: InventorySimulator
) -> None:
    iid = make_instance(api, sim, events_path="/events")
    svc = create_service(api, "billing")
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    sim.add_event("item-00002", "item.alert", "Disk almost full", ts=earlier, severity="high")
    before_first = dt.datetime.now(dt.UTC)
    first = sync_now(api, settings, server.db, iid)
    after_first = dt.datetime.now(dt.UTC)
    assert first["status"] == "succeeded", first
    assert first["events"] == 1
    assert [r["since"] for r in _event_requests(sim)] == [None]  # never polled: everything
    (event,) = _events(api)
    assert event["type"] == "item.alert" and event["detail"] == "Disk almost full"
    assert event["attributes"] == {"severity": "high"}
    assert event["binding"] == "inventory_item" and event["service_id"] is None
    assert event["integration"]["instance"]["id"] == iid
    assert dt.datetime.fromisoformat(event["ts"].replace("Z", "+00:00")) == earlier
    resource_id = event["resource_id"]
    got = api.get(f"/v1/resources/{resource_id}")
    assert got.status_code == 200 and got.json()["config"] == {"item_id": "item-00002"}

    # Mapped to a service, the resource's next events are that service's too.
    mapped = api.post("/v1/resource-mappings", json={"service": svc["id"], "resource": resource_id})
    assert mapped.status_code == 201, mapped.text
    sim.add_event("item-00002", "item.recovered", "Disk space freed")
    second = sync_now(api, settings, server.db, iid)
    assert second["status"] == "succeeded" and second["events"] == 1, second
    # Asked from when the first poll began, less the overlap (what the overlap lists
    # again is not stored twice).
    since = dt.datetime.fromisoformat(_event_requests(sim)[-1]["since"])
    assert before_first - POLL_OVERLAP <= since <= after_first - POLL_OVERLAP
    assert [e["type"] for e in _events(api)] == ["item.alert", "item.recovered"]
    service_events = _events(api, f"/v1/catalog-services/{svc['id']}/integration-events")
    assert [e["type"] for e in service_events] == ["item.recovered"]

    third = sync_now(api, settings, server.db, iid)  # nothing new upstream
    assert third["status"] == "succeeded" and third["events"] == 0, third
    assert len(_events(api)) == 2


def test_an_instance_without_events_path_polls_nothing(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: InventorySimulator
) -> None:
    iid = make_instance(api, sim)
    sim.add_event("item-00001", "item.alert", "ignored")
    run = sync_now(api, settings, server.db, iid)
    assert run["status"] == "succeeded" and run["events"] == 0, run
    assert _event_requests(sim) == []
    assert _events(api) == []


def test_a_failing_event_listing_fails_the_run_and_polls_again_from_the_same_mark(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: InventorySimulator
) -> None:
    iid = make_instance(api, sim, events_path="/no-such-listing")
    run = sync_now(api, settings, server.db, iid, connector_retries=1)
    assert run["status"] == "failed", run
    assert "HTTP 404" in run["error"]
    assert run["created"] == 5  # the discovered resources are stored all the same
    patched = api.patch(
        f"/v1/integration-instances/{iid}", json={"config": {"events_path": "/events"}}
    )
    assert patched.status_code == 200, patched.text
    sim.add_event("item-00003", "item.alert", "late")
    again = sync_now(api, settings, server.db, iid)
    assert again["status"] == "succeeded" and again["events"] == 1, again
    assert _event_requests(sim)[-1]["since"] is None  # the failed poll moved no mark

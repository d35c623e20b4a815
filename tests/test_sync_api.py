"""Resource ingestion (sync scheduling) and sync runs over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from contract import Contract
from service_catalog.core.db import utcnow
from service_catalog.settings import Settings
from service_catalog.testing.inventory_sim import InventorySimulator
from sync_support import create_instance, ingestion, make_instance, resources, sync_now, wait_for

TOKEN = "api-secret-51c0"


SIMULATOR = partial(InventorySimulator, items=30, token=TOKEN)


def _path(iid: str, what: str = "resource-ingestion") -> str:
    return f"/v1/integration-instances/{iid}/{what}"


def test_unauthorized_instance_is_halted_and_sync_now_is_a_400(
    api: httpx.Client, contract: Contract, sim: InventorySimulator
) -> None:
    iid = make_instance(api, sim, "not-yet", authorize=False)
    state = ingestion(api, iid)
    assert state["last_scheduled"] is None and state["next_scheduled_at"] is None
    assert state["scheduler_state"]["status"] == "halted"
    assert "not authorized" in state["scheduler_state"]["reason"]
    assert (
        f"/v1/integration-instances/{iid}/auth-credential"
        in state["scheduler_state"]["remediation"]
    )
    body = contract.check(api.put(_path(iid), json={}), 400)
    assert "not authorized" in body["detail"] and "authorize it first" in body["detail"]


def test_sync_now_schedules_at_once(
    api: httpx.Client, contract: Contract, sim: InventorySimulator
) -> None:
    iid = make_instance(api, sim, "ready")
    before = ingestion(api, iid)
    assert before["scheduler_state"] == {"status": "ok"}
    assert set(before) == {"last_scheduled", "next_scheduled_at", "scheduler_state"}
    asked = utcnow().isoformat().replace("+00:00", "Z")
    resp = api.put(_path(iid), json={"ingest_from": "2024-01-01T00:00:00Z"})
    assert resp.status_code == 200, resp.text
    state = resp.json()
    assert state["scheduler_state"] == {"status": "ok"}
    assert state["next_scheduled_at"] <= utcnow().isoformat().replace("+00:00", "Z")
    assert state["next_scheduled_at"] >= asked[:19]
    # A body is optional.
    assert api.put(_path(iid)).status_code == 200
    # Sync now is an audited user action.
    audit = api.get("/v1/audit-log", params={"filter[type]": "integration_instance.sync_requested"})
    assert audit.status_code == 200, audit.text
    assert any(e["type"] == "integration_instance.sync_requested" for e in audit.json()["data"])


@pytest.mark.parametrize(
    "body,field,rule",
    [
        ({"nope": 1}, "nope", "unknown_property"),
        ({"ingest_from": "yesterday"}, "ingest_from", "is_date_time"),
        ({"ingest_from": 5}, "ingest_from", None),
    ],
)
def test_bad_bodies_are_400s(
    api: httpx.Client,
    contract: Contract,
    sim: InventorySimulator,
    body: dict[str, Any],
    field: str,
    rule: str | None,
) -> None:
    iid = make_instance(api, sim, "bodies")
    problem = contract.check(api.put(_path(iid), json=body), 400)
    param = problem["invalid_parameters"][0]
    assert param["field"] == field
    if rule:
        assert param["rule"] == rule
    bad_json = api.put(
        _path(iid), content=b"{not json", headers={"content-type": "application/json"}
    )
    contract.check(bad_json, 400)


def test_unknown_instance_is_404(api: httpx.Client, contract: Contract) -> None:
    missing = str(uuid.uuid4())
    for resp in (
        api.get(_path(missing)),
        api.put(_path(missing), json={}),
        api.get(_path(missing, "sync-runs")),
        api.get(_path("not-a-uuid")),
    ):
        body = contract.check(resp, 404)
        assert "Integration instance" in body["detail"]


def test_push_only_instance_has_nothing_to_sync(api: httpx.Client, contract: Contract) -> None:
    iid = create_instance(api, "pushed")["id"]
    assert ingestion(api, iid) == {
        "last_scheduled": None,
        "next_scheduled_at": None,
        "scheduler_state": {"status": "ok"},
    }
    body = contract.check(api.put(_path(iid), json={}), 400)
    assert "push-based" in body["detail"]


def test_sync_runs_are_listed_newest_first_with_cursor_paging(
    api: httpx.Client,
    contract: Contract,
    server: LiveServer,
    settings: Settings,
    sim: InventorySimulator,
) -> None:
    iid = make_instance(api, sim, "runs", page_size=10)
    first = sync_now(api, settings, server.db, iid)
    sim.fail_on_page = 2
    second = sync_now(api, settings, server.db, iid, connector_retries=0)
    sim.fail_on_page = None
    third = sync_now(api, settings, server.db, iid)
    assert [r["status"] for r in (first, second, third)] == ["succeeded", "failed", "succeeded"]
    page = api.get(_path(iid, "sync-runs"), params={"page[size]": 2}).json()
    assert [r["id"] for r in page["data"]] == [third["id"], second["id"]]
    assert page["meta"]["page"]["size"] == 2 and page["meta"]["page"]["next"]
    run = page["data"][0]
    assert set(run) == {
        "id",
        "trigger",
        "worker",
        "status",
        "started_at",
        "finished_at",
        "pages",
        "created",
        "updated",
        "unchanged",
        "vanished",
        "events",
        "error",
    }
    assert (run["trigger"], run["pages"], run["unchanged"], run["error"]) == ("manual", 3, 30, None)
    assert run["finished_at"] >= run["started_at"]
    nxt = api.get(page["meta"]["page"]["next"]).json()
    assert [r["id"] for r in nxt["data"]] == [first["id"]]
    assert nxt["meta"]["page"]["next"] is None
    failed = api.get(_path(iid, "sync-runs"), params={"filter[status]": "failed"}).json()
    assert [r["id"] for r in failed["data"]] == [second["id"]]
    assert "HTTP 500" in failed["data"][0]["error"]
    contract.check(api.get(_path(iid, "sync-runs"), params={"filter[status]": "nope"}), 400)
    contract.check(api.get(_path(iid, "sync-runs"), params={"page[after]": "garbage"}), 400)
    contract.check(api.get(_path(iid, "sync-runs"), params={"page[size]": 5000}), 400)


def test_serve_runs_a_worker_that_syncs_new_instances_and_sync_now(
    worker_server: LiveServer, sim: InventorySimulator
) -> None:
    with worker_server.client() as api:
        iid = make_instance(api, sim, "background")

        def runs() -> list[dict[str, Any]]:
            data = api.get(_path(iid, "sync-runs")).json()["data"]
            return [r for r in data if r["status"] != "running"]

        first = wait_for(runs, timeout=20)
        assert first[0]["trigger"] == "schedule" and first[0]["status"] == "succeeded"
        assert first[0]["created"] == 30
        assert len(resources(worker_server.db, iid)) == 30
        state = ingestion(api, iid)
        assert state["last_scheduled"] is not None
        assert state["next_scheduled_at"] > state["last_scheduled"]  # next one in 15 min
        sim.items.append({"id": "late", "name": "Late arrival"})
        assert api.put(_path(iid), json={}).status_code == 200
        second = wait_for(lambda: runs()[1:] and runs(), timeout=20)  # two runs or more
        assert second[0]["trigger"] == "manual" and second[0]["created"] == 1
        assert "late" in resources(worker_server.db, iid)

"""Query counts of the sync path (NetBox's ``assert_expected_query_count`` idea): a sync
costs a number of SQL statements that does not grow with the number of resources in a
page, so a later change cannot slip in a statement per resource unnoticed. (The list
endpoints' counts are asserted in tests/test_list_endpoints.py.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from conftest import LiveServer
from service_catalog.settings import Settings
from service_catalog.sync import engine
from service_catalog.sync.worker import Worker
from service_catalog.testing.inventory_sim import InventorySimulator
from sync_support import latest_run, make_instance


@pytest.fixture
def statements(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """SQL statements the server's engine runs while the test runs. A sync commits early
    (and its next batch opens a transaction again) when the upstream keeps it waiting past
    a grace, or holds the write lock past an interval: on a loaded machine that happens at
    any page, so both are made long here and the counts depend on the pages alone."""
    monkeypatch.setattr(engine, "WAIT_GRACE", 60.0)
    monkeypatch.setattr(engine, "COMMIT_INTERVAL", 600.0)
    monkeypatch.setattr(engine, "YIELD_AFTER", 600.0)
    seen: list[str] = []

    def record(_c: Any, _cur: Any, sql: str, *_: Any) -> None:
        seen.append(sql)

    event.listen(server.db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(server.db.engine, "before_cursor_execute", record)


def _sync(
    api: httpx.Client, settings: Settings, server: LiveServer, iid: str, statements: list[str]
) -> int:
    resp = api.put(f"/v1/integration-instances/{iid}/resource-ingestion", json={})
    assert resp.status_code == 200, resp.text
    statements.clear()
    run = Worker(settings, server.db, name="count-worker").run_once(instance_id=uuid.UUID(iid))
    count = len(statements)
    assert run is not None
    assert latest_run(api, iid)["status"] == "succeeded"
    return count


def test_a_sync_costs_the_same_statements_whatever_the_number_of_resources(
    api: httpx.Client, server: LiveServer, settings: Settings, statements: list[str]
) -> None:
    counts: dict[str, int] = {}
    for items in (3, 60):
        with InventorySimulator(items=items, token=f"t{items}") as sim:
            iid = make_instance(api, sim, f"inv-{items}")
            counts[f"first {items}"] = _sync(api, settings, server, iid, statements)
            counts[f"again {items}"] = _sync(api, settings, server, iid, statements)
            for item in sim.items[: items // 3]:
                item["name"] = item["name"] + " (renamed)"
            counts[f"changed {items}"] = _sync(api, settings, server, iid, statements)
            run = latest_run(api, iid)
            assert (run["created"], run["updated"]) == (0, items // 3), run
    assert counts["first 3"] > 0
    for kind in ("first", "again", "changed"):
        assert counts[f"{kind} 3"] == counts[f"{kind} 60"], counts

"""Helpers shared by the tests: integration instances created and authorized over HTTP (a
rest-inventory one for the sync tests, a PagerDuty one), catalog services, sync runs,
stored rows, waiting on a condition."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

import httpx
from sqlalchemy import func, select

from service_catalog.core.db import Database
from service_catalog.resources.models import Resource
from service_catalog.settings import Settings
from service_catalog.sync.models import SyncRun
from service_catalog.sync.worker import Worker
from service_catalog.testing.inventory_sim import InventorySimulator
from service_catalog.testing.pagerduty_sim import PagerDutySimulator

T = TypeVar("T")


def wait_for(
    what: Callable[[], T | None],
    why: Callable[[], Any] = lambda: "timed out waiting",
    *,
    timeout: float = 60,
    every: float = 0.1,
) -> T:
    """Poll ``what`` every ``every`` seconds until it gives a truthy value, and return it;
    fail saying ``why()`` past ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = what()
        if got:
            return got
        assert time.monotonic() < deadline, why()
        time.sleep(every)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """:func:`wait_for` ``condition``, polled every 10 ms, failing with ``what`` after
    ``timeout`` s."""
    wait_for(condition, lambda: f"timed out waiting until {what}", timeout=timeout, every=0.01)


def create_instance(
    api: httpx.Client,
    name: str = "custom-prod",
    *,
    integration: str = "custom",
    display_name: str | None = None,
    **config: Any,
) -> dict[str, Any]:
    """An integration instance created through the API (its display name ``name.title()``
    unless given); the 201's body."""
    resp = api.post(
        "/v1/integration-instances",
        json={
            "integration_name": integration,
            "name": name,
            "display_name": display_name or name.title(),
            "config": config,
        },
    )
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def create_service(
    api: httpx.Client,
    name: str,
    labels: Mapping[str, str] | None = None,
    custom_fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A catalog service created through the API (display name ``name.title()``, the
    labels and custom fields given); the 201's body."""
    body: dict[str, Any] = {"name": name, "display_name": name.title()}
    if labels is not None:
        body["labels"] = dict(labels)
    if custom_fields is not None:
        body["custom_fields"] = dict(custom_fields)
    resp = api.post("/v1/catalog-services", json=body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def make_instance(
    api: httpx.Client,
    sim: InventorySimulator,
    name: str = "inventory",
    *,
    authorize: bool = True,
    **config: Any,
) -> str:
    """Create a rest-inventory instance pointing at ``sim`` (and authorize it); its id."""
    iid = str(
        create_instance(api, name, integration="rest-inventory", base_url=sim.url, **config)["id"]
    )
    if authorize:
        resp = authorize_instance(api, iid, sim.token)
        assert resp.status_code == 201, resp.text
        inst = api.get(f"/v1/integration-instances/{iid}").json()
        assert inst["authorized"] is True, inst
    return iid


def authorize_instance(
    api: httpx.Client, iid: str, key: str, header: str = "authorization"
) -> httpx.Response:
    """POST the instance ``iid`` a ``multi_key_auth`` credential sending ``key`` in
    ``header``; the response (201 when the upstream accepted it, or kept it unverified)."""
    return api.post(
        f"/v1/integration-instances/{iid}/auth-credential",
        json={"type": "multi_key_auth", "config": {"headers": [{"name": header, "key": key}]}},
    )


def install_pagerduty(api: httpx.Client, sim: PagerDutySimulator, *, authorize: bool = True) -> str:
    """Create a ``pagerduty`` instance pointing at ``sim`` (and authorize it with the
    simulator's token, verified); its id."""
    iid = str(
        create_instance(
            api, "pagerduty", integration="pagerduty", display_name="PagerDuty", base_url=sim.url
        )["id"]
    )
    if authorize:
        resp = authorize_instance(api, iid, sim.token)
        assert resp.status_code == 201, resp.text
        assert resp.json()["verified"] is True, resp.text
    return iid


def sync_now(
    api: httpx.Client, settings: Settings, db: Database, iid: str, **overrides: Any
) -> dict[str, Any]:
    """Ask for a sync over HTTP, run it on an in-test worker, return the run as listed."""
    resp = api.put(f"/v1/integration-instances/{iid}/resource-ingestion", json={})
    assert resp.status_code == 200, resp.text
    cfg = settings.model_copy(update=overrides) if overrides else settings
    run = Worker(cfg, db, name="test-worker").run_once(instance_id=uuid.UUID(iid))
    assert run is not None
    return latest_run(api, iid)


def latest_run(api: httpx.Client, iid: str) -> dict[str, Any]:
    """The newest sync run of an instance, from the API."""
    resp = api.get(f"/v1/integration-instances/{iid}/sync-runs", params={"page[size]": 1})
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["data"][0])


def ingestion(api: httpx.Client, iid: str) -> dict[str, Any]:
    """GET .../resource-ingestion."""
    resp = api.get(f"/v1/integration-instances/{iid}/resource-ingestion")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def resources(db: Database, iid: str) -> dict[str, Resource]:
    """The instance's stored resources by their upstream item id."""
    with db.session() as s:
        rows = s.scalars(select(Resource).where(Resource.instance_id == uuid.UUID(iid))).all()
        return {r.config["item_id"]: r for r in rows}


def run_count(db: Database, iid: str) -> int:
    """How many runs the instance has."""
    with db.session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(SyncRun)
                .where(SyncRun.instance_id == uuid.UUID(iid))
            )
            or 0
        )


class _HasIntegrationData(Protocol):
    @property
    def integration_data(self) -> dict[str, Any] | None: ...


def data_of(record: _HasIntegrationData) -> dict[str, Any]:
    """A stored resource's (or a discovered record's) integration data, which it must have."""
    assert record.integration_data is not None, record
    return record.integration_data


EVENT_KEYS = {
    "id",
    "type",
    "ts",
    "service_id",
    "resource_id",
    "deduplication_id",
    "actor",
    "attributes",
    "integration",
    "binding",
    "detail",
    "link_html",
}
"""The fields of an integration event or audit entry, as the API answers them."""

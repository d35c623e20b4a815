"""Filters on resources' ``config.*`` read the side table ``resource_attributes`` (issue
11: every path of config, written once with the resource), and so do ``integration_data``
filters on the paths the installed integrations declare (``owner`` and ``tier`` by the
custom integration, Traceable's: on every resource, whatever its integration); other
``integration_data.*`` filters read the JSON. All must keep giving the answers the JSON
gave, through every write (push: create, change, no change; initialize; archive; a sync;
the instance's deletion), after the migration that backfills the table and after a change
of the declared set (a connector installed or removed), on SQLite and PostgreSQL, through
a real server.

Expected answers are computed here from the documents the test wrote (what the JSON
holds), so each assertion says what a user reading the JSON would have seen.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command

from conftest import LiveServer
from service_catalog.core.db import Database
from service_catalog.core.migrate import alembic_config, upgrade
from service_catalog.integrations import registry
from service_catalog.resources.ids import resource_id
from service_catalog.resources.models import ResourceAttribute, ResourceIndexedPath
from service_catalog.settings import Settings
from service_catalog.testing.inventory_sim import InventorySimulator
from sync_support import create_instance, make_instance, sync_now

LIST = "/v1/resources"
CUSTOM = "custom_resource"
TOKEN = "inv-secret-attrs"
SIMULATOR = partial(InventorySimulator, items=30, token=TOKEN)
LONG = "x" * 150 + "needle" + "y" * 100  # beyond the indexed 200 characters


def _doc(n: int) -> dict[str, Any]:
    data: dict[str, Any] = {
        "n": n,
        "owner": f"team-{n % 3}",
        "ratio": n / 2,  # 1.0, 2.0 ... integral floats among them
        "active": n % 2 == 0,
        "deep": {"tier": n % 2, "name": f"d{n}"},
        "envs": ["prod" if n % 2 else "dev"],
        # paths Traceable declares: indexed on every resource, a custom one's too
        "service_name": f"svc-{n % 4}",
        "vulnerabilities": {"open": n % 5, "by_severity": {"CRITICAL": n % 2}},
    }
    if n % 5 == 0:
        data["notes"] = LONG
    if n % 4 == 0:
        data["owner"] = None
    return data


def _item(n: int, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": f"res-{n:03d}",
        "type": CUSTOM,
        "config": {"id": f"r{n}"},
        "integration_data": _doc(n) if data is None else data,
    }


def _nested_config(n: int) -> dict[str, Any]:
    """A config with nested paths (which the custom integration's schema refuses: the
    migration test writes it straight into the table)."""
    return {"id": f"r{n}", "region": {"name": f"eu-{n % 2}", "zone": n % 3}}


def _push(api: httpx.Client, iid: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    resp = api.put(f"/v1/integration-instances/{iid}/resources", json={"data": items})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _names(api: httpx.Client, params: Mapping[str, str], path: str = LIST) -> set[str]:
    """The names a filtered resource list shows, every page followed."""
    found: list[str] = []
    url: str | None = path
    query: dict[str, str] | None = {**params, "page[size]": "7"}
    while url:
        resp = api.get(url, params=query)
        assert resp.status_code == 200, (params, resp.text)
        body = resp.json()
        found += [r["name"] or r["id"] for r in body["data"]]
        url, query = body["meta"]["page"].get("next"), None
    assert len(found) == len(set(found)), found
    return set(found)


def _at(doc: Mapping[str, Any] | None, path: str) -> Any:
    node: Any = doc
    for seg in path.split("."):
        if not isinstance(node, dict) or seg not in node:
            return None
        node = node[seg]
    return node


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict | list):  # its JSON text (tests compare no separators)
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(value)  # as the JSON text reads it: "2.0"
    return str(value)


def _matches(value: Any, op: str, arg: str) -> bool:
    """Whether a JSON value matches ``filter[...][op]=arg`` as the JSON filters compare
    (text, or for eq a number equal to the argument's)."""
    text = _text(value)
    number = (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    )
    if op == "eq":
        try:
            as_number: float | None = float(arg)
        except ValueError:
            as_number = None
        return text == arg or (number is not None and number == as_number)
    if op == "neq":
        return text != arg
    if op == "oeq":
        return text in arg.split(",")
    if op == "contains":
        return text is not None and arg.lower() in text.lower()
    if op == "ocontains":
        return text is not None and any(a.lower() in text.lower() for a in arg.split(","))
    if number is None:
        return False
    return {"gt": number > float(arg), "gte": number >= float(arg), "lt": number < float(arg)}[op]


class World:
    """What the test wrote: each resource's name -> (config, integration_data)."""

    def __init__(self) -> None:
        self.docs: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {}

    def put(self, items: list[dict[str, Any]]) -> None:
        for it in items:
            self.docs[it["name"]] = (it["config"], it.get("integration_data"))

    def expect(self, field: str, op: str, arg: str) -> set[str]:
        prefix, _, path = field.partition(".")
        return {
            name
            for name, (config, data) in self.docs.items()
            if _matches(_at(config if prefix == "config" else data, path), op, arg)
        }


CHECKS = [
    ("config.id", "eq", "r3"),
    ("config.id", "oeq", "r3,r4,r9"),
    ("config.id", "neq", "r3"),
    ("config.id", "contains", "R1"),
    ("integration_data.owner", "eq", "team-1"),
    ("integration_data.owner", "neq", "team-1"),
    ("integration_data.owner", "oeq", "team-1,team-2"),
    ("integration_data.owner", "contains", "AM-2"),
    ("integration_data.owner", "ocontains", "m-1,m-2"),
    ("integration_data.n", "eq", "4"),
    ("integration_data.n", "gt", "5"),
    ("integration_data.n", "lt", "3"),
    ("integration_data.ratio", "eq", "2"),
    ("integration_data.ratio", "gte", "3.5"),
    ("integration_data.active", "eq", "true"),
    ("integration_data.notes", "eq", LONG),
    ("integration_data.notes", "contains", "needle"),
    ("integration_data.service_name", "oeq", "svc-1,svc-3"),
    ("integration_data.service_name", "ocontains", "C-0,x"),
    ("integration_data.vulnerabilities.open", "gt", "2"),
    ("integration_data.vulnerabilities.open", "eq", "0"),
    ("integration_data.vulnerabilities.open", "neq", "0"),
    ("integration_data.vulnerabilities.by_severity.CRITICAL", "gte", "1"),
    # not declared indexed: read through the JSON
    ("integration_data.deep.tier", "eq", "1"),
    ("integration_data.deep.name", "contains", "d1"),
    ("integration_data.envs", "contains", "prod"),
    ("integration_data.envs", "neq", "x"),
]
NESTED_CHECKS = [
    ("config.region.name", "eq", "eu-1"),
    ("config.region.zone", "eq", "2"),
    ("config.region.zone", "gte", "1"),
    ("config.region.name", "neq", "eu-1"),
    ("config.region.name", "contains", "U-0"),
]


def _check_all(
    api: httpx.Client, world: World, checks: list[tuple[str, str, str]] = CHECKS
) -> None:
    for field, op, arg in checks:
        params = {f"filter[{field}][{op}]": arg}
        assert _names(api, params) == world.expect(field, op, arg), params


def _orphans(db: Database) -> int:
    with db.session() as s:
        return int(
            s.execute(
                sa.text(
                    "SELECT count(*) FROM resource_attributes a WHERE NOT EXISTS "
                    "(SELECT 1 FROM resources r WHERE r.id = a.resource_id)"
                )
            ).scalar_one()
        )


def _rows(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(ResourceAttribute)) or 0)


def test_filters_through_push_initialize_archive_and_delete(
    api: httpx.Client, server: LiveServer
) -> None:
    inst = create_instance(api)
    world = World()
    first = [_item(n) for n in range(12)]
    _push(api, inst["id"], first)
    world.put(first)
    _check_all(api, world)

    # a push that changes some resources' integration_data (keys gone, added, retyped)
    # and leaves others as they were
    changed = [
        _item(1, {"owner": "team-2", "n": 100, "envs": "prod-now"}),
        _item(2, {"owner": {"nested": "team-1"}, "ratio": 3.5, "notes": LONG + "!"}),
        _item(3, {}),
        *(_item(n) for n in range(4, 8)),
    ]
    body = _push(api, inst["id"], changed)
    assert body["meta"] == {"created": 0, "updated": 3, "unchanged": 4}
    world.put(changed)
    _check_all(api, world)
    # integration_data null
    _push(api, inst["id"], [{**_item(8), "integration_data": None}])
    world.put([{**_item(8), "integration_data": None}])
    _check_all(api, world)

    # initialize: config indexed at once, integration_data when hydrated
    url = f"/v1/integration-instances/{inst['id']}/resources"
    resp = api.post(url, json={"type": CUSTOM, "config": {"id": "r50"}})
    assert resp.status_code == 201, resp.text
    rid = resp.json()["id"]
    assert _names(api, {"filter[config.id]": "r50"}) == {rid}
    assert _names(api, {"filter[config.id][contains]": "50"}) == {rid}
    hydrated = _item(50)
    assert _push(api, inst["id"], [hydrated])["meta"]["updated"] == 1
    world.put([hydrated])
    _check_all(api, world)

    # archive: nothing indexed changes, the archived filter combines with the index
    resp = api.patch(f"{url}/{rid}", json={"archived": True})
    assert resp.status_code == 200, resp.text
    assert _names(api, {"filter[config.id]": "r50", "filter[archived]": "true"}) == {"res-050"}
    assert _names(api, {"filter[config.id]": "r50", "filter[archived]": "false"}) == set()

    # the same filters on a service's resources and on resource mappings
    svc = api.post("/v1/catalog-services", json={"name": "svc-a", "display_name": "A"}).json()
    for n in (0, 3, 6):
        res = resource_id(uuid.UUID(inst["id"]), CUSTOM, _item(n)["config"])
        resp = api.post("/v1/resource-mappings", json={"service": svc["id"], "resource": res})
        assert resp.status_code == 201, resp.text
    of_service = f"/v1/catalog-services/{svc['id']}/resources"
    assert _names(api, {"filter[config.id][oeq]": "r0,r6,r7"}, of_service) == {
        "res-000",
        "res-006",
    }
    assert _names(api, {"filter[integration_data.owner][neq]": "x"}, of_service) == {
        "res-000",
        "res-003",
        "res-006",
    }
    assert _names(api, {"filter[integration_data.deep.tier]": "0"}, of_service) == {
        "res-000",
        "res-006",
    }
    mappings = api.get(
        "/v1/resource-mappings", params={"filter[resource.config.id][contains]": "3"}
    )
    assert mappings.status_code == 200, mappings.text
    assert {m["resource"]["name"] for m in mappings.json()["data"]} == {"res-003"}

    # deleting the instance removes its resources and their side rows
    assert _rows(server.db) > 0
    resp = api.delete(f"/v1/integration-instances/{inst['id']}")
    assert resp.status_code == 204, resp.text
    assert _rows(server.db) == 0
    assert _names(api, {"filter[config.id][contains]": "r"}) == set()


def test_facets_on_config(api: httpx.Client) -> None:
    inst = create_instance(api)
    _push(api, inst["id"], [_item(n) for n in range(10)])

    def facets(params: Mapping[str, str]) -> list[tuple[Any, int]]:
        resp = api.get(f"{LIST}/facets", params=dict(params))
        assert resp.status_code == 200, (params, resp.text)
        return [(d["value"], d["count"]) for d in resp.json()["data"]]

    assert facets({"field": "config.id", "limit": "3"}) == [("r0", 1), ("r1", 1), ("r2", 1)]
    # honouring the list's filters, integration_data ones too
    assert facets({"field": "config.id", "filter[integration_data.owner]": "team-1"}) == [
        (f"r{n}", 1) for n in range(10) if (_doc(n) or {}).get("owner") == "team-1"
    ]
    # every value sent back as a filter finds its count
    for value, count in facets({"field": "config.id"}):
        assert len(_names(api, {"filter[config.id]": value})) == count, value
    # integration_data.owner is declared indexed (by the custom integration): counted as
    # the JSON holds it, each value found back by its filter
    counts: dict[str, int] = {}
    for n in range(10):
        owner = _doc(n).get("owner")
        if owner is not None:
            counts[owner] = counts.get(owner, 0) + 1
    owners = facets({"field": "integration_data.owner"})
    assert owners == sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    for value, count in owners:
        assert len(_names(api, {"filter[integration_data.owner]": value})) == count, value
    assert facets({"field": "integration_data.owner", "filter[config.id][oeq]": "r1,r2"}) == [
        ("team-1", 1),
        ("team-2", 1),
    ]
    # an undeclared path cannot be counted: the 400 lists what can
    for field in ("integration_data.deep.tier", "integration_data.n"):
        resp = api.get(f"{LIST}/facets", params={"field": field})
        assert resp.status_code == 400, resp.text
        problem = resp.json()["invalid_parameters"][0]
        assert problem["field"] == "field"
        assert "integration_data.owner" in problem["reason"], problem
        assert "integration_data.service_name" in problem["reason"], problem


def test_sync_keeps_the_side_table_in_step(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: InventorySimulator
) -> None:
    iid = make_instance(api, sim, page_size=10)
    run = sync_now(api, settings, server.db, iid)
    assert (run["status"], run["created"]) == ("succeeded", 30), run

    def expected(pred: Callable[[dict[str, Any]], bool]) -> set[str]:
        return {it["name"] for it in sim.items if pred(it)}

    def check() -> None:
        assert _names(api, {"filter[integration_data.owner]": "team-3"}) == expected(
            lambda it: it.get("owner") == "team-3"
        )
        assert _names(api, {"filter[integration_data.kind][oeq]": "queue,bucket"}) == expected(
            lambda it: it.get("kind") in ("queue", "bucket")
        )
        assert _names(api, {"filter[config.item_id]": "item-00007"}) == expected(
            lambda it: it["id"] == "item-00007"
        )
        assert _names(api, {"filter[integration_data.tags][contains]": "prod"}) == expected(
            lambda it: any("prod" in t for t in it.get("tags", []))
        )

    check()
    # a re-sync with changes: one item's owner changed, one's key dropped, one gone
    # (marked not discovered: still listed, still indexed), the rest unchanged
    sim.items[3]["owner"] = "team-3"
    del sim.items[4]["kind"]
    gone = sim.items.pop(5)
    run = sync_now(api, settings, server.db, iid)
    assert (run["updated"], run["unchanged"], run["vanished"]) == (2, 27, 1), run
    check_gone = _names(api, {"filter[config.item_id]": gone["id"]})
    assert check_gone == {gone["name"]}
    sim.items.append(gone)
    check()
    # an unchanged re-sync writes no side rows either: the answers stay
    before = _rows(server.db)
    run = sync_now(api, settings, server.db, iid)
    assert run["created"] == 0 and run["updated"] == 0, run
    assert _rows(server.db) == before
    check()
    assert _orphans(server.db) == 0


# --- a change of the declared paths ----------------------------------------------------

REGIONS = """
from service_catalog.integrations.connectors.base import Integration

INTEGRATION = Integration(
    name="acme-regions", display_name="Acme Regions", description="Pushed regions.",
    connector=None,
    resource_types={"region": {"display_name": "Region",
                               "schema": {"type": "simple", "definition": {"id": "string"}}}},
    indexed_data=("region.name", "owner"))
"""


def _install_regions(site: Path) -> None:
    """A connector distribution declaring ``region.name`` (and ``owner``, declared by the
    custom integration too) indexed, installed into ``site``, which goes on sys.path."""
    (site / "acme_regions").mkdir(parents=True)
    (site / "acme_regions" / "__init__.py").write_text(REGIONS)
    info = site / "acme_regions-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-regions\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[service_catalog.connectors]\nacme-regions = acme_regions:INTEGRATION\n"
    )
    sys.path.insert(0, str(site))
    registry.reload()


def _uninstall_regions(site: Path) -> None:
    if str(site) in sys.path:
        sys.path.remove(str(site))
    for name in [m for m in sys.modules if m.split(".")[0] == "acme_regions"]:
        del sys.modules[name]
    registry.reload()


def _indexed_set(db: Database) -> set[str]:
    with db.session(write=False) as s:
        return set(s.scalars(sa.select(ResourceIndexedPath.path)))


def _path_rows(db: Database, path: str) -> int:
    with db.session(write=False) as s:
        stmt = sa.select(sa.func.count()).select_from(ResourceAttribute)
        return int(s.scalar(stmt.where(ResourceAttribute.path == path)) or 0)


REGION_CHECKS = [
    ("integration_data.region.name", "eq", "eu-1"),
    ("integration_data.region.name", "neq", "eu-1"),
    ("integration_data.region.name", "oeq", "eu-0,us-2"),
    ("integration_data.region.name", "contains", "EU"),
    ("integration_data.owner", "eq", "team-1"),
    ("integration_data.owner", "neq", "team-1"),
]


def test_a_changed_set_of_declared_paths_is_reindexed_at_start(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    """A database indexed for one set of declared paths, the app started with another (a
    connector installed, then removed): the index is rebuilt before the first request, and
    filters and facets answer as the JSON does."""
    site = tmp_path / "site"
    world = World()
    items = [
        _item(n, {**_doc(n), "region": {"name": f"{'eu' if n % 3 else 'us'}-{n % 4}"}})
        for n in range(20)
    ]
    items[5]["integration_data"] = {"region": "eu-1"}  # a string where others hold objects
    items[6]["integration_data"] = None
    world.put(items)
    builtin = {f"integration_data.{p}" for p in registry.indexed_data_paths()}
    assert "integration_data.region.name" not in builtin

    def serve(check: Callable[[httpx.Client], None]) -> None:
        live = LiveServer(settings, db).start()
        try:
            with live.client() as api:
                check(api)
        finally:
            live.stop()

    def region_facets(api: httpx.Client) -> httpx.Response:
        return api.get(f"{LIST}/facets", params={"field": "integration_data.region.name"})

    def first(api: httpx.Client) -> None:
        _push(api, create_instance(api)["id"], items)
        _check_all(api, world, REGION_CHECKS)  # region.name read from the JSON
        assert region_facets(api).status_code == 400

    serve(first)
    assert _indexed_set(db) == builtin
    assert _path_rows(db, "integration_data.region.name") == 0

    _install_regions(site)
    try:

        def installed(api: httpx.Client) -> None:
            _check_all(api, world, REGION_CHECKS)  # now through the rebuilt index
            resp = region_facets(api)
            assert resp.status_code == 200, resp.text
            expected: dict[str, int] = {}
            for _, data in world.docs.values():
                value = _at(data, "region.name")
                if value is not None:
                    expected[value] = expected.get(value, 0) + 1
            got = {d["value"]: d["count"] for d in resp.json()["data"]}
            assert got == expected
            # a resource pushed now is indexed for the new set at once
            more = [_item(40, {"region": {"name": "eu-1"}, "owner": "team-1"})]
            _push(api, create_instance(api, name="custom-more")["id"], more)
            world.put(more)
            _check_all(api, world, REGION_CHECKS)

        serve(installed)
        assert _indexed_set(db) == builtin | {"integration_data.region.name"}
        # every region.name held (18 of the first 20: not #5, a string, nor #6), and #40
        assert _path_rows(db, "integration_data.region.name") == 18 + 1
    finally:
        _uninstall_regions(site)

    def removed(api: httpx.Client) -> None:
        _check_all(api, world, REGION_CHECKS)  # back to the JSON
        assert region_facets(api).status_code == 400

    serve(removed)
    assert _indexed_set(db) == builtin
    assert _path_rows(db, "integration_data.region.name") == 0
    assert _orphans(db) == 0


# --- the migration ------------------------------------------------------------------


@pytest.fixture
def at_0007(empty_url: str) -> Iterator[Database]:
    """A database at revision 0007 (before the side table) holding resources written as
    that revision's schema has them."""
    db = Database(empty_url)
    cfg = alembic_config(db.url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
    assert "resource_attributes" not in sa.inspect(db.engine).get_table_names()
    now = dt.datetime.now(dt.UTC)
    iid = uuid.uuid4()
    instances = sa.table(
        "integration_instances",
        sa.column("id", sa.Uuid()),
        sa.column("integration_name", sa.String()),
        sa.column("name", sa.String()),
        sa.column("display_name", sa.String()),
        sa.column("config", sa.JSON()),
        sa.column("labels", sa.JSON()),
        sa.column("authorized", sa.Boolean()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    resources = sa.table(
        "resources",
        sa.column("id", sa.String()),
        sa.column("instance_id", sa.Uuid()),
        sa.column("integration_name", sa.String()),
        sa.column("type", sa.String()),
        sa.column("config", sa.JSON()),
        sa.column("name", sa.String()),
        sa.column("integration_data", sa.JSON()),
        sa.column("archived", sa.Boolean()),
        sa.column("discovered", sa.Boolean()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    with db.engine.begin() as conn:
        conn.execute(
            instances.insert(),
            [
                {
                    "id": iid,
                    "integration_name": "custom",
                    "name": "custom-old",
                    "display_name": "Old",
                    "config": {},
                    "labels": {},
                    "authorized": False,
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
        conn.execute(
            resources.insert(),
            [
                {
                    "id": resource_id(iid, CUSTOM, _nested_config(n)),
                    "instance_id": iid,
                    "integration_name": "custom",
                    "type": CUSTOM,
                    "config": _nested_config(n),
                    "name": f"res-{n:03d}",
                    "integration_data": _doc(n),
                    "archived": False,
                    "discovered": True,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(40)
            ],
        )
    yield db
    db.dispose()


def test_migration_backfills_the_side_table(at_0007: Database, tmp_path: Path) -> None:
    upgrade(at_0007)
    settings = Settings(
        database_url=at_0007.url,
        run_worker=False,
        key_file=str(tmp_path / "test.key"),
        secret_key=None,
    )
    world = World()
    world.put([{**_item(n), "config": _nested_config(n)} for n in range(40)])
    live = LiveServer(settings, at_0007).start()
    try:
        with live.client() as api:
            _check_all(api, world)
            _check_all(api, world, NESTED_CHECKS)
    finally:
        live.stop()
    assert _orphans(at_0007) == 0

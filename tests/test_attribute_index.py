"""Filters on ``labels.*`` and ``custom_fields.*`` read the side table
``catalog_service_attributes`` (issue 11): they must keep giving the answers a user saw
when they read the JSON, through every write (create, PATCH, delete) and after the
migration that backfills the table, on SQLite and PostgreSQL, through a real server.

Each test asserts the names a filtered list shows (and its ``meta.page.total``); where the
side table is the point (no orphans, a rename leaves it alone), its rows too.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.dialects import postgresql

from conftest import LiveServer
from service_catalog.catalog_services.models import CatalogService, CatalogServiceAttribute
from service_catalog.core.db import Database, UTCDateTime
from service_catalog.core.migrate import alembic_config, upgrade
from service_catalog.settings import Settings
from sync_support import create_service as _create

LIST = "/v1/catalog-services"
LONG = "x" * 150 + "needle" + "y" * 100  # 256 characters: beyond the indexed 200
AT_LIMIT = "z" * 200
OVER_LIMIT = "z" * 201


def _patch(api: httpx.Client, ref: str, body: Mapping[str, Any]) -> dict[str, Any]:
    resp = api.patch(f"{LIST}/{ref}", json=dict(body))
    assert resp.status_code == 200, resp.text
    patched: dict[str, Any] = resp.json()
    return patched


def _names(api: httpx.Client, params: Mapping[str, str]) -> set[str]:
    """The names of the services a filtered list shows (all of them, on one page), checked
    against the page's total and against a page of one."""
    resp = api.get(LIST, params={**params, "page[size]": "1000"})
    assert resp.status_code == 200, (params, resp.text)
    body = resp.json()
    names = [s["name"] for s in body["data"]]
    assert len(names) == len(set(names)), (params, names)
    assert body["meta"]["page"]["total"] == len(names), (params, body["meta"])
    one = api.get(LIST, params={**params, "page[size]": "1"})
    assert one.status_code == 200, one.text
    assert one.json()["meta"]["page"]["total"] == len(names), (params, one.json()["meta"])
    return set(names)


def _rows(db: Database, service_id: str) -> dict[str, tuple[str | None, str | None, float | None]]:
    """The side-table rows of one service: path -> (short, value, num)."""
    t = CatalogServiceAttribute
    with db.session() as s:
        found = s.execute(
            sa.select(t.path, t.short, t.value, t.num).where(t.owner_id == uuid.UUID(service_id))
        ).all()
    return {r.path: (r.short, r.value, r.num) for r in found}


def _orphans(db: Database) -> int:
    t = CatalogServiceAttribute
    with db.session() as s:
        return int(
            s.scalar(
                sa.select(sa.func.count())
                .select_from(t)
                .where(t.owner_id.not_in(sa.select(CatalogService.id)))
            )
            or 0
        )


@pytest.fixture
def catalog(api: httpx.Client) -> dict[str, dict[str, Any]]:
    """Five services: labels and custom fields of every kind (numbers, booleans, URL
    fields, a label key with dots), one with none at all."""
    made = [
        _create(
            api,
            "alpha",
            {"team": "core", "env": "prod"},
            {
                "tier": 2,
                "owner": "Ann",
                "on_call": True,
                "dashboard": {"name": "Grafana", "link": "https://grafana.example/d/1"},
            },
        ),
        _create(
            api,
            "bravo",
            {"team": "edge"},
            {
                "tier": 2.0,
                "owner": "Bob",
                "on_call": False,
                "dashboard": {"name": "Old", "link": "http://old.example"},
            },
        ),
        _create(api, "charlie", {"team": "core"}, {"tier": 3, "owner": "ann-marie"}),
        _create(api, "delta"),
        _create(api, "echo", {"app.kubernetes.io.name": "x"}, {"tier": -1.5}),
    ]
    return {s["name"]: s for s in made}


def test_filters_after_create(api: httpx.Client, catalog: dict[str, dict[str, Any]]) -> None:
    assert _names(api, {}) == set(catalog)
    # labels
    assert _names(api, {"filter[labels.team]": "core"}) == {"alpha", "charlie"}
    assert _names(api, {"filter[labels.team][eq]": "edge"}) == {"bravo"}
    assert _names(api, {"filter[labels.team]": "Core"}) == set()
    assert _names(api, {"filter[labels.team][neq]": "core"}) == {"bravo", "delta", "echo"}
    assert _names(api, {"filter[labels.team][oeq]": "core,edge"}) == {"alpha", "bravo", "charlie"}
    assert _names(api, {"filter[labels.team][contains]": "OR"}) == {"alpha", "charlie"}
    assert _names(api, {"filter[labels.team][ocontains]": "dg,zz"}) == {"bravo"}
    assert _names(api, {"filter[labels.missing]": "core"}) == set()
    assert _names(api, {"filter[labels.app.kubernetes.io.name]": "x"}) == {"echo"}
    # custom fields: strings
    assert _names(api, {"filter[custom_fields.owner]": "Ann"}) == {"alpha"}
    assert _names(api, {"filter[custom_fields.owner][contains]": "ann"}) == {"alpha", "charlie"}
    assert _names(api, {"filter[custom_fields.owner][oeq]": "Bob,ann-marie"}) == {
        "bravo",
        "charlie",
    }
    assert _names(api, {"filter[custom_fields.owner][ocontains]": "BO,marie"}) == {
        "bravo",
        "charlie",
    }
    assert _names(api, {"filter[custom_fields.owner][neq]": "Ann"}) == {
        "bravo",
        "charlie",
        "delta",
        "echo",
    }
    # URL fields {name, link}: the contract's example filter, and each part
    assert _names(api, {"filter[custom_fields.dashboard.link][contains]": "https"}) == {"alpha"}
    assert _names(api, {"filter[custom_fields.dashboard.link]": "http://old.example"}) == {"bravo"}
    assert _names(api, {"filter[custom_fields.dashboard.name]": "Grafana"}) == {"alpha"}
    # two filters at once, and one beside a column filter
    assert _names(api, {"filter[labels.team]": "core", "filter[custom_fields.tier]": "3"}) == {
        "charlie"
    }
    assert _names(api, {"filter[labels.team]": "core", "filter[name][contains]": "alp"}) == {
        "alpha"
    }
    assert _names(api, {"filter[labels.team]": "edge", "filter[labels.env]": "prod"}) == set()


def test_numbers_and_booleans(api: httpx.Client, catalog: dict[str, dict[str, Any]]) -> None:
    # "2" finds 2 and 2.0; "2.0" too
    assert _names(api, {"filter[custom_fields.tier]": "2"}) == {"alpha", "bravo"}
    assert _names(api, {"filter[custom_fields.tier]": "2.0"}) == {"alpha", "bravo"}
    assert _names(api, {"filter[custom_fields.tier]": "2e0"}) == {"alpha", "bravo"}
    assert _names(api, {"filter[custom_fields.tier]": "-1.5"}) == {"echo"}
    assert _names(api, {"filter[custom_fields.tier][gt]": "2"}) == {"charlie"}
    assert _names(api, {"filter[custom_fields.tier][gte]": "2"}) == {"alpha", "bravo", "charlie"}
    assert _names(api, {"filter[custom_fields.tier][lt]": "3"}) == {"alpha", "bravo", "echo"}
    assert _names(api, {"filter[custom_fields.tier][lte]": "-1.5"}) == {"echo"}
    assert _names(api, {"filter[custom_fields.tier][lt]": "-2"}) == set()
    # neq keeps the services without the key
    assert _names(api, {"filter[custom_fields.tier][neq]": "3"}) == {
        "alpha",
        "bravo",
        "delta",
        "echo",
    }
    assert "alpha" not in _names(api, {"filter[custom_fields.tier][neq]": "2"})
    # a string is not a number to compare, a boolean neither
    assert _names(api, {"filter[custom_fields.owner][gt]": "0"}) == set()
    assert _names(api, {"filter[custom_fields.on_call][gte]": "0"}) == set()
    resp = api.get(LIST, params={"filter[custom_fields.tier][gt]": "two"})
    assert resp.status_code == 400, resp.text
    assert resp.json()["invalid_parameters"][0]["field"] == "filter[custom_fields.tier][gt]"
    # booleans compare as the JSON words
    assert _names(api, {"filter[custom_fields.on_call]": "true"}) == {"alpha"}
    assert _names(api, {"filter[custom_fields.on_call]": "false"}) == {"bravo"}
    assert _names(api, {"filter[custom_fields.on_call][oeq]": "true,false"}) == {"alpha", "bravo"}


def test_side_table_rows_mirror_the_json(
    api: httpx.Client, db: Database, catalog: dict[str, dict[str, Any]]
) -> None:
    rows = _rows(db, catalog["alpha"]["id"])
    assert rows.keys() == {
        "labels.team",
        "labels.env",
        "custom_fields.tier",
        "custom_fields.owner",
        "custom_fields.on_call",
        "custom_fields.dashboard",
        "custom_fields.dashboard.name",
        "custom_fields.dashboard.link",
    }
    assert rows["labels.team"] == ("core", None, None)
    assert rows["custom_fields.tier"] == ("2", None, 2.0)
    assert rows["custom_fields.on_call"] == ("true", None, None)
    assert rows["custom_fields.dashboard.link"] == ("https://grafana.example/d/1", None, None)
    assert _rows(db, catalog["delta"]["id"]) == {}
    assert _rows(db, catalog["echo"]["id"]).keys() == {
        "labels.app.kubernetes.io.name",
        "custom_fields.tier",
    }


def test_patch_keeps_filters_in_step(
    api: httpx.Client, db: Database, catalog: dict[str, dict[str, Any]]
) -> None:
    alpha, bravo = catalog["alpha"]["id"], catalog["bravo"]["id"]
    # labels merge: a new value replaces, the others stay
    _patch(api, alpha, {"labels": {"env": "staging"}})
    assert _names(api, {"filter[labels.env]": "prod"}) == set()
    assert _names(api, {"filter[labels.env]": "staging"}) == {"alpha"}
    assert _names(api, {"filter[labels.team]": "core"}) == {"alpha", "charlie"}
    # a label set to null is removed; neq then keeps the service
    _patch(api, alpha, {"labels": {"team": None}})
    assert _names(api, {"filter[labels.team]": "core"}) == {"charlie"}
    assert "alpha" in _names(api, {"filter[labels.team][neq]": "core"})
    assert _names(api, {"filter[labels.env]": "staging"}) == {"alpha"}
    # labels: null clears them all
    _patch(api, alpha, {"labels": None})
    assert _names(api, {"filter[labels.env]": "staging"}) == set()
    assert not [p for p in _rows(db, alpha) if p.startswith("labels.")]
    assert _names(api, {"filter[custom_fields.owner]": "Ann"}) == {"alpha"}
    # custom fields: one changed, one removed, the rest stay
    _patch(api, "charlie", {"custom_fields": {"tier": 5, "owner": None}})
    assert _names(api, {"filter[custom_fields.tier]": "3"}) == set()
    assert _names(api, {"filter[custom_fields.tier]": "5"}) == {"charlie"}
    assert _names(api, {"filter[custom_fields.tier][gt]": "4"}) == {"charlie"}
    assert _names(api, {"filter[custom_fields.owner][contains]": "ann"}) == {"alpha"}
    # a URL field changed
    _patch(api, alpha, {"custom_fields": {"dashboard": {"name": "New", "link": "http://new"}}})
    assert _names(api, {"filter[custom_fields.dashboard.link][contains]": "https"}) == set()
    assert _names(api, {"filter[custom_fields.dashboard.name]": "New"}) == {"alpha"}
    # custom_fields: null clears them all, labels stay
    _patch(api, bravo, {"custom_fields": None})
    assert _names(api, {"filter[custom_fields.tier]": "2"}) == {"alpha"}
    assert _names(api, {"filter[custom_fields.on_call]": "false"}) == set()
    assert _rows(db, bravo).keys() == {"labels.team"}
    # a rename leaves the labels (and their rows) alone
    before = _rows(db, bravo)
    renamed = _patch(api, bravo, {"name": "bravo-two", "display_name": "Bravo Two"})
    assert renamed["labels"] == {"team": "edge"}
    assert _rows(db, bravo) == before
    assert _names(api, {"filter[labels.team]": "edge"}) == {"bravo-two"}
    # a PATCH that changes nothing keeps everything findable
    _patch(api, bravo, {"labels": {"team": "edge"}})
    assert _names(api, {"filter[labels.team]": "edge"}) == {"bravo-two"}
    assert _orphans(db) == 0


def test_delete_leaves_no_orphans(
    api: httpx.Client, db: Database, catalog: dict[str, dict[str, Any]]
) -> None:
    for name in ("alpha", "charlie"):
        resp = api.delete(f"{LIST}/{catalog[name]['id']}")
        assert resp.status_code == 204, resp.text
        assert _rows(db, catalog[name]["id"]) == {}
    assert _orphans(db) == 0
    assert _names(api, {"filter[labels.team]": "core"}) == set()
    assert _names(api, {"filter[labels.team][neq]": "core"}) == {"bravo", "delta", "echo"}
    assert _names(api, {"filter[custom_fields.tier][gte]": "2"}) == {"bravo"}
    # a new service may take a deleted one's name and is found by its own labels only
    _create(api, "alpha", {"team": "edge"})
    assert _names(api, {"filter[labels.team]": "edge"}) == {"alpha", "bravo"}
    assert _names(api, {"filter[labels.env]": "prod"}) == set()


def test_long_custom_field_strings(api: httpx.Client, db: Database) -> None:
    long_link = "https://dash.example/" + "p" * 300
    _create(api, "long", custom_fields={"notes": LONG, "dash": {"name": "d", "link": long_link}})
    _create(api, "at-limit", custom_fields={"notes": AT_LIMIT})
    _create(api, "over-limit", custom_fields={"notes": OVER_LIMIT})
    _create(api, "short", custom_fields={"notes": "needle"})
    assert _names(api, {"filter[custom_fields.notes]": LONG}) == {"long"}
    assert _names(api, {"filter[custom_fields.notes]": LONG[:200]}) == set()
    assert _names(api, {"filter[custom_fields.notes]": AT_LIMIT}) == {"at-limit"}
    assert _names(api, {"filter[custom_fields.notes]": OVER_LIMIT}) == {"over-limit"}
    assert _names(api, {"filter[custom_fields.notes][contains]": "needle"}) == {"long", "short"}
    assert _names(api, {"filter[custom_fields.notes][contains]": "NEEDLE"}) == {"long", "short"}
    assert _names(api, {"filter[custom_fields.notes][contains]": "y" * 100}) == {"long"}
    assert _names(api, {"filter[custom_fields.notes][oeq]": f"{LONG},needle"}) == {
        "long",
        "short",
    }
    assert _names(api, {"filter[custom_fields.notes][ocontains]": "zzz,xneedley"}) == {
        "long",
        "at-limit",
        "over-limit",
    }
    assert _names(api, {"filter[custom_fields.notes][neq]": LONG}) == {
        "at-limit",
        "over-limit",
        "short",
    }
    assert _names(api, {"filter[custom_fields.dash.link]": long_link}) == {"long"}
    assert _names(api, {"filter[custom_fields.dash.link][contains]": "ppp"}) == {"long"}
    # facets give the long values whole, with their counts, and they filter back
    resp = api.get(f"{LIST}/facets", params={"field": "custom_fields.notes"})
    assert resp.status_code == 200, resp.text
    counts = {f["value"]: f["count"] for f in resp.json()["data"]}
    assert counts == {LONG: 1, AT_LIMIT: 1, OVER_LIMIT: 1, "needle": 1}
    for value in counts:
        assert len(_names(api, {"filter[custom_fields.notes]": value})) == 1
    long_id = next(
        s["id"]
        for s in api.get(LIST, params={"page[size]": "100"}).json()["data"]
        if s["name"] == "long"
    )
    assert _rows(db, long_id)["custom_fields.notes"] == (None, LONG, None)


def test_unusual_paths_answer_empty_not_500(
    api: httpx.Client, catalog: dict[str, dict[str, Any]]
) -> None:
    for field in ("labels." + "k" * 300, "custom_fields." + "k" * 300, "custom_fields.a.b.c.d"):
        assert _names(api, {f"filter[{field}]": "x"}) == set()
        assert _names(api, {f"filter[{field}][neq]": "x"}) == set(catalog)
        assert _names(api, {f"filter[{field}][gt]": "1"}) == set()
    assert _names(api, {"filter[labels.team]": "k" * 300}) == set()
    assert _names(api, {"filter[labels.team][contains]": "%"}) == set()
    assert _names(api, {"filter[labels.team][contains]": "_"}) == set()
    assert _names(api, {"filter[labels.team][contains]": ""}) == {"alpha", "bravo", "charlie"}


# --- the migration that backfills the side table ---------------------------------------


_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_SERVICES_0005 = sa.table(
    "catalog_services",
    sa.column("id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("display_name", sa.String()),
    sa.column("description", sa.Text()),
    sa.column("labels", _JSON),
    sa.column("custom_fields", _JSON),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)


@pytest.fixture
def at_0005(empty_url: str) -> Iterator[Database]:
    """A database at revision 0005 (before the side table) holding services with labels
    and custom fields, written as that revision's schema has them."""
    db = Database(empty_url)
    cfg = alembic_config(db.url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005")
    assert "catalog_service_attributes" not in sa.inspect(db.engine).get_table_names()
    now = dt.datetime.now(dt.UTC)
    rows = [
        ("old-a", {"team": "core"}, {"tier": 2, "dashboard": {"name": "G", "link": "https://g"}}),
        ("old-b", {"team": "core", "env": "prod"}, {"tier": 2.0, "notes": LONG}),
        ("old-c", {"team": "edge"}, {"on_call": True}),
        ("old-d", {}, {}),
    ]
    # more than one backfill batch would need 5000 rows; a few dozen beside them show
    # that every row is indexed, not only the first
    rows += [(f"bulk-{n:03}", {"shard": f"s{n % 7}"}, {"n": n}) for n in range(60)]
    with db.engine.begin() as conn:
        conn.execute(
            _SERVICES_0005.insert(),
            [
                {
                    "id": uuid.uuid4(),
                    "name": name,
                    "display_name": name.title(),
                    "description": None,
                    "labels": labels,
                    "custom_fields": fields,
                    "created_at": now,
                    "updated_at": now,
                }
                for name, labels, fields in rows
            ],
        )
    yield db
    db.dispose()


def test_migration_backfills_the_side_table(at_0005: Database, tmp_path: Path) -> None:
    upgrade(at_0005)
    settings = Settings(
        database_url=at_0005.url,
        run_worker=False,
        key_file=str(tmp_path / "test.key"),
        secret_key=None,
    )
    live = LiveServer(settings, at_0005).start()
    try:
        with live.client() as api:
            assert _names(api, {"filter[labels.team]": "core"}) == {"old-a", "old-b"}
            assert _names(api, {"filter[labels.env]": "prod"}) == {"old-b"}
            assert _names(api, {"filter[labels.team][neq]": "core"}) >= {"old-c", "old-d"}
            assert _names(api, {"filter[custom_fields.tier]": "2"}) == {"old-a", "old-b"}
            assert _names(api, {"filter[custom_fields.dashboard.link][contains]": "https"}) == {
                "old-a"
            }
            assert _names(api, {"filter[custom_fields.notes]": LONG}) == {"old-b"}
            assert _names(api, {"filter[custom_fields.on_call]": "true"}) == {"old-c"}
            assert _names(api, {"filter[labels.shard]": "s3"}) == {
                f"bulk-{n:03}" for n in range(60) if n % 7 == 3
            }
            assert _names(api, {"filter[custom_fields.n][gte]": "55"}) == {
                f"bulk-{n:03}" for n in range(55, 60)
            }
            resp = api.get(f"{LIST}/facets", params={"field": "labels.team"})
            assert resp.status_code == 200, resp.text
            assert resp.json()["data"] == [
                {"value": "core", "count": 2},
                {"value": "edge", "count": 1},
            ]
            # and the table goes on being kept in step after the upgrade
            _patch(api, "old-a", {"labels": {"team": "edge"}})
            assert _names(api, {"filter[labels.team]": "edge"}) == {"old-a", "old-c"}
    finally:
        live.stop()
    assert _orphans(at_0005) == 0

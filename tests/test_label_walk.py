"""A list filtered on labels/custom fields alone and sorted by display_name pages through
the side table's ``(path, short, display_name, service_id)`` index (issue 11: "sorting or
paging never materialises all matches"). It must show exactly what the general path shows:
the same services, in the same order (display_name, then id for equal names), with the
same totals, on every page, after every write that moves a service in or out of a label
or changes its display name, on SQLite and PostgreSQL through a real server.

The general path is reached by adding a filter that matches every service but is not on
the side table (``filter[created_at][gt]`` far in the past), so each query is asked both
ways and the answers compared, and also against the order computed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from conftest import LiveServer
from service_catalog.core.db import Database

LIST = "/v1/catalog-services"
EVERYONE = {"filter[created_at][gt]": "2000-01-01T00:00:00Z"}  # not on the side table


def _walk(api: httpx.Client, params: Mapping[str, str], size: int) -> tuple[list[str], int]:
    """Every page of ``params`` at ``size`` a page: the names in order, and the total
    each page reported (all equal)."""
    names: list[str] = []
    totals: set[int] = set()
    number = 1
    while True:
        resp = api.get(
            LIST, params={**params, "page[size]": str(size), "page[number]": str(number)}
        )
        assert resp.status_code == 200, (params, resp.text)
        body = resp.json()
        totals.add(body["meta"]["page"]["total"])
        names.extend(s["name"] for s in body["data"])
        if len(body["data"]) < size:
            break
        number += 1
    assert len(totals) == 1, (params, totals)
    return names, totals.pop()


def _same_both_ways(api: httpx.Client, params: Mapping[str, str]) -> list[str]:
    """The names ``params`` lists (walking pages of 3 and one page of 1000), checked
    equal to the general path's answer; returns them."""
    walked, total = _walk(api, params, 3)
    general, general_total = _walk(api, {**params, **EVERYONE}, 3)
    assert walked == general, params
    assert total == general_total == len(walked), (params, total, general_total)
    whole, _ = _walk(api, params, 1000)
    assert whole == walked
    return walked


def _make(api: httpx.Client, name: str, display: str, labels: dict[str, str], **fields: Any) -> str:
    resp = api.post(
        LIST,
        json={"name": name, "display_name": display, "labels": labels, "custom_fields": fields},
    )
    assert resp.status_code == 201, resp.text
    ident: str = resp.json()["id"]
    return ident


@pytest.fixture
def catalog(api: httpx.Client) -> dict[str, str]:
    """Fourteen services in shards a/b/c with owners; several share a display name, so
    the id breaks their tie."""
    ids = {}
    for n in range(14):
        display = ["Zeta", "Alpha", "Mid", "Alpha"][n % 4]
        ids[f"svc-{n:02}"] = _make(
            api,
            f"svc-{n:02}",
            display,
            {"shard": "abc"[n % 3], "env": "prod" if n % 2 else "dev"},
            owner=f"owner{n % 2}",
            tier=n % 5,
        )
    return ids


def _expected(ids: Mapping[str, str], display: Mapping[str, str], names: list[str]) -> list[str]:
    return sorted(names, key=lambda n: (display[n], ids[n]))


def _displays(api: httpx.Client) -> dict[str, str]:
    body = api.get(LIST, params={"page[size]": "1000"}).json()
    return {s["name"]: s["display_name"] for s in body["data"]}


def test_walk_answers_as_the_general_path(api: httpx.Client, catalog: dict[str, str]) -> None:
    display = _displays(api)
    shard_a = [n for i, n in enumerate(sorted(catalog)) if i % 3 == 0]
    assert _same_both_ways(api, {"filter[labels.shard]": "a"}) == _expected(
        catalog, display, shard_a
    )
    # a descending sort: names descending, the id still ascending within a name
    desc = _same_both_ways(api, {"filter[labels.shard]": "a", "sort": "display_name desc"})
    by_id = sorted(shard_a, key=lambda n: catalog[n])
    assert desc == sorted(by_id, key=lambda n: display[n], reverse=True)  # (stable)
    # oeq, two labels, a custom field beside a label, neq and a number range as the
    # second term, a value no service holds
    both = _same_both_ways(api, {"filter[labels.shard][oeq]": "a,b"})
    assert len(both) == len([i for i in range(14) if i % 3 != 2])
    pair = _same_both_ways(api, {"filter[labels.shard]": "a", "filter[labels.env]": "prod"})
    assert pair == _expected(catalog, display, [n for n in shard_a if int(n[-2:]) % 2])
    owner = _same_both_ways(
        api, {"filter[labels.shard]": "b", "filter[custom_fields.owner]": "owner0"}
    )
    assert owner and all(int(n[-2:]) % 3 == 1 and int(n[-2:]) % 2 == 0 for n in owner)
    neq = _same_both_ways(api, {"filter[labels.shard]": "a", "filter[labels.env][neq]": "prod"})
    assert neq == _expected(catalog, display, [n for n in shard_a if int(n[-2:]) % 2 == 0])
    tier = _same_both_ways(
        api, {"filter[labels.shard]": "a", "filter[custom_fields.tier][gte]": "3"}
    )
    assert tier == _expected(catalog, display, [n for n in shard_a if int(n[-2:]) % 5 >= 3])
    assert _same_both_ways(api, {"filter[labels.shard]": "nope"}) == []
    # a number value is also its number spelling: the general path answers it
    assert _same_both_ways(api, {"filter[custom_fields.tier]": "4"}) == _expected(
        catalog, display, [n for n in catalog if int(n[-2:]) % 5 == 4]
    )


def test_pages_beyond_the_end_keep_the_total(api: httpx.Client, catalog: dict[str, str]) -> None:
    resp = api.get(
        LIST, params={"filter[labels.shard]": "a", "page[size]": "2", "page[number]": "9"}
    )
    assert resp.status_code == 200
    assert resp.json()["data"] == []
    assert resp.json()["meta"]["page"] == {"number": 9, "size": 2, "total": 5}
    full = api.get(LIST, params={"filter[labels.shard]": "a", "page[size]": "5"}).json()
    assert len(full["data"]) == 5 and full["meta"]["page"]["total"] == 5


def test_writes_move_services_in_the_walk(
    api: httpx.Client, catalog: dict[str, str], db: Database
) -> None:
    # a new display name moves the service within its label's order
    moved = api.patch(f"{LIST}/svc-03", json={"display_name": "Aardvark"})
    assert moved.status_code == 200, moved.text
    assert _same_both_ways(api, {"filter[labels.shard]": "a"})[0] == "svc-03"
    later = api.patch(f"{LIST}/svc-03", json={"display_name": "Zz top"})
    assert later.status_code == 200
    assert _same_both_ways(api, {"filter[labels.shard]": "a"})[-1] == "svc-03"
    # a label change moves it out of one shard and into another, with its name
    relabel = api.patch(f"{LIST}/svc-03", json={"labels": {"shard": "c"}, "display_name": "Beta"})
    assert relabel.status_code == 200
    assert "svc-03" not in _same_both_ways(api, {"filter[labels.shard]": "a"})
    shard_c = _same_both_ways(api, {"filter[labels.shard]": "c"})
    assert "svc-03" in shard_c
    display = _displays(api)
    assert shard_c == _expected(catalog, display, shard_c)
    # deleted: gone from the walk and the side table
    assert api.delete(f"{LIST}/svc-03").status_code == 204
    assert "svc-03" not in _same_both_ways(api, {"filter[labels.shard]": "c"})
    with db.session() as s:
        names = s.execute(
            sa.text("SELECT DISTINCT display_name FROM catalog_service_attributes")
        ).scalars()
        assert "Beta" not in set(names)


def test_side_rows_carry_the_display_name(
    api: httpx.Client, catalog: dict[str, str], db: Database, server: LiveServer
) -> None:
    assert api.patch(f"{LIST}/svc-01", json={"display_name": "Renamed"}).status_code == 200
    with db.session() as s:
        rows = s.execute(
            sa.text(
                "SELECT a.display_name, s.display_name FROM catalog_service_attributes a "
                "JOIN catalog_services s ON s.id = a.service_id"
            )
        ).all()
    assert rows and all(side == own for side, own in rows)


def test_a_label_page_reads_the_side_index_in_order(
    api: httpx.Client, catalog: dict[str, str], server: LiveServer
) -> None:
    """The page's keys come from the side table alone, in its index order (no sorter on
    SQLite), and only the page's rows are read from catalog_services, by key: on SQLite
    in a second statement, on PostgreSQL joined to the page of keys in the walk's own
    statement (one round trip)."""
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, sql: str, params: Any, *_: Any) -> None:
        seen.append((sql, params))

    sa.event.listen(server.db.engine, "before_cursor_execute", record)
    try:
        resp = api.get(LIST, params={"filter[labels.shard]": "a", "page[size]": "2"})
    finally:
        sa.event.remove(server.db.engine, "before_cursor_execute", record)
    assert resp.status_code == 200
    assert [s["name"] for s in resp.json()["data"]] == _same_both_ways(
        api, {"filter[labels.shard]": "a"}
    )[:2]
    selects = [(q, p) for q, p in seen if q.lstrip().upper().startswith("SELECT")]
    keyed = [q for q, _ in selects if "FROM catalog_services" in q]
    walks = [(q, p) for q, p in selects if "ORDER BY" in q and "catalog_service_attributes" in q]
    assert len(walks) == 1, selects
    sql, params = walks[0]
    if server.db.dialect == "sqlite":
        assert all("catalog_services.id IN" in q for q in keyed), keyed
        assert "catalog_services" not in sql.replace("catalog_service_attributes", "")
    else:
        assert not keyed, keyed
        assert "JOIN catalog_services ON catalog_services.id = walk_page." in sql, sql
    with server.db.engine.connect() as conn:
        if server.db.dialect == "sqlite":
            plan = " | ".join(
                str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)
            )
            assert "COVERING INDEX ix_catalog_service_attributes_short" in plan, plan
            assert "TEMP B-TREE" not in plan, plan
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = " | ".join(str(r[0]) for r in conn.exec_driver_sql("EXPLAIN " + sql, params))
            assert "ix_catalog_service_attributes_short" in plan, plan
            # the page's rows, by key
            assert "Index Cond: (id = catalog_service_attributes_walk.service_id)" in plan, plan

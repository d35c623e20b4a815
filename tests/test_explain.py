"""Every list query reads an index (issue 11: "EXPLAIN of every list query in a test
asserts the index is used").

Each case asks the real server for one list (or facets) and records, with a
``before_cursor_execute`` listener on the server's engine, the SELECTs it ran on the big
tables. Then the database explains each one with the parameters it was sent:

- PostgreSQL, with ``SET enable_seqscan = off``: the planner then takes any index that
  can serve the query, so a ``Seq Scan`` left on a big table means no index can. Under
  that setting a full read also hides as an index walk, so an index scan that filters rows
  without bounding its index's first column (or a bitmap heap scan that filters with no
  index condition) counts as a full read too;
- SQLite, ``EXPLAIN QUERY PLAN``: no ``SCAN <big table>`` (a walk of the whole table or
  of a whole index).

The queries that must read every row (``contains`` on a column, ``neq``, an unfiltered
count or walk of the sort index) name the table with the reason in ``Case.full_scans``;
a list with no index to serve it is an ``xfail(strict=True)`` naming the finding.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from conftest import LiveServer
from service_catalog.core.db import Database

BIG = (
    "catalog_services",
    "catalog_service_attributes",
    "resources",
    "resource_attributes",
    "resource_mappings",
    "events",
)
_MENTIONS = re.compile(r"\b(" + "|".join(BIG) + r")\b")
_SQLITE_SCAN = re.compile(r"\bSCAN (" + "|".join(BIG) + r")\b")


@dataclass(frozen=True)
class Case:
    """One list request: ``path`` (given the world's ids) and its query parameters;
    ``full_scans`` the big tables it may legitimately read whole, each with why."""

    name: str
    path: Callable[[Mapping[str, str]], str]
    params: Mapping[str, str]
    full_scans: Mapping[str, str] = field(default_factory=dict)
    marks: tuple[Any, ...] = ()


def _const(path: str) -> Callable[[Mapping[str, str]], str]:
    return lambda _w: path


UNFILTERED = "an unfiltered list counts every row (meta.page.total)"
SORT_WALK = "unfiltered: walks the sort index and stops at the page's LIMIT"
INTEGRATION_DATA = (
    "integration_data.n is not a declared indexed path (Integration.indexed_data): indexing "
    "every path cost a 100,000-item first sync 3.3 -> 7.6 s (issue 11's note); its filters "
    "read the JSON"
)
CASES = [
    # catalog services
    Case("services-by-name", _const("/v1/catalog-services"), {"filter[name]": "svc-07"}),
    Case(
        "services-by-name-oeq",
        _const("/v1/catalog-services"),
        {"filter[name][oeq]": "svc-07,svc-08"},
    ),
    Case("services-by-label", _const("/v1/catalog-services"), {"filter[labels.team]": "core"}),
    Case(
        "services-by-label-sorted",
        _const("/v1/catalog-services"),
        {"filter[labels.team]": "core", "sort": "created_at desc", "page[size]": "5"},
    ),
    Case(
        "services-by-label-oeq",
        _const("/v1/catalog-services"),
        {"filter[labels.team][oeq]": "core,edge"},
    ),
    Case(
        "services-by-label-contains",
        _const("/v1/catalog-services"),
        {"filter[labels.team][contains]": "or"},
    ),
    Case(
        "services-by-label-ocontains",
        _const("/v1/catalog-services"),
        {"filter[labels.team][ocontains]": "or,dg"},
    ),
    Case(
        "services-by-custom-field-number",
        _const("/v1/catalog-services"),
        {"filter[custom_fields.tier]": "2"},
    ),
    Case(
        "services-by-custom-field-gt",
        _const("/v1/catalog-services"),
        {"filter[custom_fields.tier][gt]": "2"},
    ),
    Case(
        "services-by-custom-field-string",
        _const("/v1/catalog-services"),
        {"filter[custom_fields.owner]": "ann"},
    ),
    Case(
        "services-by-url-field-contains",
        _const("/v1/catalog-services"),
        {"filter[custom_fields.dashboard.link][contains]": "https"},
    ),
    Case(
        "services-by-long-custom-field",
        _const("/v1/catalog-services"),
        {"filter[custom_fields.owner]": "a" * 250},
    ),
    Case(
        "services-two-filters",
        _const("/v1/catalog-services"),
        {"filter[labels.team]": "core", "filter[custom_fields.tier]": "2"},
    ),
    Case(
        "services-label-and-name",
        _const("/v1/catalog-services"),
        {"filter[labels.team]": "core", "filter[name][oeq]": "svc-03,svc-04"},
    ),
    Case(
        "services-label-neq",
        _const("/v1/catalog-services"),
        {"filter[labels.team][neq]": "core"},
        {"catalog_services": "neq keeps every service but the few with the value"},
    ),
    Case(
        "services-name-contains",
        _const("/v1/catalog-services"),
        {"filter[name][contains]": "07"},
        {"catalog_services": "a substring of the name has no index (LIKE '%..%')"},
    ),
    Case(
        "services-unfiltered",
        _const("/v1/catalog-services"),
        {},
        {"catalog_services": UNFILTERED},
    ),
    Case("facets-label", _const("/v1/catalog-services/facets"), {"field": "labels.team"}),
    Case(
        "facets-custom-field",
        _const("/v1/catalog-services/facets"),
        {"field": "custom_fields.tier"},
    ),
    Case(
        "facets-label-filtered-by-label",
        _const("/v1/catalog-services/facets"),
        {"field": "labels.team", "filter[labels.env]": "prod"},
    ),
    Case(
        "facets-label-filtered-by-name",
        _const("/v1/catalog-services/facets"),
        {"field": "labels.team", "filter[name][oeq]": "svc-03,svc-04"},
    ),
    # resources
    Case(
        "resources-by-integration-name",
        _const("/v1/resources"),
        {"filter[integration.name]": "custom"},
    ),
    Case(
        "resources-by-type",
        _const("/v1/resources"),
        {"filter[type]": "custom_resource"},
    ),
    Case(
        "resources-by-integration-name-and-type",
        _const("/v1/resources"),
        {"filter[integration.name]": "custom", "filter[type]": "custom_resource"},
    ),
    Case(
        "resources-by-instance",
        lambda w: "/v1/resources",
        {"filter[integration.instance.name]": "custom-prod"},
    ),
    Case("resources-by-config", _const("/v1/resources"), {"filter[config.id]": "r3"}),
    Case(
        "resources-by-config-oeq",
        _const("/v1/resources"),
        {"filter[config.id][oeq]": "r3,r4"},
    ),
    # integration_data paths an integration declares indexed (custom: owner, tier)
    Case(
        "resources-by-integration-data",
        _const("/v1/resources"),
        {"filter[integration_data.owner]": "team-1"},
    ),
    Case(
        "resources-by-integration-data-oeq",
        _const("/v1/resources"),
        {"filter[integration_data.owner][oeq]": "team-1,team-0"},
    ),
    Case(
        "resources-by-integration-data-number",
        _const("/v1/resources"),
        {"filter[integration_data.tier][gte]": "1"},
    ),
    Case(
        "resources-by-integration-data-declared-by-another",
        _const("/v1/resources"),
        {"filter[integration_data.service_name]": "name-1"},
    ),
    Case(
        "resource-facets-integration-data",
        _const("/v1/resources/facets"),
        {"field": "integration_data.owner"},
    ),
    Case(
        "resource-facets-integration-data-filtered",
        _const("/v1/resources/facets"),
        {"field": "integration_data.owner", "filter[config.id][oeq]": "r1,r2"},
    ),
    # ... and one no integration declares
    Case(
        "resources-by-undeclared-integration-data",
        _const("/v1/resources"),
        {"filter[integration_data.n][gte]": "4"},
        {"resources": INTEGRATION_DATA},
    ),
    Case("resources-unfiltered", _const("/v1/resources"), {}, {"resources": SORT_WALK}),
    Case("resources-of-a-service", lambda w: f"/v1/catalog-services/{w['service']}/resources", {}),
    Case(
        "services-of-a-resource",
        lambda w: f"/v1/resources/{w['resource']}/catalog-services",
        {},
    ),
    # resource mappings
    Case(
        "mappings-unfiltered",
        _const("/v1/resource-mappings"),
        {},
        {"resource_mappings": f"{UNFILTERED}; {SORT_WALK}"},
    ),
    Case(
        "mappings-by-service-name",
        _const("/v1/resource-mappings"),
        {"filter[service.name]": "svc-01"},
    ),
    Case(
        "mappings-by-resource-name",
        lambda w: "/v1/resource-mappings",
        {"filter[resource.name]": "res-1"},
    ),
    Case(
        "mappings-by-resource-config",
        _const("/v1/resource-mappings"),
        {"filter[resource.config.id]": "r1"},
    ),
    # events
    Case("integration-events", _const("/v1/integration-events"), {}),
    Case(
        "integration-events-of-a-service",
        lambda w: f"/v1/catalog-services/{w['service']}/integration-events",
        {},
    ),
    Case("audit-log", _const("/v1/audit-log"), {}),
]


@pytest.fixture
def world(api: httpx.Client) -> dict[str, str]:
    """Services with labels and custom fields, resources of a custom integration
    instance, mappings and events."""
    ids = []
    for n in range(12):
        resp = api.post(
            "/v1/catalog-services",
            json={
                "name": f"svc-{n:02}",
                "display_name": f"Service {n}",
                "labels": {"team": ["core", "edge", "data"][n % 3], "env": "prod"},
                "custom_fields": {
                    "tier": n % 4,
                    "owner": "ann" if n % 2 else "a" * 250,
                    "dashboard": {"name": "d", "link": f"https://d/{n}"},
                },
            },
        )
        assert resp.status_code == 201, resp.text
        ids.append(resp.json()["id"])
    resp = api.post(
        "/v1/integration-instances",
        json={
            "integration_name": "custom",
            "name": "custom-prod",
            "display_name": "Custom Prod",
            "config": {},
        },
    )
    assert resp.status_code == 201, resp.text
    instance = resp.json()["id"]
    items = [
        {
            "name": f"res-{n}",
            "type": "custom_resource",
            "config": {"id": f"r{n}"},
            "integration_data": {
                "owner": f"team-{n % 2}",
                "n": n,
                "tier": n % 3,
                "service_name": f"name-{n}",  # (a path Traceable declares: indexed too)
            },
        }
        for n in range(6)
    ]
    resp = api.put(f"/v1/integration-instances/{instance}/resources", json={"data": items})
    assert resp.status_code == 200, resp.text
    resources = [r["id"] for r in resp.json()["data"]]
    for res, svc in zip(resources, ids, strict=False):
        resp = api.post("/v1/resource-mappings", json={"service": svc, "resource": res})
        assert resp.status_code == 201, resp.text
    resp = api.post(
        f"/v1/integration-instances/{instance}/integration-events",
        json={
            "data": [
                {
                    "type": "deploy",
                    "deduplication_id": f"d{n}",
                    "service": "svc-01",
                    "detail": f"Deployment {n}",
                }
                for n in range(3)
            ]
        },
    )
    assert resp.status_code == 202, resp.text
    return {"service": ids[1], "resource": resources[0], "instance": instance}


@pytest.fixture
def statements(server: LiveServer) -> Iterator[list[tuple[str, Any]]]:
    """The SQL (and its parameters) the server's engine runs while the test runs."""
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, sql: str, params: Any, *_: Any) -> None:
        seen.append((sql, params))

    event.listen(server.db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(server.db.engine, "before_cursor_execute", record)


def _selects_on_big_tables(seen: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [
        (sql, params)
        for sql, params in seen
        if sql.lstrip().upper().startswith(("SELECT", "WITH")) and _MENTIONS.search(sql)
    ]


def _plan(db: Database, sql: str, params: Any) -> list[str]:
    with db.engine.connect() as conn:
        if db.dialect == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
            rows = conn.exec_driver_sql("EXPLAIN " + sql, params).all()
            conn.exec_driver_sql("RESET enable_seqscan")
            return [str(r[0]) for r in rows]
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
        return [str(r[-1]) for r in rows]


def _leading_columns(db: Database) -> dict[str, tuple[str, str]]:
    """PostgreSQL: each index on a big table -> (its table, its first column)."""
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT i.relname, t.relname, a.attname FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0] "
            "WHERE t.relname = ANY(%(tables)s)",
            {"tables": list(BIG)},
        ).all()
    return {str(r[0]): (str(r[1]), str(r[2])) for r in rows}


_PG_NODE = re.compile(
    r"(Seq Scan|Index Only Scan|Index Scan|Bitmap Heap Scan|Bitmap Index Scan)"
    r"(?: Backward)?(?: using (\S+))? on (\S+)"
)


def _pg_full_walks(
    plan: list[str], leading: Mapping[str, tuple[str, str]]
) -> list[tuple[str, str]]:
    """(table, node) of each plan node that reads a big table whole: a ``Seq Scan``; an
    index scan that filters rows without bounding its index's first column (the disguise
    a seq scan takes under ``enable_seqscan = off``); a bitmap heap scan that filters
    without any index condition."""
    found = []
    nodes = [i for i, line in enumerate(plan) if _PG_NODE.search(line)]
    for n, i in enumerate(nodes):
        m = _PG_NODE.search(plan[i])
        assert m is not None
        kind, index, target = m.group(1), m.group(2), m.group(3)
        details = plan[i + 1 : nodes[n + 1] if n + 1 < len(nodes) else len(plan)]
        conds = " ".join(d for d in details if "Index Cond:" in d or "Recheck Cond:" in d)
        filtered = any("Filter:" in d and "Join Filter:" not in d for d in details)
        if kind == "Seq Scan":
            if target in BIG:
                found.append((target, plan[i].strip()))
            continue
        if kind == "Bitmap Heap Scan":
            if target in BIG and filtered and not conds:
                found.append((target, plan[i].strip()))
            continue
        name = index if kind != "Bitmap Index Scan" else target
        if name not in leading:
            continue
        table, lead = leading[name]
        bounded = re.search(rf"\b{lead}\b", conds) is not None
        if (conds or filtered) and not bounded:
            found.append((table, plan[i].strip()))
    return found


def _sqlite_full_walks(plan: list[str]) -> list[tuple[str, str]]:
    """(table, line) of each ``SCAN <big table>`` (of the table or of a whole index)."""
    return [(m.group(1), line) for line in plan if (m := _SQLITE_SCAN.search(line))]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=c.marks) for c in CASES])
def test_list_queries_read_an_index(
    api: httpx.Client,
    server: LiveServer,
    world: dict[str, str],
    statements: list[tuple[str, Any]],
    case: Case,
) -> None:
    path = case.path(world)
    api.get(path, params=dict(case.params))  # warm (token, caches)
    statements.clear()
    resp = api.get(path, params=dict(case.params))
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"], resp.text
    selects = _selects_on_big_tables(statements)
    assert selects, f"no SELECT on {BIG} recorded for {path} {case.params}"
    leading = _leading_columns(server.db) if server.db.dialect == "postgresql" else {}
    failures = []
    for sql, params in selects:
        plan = _plan(server.db, sql, params)
        walks = _pg_full_walks(plan, leading) if leading else _sqlite_full_walks(plan)
        walks = [w for w in walks if w[0] not in case.full_scans]
        if walks:
            failures.append(f"{walks}\n{sql}\n{params}\n" + "\n".join(plan))
    assert not failures, "\n\n".join(failures)

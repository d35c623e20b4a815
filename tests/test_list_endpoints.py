"""One generic suite for every list endpoint (the way NetBox's ``utilities/testing`` API
mixins test every model alike), on SQLite and PostgreSQL, through a real server:

- every field and operator of the list's FilterSpec is accepted, and ``eq`` on a value an
  item shows finds that item; an unknown field or operator is a 400 naming the parameter;
- every sort field sorts, both ways; an unknown one is a 400;
- page meta and paging: number pages add up to the whole list, cursor pages walk it both
  ways (``next`` then ``previous``) with every item exactly once;
- the OpenAPI document names every FilterSpec field and operator for the route;
- a page costs the same number of SQL statements whatever its size (no N+1).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from sqlalchemy import event

from conftest import LiveServer
from service_catalog.catalog_services import service as services
from service_catalog.core import query as q
from service_catalog.core.openapi import filter_parameters
from service_catalog.events import service as events
from service_catalog.integrations import service as integrations
from service_catalog.resources.mappings import MAPPING_SORTS, mapping_filters
from service_catalog.resources.queries import RESOURCE_SORTS, resource_filters
from service_catalog.settings import Settings
from service_catalog.sync import service as sync
from service_catalog.testing.inventory_sim import InventorySimulator
from sync_support import make_instance, sync_now


@dataclass(frozen=True)
class ListCase:
    """One list endpoint: where it is, its filters and sorts, how it pages."""

    name: str
    path: Callable[[dict[str, Any]], str]
    operation: str
    filters: Callable[[], q.FilterSpec]
    sorts: Callable[[], Mapping[str, Any]] | None
    cursor: bool


LISTS = [
    ListCase(
        "catalog services",
        lambda w: "/v1/catalog-services",
        "/v1/catalog-services",
        lambda: services.FILTERS,
        lambda: services.SORTS,
        cursor=False,
    ),
    ListCase(
        "integration instances",
        lambda w: "/v1/integration-instances",
        "/v1/integration-instances",
        integrations.instance_filters,
        integrations.instance_sorts,
        cursor=False,
    ),
    ListCase(
        "integrations",
        lambda w: "/v1/integrations",
        "/v1/integrations",
        integrations.integration_filters,
        integrations.integration_sorts,
        cursor=False,
    ),
    ListCase(
        "resources",
        lambda w: "/v1/resources",
        "/v1/resources",
        resource_filters,
        lambda: RESOURCE_SORTS,
        cursor=True,
    ),
    ListCase(
        "resource mappings",
        lambda w: "/v1/resource-mappings",
        "/v1/resource-mappings",
        mapping_filters,
        lambda: MAPPING_SORTS,
        cursor=False,
    ),
    ListCase(
        "integration events",
        lambda w: "/v1/integration-events",
        "/v1/integration-events",
        lambda: events.FILTERS,
        lambda: events.SORTS,
        cursor=True,
    ),
    ListCase(
        "audit log",
        lambda w: "/v1/audit-log",
        "/v1/audit-log",
        lambda: events.FILTERS,
        lambda: events.SORTS,
        cursor=True,
    ),
    ListCase(
        "sync runs",
        lambda w: f"/v1/integration-instances/{w['inventory']}/sync-runs",
        "/v1/integration-instances/{id}/sync-runs",
        lambda: sync.RUN_FILTERS,
        None,
        cursor=True,
    ),
]
IDS = [c.name.replace(" ", "-") for c in LISTS]


@pytest.fixture
def world(api: httpx.Client, server: LiveServer, settings: Settings) -> Iterator[dict[str, Any]]:
    """At least three items in every list."""
    with InventorySimulator(items=3, token="list-token") as sim:
        inventory = make_instance(api, sim, "inventory")
        for _ in range(3):
            sync_now(api, settings, server.db, inventory)
        custom = []
        for name in ("custom-prod", "custom-dev"):
            resp = api.post(
                "/v1/integration-instances",
                json={
                    "integration_name": "custom",
                    "name": name,
                    "display_name": name.title(),
                    "labels": {"env": name[7:]},
                    "config": {},
                },
            )
            assert resp.status_code == 201, resp.text
            custom.append(resp.json()["id"])
        items = [
            {
                "name": f"res-{n}",
                "type": "custom_resource",
                "config": {"id": f"r{n}"},
                "integration_data": {"n": n},
            }
            for n in range(4)
        ]
        resp = api.put(f"/v1/integration-instances/{custom[0]}/resources", json={"data": items})
        assert resp.status_code == 200, resp.text
        resources = resp.json()["data"]
        svcs = []
        for name in ("svc-a", "svc-b", "svc-c"):
            resp = api.post(
                "/v1/catalog-services",
                json={
                    "name": name,
                    "display_name": name.title(),
                    "labels": {"tier": name[-1]},
                    "custom_fields": {"tier": len(name)},
                },
            )
            assert resp.status_code == 201, resp.text
            svcs.append(resp.json())
        for res, svc in zip(resources, [*svcs, svcs[0]], strict=True):
            resp = api.post(
                "/v1/resource-mappings", json={"service": svc["id"], "resource": res["id"]}
            )
            assert resp.status_code == 201, resp.text
        resp = api.post(
            f"/v1/integration-instances/{custom[0]}/integration-events",
            json={
                "data": [
                    {
                        "type": f"deploy.{n}",
                        "deduplication_id": f"d{n}",
                        "service": "svc-a",
                        "detail": f"Deployment {n}",
                        "attributes": {"n": n},
                    }
                    for n in range(3)
                ]
            },
        )
        assert resp.status_code == 202, resp.text
        yield {"inventory": inventory, "custom": custom, "services": svcs}


def _sample(ff: q.FilterField, op: str) -> str:
    many = op in ("oeq", "ocontains")
    if ff.kind == "uuid":
        return ",".join(str(uuid.uuid4()) for _ in range(2 if many else 1))
    if ff.choices:
        return ",".join(ff.choices[:2]) if many else ff.choices[0]
    return {"datetime": "2024-01-01T00:00:00Z", "number": "1", "boolean": "true", "json": "1"}.get(
        ff.kind, "x,y" if many else "x"
    )


def _at(item: Mapping[str, Any], dotted: str) -> Any:
    value: Any = item
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _key(item: Mapping[str, Any]) -> str:
    return str(item.get("id") or item["name"])


def _get(api: httpx.Client, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
    resp = api.get(path, params=params)
    assert resp.status_code == 200, (path, params, resp.text)
    body: dict[str, Any] = resp.json()
    assert isinstance(body["data"], list)
    return body


def _bad(api: httpx.Client, path: str, params: Mapping[str, str], field: str, rule: str) -> None:
    resp = api.get(path, params=params)
    assert resp.status_code == 400, (path, params, resp.text)
    assert resp.headers["content-type"].startswith("application/problem+json")
    [param] = resp.json()["invalid_parameters"]
    assert (param["field"], param["rule"], param["source"]) == (field, rule, "query"), param


@pytest.mark.parametrize("case", LISTS, ids=IDS)
def test_every_filter_field_and_operator(
    api: httpx.Client, world: dict[str, Any], case: ListCase
) -> None:
    path = case.path(world)
    everything = _get(api, path, {"page[size]": 1000})["data"]
    assert len(everything) >= 3, path
    spec = case.filters()
    for name, ff in spec.fields.items():
        for op in q.OPS[ff.kind]:
            key = f"filter[{name}]" if op == "eq" else f"filter[{name}][{op}]"
            _get(api, path, {key: _sample(ff, op)})
        # eq on a value an item shows finds that item
        shown = next((i for i in everything if isinstance(_at(i, name), str)), None)
        if shown is not None and ff.kind in ("string", "uuid", "enum"):
            found = _get(api, path, {f"filter[{name}]": _at(shown, name), "page[size]": 1000})[
                "data"
            ]
            assert _key(shown) in {_key(i) for i in found}, (path, name)
        _bad(api, path, {f"filter[{name}][zz]": "1"}, f"filter[{name}][zz]", "enum")
    for prefix, ff in spec.json_prefixes.items():
        for op in q.OPS[ff.kind]:
            _get(api, path, {f"filter[{prefix}.k][{op}]": _sample(ff, op)})
    _bad(api, path, {"filter[nope]": "1"}, "filter[nope]", "unknown_property")
    _bad(api, path, {"filter[name": "1"}, "filter[name", "invalid")


@pytest.mark.parametrize(
    "case",
    [c for c in LISTS if c.sorts is not None],
    ids=[i for i, c in zip(IDS, LISTS, strict=True) if c.sorts is not None],
)
def test_every_sort_field(api: httpx.Client, world: dict[str, Any], case: ListCase) -> None:
    path = case.path(world)
    assert case.sorts is not None
    for field in case.sorts():
        for direction in ("asc", "desc"):
            items = _get(api, path, {"sort": f"{field} {direction}", "page[size]": 1000})["data"]
            values = [_at(i, field) for i in items]
            if all(isinstance(v, str) for v in values):
                # byte order, or a case-insensitive collation's (PostgreSQL's locale)
                desc = direction == "desc"
                keys = [v.casefold() for v in values]
                assert values == sorted(values, reverse=desc) or keys == sorted(
                    keys, reverse=desc
                ), (path, field, values)
    _bad(api, path, {"sort": "nope"}, "sort", "enum")
    _bad(api, path, {"sort": "a b c"}, "sort", "invalid")


@pytest.mark.parametrize(
    "case",
    [c for c in LISTS if not c.cursor],
    ids=[i for i, c in zip(IDS, LISTS, strict=True) if not c.cursor],
)
def test_number_pages(api: httpx.Client, world: dict[str, Any], case: ListCase) -> None:
    path = case.path(world)
    everything = [_key(i) for i in _get(api, path, {"page[size]": 1000})["data"]]
    total = len(everything)
    body = _get(api, path, {"page[size]": 1})
    assert body["meta"] == {"page": {"number": 1, "size": 1, "total": total}}
    seen: list[str] = []
    for number in range(1, total // 2 + 2):
        body = _get(api, path, {"page[size]": 2, "page[number]": number})
        assert body["meta"]["page"] == {"number": number, "size": 2, "total": total}
        seen += [_key(i) for i in body["data"]]
    assert seen == everything
    _bad(api, path, {"page[size]": "0"}, "page[size]", "min")
    _bad(api, path, {"page[number]": "x"}, "page[number]", "is_integer")


@pytest.mark.parametrize(
    "case",
    [c for c in LISTS if c.cursor],
    ids=[i for i, c in zip(IDS, LISTS, strict=True) if c.cursor],
)
def test_cursor_round_trip(api: httpx.Client, world: dict[str, Any], case: ListCase) -> None:
    path = case.path(world)
    everything = [_key(i) for i in _get(api, path, {"page[size]": 1000})["data"]]
    assert len(everything) >= 3
    body = _get(api, path, {"page[size]": 2})
    assert body["meta"]["page"]["size"] == 2 and body["meta"]["page"]["previous"] is None
    assert urlsplit(body["meta"]["page"]["first"]).path == path
    pages = [[_key(i) for i in body["data"]]]
    while body["meta"]["page"]["next"]:
        body = _get(api, path, dict(parse_qsl(urlsplit(body["meta"]["page"]["next"]).query)))
        pages.append([_key(i) for i in body["data"]])
        assert len(pages) <= len(everything)
    assert [k for p in pages for k in p] == everything
    back = [[_key(i) for i in body["data"]]]
    while body["meta"]["page"]["previous"]:
        link = body["meta"]["page"]["previous"]
        body = _get(api, path, dict(parse_qsl(urlsplit(link).query)))
        back.insert(0, [_key(i) for i in body["data"]])
        assert len(back) <= len(everything)
    assert [k for p in back for k in p] == everything
    _bad(api, path, {"page[after]": "a", "page[before]": "b"}, "page[before]", "invalid")
    _bad(api, path, {"page[after]": "not-a-cursor"}, "page[after]", "invalid")


@pytest.mark.parametrize("case", LISTS, ids=IDS)
def test_openapi_documents_every_filter(server: LiveServer, case: ListCase) -> None:
    with server.client(token="") as anon:
        doc = anon.get("/v1/openapi.json").json()
    params = {p["name"]: p for p in doc["paths"][case.operation]["get"]["parameters"]}
    spec = case.filters()
    for name, ff in spec.fields.items():
        for op in q.OPS[ff.kind]:
            assert (f"filter[{name}]" if op == "eq" else f"filter[{name}][{op}]") in params
    for prefix in spec.json_prefixes:
        assert f"filter[{prefix}.<key>]" in params
    assert [p for p in filter_parameters(spec) if params[p["name"]] != p] == []
    assert {"page[size]"} | (
        {"page[after]", "page[before]"} if case.cursor else {"page[number]"}
    ) <= set(params)
    if case.sorts is not None:
        assert all(f in params["sort"]["description"] for f in case.sorts())


@pytest.fixture
def statements(server: LiveServer) -> Iterator[list[str]]:
    """SQL statements the server's engine runs while the test runs, but for the access
    token's lookup (made again whenever the token cache's few seconds have passed, which
    a slow machine may reach in the middle of a test)."""
    seen: list[str] = []

    def record(_c: Any, _cur: Any, sql: str, *_: Any) -> None:
        if "access_tokens" not in sql:
            seen.append(sql)
        elif seen and seen[-1] == "BEGIN":  # the token lookup's own transaction
            seen.pop()

    event.listen(server.db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(server.db.engine, "before_cursor_execute", record)


@pytest.mark.parametrize("case", LISTS, ids=IDS)
def test_a_page_costs_the_same_statements_whatever_its_size(
    api: httpx.Client, world: dict[str, Any], case: ListCase, statements: list[str]
) -> None:
    path = case.path(world)
    counts = {}
    for filtered in (False, True):
        params: dict[str, Any] = {}
        if filtered:
            name, ff = next(iter(case.filters().fields.items()))
            params[f"filter[{name}][neq]" if "neq" in q.OPS[ff.kind] else f"filter[{name}]"] = (
                _sample(ff, "neq")
            )
        _get(api, path, {**params, "page[size]": 1})  # warm caches (token, registry)
        for size in (1, 3, 1000):
            tries = []
            for _ in range(3):  # the least of three: a token recheck's rights lookup on a
                statements.clear()  # slow machine may add its statements to any one request
                _get(api, path, {**params, "page[size]": size})
                tries.append(len(statements))
            counts[(filtered, size)] = min(tries)
        assert counts[(filtered, 1)] > 0
        assert counts[(filtered, 1)] == counts[(filtered, 3)] == counts[(filtered, 1000)], (
            path,
            counts,
        )

"""``GET /v1/catalog-services/facets`` (issue 11, an extension: Konnect has none): each
value of one label or custom field among the services the list's filters match, with its
count, the most frequent first (ties by value), on SQLite and PostgreSQL, through a real
server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from sync_support import create_service as _create

LIST = "/v1/catalog-services"
FACETS = "/v1/catalog-services/facets"


def _facets(api: httpx.Client, params: Mapping[str, str]) -> dict[str, Any]:
    resp = api.get(FACETS, params=dict(params))
    assert resp.status_code == 200, (params, resp.text)
    assert resp.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = resp.json()
    assert set(body) == {"data", "meta"}, body
    for item in body["data"]:
        assert set(item) == {"value", "count"}, item
        assert isinstance(item["value"], str) and isinstance(item["count"], int), item
    return body


def _pairs(api: httpx.Client, params: Mapping[str, str]) -> list[tuple[str, int]]:
    return [(f["value"], f["count"]) for f in _facets(api, params)["data"]]


def _total(api: httpx.Client, params: Mapping[str, str]) -> int:
    resp = api.get(LIST, params={**params, "page[size]": "1"})
    assert resp.status_code == 200, (params, resp.text)
    total: int = resp.json()["meta"]["page"]["total"]
    return total


def _bad(api: httpx.Client, params: Mapping[str, str], field: str) -> dict[str, Any]:
    resp = api.get(FACETS, params=dict(params))
    assert resp.status_code == 400, (params, resp.text)
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    assert body["status"] == 400 and body["title"] and body["detail"], body
    assert [p["field"] for p in body["invalid_parameters"]] == [field], body
    assert body["invalid_parameters"][0]["source"] == "query", body
    return body


@pytest.fixture
def catalog(api: httpx.Client) -> None:
    """Eight services: team core x3, data x2, edge x2, ops x1; env prod on four of them;
    custom fields with numbers, booleans and URL fields."""
    teams = ["core", "core", "core", "data", "data", "edge", "edge", "ops"]
    tiers: list[Any] = [1, 2, 2, 2, 3, 1, 10, None]
    for n, (team, tier) in enumerate(zip(teams, tiers, strict=True)):
        labels = {"team": team}
        if n % 2 == 0:
            labels["env"] = "prod"
        fields: dict[str, Any] = {"on_call": n < 3}
        if tier is not None:
            fields["tier"] = tier
        if n < 2:
            fields["dashboard"] = {"name": "Grafana", "link": f"https://grafana.example/{n}"}
        _create(api, f"svc-{n}", labels, fields)
    _create(api, "no-labels")


def test_counts_most_frequent_first_ties_by_value(api: httpx.Client, catalog: None) -> None:
    body = _facets(api, {"field": "labels.team"})
    assert body["data"] == [
        {"value": "core", "count": 3},
        {"value": "data", "count": 2},
        {"value": "edge", "count": 2},
        {"value": "ops", "count": 1},
    ]
    assert body["meta"] == {"field": "labels.team", "limit": 100, "truncated": False}
    assert _pairs(api, {"field": "labels.env"}) == [("prod", 4)]
    assert _pairs(api, {"field": "labels.nothing"}) == []


def test_limit_and_truncated(api: httpx.Client, catalog: None) -> None:
    for limit, truncated in ((1, True), (2, True), (3, True), (4, False), (1000, False)):
        body = _facets(api, {"field": "labels.team", "limit": str(limit)})
        assert body["meta"] == {"field": "labels.team", "limit": limit, "truncated": truncated}
        assert [f["value"] for f in body["data"]] == ["core", "data", "edge", "ops"][:limit]


def test_filters_are_honoured(api: httpx.Client, catalog: None) -> None:
    assert _pairs(api, {"field": "labels.team", "filter[labels.env]": "prod"}) == [
        ("core", 2),
        ("data", 1),
        ("edge", 1),
    ]
    assert _pairs(api, {"field": "labels.team", "filter[name][oeq]": "svc-3,svc-4,svc-7"}) == [
        ("data", 2),
        ("ops", 1),
    ]
    assert _pairs(api, {"field": "labels.team", "filter[name][contains]": "svc-0"}) == [("core", 1)]
    assert _pairs(
        api,
        {
            "field": "custom_fields.tier",
            "filter[labels.team]": "core",
            "filter[labels.env]": "prod",
        },
    ) == [("1", 1), ("2", 1)]
    assert _pairs(api, {"field": "labels.team", "filter[custom_fields.tier][gte]": "3"}) == [
        ("data", 1),
        ("edge", 1),
    ]
    assert _pairs(api, {"field": "labels.team", "filter[labels.team]": "ops"}) == [("ops", 1)]
    assert _pairs(api, {"field": "labels.team", "filter[name]": "nobody"}) == []
    body = _facets(api, {"field": "labels.team", "filter[labels.env]": "prod", "limit": "1"})
    assert body["data"] == [{"value": "core", "count": 2}]
    assert body["meta"]["truncated"] is True


def test_custom_field_values_are_their_text(api: httpx.Client, catalog: None) -> None:
    assert _pairs(api, {"field": "custom_fields.tier"}) == [("2", 3), ("1", 2), ("10", 1), ("3", 1)]
    assert _pairs(api, {"field": "custom_fields.on_call"}) == [("false", 5), ("true", 3)]
    assert _pairs(api, {"field": "custom_fields.dashboard.link"}) == [
        ("https://grafana.example/0", 1),
        ("https://grafana.example/1", 1),
    ]
    assert _pairs(api, {"field": "custom_fields.dashboard.name"}) == [("Grafana", 2)]


@pytest.mark.parametrize(
    "field",
    [
        "labels.team",
        "labels.env",
        "custom_fields.tier",
        "custom_fields.on_call",
        "custom_fields.dashboard.link",
    ],
)
def test_values_sent_back_as_filters_find_count_services(
    api: httpx.Client, catalog: None, field: str
) -> None:
    for filters in ({}, {"filter[labels.env]": "prod"}, {"filter[name][contains]": "svc"}):
        facets = _pairs(api, {"field": field, **filters})
        assert facets, (field, filters)
        for value, count in facets:
            assert _total(api, {f"filter[{field}]": value, **filters}) == count, (field, value)
        # and the counts add up to the services that hold one of the values
        values = ",".join(v for v, _ in facets)
        assert _total(api, {f"filter[{field}][oeq]": values, **filters}) == sum(
            c for _, c in facets
        ), (field, filters)


def test_integral_float_and_int_values_count_as_the_filter_finds(api: httpx.Client) -> None:
    _create(api, "int", custom_fields={"tier": 2})
    _create(api, "float", custom_fields={"tier": 2.0})
    for value, count in _pairs(api, {"field": "custom_fields.tier"}):
        assert _total(api, {"filter[custom_fields.tier]": value}) == count, value


def test_long_values_are_ordered_with_the_others(api: httpx.Client) -> None:
    """Values over 200 characters are kept apart in the index; they still take their place
    in the order (most frequent first, ties by value) and in ``truncated``."""
    long_a, long_z = "a" * 201, "z" * 300
    for n, note in enumerate(["m", "n", "o", long_a, long_z, long_z]):
        _create(api, f"note-{n}", custom_fields={"note": note})
    expected = [(long_z, 2), (long_a, 1), ("m", 1), ("n", 1), ("o", 1)]
    assert _pairs(api, {"field": "custom_fields.note"}) == expected
    for limit in range(1, 6):
        body = _facets(api, {"field": "custom_fields.note", "limit": str(limit)})
        got = [(f["value"], f["count"]) for f in body["data"]]
        assert got == expected[:limit], limit
        assert body["meta"]["truncated"] is (limit < 5), limit


def test_a_lone_long_value_ties_by_value(api: httpx.Client) -> None:
    """One value over 200 characters among shorter ones, all counted once: it sorts by
    its text (first here), whatever the limit."""
    long_a = "a" * 201
    for n, note in enumerate(["m", "n", "o", long_a]):
        _create(api, f"note-{n}", custom_fields={"note": note})
    expected = [(long_a, 1), ("m", 1), ("n", 1), ("o", 1)]
    assert _pairs(api, {"field": "custom_fields.note"}) == expected
    for limit in range(1, 5):
        got = _pairs(api, {"field": "custom_fields.note", "limit": str(limit)})
        assert got == expected[:limit], limit


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "field"),
        ({"field": ""}, "field"),
        ({"field": "name"}, "field"),
        ({"field": "labels"}, "field"),
        ({"field": "labels."}, "field"),
        ({"field": "nope.team"}, "field"),
        ({"field": "custom_fields"}, "field"),
        ({"field": "labels.te\x00am"}, "query"),  # NUL refused for the whole query
        ({"field": "labels.team", "limit": "0"}, "limit"),
        ({"field": "labels.team", "limit": "-1"}, "limit"),
        ({"field": "labels.team", "limit": "1001"}, "limit"),
        ({"field": "labels.team", "limit": "99999999999999999999999"}, "limit"),
        ({"field": "labels.team", "limit": "ten"}, "limit"),
        ({"field": "labels.team", "limit": "1.5"}, "limit"),
        ({"field": "labels.team", "filter[nope]": "x"}, "filter[nope]"),
        ({"field": "labels.team", "filter[name][zz]": "x"}, "filter[name][zz]"),
        (
            {"field": "labels.team", "filter[custom_fields.tier][gt]": "x"},
            "filter[custom_fields.tier][gt]",
        ),
    ],
)
def test_bad_requests_are_problems(
    api: httpx.Client, catalog: None, params: dict[str, str], field: str
) -> None:
    _bad(api, params, field)


def test_unusual_fields_answer_not_500(api: httpx.Client, catalog: None) -> None:
    assert _pairs(api, {"field": "labels." + "k" * 300}) == []
    assert _pairs(api, {"field": "custom_fields.a.b.c"}) == []
    assert _pairs(api, {"field": "labels.team", "limit": ""}) == _pairs(
        api, {"field": "labels.team"}
    )


def test_a_service_named_facets_is_read_by_id(api: httpx.Client) -> None:
    svc = _create(api, "facets", {"team": "core"})
    resp = api.get(f"{LIST}/{svc['id']}")
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"] == "facets"
    # the path reads the facets, not the service
    _bad(api, {}, "field")
    assert _pairs(api, {"field": "labels.team"}) == [("core", 1)]
    # the service's other routes take its name
    resp = api.patch(f"{LIST}/facets", json={"labels": {"team": "edge"}})
    assert resp.status_code == 200, resp.text
    assert _pairs(api, {"field": "labels.team"}) == [("edge", 1)]
    assert api.delete(f"{LIST}/facets").status_code == 204
    assert api.get(f"{LIST}/{svc['id']}").status_code == 404
    assert _pairs(api, {"field": "labels.team"}) == []


def test_facets_need_a_token(server: LiveServer, catalog: None) -> None:
    for token in ("", "not-a-token"):
        with server.client(token=token) as anon:
            resp = anon.get(FACETS, params={"field": "labels.team"})
            assert resp.status_code == 401, resp.text
            assert resp.headers["content-type"].startswith("application/problem+json")
            assert "core" not in resp.text


def test_openapi_documents_facets(server: LiveServer) -> None:
    with server.client(token="") as anon:
        doc = anon.get("/v1/openapi.json").json()
    op = doc["paths"][FACETS]["get"]
    names = {p["name"] for p in op["parameters"]}
    assert {"field", "limit", "filter[labels.<key>]", "filter[name]"} <= names

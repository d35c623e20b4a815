"""Paging through 25 items with the same sort key, both ways, on SQLite and PostgreSQL:
number pages and cursor pages each hand out every item exactly once, in one stable order
(the unique tiebreak at the end of every ORDER BY)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

SAME = 25


def _get(api: httpx.Client, path: str, params: dict[str, Any]) -> dict[str, Any]:
    resp = api.get(path, params=params)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_number_pages_through_equal_keys(api: httpx.Client, direction: str) -> None:
    for n in range(SAME):
        resp = api.post(
            "/v1/catalog-services", json={"name": f"svc-{n:02d}", "display_name": "Same"}
        )
        assert resp.status_code == 201, resp.text
    created = {s["id"] for s in _get(api, "/v1/catalog-services", {"page[size]": 100})["data"]}
    assert len(created) == SAME
    orders: dict[str, list[str]] = {}
    for size in (1, 4, 7):
        seen: list[str] = []
        for number in range(1, SAME // size + 2):
            body = _get(
                api,
                "/v1/catalog-services",
                {"sort": f"display_name {direction}", "page[size]": size, "page[number]": number},
            )
            assert body["meta"]["page"]["total"] == SAME
            seen += [s["id"] for s in body["data"]]
        assert len(seen) == SAME and set(seen) == created, (size, seen)
        assert orders.setdefault("any size", seen) == seen  # one order whatever the size
        # a filter that matches them all takes the other (filtered) query path
        filtered: list[str] = []
        for number in range(1, SAME // size + 2):
            body = _get(
                api,
                "/v1/catalog-services",
                {
                    "sort": f"display_name {direction}",
                    "filter[display_name]": "Same",
                    "page[size]": size,
                    "page[number]": number,
                },
            )
            filtered += [s["id"] for s in body["data"]]
        assert filtered == seen


def _walk(api: httpx.Client, params: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Ids walking ``next`` links to the end, then ``previous`` links back to the start."""
    body = _get(api, "/v1/resources", params)
    forward = [r["id"] for r in body["data"]]
    while body["meta"]["page"]["next"]:
        body = _get(
            api, "/v1/resources", dict(parse_qsl(urlsplit(body["meta"]["page"]["next"]).query))
        )
        forward += [r["id"] for r in body["data"]]
        assert len(forward) <= SAME
    backward = [r["id"] for r in body["data"]]
    while body["meta"]["page"]["previous"]:
        body = _get(
            api, "/v1/resources", dict(parse_qsl(urlsplit(body["meta"]["page"]["previous"]).query))
        )
        backward = [r["id"] for r in body["data"]] + backward
        assert len(backward) <= SAME
    return forward, backward


def test_cursor_pages_through_equal_keys(api: httpx.Client) -> None:
    resp = api.post(
        "/v1/integration-instances",
        json={"integration_name": "custom", "name": "same", "display_name": "Same", "config": {}},
    )
    assert resp.status_code == 201, resp.text
    items = [
        {"name": "same", "type": "custom_resource", "config": {"id": f"r{n}"}} for n in range(SAME)
    ]
    resp = api.put(f"/v1/integration-instances/{resp.json()['id']}/resources", json={"data": items})
    assert resp.status_code == 200, resp.text
    created = {r["id"] for r in resp.json()["data"]}
    assert len(created) == SAME
    orders: dict[str, list[str]] = {}
    for direction in ("asc", "desc"):
        for size in (1, 4, 7):
            forward, backward = _walk(api, {"sort": f"name {direction}", "page[size]": size})
            assert len(forward) == SAME and set(forward) == created, (size, forward)
            assert backward == forward
            # one order whatever the page size: the unique tiebreak decides between equals
            assert orders.setdefault(direction, forward) == forward
    # ... and follows the sort's direction
    assert orders["desc"] == orders["asc"][::-1]

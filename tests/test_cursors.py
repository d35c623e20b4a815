"""Cursors of every cursor-paged list are opaque, signed by the server and validated: an
altered, truncated, made-up or foreign cursor is a 400 naming the parameter (issue 8,
item 5), on SQLite and PostgreSQL; cursors the server issued keep paging."""

from __future__ import annotations

import base64
import json
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from conftest import LiveServer
from contract import Contract
from service_catalog.core.db import Database
from service_catalog.core.query import encode_cursor, reset_cursor_key, use_cursor_key
from service_catalog.core.secrets import derive_subkey, load_secret
from service_catalog.settings import Settings
from service_catalog.testing.inventory_sim import InventorySimulator
from sync_support import make_instance, sync_now

PARAMS = ("page[after]", "after", "page[before]", "before")


def b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


# Unsigned sort keys as the old cursors carried them: every one reached the database.
FORGED = [
    b64([{"t": "0001-01-01T00:00:00+14:00"}, "a"]),  # no UTC equivalent: was a 500
    b64([{"t": "9999-12-31T23:59:59-05:00"}, "a"]),  # past year 9999 in UTC
    b64([{"t": "9999-12-31T23:59:59+00:00"}, "00000000-0000-0000-0000-000000000000"]),
    b64({"x": 1}),
    b64([]),
    b64(None),
    b64("a"),
    b64([1e308, 2]),
    b64([[], {}]),
    "garbage!!",
    "=" * 8,
    "A" * 5000,
    "%00",
    "\u00e9t\u00e9",
]


def _cursor(link: str) -> str:
    query = parse_qs(urlsplit(link).query)
    return (query.get("page[after]") or query["page[before]"])[0]


def _variants(cursor: str) -> list[str]:
    """A cursor the server issued, altered in the ways a client (or attacker) might."""
    flipped = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    tag, payload = raw[:16], raw[16:]
    reworded = payload.replace(b"Z", b"X") if b"Z" in payload else payload + b" "
    return [
        flipped,
        cursor[:-4],  # truncated
        cursor[: len(cursor) // 2],
        cursor[1:],
        cursor + "AAAA",
        base64.urlsafe_b64encode(tag + reworded).decode().rstrip("="),  # payload edited
        base64.urlsafe_b64encode(payload).decode().rstrip("="),  # tag dropped
    ]


def _assert_refused(
    api: httpx.Client, contract: Contract, path: str, cursor: str, params: tuple[str, ...] = PARAMS
) -> None:
    for param in params:
        resp = api.get(path, params={param: cursor, "page[size]": 2})
        body = contract.check(resp, 400)
        assert body["invalid_parameters"][0]["field"] == (
            "page[before]" if "before" in param else "page[after]"
        ), (param, cursor, body)
        assert body["invalid_parameters"][0]["source"] == "query"
        field = body["invalid_parameters"][0]["field"]
        assert body["detail"].startswith(f"Invalid query parameter [{field}]")


SIMULATOR = partial(InventorySimulator, items=3, token="cursor-token-1")


@pytest.fixture
def lists(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: InventorySimulator
) -> dict[str, str]:
    """Every cursor-paged list, each holding at least three items."""
    iid = make_instance(api, sim, "cursors")
    for _ in range(3):
        sync_now(api, settings, server.db, iid)
    svc = api.post("/v1/catalog-services", json={"name": "cur", "display_name": "Cur"}).json()
    for n in range(3):  # audit entries
        resp = api.patch(f"/v1/catalog-services/{svc['id']}", json={"description": f"d{n}"})
        assert resp.status_code == 200, resp.text
    pushy = api.post(
        "/v1/integration-instances",
        json={"integration_name": "custom", "name": "pushy", "display_name": "Pushy", "config": {}},
    )
    assert pushy.status_code == 201, pushy.text
    resp = api.post(
        f"/v1/integration-instances/{pushy.json()['id']}/integration-events",
        json={
            "data": [
                {
                    "type": "deploy.finished",
                    "deduplication_id": f"d{n}",
                    "detail": f"Deployment {n}",
                    "service": "cur",
                }
                for n in range(3)
            ]
        },
    )
    assert resp.status_code == 202, resp.text
    return {
        "/v1/resources": "data",
        "/v1/integration-events": "data",
        "/v1/audit-log": "data",
        f"/v1/catalog-services/{svc['id']}/integration-events": "data",
        f"/v1/integration-instances/{iid}/sync-runs": "data",
    }


def test_issued_cursors_page_through_every_list(api: httpx.Client, lists: dict[str, str]) -> None:
    for path in lists:
        every = [x["id"] for x in api.get(path, params={"page[size]": 1000}).json()["data"]]
        assert len(every) >= 3, path
        seen: list[str] = []
        page = api.get(path, params={"page[size]": 1}).json()
        while True:
            seen += [x["id"] for x in page["data"]]
            if not page["meta"]["page"]["next"]:
                break
            page = api.get(page["meta"]["page"]["next"]).json()
        assert seen == every, path
        back = api.get(page["meta"]["page"]["previous"]).json()
        assert [x["id"] for x in back["data"]] == every[-2:-1], path
        # the bare spelling takes the same cursor
        after = _cursor(api.get(path, params={"size": 1}).json()["meta"]["page"]["next"])
        assert [
            x["id"] for x in api.get(path, params={"size": 1, "after": after}).json()["data"]
        ] == every[1:2], path


def test_forged_altered_and_truncated_cursors_are_400_on_every_list(
    api: httpx.Client, contract: Contract, lists: dict[str, str]
) -> None:
    for path in lists:
        for cursor in FORGED:
            _assert_refused(api, contract, path, cursor)
        page = api.get(path, params={"page[size]": 1}).json()
        issued = _cursor(page["meta"]["page"]["next"])
        for cursor in _variants(issued):
            _assert_refused(api, contract, path, cursor)
        later = api.get(page["meta"]["page"]["next"]).json()
        for cursor in _variants(_cursor(later["meta"]["page"]["previous"])):
            _assert_refused(api, contract, path, cursor, ("page[before]", "before"))


def test_a_cursor_for_another_sort_is_400(
    api: httpx.Client, contract: Contract, lists: dict[str, str]
) -> None:
    by_name = api.get("/v1/resources", params={"page[size]": 1, "sort": "name"}).json()
    cursor = _cursor(by_name["meta"]["page"]["next"])
    resp = api.get("/v1/resources", params={"page[after]": cursor, "sort": "created_at"})
    assert contract.check(resp, 400)["invalid_parameters"][0]["field"] == "page[after]"
    events = api.get("/v1/integration-events", params={"page[size]": 1}).json()
    resp = api.get("/v1/resources", params={"page[after]": _cursor(events["meta"]["page"]["next"])})
    assert contract.check(resp, 400)["invalid_parameters"][0]["field"] == "page[after]"


def test_a_cursor_signed_by_another_server_key_is_400(
    api: httpx.Client, contract: Contract, lists: dict[str, str], settings: Settings, db: Database
) -> None:
    other = LiveServer(
        settings.model_copy(update={"secret_key": "another server's key"}), db
    ).start()
    try:
        with other.client() as foreign:
            for path in lists:
                page = foreign.get(path, params={"page[size]": 1}).json()
                cursor = _cursor(page["meta"]["page"]["next"])
                # it pages on the server that issued it ...
                assert foreign.get(path, params={"page[after]": cursor}).status_code == 200
                # ... and nowhere else
                _assert_refused(api, contract, path, cursor)
    finally:
        other.stop()


def test_same_key_servers_accept_each_others_cursors(
    api: httpx.Client, lists: dict[str, str], settings: Settings, db: Database
) -> None:
    # replicas sharing the database and its key (serve --workers N, or many machines)
    twin = LiveServer(settings, db).start()
    try:
        with twin.client() as other:
            for path in lists:
                cursor = _cursor(
                    api.get(path, params={"page[size]": 1}).json()["meta"]["page"]["next"]
                )
                assert other.get(path, params={"page[after]": cursor}).status_code == 200
    finally:
        twin.stop()


def test_signed_cursors_are_still_validated(
    api: httpx.Client, contract: Contract, lists: dict[str, str], settings: Settings
) -> None:
    # Even with the server's own key (so the signature holds), a sort key that is no real
    # instant or not of the column's kind is a 400, never a 500.
    key = derive_subkey(load_secret(settings), "cursor-signing")
    token = use_cursor_key(lambda: key)
    try:
        bad_ts = [
            encode_cursor([{"t": "0001-01-01T00:00:00+14:00"}, "a"], ["datetime", "string"]),
            encode_cursor([{"t": "9999-12-31T23:59:59-05:00"}, "a"], ["datetime", "string"]),
            encode_cursor([{"t": "2024-01-01T00:00:00"}, "a"], ["datetime", "string"]),
            encode_cursor([None, "a"], ["datetime", "string"]),
            encode_cursor(["2024-01-01T00:00:00Z", 3], ["datetime", "string"]),
            encode_cursor([{"t": "2024-01-01T00:00:00Z"}, "a\x00"], ["datetime", "string"]),
        ]
        bad_events = [
            encode_cursor(
                [{"t": "0001-01-01T00:00:00+14:00"}, "00000000-0000-0000-0000-000000000000"],
                ["datetime", "uuid"],
            ),
            encode_cursor([{"t": "2024-01-01T00:00:00+00:00"}, "not-a-uuid"], ["datetime", "uuid"]),
        ]
    finally:
        reset_cursor_key(token)
    for cursor in bad_ts:
        _assert_refused(api, contract, "/v1/resources", cursor)
    for path in lists:
        if "events" in path or "audit" in path or "sync-runs" in path:
            for cursor in bad_events:
                _assert_refused(api, contract, path, cursor)

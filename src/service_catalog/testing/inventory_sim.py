"""A simulator of the ``rest-inventory`` upstream: a real HTTP server on loopback.

Used by tests, benchmarks and the demo; never by production code. It serves the small
JSON API that :mod:`service_catalog_rest_inventory` calls::

    GET /whoami                        -> 200 {"name": "inventory-bot"}
    GET /items?page=N&per_page=M       -> 200 {"items": [...], "page": N, "per_page": M,
                                               "total": T, "has_more": bool}
    GET /events?since=<ISO 8601>       -> 200 {"events": [...]}  (those stamped after since)

Pages are 1-based; ``per_page`` defaults to 100 and may be at most ``max_per_page``
(1000; larger is a 400). Every request needs ``Authorization: Bearer <token>``;
anything else is a 401 ``{"error": "invalid token"}``.

Usage::

    from service_catalog.testing.inventory_sim import InventorySimulator

    with InventorySimulator(items=250, token="t") as sim:
        sim.url            # "http://127.0.0.1:<port>" -> the instance's config base_url
        ...

Constructor: ``InventorySimulator(items=0, token="t", *, host="127.0.0.1", port=0)``.
``items`` is a count (items ``{"id": "item-00001", "name": "Item 1", "kind": "server",
"owner": "team-1", "tags": [...]}`` are generated) or a list of dicts each with at least
``id`` (str) and ``name``.

Attributes, settable at any time while the server runs (each takes effect on the next
request):

- ``sim.url`` (read-only): base URL, no trailing slash.
- ``sim.items``: the list of item dicts. Assign a new list, or mutate it in place
  (``sim.items.pop(0)``, ``sim.items[3]["name"] = "renamed"``, ``append`` ...): both are
  tracked and invalidate the pre-rendered pages. Assigned items are copied; a nested value
  changed in place (``sim.items[0]["tags"].append(...)``) is not seen: reassign the key.
- ``sim.events``: the event dicts ``GET /events`` lists (``{"id", "item_id", "type", "ts",
  "detail", "attributes"}``, ``ts`` an ISO 8601 time with its offset), in order; with
  ``?since=`` only those whose ``ts`` is later. ``sim.add_event(item_id, type, detail,
  ts=None, **attributes)`` appends one (``ts`` defaults to now) and returns it. Requests
  for it are logged with their ``since`` (the raw parameter, or None).
- ``sim.token``: the bearer token the server accepts.
- ``sim.reject_all = True``: every request gets 401.
- ``sim.fail_on_page = k``: ``GET /items?page=k`` answers ``sim.fail_status`` (default 500);
  ``sim.fail_times = n`` limits that to the next n such requests (default None: always).
- ``sim.rate_limit_next = n``: the next n requests (any path) get 429 with
  ``Retry-After: sim.retry_after`` (default ``"1"``).
- ``sim.delay = seconds``: sleep before answering every request (for timeouts).
- ``sim.malformed_page = k``: page k is malformed; ``sim.malformed_mode`` says how:
  ``"json"`` (default: a truncated, invalid JSON body), ``"shape"`` (``items`` is not a
  list), ``"item"`` (one item lacks ``id``).
- ``sim.requests``: a list of dicts ``{"method", "path", "page", "per_page", "status"}``,
  one per request answered (no headers, never the token); ``len(sim.requests)`` counts
  them and ``sim.requests.clear()`` resets.
- ``sim.prerender(per_page)``: render every page of that size now (benchmarks call it
  before timing; otherwise pages are rendered on first request and cached).

The server speaks HTTP/1.1 with keep-alive and serves pre-rendered bytes, so 100,000 items
in pages of 1000 are served as fast as the connection allows.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterable
from typing import Any, Self, SupportsIndex
from urllib.parse import parse_qs, urlsplit

from service_catalog.testing.serving import Serving, SimHandler

__all__ = ["InventorySimulator", "make_items"]


def make_items(count: int, *, start: int = 1) -> list[dict[str, Any]]:
    """``count`` generated inventory items with ids ``item-00001``... and stable content."""
    kinds = ("server", "database", "queue", "bucket")
    return [
        {
            "id": f"item-{i:05d}",
            "name": f"Item {i}",
            "kind": kinds[i % len(kinds)],
            "owner": f"team-{i % 7}",
            "tags": [f"env:{'prod' if i % 2 else 'dev'}"],
        }
        for i in range(start, start + count)
    ]


class _TrackedDict(dict[str, Any]):
    """A dict that tells its simulator when it changes."""

    def __init__(self, owner: InventorySimulator, data: Any) -> None:
        super().__init__(data)
        self._owner = owner

    def _touch(self) -> None:
        self._owner._bump()

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._touch()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._touch()

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._touch()

    def pop(self, *args: Any) -> Any:
        value = super().pop(*args)
        self._touch()
        return value

    def popitem(self) -> tuple[str, Any]:
        value = super().popitem()
        self._touch()
        return value

    def clear(self) -> None:
        super().clear()
        self._touch()

    def setdefault(self, key: str, default: Any = None) -> Any:
        value = super().setdefault(key, default)
        self._touch()
        return value


class _TrackedList(list[dict[str, Any]]):
    """A list of items that tells its simulator when it changes."""

    def __init__(self, owner: InventorySimulator, items: Iterable[Any]) -> None:
        self._owner = owner
        super().__init__(self._wrap(i) for i in items)

    def _wrap(self, item: Any) -> _TrackedDict:
        if isinstance(item, _TrackedDict) and item._owner is self._owner:
            return item
        return _TrackedDict(self._owner, item)

    def _touch(self) -> None:
        self._owner._bump()

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            super().__setitem__(index, [self._wrap(v) for v in value])
        else:
            super().__setitem__(index, self._wrap(value))
        self._touch()

    def __delitem__(self, index: Any) -> None:
        super().__delitem__(index)
        self._touch()

    def __iadd__(self, other: Iterable[Any]) -> Self:  # type: ignore[override,misc]
        self.extend(other)
        return self

    def append(self, item: Any) -> None:
        super().append(self._wrap(item))
        self._touch()

    def extend(self, items: Iterable[Any]) -> None:
        super().extend(self._wrap(i) for i in items)
        self._touch()

    def insert(self, index: SupportsIndex, item: Any) -> None:
        super().insert(index, self._wrap(item))
        self._touch()

    def pop(self, index: SupportsIndex = -1) -> dict[str, Any]:
        value = super().pop(index)
        self._touch()
        return value

    def remove(self, item: Any) -> None:
        super().remove(item)
        self._touch()

    def clear(self) -> None:
        super().clear()
        self._touch()

    def sort(self, *args: Any, **kwargs: Any) -> None:
        super().sort(*args, **kwargs)
        self._touch()

    def reverse(self) -> None:
        super().reverse()
        self._touch()


class InventorySimulator(Serving):
    """The rest-inventory upstream on a loopback port; see the module docstring."""

    max_per_page = 1000
    thread_name = "inventory-sim"

    def __init__(
        self,
        items: int | Iterable[dict[str, Any]] = 0,
        token: str = "t",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._lock = threading.Lock()
        self._version = 0
        self._cache: dict[tuple[int, int], bytes] = {}
        self._cache_version = -1
        self._items = _TrackedList(self, make_items(items) if isinstance(items, int) else items)
        self.token = token
        self.reject_all = False
        self.fail_on_page: int | None = None
        self.fail_status = 500
        self.fail_times: int | None = None
        self.rate_limit_next = 0
        self.retry_after = "1"
        self.delay = 0.0
        self.malformed_page: int | None = None
        self.malformed_mode = "json"
        self.requests: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self._serve_on(host, port)

    # --- items -------------------------------------------------------------------

    @property
    def items(self) -> list[dict[str, Any]]:
        """The items the upstream lists, in order (mutations are tracked)."""
        return self._items

    @items.setter
    def items(self, value: Iterable[dict[str, Any]]) -> None:
        self._items = _TrackedList(self, value)
        self._bump()

    def _bump(self) -> None:
        with self._lock:
            self._version += 1

    def _page_body(self, page: int, per_page: int) -> bytes:
        with self._lock:
            if self._cache_version != self._version:
                self._cache.clear()
                self._cache_version = self._version
            cached = self._cache.get((page, per_page))
            if cached is not None:
                return cached
            version = self._version
            items = list(self._items)
        start = (page - 1) * per_page
        chunk = items[start : start + per_page]
        body = json.dumps(
            {
                "items": chunk,
                "page": page,
                "per_page": per_page,
                "total": len(items),
                "has_more": start + per_page < len(items),
            },
            separators=(",", ":"),
        ).encode()
        with self._lock:
            if self._version == version:
                self._cache[(page, per_page)] = body
        return body

    def add_event(
        self,
        item_id: str,
        type: str,
        detail: str,
        ts: dt.datetime | None = None,
        **attributes: Any,
    ) -> dict[str, Any]:
        """Append an event about ``item_id`` to ``sim.events`` (stamped now unless ``ts``)."""
        with self._lock:
            event = {
                "id": f"ev-{len(self.events) + 1}",
                "item_id": item_id,
                "type": type,
                "ts": (ts or dt.datetime.now(dt.UTC)).isoformat(),
                "detail": detail,
                "attributes": attributes,
            }
            self.events.append(event)
        return event

    def _events_since(self, since: str | None) -> bytes | None:
        """The body of ``GET /events``; None when ``since`` is not an ISO 8601 time."""
        try:
            after = dt.datetime.fromisoformat(since) if since is not None else None
        except ValueError:
            return None
        with self._lock:
            events = list(self.events)
        if after is not None:
            events = [e for e in events if dt.datetime.fromisoformat(e["ts"]) > after]
        return _json({"events": events})

    def prerender(self, per_page: int = 100) -> None:
        """Render (and cache) every page of ``per_page`` items now."""
        pages = max(1, -(-len(self._items) // per_page))
        for page in range(1, pages + 1):
            self._page_body(page, per_page)

    # --- request handling --------------------------------------------------------

    def _take_failure(self, page: int) -> bool:
        return page == self.fail_on_page and self._take("fail_times")

    def _answer(
        self, method: str, target: str, authorization: str | None
    ) -> tuple[int, dict[str, str], bytes, dict[str, Any]]:
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        log: dict[str, Any] = {"method": method, "path": parts.path, "page": None, "per_page": None}
        if self.delay:
            time.sleep(self.delay)
        if self._take("rate_limit_next"):
            return (
                429,
                {"Retry-After": str(self.retry_after)},
                _json({"error": "rate limited"}),
                log,
            )
        if self.reject_all or authorization != f"Bearer {self.token}":
            return 401, {}, _json({"error": "invalid token"}), log
        if method != "GET":
            return 405, {"Allow": "GET"}, _json({"error": "method not allowed"}), log
        other = {"/whoami": self._answer_whoami, "/events": self._answer_events}.get(parts.path)
        if other is not None:
            return other(query, log)
        if parts.path != "/items":
            return 404, {}, _json({"error": f"no such path {parts.path}"}), log
        try:
            page = int(query.get("page", ["1"])[0])
            per_page = int(query.get("per_page", ["100"])[0])
        except ValueError:
            return 400, {}, _json({"error": "page and per_page must be integers"}), log
        log["page"], log["per_page"] = page, per_page
        if page < 1 or per_page < 1 or per_page > self.max_per_page:
            return (
                400,
                {},
                _json({"error": f"page must be >= 1 and per_page in 1..{self.max_per_page}"}),
                log,
            )
        if self._take_failure(page):
            return self.fail_status, {}, _json({"error": "internal error"}), log
        if self.malformed_page is not None and page == self.malformed_page:
            return 200, {}, self._malformed(page, per_page), log
        return 200, {}, self._page_body(page, per_page), log

    def _answer_whoami(
        self, query: dict[str, list[str]], log: dict[str, Any]
    ) -> tuple[int, dict[str, str], bytes, dict[str, Any]]:
        return 200, {}, _json({"name": "inventory-bot"}), log

    def _answer_events(
        self, query: dict[str, list[str]], log: dict[str, Any]
    ) -> tuple[int, dict[str, str], bytes, dict[str, Any]]:
        log["since"] = query.get("since", [None])[0]
        body = self._events_since(log["since"])
        if body is None:
            return 400, {}, _json({"error": "since must be an ISO 8601 time"}), log
        return 200, {}, body, log

    def _malformed(self, page: int, per_page: int) -> bytes:
        if self.malformed_mode == "shape":
            return _json({"items": {"oops": True}, "page": page, "has_more": True})
        if self.malformed_mode == "item":
            body = json.loads(self._page_body(page, per_page))
            body["items"].append({"name": "no id here"})
            return _json(body)
        return b'{"items": [{"id": "item-1", "name": '


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class _Handler(SimHandler):
    """Keep-alive HTTP/1.1 handler delegating to its simulator."""

    simulator: InventorySimulator
    server_version = "InventorySim/1.0"

    def _handle(self) -> None:
        sim = self.simulator
        self._body()
        status, headers, body, log = sim._answer(
            self.command, self.path, self.headers.get("Authorization")
        )
        log["status"] = status
        with sim._lock:
            sim.requests.append(log)
        self._reply(status, body, headers, "application/json")

    do_GET = _handle
    do_POST = _handle
    do_PUT = _handle
    do_DELETE = _handle


InventorySimulator.handler = _Handler

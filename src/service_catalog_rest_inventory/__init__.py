"""``rest-inventory``: a small, generic polled integration over an HTTP JSON API.

The upstream lists objects page by page with a bearer token (see
:mod:`service_catalog.testing.inventory_sim` for a simulator of it)::

    GET {base_url}/whoami                          (verify)
    GET {base_url}/items?page=N&per_page=M         (discover; 1-based pages)
        -> {"items": [{"id": "...", "name": "...", ...}], "has_more": bool}
    GET {base_url}{events_path}?since=<ISO 8601>   (poll_events, when events_path is set)
        -> {"events": [{"id": "...", "item_id": "...", "type": "...", "ts": "<ISO 8601>",
                        "detail": "...", "attributes": {...}}]}

Each item becomes ``ResourceRecord(type=<resource_type>, config={"item_id": id}, name,
integration_data=<item without id>)``; each event an integration event of its item's
resource, deduplicated by the upstream event's ``id``.

This package is deliberately outside ``service_catalog``: it shows that a connector is one
package plus one entry-point line (``rest-inventory`` in
``[project.entry-points."service_catalog.connectors"]`` of ``pyproject.toml``), found by
the registry exactly as a connector shipped in a distribution of its own would be.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from service_catalog.integrations.connectors.base import (
    Connector,
    ConnectorError,
    EventRecord,
    Integration,
    PolledEvent,
    RecordBatch,
    ResourceRecord,
    VerifyResult,
    authorization,
    credential_header,
    decode_json,
    digest_of,
    simple_resource_type,
    single_header_auth,
    usable_base_url,
)
from service_catalog.integrations.connectors.config import (
    ConfigText,
    ConnectorConfig,
    setting,
    sync_interval_setting,
)

RESOURCE_TYPE = "inventory_item"
MAX_PAGES = 1_000_000  # a guard against an upstream that never says it is done


class RestInventoryConfig(ConnectorConfig):
    """A rest-inventory instance's config: where the API is, what its items become."""

    base_url: ConfigText = setting(
        display_name="Base URL",
        description="The inventory API's base URL, e.g. https://inventory.example.com/api",
        mutable_condition="unauthorized",
    )
    resource_type: ConfigText = setting(
        RESOURCE_TYPE,
        display_name="Resource type",
        description="The resource type items are recorded as.",
    )
    page_size: int = setting(
        100,
        display_name="Page size",
        description="Items requested per page (1 to 1000).",
        ge=1,
        le=1000,
    )
    sync_interval: int | None = sync_interval_setting()
    events_path: ConfigText | None = setting(
        None,
        display_name="Events path",
        description="The path of the API's event listing (e.g. /events), polled after each "
        "sync for the events since the last poll; unset: no events are polled.",
    )


class RestInventoryConnector(Connector):
    """Verifies with ``GET /whoami``, discovers with ``GET /items`` page by page and, when
    the instance names an ``events_path``, polls the events there."""

    integration_name = "rest-inventory"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.polls_events = bool(self.config.get("events_path"))

    @property
    def base_url(self) -> str:
        """The configured base URL without a trailing slash."""
        url = str(self.config.get("base_url") or "").rstrip("/")
        if not url:
            raise ConnectorError(
                "config",
                "The instance has no base_url",
                remediation="Set config.base_url on the integration instance.",
            )
        return url

    def _headers(self) -> dict[str, str]:
        if self.credential is None:
            raise ConnectorError(
                "auth",
                "The instance has no auth credential",
                remediation="POST an auth credential to the instance.",
            )
        token = authorization(
            credential_header(self.credential.headers),
            "Bearer ",
            "The credential has no 'authorization' header",
            "Replace the credential with one whose header is named 'authorization'.",
        )
        return {"Authorization": token, "Accept": "application/json"}

    def _get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        try:
            url = f"{self.base_url}{path}"
            httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ConnectorError("config", f"The base_url is not a valid URL: {exc}") from None
        with usable_base_url():
            return self.http.request("GET", url, params=params, headers=self._headers())

    def verify(self) -> VerifyResult:
        """One ``GET /whoami``: 2xx accepted, 401/403 rejected (with the upstream's words),
        anything else (no answer, 5xx, 404) unreachable with the reason."""
        try:
            resp = self._get("/whoami")
        except ConnectorError as exc:
            if exc.kind == "auth":
                return VerifyResult("rejected", exc.message)
            return VerifyResult("unreachable", exc.message)
        if resp.is_success:
            return VerifyResult("accepted")
        return VerifyResult("unreachable", f"GET /whoami answered HTTP {resp.status_code}")

    def discover(self) -> Iterator[list[ResourceRecord]]:
        """Yield one batch per upstream page until a page is empty or says no more."""
        per_page = int(self.config.get("page_size") or 100)
        rtype = str(self.config.get("resource_type") or RESOURCE_TYPE)
        for page in range(1, MAX_PAGES + 1):
            resp = self._get("/items", {"page": page, "per_page": per_page})
            if not resp.is_success:
                raise ConnectorError(
                    "upstream", f"GET /items page {page} answered HTTP {resp.status_code}"
                )
            items, has_more = parse_page(resp, page)
            if items:
                batch = RecordBatch(to_record(item, rtype, page) for item in items)
                batch.source_digest = digest_of(resp.content)
                yield batch
            if not items or not has_more:
                return
        raise ConnectorError("malformed", f"The upstream kept listing past {MAX_PAGES} pages")

    def poll_events(self, since: dt.datetime | None) -> Iterator[PolledEvent]:
        """``GET {events_path}?since=...``: each listed event, of its item's resource."""
        path = str(self.config.get("events_path") or "")
        params = {"since": since.isoformat()} if since is not None else None
        resp = self._get(path if path.startswith("/") else f"/{path}", params)
        if not resp.is_success:
            raise ConnectorError("upstream", f"GET {path} answered HTTP {resp.status_code}")
        rtype = str(self.config.get("resource_type") or RESOURCE_TYPE)
        for raw in parse_events(resp, path):
            yield to_polled_event(raw, rtype, path)


def parse_events(resp: httpx.Response, path: str) -> list[Any]:
    """The ``events`` list of an event listing; ConnectorError('malformed') otherwise."""
    try:
        body = decode_json(resp.content)
    except ValueError:
        raise ConnectorError("malformed", f"{path} is not valid JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise ConnectorError("malformed", f"{path} has no 'events' list")
    events: list[Any] = body["events"]
    return events


def to_polled_event(raw: Any, rtype: str, path: str) -> PolledEvent:
    """One listed event; ConnectorError('malformed') when it lacks a string ``id``,
    ``item_id``, ``type`` or ``detail``, or its ``ts`` is not an ISO 8601 time."""
    if not isinstance(raw, dict) or not all(
        isinstance(raw.get(key), str) and raw[key] for key in ("id", "item_id", "type")
    ):
        raise ConnectorError("malformed", f"{path} holds an event without id, item_id or type")
    detail, attributes, ts = raw.get("detail", ""), raw.get("attributes", {}), raw.get("ts")
    if not isinstance(detail, str) or not isinstance(attributes, dict):
        raise ConnectorError("malformed", f"Event {raw['id']!r} of {path} is malformed")
    try:
        when = dt.datetime.fromisoformat(ts) if ts is not None else None
    except (TypeError, ValueError):
        raise ConnectorError("malformed", f"Event {raw['id']!r} of {path} has a bad ts") from None
    event = EventRecord(raw["type"], f"event:{raw['id']}", detail, attributes, when)
    return PolledEvent(rtype, {"item_id": raw["item_id"]}, event)


def parse_page(resp: httpx.Response, page: int) -> tuple[list[dict[str, Any]], bool]:
    """The items and ``has_more`` of one page; ConnectorError('malformed') when the body is
    not the documented shape."""
    try:
        body = decode_json(resp.content)
    except ValueError:
        raise ConnectorError(
            "malformed",
            f"Page {page} of /items is not valid JSON",
            remediation="Check that base_url points at the inventory API.",
        ) from None
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise ConnectorError(
            "malformed",
            f"Page {page} of /items has no 'items' list",
            remediation="Check that base_url points at the inventory API.",
        )
    has_more = body.get("has_more", True)
    if not isinstance(has_more, bool):
        raise ConnectorError("malformed", f"Page {page} of /items has a non-boolean 'has_more'")
    return body["items"], has_more


def to_record(item: Any, rtype: str, page: int) -> ResourceRecord:
    """One upstream item as a resource record; ConnectorError('malformed') when it lacks a
    string ``id`` or has a non-string ``name``. The item (freshly decoded, owned by the
    caller) becomes the integration_data once its ``id`` is taken out: no copy."""
    if type(item) is not dict:
        raise ConnectorError("malformed", f"Page {page} of /items holds a non-object item")
    item_id = item.pop("id", None)
    if type(item_id) is int:  # not bool
        item_id = str(item_id)
    if type(item_id) is not str or not item_id:
        raise ConnectorError("malformed", f"Page {page} of /items holds an item without an id")
    name = item.get("name")
    if name is not None and type(name) is not str:
        raise ConnectorError("malformed", f"Item {item_id!r} on page {page} has a non-string name")
    return ResourceRecord(rtype, {"item_id": item_id}, name, item)


class RestInventoryIntegration(Integration):
    """rest-inventory's declaration: an instance may record its items under a resource
    type of its own choosing (``config.resource_type``)."""

    def resource_types_for(self, config: Mapping[str, Any] | None) -> Mapping[str, Any]:
        """The declared ``inventory_item`` and the instance's configured type (no schema)."""
        configured = (config or {}).get("resource_type")
        if isinstance(configured, str) and configured not in self.resource_types:
            return {**self.resource_types, configured: {}}
        return self.resource_types


_AUTHORIZATION = single_header_auth(
    "Bearer token",
    "The API token; sent as 'Authorization: Bearer <token>' "
    "(a value already starting with 'Bearer ' is sent as is).",
)

INTEGRATION = RestInventoryIntegration(
    name="rest-inventory",
    display_name="REST Inventory",
    description="Lists inventory items from an HTTP JSON API authenticated with a bearer "
    "token, page by page.",
    connector=RestInventoryConnector,
    config=RestInventoryConfig,
    authorization=_AUTHORIZATION,
    resource_types={RESOURCE_TYPE: simple_resource_type("Inventory Item", "item_id")},
    discovery={
        "resource_integration_data_examples": {
            RESOURCE_TYPE: {
                "name": "Item 1",
                "kind": "server",
                "owner": "team-1",
                "tags": ["env:prod"],
            },
        }
    },
)

__all__ = [
    "INTEGRATION",
    "RESOURCE_TYPE",
    "RestInventoryConfig",
    "RestInventoryConnector",
    "parse_events",
    "parse_page",
    "to_polled_event",
    "to_record",
]

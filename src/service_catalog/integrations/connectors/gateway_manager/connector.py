"""The ``gateway-manager`` connector: a Kong Gateway's services, with their routes and the
plugins that affect them, read from a self-hosted Admin API or a Konnect control plane.

Both speak the same entity listing (Kong's Admin API, which Konnect serves under
``/v2/control-planes/{id}/core-entities``)::

    GET {root}/services?size=N[&offset=X]  -> {"data": [...], "next": "/services?offset=Y",
                                               "offset": "Y"}   (next null on the last page)
    GET {root}/routes?size=N...             (each route's "service": {"id": ...})
    GET {root}/plugins?size=N...            ("service", "route", "consumer": {"id"} or null)

``root`` is the Admin API's URL (``/{workspace}`` appended for a workspace of Kong Gateway
Enterprise, whose ``GET /workspaces`` lists them; open source Kong answers it 404 and has
only the default workspace), or ``https://{region}.api.konghq.com/v2/control-planes/{id}
/core-entities`` for Konnect. Routes and plugins are listed whole first (a few pages of
1000) and joined to the services in memory, so a gateway of N services costs about
(N + routes + plugins) / 1000 requests, never one request per service. Those pages are
requested one after the other, as before, but by a helper thread that keeps up to
:data:`AHEAD` pages ahead: the Admin API answers the next page while this one is decoded
and joined.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson

from service_catalog.core.ahead import read_ahead
from service_catalog.integrations.connectors.base import (
    Connector,
    ConnectorError,
    EventRecord,
    RecordBatch,
    ResourceRecord,
    VerifyResult,
    json_object,
    usable_base_url,
)
from service_catalog.integrations.connectors.gateway_manager.config import (
    MAX_PAGE_SIZE,
    konnect_base_url,
)

RESOURCE_TYPE = "gateway_svc"
EVENT_PLUGIN_ADDED = "plugin.added"
EVENT_PLUGIN_UPDATED = "plugin.updated"
EVENT_PLUGIN_REMOVED = "plugin.removed"
#: The workspace open source Kong (and an Enterprise node without workspaces) has.
DEFAULT_WORKSPACE = "default"
MAX_PAGES = 100_000  # a guard against an upstream whose offsets never end
#: How many listing pages the helper thread fetches ahead of the one being joined.
AHEAD = 2
_SERVICE_KEYS = ("id", "name", "host", "port", "protocol", "path", "enabled", "tags")
_ROUTE_KEYS = ("id", "name", "paths", "methods", "hosts", "protocols")
_FIX_CREDENTIAL = (
    "Replace the instance's auth credential (DELETE then POST .../auth-credential): "
    "Kong-Admin-Token for an Admin API with RBAC, Authorization (a Konnect personal or "
    "system access token) for Konnect."
)


class GatewayManagerConnector(Connector):
    """Lists a Kong Gateway's services as ``gateway_svc`` resources (routes and plugins in
    their integration data) and derives plugin added / updated / removed events."""

    integration_name = "gateway-manager"
    derives_events = True

    # --- where and how ----------------------------------------------------------------

    @property
    def konnect(self) -> bool:
        """True when the instance reads a Konnect control plane."""
        return self.config.get("source") == "konnect"

    def _base(self) -> str:
        base = str(self.config.get("base_url") or "").rstrip("/")
        if self.konnect:
            return base or konnect_base_url(str(self.config.get("region") or "us"))
        if not base:
            raise ConnectorError(
                "config",
                "The instance has no base_url (the Kong Admin API's URL)",
                remediation="Set config.base_url, e.g. http://kong-admin.internal:8001.",
            )
        return base

    def _control_plane(self) -> str:
        cp = str(self.config.get("control_plane_id") or "").strip()
        if not cp:
            raise ConnectorError(
                "config",
                "A konnect instance needs config.control_plane_id",
                remediation="Set config.control_plane_id to the control plane's ID "
                "(Konnect: Gateway Manager > the control plane > ID).",
            )
        return cp

    def _root(self, workspace: str | None) -> str:
        if self.konnect:
            return f"{self._base()}/v2/control-planes/{self._control_plane()}/core-entities"
        return f"{self._base()}/{workspace}" if workspace else self._base()

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        given = {
            k.lower(): v for k, v in (self.credential.headers if self.credential else {}).items()
        }
        if self.konnect:
            token = given.get("authorization", "")
            if not token:
                raise ConnectorError(
                    "auth",
                    "Konnect takes a personal or system access token in the Authorization "
                    "header; the credential has none",
                    remediation=_FIX_CREDENTIAL,
                )
            if not token.lower().startswith("bearer "):
                token = f"Bearer {token}"
            headers["Authorization"] = token
            return headers
        if given.get("kong-admin-token"):
            headers["Kong-Admin-Token"] = given["kong-admin-token"]
        if given.get("authorization"):  # e.g. a proxy in front of the Admin API
            headers["Authorization"] = given["authorization"]
        return headers

    def _get(self, url: str, params: dict[str, Any] | None = None) -> httpx.Response:
        with usable_base_url():
            return self.http.request("GET", url, params=params, headers=self._headers())

    # --- verify ---------------------------------------------------------------------

    def verify(self) -> VerifyResult:
        """Admin API: ``GET /`` (Kong answers its version), then one page of services of
        the configured workspace (RBAC may let a token see ``/`` yet not list services).
        Konnect: ``GET /v2/control-planes/{id}``. 401/403/404 are refusals with a reason."""
        try:
            if self.konnect:
                resp = self._get(f"{self._base()}/v2/control-planes/{self._control_plane()}")
                if resp.status_code == 404:
                    return VerifyResult(
                        "rejected",
                        f"Konnect has no control plane {self._control_plane()} in region "
                        f"{self.config.get('region') or 'us'} that this token may read",
                    )
                if not resp.is_success:
                    return VerifyResult(
                        "unreachable", f"GET the control plane answered HTTP {resp.status_code}"
                    )
                _json_object(resp, "the control plane")
                return VerifyResult("accepted")
            resp = self._get(f"{self._base()}/")
            if not resp.is_success:
                return VerifyResult(
                    "unreachable", f"GET / of the Admin API answered HTTP {resp.status_code}"
                )
            info = _json_object(resp, "GET /")
            if "version" not in info:
                return VerifyResult(
                    "unreachable",
                    "GET / did not answer as a Kong Admin API does (no version): check "
                    "base_url (the Admin API's port, 8001 by default, not the proxy's)",
                )
            workspace = self.config.get("workspace") or None
            resp = self._get(f"{self._root(workspace)}/services", {"size": 1})
            if resp.status_code == 404:
                return VerifyResult("rejected", f"The Admin API has no workspace {workspace!r}")
            if not resp.is_success:
                return VerifyResult(
                    "unreachable", f"GET /services answered HTTP {resp.status_code}"
                )
            return VerifyResult("accepted")
        except ConnectorError as exc:
            if exc.kind == "auth":
                what = (
                    "the token may not read services (RBAC: missing read permission on /services)"
                    if exc.status == 403
                    else "the token was not accepted"
                )
                return VerifyResult("rejected", f"{exc.message}: {what}")
            if exc.kind == "config":
                return VerifyResult("rejected", f"{exc.message}. {exc.remediation or ''}".strip())
            return VerifyResult("unreachable", exc.message)

    # --- discover -------------------------------------------------------------------

    def pages(self, url: str) -> Iterator[tuple[list[Any], bytes]]:
        """Every page of an entity listing: (its ``data``, its raw body)."""
        size = int(self.config.get("page_size") or MAX_PAGE_SIZE)
        params: dict[str, Any] = {"size": size}
        for number in range(1, MAX_PAGES + 1):
            resp = self._get(url, params)
            what = f"page {number} of {urlsplit(url).path}"
            if not resp.is_success:
                raise ConnectorError(
                    "upstream",
                    f"GET {what} answered HTTP {resp.status_code}",
                    status=resp.status_code,
                )
            body = _json_object(resp, what)
            data = body.get("data")
            if not isinstance(data, list):
                raise ConnectorError("malformed", f"{what} has no 'data' list")
            yield data, resp.content
            offset = _next_offset(body, what)
            if offset is None:
                return
            params = {"size": size, "offset": offset}
        raise ConnectorError("malformed", f"{url} kept listing past {MAX_PAGES} pages")

    def _workspaces(self) -> list[dict[str, Any]]:
        """The workspaces listed: the configured one, every one the token sees
        (Enterprise), or the default one (open source: ``/workspaces`` is a 404)."""
        configured = self.config.get("workspace")
        if configured:
            return [{"name": str(configured)}]
        resp = self._get(f"{self._base()}/workspaces", {"size": MAX_PAGE_SIZE})
        if resp.status_code == 404:
            return [{"name": DEFAULT_WORKSPACE, "listed": False}]
        out: list[dict[str, Any]] = []
        for data, _ in self.pages(f"{self._base()}/workspaces"):
            for ws in data:
                if not isinstance(ws, dict) or not isinstance(ws.get("name"), str):
                    raise ConnectorError(
                        "malformed", "/workspaces holds a workspace without a name"
                    )
                out.append({"id": ws.get("id"), "name": ws["name"]})
        return out

    def discover(self) -> Iterator[list[ResourceRecord]]:
        """One batch per page of services, each service with its routes and plugins."""
        if self.konnect:
            resp = self._get(f"{self._base()}/v2/control-planes/{self._control_plane()}")
            if not resp.is_success:
                raise ConnectorError(
                    "upstream",
                    f"GET the control plane answered HTTP {resp.status_code}",
                    status=resp.status_code,
                )
            cp = _json_object(resp, "the control plane")
            scope = {
                "control_plane": {
                    "id": cp.get("id") or self._control_plane(),
                    "name": cp.get("name"),
                    "labels": cp.get("labels") or {},
                }
            }
            yield from self._discover_scope(self._control_plane(), None, scope)
            return
        for ws in self._workspaces():
            name = ws["name"]
            # Open source Kong serves its one workspace at the root; Enterprise each at /{name}.
            path = None if ws.get("listed") is False else name
            scope = {"workspace": {"id": ws.get("id"), "name": name}}
            yield from self._discover_scope(name, path, scope)

    def _discover_scope(
        self, key: str, workspace_path: str | None, scope: dict[str, Any]
    ) -> Iterator[list[ResourceRecord]]:
        root = self._root(workspace_path)
        joined = hashlib.blake2b(digest_size=16)
        joined.update(orjson.dumps([key, scope, self.records_version]))
        routes_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
        service_of_route: dict[str, str] = {}
        plugins_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
        global_plugins: list[dict[str, Any]] = []
        base: bytes | None = None
        for entity, data, raw in read_ahead(self._listings(root), AHEAD, name="gateway-ahead"):
            if entity == "routes":
                joined.update(raw)
                for route in data:
                    _collect_route(route, routes_of, service_of_route)
            elif entity == "plugins":
                joined.update(raw)
                for plugin in data:
                    _collect_plugin(plugin, service_of_route, plugins_of, global_plugins)
            else:
                if base is None:  # every route and plugin is joined by now
                    base = joined.digest()
                batch = RecordBatch(
                    _record(svc, key, scope, routes_of, plugins_of, global_plugins) for svc in data
                )
                batch.source_digest = hashlib.blake2b(base + raw, digest_size=16).digest()
                yield batch

    def _listings(self, root: str) -> Iterator[tuple[str, list[Any], bytes]]:
        """Every page of the routes, then the plugins, then the services: (entity, its
        ``data``, its raw body)."""
        for entity in ("routes", "plugins", "services"):
            for data, raw in self.pages(f"{root}/{entity}"):
                yield entity, data, raw

    # --- events ---------------------------------------------------------------------

    def diff_events(
        self, before: dict[str, Any] | None, after: ResourceRecord
    ) -> list[EventRecord]:
        """plugin.added / plugin.updated / plugin.removed from the plugins a service had at
        the last sync and has now (a service seen for the first time brings none)."""
        if before is None or after.integration_data is None:
            return []
        old = {p.get("id"): p for p in before.get("plugins") or [] if isinstance(p, dict)}
        new = {p["id"]: p for p in after.integration_data.get("plugins") or []}
        svc = after.config["gateway_service_id"]
        label = after.name or svc
        events: list[EventRecord] = []
        for pid, plugin in new.items():
            was = old.get(pid)
            if was is None:
                events.append(
                    _event(EVENT_PLUGIN_ADDED, svc, plugin, f"added to gateway service {label}")
                )
            elif (
                was.get("revision") != plugin["revision"] or was.get("enabled") != plugin["enabled"]
            ):
                events.append(
                    _event(EVENT_PLUGIN_UPDATED, svc, plugin, f"updated on gateway service {label}")
                )
        for pid, plugin in old.items():
            if pid not in new and isinstance(pid, str):
                events.append(
                    _event(
                        EVENT_PLUGIN_REMOVED, svc, plugin, f"removed from gateway service {label}"
                    )
                )
        return events


def _json_object(resp: httpx.Response, what: str) -> dict[str, Any]:
    return json_object(
        resp.content,
        invalid=f"{what} is not valid JSON",
        not_object=f"{what} is not a JSON object",
        remediation="Check that base_url points at the Kong Admin API (or Konnect).",
    )


def _next_offset(body: dict[str, Any], what: str) -> str | None:
    """The offset of the next page: ``offset``, else the one in ``next``; None at the end."""
    offset = body.get("offset")
    if offset is not None:
        if not isinstance(offset, str) or not offset:
            raise ConnectorError("malformed", f"{what} has a non-string 'offset'")
        return offset
    nxt = body.get("next")
    if nxt is None:
        return None
    if not isinstance(nxt, str):
        raise ConnectorError("malformed", f"{what} has a non-string 'next'")
    found = parse_qs(urlsplit(nxt).query).get("offset")
    if not found:
        raise ConnectorError("malformed", f"{what} has a 'next' without an offset")
    return found[0]


def _ref(entity: dict[str, Any], key: str) -> str | None:
    ref = entity.get(key)
    if isinstance(ref, dict) and isinstance(ref.get("id"), str):
        return str(ref["id"])
    return None


def _collect_route(
    route: Any, routes_of: dict[str, list[dict[str, Any]]], service_of_route: dict[str, str]
) -> None:
    if type(route) is not dict or not isinstance(route.get("id"), str):
        raise ConnectorError("malformed", "/routes holds a route without an id")
    svc = _ref(route, "service")
    if svc is None:  # a route without a service (expressions, or being set up)
        return
    service_of_route[route["id"]] = svc
    routes_of[svc].append({k: route.get(k) for k in _ROUTE_KEYS})


def _revision(plugin: dict[str, Any]) -> str:
    """A short digest of what a plugin does (its config, protocols, scope, ordering):
    what an update changes. The config itself is not kept (it may hold secrets)."""
    what = {k: plugin.get(k) for k in ("config", "protocols", "ordering", "instance_name")}
    return hashlib.blake2b(
        orjson.dumps(what, option=orjson.OPT_SORT_KEYS), digest_size=8
    ).hexdigest()


def _collect_plugin(
    plugin: Any,
    service_of_route: dict[str, str],
    plugins_of: dict[str, list[dict[str, Any]]],
    global_plugins: list[dict[str, Any]],
) -> None:
    if type(plugin) is not dict or not isinstance(plugin.get("id"), str):
        raise ConnectorError("malformed", "/plugins holds a plugin without an id")
    svc, route, consumer = _ref(plugin, "service"), _ref(plugin, "route"), _ref(plugin, "consumer")
    summary: dict[str, Any] = {
        "id": plugin["id"],
        "name": plugin.get("name"),
        "enabled": plugin.get("enabled", True),
        "scope": "global",
        "revision": _revision(plugin),
    }
    if route is not None:
        summary["scope"] = "route"
        summary["route_id"] = route
        owner = service_of_route.get(route) or svc
        if owner is not None:
            plugins_of[owner].append(summary)
    elif svc is not None:
        summary["scope"] = "consumer" if consumer else "service"
        plugins_of[svc].append(summary)
    elif consumer is None:  # a consumer's own plugin affects no service
        global_plugins.append(summary)


def _record(
    svc: Any,
    key: str,
    scope: dict[str, Any],
    routes_of: dict[str, list[dict[str, Any]]],
    plugins_of: dict[str, list[dict[str, Any]]],
    global_plugins: list[dict[str, Any]],
) -> ResourceRecord:
    if type(svc) is not dict or not isinstance(svc.get("id"), str):
        raise ConnectorError("malformed", "/services holds a service without an id")
    sid: str = svc["id"]
    name = svc.get("name")
    if name is not None and not isinstance(name, str):
        raise ConnectorError("malformed", f"Service {sid!r} has a non-string name")
    service = {k: svc.get(k) for k in _SERVICE_KEYS}
    service["type"] = "service"
    if service["enabled"] is None:
        service["enabled"] = True  # Kong before 2.7 has no such field: every service is on
    routes = routes_of.get(sid, [])
    plugins = [*plugins_of.get(sid, []), *global_plugins]
    data = {
        **scope,
        "gateway_service": service,
        "routes": routes,
        "plugins": plugins,
        "route_count": len(routes),
        "enabled_plugins": sorted({str(p["name"]) for p in plugins if p["enabled"]}),
    }
    return ResourceRecord(
        RESOURCE_TYPE, {"control_plane_id": key, "gateway_service_id": sid}, name, data
    )


def _event(kind: str, svc: str, plugin: dict[str, Any], what: str) -> EventRecord:
    pid = str(plugin.get("id"))
    dedup = f"{kind}:{svc}:{pid}"
    if kind == EVENT_PLUGIN_UPDATED:
        dedup += f":{plugin.get('revision')}:{plugin.get('enabled')}"
    name = plugin.get("name") or pid
    scope = plugin.get("scope") or "service"
    return EventRecord(
        kind,
        dedup,
        f"Plugin {name} ({scope} scope) {what}",
        {
            "plugin_id": pid,
            "plugin_name": plugin.get("name"),
            "scope": scope,
            "enabled": plugin.get("enabled"),
            "gateway_service_id": svc,
        },
    )

"""A simulator of a Kong Gateway's Admin API and of Konnect's control-plane API: a real
HTTP server on loopback, for the ``gateway-manager`` connector.

Used by tests, benchmarks and the demo; never by production code. It serves the subset
``tests/contracts/gateway_manager/kong-admin-subset.json`` describes, in Kong's wire format::

    GET /                    -> {"version", "node_id", "hostname", "tagline", ...}
    GET /status              -> {"database": {"reachable": true}, "server": {...}}
    GET /workspaces          -> 404 (open source: no workspaces) or the workspace list
    GET [/{workspace}]/services|routes|plugins?size=N&offset=X
                             -> {"data": [...], "next": "/services?offset=Y"|null,
                                 "offset": "Y" (only when there is a next page)}
    GET /v2/control-planes/{id}                      -> the control plane (Konnect)
    GET /v2/control-planes/{id}/core-entities/services|routes|plugins  (same listing)
    POST /__sim/control      -> set any attribute below from a JSON object (tests, demo)

``size`` is 1 to 1000 (Kong's limit; default 100), else a 400 like Kong's. The Admin API
wants ``Kong-Admin-Token: sim.admin_token`` when that is set (None: an open Admin API);
Konnect paths want ``Authorization: Bearer sim.konnect_token``. A wrong one is a 401,
a path in ``sim.forbidden`` a 403 (RBAC without the permission).

Usage::

    with GatewaySimulator(services=50, admin_token="t") as sim:
        sim.url                    # -> the instance's config base_url
        sim.add_plugin(sim.services()[0]["id"], "rate-limiting")

Constructor: ``GatewaySimulator(services=10, routes_per_service=2, plugins_per_service=3,
*, admin_token=None, konnect_token="kpat_sim", workspaces=None, control_plane_id=
CONTROL_PLANE_ID, global_plugins=0, host="127.0.0.1", port=0)``. ``workspaces`` None is
open source Kong (one unnamed workspace, ``/workspaces`` a 404); a list of names is Kong
Gateway Enterprise with that many workspaces, each with ``services`` services. The
Konnect control plane serves the first workspace's entities.

Attributes, settable while it runs (each takes effect on the next request):
``admin_token``, ``konnect_token``, ``reject_all`` (every request 401: a revoked
credential), ``forbidden`` (a set of path suffixes, e.g. ``{"/services"}``, answered 403),
``rate_limit_next`` (n requests get 429 with ``Retry-After: retry_after``),
``fail_next`` / ``fail_status`` (n requests get 503), ``fail_on(path, page, status,
times)`` (that listing's page fails), ``truncate_on(path, page)`` (that page's body is
cut short: invalid JSON), ``delay`` (seconds before each answer), ``requests`` (one dict
``{"method", "path", "query", "status"}`` per request; never a header).
"""

from __future__ import annotations

import argparse
import base64
import json
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from service_catalog.testing.serving import Serving, SimHandler

__all__ = ["CONTROL_PLANE_ID", "GatewaySimulator"]

CONTROL_PLANE_ID = "6f0c1e2a-7b3d-4e5f-8a9b-0c1d2e3f4a5b"
MAX_SIZE = 1000
DEFAULT_SIZE = 100
ENTITIES = ("services", "routes", "plugins")
_NS = uuid.UUID("0b7c4f8e-1d2a-4b3c-9e8f-7a6b5c4d3e2f")
_PLUGIN_NAMES = ("rate-limiting", "key-auth", "cors", "request-transformer", "prometheus")
_METHODS = (["GET"], ["GET", "POST"], ["PUT", "PATCH", "DELETE"])
_TS = 1_700_000_000
_CONTROL_KEYS = {
    "admin_token",
    "konnect_token",
    "reject_all",
    "rate_limit_next",
    "retry_after",
    "fail_next",
    "fail_status",
    "delay",
}


def _id(*parts: object) -> str:
    return str(uuid.uuid5(_NS, "/".join(str(p) for p in parts)))


def _offset(index: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([index]).encode()).decode().rstrip("=")


def _index(token: str) -> int | None:
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(value, list) and len(value) == 1 and type(value[0]) is int and value[0] >= 0:
        return int(value[0])
    return None


class _Workspace:
    """One workspace's entities, in Kong's shapes, in creation order."""

    def __init__(self, name: str, services: int, routes: int, plugins: int) -> None:
        self.id = _id("ws", name)
        self.name = name
        self.entities: dict[str, list[dict[str, Any]]] = {e: [] for e in ENTITIES}
        for i in range(1, services + 1):
            svc = self.add_service(f"{name}-svc-{i:05d}" if name != "default" else f"svc-{i:05d}")
            for r in range(routes):
                self.add_route(svc["id"], r)
            for p in range(plugins):
                self.add_plugin(svc["id"], _PLUGIN_NAMES[(i + p) % len(_PLUGIN_NAMES)], seq=p)

    def add_service(self, name: str, **fields: Any) -> dict[str, Any]:
        n = len(self.entities["services"])
        svc = {
            "id": _id(self.name, "service", name),
            "name": name,
            "host": f"{name}.internal",
            "port": 443 if n % 2 else 8080,
            "protocol": "https" if n % 2 else "http",
            "path": f"/{name}",
            "retries": 5,
            "connect_timeout": 60000,
            "write_timeout": 60000,
            "read_timeout": 60000,
            "tags": [f"team:{n % 5}"],
            "client_certificate": None,
            "tls_verify": None,
            "tls_verify_depth": None,
            "ca_certificates": None,
            "enabled": n % 10 != 9,
            "created_at": _TS + n,
            "updated_at": _TS + n,
            **fields,
        }
        self.entities["services"].append(svc)
        return svc

    def add_route(self, service_id: str, seq: int) -> dict[str, Any]:
        route = {
            "id": _id(self.name, "route", service_id, seq),
            "name": f"route-{service_id[:8]}-{seq}",
            "protocols": ["http", "https"],
            "methods": _METHODS[seq % len(_METHODS)],
            "hosts": None,
            "paths": [f"/api/{service_id[:8]}/{seq}"],
            "headers": None,
            "https_redirect_status_code": 426,
            "regex_priority": 0,
            "strip_path": True,
            "path_handling": "v0",
            "preserve_host": False,
            "request_buffering": True,
            "response_buffering": True,
            "snis": None,
            "sources": None,
            "destinations": None,
            "tags": None,
            "service": {"id": service_id},
            "created_at": _TS,
            "updated_at": _TS,
        }
        self.entities["routes"].append(route)
        return route

    def add_plugin(
        self,
        service_id: str | None,
        name: str,
        *,
        seq: int = 0,
        route_id: str | None = None,
        config: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        plugin = {
            "id": _id(self.name, "plugin", service_id, route_id, name, seq),
            "name": name,
            "instance_name": None,
            "config": config if config is not None else {"minute": 60, "policy": "local"},
            "protocols": ["grpc", "grpcs", "http", "https"],
            "enabled": True,
            "tags": None,
            "ordering": None,
            "service": {"id": service_id} if service_id and not route_id else None,
            "route": {"id": route_id} if route_id else None,
            "consumer": None,
            "created_at": _TS,
            "updated_at": _TS,
        }
        self.entities["plugins"].append(plugin)
        return plugin


class GatewaySimulator(Serving):
    """A Kong Admin API (and a Konnect control plane) on a loopback port; see the module
    docstring."""

    thread_name = "gateway-sim"

    def __init__(
        self,
        services: int = 10,
        routes_per_service: int = 2,
        plugins_per_service: int = 3,
        *,
        admin_token: str | None = None,
        konnect_token: str = "kpat_sim_token_0123456789",
        workspaces: list[str] | None = None,
        control_plane_id: str = CONTROL_PLANE_ID,
        global_plugins: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._lock = threading.Lock()
        self.enterprise = workspaces is not None
        names = workspaces or ["default"]
        self.workspaces = {
            n: _Workspace(n, services, routes_per_service, plugins_per_service) for n in names
        }
        first = self.workspaces[names[0]]
        for g in range(global_plugins):
            first.add_plugin(None, _PLUGIN_NAMES[g % len(_PLUGIN_NAMES)], seq=1000 + g)
        self.control_plane_id = control_plane_id
        self.admin_token = admin_token
        self.konnect_token = konnect_token
        self.reject_all = False
        self.forbidden: set[str] = set()
        self.rate_limit_next = 0
        self.retry_after = "1"
        self.fail_next = 0
        self.fail_status = 503
        self.delay = 0.0
        self._truncate: set[tuple[str, int]] = set()
        self.requests: list[dict[str, Any]] = []
        self._cache: dict[tuple[str, str, int, int], bytes] = {}
        self._serve_on(host, port)

    # --- data -------------------------------------------------------------------------

    def workspace(self, name: str | None = None) -> _Workspace:
        """A workspace's data (the first one by default)."""
        return self.workspaces[name] if name else next(iter(self.workspaces.values()))

    def services(self, workspace: str | None = None) -> list[dict[str, Any]]:
        """The services of a workspace (live objects: call :meth:`changed` after editing)."""
        return self.workspace(workspace).entities["services"]

    def plugins(self, workspace: str | None = None) -> list[dict[str, Any]]:
        """The plugins of a workspace (live objects: call :meth:`changed` after editing)."""
        return self.workspace(workspace).entities["plugins"]

    def changed(self) -> None:
        """Forget pre-rendered pages after the data was edited in place."""
        with self._lock:
            self._cache.clear()

    def add_plugin(
        self, service_id: str | None, name: str, workspace: str | None = None, **kw: Any
    ) -> dict[str, Any]:
        """Add a plugin on a service (or a route: ``route_id=``; global: service None)."""
        plugin = self.workspace(workspace).add_plugin(service_id, name, seq=9999, **kw)
        self.changed()
        return plugin

    def remove_plugin(self, plugin_id: str, workspace: str | None = None) -> None:
        """Delete a plugin."""
        plugins = self.plugins(workspace)
        plugins[:] = [p for p in plugins if p["id"] != plugin_id]
        self.changed()

    def remove_service(self, service_id: str, workspace: str | None = None) -> None:
        """Delete a service (its routes and plugins too, as Kong's cascade does)."""
        ws = self.workspace(workspace)
        ws.entities["services"] = [s for s in ws.entities["services"] if s["id"] != service_id]
        ws.entities["routes"] = [
            r for r in ws.entities["routes"] if (r.get("service") or {}).get("id") != service_id
        ]
        ws.entities["plugins"] = [
            p for p in ws.entities["plugins"] if (p.get("service") or {}).get("id") != service_id
        ]
        self.changed()

    def fail_on(
        self, path: str, page: int = 1, status: int = 500, times: int | None = None
    ) -> None:
        """Make page ``page`` (1-based) of listing ``path`` ("/services"...) fail."""
        self.fail_when(status, times, path=path, page=page)

    def truncate_on(self, path: str, page: int = 1) -> None:
        """Cut page ``page`` of listing ``path`` short (an invalid JSON body)."""
        with self._lock:
            self._truncate.add((path, page))

    def prerender(self, size: int = MAX_SIZE) -> None:
        """Render every page of every listing of every workspace at ``size`` now."""
        for ws in self.workspaces.values():
            for entity in ENTITIES:
                total = len(ws.entities[entity])
                for start in range(0, max(total, 1), size):
                    self._page(ws, entity, start, size, f"/{entity}")

    def _page(self, ws: _Workspace, entity: str, start: int, size: int, prefix: str) -> bytes:
        key = (prefix, ws.name, start, size)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        items = ws.entities[entity][start : start + size]
        body: dict[str, Any] = {"data": items, "next": None}
        if start + size < len(ws.entities[entity]):
            token = _offset(start + size)
            body["next"] = f"{prefix}?offset={token}"
            body["offset"] = token
        raw = json.dumps(body, separators=(",", ":")).encode()
        with self._lock:
            self._cache[key] = raw
        return raw

    def control(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Apply a control request (``POST /__sim/control``): known keys only."""
        error = self._set_controls(settings, _CONTROL_KEYS | {"forbidden"})
        return {"ok": True} if error is None else {"error": error}


class _Handler(SimHandler):
    simulator: GatewaySimulator

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self._reply(status, body, headers)
        split = urlsplit(self.path)
        self.simulator.requests.append(
            {"method": self.command, "path": split.path, "query": split.query, "status": status}
        )

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(body).encode(), headers)

    def do_POST(self) -> None:
        sim = self.simulator
        if urlsplit(self.path).path != "/__sim/control":
            self._json(405, {"message": "Method not allowed"})
            return
        try:
            settings = json.loads(self._body() or b"{}")
        except ValueError:
            self._json(400, {"error": "not JSON"})
            return
        if not isinstance(settings, dict):
            self._json(400, {"error": "not an object"})
            return
        answer = sim.control(settings)
        self._json(400 if "error" in answer else 200, answer)

    def do_GET(self) -> None:
        sim = self.simulator
        if sim.delay:
            time.sleep(sim.delay)
        split = urlsplit(self.path)
        path, query = split.path, parse_qs(split.query)
        konnect = path.startswith("/v2/")
        if sim.reject_all or not self._authorized(konnect):
            if konnect:
                self._json(401, {"status": 401, "title": "Unauthorized", "detail": "Invalid token"})
            else:
                self._json(
                    401, {"message": "Invalid credentials. Token or User credentials required"}
                )
            return
        if any(path.endswith(f) for f in sim.forbidden):
            self._json(403, {"message": "You cannot consume this service"})
            return
        if sim._take("rate_limit_next"):
            self._json(
                429, {"message": "API rate limit exceeded"}, {"Retry-After": sim.retry_after}
            )
            return
        if sim._take("fail_next"):
            self._json(sim.fail_status, {"message": "An unexpected error occurred"})
            return
        if konnect:
            self._konnect(path, query)
        else:
            self._admin(path, query)

    def _authorized(self, konnect: bool) -> bool:
        sim = self.simulator
        if konnect:
            return self.headers.get("Authorization") == f"Bearer {sim.konnect_token}"
        return sim.admin_token is None or self.headers.get("Kong-Admin-Token") == sim.admin_token

    def _admin(self, path: str, query: dict[str, list[str]]) -> None:
        sim = self.simulator
        if path == "/":
            self._json(
                200,
                {
                    "version": "3.9.1.0" if sim.enterprise else "3.9.1",
                    "edition": "enterprise" if sim.enterprise else "community",
                    "node_id": _id("node"),
                    "hostname": "kong-sim",
                    "tagline": "Welcome to kong",
                    "lua_version": "LuaJIT 2.1.0-20231117",
                    "plugins": {"available_on_server": {n: {} for n in _PLUGIN_NAMES}},
                    "configuration": {"database": "postgres", "role": "traditional"},
                },
            )
            return
        if path == "/status":
            self._json(200, {"database": {"reachable": True}, "server": {"connections_active": 1}})
            return
        parts = [p for p in path.split("/") if p]
        if parts == ["workspaces"]:
            if not sim.enterprise:
                self._json(404, {"message": "Not found"})
                return
            items: list[dict[str, Any]] = [
                {"id": ws.id, "name": ws.name, "comment": None, "created_at": _TS, "config": {}}
                for ws in sim.workspaces.values()
            ]
            self._json(200, {"data": items, "next": None})
            return
        if len(parts) == 1 and parts[0] in ENTITIES:
            self._list(sim.workspace(None), parts[0], query, f"/{parts[0]}")
            return
        if len(parts) == 2 and parts[1] in ENTITIES and parts[0] in sim.workspaces:
            self._list(sim.workspace(parts[0]), parts[1], query, f"/{parts[0]}/{parts[1]}")
            return
        self._json(404, {"message": "Not found"})

    def _konnect(self, path: str, query: dict[str, list[str]]) -> None:
        sim = self.simulator
        base = f"/v2/control-planes/{sim.control_plane_id}"
        if path == base:
            self._json(
                200,
                {
                    "id": sim.control_plane_id,
                    "name": "sim-control-plane",
                    "description": "A simulated control plane",
                    "labels": {"env": "test"},
                    "config": {
                        "control_plane_endpoint": "https://sim.cp0.konghq.com",
                        "telemetry_endpoint": "https://sim.tp0.konghq.com",
                        "cluster_type": "CLUSTER_TYPE_CONTROL_PLANE",
                        "auth_type": "pinned_client_certs",
                        "cloud_gateway": False,
                    },
                    "created_at": "2024-01-01T00:00:00Z",
                    "updated_at": "2024-01-01T00:00:00Z",
                },
            )
            return
        prefix = f"{base}/core-entities/"
        entity = path[len(prefix) :] if path.startswith(prefix) else ""
        if entity in ENTITIES:
            self._list(sim.workspace(None), entity, query, f"/{entity}")
            return
        self._json(404, {"status": 404, "title": "Not Found", "detail": "Not found"})

    def _list(self, ws: _Workspace, entity: str, query: dict[str, list[str]], shown: str) -> None:
        sim = self.simulator
        raw_size = (query.get("size") or [str(DEFAULT_SIZE)])[0]
        if not raw_size.isdigit() or not 1 <= int(raw_size) <= MAX_SIZE:
            self._json(
                400,
                {
                    "code": 9,
                    "name": "invalid size",
                    "message": f"size must be an integer between 1 and {MAX_SIZE}",
                },
            )
            return
        size = int(raw_size)
        start = 0
        if query.get("offset"):
            found = _index(query["offset"][0])
            if found is None:
                self._json(400, {"code": 7, "name": "invalid offset", "message": "invalid offset"})
                return
            start = found
        page = start // size + 1
        status = sim._failure(path=f"/{entity}", page=page)
        if status is not None:
            self._json(status, {"message": "An unexpected error occurred"})
            return
        body = sim._page(ws, entity, start, size, shown)
        if (f"/{entity}", page) in sim._truncate:
            body = body[: len(body) // 2]
        self._send(200, body)


GatewaySimulator.handler = _Handler


def main(argv: list[str] | None = None) -> None:
    """Serve a simulated gateway until killed; print ``{"url"}`` as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--routes", type=int, default=2)
    parser.add_argument("--plugins", type=int, default=3)
    parser.add_argument("--token", default=None, help="the Kong-Admin-Token (default: none)")
    args = parser.parse_args(argv)
    sim = GatewaySimulator(args.services, args.routes, args.plugins, admin_token=args.token)
    sim.prerender()
    sim.serve_until_killed()


if __name__ == "__main__":
    main()

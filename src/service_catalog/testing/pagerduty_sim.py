"""A simulator of PagerDuty's REST API v2: a real HTTP server on loopback.

Used by tests, benchmarks and the demo; never by production code. It serves the subset of
the API the ``pagerduty`` connector calls, in the wire format of PagerDuty's published
OpenAPI description (``PagerDuty/api-schema``, ``reference/REST/openapiv3.json``; the subset
is kept in ``tests/contracts/pagerduty/`` and every answer is validated against it)::

    GET /abilities                                   {"abilities": [...]}
    GET /services?limit&offset&total                 Pagination + {"services": [...]}
    GET /oncalls?escalation_policy_ids[]=...         Pagination + {"oncalls": [...]}
    GET /incidents?service_ids[]&since&until&statuses[]&date_range=all
                                                     Pagination + {"incidents": [...]}
    GET /log_entries?since&until&is_overview&include[]=incidents
                                                     Pagination + {"log_entries": [...]}

Classic offset paging as PagerDuty does it: ``limit`` (default 25, at most 100), ``offset``,
``more``, ``total`` (null unless ``total=true``); ``offset + limit`` beyond 10,000 is a 400.
Every request needs ``Authorization: Token token=<token>``; anything else is a 401 with
PagerDuty's error body. Incidents are listed by ``created_at`` within ``since``..``until``
(default: the last 30 days; ``date_range=all``: every one); log entries by ``created_at``.

The tenant is deterministic: ``services`` services (ids ``PS000001``...), two per
escalation policy (``PEP000001``...), each policy with a user on call at levels 1 and 2 except
every 11th (nobody on call); every 19th service is disabled; ``incidents`` incidents per
service spread over the 28 days before ``sim.now``: most resolved (acknowledged first, unless
(service + k) % 4 == 0), the first one of every 5th service triggered, the second of every 7th
acknowledged; every third one high urgency. Log entries (trigger, acknowledge, resolve) follow
from the incidents.

Faults and controls (attributes, or ``POST /_control`` with a JSON object of them):
``reject_all`` (401), ``forbidden_paths`` (403 on those paths: a key missing an ability),
``rate_limit_next`` (the next n requests get 429 with ``Retry-After: retry_after`` when
that is set, and ``ratelimit-reset`` always), ``fail_path``/``fail_status``/``fail_times`` (5xx),
``truncate_next`` (the next n answers are cut in half: invalid JSON). Happenings:
``sim.trigger(service_id, title, urgency)``, ``sim.acknowledge(incident_id)``,
``sim.resolve(incident_id)`` (stamped now), ``sim.remove_service(service_id)``; the first
three also as ``POST /_control`` (``{"trigger": {"service_id", "title", "urgency"}}``).
``sim.requests`` logs ``{"method", "path", "query", "status", "accept"}`` per request (never
the token).

Run on its own: ``python -m service_catalog.testing.pagerduty_sim --services N --incidents M``
(prints ``{"url", "token"}``).
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from service_catalog.testing.serving import Serving, SimHandler

__all__ = ["PagerDutySimulator", "main"]

MAX_LIMIT = 100
DEFAULT_LIMIT = 25
OFFSET_CAP = 10_000
ACCEPT = "application/vnd.pagerduty+json;version=2"
SPREAD_DAYS = 28


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass(slots=True)
class _Incident:
    id: str
    number: int
    service: int  # 1-based service index
    created: float
    acked: float | None
    resolved: float | None
    urgency: str
    title: str

    @property
    def status(self) -> str:
        if self.resolved is not None:
            return "resolved"
        return "acknowledged" if self.acked is not None else "triggered"


class PagerDutySimulator(Serving):
    """PagerDuty's REST API on a loopback port; see the module docstring."""

    thread_name = "pagerduty-sim"

    def __init__(
        self,
        services: int = 0,
        incidents: int = 0,
        token: str = "pd-token",
        *,
        now: dt.datetime | None = None,
        subdomain: str = "acme",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._lock = threading.RLock()
        self.token = token
        self.subdomain = subdomain
        self.now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
        self.service_count = services
        self.names: dict[int, str] = {i: f"Service {i:06d}" for i in range(1, services + 1)}
        self.incidents: list[_Incident] = []
        self._by_id: dict[str, _Incident] = {}
        self._by_service: dict[int, list[_Incident]] = {}
        self._log: list[tuple[float, str, str]] = []  # (ts, kind, incident id), sorted
        self._disabled_override: dict[int, bool] = {}
        self._generate(services, incidents)
        self._version = 0
        self._cache: OrderedDict[Any, list[_Incident]] = OrderedDict()
        self.reject_all = False
        self.forbidden_paths: set[str] = set()
        self.rate_limit_next = 0
        self.retry_after: str | None = "1"
        self.fail_path: str | None = None
        self.fail_status = 500
        self.fail_times: int | None = None
        self.truncate_next = 0
        self.requests: list[dict[str, Any]] = []
        self._serve_on(host, port)

    # --- the tenant ----------------------------------------------------------------

    def _generate(self, services: int, per_service: int) -> None:
        now = self.now.timestamp()
        step = SPREAD_DAYS * 86400 / (per_service + 1)
        for i in range(1, services + 1):
            for k in range(per_service):
                created = now - (k + 1) * step - (i % 97) * 60
                acked = resolved = None
                if k == 0 and i % 5 == 0:
                    pass
                elif k == 1 and i % 7 == 0:
                    acked = created + 60 + (i * 37 + k * 11) % 900
                else:
                    if (i + k) % 4:
                        acked = created + 60 + (i * 37 + k * 11) % 900
                    resolved = created + 1200 + (i * 13 + k * 29) % 7200
                inc = _Incident(
                    id=f"Q{i:06d}{k:04d}",
                    number=(i - 1) * per_service + k + 1,
                    service=i,
                    created=created,
                    acked=acked,
                    resolved=resolved,
                    urgency="high" if k % 3 == 0 else "low",
                    title=f"Service {i} incident {k}: latency above threshold",
                )
                self._add(inc)
        self._log.sort()

    def _add(self, inc: _Incident) -> None:
        self.incidents.append(inc)
        self._by_id[inc.id] = inc
        self._by_service.setdefault(inc.service, []).append(inc)
        self._log.append((inc.created, "trigger", inc.id))
        if inc.acked is not None:
            self._log.append((inc.acked, "acknowledge", inc.id))
        if inc.resolved is not None:
            self._log.append((inc.resolved, "resolve", inc.id))

    @staticmethod
    def service_id(i: int) -> str:
        """The id of the ``i``-th service (1-based)."""
        return f"PS{i:06d}"

    @staticmethod
    def policy_id(i: int) -> str:
        """The id of the escalation policy of the ``i``-th service."""
        return f"PEP{(i + 1) // 2:06d}"

    def _index(self, service_id: str) -> int | None:
        if len(service_id) == 8 and service_id.startswith("PS") and service_id[2:].isdigit():
            i = int(service_id[2:])
            if i in self.names:
                return i
        return None

    def _bump(self) -> None:
        self._version += 1
        self._cache.clear()

    def trigger(self, service_id: str, title: str, urgency: str = "high") -> str:
        """A new incident on the service, triggered now; its id."""
        with self._lock:
            i = self._index(service_id)
            if i is None:
                raise KeyError(service_id)
            number = len(self.incidents) + 1
            inc = _Incident(f"QN{number:09d}", number, i, _now(), None, None, urgency, title)
            self._add(inc)
            self._log.sort()
            self._bump()
            return inc.id

    def acknowledge(self, incident_id: str) -> None:
        """Acknowledge an open incident now."""
        self._change(incident_id, "acked", "acknowledge")

    def resolve(self, incident_id: str) -> None:
        """Resolve an incident now."""
        self._change(incident_id, "resolved", "resolve")

    def _change(self, incident_id: str, field: str, kind: str) -> None:
        """Stamp the incident's ``field`` now and log a ``kind`` entry."""
        with self._lock:
            inc = self._by_id[incident_id]
            now = _now()
            setattr(inc, field, now)
            self._log.append((now, kind, inc.id))
            self._log.sort()
            self._bump()

    def remove_service(self, service_id: str) -> None:
        """Delete a service, its incidents and their log entries."""
        with self._lock:
            i = self._index(service_id)
            if i is None or i not in self.names:
                raise KeyError(service_id)
            del self.names[i]
            gone = {inc.id for inc in self._by_service.pop(i, [])}
            self.incidents = [x for x in self.incidents if x.id not in gone]
            self._log = [e for e in self._log if e[2] not in gone]
            for iid in gone:
                del self._by_id[iid]
            self._bump()

    def set_status(self, service_id: str, disabled: bool) -> None:
        """Disable (or enable again) a service."""
        with self._lock:
            i = self._index(service_id)
            if i is None:
                raise KeyError(service_id)
            self._disabled_override[i] = disabled
            self._bump()

    # --- rendering -----------------------------------------------------------------

    def _ref(self, kind: str, oid: str, summary: str, path: str, html: str) -> dict[str, Any]:
        return {
            "id": oid,
            "type": f"{kind}_reference",
            "summary": summary,
            "self": f"https://api.pagerduty.com/{path}/{oid}",
            "html_url": f"https://{self.subdomain}.pagerduty.com/{html}/{oid}",
        }

    def _service_ref(self, i: int) -> dict[str, Any]:
        return self._ref(
            "service", self.service_id(i), self.names[i], "services", "service-directory"
        )

    def _policy_ref(self, i: int) -> dict[str, Any]:
        pid = self.policy_id(i)
        return self._ref(
            "escalation_policy",
            pid,
            f"Policy {pid[3:]}",
            "escalation_policies",
            "escalation_policies",
        )

    def _user_ref(self, u: int) -> dict[str, Any]:
        return self._ref("user", f"PU{u:05d}", f"User {u}", "users", "users")

    def _status(self, i: int) -> str:
        disabled = self._disabled_override.get(i)
        if disabled is None:
            disabled = i % 19 == 0
        if disabled:
            return "disabled"
        states = {inc.status for inc in self._by_service.get(i, ())}
        if "triggered" in states:
            return "critical"
        return "warning" if "acknowledged" in states else "active"

    def _service(self, i: int) -> dict[str, Any]:
        sid = self.service_id(i)
        incs = self._by_service.get(i)
        body: dict[str, Any] = {
            "id": sid,
            "summary": self.names[i],
            "type": "service",
            "self": f"https://api.pagerduty.com/services/{sid}",
            "html_url": f"https://{self.subdomain}.pagerduty.com/service-directory/{sid}",
            "name": self.names[i],
            "description": f"Simulated service {i}",
            "auto_resolve_timeout": 14400,
            "acknowledgement_timeout": 600,
            "created_at": "2024-01-15T09:00:00Z",
            "status": self._status(i),
            "alert_creation": "create_alerts_and_incidents",
            "escalation_policy": self._policy_ref(i),
            "teams": [self._ref("team", f"PT{i % 9:05d}", f"Team {i % 9}", "teams", "teams")],
            "integrations": [],
            "incident_urgency_rule": {"type": "constant", "urgency": "high"},
        }
        if incs:
            body["last_incident_timestamp"] = _iso(max(x.created for x in incs))
        return body

    def _incident(self, inc: _Incident) -> dict[str, Any]:
        status = inc.status
        changed = inc.resolved or inc.acked or inc.created
        body: dict[str, Any] = {
            "id": inc.id,
            "type": "incident",
            "summary": f"[#{inc.number}] {inc.title}",
            "self": f"https://api.pagerduty.com/incidents/{inc.id}",
            "html_url": f"https://{self.subdomain}.pagerduty.com/incidents/{inc.id}",
            "incident_number": inc.number,
            "title": inc.title,
            "created_at": _iso(inc.created),
            "updated_at": _iso(changed),
            "status": status,
            "incident_key": f"key-{inc.id.lower()}",
            "service": self._service_ref(inc.service),
            "assignments": []
            if status == "resolved"
            else [
                {
                    "at": _iso(inc.created),
                    "assignee": self._user_ref(inc.service % 50),
                }
            ],
            "assigned_via": "escalation_policy",
            "last_status_change_at": _iso(changed),
            "resolved_at": _iso(inc.resolved) if inc.resolved is not None else None,
            "acknowledgements": [
                {"at": _iso(inc.acked), "acknowledger": self._user_ref(inc.service % 50)}
            ]
            if status == "acknowledged" and inc.acked is not None
            else [],
            "escalation_policy": self._policy_ref(inc.service),
            "teams": [],
            "urgency": inc.urgency,
        }
        return body

    def _log_entry(self, ts: float, kind: str, inc: _Incident, full: bool) -> dict[str, Any]:
        eid = f"R{inc.id}{kind[0].upper()}"
        summary = {
            "trigger": "Triggered through the API",
            "acknowledge": f"Acknowledged by User {inc.service % 50}",
            "resolve": "Resolved through the API",
        }[kind]
        incident = (
            self._incident(inc)
            if full
            else {
                "id": inc.id,
                "type": "incident_reference",
                "summary": f"[#{inc.number}] {inc.title}",
                "self": f"https://api.pagerduty.com/incidents/{inc.id}",
                "html_url": f"https://{self.subdomain}.pagerduty.com/incidents/{inc.id}",
            }
        )
        agent = (
            self._user_ref(inc.service % 50)
            if kind == "acknowledge"
            else self._service_ref(inc.service)
        )
        return {
            "id": eid,
            "type": f"{kind}_log_entry",
            "summary": summary,
            "self": f"https://api.pagerduty.com/log_entries/{eid}",
            "html_url": f"https://{self.subdomain}.pagerduty.com/incidents/{inc.id}/log_entries/{eid}",
            "created_at": _iso(ts),
            "agent": agent,
            "channel": {"type": "api"},
            "service": self._service_ref(inc.service),
            "incident": incident,
            "teams": [],
            "contexts": [],
        }

    # --- listings ------------------------------------------------------------------

    def _window(self, query: dict[str, list[str]]) -> tuple[float, float] | str:
        try:
            until = _parse_time(query["until"][0]) if "until" in query else _now()
            since = _parse_time(query["since"][0]) if "since" in query else until - 30 * 86400
        except ValueError:
            return "since and until must be ISO 8601 date-times"
        if since > until:
            return "since must be before until"
        if until - since > 183 * 86400:
            return "the date range may not exceed 6 months"
        return since, until

    def _list_incidents(self, query: dict[str, list[str]]) -> list[_Incident] | str:
        ids = tuple(sorted(set(query.get("service_ids[]", []))))
        statuses = frozenset(query.get("statuses[]", []))
        if not statuses <= {"triggered", "acknowledged", "resolved"}:
            return "statuses[] must be triggered, acknowledged or resolved"
        everything = query.get("date_range", [""])[0] == "all"
        window: tuple[float, float] | None = None
        if not everything:
            got = self._window(query)
            if isinstance(got, str):
                return got
            window = got
        key = ("incidents", ids, statuses, window)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if ids:
            pool = [
                inc
                for sid in ids
                if (i := self._index(sid)) is not None
                for inc in self._by_service.get(i, ())
            ]
        else:
            pool = list(self.incidents)
        out = [
            inc
            for inc in pool
            if (not statuses or inc.status in statuses)
            and (window is None or window[0] <= inc.created < window[1])
        ]
        out.sort(key=lambda x: (x.created, x.id))
        self._cache[key] = out
        while len(self._cache) > 8:
            self._cache.popitem(last=False)
        return out

    def _page(
        self, query: dict[str, list[str]], key: str, items: list[Any], render: Any
    ) -> tuple[int, bytes]:
        try:
            limit = int(query.get("limit", [str(DEFAULT_LIMIT)])[0])
            offset = int(query.get("offset", ["0"])[0])
        except ValueError:
            return _error(400, 2001, "Invalid Input Provided", ["limit and offset are integers"])
        if limit < 1 or offset < 0:
            return _error(400, 2001, "Invalid Input Provided", ["limit and offset out of range"])
        limit = min(limit, MAX_LIMIT)
        if offset + limit > OFFSET_CAP:
            return _error(
                400,
                2001,
                "Invalid Input Provided",
                [f"Offset must be less than {OFFSET_CAP} - limit"],
            )
        chunk = items[offset : offset + limit]
        total = len(items) if query.get("total", ["false"])[0] == "true" else None
        body = {
            key: [render(x) for x in chunk],
            "limit": limit,
            "offset": offset,
            "more": offset + len(chunk) < len(items),
            "total": total,
        }
        return 200, _json(body)

    def _answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
        if path == "/abilities":
            return 200, _json({"abilities": ["teams", "urgencies", "service_support_hours"]})
        if path == "/services":
            if "query" in query:
                q = query["query"][0].lower()
                idx = [i for i, n in self.names.items() if q in n.lower()]
            else:
                idx = sorted(self.names, key=lambda i: (self.names[i].lower(), i))
            return self._page(query, "services", idx, self._service)
        if path == "/oncalls":
            wanted = set(query.get("escalation_policy_ids[]", []))
            rows: list[tuple[int, int]] = []
            for j in sorted({(i + 1) // 2 for i in self.names}):
                if (wanted and f"PEP{j:06d}" not in wanted) or j % 11 == 0:
                    continue
                rows += [(j, 1), (j, 2)]
            return self._page(query, "oncalls", rows, self._oncall)
        if path == "/incidents":
            got = self._list_incidents(query)
            if isinstance(got, str):
                return _error(400, 2001, "Invalid Input Provided", [got])
            return self._page(query, "incidents", got, self._incident)
        if path == "/log_entries":
            window = self._window(query)
            if isinstance(window, str):
                return _error(400, 2001, "Invalid Input Provided", [window])
            lo = bisect.bisect_left(self._log, (window[0], "", ""))
            hi = bisect.bisect_left(self._log, (window[1], "", ""))
            full = "incidents" in query.get("include[]", [])
            entries = self._log[lo:hi]
            return self._page(
                query,
                "log_entries",
                entries,
                lambda e: self._log_entry(e[0], e[1], self._by_id[e[2]], full),
            )
        return _error(404, 2100, "Not Found", [])

    def _oncall(self, row: tuple[int, int]) -> dict[str, Any]:
        j, level = row
        user = (j + (0 if level == 1 else 7)) % 50
        start = self.now - dt.timedelta(hours=j % 24 + 1)
        pid = f"PEP{j:06d}"
        return {
            "user": self._user_ref(user),
            "schedule": self._ref(
                "schedule",
                f"PSC{j:05d}{level}",
                f"Rotation {j}/{level}",
                "schedules",
                "schedules",
            ),
            "escalation_policy": self._ref(
                "escalation_policy",
                pid,
                f"Policy {pid[3:]}",
                "escalation_policies",
                "escalation_policies",
            ),
            "escalation_level": level,
            "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": (start + dt.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def _control(self, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in (
            "reject_all",
            "rate_limit_next",
            "retry_after",
            "fail_path",
            "fail_status",
            "fail_times",
            "truncate_next",
        ):
            if key in body:
                setattr(self, key, body[key])
        if "forbidden_paths" in body:
            self.forbidden_paths = set(body["forbidden_paths"])
        if "trigger" in body:
            t = body["trigger"]
            out["incident_id"] = self.trigger(t["service_id"], t["title"], t.get("urgency", "high"))
        if "acknowledge" in body:
            self.acknowledge(body["acknowledge"])
        if "resolve" in body:
            self.resolve(body["resolve"])
        return out

    def handle(
        self, method: str, target: str, headers: dict[str, str], payload: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """One request: (status, extra headers, body)."""
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        log: dict[str, Any] = {
            "method": method,
            "path": parts.path,
            "query": query,
            "accept": headers.get("accept"),
        }
        status, extra, body = self._handle(method, parts.path, query, headers, payload)
        log["status"] = status
        with self._lock:
            self.requests.append(log)
        return status, extra, body

    def _handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        payload: bytes,
    ) -> tuple[int, dict[str, str], bytes]:
        if path == "/_control" and method == "POST":
            try:
                body = json.loads(payload or b"{}")
                with self._lock:
                    return 200, {}, _json(self._control(body))
            except (ValueError, KeyError, TypeError) as exc:
                return 400, {}, _json({"error": {"message": str(exc), "code": 2001}})
        with self._lock:
            if self._take("rate_limit_next"):
                extra = {
                    "ratelimit-limit": "960",
                    "ratelimit-remaining": "0",
                    "ratelimit-reset": "1",
                }
                if self.retry_after is not None:
                    extra["Retry-After"] = str(self.retry_after)
                status, body = _error(429, 2020, "Rate Limit Exceeded", [])
                return status, extra, body
            if self.reject_all or headers.get("authorization") != f"Token token={self.token}":
                status, body = _error(401, 2006, "Unauthorized", [])
                return status, {}, body
            if path in self.forbidden_paths:
                status, body = _error(
                    403,
                    2010,
                    "Access Denied",
                    ["The API key does not have access to this resource"],
                )
                return status, {}, body
            if self.fail_path == path and self._take("fail_times"):
                status, body = _error(self.fail_status, 2000, "Internal Server Error", [])
                return status, {}, body
            if method != "GET":
                status, body = _error(405, 2000, "Method Not Allowed", [])
                return status, {"Allow": "GET"}, body
            status, body = self._answer(path, query)
            if status == 200 and self._take("truncate_next"):
                body = body[: len(body) // 2]
            return status, {}, body

    def prerender(self) -> None:
        """Nothing to do: pages are rendered per request (kept for symmetry)."""


def _now() -> float:
    return float(int(dt.datetime.now(dt.UTC).timestamp()))


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _error(status: int, code: int, message: str, errors: list[str]) -> tuple[int, bytes]:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors:
        body["errors"] = errors
    return status, _json({"error": body})


class _Handler(SimHandler):
    """Keep-alive HTTP/1.1 handler delegating to its simulator."""

    simulator: PagerDutySimulator
    server_version = "PagerDutySim/1.0"

    def _handle(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, extra, body = self.simulator.handle(self.command, self.path, headers, self._body())
        self._reply(status, body, extra)

    do_GET = _handle
    do_POST = _handle
    do_PUT = _handle
    do_DELETE = _handle


PagerDutySimulator.handler = _Handler


def main(argv: list[str] | None = None) -> None:
    """Serve a generated tenant until killed; print ``{"url", "token"}`` as one JSON line."""
    parser = argparse.ArgumentParser(description="Simulated PagerDuty REST API")
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--incidents", type=int, default=5)
    parser.add_argument("--token", default="pd-token")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    sim = PagerDutySimulator(args.services, args.incidents, args.token, port=args.port)
    sim.serve_until_killed("token")


if __name__ == "__main__":
    main()

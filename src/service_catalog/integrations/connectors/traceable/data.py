"""What a Traceable Service resource holds, and the events a change in it means.

The connector streams the tenant's endpoints and open vulnerabilities once, folding each
into a compact per-service :class:`ServiceAggregate` (counters, a bounded heap of the
riskiest endpoints, the exposed sensitive endpoints); then, page by page of services,
:func:`integration_data` turns an aggregate into the resource's ``integration_data``.
Memory is bounded by (services x listed endpoints), never by the tenant's endpoint count.

The shape (also the descriptor's ``discovery`` example)::

    {
      "service_id": "svc-auth-123", "service_name": "auth",
      "environments": ["production"],
      "link": "https://app.traceable.ai/service/svc-auth-123/overview",
      "endpoints": {
        "total": 42, "calls": 1234.0, "last_seen": "2026-11-20T10:00:00Z",
        "groups": {
          "risk": {"CRITICAL": 1, "HIGH": 3, "MEDIUM": 20, "LOW": 18},
          "exposure": {"external": 10, "internal": 32},
          "authentication": {"authenticated": 40, "unauthenticated": 2},
          "sensitive_data": {"email": 4, "credit-card-number": 1},
          "discovery_state": {"DISCOVERED": 40, "UNDER_DISCOVERY": 2}
        },
        "exposed_sensitive": [{"id", "method", "path", "sensitive_data_types"}...],
        "listed": 42, "items": [<endpoint>...]
      },
      "vulnerabilities": {"open": 2, "by_severity": {"HIGH": 1, "LOW": 1},
                          "listed": 2, "items": [<vulnerability>...]}
    }

``endpoints.items`` lists at most :data:`ENDPOINTS_LISTED` endpoints, riskiest first
(``listed`` says how many; ``total`` counts them all); the full list pages through
``GET /v1/resources/{id}/endpoints``. A group key that an endpoint lacks (a tenant without
that attribute) is counted under ``"unknown"``.

When it was last synced is deliberately NOT in ``integration_data``: the catalog writes
a resource only when its content hash (name + integration_data) changes, and a timestamp
that moves on every sync would rewrite every resource every time. The resource's own
``last_discovered_at`` (the sync that last changed or rediscovered it), and the
instance's ``GET .../resource-ingestion`` and sync runs (the last sync), say when.
Likewise nothing here depends on the sync's time window except call counts and
last-seen times, which are Traceable's data.
"""

from __future__ import annotations

import datetime as dt
import functools
import heapq
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from service_catalog.integrations.connectors.base import EventRecord

RESOURCE_TYPE = "traceable_service"
ENDPOINTS_LISTED = 50
EXPOSED_LISTED = 500
VULNERABILITIES_LISTED = 200
RISK_ORDER = {"CRITICAL": 4, "HIGH": 3, "MEDIUM": 2, "LOW": 1}
SEVERITY_ORDER = RISK_ORDER
_HTTP_METHODS = frozenset(
    {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT"}
)

EVENT_VULNERABILITY_OPENED = "vulnerability_opened"
EVENT_VULNERABILITY_FIXED = "vulnerability_fixed"
EVENT_SENSITIVE_ENDPOINT = "sensitive_endpoint_exposed"

# One endpoint, compactly (a tuple is a third of a dict's size):
# (heap key, id, name, environment, external, authenticated, discovery state,
#  risk score, risk category, sensitive data types, last called ms, calls).
# The heap key (score, category rank, -arrival) keeps the riskiest; on a tie the endpoint
# that came first (the upstream lists by id) wins, so the choice is deterministic.
Endpoint = tuple[
    tuple[float, int, int], str, str, Any, Any, Any, Any, Any, Any, tuple[str, ...], Any, Any
]


_MINUTES: dict[int, str] = {}
_SECONDS = [f":{sec:02d}Z" for sec in range(60)]
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def iso_ms(ms: Any) -> str | None:
    """An epoch-milliseconds value as an ISO-8601 UTC string to the second, e.g.
    ``2026-11-20T10:00:00Z`` (None when not a number or out of range).

    Called for every endpoint of a sync, so the ``YYYY-MM-DDTHH:MM`` part is cached per
    minute (a tenant's last-seen times cluster in recent minutes)."""
    if ms.__class__ is bool or not isinstance(ms, int | float) or not -1e16 < ms < 1e16:
        return None
    minute, second = divmod(int(ms // 1000), 60)
    prefix = _MINUTES.get(minute)
    if prefix is None:
        day, rest = divmod(minute, 1440)
        try:
            date = dt.date.fromordinal(day + _EPOCH_ORDINAL).isoformat()
        except (OverflowError, ValueError):
            return None
        prefix = f"{date}T{rest // 60:02d}:{rest % 60:02d}"
        if len(_MINUTES) >= 200_000:
            _MINUTES.clear()
        _MINUTES[minute] = prefix
    return prefix + _SECONDS[second]


def split_name(name: str) -> tuple[str | None, str]:
    """``"GET /users/{id}"`` -> ``("GET", "/users/{id}")``; a name without a method
    -> ``(None, name)``."""
    method, sep, path = name.partition(" ")
    if sep and method.upper() in _HTTP_METHODS:
        return method.upper(), path.strip()
    return None, name


def _strings(value: Any) -> tuple[str, ...]:
    if value.__class__ is list:
        if not value:
            return ()
        return tuple(sorted({str(v) for v in value if isinstance(v, str | int) and v != ""}))
    return ()


def _count_strings(value: Any, counter: dict[str, int]) -> tuple[str, ...]:
    """The distinct strings of a list value (:func:`_strings`), each counted once in
    ``counter``."""
    found = _strings(value)
    for t in found:
        counter[t] = counter.get(t, 0) + 1
    return found


@dataclass(slots=True)
class ServiceAggregate:
    """What the connector keeps about one service's endpoints and open vulnerabilities."""

    total: int = 0
    calls: float = 0.0
    has_calls: bool = False
    last_ms: float | None = None
    environments: set[str] = field(default_factory=set)
    risk: dict[str, int] = field(default_factory=dict)
    exposure: dict[str, int] = field(default_factory=dict)
    authentication: dict[str, int] = field(default_factory=dict)
    sensitive: dict[str, int] = field(default_factory=dict)
    discovery: dict[str, int] = field(default_factory=dict)
    top: list[Endpoint] = field(default_factory=list)
    exposed: list[dict[str, Any]] = field(default_factory=list)
    exposed_total: int = 0
    vulns: list[tuple[tuple[int, str], dict[str, Any]]] = field(default_factory=list)
    vuln_total: int = 0
    by_severity: dict[str, int] = field(default_factory=dict)

    def add_endpoint(self, e: dict[str, Any]) -> None:
        """Fold one endpoint (a row of the ``ApiEndpoints`` query) into the aggregate.

        The hot path of a sync (once per endpoint of the tenant): plain dict operations,
        no helper calls for the common, well-typed values.
        """
        self.total = total = self.total + 1
        get = e.get
        env = get("environment")
        if env.__class__ is str and env:
            self.environments.add(env)
        metric = get("numCalls")  # {"sum": {"value": n}}
        calls = metric.get("sum") if metric.__class__ is dict else None
        calls = calls.get("value") if calls.__class__ is dict else None
        if calls.__class__ is int:
            calls = float(calls)
        if calls.__class__ is float:
            self.calls += calls
            self.has_calls = True
        else:
            calls = None
        last = get("lastCalledTimestamp")
        if last.__class__ is int or last.__class__ is float:
            if self.last_ms is None or last > self.last_ms:
                self.last_ms = last
        else:
            last = None
        category = get("riskScoreCategory")  # aliased so (see .graphql)
        category = category.upper() if category.__class__ is str and category else "unknown"
        rank = RISK_ORDER.get(category, 0)
        counter = self.risk
        counter[category] = counter.get(category, 0) + 1
        external = get("isExternal")
        key = ("external" if external else "internal") if external.__class__ is bool else "unknown"
        counter = self.exposure
        counter[key] = counter.get(key, 0) + 1
        authenticated = get("isAuthenticated")
        key = (
            ("authenticated" if authenticated else "unauthenticated")
            if authenticated.__class__ is bool
            else "unknown"
        )
        counter = self.authentication
        counter[key] = counter.get(key, 0) + 1
        raw_types = get("dataTypeIds")
        types = _count_strings(raw_types, self.sensitive) if raw_types else ()
        state = get("apiDiscoveryState")
        key = state if state.__class__ is str and state else "unknown"
        counter = self.discovery
        counter[key] = counter.get(key, 0) + 1
        score = get("riskScore")
        if score.__class__ is int:
            score = float(score)
        elif score.__class__ is not float:
            score = None
        eid = e["id"]
        if eid.__class__ is not str:
            eid = str(eid)
        name = get("name")
        if name.__class__ is not str or not name:
            name = eid
        if types and external is True and authenticated is False:
            self._add_exposed(eid, name, types)
        heap_key = (-1.0 if score is None else score, rank, -total)
        top = self.top
        if len(top) < ENDPOINTS_LISTED or heap_key > top[0][0]:
            # The ENDPOINTS_LISTED riskiest: a min-heap, the least risky kept first.
            keep = heapq.heappush if len(top) < ENDPOINTS_LISTED else heapq.heapreplace
            keep(
                top,
                (
                    heap_key,
                    eid,
                    name,
                    env,
                    external,
                    authenticated,
                    state,
                    score,
                    None if category == "unknown" else category,
                    types,
                    last,
                    calls,
                ),
            )

    def _add_exposed(self, eid: str, name: str, types: tuple[str, ...]) -> None:
        """Count an external, unauthenticated endpoint with sensitive data; list the
        first EXPOSED_LISTED."""
        self.exposed_total += 1
        if len(self.exposed) < EXPOSED_LISTED:
            method, path = split_name(name)
            self.exposed.append(
                {"id": eid, "method": method, "path": path, "sensitive_data_types": list(types)}
            )

    def copy(self) -> ServiceAggregate:
        """An aggregate equal to this one that shares nothing it changes when folding."""
        return ServiceAggregate(
            total=self.total,
            calls=self.calls,
            has_calls=self.has_calls,
            last_ms=self.last_ms,
            environments=set(self.environments),
            risk=dict(self.risk),
            exposure=dict(self.exposure),
            authentication=dict(self.authentication),
            sensitive=dict(self.sensitive),
            discovery=dict(self.discovery),
            top=list(self.top),
            exposed=list(self.exposed),
            exposed_total=self.exposed_total,
            vulns=list(self.vulns),
            vuln_total=self.vuln_total,
            by_severity=dict(self.by_severity),
        )

    def without_endpoints(self) -> ServiceAggregate:
        """A new aggregate with this one's vulnerabilities and no endpoints (a service
        whose endpoints are read again)."""
        return ServiceAggregate(
            vulns=self.vulns, vuln_total=self.vuln_total, by_severity=self.by_severity
        )

    def add_vulnerability(self, v: dict[str, Any]) -> None:
        """Fold one open vulnerability (a row of ``OpenVulnerabilities``, values unwrapped)."""
        self.vuln_total += 1
        severity = v.get("severity")
        severity = severity.upper() if isinstance(severity, str) and severity else "unknown"
        self.by_severity[severity] = self.by_severity.get(severity, 0) + 1
        item: dict[str, Any] = {
            "id": str(v.get("id")),
            "title": v.get("title"),
            "category": v.get("category"),
            "severity": None if severity == "unknown" else severity,
            "status": _short_status(v.get("status")),
            "endpoint": v.get("entityName") if v.get("apiId") else None,
            "endpoint_id": v.get("apiId"),
            "opened_at": iso_ms(v.get("created")),
        }
        self.vulns.append(((-SEVERITY_ORDER.get(severity, 0), str(item["id"])), item))
        if len(self.vulns) > VULNERABILITIES_LISTED * 2:
            self.vulns.sort(key=lambda kv: kv[0])
            del self.vulns[VULNERABILITIES_LISTED:]


def _short_status(status: Any) -> str | None:
    if not isinstance(status, str):
        return None
    return status.removeprefix("VULNERABILITY_STATUS_")


@functools.lru_cache(maxsize=64)
def app_url(base_url: str) -> str:
    """Traceable's web app for an API base URL, from the same origin: the API host
    ``api.<region>.traceable.ai`` becomes the app host ``app.<region>.traceable.ai``
    (``https://api.eu.traceable.ai`` -> ``https://app.eu.traceable.ai``; any ``api.`` host
    likewise); any other host (a simulator) keeps its origin (scheme, host, port; no
    path). Cached: every service's link is built from it."""
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError):
        return base_url.rstrip("/")
    host = url.host
    if host.startswith("api."):
        host = "app." + host[4:]
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{host}{port}"


def service_link(base_url: str, service_id: str) -> str:
    """The service's page in Traceable's web app. Traceable publishes no deep-link format:
    ``<app origin>/service/<id>/overview`` is the best-known form (what its web app
    shows for a service)."""
    return f"{app_url(base_url)}/service/{quote(service_id, safe='')}/overview"


def endpoint_item(item: Endpoint) -> dict[str, Any]:
    """One listed endpoint as the resource shows it (flat: it is built 200,000 times in a
    sync of a large tenant)."""
    (_key, eid, name, env, external, authenticated, state, score, category, types, last, calls) = (
        item
    )
    method: str | None
    method, sep, path = name.partition(" ")
    if not sep or method not in _HTTP_METHODS:
        method, path = split_name(name)
    if last is not None:
        last = iso_ms(last)
    return {
        "id": eid,
        "method": method,
        "path": path,
        "environment": env if env.__class__ is str else None,
        "risk": category,
        "risk_score": score,
        "external": external if external.__class__ is bool else None,
        "authenticated": authenticated if authenticated.__class__ is bool else None,
        "sensitive_data_types": list(types),
        "discovery_state": state if state.__class__ is str else None,
        "last_seen": last,
        "calls": calls,
    }


def endpoint_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """One ``ApiEndpoints`` row as the endpoints sub-list shows it."""
    agg = ServiceAggregate()
    agg.add_endpoint(row)
    return endpoint_item(agg.top[0])


def integration_data(
    *, service_id: str, name: str | None, agg: ServiceAggregate | None, base_url: str
) -> dict[str, Any]:
    """The ``integration_data`` of one Traceable Service (shape in the module doc)."""
    agg = agg or ServiceAggregate()
    # Heap keys are unique (they end with the arrival rank), so this compares keys only:
    # riskiest first, and on equal risk the endpoint listed first upstream (by id).
    top = sorted(agg.top, reverse=True)
    vulns = sorted(agg.vulns, key=lambda kv: kv[0])[:VULNERABILITIES_LISTED]
    return {
        "service_id": service_id,
        "service_name": name,
        "environments": sorted(agg.environments),
        "link": service_link(base_url, service_id),
        "endpoints": {
            "total": agg.total,
            "calls": agg.calls if agg.has_calls else None,
            "last_seen": iso_ms(agg.last_ms),
            "groups": {
                "risk": _ordered(agg.risk, RISK_ORDER),
                "exposure": dict(sorted(agg.exposure.items())),
                "authentication": dict(sorted(agg.authentication.items())),
                "sensitive_data": dict(sorted(agg.sensitive.items())),
                "discovery_state": dict(sorted(agg.discovery.items())),
            },
            "exposed_sensitive": agg.exposed,
            "exposed_sensitive_total": agg.exposed_total,
            "listed": len(top),
            "items": [endpoint_item(it) for it in top],
        },
        "vulnerabilities": {
            "open": agg.vuln_total,
            "by_severity": _ordered(agg.by_severity, SEVERITY_ORDER),
            "listed": len(vulns),
            "items": [item for _, item in vulns],
        },
    }


def _ordered(counter: dict[str, int], order: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda kv: (-order.get(kv[0], 0), kv[0])))


# --- events -------------------------------------------------------------------------


def diff_events(
    before: dict[str, Any] | None, after: dict[str, Any] | None, *, now: dt.datetime | None = None
) -> list[EventRecord]:
    """The integration events of a Traceable Service changing from ``before`` to ``after``.

    None for ``before`` (a new resource, or one initialized but not yet hydrated) is the
    baseline: the first sync reports what exists, it raises no events. Then:

    * ``vulnerability_opened`` for an open vulnerability not open before;
    * ``vulnerability_fixed`` for one open before and no longer open (fixed or otherwise
      closed in Traceable);
    * ``sensitive_endpoint_exposed`` for an endpoint newly external, unauthenticated and
      carrying sensitive data.

    Deduplication ids are stable for the same happening, so a sync that re-derives an
    event stores nothing new. When a list was capped (``listed`` < total) only changes
    among the listed entries are reported.
    """
    if not before or not after:
        return []
    now = now or dt.datetime.now(dt.UTC)
    sid = str(after.get("service_id"))
    name = after.get("service_name") or sid
    link = after.get("link")
    link_html = f'<a href="{link}">View {name} in Traceable</a>' if link else None
    events: list[EventRecord] = []

    old_v = _vuln_items(before)
    new_v = _vuln_items(after)
    old_capped = _capped(before.get("vulnerabilities"))
    new_capped = _capped(after.get("vulnerabilities"))
    for vid, v in new_v.items():
        if vid in old_v or old_capped:
            continue
        reopened = v.get("status") == "REOPENED"
        stamp = f"reopened:{now:%Y-%m-%d}" if reopened else f"opened:{v.get('opened_at')}"
        where = f" on {v['endpoint']}" if v.get("endpoint") else ""
        events.append(
            EventRecord(
                type=EVENT_VULNERABILITY_OPENED,
                deduplication_id=f"traceable:{sid}:vulnerability:{vid}:{stamp}",
                detail=f"{_vuln_label(v, vid)} {'reopened' if reopened else 'opened'}{where} "
                f"(Traceable service {name})",
                attributes=_vuln_attrs(sid, v),
                ts=(_parse_iso(v.get("opened_at")) or now) if not reopened else now,
                link_html=link_html,
            )
        )
    for vid, v in old_v.items():
        if vid in new_v or new_capped:
            continue
        where = f" on {v['endpoint']}" if v.get("endpoint") else ""
        events.append(
            EventRecord(
                type=EVENT_VULNERABILITY_FIXED,
                deduplication_id=f"traceable:{sid}:vulnerability:{vid}:closed:{now:%Y-%m-%d}",
                detail=f"{_vuln_label(v, vid)}{where} is no longer open (Traceable service {name})",
                attributes=_vuln_attrs(sid, v),
                ts=now,
                link_html=link_html,
            )
        )

    old_e = {
        e.get("id")
        for e in ((before.get("endpoints") or {}).get("exposed_sensitive") or [])
        if isinstance(e, dict)
    }
    old_e_capped = len(old_e) >= EXPOSED_LISTED
    for e in (after.get("endpoints") or {}).get("exposed_sensitive") or []:
        if not isinstance(e, dict) or e.get("id") in old_e or old_e_capped:
            continue
        label = f"{e.get('method') or ''} {e.get('path')}".strip()
        types = ", ".join(e.get("sensitive_data_types") or [])
        events.append(
            EventRecord(
                type=EVENT_SENSITIVE_ENDPOINT,
                deduplication_id=f"traceable:{sid}:endpoint:{e.get('id')}:exposed",
                detail=(
                    f"New external endpoint {label} accepts unauthenticated requests and "
                    f"carries sensitive data ({types}) (Traceable service {name})"
                ),
                attributes={
                    "service_id": sid,
                    "endpoint_id": e.get("id"),
                    "method": e.get("method"),
                    "path": e.get("path"),
                    "sensitive_data_types": e.get("sensitive_data_types") or [],
                },
                ts=now,
                link_html=link_html,
            )
        )
    return events


def _vuln_items(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    items = (data.get("vulnerabilities") or {}).get("items") or []
    return {str(v["id"]): v for v in items if isinstance(v, dict) and v.get("id")}


def _capped(section: Any) -> bool:
    if not isinstance(section, dict):
        return False
    return bool((section.get("listed") or 0) < (section.get("open") or 0))


def _vuln_label(v: dict[str, Any], vid: str) -> str:
    """A vulnerability in an event's detail: its severity and title (``High vulnerability
    'SQL injection'``)."""
    return f"{v.get('severity') or 'Unknown-severity'} vulnerability '{v.get('title') or vid}'"


def _vuln_attrs(sid: str, v: dict[str, Any]) -> dict[str, Any]:
    return {
        "service_id": sid,
        "vulnerability_id": v.get("id"),
        "severity": v.get("severity"),
        "category": v.get("category"),
        "status": v.get("status"),
        "endpoint": v.get("endpoint"),
    }


def _parse_iso(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None

"""A generated Traceable tenant: services, API endpoints and vulnerabilities as plain dicts.

The data behind :mod:`service_catalog.testing.traceable_sim`. Generation is
deterministic (same arguments, same tenant), so a re-sync of an unchanged tenant sees
exactly the same data. Tests change the tenant through the methods below; each bumps
``version``, which invalidates the simulator's cached result lists.

An entity (service or endpoint) is a dict of Traceable attribute values keyed by
attribute name (``id``, ``name``, ``serviceId``, ``isExternal``...) plus two private
keys: ``_last`` (epoch ms of the last traffic; entities whose ``_last`` is before a
query's ``between.startTime`` are inactive) and ``_metrics`` (``{"numCalls": n, ...}``).
A vulnerability is a dict keyed by ``VulnerabilityV3Field`` names (``VULNERABILITY_ID``,
``SEVERITY``, ``STATUS``, ``SERVICE_ID``...).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable
from typing import Any

__all__ = ["API_ATTRIBUTE_TYPES", "RISK_NAMINGS", "SERVICE_ATTRIBUTE_TYPES", "Tenant"]

DAY_MS = 86_400_000

# Attribute name -> AttributeMetadata.type, per scope (what `metadata` reports).
SERVICE_ATTRIBUTE_TYPES: dict[str, str] = {
    "id": "STRING",
    "name": "STRING",
    "environment": "STRING",
}
API_ATTRIBUTE_TYPES: dict[str, str] = {
    "id": "STRING",
    "name": "STRING",
    "serviceId": "STRING",
    "serviceName": "STRING",
    "environment": "STRING",
    "isExternal": "BOOLEAN",
    "isAuthenticated": "BOOLEAN",
    "isLearnt": "BOOLEAN",
    "apiDiscoveryState": "STRING",
    "discoverySources": "STRING_ARRAY",
    "riskScore": "DOUBLE",
    "riskScoreCategory": "STRING",
    "apiRiskScore": "DOUBLE",
    "apiRiskScoreCategory": "STRING",
    "dataTypeIds": "STRING_ARRAY",
    "piiTypes": "STRING_ARRAY",
    "lastCalledTimestamp": "TIMESTAMP",
}
API_METRIC_NAMES: tuple[str, ...] = ("numCalls", "errorCount")
# How a tenant names an endpoint's risk: today's tenants riskScore / riskScoreCategory,
# older ones apiRiskScore / apiRiskScoreCategory; a tenant in transition has both.
RISK_NAMINGS: dict[str, tuple[str, ...]] = {
    "current": ("apiRiskScore", "apiRiskScoreCategory"),  # the names such a tenant lacks
    "legacy": ("riskScore", "riskScoreCategory"),
    "both": (),
}
# Discovery states of generated endpoints: most DISCOVERED, every 7th UNDER_DISCOVERY, every
# 11th REJECTED (a state Traceable's own inventory does not show).
OTHER_DISCOVERY_STATE = "REJECTED"
VULN_FIELD_TYPES: dict[str, str] = {
    "VULNERABILITY_ID": "STRING",
    "VULNERABILITY_CATEGORY": "STRING",
    "VULNERABILITY_TITLE": "STRING",
    "DISPLAY_NAME": "STRING",
    "OWASP_API_TOP10": "STRING",
    "SEVERITY": "STRING",
    "STATUS": "STRING",
    "CVSS_SCORE": "DOUBLE",
    "ENTITY_ID": "STRING",
    "ENTITY_NAME": "STRING",
    "SERVICE_ID": "STRING",
    "API_ID": "STRING",
    "ENVIRONMENT_ID": "STRING",
    "DESCRIPTION": "STRING",
    "MITIGATION": "STRING",
    "CREATED_TIMESTAMP_MILLIS": "LONG",
    "CLOSED_TIMESTAMP_MILLIS": "LONG",
    "LAST_SEEN_TIMESTAMP_MILLIS": "LONG",
}

_WORDS = (
    "auth",
    "billing",
    "cart",
    "catalog",
    "checkout",
    "inventory",
    "ledger",
    "orders",
    "payments",
    "profile",
    "search",
    "shipping",
    "users",
    "notifications",
    "reports",
)
_RESOURCES = (
    "users",
    "orders",
    "accounts",
    "items",
    "payments",
    "sessions",
    "tokens",
    "invoices",
    "carts",
    "reports",
    "files",
    "events",
)
_METHODS = ("GET", "GET", "GET", "POST", "PUT", "PATCH", "DELETE")
_DATA_TYPES = ("email", "credit-card-number", "ssn", "phone-number", "password", "iban")
_VULNS = (
    ("BOLA", "Broken Object Level Authorization", "API1:2023"),
    ("SENSITIVE_DATA_EXPOSURE", "Sensitive data in response", "API3:2023"),
    ("MISSING_RATE_LIMIT", "No rate limiting", "API4:2023"),
    ("UNAUTHENTICATED_ACCESS", "Unauthenticated access to sensitive API", "API2:2023"),
)
_SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
# Shared (never mutated) list values keep a 200,000-endpoint tenant small.
_SOURCES: list[str] = ["TRAFFIC"]
_EMPTY: list[str] = []


def risk_category(score: float) -> str:
    """Traceable's risk category of a 0-10 risk score."""
    if score >= 8.5:
        return "CRITICAL"
    if score >= 6.5:
        return "HIGH"
    if score >= 4:
        return "MEDIUM"
    return "LOW"


class Tenant:
    """A Traceable tenant: ``services`` (id -> dict), ``endpoints`` (id -> dict, grouped by
    service in insertion order) and ``vulnerabilities`` (id -> dict).

    ``Tenant(services=N, endpoints_per_service=M)`` generates N services named like
    ``payments-0003`` with ids ``svc-00003``, each with M endpoints ``api-00003-007``.
    Every ``inactive_every``-th service (and its endpoints) last saw traffic
    40 days ago (inactive for a 7-day window); every ``vulnerable_every``-th service has
    1-3 vulnerabilities (most open, some fixed). ``missing_attributes`` names API-scope
    attributes this tenant lacks (``metadata`` omits them; querying them is an error).
    ``risk_naming`` says which names of an endpoint's risk the tenant has (see
    :data:`RISK_NAMINGS`; entities hold both, ``metadata`` lists the tenant's). Endpoint
    ``k`` of a service is ``UNDER_DISCOVERY`` when k % 7 == 0 and ``REJECTED`` when
    k % 11 == 0, else ``DISCOVERED``.
    """

    def __init__(
        self,
        services: int = 10,
        endpoints_per_service: int = 5,
        *,
        inactive_every: int = 5,
        vulnerable_every: int = 3,
        seed: int = 7,
        missing_attributes: Iterable[str] = (),
        now_ms: int | None = None,
        risk_naming: str = "current",
    ) -> None:
        self.lock = threading.RLock()
        self.version = 0
        self.now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        self.services: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.vulnerabilities: dict[str, dict[str, Any]] = {}
        self.missing_attributes: set[str] = set(missing_attributes) | set(RISK_NAMINGS[risk_naming])
        self._vuln_seq = 0
        rng = random.Random(seed)
        for i in range(1, services + 1):
            inactive = inactive_every > 0 and i % inactive_every == 0
            apis = self._generate_service(i, endpoints_per_service, inactive, rng)
            if vulnerable_every > 0 and i % vulnerable_every == 0:
                for n in range(1 + i % 3):
                    self._generate_vulnerability(
                        f"svc-{i:05d}", rng, api_id=apis[n % len(apis)] if apis else ""
                    )

    # --- generation ------------------------------------------------------------------

    def _generate_service(
        self, i: int, n_endpoints: int, inactive: bool, rng: random.Random
    ) -> list[str]:
        sid = f"svc-{i:05d}"
        last = self.now_ms - (40 * DAY_MS if inactive else rng.randint(60_000, DAY_MS))
        env = "production" if i % 4 else "staging"
        self.services[sid] = {
            "id": sid,
            "name": f"{_WORDS[i % len(_WORDS)]}-{i:04d}",
            "environment": env,
            "_last": last,
            "_metrics": {},
        }
        name = self.services[sid]["name"]
        rand = rng.random
        n_types = len(_DATA_TYPES)
        for k in range(1, n_endpoints + 1):
            score = round(0.5 + 9.4 * rand(), 1)
            category = risk_category(score)
            method = _METHODS[(i + k) % len(_METHODS)]
            path = f"/v{1 + k % 2}/{_RESOURCES[k % len(_RESOURCES)]}"
            if k % 3:
                path += "/{id}"
            if k > len(_RESOURCES):
                path += f"/sub{k}"
            if rand() < 0.3:
                a = int(rand() * n_types)
                b = int(rand() * n_types)
                types = sorted({_DATA_TYPES[a], _DATA_TYPES[b]})
            else:
                types = []
            self._put_endpoint(
                {
                    "id": f"api-{i:05d}-{k:03d}",
                    "name": f"{method} {path}",
                    "serviceId": sid,
                    "serviceName": name,
                    "environment": env,
                    "isExternal": k % 3 == 1,
                    "isAuthenticated": k % 4 != 1,
                    "isLearnt": True,
                    "apiDiscoveryState": (
                        OTHER_DISCOVERY_STATE
                        if k % 11 == 0
                        else "UNDER_DISCOVERY"
                        if k % 7 == 0
                        else "DISCOVERED"
                    ),
                    "discoverySources": _SOURCES,
                    "riskScore": score,
                    "riskScoreCategory": category,
                    "apiRiskScore": score,
                    "apiRiskScoreCategory": category,
                    "dataTypeIds": types,
                    "piiTypes": _EMPTY,
                    "lastCalledTimestamp": last - int(rand() * 3_600_000),
                    "_last": last,
                    "_metrics": {
                        "numCalls": float(int(rand() * 50_000)),
                        "errorCount": float(int(rand() * 50)),
                    },
                }
            )
        return [f"api-{i:05d}-{k:03d}" for k in range(1, min(n_endpoints, 3) + 1)]

    def _put_endpoint(self, endpoint: dict[str, Any]) -> None:
        self.endpoints[endpoint["id"]] = endpoint

    def _generate_vulnerability(
        self,
        sid: str,
        rng: random.Random,
        status: str | None = None,
        severity: str | None = None,
        api_id: str | None = None,
    ) -> str:
        self._vuln_seq += 1
        vid = f"vuln-{self._vuln_seq:06d}"
        cat, title, owasp = _VULNS[self._vuln_seq % len(_VULNS)]
        if api_id is None:  # "" means: on the service itself
            apis = [e for e in self.endpoints.values() if e["serviceId"] == sid][:3]
            api_id = apis[self._vuln_seq % len(apis)]["id"] if apis else ""
        api = self.endpoints.get(api_id) if api_id else None
        if status is None:
            status = (
                "VULNERABILITY_STATUS_FIXED"
                if self._vuln_seq % 4 == 0
                else "VULNERABILITY_STATUS_REOPENED"
                if self._vuln_seq % 7 == 0
                else "VULNERABILITY_STATUS_OPEN"
            )
        created = self.now_ms - rng.randint(1, 30) * DAY_MS
        self.vulnerabilities[vid] = {
            "VULNERABILITY_ID": vid,
            "VULNERABILITY_CATEGORY": cat,
            "VULNERABILITY_TITLE": title,
            "DISPLAY_NAME": title,
            "OWASP_API_TOP10": owasp,
            "SEVERITY": severity or _SEVERITIES[self._vuln_seq % len(_SEVERITIES)],
            "STATUS": status,
            "CVSS_SCORE": 5.0,
            "ENTITY_ID": api_id or sid,
            "ENTITY_NAME": api["name"] if api else self.services[sid]["name"],
            "SERVICE_ID": sid,
            "API_ID": api_id or None,
            "ENVIRONMENT_ID": self.services[sid]["environment"],
            "DESCRIPTION": f"{title} found by Traceable",
            "MITIGATION": "See Traceable for remediation steps.",
            "CREATED_TIMESTAMP_MILLIS": created,
            "CLOSED_TIMESTAMP_MILLIS": created + DAY_MS if status.endswith("FIXED") else None,
            "LAST_SEEN_TIMESTAMP_MILLIS": self.now_ms - 3_600_000,
        }
        return vid

    def _changed(self) -> None:
        self.version += 1

    # --- changes tests make -----------------------------------------------------------

    def add_service(
        self,
        service_id: str,
        name: str,
        *,
        endpoints: int = 2,
        inactive: bool = False,
        environment: str = "production",
    ) -> None:
        """Add a service with ``endpoints`` generated endpoints."""
        with self.lock:
            last = self.now_ms - (40 * DAY_MS if inactive else 60_000)
            self.services[service_id] = {
                "id": service_id,
                "name": name,
                "environment": environment,
                "_last": last,
                "_metrics": {},
            }
            for k in range(1, endpoints + 1):
                self.add_endpoint(
                    service_id,
                    f"GET /{name}/items/{k}",
                    external=False,
                    authenticated=True,
                    data_types=(),
                    risk_score=2.0,
                    endpoint_id=f"api-{service_id}-{k:03d}",
                )
            self._changed()

    def rename_service(self, service_id: str, name: str) -> None:
        """Give a service a new name (its id stays)."""
        with self.lock:
            self.services[service_id]["name"] = name
            for e in self.endpoints.values():
                if e["serviceId"] == service_id:
                    e["serviceName"] = name
            self._changed()

    def remove_service(self, service_id: str) -> None:
        """Delete a service and its endpoints and vulnerabilities."""
        with self.lock:
            del self.services[service_id]
            for eid in [k for k, e in self.endpoints.items() if e["serviceId"] == service_id]:
                del self.endpoints[eid]
            for vid in [
                k for k, v in self.vulnerabilities.items() if v["SERVICE_ID"] == service_id
            ]:
                del self.vulnerabilities[vid]
            self._changed()

    def set_inactive(self, service_id: str, inactive: bool = True) -> None:
        """Make a service (and its endpoints) see no traffic for 40 days, or traffic now."""
        with self.lock:
            last = self.now_ms - (40 * DAY_MS if inactive else 60_000)
            self.services[service_id]["_last"] = last
            for e in self.endpoints.values():
                if e["serviceId"] == service_id:
                    e["_last"] = last
                    e["lastCalledTimestamp"] = last
            self._changed()

    def add_endpoint(
        self,
        service_id: str,
        name: str,
        *,
        external: bool = True,
        authenticated: bool = False,
        data_types: Iterable[str] = ("email",),
        risk_score: float = 7.5,
        discovery_state: str = "DISCOVERED",
        calls: float = 10.0,
        endpoint_id: str | None = None,
    ) -> str:
        """Add an endpoint (by default external, unauthenticated, carrying an e-mail
        address: the kind that raises an event); returns its id."""
        with self.lock:
            svc = self.services[service_id]
            eid = endpoint_id or f"api-{service_id}-new-{len(self.endpoints) + 1}"
            self._put_endpoint(
                {
                    "id": eid,
                    "name": name,
                    "serviceId": service_id,
                    "serviceName": svc["name"],
                    "environment": svc["environment"],
                    "isExternal": external,
                    "isAuthenticated": authenticated,
                    "isLearnt": True,
                    "apiDiscoveryState": discovery_state,
                    "discoverySources": ["TRAFFIC"],
                    "riskScore": risk_score,
                    "riskScoreCategory": risk_category(risk_score),
                    "apiRiskScore": risk_score,
                    "apiRiskScoreCategory": risk_category(risk_score),
                    "dataTypeIds": sorted(data_types),
                    "piiTypes": [],
                    "lastCalledTimestamp": svc["_last"],
                    "_last": svc["_last"],
                    "_metrics": {"numCalls": calls, "errorCount": 0.0},
                }
            )
            self._changed()
            return eid

    def open_vulnerability(
        self, service_id: str, *, severity: str = "HIGH", api_id: str | None = None
    ) -> str:
        """Open a new vulnerability on a service; returns its id."""
        with self.lock:
            vid = self._generate_vulnerability(
                service_id,
                random.Random(self._vuln_seq),
                status="VULNERABILITY_STATUS_OPEN",
                severity=severity,
                api_id=api_id,
            )
            self._changed()
            return vid

    def set_vulnerability_status(self, vuln_id: str, status: str) -> None:
        """Change a vulnerability's status, e.g. ``VULNERABILITY_STATUS_FIXED``."""
        with self.lock:
            v = self.vulnerabilities[vuln_id]
            v["STATUS"] = status
            v["CLOSED_TIMESTAMP_MILLIS"] = (
                self.now_ms if status.endswith(("FIXED", "RISK")) else None
            )
            self._changed()

    def fix_vulnerability(self, vuln_id: str) -> None:
        """Mark a vulnerability fixed."""
        self.set_vulnerability_status(vuln_id, "VULNERABILITY_STATUS_FIXED")

    def drop_attribute(self, name: str) -> None:
        """Make the tenant lack an API-scope attribute (as some tenants do)."""
        with self.lock:
            self.missing_attributes.add(name)
            self._changed()

    # --- reads the simulator makes -------------------------------------------------------

    def open_vulnerabilities_of(self, service_id: str) -> list[str]:
        """Ids of the open or reopened vulnerabilities of a service."""
        return [
            vid
            for vid, v in self.vulnerabilities.items()
            if v["SERVICE_ID"] == service_id
            and v["STATUS"] in ("VULNERABILITY_STATUS_OPEN", "VULNERABILITY_STATUS_REOPENED")
        ]

    def attribute_types(self, scope: str) -> dict[str, str]:
        """The attributes this tenant has in ``scope`` (name -> type)."""
        if scope == "SERVICE":
            return dict(SERVICE_ATTRIBUTE_TYPES)
        if scope == "API":
            return {
                k: v for k, v in API_ATTRIBUTE_TYPES.items() if k not in self.missing_attributes
            }
        return {}

    def metric_names(self, scope: str) -> tuple[str, ...]:
        """The metrics this tenant has in ``scope``."""
        if scope == "API":
            return tuple(m for m in API_METRIC_NAMES if m not in self.missing_attributes)
        return ()

    def entities_of(self, scope: str) -> list[dict[str, Any]]:
        """Every entity of a scope, in insertion order."""
        if scope == "SERVICE":
            return list(self.services.values())
        if scope == "API":
            return list(self.endpoints.values())
        return []

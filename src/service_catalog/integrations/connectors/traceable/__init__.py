"""``traceable``: Traceable services, with their API endpoints and open vulnerabilities.

The package holds everything Traceable: the GraphQL documents it sends and the subset
schema they obey (:mod:`.graphql`, ``traceable-subset.graphql``), the connector
(:mod:`.connector`), what a Traceable Service resource holds and the events a change in
it means (:mod:`.data`), its config (:mod:`.config`), and the routes it contributes
(:mod:`.routes`: the seed's ``POST /v2/catalog/entities`` and ``/v2/catalog/entity-mappings``,
and ``GET /v1/resources/{id}/endpoints``, an alias of the generic children route). It is
registered in ``pyproject.toml`` as the ``traceable`` entry point of
``service_catalog.connectors``.
"""

from __future__ import annotations

from service_catalog.integrations.connectors.base import (
    Integration,
    simple_resource_type,
    single_header_auth,
)
from service_catalog.integrations.connectors.traceable.config import TraceableConfig
from service_catalog.integrations.connectors.traceable.connector import TraceableConnector
from service_catalog.integrations.connectors.traceable.data import (
    EVENT_SENSITIVE_ENDPOINT,
    EVENT_VULNERABILITY_FIXED,
    EVENT_VULNERABILITY_OPENED,
    RESOURCE_TYPE,
)

_EXAMPLE = {
    "service_id": "svc-auth-123",
    "service_name": "traceable-auth-service",
    "environments": ["production"],
    "link": "https://app.traceable.ai/service/svc-auth-123/overview",
    "endpoints": {
        "total": 3,
        "calls": 15230.0,
        "last_seen": "2026-11-20T10:00:00Z",
        "groups": {
            "risk": {"HIGH": 1, "MEDIUM": 1, "LOW": 1},
            "exposure": {"external": 2, "internal": 1},
            "authentication": {"authenticated": 2, "unauthenticated": 1},
            "sensitive_data": {"email": 1, "password": 1},
            "discovery_state": {"DISCOVERED": 3},
        },
        "exposed_sensitive": [
            {
                "id": "api-7",
                "method": "POST",
                "path": "/v1/login",
                "sensitive_data_types": ["email", "password"],
            }
        ],
        "exposed_sensitive_total": 1,
        "listed": 3,
        "items": [
            {
                "id": "api-7",
                "method": "POST",
                "path": "/v1/login",
                "environment": "production",
                "risk": "HIGH",
                "risk_score": 7.4,
                "external": True,
                "authenticated": False,
                "sensitive_data_types": ["email", "password"],
                "discovery_state": "DISCOVERED",
                "last_seen": "2026-11-20T10:00:00Z",
                "calls": 12000.0,
            },
            {
                "id": "api-8",
                "method": "GET",
                "path": "/v1/users/{id}",
                "environment": "production",
                "risk": "MEDIUM",
                "risk_score": 5.1,
                "external": True,
                "authenticated": True,
                "sensitive_data_types": [],
                "discovery_state": "DISCOVERED",
                "last_seen": "2026-11-20T09:58:00Z",
                "calls": 3200.0,
            },
            {
                "id": "api-9",
                "method": "GET",
                "path": "/internal/health",
                "environment": "production",
                "risk": "LOW",
                "risk_score": 1.0,
                "external": False,
                "authenticated": True,
                "sensitive_data_types": [],
                "discovery_state": "DISCOVERED",
                "last_seen": "2026-11-20T09:59:00Z",
                "calls": 30.0,
            },
        ],
    },
    "vulnerabilities": {
        "open": 1,
        "by_severity": {"HIGH": 1},
        "listed": 1,
        "items": [
            {
                "id": "vuln-1",
                "title": "Unauthenticated access to sensitive API",
                "category": "UNAUTHENTICATED_ACCESS",
                "severity": "HIGH",
                "status": "OPEN",
                "endpoint": "POST /v1/login",
                "endpoint_id": "api-7",
                "opened_at": "2026-11-18T08:00:00Z",
            }
        ],
    },
}

_AUTHORIZATION = single_header_auth(
    "Traceable platform API token",
    "A Traceable platform API token (Traceable: My Preferences > API Tokens). Sent as is in "
    "the Authorization header.",
)

INTEGRATION = Integration(
    name="traceable",
    display_name="Traceable",
    description="Connect Traceable services to your catalog services: each Traceable "
    "Service brings its API endpoints grouped by risk, exposure, "
    "authentication, sensitive data and discovery state, and its open "
    "vulnerabilities.",
    connector=TraceableConnector,
    config=TraceableConfig,
    authorization=_AUTHORIZATION,
    resource_types={RESOURCE_TYPE: simple_resource_type("Traceable Service", "service_id")},
    discovery={"resource_integration_data_examples": {RESOURCE_TYPE: _EXAMPLE}},
    # What a console filters Traceable services on: name, size, risk, open
    # vulnerabilities (environments is an array: its items are not reachable by a path).
    indexed_data=(
        "service_name",
        "endpoints.total",
        "endpoints.exposed_sensitive_total",
        "endpoints.groups.risk.CRITICAL",
        "vulnerabilities.open",
        "vulnerabilities.by_severity.CRITICAL",
    ),
    events={
        RESOURCE_TYPE: {
            EVENT_VULNERABILITY_OPENED: {
                "display_name": "Vulnerability opened",
                "description": "Traceable found (or reopened) a vulnerability on the service.",
                "events_feed": {"enabled": True},
            },
            EVENT_VULNERABILITY_FIXED: {
                "display_name": "Vulnerability fixed",
                "description": "A vulnerability of the service is no longer open in Traceable.",
                "events_feed": {"enabled": True},
            },
            EVENT_SENSITIVE_ENDPOINT: {
                "display_name": "Sensitive endpoint exposed",
                "description": "A new external endpoint accepts unauthenticated requests "
                "and carries sensitive data.",
                "events_feed": {"enabled": True},
            },
        },
    },
    routes="service_catalog.integrations.connectors.traceable.routes:router",
)

__all__ = ["INTEGRATION", "RESOURCE_TYPE", "TraceableConnector"]

"""``gateway-manager``: a Kong Gateway's services, with their routes and plugins.

Kong's own catalog integration of the same name maps Gateway Services of Konnect's
Gateway Manager; this one reads them from a self-hosted Kong Gateway's Admin API (every
workspace, or one) or from a Konnect control plane (:mod:`.config`), as ``gateway_svc``
resources identified like Konnect's (``control_plane_id`` + ``gateway_service_id``), and
derives ``plugin.added`` / ``plugin.updated`` / ``plugin.removed`` events from what
changed between syncs (:mod:`.connector`). Registered in ``pyproject.toml`` as the
``gateway-manager`` entry point of ``service_catalog.connectors``.
"""

from __future__ import annotations

from typing import Any

from service_catalog.integrations.connectors.base import Integration
from service_catalog.integrations.connectors.gateway_manager.config import GatewayManagerConfig
from service_catalog.integrations.connectors.gateway_manager.connector import (
    EVENT_PLUGIN_ADDED,
    EVENT_PLUGIN_REMOVED,
    EVENT_PLUGIN_UPDATED,
    RESOURCE_TYPE,
    GatewayManagerConnector,
)

_EXAMPLE: dict[str, Any] = {
    "workspace": {"id": "3f2c6e8e-1a0b-4c5d-9e7f-0a1b2c3d4e5f", "name": "default"},
    "gateway_service": {
        "id": "11111111-1111-1111-1111-111111111111",
        "name": "gateway-service",
        "host": "konghq.com",
        "port": 443,
        "protocol": "https",
        "path": "/example",
        "enabled": True,
        "tags": ["env:development"],
        "type": "service",
    },
    "routes": [
        {
            "id": "22222222-2222-2222-2222-222222222222",
            "name": "example-route",
            "paths": ["/example"],
            "methods": ["GET", "POST"],
            "hosts": None,
            "protocols": ["http", "https"],
        }
    ],
    "plugins": [
        {
            "id": "33333333-3333-3333-3333-333333333333",
            "name": "rate-limiting",
            "enabled": True,
            "scope": "service",
            "revision": "9a1c0e55d2b7f3a4",
        }
    ],
    "route_count": 1,
    "enabled_plugins": ["rate-limiting"],
}

# Either header, or none at all for an Admin API without RBAC (Kong then ignores a
# Kong-Admin-Token header, so any value authorizes an open Admin API).
_AUTHORIZATION = {
    "type": "multi_key_auth",
    "config": {
        "headers": [
            {
                "name": "Kong-Admin-Token",
                "display_name": "Kong Admin Token",
                "description": "Admin API: the RBAC token of a Kong Gateway Enterprise admin "
                "that may read services, routes and plugins (any value for an Admin API "
                "without RBAC).",
                "required": False,
            },
            {
                "name": "Authorization",
                "display_name": "Konnect access token",
                "description": "Konnect: a personal or system access token (kpat_... or "
                "spat_...), sent as 'Authorization: Bearer <token>'.",
                "required": False,
            },
        ]
    },
}

_PLUGIN_EVENT = {"events_feed": {"enabled": True}}

INTEGRATION = Integration(
    name="gateway-manager",
    display_name="API Gateway",
    description="Map Kong Gateway services, from a self-hosted Admin API or a Konnect "
    "control plane, with their routes and the plugins that affect them.",
    connector=GatewayManagerConnector,
    config=GatewayManagerConfig,
    authorization=_AUTHORIZATION,
    resource_types={
        RESOURCE_TYPE: {
            "display_name": "Gateway Service",
            "schema": {
                "type": "simple",
                "definition": {"control_plane_id": "string", "gateway_service_id": "string"},
            },
        }
    },
    discovery={"resource_integration_data_examples": {RESOURCE_TYPE: _EXAMPLE}},
    # What a console filters gateway services on.
    indexed_data=("gateway_service.protocol", "gateway_service.enabled"),
    events={
        RESOURCE_TYPE: {
            EVENT_PLUGIN_ADDED: {
                "display_name": "Plugin Added",
                "description": "Plugin affecting a gateway service has been added.",
                **_PLUGIN_EVENT,
            },
            EVENT_PLUGIN_REMOVED: {
                "display_name": "Plugin Removed",
                "description": "Plugin affecting a gateway service has been removed.",
                **_PLUGIN_EVENT,
            },
            EVENT_PLUGIN_UPDATED: {
                "display_name": "Plugin Updated",
                "description": "Plugin affecting a gateway service has been updated.",
                **_PLUGIN_EVENT,
            },
        }
    },
)

__all__ = ["INTEGRATION", "RESOURCE_TYPE", "GatewayManagerConnector"]

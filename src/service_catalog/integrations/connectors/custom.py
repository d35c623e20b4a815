"""``custom``: the built-in, push-based integration.

Nothing is polled: resources arrive through ``PUT /v1/integration-instances/{id}/resources``
and events through ``POST .../integration-events``. An instance needs no credential and is
authorized as soon as it is created.
"""

from __future__ import annotations

from typing import Any

DESCRIPTOR: dict[str, Any] = {
    "name": "custom",
    "display_name": "Custom",
    "description": "Resources and events pushed by your own tooling through the API "
                   "(PUT /v1/integration-instances/{id}/resources); nothing is polled.",
    "built_in": True,
    "version": "v1",
    "visibility": "public",
    "authorization": None,
    "config_schema": {},
    "resource_types": {
        "custom_resource": {
            "display_name": "Custom Resource",
            "schema": {"type": "simple", "definition": {"id": "string"}},
        }
    },
    "discovery": {"resource_integration_data_examples": {
        "custom_resource": {"owner": "team-payments", "tier": "1"},
    }},
    "api_spec_provider": None,
    "events": None,
}

# Push-only: the sync engine never polls a custom instance.
CONNECTOR = None

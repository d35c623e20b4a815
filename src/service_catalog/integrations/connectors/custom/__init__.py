"""``custom``: the built-in, push-based integration.

Nothing is polled: resources arrive through ``PUT /v1/integration-instances/{id}/resources``
and events through ``POST .../integration-events``. An instance needs no credential and is
authorized as soon as it is created. Registered as the ``custom`` entry point of
``service_catalog.connectors``.
"""

from __future__ import annotations

from service_catalog.integrations.connectors.base import Integration

INTEGRATION = Integration(
    name="custom",
    display_name="Custom",
    description="Resources and events pushed by your own tooling through the API "
    "(PUT /v1/integration-instances/{id}/resources); nothing is polled.",
    built_in=True,
    # Push-only: the sync engine never polls a custom instance.
    connector=None,
    resource_types={
        "custom_resource": {
            "display_name": "Custom Resource",
            "schema": {"type": "simple", "definition": {"id": "string"}},
        }
    },
    discovery={
        "resource_integration_data_examples": {
            "custom_resource": {"owner": "team-payments", "tier": "1"},
        }
    },
    # Pushed resources are mostly filtered by who owns them and how critical they are.
    indexed_data=("owner", "tier"),
)

__all__ = ["INTEGRATION"]

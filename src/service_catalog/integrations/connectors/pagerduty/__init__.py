"""``pagerduty``: PagerDuty services, who is on call for them, their incidents.

Each PagerDuty service becomes a ``pagerduty_service`` resource (config ``service_id``)
whose integration_data holds its name, status, link, escalation policy, the users on call
now by escalation level, and the figures scorecards read: open incidents, incidents in the
window (``window_days``), mean time to acknowledge and to resolve over it, whether someone
is on call, whether the service is enabled. Incidents triggered, acknowledged and resolved
are polled from PagerDuty's log entries after each sync. See :mod:`.connector` for the
calls it makes; registered in ``pyproject.toml`` as the ``pagerduty`` entry point of
``service_catalog.connectors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service_catalog.integrations.connectors.base import (
    Integration,
    simple_resource_type,
    single_header_auth,
)
from service_catalog.integrations.connectors.pagerduty.config import PagerDutyConfig
from service_catalog.integrations.connectors.pagerduty.connector import (
    PagerDutyConnector,
    base_url_of,
)
from service_catalog.integrations.connectors.pagerduty.data import (
    EVENT_ACKNOWLEDGED,
    EVENT_RESOLVED,
    EVENT_TRIGGERED,
    RESOURCE_TYPE,
)

_EXAMPLE = {
    "service_id": "PIJ90N7",
    "name": "My Application Service",
    "description": "The checkout API",
    "status": "active",
    "enabled": True,
    "html_url": "https://acme.pagerduty.com/service-directory/PIJ90N7",
    "teams": ["Engineering"],
    "escalation_policy": {
        "id": "PT20YPA",
        "name": "Engineering Escalation Policy",
        "html_url": "https://acme.pagerduty.com/escalation_policies/PT20YPA",
    },
    "on_call_now": True,
    "on_call": [
        {
            "level": 1,
            "users": [
                {
                    "id": "PT23IWX",
                    "name": "Tim Wright",
                    "html_url": "https://acme.pagerduty.com/users/PT23IWX",
                }
            ],
        }
    ],
    "incidents": {
        "open": 1,
        "triggered": 1,
        "acknowledged": 0,
        "window_days": 30,
        "in_window": 12,
        "high_urgency_in_window": 4,
        "acknowledged_in_window": 10,
        "resolved_in_window": 11,
        "mean_seconds_to_acknowledge": 312.5,
        "mean_seconds_to_resolve": 5400.0,
        "last_incident_at": "2026-11-20T10:00:00Z",
    },
}


class PagerDutyIntegration(Integration):
    """PagerDuty's declaration: an instance's upstream is its service region's API host
    unless ``base_url`` names another (the credential is bound to that origin)."""

    def upstream_base_url(self, config: Mapping[str, Any]) -> Any:
        """``base_url`` when set, else the service region's API URL."""
        return base_url_of(config)


_EVENT_FEED = {"enabled": True}

INTEGRATION = PagerDutyIntegration(
    name="pagerduty",
    display_name="PagerDuty",
    description="Visualize incidents, responsible teams, and on-call engineers through "
    "PagerDuty services: each PagerDuty service brings its escalation policy, who is on "
    "call now, its open incidents and its mean time to acknowledge and to resolve.",
    connector=PagerDutyConnector,
    config=PagerDutyConfig,
    authorization=single_header_auth(
        "PagerDuty REST API key",
        "A PagerDuty REST API key (Integrations > API Access Keys; read-only is enough). "
        "Sent as 'Authorization: Token token=<key>' (a value already starting with "
        "'Token ' is sent as is).",
    ),
    resource_types={RESOURCE_TYPE: simple_resource_type("PagerDuty Service", "service_id")},
    discovery={"resource_integration_data_examples": {RESOURCE_TYPE: _EXAMPLE}},
    indexed_data=(
        "name",
        "status",
        "enabled",
        "on_call_now",
        "escalation_policy.id",
        "incidents.open",
        "incidents.in_window",
        "incidents.mean_seconds_to_acknowledge",
        "incidents.mean_seconds_to_resolve",
    ),
    events={
        RESOURCE_TYPE: {
            EVENT_TRIGGERED: {
                "display_name": "Incident triggered",
                "description": "An incident was triggered on the PagerDuty service.",
                "events_feed": _EVENT_FEED,
            },
            EVENT_ACKNOWLEDGED: {
                "display_name": "Incident acknowledged",
                "description": "An incident of the PagerDuty service was acknowledged.",
                "events_feed": _EVENT_FEED,
            },
            EVENT_RESOLVED: {
                "display_name": "Incident resolved",
                "description": "An incident of the PagerDuty service was resolved.",
                "events_feed": _EVENT_FEED,
            },
        },
    },
)

__all__ = ["INTEGRATION", "RESOURCE_TYPE", "PagerDutyConnector"]

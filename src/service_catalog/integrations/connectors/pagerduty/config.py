"""What a PagerDuty integration instance is configured with (its ``config_schema``)."""

from __future__ import annotations

from typing import Literal

from service_catalog.integrations.connectors.config import (
    ConfigText,
    ConnectorConfig,
    setting,
    sync_interval_setting,
)

#: PagerDuty's REST API hosts by service region.
REGION_URLS: dict[str, str] = {
    "us": "https://api.pagerduty.com",
    "eu": "https://api.eu.pagerduty.com",
}
DEFAULT_WINDOW_DAYS = 30
Region = Literal["us", "eu"]


class PagerDutyConfig(ConnectorConfig):
    """A PagerDuty instance's config: the service region (or an API base URL), the window
    incident figures are computed over, the sync interval."""

    service_region: Region = setting(
        "us",
        display_name="Service region",
        description="The PagerDuty service region of your account: us (api.pagerduty.com) "
        "or eu (api.eu.pagerduty.com).",
        choices={"us": "US", "eu": "EU"},
        mutable_condition="unauthorized",
    )
    base_url: ConfigText | None = setting(
        None,
        display_name="API base URL",
        description="PagerDuty's REST API base URL, when it is not the service region's "
        "(e.g. a proxy); unset: the region's.",
        examples=list(REGION_URLS.values()),
        mutable_condition="unauthorized",
    )
    window_days: int = setting(
        DEFAULT_WINDOW_DAYS,
        display_name="Incident window (days)",
        description="How many days back incidents count for the incident figures (incidents "
        "in the window, mean time to acknowledge and to resolve); 1 to 180.",
        ge=1,
        le=180,
    )
    sync_interval: int | None = sync_interval_setting()

"""What a Traceable integration instance is configured with (its ``config_schema``)."""

from __future__ import annotations

from typing import Literal

from service_catalog.integrations.connectors.config import ConfigText, ConnectorConfig, setting
from service_catalog.integrations.connectors.traceable import graphql as gql

DEFAULT_BASE_URL = "https://api.traceable.ai"
# Traceable's regional API hosts (its web apps are app.traceable.ai and app.eu.traceable.ai).
BASE_URL_PRESETS: dict[str, str] = {"US": DEFAULT_BASE_URL, "EU": "https://api.eu.traceable.ai"}
# Discovery states an instance lists endpoints in: Traceable's public clients (and its own
# API inventory) show DISCOVERED and UNDER_DISCOVERY.
DISCOVERY_STATE_CHOICES: dict[str, str] = {
    "DISCOVERED,UNDER_DISCOVERY": "Discovered and under discovery (as Traceable shows them)",
    "DISCOVERED": "Discovered only",
    "UNDER_DISCOVERY": "Under discovery only",
    "ALL": "Every discovery state (no filter)",
}
DiscoveryStates = Literal["DISCOVERED,UNDER_DISCOVERY", "DISCOVERED", "UNDER_DISCOVERY", "ALL"]
DEFAULT_DISCOVERY_STATES = ",".join(gql.DEFAULT_DISCOVERY_STATES)
# Traceable's query layer (Hypertrace's gateway) returns at most this many rows of one
# entity query and drops offsets beyond it.
DEFAULT_ROW_CAP = 10_000
LOOKBACK_CHOICES = {"1d": 1, "7d": 7, "14d": 14, "30d": 30, "90d": 90}
Lookback = Literal["1d", "7d", "14d", "30d", "90d"]
DEFAULT_LOOKBACK = "7d"
DEFAULT_PAGE_SIZE = 1000


class TraceableConfig(ConnectorConfig):
    """A Traceable instance's config: region, activity window, discovery states, paging."""

    include_inactive: bool = setting(
        False,
        display_name="Include inactive services",
        description="Also import services (and endpoints) that saw no traffic in the "
        "lookback window.",
    )
    base_url: ConfigText = setting(
        DEFAULT_BASE_URL,
        display_name="Traceable API URL",
        description="Traceable's API host for your region: US "
        f"{BASE_URL_PRESETS['US']} (the default), EU "
        f"{BASE_URL_PRESETS['EU']}, or your own Traceable host. Links "
        "to Traceable are built from the same origin.",
        examples=list(BASE_URL_PRESETS.values()),
        mutable_condition="unauthorized",
    )
    discovery_states: DiscoveryStates = setting(
        DEFAULT_DISCOVERY_STATES,
        display_name="Endpoint discovery states",
        description="Which endpoints to import, by Traceable discovery state "
        "(apiDiscoveryState). The default matches what Traceable's API "
        "inventory shows.",
        choices=DISCOVERY_STATE_CHOICES,
    )
    lookback: Lookback = setting(
        DEFAULT_LOOKBACK,
        display_name="Activity window",
        description="How far back traffic counts as activity (and call counts are summed).",
        choices={k: f"{v} day{'s' if v > 1 else ''}" for k, v in LOOKBACK_CHOICES.items()},
    )
    page_size: int = setting(
        DEFAULT_PAGE_SIZE,
        display_name="Page size",
        description="Entities requested per Traceable query (100 to 10000, 1000 by "
        "default); lower it if Traceable times out.",
        ge=100,
        le=10_000,
    )
    row_cap: int = setting(
        DEFAULT_ROW_CAP,
        display_name="Rows per Traceable query",
        description="The most rows Traceable returns for one entity query (10000). A "
        "listing that reaches it is split by service so that no endpoint "
        "is missed; change it only if Traceable changes its limit.",
        ge=100,
        le=1_000_000,
    )

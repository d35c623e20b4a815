"""What a ``gateway-manager`` integration instance is configured with (its ``config_schema``)."""

from __future__ import annotations

from typing import Literal

from service_catalog.integrations.connectors.config import (
    ConfigText,
    ConnectorConfig,
    setting,
    sync_interval_setting,
)

#: Konnect's regional API hosts: ``https://{region}.api.konghq.com``.
REGIONS: dict[str, str] = {
    "us": "United States",
    "eu": "Europe",
    "au": "Australia",
    "me": "Middle East",
    "in": "India",
    "sg": "Singapore",
}
Region = Literal["us", "eu", "au", "me", "in", "sg"]
Source = Literal["admin_api", "konnect"]
#: Kong's Admin API answers at most 1000 entities a page (``size``).
MAX_PAGE_SIZE = 1000


def konnect_base_url(region: str) -> str:
    """Konnect's API host for ``region``."""
    return f"https://{region}.api.konghq.com"


class GatewayManagerConfig(ConnectorConfig):
    """Where the gateway's configuration is read: a self-hosted Admin API or a Konnect
    control plane."""

    source: Source = setting(
        "admin_api",
        display_name="Source",
        description="admin_api: a self-hosted Kong Gateway's Admin API at base_url. konnect: "
        "a Konnect control plane (region and control_plane_id).",
        choices={"admin_api": "Kong Gateway Admin API", "konnect": "Konnect control plane"},
        mutable_condition="unauthorized",
    )
    base_url: ConfigText | None = setting(
        None,
        display_name="Admin API URL",
        description="The Admin API's URL, e.g. http://kong-admin.internal:8001 (required for "
        "admin_api). For konnect it replaces https://{region}.api.konghq.com (a proxy or "
        "a test double).",
        examples=["http://kong-admin.internal:8001"],
        mutable_condition="unauthorized",
    )
    region: Region = setting(
        "us",
        display_name="Konnect region",
        description="The Konnect region of the control plane (konnect only).",
        choices=REGIONS,
        mutable_condition="unauthorized",
    )
    control_plane_id: ConfigText | None = setting(
        None,
        display_name="Control plane ID",
        description="The Konnect control plane whose gateway services are listed (required "
        "for konnect).",
        mutable_condition="unauthorized",
    )
    workspace: ConfigText | None = setting(
        None,
        display_name="Workspace",
        description="admin_api only: the one workspace to list. Unset: every workspace the "
        "token may read (Kong Gateway Enterprise), or the default one (open source).",
    )
    page_size: int = setting(
        MAX_PAGE_SIZE,
        display_name="Page size",
        description="Entities requested per page (size), 1 to 1000.",
        ge=1,
        le=MAX_PAGE_SIZE,
    )
    sync_interval: int | None = sync_interval_setting()

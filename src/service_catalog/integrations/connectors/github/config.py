"""What a GitHub integration instance is configured with (its ``config_schema``)."""

from __future__ import annotations

from typing import Literal

from service_catalog.integrations.connectors.config import ConfigText, ConnectorConfig, setting

DEFAULT_BASE_URL = "https://api.github.com"
OwnerType = Literal["organization", "user"]


class GitHubConfig(ConnectorConfig):
    """A GitHub instance's config: which API, whose repositories, the scorecard windows.
    Every field has a default: ``{}`` lists what the credential reaches (a token: the
    repositories its user can read; an App installation: the installation's)."""

    base_url: ConfigText = setting(
        DEFAULT_BASE_URL,
        display_name="GitHub API URL",
        description="https://api.github.com for github.com, or https://HOST/api/v3 for "
        "GitHub Enterprise Server.",
        examples=[DEFAULT_BASE_URL, "https://github.example.com/api/v3"],
        mutable_condition="unauthorized",
    )
    owner: ConfigText | None = setting(
        None,
        display_name="Owner",
        description="The organization (or user) whose repositories to list; empty: every "
        "repository the credential can read.",
    )
    owner_type: OwnerType = setting(
        "organization",
        display_name="Owner type",
        description="Whether the owner is an organization or a user.",
        choices={"organization": "Organization", "user": "User"},
    )
    window_days: int = setting(
        30,
        display_name="Pull request window (days)",
        description="Pull requests merged or closed in the last N days are summarized "
        "(approvals, time to first approval, time to merge).",
        ge=1,
        le=365,
    )
    stale_days: int = setting(
        14,
        display_name="Stale after (days)",
        description="An open pull request older than this is stale.",
        ge=1,
        le=365,
    )

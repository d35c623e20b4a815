"""``github``: GitHub repositories, with their pull requests, CODEOWNERS and Dependabot
alerts summarized for scorecards.

The package holds the connector (:mod:`.connector`: discovery with conditional requests),
GitHub's REST API as it speaks it (:mod:`.client`: a token or a GitHub App installation,
rate limits, Link paging, ETags), what a repository resource holds and the events a change
in it means (:mod:`.data`) and its config (:mod:`.config`). It is registered in
``pyproject.toml`` as the ``github`` entry point of ``service_catalog.connectors``.
"""

from __future__ import annotations

from service_catalog.integrations.connectors.base import Integration, single_header_auth
from service_catalog.integrations.connectors.github.config import GitHubConfig
from service_catalog.integrations.connectors.github.connector import GitHubConnector
from service_catalog.integrations.connectors.github.data import (
    EVENT_PR_CLOSED,
    EVENT_PR_MERGED,
    EVENT_PR_OPENED,
    RESOURCE_TYPE,
)

_EXAMPLE = {
    "id": 1296269,
    "name": "payments",
    "full_name": "acme/payments",
    "owner": "acme",
    "html_url": "https://github.com/acme/payments",
    "description": "Payment service",
    "default_branch": "main",
    "language": "Go",
    "topics": ["payments", "tier-1"],
    "visibility": "private",
    "archived": False,
    "fork": False,
    "open_pull_requests": 2,
    "codeowners": {"path": ".github/CODEOWNERS", "owners": ["@acme/payments-team"]},
    "pull_requests": {
        "window_days": 30,
        "stale_days": 14,
        "open": 2,
        "stale": 1,
        "merged_in_window": 1,
        "closed_unmerged_in_window": 0,
        "median_hours_to_first_approval": 3.5,
        "median_hours_to_merge": 20.0,
        "approvals_per_merged": 1.0,
        "unapproved_merged": 0,
        "open_items": [
            {
                "number": 42,
                "title": "Retry refunds",
                "author": "octocat",
                "created_at": "2026-01-02T10:00:00Z",
                "stale": True,
                "html_url": "https://github.com/acme/payments/pull/42",
            }
        ],
        "merged_items": [
            {
                "number": 41,
                "title": "Bump client",
                "author": "hubot",
                "merged_at": "2026-01-20T10:00:00Z",
                "approvals": 1,
                "hours_to_first_approval": 3.5,
                "hours_to_merge": 20.0,
                "html_url": "https://github.com/acme/payments/pull/41",
            }
        ],
        "closed_items": [],
    },
    "dependabot_alerts": {
        "status": "ok",
        "open": 1,
        "by_severity": {"critical": 0, "high": 1, "medium": 0, "low": 0},
    },
}

_AUTHORIZATION = single_header_auth(
    "GitHub token",
    "A GitHub personal access token (fine-grained: Metadata, Pull requests, Contents and "
    "Dependabot alerts read; classic: repo). Sent as Authorization: Bearer <token>. A "
    "GitHub App installation (github_app_installation credential: installation_id, app_id, "
    "private_key) is accepted too.",
)

_PR_EVENTS = {
    EVENT_PR_OPENED: ("Pull request opened", "A pull request was opened on the repository."),
    EVENT_PR_MERGED: ("Pull request merged", "A pull request of the repository was merged."),
    EVENT_PR_CLOSED: (
        "Pull request closed",
        "A pull request of the repository was closed without being merged.",
    ),
}

INTEGRATION = Integration(
    name="github",
    display_name="GitHub",
    description="Sync with GitHub to view repository details, including recent pull "
    "requests, code owners, programming languages and open Dependabot alerts.",
    connector=GitHubConnector,
    config=GitHubConfig,
    authorization=_AUTHORIZATION,
    credential_types=("github_app_installation",),
    resource_types={
        RESOURCE_TYPE: {
            "display_name": "GitHub Repository",
            "schema": {"type": "simple", "definition": {"owner": "string", "repo": "string"}},
        }
    },
    discovery={"resource_integration_data_examples": {RESOURCE_TYPE: _EXAMPLE}},
    indexed_data=(
        "full_name",
        "language",
        "archived",
        "open_pull_requests",
        "pull_requests.stale",
        "dependabot_alerts.by_severity.critical",
    ),
    events={
        RESOURCE_TYPE: {
            name: {
                "display_name": display,
                "description": description,
                "events_feed": {"enabled": True},
            }
            for name, (display, description) in _PR_EVENTS.items()
        }
    },
)

__all__ = ["INTEGRATION", "RESOURCE_TYPE", "GitHubConnector"]

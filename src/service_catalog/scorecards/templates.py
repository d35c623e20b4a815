"""Konnect's four scorecard templates, with their criteria, default parameters and
sections; ``security_and_compliance`` carries the Traceable security criteria too."""

from __future__ import annotations

from typing import Any

from service_catalog.scorecards.criteria import BY_NAME, provider_of


def _c(template: str, section: str, **params: Any) -> dict[str, Any]:
    return {
        "integration": provider_of(BY_NAME[template]),
        "template_name": template,
        "template_parameters": params,
        "section_name": section,
    }


SCORECARD_TEMPLATES: tuple[dict[str, Any], ...] = (
    {
        "name": "kong_best_practices",
        "display_name": "Kong Best Practices",
        "description": "Best practices that we encourage users to follow when using other "
        "Konnect applications.",
        "criteria": [
            _c(
                "gateway_manager_error_rate",
                "Gateway Observability",
                threshold=10,
                relative_window="30d",
            ),
            _c(
                "gateway_manager_response_latency",
                "Gateway Observability",
                metric="response_latency_p95",
                threshold=30,
                relative_window="30d",
            ),
            _c("gateway_manager_has_plugin", "Plugin Enforcement", category="Authentication"),
        ],
    },
    {
        "name": "service_documentation",
        "display_name": "Service Documentation",
        "description": "Ensures that your services are well-documented with ownership "
        "information, documentation files, and API specs.",
        "criteria": [
            _c("has_service_docs", "Service Documentation", min_docs=1),
            _c("has_api_specs", "API Documentation", min_specs=1),
            _c(
                "lint_api_specs",
                "API Documentation",
                rulesets=["oas:recommended"],
                include_warnings=False,
            ),
        ],
    },
    {
        "name": "service_maturity",
        "display_name": "Service Maturity",
        "description": "Measures operational maturity: resources mapped, on-call coverage, "
        "incident response and code review practice.",
        "criteria": [
            _c("has_resources", "Catalog", min_resources=1),
            _c("on_call_engineer_assigned", "Incident Management"),
            _c("time_to_acknowledge", "Incident Management", max_minutes=30),
            _c("time_to_restore", "Incident Management", max_hours=24),
            _c("minimum_approving_reviews", "Source Code Management", min_approvals=1),
            _c("stale_pull_request_limit", "Source Code Management", max_stale=5),
        ],
    },
    {
        "name": "security_and_compliance",
        "display_name": "Security and Compliance",
        "description": "Keeps services free of known vulnerabilities and sensitive data "
        "exposure, with authenticated APIs (Traceable) and patched dependencies (GitHub).",
        "criteria": [
            _c("traceable_vulnerability_limit", "Vulnerabilities", severity="HIGH"),
            _c("traceable_endpoint_risk_limit", "API Risk", max_risk="MEDIUM"),
            _c("traceable_no_exposed_sensitive_endpoints", "Sensitive Data"),
            _c("traceable_authenticated_endpoints", "API Risk", min_percent=90),
            _c("traceable_seen_within", "Coverage", days=7),
            _c(
                "github_dependabot_vulnerability_limit",
                "Vulnerabilities",
                severity="high",
                max_alerts=0,
            ),
        ],
    },
)
BY_TEMPLATE = {t["name"]: t for t in SCORECARD_TEMPLATES}

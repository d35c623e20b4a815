"""The criteria templates the catalog knows, and how each one judges a service.

Konnect's 19 criteria plus our Traceable security criteria. Each template is data (the
contract's ``CriteriaTemplate``: name, category, Liquid-style ``template_string``,
integration or capability, JSON schema of its parameters) and an evaluator: a pure
function of one service's :class:`Inputs` and the criterion's parameters returning a
:class:`Outcome`. An evaluator that cannot judge (no mapped resource to read, an
unauthorized instance, data the upstream did not give) returns an error, never an
invented pass or fail.

The evaluators read the resources' ``integration_data`` as the connectors document it:
``connectors/traceable/data.py``, ``connectors/pagerduty/data.py``, the gateway-manager
connector (``plugins``) and the GitHub connector (``github_repository``:
``pull_requests``, ``dependabot_alerts``).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Params = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Res:
    """A resource mapped to the service being judged."""

    id: str
    name: str | None
    type: str
    integration: str
    instance_id: uuid.UUID
    data: Mapping[str, Any] | None


@dataclass(slots=True)
class Inputs:
    """What the evaluators may read about one service."""

    service_id: uuid.UUID
    docs: int
    resources: Sequence[Res]
    authorized: Mapping[uuid.UUID, bool]
    now: dt.datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    """One criterion's result for one service: passing, failing, or an error."""

    passing: bool | None
    raw: Any = None
    text: str = ""
    error: tuple[str, str] | None = None


def error(kind: str, details: str) -> Outcome:
    """An evaluation that could not be judged."""
    return Outcome(None, None, details, (kind, details))


Evaluator = Callable[[Inputs, Params], Outcome]
ResourceCheck = Callable[[Mapping[str, Any], Params, dt.datetime], Outcome]


@dataclass(frozen=True)
class CriteriaTemplate:
    """A criteria template: what the contract shows and how it judges."""

    name: str
    display_name: str
    category: str
    template_string: str
    evaluate: Evaluator
    integration: str | None = None
    capability: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    #: None when evaluable given its integration; else why not (shown as an error).
    unavailable: str | None = None

    def schema(self) -> dict[str, Any] | None:
        """The contract's ``schema``: JSON schema of the parameters, None without any."""
        if not self.parameters:
            return None
        return {
            "type": "json_schema",
            "definition": {
                "type": "object",
                "properties": dict(self.parameters),
                "required": list(self.required),
                "additionalProperties": False,
            },
        }

    def render(self, params: Params | None) -> str:
        """``template_string`` with ``{{ name }}`` replaced by the parameter's value."""
        values = params or {}
        return re.sub(
            r"\{\{\s*(\w+)\s*\}\}",
            lambda m: str(values.get(m.group(1), m.group(0))),
            self.template_string,
        )


# --- per-resource helpers ------------------------------------------------------------

TRACEABLE = "traceable"
PAGERDUTY = "pagerduty"
GATEWAY = "gateway-manager"
GITHUB = "github"
RESOURCE_TYPES = {
    TRACEABLE: "traceable_service",
    PAGERDUTY: "pagerduty_service",
    GATEWAY: "gateway_svc",
    GITHUB: "github_repository",
}
NOUNS = {
    TRACEABLE: "Traceable service",
    PAGERDUTY: "PagerDuty service",
    GATEWAY: "gateway service",
    GITHUB: "GitHub repository",
}
PLURALS = {
    TRACEABLE: "Traceable services",
    PAGERDUTY: "PagerDuty services",
    GATEWAY: "gateway services",
    GITHUB: "GitHub repositories",
}


def per_resource(integration: str, check: ResourceCheck, what: str) -> Evaluator:
    """An evaluator judging each mapped resource of ``integration``'s type with ``check``
    and combining them as Konnect does (a relation map): failing when one fails, an error
    when none fails but one could not be judged (or none is mapped), else passing."""
    rtype, noun = RESOURCE_TYPES[integration], NOUNS[integration]

    def evaluate(inputs: Inputs, params: Params) -> Outcome:
        mine = [r for r in inputs.resources if r.type == rtype and r.integration == integration]
        if not mine:
            return error("no_mapped_resources", f"No {noun} is mapped to this service")
        results: dict[str, Any] = {}
        passed = failed = errors = 0
        first_error: tuple[str, str] | None = None
        for r in mine:
            relation = {"id": r.id, "name": r.name or r.id}
            if not inputs.authorized.get(r.instance_id, False):
                out = error(
                    "integration_unauthorized",
                    f"The {integration} integration instance of {relation['name']} is not "
                    "authorized",
                )
            elif r.data is None:
                out = error("no_data", f"{relation['name']} has no data from {integration} yet")
            else:
                out = check(r.data, params, inputs.now)
            if out.error is not None:
                errors += 1
                first_error = first_error or out.error
                results[r.id] = {
                    "relation": relation,
                    "error": {"type": out.error[0], "details": out.error[1]},
                }
                continue
            passed += bool(out.passing)
            failed += not out.passing
            results[r.id] = {
                "is_passing": bool(out.passing),
                "relation": relation,
                "details": {"raw_value": out.raw, "display_text": out.text},
            }
        raw = {"instance": "criteria_result_relation_map", "relation": "resource", "map": results}
        nouns = noun if len(mine) == 1 else PLURALS[integration]
        text = f"{passed} out of {len(mine)} {nouns} passing {what}"
        if failed:
            return Outcome(False, raw, text)
        if errors and first_error is not None:
            kind, details = first_error
            return Outcome(None, raw, text, (kind, details))
        return Outcome(True, raw, text)

    return evaluate


def _get(data: Mapping[str, Any], *path: str) -> Any:
    node: Any = data
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _plural(n: float, word: str) -> str:
    n_text = f"{n:g}"
    return f"{n_text} {word}" + ("" if n == 1 else "s")


def unavailable(why: str) -> Evaluator:
    """An evaluator for a criterion the catalog has no data for."""

    def evaluate(inputs: Inputs, params: Params) -> Outcome:
        return error("criteria_not_installed", why)

    return evaluate


# --- catalog criteria ----------------------------------------------------------------


def _has_docs(inputs: Inputs, params: Params) -> Outcome:
    want = int(params.get("min_docs", 1))
    n = inputs.docs
    return Outcome(n >= want, n, f"{_plural(n, 'document')} (at least {want} wanted)")


def _has_resources(inputs: Inputs, params: Params) -> Outcome:
    want = int(params.get("min_resources", 1))
    integration = params.get("integration")
    found = [r for r in inputs.resources if integration in (None, r.integration)]
    where = f" from {integration}" if integration else ""
    n = len(found)
    return Outcome(n >= want, n, f"{_plural(n, 'mapped resource')}{where} (at least {want} wanted)")


# --- Kong Gateway --------------------------------------------------------------------

_CATEGORY_PLUGINS = {
    "Authentication": "basic-auth hmac-auth jwt key-auth key-auth-enc ldap-auth "
    "ldap-auth-advanced mtls-auth oauth2 oauth2-introspection openid-connect session vault-auth",
    "Security": "acl acme bot-detection cors ip-restriction opa request-validator "
    "websocket-validator xml-threat-protection json-threat-protection",
    "Traffic Control": "rate-limiting rate-limiting-advanced request-size-limiting "
    "response-ratelimiting proxy-cache proxy-cache-advanced request-termination "
    "route-by-header canary",
    "Analytics & Monitoring": "datadog opentelemetry prometheus statsd statsd-advanced zipkin",
    "Logging": "file-log http-log kafka-log loggly syslog tcp-log udp-log",
}
#: Kong's plugin categories (as its plugin hub groups them) -> the plugins in each.
PLUGIN_CATEGORIES: dict[str, frozenset[str]] = {
    k: frozenset(v.split()) for k, v in _CATEGORY_PLUGINS.items()
}


def _has_plugin(data: Mapping[str, Any], params: Params, now: dt.datetime) -> Outcome:
    plugins = data.get("plugins")
    if not isinstance(plugins, list):
        return error("no_data", "The gateway service lists no plugins")
    on = sorted({str(p.get("name")) for p in plugins if isinstance(p, dict) and p.get("enabled")})
    name, category = params.get("plugin_name"), params.get("category")
    wanted = frozenset([name]) if name else PLUGIN_CATEGORIES.get(str(category), frozenset())
    found = [p for p in on if p in wanted]
    label = name or f"{category} plugin"
    if found:
        return Outcome(True, len(found), f"{', '.join(found)} enabled")
    return Outcome(False, 0, f"no {label} enabled ({_plural(len(on), 'plugin')} enabled)")


# --- PagerDuty -----------------------------------------------------------------------


def _pd_incidents(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    inc = data.get("incidents")
    return inc if isinstance(inc, Mapping) else None


def _incident_limit(data: Mapping[str, Any], params: Params, now: dt.datetime) -> Outcome:
    inc = _pd_incidents(data)
    n = _num(inc.get("in_window")) if inc else None
    if inc is None or n is None:
        return error("no_data", "PagerDuty reported no incident figures")
    most = int(params.get("max_incidents", 0))
    days = inc.get("window_days")
    return Outcome(n <= most, n, f"{_plural(n, 'incident')} in {days} days (at most {most})")


def _on_call(data: Mapping[str, Any], params: Params, now: dt.datetime) -> Outcome:
    value = data.get("on_call_now")
    if not isinstance(value, bool):
        return error("no_data", "PagerDuty reported no on-call information")
    return Outcome(value, value, "someone is on call" if value else "nobody is on call now")


def _pd_enabled(data: Mapping[str, Any], params: Params, now: dt.datetime) -> Outcome:
    value = data.get("enabled")
    if not isinstance(value, bool):
        return error("no_data", "PagerDuty reported no service status")
    status = data.get("status") or ("enabled" if value else "disabled")
    return Outcome(value, value, f"service is {status}")


def _mean_limit(key: str, limit: str, unit: float, unit_name: str, what: str) -> ResourceCheck:
    def check(data: Mapping[str, Any], params: Params, now: dt.datetime) -> Outcome:
        inc = _pd_incidents(data)
        if inc is None:
            return error("no_data", "PagerDuty reported no incident figures")
        seconds = _num(inc.get(key))
        days = inc.get("window_days")
        most = float(params[limit])
        if seconds is None:
            return Outcome(True, None, f"no incidents {what} in {days} days")
        value = round(seconds / unit, 1)
        return Outcome(
            value <= most,
            value,
            f"mean time {unit_name}s: {value:g} (at most {most:g}) over {days} days",
        )

    return check


def _time_before_failure(data: Mapping[str, Any], params: Params, now: dt.datetime) -> Outcome:
    inc = _pd_incidents(data)
    n = _num(inc.get("in_window")) if inc else None
    days = _num(inc.get("window_days")) if inc else None
    if inc is None or n is None or days is None:
        return error("no_data", "PagerDuty reported no incident figures")
    least = float(params["min_hours"])
    if n == 0:
        return Outcome(True, None, f"no incidents in {days:g} days")
    hours = round(days * 24 / n, 1)
    return Outcome(
        hours >= least, hours, f"mean time between failures {hours:g} h (at least {least:g})"
    )


# --- GitHub --------------------------------------------------------------------------


def _prs(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    prs = data.get("pull_requests")
    return prs if isinstance(prs, Mapping) else None


def _min_reviews(data: Mapping[str, Any], params: Params, now: dt.datetime) -> Outcome:
    prs = _prs(data)
    if prs is None:
        return error("no_data", "GitHub reported no pull requests")
    want = int(params["min_approvals"])
    merged = [m for m in prs.get("merged_items") or [] if isinstance(m, Mapping)]
    short = [m for m in merged if (_num(m.get("approvals")) or 0) < want]
    days = prs.get("window_days")
    if not merged:
        return Outcome(True, 0, f"no pull requests merged in {days} days")
    return Outcome(
        not short,
        len(short),
        f"{len(short)} of {len(merged)} pull requests merged in {days} days had fewer than "
        f"{want} approving reviews",
    )


def _stale_prs(data: Mapping[str, Any], params: Params, now: dt.datetime) -> Outcome:
    prs = _prs(data)
    n = _num(prs.get("stale")) if prs else None
    if prs is None or n is None:
        return error("no_data", "GitHub reported no pull requests")
    most = int(params["max_stale"])
    return Outcome(
        n <= most,
        n,
        f"{_plural(n, 'open pull request')} older than {prs.get('stale_days')} days "
        f"(at most {most})",
    )


def _median_limit(key: str, what: str) -> ResourceCheck:
    def check(data: Mapping[str, Any], params: Params, now: dt.datetime) -> Outcome:
        prs = _prs(data)
        if prs is None:
            return error("no_data", "GitHub reported no pull requests")
        hours = _num(prs.get(key))
        days = prs.get("window_days")
        most = float(params["max_hours"])
        if hours is None:
            return Outcome(True, None, f"no pull requests {what} in {days} days")
        return Outcome(
            hours <= most, hours, f"median {hours:g} h to {what[:-1]} (at most {most:g})"
        )

    return check


SEVERITIES = ("critical", "high", "medium", "low")


def _dependabot(data: Mapping[str, Any], params: Params, now: dt.datetime) -> Outcome:
    alerts = data.get("dependabot_alerts")
    if not isinstance(alerts, Mapping):
        return error("no_data", "GitHub reported no Dependabot alerts")
    if alerts.get("status") == "not_permitted":
        return error(
            "integration_unauthorized",
            "The GitHub credential may not read this repository's Dependabot alerts",
        )
    severity = str(params.get("severity", "high")).lower()
    most = int(params.get("max_alerts", 0))
    by_any = alerts.get("by_severity")
    by: Mapping[str, Any] = by_any if isinstance(by_any, Mapping) else {}
    at_or_above = SEVERITIES[: SEVERITIES.index(severity) + 1]
    n = sum(int(_num(by.get(s)) or 0) for s in at_or_above)
    return Outcome(
        n <= most, n, f"{_plural(n, 'open Dependabot alert')} {severity} or above (at most {most})"
    )


# --- Traceable -----------------------------------------------------------------------

RISK_LEVELS = ("LOW", "MEDIUM", "HIGH", "CRITICAL")


def _vulnerabilities(data: Mapping[str, Any], params: Params, now: dt.datetime) -> Outcome:
    by = _get(data, "vulnerabilities", "by_severity")
    if not isinstance(by, Mapping):
        return error("no_data", "Traceable reported no vulnerabilities")
    severity = str(params.get("severity", "HIGH")).upper()
    at_or_above = RISK_LEVELS[RISK_LEVELS.index(severity) :]
    found = {s: int(_num(by.get(s)) or 0) for s in at_or_above if by.get(s)}
    n = sum(found.values())
    detail = ", ".join(f"{v} {k}" for k, v in found.items())
    text = f"{_plural(n, 'open vulnerability')} at {severity} or above" + (
        f" ({detail})" if detail else ""
    )
    return Outcome(n == 0, n, text.replace("vulnerabilitys", "vulnerabilities"))


def _endpoint_risk(data: Mapping[str, Any], params: Params, now: dt.datetime) -> Outcome:
    risk = _get(data, "endpoints", "groups", "risk")
    if not isinstance(risk, Mapping):
        return error("no_data", "Traceable reported no endpoint risk")
    highest = None
    for level in RISK_LEVELS:
        if (_num(risk.get(level)) or 0) > 0:
            highest = level
    most = str(params.get("max_risk", "MEDIUM")).upper()
    if highest is None:
        return Outcome(True, None, "no endpoint has a risk score")
    ok = RISK_LEVELS.index(highest) <= RISK_LEVELS.index(most)
    n = int(_num(risk.get(highest)) or 0)
    return Outcome(ok, highest, f"highest endpoint risk {highest} ({n}); at most {most} wanted")


def _exposed(data: Mapping[str, Any], params: Params, now: dt.datetime) -> Outcome:
    endpoints = data.get("endpoints")
    n = _num(_get(data, "endpoints", "exposed_sensitive_total"))
    total = _num(_get(data, "endpoints", "total"))
    if not isinstance(endpoints, Mapping) or n is None or total is None:
        return error("no_data", "Traceable reported no endpoints")
    return Outcome(
        n == 0,
        n,
        f"{n:g} of {total:g} endpoints are external and unauthenticated with sensitive data",
    )


def _authenticated_share(data: Mapping[str, Any], params: Params, now: dt.datetime) -> Outcome:
    auth = _get(data, "endpoints", "groups", "authentication")
    total = _num(_get(data, "endpoints", "total"))
    if not isinstance(auth, Mapping) or total is None:
        return error("no_data", "Traceable reported no endpoint authentication")
    if total == 0:
        return error("no_data", "Traceable has discovered no endpoints of this service")
    yes = _num(auth.get("authenticated")) or 0
    share = round(100 * yes / total, 1)
    want = float(params["min_percent"])
    return Outcome(
        share >= want,
        share,
        f"{yes:g} of {total:g} endpoints authenticated ({share:g}%, at least {want:g}% wanted)",
    )


def _seen_within(data: Mapping[str, Any], params: Params, now: dt.datetime) -> Outcome:
    last = _get(data, "endpoints", "last_seen")
    days = float(params.get("days", 7))
    if not isinstance(last, str):
        return Outcome(False, None, "Traceable has seen no traffic of this service")
    try:
        when = dt.datetime.fromisoformat(last.replace("Z", "+00:00"))
    except ValueError:
        return error("no_data", f"Traceable's last-seen time {last!r} is not a time")
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    age = (now - when).total_seconds() / 86400
    return Outcome(
        age <= days, last, f"last seen {last} ({age:.1f} days ago; within {days:g} wanted)"
    )


# --- the catalog of templates ------------------------------------------------------

_INT = {"type": "integer", "minimum": 0}
_POSITIVE = {"type": "integer", "minimum": 1}
_HOURS = {"type": "number", "minimum": 0}
_WINDOWS = {
    "type": "string",
    "enum": ["15m", "1h", "6h", "12h", "24h", "7d", "30d"],
}
_NO_API_SPECS = "API specs and API mappings are not part of this catalog yet"
_NO_METRICS = (
    "The gateway-manager integration reads configuration, not traffic metrics "
    "(error rates and latencies are not collected)"
)
_NO_WORKFLOWS = "The GitHub integration does not read workflow runs"

TEMPLATES: tuple[CriteriaTemplate, ...] = (
    CriteriaTemplate(
        "has_service_docs",
        "Has Service Documentation",
        "Documentation",
        "Has at least {{ min_docs }} documentation file(s)",
        _has_docs,
        parameters={"min_docs": _POSITIVE},
        required=("min_docs",),
    ),
    CriteriaTemplate(
        "has_resources",
        "Has Resources",
        "Catalog Management",
        "Has at least {{ min_resources }} mapped resource(s)",
        _has_resources,
        parameters={"min_resources": _POSITIVE, "integration": {"type": "string"}},
        required=("min_resources",),
    ),
    CriteriaTemplate(
        "has_api_specs",
        "Has API Specs",
        "Documentation",
        "Has at least {{ min_specs }} API spec(s)",
        unavailable(_NO_API_SPECS),
        parameters={"min_specs": _POSITIVE},
        required=("min_specs",),
        unavailable=_NO_API_SPECS,
    ),
    CriteriaTemplate(
        "lint_api_specs",
        "Lint API Specs",
        "Code Quality",
        "API specs pass the {{ rulesets }} rulesets",
        unavailable(_NO_API_SPECS),
        parameters={
            "rulesets": {
                "type": "array",
                "items": {
                    "type": "string",
                    "enum": [
                        "oas:recommended",
                        "owasp:top10",
                        "url-versioning",
                        "documentation",
                    ],
                },
                "minItems": 1,
            },
            "include_warnings": {"type": "boolean"},
        },
        required=("rulesets",),
        unavailable=_NO_API_SPECS,
    ),
    CriteriaTemplate(
        "gateway_manager_has_plugin",
        "Gateway Service Has Plugin",
        "Gateway Configuration",
        "Gateway services have a {{ category }}{{ plugin_name }} plugin enabled",
        per_resource(GATEWAY, _has_plugin, "plugin check"),
        integration=GATEWAY,
        parameters={
            "category": {"type": "string", "enum": sorted(PLUGIN_CATEGORIES)},
            "plugin_name": {"type": "string", "minLength": 1},
        },
    ),
    CriteriaTemplate(
        "gateway_manager_error_rate",
        "Gateway Service Error Rate",
        "Observability",
        "Error rate is lower than {{ threshold }}% over {{ relative_window }}",
        unavailable(_NO_METRICS),
        integration=GATEWAY,
        parameters={
            "threshold": {"type": "number", "minimum": 0, "maximum": 100},
            "relative_window": _WINDOWS,
        },
        required=("threshold", "relative_window"),
        unavailable=_NO_METRICS,
    ),
    CriteriaTemplate(
        "gateway_manager_response_latency",
        "Gateway Service Response Latency",
        "Observability",
        "{{ metric }} is lower than {{ threshold }} ms over {{ relative_window }}",
        unavailable(_NO_METRICS),
        integration=GATEWAY,
        parameters={
            "metric": {
                "type": "string",
                "enum": ["response_latency_p99", "response_latency_p95", "response_latency_p50"],
            },
            "threshold": {"type": "number", "minimum": 0},
            "relative_window": _WINDOWS,
        },
        required=("metric", "threshold", "relative_window"),
        unavailable=_NO_METRICS,
    ),
    CriteriaTemplate(
        "incident_limit",
        "Incident Limit",
        "Incident Management",
        "Has at most {{ max_incidents }} incident(s) in the incident window",
        per_resource(PAGERDUTY, _incident_limit, "incident limit check"),
        capability="incident_provider",
        parameters={"max_incidents": _INT},
        required=("max_incidents",),
    ),
    CriteriaTemplate(
        "on_call_engineer_assigned",
        "On Call Engineer Assigned",
        "Incident Management",
        "Has an on call engineer assigned to the service",
        per_resource(PAGERDUTY, _on_call, "on-call check"),
        capability="on_call_provider",
    ),
    CriteriaTemplate(
        "pagerduty_service_enabled",
        "PagerDuty Service Enabled",
        "Incident Management",
        "The PagerDuty service is enabled",
        per_resource(PAGERDUTY, _pd_enabled, "enabled check"),
        integration=PAGERDUTY,
    ),
    CriteriaTemplate(
        "time_to_acknowledge",
        "Time to Acknowledge",
        "Incident Management",
        "Mean time to acknowledge incidents is at most {{ max_minutes }} minutes",
        per_resource(
            PAGERDUTY,
            _mean_limit(
                "mean_seconds_to_acknowledge",
                "max_minutes",
                60,
                "to acknowledge (min)",
                "acknowledged",
            ),
            "time to acknowledge check",
        ),
        capability="incident_provider",
        parameters={"max_minutes": _HOURS},
        required=("max_minutes",),
    ),
    CriteriaTemplate(
        "time_to_restore",
        "Time to Restore",
        "Incident Management",
        "Mean time to restore service is at most {{ max_hours }} hours",
        per_resource(
            PAGERDUTY,
            _mean_limit("mean_seconds_to_resolve", "max_hours", 3600, "to restore (h)", "resolved"),
            "time to restore check",
        ),
        capability="incident_provider",
        parameters={"max_hours": _HOURS},
        required=("max_hours",),
    ),
    CriteriaTemplate(
        "time_before_failure",
        "Time Before Failure",
        "Incident Management",
        "Mean time between incidents is at least {{ min_hours }} hours",
        per_resource(PAGERDUTY, _time_before_failure, "time before failure check"),
        capability="incident_provider",
        parameters={"min_hours": _HOURS},
        required=("min_hours",),
    ),
    CriteriaTemplate(
        "minimum_approving_reviews",
        "Minimum Approving Reviews",
        "Source Code Management",
        "Merged pull requests had at least {{ min_approvals }} approving review(s)",
        per_resource(GITHUB, _min_reviews, "approving reviews check"),
        capability="pull_request_provider",
        parameters={"min_approvals": _POSITIVE},
        required=("min_approvals",),
    ),
    CriteriaTemplate(
        "stale_pull_request_limit",
        "Stale Pull Request Limit",
        "Source Code Management",
        "Has at most {{ max_stale }} stale open pull request(s)",
        per_resource(GITHUB, _stale_prs, "stale pull request check"),
        capability="pull_request_provider",
        parameters={"max_stale": _INT},
        required=("max_stale",),
    ),
    CriteriaTemplate(
        "time_to_approve",
        "Time to Approve",
        "Source Code Management",
        "Median time to first approval is at most {{ max_hours }} hours",
        per_resource(
            GITHUB,
            _median_limit("median_hours_to_first_approval", "approved"),
            "time to approve check",
        ),
        capability="pull_request_provider",
        parameters={"max_hours": _HOURS},
        required=("max_hours",),
    ),
    CriteriaTemplate(
        "time_to_merge",
        "Time to Merge",
        "Source Code Management",
        "Median time to merge pull requests is at most {{ max_hours }} hours",
        per_resource(
            GITHUB, _median_limit("median_hours_to_merge", "merged"), "time to merge check"
        ),
        capability="pull_request_provider",
        parameters={"max_hours": _HOURS},
        required=("max_hours",),
    ),
    CriteriaTemplate(
        "time_to_workflow_completion",
        "Time to Workflow Completion",
        "Source Code Management",
        "Median workflow run time is at most {{ max_minutes }} minutes",
        unavailable(_NO_WORKFLOWS),
        capability="workflow_provider",
        parameters={"max_minutes": _HOURS},
        required=("max_minutes",),
        unavailable=_NO_WORKFLOWS,
    ),
    CriteriaTemplate(
        "github_dependabot_vulnerability_limit",
        "Open Dependabot Vulnerability Limit",
        "Security / Vulnerability",
        "Has at most {{ max_alerts }} open Dependabot alert(s) at {{ severity }} or above",
        per_resource(GITHUB, _dependabot, "Dependabot check"),
        integration=GITHUB,
        parameters={"severity": {"type": "string", "enum": list(SEVERITIES)}, "max_alerts": _INT},
        required=("severity", "max_alerts"),
    ),
    CriteriaTemplate(
        "traceable_vulnerability_limit",
        "No Open Vulnerabilities at a Severity",
        "Security / Vulnerability",
        "Has no open Traceable vulnerability at {{ severity }} or above",
        per_resource(TRACEABLE, _vulnerabilities, "vulnerability check"),
        integration=TRACEABLE,
        parameters={"severity": {"type": "string", "enum": list(RISK_LEVELS)}},
        required=("severity",),
    ),
    CriteriaTemplate(
        "traceable_endpoint_risk_limit",
        "Highest Endpoint Risk",
        "Security / Vulnerability",
        "No endpoint's Traceable risk is above {{ max_risk }}",
        per_resource(TRACEABLE, _endpoint_risk, "endpoint risk check"),
        integration=TRACEABLE,
        parameters={"max_risk": {"type": "string", "enum": list(RISK_LEVELS)}},
        required=("max_risk",),
    ),
    CriteriaTemplate(
        "traceable_no_exposed_sensitive_endpoints",
        "No Exposed Sensitive Endpoints",
        "Security / Vulnerability",
        "No external, unauthenticated endpoint carries sensitive data",
        per_resource(TRACEABLE, _exposed, "sensitive exposure check"),
        integration=TRACEABLE,
    ),
    CriteriaTemplate(
        "traceable_authenticated_endpoints",
        "Authenticated Endpoints",
        "Security / Vulnerability",
        "At least {{ min_percent }}% of endpoints are authenticated",
        per_resource(TRACEABLE, _authenticated_share, "authentication check"),
        integration=TRACEABLE,
        parameters={"min_percent": {"type": "number", "minimum": 0, "maximum": 100}},
        required=("min_percent",),
    ),
    CriteriaTemplate(
        "traceable_seen_within",
        "Seen by Traceable Recently",
        "Observability",
        "Traceable saw traffic of the service within {{ days }} days",
        per_resource(TRACEABLE, _seen_within, "traffic check"),
        integration=TRACEABLE,
        parameters={"days": {"type": "number", "minimum": 0}},
        required=("days",),
    ),
)
BY_NAME: dict[str, CriteriaTemplate] = {t.name: t for t in TEMPLATES}
#: Which integration provides each capability (the registered ones decide ``installed``).
CAPABILITIES: dict[str, str] = {
    "incident_provider": PAGERDUTY,
    "on_call_provider": PAGERDUTY,
    "pull_request_provider": GITHUB,
    "workflow_provider": GITHUB,
}


def provider_of(template: CriteriaTemplate) -> str | None:
    """The integration whose data the template reads (None: the catalog's own)."""
    if template.integration is not None:
        return template.integration
    return CAPABILITIES.get(template.capability or "")

"""The criteria templates the catalog knows, and how each one judges a service.

Konnect's 19 criteria plus our Traceable security criteria. Each template is data (the
contract's ``CriteriaTemplate``: name, category, Liquid-style ``template_string``,
integration or capability, JSON schema of its parameters) and an evaluator: a pure
function of one service's :class:`Inputs` and the criterion's parameters returning a
:class:`Outcome`. An evaluator that cannot judge (no mapped resource to read, an
unauthorized instance, data the upstream did not give) returns an error, never an
invented pass or fail.

The templates are a table, ``criteria.yaml`` beside this module (read at import into
:data:`TEMPLATES`), a small spec per criterion: what the contract shows, which
integration's resources it reads (:func:`per_resource`) and the check run on each one's
data: a :class:`Figure` (a number of the data compared with a parameter, and its display
texts) or, for the criteria that read more than one figure, a function named in
:data:`RESOURCE_CHECKS` (:data:`CATALOG_CHECKS` for the catalog's own data).

The evaluators read the resources' ``integration_data`` as the connectors document it:
``connectors/traceable/data.py``, ``connectors/pagerduty/data.py``, the gateway-manager
connector (``plugins``) and the GitHub connector (``github_repository``:
``pull_requests``, ``dependabot_alerts``).
"""

from __future__ import annotations

import datetime as dt
import operator
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, NamedTuple

import yaml

Params = Mapping[str, Any]


@dataclass(slots=True)
class Res:
    """A resource mapped to the service being judged (``relation``: how a result names it)."""

    id: str
    name: str | None
    type: str
    integration: str
    instance_id: uuid.UUID
    data: Mapping[str, Any] | None
    relation: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.relation = {"id": self.id, "name": self.name or self.id}


@dataclass(slots=True)
class Inputs:
    """What the evaluators may read about one service (``groups``: its resources by
    integration and type, grouped once for all its criteria)."""

    service_id: uuid.UUID
    docs: int
    resources: Sequence[Res]
    authorized: Mapping[uuid.UUID, bool]
    now: dt.datetime
    groups: dict[tuple[str, str], list[Res]] = field(init=False)

    def __post_init__(self) -> None:
        groups: dict[tuple[str, str], list[Res]] = {}
        for r in self.resources:
            groups.setdefault((r.integration, r.type), []).append(r)
        self.groups = groups


class Outcome(NamedTuple):
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
    key = (integration, RESOURCE_TYPES[integration])
    noun, plural = NOUNS[integration], PLURALS[integration]
    no_resource = error("no_mapped_resources", f"No {noun} is mapped to this service")
    texts: dict[tuple[int, int], str] = {}  # (passed, judged) -> the display text

    def evaluate(inputs: Inputs, params: Params) -> Outcome:
        mine = inputs.groups.get(key)
        if not mine:
            return no_resource
        results: dict[str, Any] = {}
        passed = failed = 0
        first_error: tuple[str, str] | None = None
        authorized, now = inputs.authorized, inputs.now
        for r in mine:
            if not authorized.get(r.instance_id, False):
                out = error(
                    "integration_unauthorized",
                    f"The {integration} integration instance of {r.relation['name']} is not "
                    "authorized",
                )
            elif r.data is None:
                out = error("no_data", f"{r.relation['name']} has no data from {integration} yet")
            else:
                out = check(r.data, params, now)
            if out.error is not None:
                first_error = first_error or out.error
                results[r.id] = {
                    "relation": r.relation,
                    "error": {"type": out.error[0], "details": out.error[1]},
                }
            else:
                if out.passing:
                    passed += 1
                else:
                    failed += 1
                results[r.id] = {
                    "is_passing": bool(out.passing),
                    "relation": r.relation,
                    "details": {"raw_value": out.raw, "display_text": out.text},
                }
        raw = {"instance": "criteria_result_relation_map", "relation": "resource", "map": results}
        text = texts.get((passed, len(mine)))
        if text is None:
            text = f"{passed} out of {len(mine)} {noun if len(mine) == 1 else plural} passing "
            text = texts[passed, len(mine)] = text + what
        if failed:
            return Outcome(False, raw, text)
        if first_error is not None:
            return Outcome(None, raw, text, first_error)
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


class _Fields(dict[str, Any]):
    """The names a :class:`Figure`'s texts may use (a field the data lacks shows None)."""

    def __missing__(self, key: str) -> None:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Figure:
    """A check comparing one figure of a resource's data with a limit.

    The figure is ``data[section][key]``, a number; the limit the parameter ``param``
    (``default`` when it may be left out, else required), or 0 without one. ``text`` and
    ``none_text`` are ``str.format`` templates over the section's fields, ``n`` (the
    figure), ``value`` (the figure in its unit: ``n / scale`` to one decimal with a
    ``scale``), ``count`` (``n`` with ``noun``), ``most`` (the limit) and the ``needs``
    (other figures of the section that must be numbers)."""

    #: Where the figure is: ``data[section][key]``.
    section: str
    key: str
    #: The parameter holding the limit, and its value when the criterion leaves it out.
    param: str | None = None
    default: int | None = None
    #: The error's details when the section, the figure or a need is missing.
    missing: str
    #: The display text of a judged figure.
    text: str
    #: The limit's type (``int`` or ``float``).
    cast: Callable[[Any], float] = int
    #: value (compare) limit is passing.
    compare: Callable[[float, float], bool] = operator.le
    noun: str = ""
    scale: float | None = None
    #: A figure the data leaves out passes with this text (else it is an error).
    none_text: str | None = None
    needs: tuple[str, ...] = ()

    def __call__(self, data: Mapping[str, Any], params: Params, now: dt.datetime) -> Outcome:
        section = data.get(self.section)
        if not isinstance(section, Mapping):
            return error("no_data", self.missing)
        n = _num(section.get(self.key))
        fields = _Fields(section)
        for need in self.needs:
            fields[need] = _num(section.get(need))
            if fields[need] is None:
                return error("no_data", self.missing)
        if n is None and self.none_text is None:
            return error("no_data", self.missing)
        if self.param is None:
            most: float = 0
        elif self.default is None:
            most = self.cast(params[self.param])
        else:
            most = self.cast(params.get(self.param, self.default))
        fields["most"] = most
        if n is None:
            return Outcome(True, None, str(self.none_text).format_map(fields))
        value = n if self.scale is None else round(n / self.scale, 1)
        fields.update(n=n, value=value, count=_plural(n, self.noun))
        return Outcome(self.compare(value, most), value, self.text.format_map(fields))


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

_NO_INCIDENTS = "PagerDuty reported no incident figures"


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


def _time_before_failure(data: Mapping[str, Any], params: Params, now: dt.datetime) -> Outcome:
    inc = data.get("incidents")
    n = _num(inc.get("in_window")) if isinstance(inc, Mapping) else None
    days = _num(inc.get("window_days")) if isinstance(inc, Mapping) else None
    if n is None or days is None:
        return error("no_data", _NO_INCIDENTS)
    least = float(params["min_hours"])
    if n == 0:
        return Outcome(True, None, f"no incidents in {days:g} days")
    hours = round(days * 24 / n, 1)
    return Outcome(
        hours >= least, hours, f"mean time between failures {hours:g} h (at least {least:g})"
    )


# --- GitHub --------------------------------------------------------------------------

_NO_PRS = "GitHub reported no pull requests"


def _min_reviews(data: Mapping[str, Any], params: Params, now: dt.datetime) -> Outcome:
    prs = data.get("pull_requests")
    if not isinstance(prs, Mapping):
        return error("no_data", _NO_PRS)
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
    at_or_above = SEVERITIES[: SEVERITIES.index(severity) + 1]
    by = alerts.get("by_severity")
    n = 0
    if isinstance(by, Mapping):
        for s in at_or_above:
            n += int(_num(by.get(s)) or 0)
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

#: The checks of the catalog's own data, by the name ``criteria.yaml`` gives them.
CATALOG_CHECKS: dict[str, Evaluator] = {"has_docs": _has_docs, "has_resources": _has_resources}
#: The checks of one resource's data that are more than a :class:`Figure`, by name.
RESOURCE_CHECKS: dict[str, ResourceCheck] = {
    "has_plugin": _has_plugin,
    "on_call": _on_call,
    "pagerduty_enabled": _pd_enabled,
    "time_before_failure": _time_before_failure,
    "min_reviews": _min_reviews,
    "dependabot": _dependabot,
    "vulnerabilities": _vulnerabilities,
    "endpoint_risk": _endpoint_risk,
    "authenticated_share": _authenticated_share,
    "seen_within": _seen_within,
}
_CASTS: dict[str, Callable[[Any], float]] = {"int": int, "float": float}
_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
}


def _figure(spec: Mapping[str, Any]) -> Figure:
    values = dict(spec)
    values["cast"] = _CASTS[values.get("cast", "int")]
    values["compare"] = _COMPARISONS[values.get("compare", "<=")]
    values["needs"] = tuple(values.get("needs", ()))
    return Figure(**values)


def _evaluator(spec: Mapping[str, Any]) -> Evaluator:
    """How a template of ``criteria.yaml`` judges a service (see the file's head)."""
    if "catalog" in spec:
        return CATALOG_CHECKS[spec["catalog"]]
    if "unavailable" in spec:
        return unavailable(spec["unavailable"])
    check = RESOURCE_CHECKS[spec["check"]] if "check" in spec else _figure(spec["figure"])
    return per_resource(spec["resources"], check, spec["label"])


def _template(name: str, spec: Mapping[str, Any]) -> CriteriaTemplate:
    parameters = spec.get("parameters") or {}
    return CriteriaTemplate(
        name,
        spec["display_name"],
        spec["category"],
        spec["template_string"],
        _evaluator(spec),
        integration=spec.get("integration"),
        capability=spec.get("capability"),
        parameters=parameters,
        required=tuple(spec.get("required", parameters)),
        unavailable=spec.get("unavailable"),
    )


TEMPLATES: tuple[CriteriaTemplate, ...] = tuple(
    _template(name, spec)
    for name, spec in yaml.safe_load(
        resources.files("service_catalog.scorecards").joinpath("criteria.yaml").read_text()
    )["templates"].items()
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

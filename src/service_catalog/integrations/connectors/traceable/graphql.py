"""The GraphQL documents the Traceable connector sends, and the subset schema they obey.

Every document here validates against ``traceable-subset.graphql`` (a copy of
``contracts/traceable-subset.graphql`` shipped inside the package): the part of
Traceable's public schema the catalog needs. ``tests/test_traceable_connector.py``
validates every document any tenant can make the connector send.

Endpoint queries are built from the attributes a tenant has (the ``metadata`` query
lists them), because asking Traceable for an attribute a tenant lacks is an error:
optional attributes that are missing are simply not asked for.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from importlib import resources

from graphql import GraphQLSchema, build_schema, parse, validate

SCHEMA_FILE = "traceable-subset.graphql"

# The API-scope (endpoint) attributes the connector reads. ``name`` and ``serviceId`` are
# required to place an endpoint under its service; the others are optional per tenant.
REQUIRED_API_ATTRIBUTES: tuple[str, ...] = ("name", "serviceId")
# An endpoint's risk: today's tenants (and clients) name it riskScore / riskScoreCategory,
# older ones apiRiskScore / apiRiskScoreCategory. Whichever the tenant's metadata lists is
# asked for (the current name when it has both), always under the current name as alias,
# so an answer reads the same from either kind of tenant.
RISK_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "riskScore": ("riskScore", "apiRiskScore"),
    "riskScoreCategory": ("riskScoreCategory", "apiRiskScoreCategory"),
}
OPTIONAL_API_ATTRIBUTES: tuple[str, ...] = (
    "environment",
    "isExternal",
    "isAuthenticated",
    "apiDiscoveryState",
    *(name for names in RISK_ATTRIBUTES.values() for name in names),
    "dataTypeIds",
    "lastCalledTimestamp",
)
API_ATTRIBUTES: tuple[str, ...] = REQUIRED_API_ATTRIBUTES + OPTIONAL_API_ATTRIBUTES
# Public clients (Traceable's Terraform provider) list endpoints in these discovery states
# only, as Traceable's own inventory does; an instance can choose others.
DEFAULT_DISCOVERY_STATES: tuple[str, ...] = ("DISCOVERED", "UNDER_DISCOVERY")
# API-scope metrics; a tenant without one just reports no call counts.
API_METRICS: tuple[str, ...] = ("numCalls",)

SERVICE_ATTRIBUTES: tuple[str, ...] = ("name",)

# The vulnerability fields read, by the alias used in the response.
VULNERABILITY_FIELDS: dict[str, str] = {
    "id": "VULNERABILITY_ID",
    "title": "DISPLAY_NAME",
    "category": "VULNERABILITY_CATEGORY",
    "severity": "SEVERITY",
    "status": "STATUS",
    "serviceId": "SERVICE_ID",
    "apiId": "API_ID",
    "entityName": "ENTITY_NAME",
    "created": "CREATED_TIMESTAMP_MILLIS",
}
OPEN_STATUSES: tuple[str, ...] = ("VULNERABILITY_STATUS_OPEN", "VULNERABILITY_STATUS_REOPENED")


@functools.cache
def subset_schema() -> GraphQLSchema:
    """The Traceable subset schema, parsed once."""
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return build_schema(text)


def validation_errors(document: str) -> list[str]:
    """The messages of every way ``document`` breaks the subset schema (empty when valid)."""
    try:
        ast = parse(document)
    except Exception as exc:  # a syntax error is a validation failure here
        return [str(exc)]
    return [e.message for e in validate(subset_schema(), ast)]


VERIFY = """
query VerifyToken($between: InputTimeRange!) {
  entities(scope: "SERVICE", between: $between, limit: 1) {
    total
  }
}
""".strip()

METADATA = """
query AttributeCatalogue {
  metadata {
    name
    scope
    type
  }
}
""".strip()

SERVICES = """
query Services($between: InputTimeRange!, $includeInactive: Boolean, $filterBy: [InputFilter],
               $limit: Int, $offset: Int) {
  entities(
    scope: "SERVICE"
    between: $between
    includeInactive: $includeInactive
    filterBy: $filterBy
    orderBy: [{keyExpression: {key: "id"}, direction: ASC}]
    limit: $limit
    offset: $offset
  ) {
    count
    total
    results {
      id
      name: attribute(expression: {key: "name"})
    }
  }
}
""".strip()

VULNERABILITIES = (
    """
query OpenVulnerabilities($filter: InputVulnerabilityV3NestedFilter, $limit: Int, $offset: Int) {
  vulnerabilitiesV3(
    filter: $filter
    orderBy: [{key: VULNERABILITY_ID, direction: ASC}]
    limit: $limit
    offset: $offset
  ) {
    count
    total
    results {
%s
    }
  }
}
""".strip()
    % "\n".join(
        f"      {alias}: selection(key: {key}) {{ value }}"
        for alias, key in VULNERABILITY_FIELDS.items()
    )
)

OPEN_VULNERABILITIES_FILTER = {
    "relationalFilter": {"key": "STATUS", "operator": "IN", "value": list(OPEN_STATUSES)},
}


def selected_attributes(attributes: Iterable[str]) -> dict[str, str]:
    """Response alias -> tenant attribute key for an endpoint listing, in a fixed order.

    Every attribute of :data:`API_ATTRIBUTES` the tenant has is asked for under its own
    name, except the risk pair: the first name of each :data:`RISK_ATTRIBUTES` entry the
    tenant has is asked for under the current name."""
    have = set(attributes)
    legacy = {name for names in RISK_ATTRIBUTES.values() for name in names}
    out: dict[str, str] = {}
    for a in API_ATTRIBUTES:
        if a in legacy:
            continue
        if a in have:
            out[a] = a
    for alias, names in RISK_ATTRIBUTES.items():
        key = next((n for n in names if n in have), None)
        if key is not None:
            out[alias] = key
    return out


def discovery_filter(states: Iterable[str]) -> dict[str, object]:
    """The ``filterBy`` entry keeping endpoints whose ``apiDiscoveryState`` is in
    ``states``, as Traceable's public clients send it."""
    return {
        "keyExpression": {"key": "apiDiscoveryState"},
        "operator": "IN",
        "type": "ATTRIBUTE",
        "value": list(states),
    }


def services_filter(service_ids: Iterable[str]) -> dict[str, object]:
    """The ``filterBy`` entry keeping endpoints of the given services."""
    ids = list(service_ids)
    if len(ids) == 1:
        return {
            "keyExpression": {"key": "serviceId"},
            "operator": "EQUALS",
            "type": "ATTRIBUTE",
            "value": ids[0],
        }
    return {
        "keyExpression": {"key": "serviceId"},
        "operator": "IN",
        "type": "ATTRIBUTE",
        "value": ids,
    }


def endpoints_query(
    attributes: Iterable[str], metrics: Iterable[str], *, service_filter: bool = False
) -> str:
    """The API-scope (endpoint) listing asking for ``attributes`` and ``metrics`` only
    (the risk pair under its current names, see :func:`selected_attributes`).

    The query takes a ``$filterBy`` variable (discovery states, services). With
    ``service_filter`` it orders by id (the endpoints of one service); without, it lists
    endpoints ordered by serviceId, then id.
    """
    lines = [
        f'      {alias}: attribute(expression: {{key: "{key}"}})'
        for alias, key in selected_attributes(attributes).items()
    ]
    lines += [
        f'      {m}: metric(expression: {{key: "{m}"}}) {{ sum {{ value }} }}'
        for m in API_METRICS
        if m in set(metrics)
    ]
    params = (
        "$between: InputTimeRange!, $includeInactive: Boolean, $filterBy: [InputFilter], "
        "$limit: Int, $offset: Int"
    )
    # The tenant-wide listing comes grouped by service (serviceId, then id), so a sync
    # can store each service as soon as the listing has moved past its endpoints.
    order = (
        '[{keyExpression: {key: "serviceId"}, direction: ASC}, '
        '{keyExpression: {key: "id"}, direction: ASC}]'
    )
    if service_filter:
        order = '[{keyExpression: {key: "id"}, direction: ASC}]'
    fields = "\n".join(lines)
    return f"""
query ApiEndpoints({params}) {{
  entities(
    scope: "API"
    between: $between
    includeInactive: $includeInactive
    filterBy: $filterBy
    orderBy: {order}
    limit: $limit
    offset: $offset
  ) {{
    count
    total
    results {{
      id
{fields}
    }}
  }}
}}
""".strip()


def all_documents() -> list[str]:
    """Every document the connector can send, for tenants with all or only the required
    attributes (the test suite validates each against the subset schema)."""
    docs = [VERIFY, METADATA, SERVICES, VULNERABILITIES]
    legacy_only = [a for a in API_ATTRIBUTES if a not in RISK_ATTRIBUTES]
    for attrs in (API_ATTRIBUTES, legacy_only, REQUIRED_API_ATTRIBUTES):
        for metrics in (API_METRICS, ()):
            for flt in (False, True):
                docs.append(endpoints_query(attrs, metrics, service_filter=flt))
    return docs

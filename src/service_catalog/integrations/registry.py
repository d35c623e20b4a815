"""The installed integrations, found through the ``service_catalog.connectors`` entry points.

Every connector package (built in, or shipped as a distribution of its own) names one
:class:`~service_catalog.integrations.connectors.base.Integration` in that entry-point
group (``pyproject.toml``: ``[project.entry-points."service_catalog.connectors"]``, the
entry point's name being the integration's); adding an integration is adding a package and
that one line. This module also checks an instance's ``config`` against its integration's
config model.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from sqlalchemy import case

from service_catalog.core import outbound
from service_catalog.core.errors import bad_request, invalid_request
from service_catalog.integrations.connectors.base import (
    DESCRIPTOR_KEYS,
    Connector,
    Credential,
    Integration,
    UpstreamHTTP,
)
from service_catalog.integrations.connectors.config import config_faults

if TYPE_CHECKING:
    from service_catalog.integrations.models import IntegrationInstance

log = logging.getLogger("service_catalog.integrations")

#: The entry-point group connector packages register in.
ENTRY_POINT_GROUP = "service_catalog.connectors"
REQUIRED_KEYS = DESCRIPTOR_KEYS

_cache: dict[str, Integration] | None = None
_lock = threading.Lock()


def _discover() -> dict[str, Integration]:
    found: dict[str, Integration] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            integ = ep.load()
        except Exception:  # a broken third-party package must not take the catalog down
            log.exception("connector entry point %s (%s) cannot be loaded", ep.name, ep.value)
            continue
        if not isinstance(integ, Integration):
            log.error("connector entry point %s (%s) is not an Integration", ep.name, ep.value)
            continue
        if integ.name != ep.name:
            log.error(
                "connector entry point %s names integration %s; the names must match",
                ep.name,
                integ.name,
            )
            continue
        if integ.name in found:
            log.error(
                "integration %s is registered twice (%s, %s); the first one counts",
                integ.name,
                found[integ.name].module or "?",
                ep.value,
            )
            continue
        found[integ.name] = integ if integ.module else _with_module(integ, ep.value)
    return found


def _with_module(integ: Integration, where: str) -> Integration:
    object.__setattr__(integ, "module", where)  # where it was found, for messages
    return integ


def integrations() -> dict[str, Integration]:
    """Every shipped integration by name (discovered once per process)."""
    global _cache
    if _cache is None:
        with _lock:
            if _cache is None:
                _cache = _discover()
    return _cache


def reload() -> dict[str, Integration]:
    """Read the entry points again (after installing a connector at runtime, e.g. in
    tests)."""
    global _cache
    with _lock:
        _cache = _discover()
    return _cache


def get_integration(name: str) -> Integration | None:
    """The integration named ``name``, or None."""
    return integrations().get(name)


def require_integration(name: str) -> Integration:
    """The integration named ``name``; a 400 on ``integration_name`` listing the installed
    ones when there is none."""
    integ = get_integration(name)
    if integ is None:
        known = [i.name for i in list_integrations()]
        raise bad_request(
            f"Invalid request: integration [{name}] does not exist (known: {', '.join(known)})",
            "integration_name",
            f"integration [{name}] does not exist",
            rule="enum",
            choices=known,
        )
    return integ


def resource_types_for(name: str, config: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The resource types (name -> declaration) an instance of integration ``name`` with
    ``config`` holds; None when the integration is not installed."""
    integ = get_integration(name)
    return integ.resource_types_for(config) if integ else None


def get_descriptor(name: str) -> dict[str, Any] | None:
    """The ``CatalogIntegration`` descriptor of ``name``, or None."""
    integ = get_integration(name)
    return dict(integ.descriptor) if integ else None


def list_integrations() -> list[Integration]:
    """Every shipped integration, by display name."""
    return sorted(integrations().values(), key=lambda i: (i.display_name, i.name))


def contributed_routers() -> list[Any]:
    """The FastAPI routers the installed integrations contribute (each one's declared
    ``routes``, ``"module:attribute"``), imported here, by the app only."""
    out: list[Any] = []
    for integ in list_integrations():
        if integ.routes:
            module, _, attr = integ.routes.partition(":")
            out.append(getattr(importlib.import_module(module), attr or "router"))
    return out


def indexed_data_paths() -> tuple[str, ...]:
    """The ``integration_data`` paths the installed integrations declare indexed
    (``Integration.indexed_data``), all together and sorted: every resource's values at
    these paths are kept in the resource index, whichever integration it belongs to."""
    global _indexed
    found = integrations()
    cached = _indexed
    if cached is None or cached[0] is not found:  # (computed again after a reload)
        paths = tuple(sorted({p for integ in found.values() for p in integ.indexed_data}))
        cached = _indexed = (found, paths)
    return cached[1]


_indexed: tuple[dict[str, Integration], tuple[str, ...]] | None = None


def display_name_of(name: str) -> str:
    """The display name of integration ``name`` (its name when it is not shipped)."""
    integ = get_integration(name)
    return integ.display_name if integ else name


def display_name_sql(name_column: Any) -> Any:
    """SQL for :func:`display_name_of` over a column holding integration names, for filters
    and sorts (descriptors are data in code, so a ``CASE``)."""
    names = {n: i.display_name for n, i in integrations().items()}
    return case(names, value=name_column, else_=name_column) if names else name_column


def connector_for(
    instance: IntegrationInstance,
    credential: Credential | None,
    *,
    http: UpstreamHTTP | None = None,
) -> Connector | None:
    """A connector for ``instance`` with its (decrypted) credential; None when the
    integration is push-only. LookupError when the integration is not shipped."""
    integ = get_integration(instance.integration_name)
    if integ is None:
        raise LookupError(f"integration [{instance.integration_name}] is not installed")
    if integ.connector is None:
        return None
    return integ.connector(
        config=effective_config(integ, instance.config), credential=credential, http=http
    )


def effective_config(integ: Integration, config: Mapping[str, Any] | None) -> dict[str, Any]:
    """An instance's stored config (as the client sent it) with the integration's defaults
    filled in for the fields it left out: what a connector works with."""
    out = {k: v for k, v in (config or {}).items() if v is not None}
    for key, spec in integ.config_schema.items():
        if key not in out and "default" in spec:
            out[key] = spec["default"]
    return out


def upstream_origin(integ: Integration | None, config: Mapping[str, Any] | None) -> str | None:
    """The origin (``scheme://host:port``) an instance's connector talks to: that of its
    effective ``base_url``; None when it has none (or none that is an http(s) URL)."""
    if integ is None or integ.connector is None:
        return None
    base_url = integ.upstream_base_url(effective_config(integ, config))
    if not isinstance(base_url, str) or not base_url.strip():
        return None
    try:
        return outbound.origin_of(base_url)
    except outbound.OutboundRefused:
        return None


def instance_origin(instance: IntegrationInstance) -> str | None:
    """:func:`upstream_origin` of a stored instance."""
    return upstream_origin(get_integration(instance.integration_name), instance.config)


# --- config validation ----------------------------------------------------------------


def validate_config(
    integ: Integration,
    config: Mapping[str, Any] | None,
    *,
    current: Mapping[str, Any] | None = None,
    authorized: bool = False,
) -> dict[str, Any]:
    """The instance config ``config`` checked against the integration's config model.

    Types, bounds, enum choices and required fields are checked; unknown keys are refused
    (``unknown_property``); a null value counts as missing; a ``base_url`` must pass the
    outbound policy (:mod:`service_catalog.core.outbound`). The result holds what was
    given, as given: defaults are not written into it (:func:`effective_config` applies
    them where the config is used), so a client reads back exactly what it sent. With
    ``current`` (an update of an authorized instance), fields whose
    ``mutable_condition`` is ``unauthorized`` may not change. Raises a 400 Problem listing
    every fault.
    """
    schema = integ.config_schema
    # A null value counts as missing; an unknown key is refused whatever its value.
    given = {k: v for k, v in (config or {}).items() if v is not None or k not in schema}
    problems = config_faults(integ.config, given, integ.name)
    faulty = {p["field"] for p in problems}
    for key, spec in schema.items():
        if (
            key == "base_url"
            and spec.get("type") == "string"
            and key in given
            and f"config.{key}" not in faulty
        ):
            try:
                outbound.check_base_url(given[key])
            except outbound.OutboundRefused as exc:
                problems.append(
                    {
                        "field": f"config.{key}",
                        "rule": "invalid",
                        "reason": str(exc),
                        "source": "body",
                    }
                )
    order = {f"config.{key}": i for i, key in enumerate(schema)}
    problems.sort(key=lambda p: (p["rule"] != "unknown_property", order.get(p["field"], -1)))
    out = {k: v for k, v in given.items() if k in schema}
    if current is not None and authorized:
        after, before = effective_config(integ, out), effective_config(integ, current)
        for key, spec in schema.items():
            if spec.get("mutable_condition") == "unauthorized" and after.get(key) != before.get(
                key
            ):
                problems.append(
                    {
                        "field": f"config.{key}",
                        "rule": "invalid",
                        "reason": "cannot change while the instance is authorized; "
                        "delete its auth credential first",
                        "source": "body",
                    }
                )
    if problems:
        raise invalid_request(problems)
    return out


__all__ = [
    "ENTRY_POINT_GROUP",
    "Integration",
    "connector_for",
    "contributed_routers",
    "display_name_of",
    "display_name_sql",
    "effective_config",
    "get_descriptor",
    "get_integration",
    "indexed_data_paths",
    "instance_origin",
    "integrations",
    "list_integrations",
    "reload",
    "require_integration",
    "resource_types_for",
    "upstream_origin",
    "validate_config",
]

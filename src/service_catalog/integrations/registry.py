"""The integrations we ship, discovered from :mod:`service_catalog.integrations.connectors`.

Each connector module exposes ``DESCRIPTOR`` (a dict shaped like the contract's
``CatalogIntegration``) and ``CONNECTOR`` (a :class:`Connector` subclass, or None for a
push-only integration). Adding an integration is adding one module; nothing else lists
them. This module also validates an instance's ``config`` against its integration's
``config_schema``.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from service_catalog.core import outbound
from service_catalog.core.errors import Problem
from service_catalog.integrations import connectors as connectors_pkg
from service_catalog.integrations.connectors.base import Connector, Credential, UpstreamHTTP

if TYPE_CHECKING:
    from service_catalog.integrations.models import IntegrationInstance

log = logging.getLogger("service_catalog.integrations")

REQUIRED_KEYS = ("name", "display_name", "description", "built_in", "version", "visibility",
                 "authorization", "config_schema", "resource_types", "discovery",
                 "api_spec_provider", "events")
FIELD_TYPES = ("string", "enum", "boolean", "integer")
MAX_STRING = 2048


@dataclass(frozen=True)
class Integration:
    """One shipped integration: its descriptor and its connector class (None: push-only)."""

    descriptor: Mapping[str, Any]
    connector: type[Connector] | None
    module: str

    @property
    def name(self) -> str:
        """The integration's machine name."""
        return str(self.descriptor["name"])

    @property
    def display_name(self) -> str:
        """The integration's display name."""
        return str(self.descriptor["display_name"])

    @property
    def auth_type(self) -> str | None:
        """The credential type the integration takes (``multi_key_auth``...), or None."""
        auth = self.descriptor.get("authorization")
        return str(auth["type"]) if isinstance(auth, Mapping) and auth.get("type") else None

    @property
    def auth_headers(self) -> list[str]:
        """The header names a ``multi_key_auth`` integration expects."""
        auth = self.descriptor.get("authorization") or {}
        headers = (auth.get("config") or {}).get("headers") or []
        return [str(h["name"]) for h in headers]

    @property
    def config_schema(self) -> Mapping[str, Any]:
        """The integration's config fields by name."""
        return self.descriptor.get("config_schema") or {}

    @property
    def push_only(self) -> bool:
        """True when nothing is polled (no connector): authorized without a credential."""
        return self.connector is None


_cache: dict[str, Integration] | None = None
_lock = threading.Lock()


def _check_descriptor(desc: Any, module: str) -> None:
    if not isinstance(desc, Mapping):
        raise TypeError(f"{module}.DESCRIPTOR must be a dict")
    missing = [k for k in REQUIRED_KEYS if k not in desc]
    if missing:
        raise TypeError(f"{module}.DESCRIPTOR lacks {', '.join(missing)}")
    for key, spec in (desc["config_schema"] or {}).items():
        if not isinstance(spec, Mapping) or spec.get("type") not in FIELD_TYPES:
            raise TypeError(f"{module}.DESCRIPTOR config_schema.{key} has no known type")


def _discover() -> dict[str, Integration]:
    found: dict[str, Integration] = {}
    for info in pkgutil.iter_modules(connectors_pkg.__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        modname = f"{connectors_pkg.__name__}.{info.name}"
        module = importlib.import_module(modname)
        desc = getattr(module, "DESCRIPTOR", None)
        if desc is None:
            continue
        _check_descriptor(desc, modname)
        connector = getattr(module, "CONNECTOR", None)
        integ = Integration(descriptor=desc, connector=connector, module=modname)
        if integ.name in found:
            raise TypeError(f"integration {integ.name} is defined twice ({modname}, "
                            f"{found[integ.name].module})")
        found[integ.name] = integ
    return found


def integrations() -> dict[str, Integration]:
    """Every shipped integration by name (discovered once per process)."""
    global _cache
    if _cache is None:
        with _lock:
            if _cache is None:
                _cache = _discover()
    return _cache


def reload() -> dict[str, Integration]:
    """Discover the connector modules again (after adding one at runtime, e.g. in tests)."""
    global _cache
    with _lock:
        _cache = _discover()
    return _cache


def get_integration(name: str) -> Integration | None:
    """The integration named ``name``, or None."""
    return integrations().get(name)


def get_descriptor(name: str) -> dict[str, Any] | None:
    """The ``CatalogIntegration`` descriptor of ``name``, or None."""
    integ = get_integration(name)
    return dict(integ.descriptor) if integ else None


def list_integrations() -> list[Integration]:
    """Every shipped integration, by display name."""
    return sorted(integrations().values(), key=lambda i: (i.display_name, i.name))


def display_name_of(name: str) -> str:
    """The display name of integration ``name`` (its name when it is not shipped)."""
    integ = get_integration(name)
    return integ.display_name if integ else name


def connector_for(instance: IntegrationInstance, credential: Credential | None, *,
                  http: UpstreamHTTP | None = None) -> Connector | None:
    """A connector for ``instance`` with its (decrypted) credential; None when the
    integration is push-only. LookupError when the integration is not shipped."""
    integ = get_integration(instance.integration_name)
    if integ is None:
        raise LookupError(f"integration [{instance.integration_name}] is not installed")
    if integ.connector is None:
        return None
    return integ.connector(config=effective_config(integ, instance.config), credential=credential,
                           http=http)


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
    base_url = effective_config(integ, config).get("base_url")
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


def _param(key: str, rule: str, reason: str, **extra: Any) -> dict[str, Any]:
    return {"field": f"config.{key}", "rule": rule, "reason": reason, "source": "body", **extra}


def _check_value(key: str, spec: Mapping[str, Any], value: Any) -> dict[str, Any] | None:
    ftype = spec.get("type")
    if ftype == "string":
        if not isinstance(value, str):
            return _param(key, "is_string", "must be a string")
        if len(value) > MAX_STRING:
            return _param(key, "max_length", f"must not have more than {MAX_STRING} characters",
                          maximum=MAX_STRING)
    elif ftype == "boolean":
        if not isinstance(value, bool):
            return _param(key, "is_boolean", "must be a boolean")
    elif ftype == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            return _param(key, "is_integer", "must be an integer")
        if "minimum" in spec and value < spec["minimum"]:
            return _param(key, "min", f"must be at least {spec['minimum']}",
                          minimum=spec["minimum"])
        if "maximum" in spec and value > spec["maximum"]:
            return _param(key, "max", f"must be at most {spec['maximum']}",
                          maximum=spec["maximum"])
    elif ftype == "enum":
        choices = [str(c["value"]) for c in spec.get("choices") or []]
        if not isinstance(value, str) or value not in choices:
            return _param(key, "enum", f"must be one of {', '.join(choices)}", choices=choices)
    return None


def validate_config(integ: Integration, config: Mapping[str, Any] | None, *,
                    current: Mapping[str, Any] | None = None, authorized: bool = False
                    ) -> dict[str, Any]:
    """The instance config ``config`` checked against the integration's config_schema.

    Types, enum choices and required fields are checked; unknown keys are refused
    (``unknown_property``); a null value counts as missing; a ``base_url`` must pass the
    outbound policy (:mod:`service_catalog.core.outbound`). The result holds what was
    given, as given: defaults are not written into it (:func:`effective_config` applies
    them where the config is used), so a client reads back exactly what it sent. With
    ``current`` (an update of an authorized instance), fields whose
    ``mutable_condition`` is ``unauthorized`` may not change. Raises a 400 Problem listing
    every fault.
    """
    schema = integ.config_schema
    given = dict(config or {})
    problems: list[dict[str, Any]] = []
    for key in given:
        if key not in schema:
            known = ", ".join(schema) or "none"
            problems.append(_param(key, "unknown_property",
                                   f"is not a config field of integration {integ.name} "
                                   f"(known: {known})"))
    out: dict[str, Any] = {}
    for key, spec in schema.items():
        value = given.get(key)
        if value is None:
            if "default" not in spec and spec.get("required"):
                problems.append(_param(key, "required", "is a required config field"))
            continue
        fault = _check_value(key, spec, value)
        if fault is None and key == "base_url" and spec.get("type") == "string":
            try:
                outbound.check_base_url(value)
            except outbound.OutboundRefused as exc:
                fault = _param(key, "invalid", str(exc))
        if fault:
            problems.append(fault)
            continue
        out[key] = value
    if current is not None and authorized:
        after, before = effective_config(integ, out), effective_config(integ, current)
        for key, spec in schema.items():
            if spec.get("mutable_condition") == "unauthorized" and \
                    after.get(key) != before.get(key):
                problems.append(_param(key, "invalid",
                                       "cannot change while the instance is authorized; "
                                       "delete its auth credential first"))
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise Problem(400, f"Invalid request: {first['field']} {first['reason']}{more}",
                      invalid_parameters=problems)
    return out


__all__ = ["Integration", "connector_for", "display_name_of", "effective_config",
           "get_descriptor", "get_integration", "instance_origin", "integrations",
           "list_integrations", "reload", "upstream_origin", "validate_config"]

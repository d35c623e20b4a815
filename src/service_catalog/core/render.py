"""Rendering values the way the contract writes them (no web framework: the domains use
these, and the command line imports the domains without FastAPI; the responses are in
:mod:`service_catalog.core.responses`)."""

from __future__ import annotations

import datetime as dt
from typing import Any


def ts(value: dt.datetime | None) -> str | None:
    """An RFC 3339 UTC timestamp with a ``Z`` suffix."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def attrs(obj: Any, *names: str) -> dict[str, Any]:
    """``obj``'s attributes ``names`` by name, in that order, for a body that shows them as
    they are."""
    return {name: getattr(obj, name) for name in names}

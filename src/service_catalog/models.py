"""Imports every domain's models so that ``Base.metadata`` knows all tables."""

from __future__ import annotations

import importlib

from service_catalog.core.db import Base

MODEL_MODULES = [
    "service_catalog.auth.models",
    "service_catalog.events.models",
    "service_catalog.catalog_services.models",
    "service_catalog.integrations.models",
    "service_catalog.resources.models",
    "service_catalog.sync.models",
]


def load_all() -> type[Base]:
    """Import every model module that exists; returns the declarative base."""
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue
            raise
    return Base

"""Rules of resources and resource mappings: the only place that changes them.

The public service functions of the domain, each defined in the module of its job:
``queries`` (lookups and lists), ``rendering`` (the contract's shapes), ``validation``
(what a type and config must be), ``commands`` (initialize, push, archive), ``mappings``
(resource mappings) and ``ingest`` (the set-based upsert behind syncs and pushes).
Routers and other domains import them from here.
"""

from __future__ import annotations

# Routers find the instance a path names through this facade too.
from service_catalog.integrations.instances import find_instance, get_instance
from service_catalog.resources.commands import (
    initialize_resource,
    push_resources,
    update_resource,
)
from service_catalog.resources.mappings import (
    DEFAULT_MAPPING_SORT,
    MAPPING_SORTS,
    create_mapping,
    delete_mapping,
    get_mapping,
    list_mappings,
)
from service_catalog.resources.queries import (
    DEFAULT_RESOURCE_SORT,
    RESOURCE_SORTS,
    get_resource,
    list_resource_services,
    list_resources,
    list_service_resources,
    resource_facets,
    resource_filters,
    top_mapped_by_data,
)
from service_catalog.resources.rendering import (
    integration_ref,
    mapping_dicts,
    resource_dicts,
    to_dict,
)
from service_catalog.resources.validation import (
    MAX_CONFIG_BYTES,
    check_resource,
    descriptor_of,
)

__all__ = [
    "DEFAULT_MAPPING_SORT",
    "DEFAULT_RESOURCE_SORT",
    "MAPPING_SORTS",
    "MAX_CONFIG_BYTES",
    "RESOURCE_SORTS",
    "check_resource",
    "create_mapping",
    "delete_mapping",
    "descriptor_of",
    "find_instance",
    "get_instance",
    "get_mapping",
    "get_resource",
    "initialize_resource",
    "integration_ref",
    "list_mappings",
    "list_resource_services",
    "list_resources",
    "list_service_resources",
    "mapping_dicts",
    "push_resources",
    "resource_dicts",
    "resource_facets",
    "resource_filters",
    "to_dict",
    "top_mapped_by_data",
    "update_resource",
]

"""Request and response shapes of resources and resource mappings, as the contract defines them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from service_catalog.core.pages import NumberedList

ResourceType = Annotated[str, StringConstraints(min_length=1, max_length=120, strict=True)]
ResourceName = Annotated[str, StringConstraints(min_length=1, max_length=255, strict=True)]
ResourceIdStr = Annotated[
    str,
    StringConstraints(min_length=16, max_length=16, strict=True, pattern=r"^[A-Za-z0-9_-]{16}$"),
]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=255, strict=True)]

MAX_PUSH_ITEMS = 1000


class ResourceInitialize(BaseModel):
    """Body of ``POST /v1/integration-instances/{id}/resources``: initialize a resource that
    the integration hydrates (name, integration_data) on its next sync."""

    model_config = ConfigDict(extra="forbid")

    type: ResourceType = Field(examples=["custom_resource"])
    config: dict[str, Any] = Field(examples=[{"id": "abc"}])


class ResourcePushItem(BaseModel):
    """One item of ``PUT /v1/integration-instances/{id}/resources``."""

    model_config = ConfigDict(extra="forbid")

    name: ResourceName | None = Field(default=None, examples=["billing-db"])
    type: ResourceType = Field(examples=["custom_resource"])
    config: dict[str, Any] = Field(examples=[{"id": "billing-db"}])
    integration_data: dict[str, Any] | None = Field(default=None, examples=[{"tier": "1"}])


class ResourcePush(BaseModel):
    """Body of ``PUT /v1/integration-instances/{id}/resources``: a bulk upsert of up to 1000
    resources (push integrations). Resources not in the body are left alone."""

    model_config = ConfigDict(extra="forbid")

    data: list[ResourcePushItem] = Field(max_length=MAX_PUSH_ITEMS)


class ResourceUpdate(BaseModel):
    """Body of ``PATCH /v1/integration-instances/{iid}/resources/{rid}``."""

    model_config = ConfigDict(extra="forbid")

    archived: StrictBool | None = None


class ResourceByConfig(BaseModel):
    """A resource named by its instance (id or name), type and config."""

    model_config = ConfigDict(extra="forbid")

    integration_instance: Ref
    type: ResourceType
    config: dict[str, Any]


class ResourceMappingCreate(BaseModel):
    """Body of ``POST /v1/resource-mappings``: ``service`` by id or name, ``resource`` by id
    or by ``{integration_instance, type, config}`` (initialized when it does not exist)."""

    model_config = ConfigDict(extra="forbid")

    service: Ref = Field(examples=["user-svc"])
    # A resource id (string) or a ResourceByConfig object; checked by the service layer so
    # that errors name ``resource.<field>`` rather than pydantic's union branches.
    resource: Any = Field(
        examples=[
            "4UdXnoaDYYJsH_Ir",
            {
                "integration_instance": "custom-prod",
                "type": "custom_resource",
                "config": {"id": "abc"},
            },
        ]
    )


class InstanceRef(BaseModel):
    """``integration.instance`` of a resource."""

    id: uuid.UUID
    name: str
    display_name: str


class IntegrationRef(BaseModel):
    """``integration`` of a resource."""

    name: str
    display_name: str
    instance: InstanceRef


class ResourceRead(BaseModel):
    """A resource as the API returns it (``CatalogResource``), plus ``discovered`` (false
    once a complete sync no longer returned it) and ``last_discovered_at``."""

    id: str
    name: str | None
    integration: IntegrationRef
    type: str
    config: dict[str, Any]
    integration_data: dict[str, Any] | None
    archived: bool
    service_associations: int
    discovered: bool
    last_discovered_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class CursorPage(BaseModel):
    """``meta.page`` of a cursor-paged list."""

    size: int
    first: str | None = None
    next: str | None
    previous: str | None


class CursorMeta(BaseModel):
    """``meta`` of a cursor-paged list."""

    page: CursorPage


class ResourceList(BaseModel):
    """A cursor page of resources."""

    data: list[ResourceRead]
    meta: CursorMeta


class PushSummary(BaseModel):
    """What a bulk upsert did."""

    created: int
    updated: int
    unchanged: int


class ResourcePushResult(BaseModel):
    """Response of a bulk upsert: the upserted resources in request order (duplicates once)
    and counts."""

    data: list[ResourceRead]
    meta: PushSummary


class ResourceRef(BaseModel):
    """``CatalogResourceRef``."""

    id: str
    name: str | None
    integration: IntegrationRef
    type: str
    config: dict[str, Any]


class ServiceRef(BaseModel):
    """``CatalogServiceRef``."""

    id: uuid.UUID
    name: str
    display_name: str


class ResourceMappingRead(BaseModel):
    """``CatalogResourceMapping``."""

    id: uuid.UUID
    resource: ResourceRef
    service: ServiceRef
    created_at: dt.datetime


class ResourceMappingList(NumberedList[ResourceMappingRead]):
    """A page of resource mappings."""


class ServiceResourceList(NumberedList[ResourceRead]):
    """A page of the resources mapped to a service."""

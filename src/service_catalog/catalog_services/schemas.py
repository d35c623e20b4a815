"""Request and response shapes of catalog services, as the contract defines them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from service_catalog.core.pages import PaginatedMeta
from service_catalog.core.validation import check_custom_fields, check_labels

ServiceName = Annotated[
    str, StringConstraints(min_length=1, max_length=120, pattern=r"^[0-9a-z.-]+$", strict=True)
]
DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=120, strict=True)]
Description = Annotated[str, StringConstraints(max_length=2048, strict=True)]


class CatalogServiceCreate(BaseModel):
    """Body of ``POST /v1/catalog-services``."""

    model_config = ConfigDict(extra="forbid")

    name: ServiceName = Field(examples=["user-svc"])
    display_name: DisplayName = Field(examples=["User Service"])
    description: Description | None = None
    labels: dict[str, Any] | None = Field(default=None, examples=[{"env": "test"}])
    custom_fields: dict[str, Any] | None = Field(default=None, examples=[{"owner": "John"}])

    @field_validator("labels", mode="after")
    @classmethod
    def _labels(cls, v: Any) -> Any:
        return check_labels(v, allow_null_values=False)

    @field_validator("custom_fields", mode="after")
    @classmethod
    def _custom(cls, v: Any) -> Any:
        return check_custom_fields(v)


class CatalogServiceUpdate(BaseModel):
    """Body of ``PATCH /v1/catalog-services/{id}``.

    A label or custom field set to null is removed.
    """

    model_config = ConfigDict(extra="forbid")

    name: ServiceName | None = None
    display_name: DisplayName | None = None
    description: Description | None = None
    labels: dict[str, Any] | None = None
    custom_fields: dict[str, Any] | None = None

    @field_validator("labels", mode="after")
    @classmethod
    def _labels(cls, v: Any) -> Any:
        return check_labels(v, allow_null_values=True)

    @field_validator("custom_fields", mode="after")
    @classmethod
    def _custom(cls, v: Any) -> Any:
        return check_custom_fields(v)


class CatalogServiceRead(BaseModel):
    """A catalog service as the API returns it."""

    id: uuid.UUID
    name: str
    display_name: str
    description: str | None
    labels: dict[str, str]
    custom_fields: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


class CatalogServiceList(BaseModel):
    """A page of catalog services."""

    data: list[CatalogServiceRead]
    meta: PaginatedMeta

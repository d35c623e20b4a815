"""Request and response shapes of catalog services, as the contract defines them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service_catalog.core.pages import NumberedList
from service_catalog.core.validation import CustomFields, LabelChanges, Labels

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
    labels: Labels | None = Field(default=None, examples=[{"env": "test"}])
    custom_fields: CustomFields | None = Field(default=None, examples=[{"owner": "John"}])


class CatalogServiceUpdate(BaseModel):
    """Body of ``PATCH /v1/catalog-services/{id}``.

    A label or custom field set to null is removed.
    """

    model_config = ConfigDict(extra="forbid")

    name: ServiceName | None = None
    display_name: DisplayName | None = None
    description: Description | None = None
    labels: LabelChanges | None = None
    custom_fields: CustomFields | None = None


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


class CatalogServiceList(NumberedList[CatalogServiceRead]):
    """A page of catalog services."""


# --- service documents (an extension) ------------------------------------------------

Title = Annotated[str, StringConstraints(min_length=1, max_length=255, strict=True)]
Content = Annotated[str, StringConstraints(max_length=262_144, strict=True)]


class DocumentCreate(BaseModel):
    """Body of ``POST /v1/catalog-services/{id}/documents``: a title and markdown."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    content: Content = ""


class DocumentUpdate(BaseModel):
    """Body of ``PATCH /v1/catalog-services/{id}/documents/{documentId}``."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    content: Content | None = None


class DocumentRead(BaseModel):
    """A service document (markdown, as stored)."""

    id: uuid.UUID
    service_id: uuid.UUID
    title: str
    content: str
    created_at: dt.datetime
    updated_at: dt.datetime


class DocumentList(NumberedList[DocumentRead]):
    """A page of a service's documents."""

"""Request and response shapes of APIs (Konnect's API Builder, ``/v3/apis``) and of API
mappings (the catalog contract's ``CatalogServiceApiMapping``)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service_catalog.core.pages import NumberedList
from service_catalog.core.validation import Labels

ApiName = Annotated[str, StringConstraints(min_length=1, max_length=255, strict=True)]
Slug = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255, pattern=r"^[a-z0-9][a-z0-9_-]*$", strict=True),
]
Description = Annotated[str, StringConstraints(max_length=4096, strict=True)]
SpecType = Literal["oas2", "oas3", "asyncapi"]
#: Specification text (the request body as a whole is capped by the server's body limit).
SpecContent = Annotated[str, StringConstraints(max_length=1_000_000, strict=True)]


class ApiCreate(BaseModel):
    """Body of ``POST /v3/apis``. ``name`` + ``version`` must be unique; ``slug`` defaults to
    ``slugify(name + version)``; ``spec_content`` adds a specification in the same call."""

    model_config = ConfigDict(extra="forbid")

    name: ApiName = Field(examples=["Orders API"])
    description: Description | None = None
    version: ApiName | None = Field(default=None, examples=["1.0.0"])
    slug: Slug | None = None
    labels: Labels | None = None
    attributes: dict[str, Any] | None = None
    spec_content: SpecContent | None = None


class ApiUpdate(BaseModel):
    """Body of ``PATCH /v3/apis/{apiId}``: the fields given replace the stored ones."""

    model_config = ConfigDict(extra="forbid")

    name: ApiName | None = None
    description: Description | None = None
    version: ApiName | None = None
    slug: Slug | None = None
    labels: Labels | None = None
    attributes: dict[str, Any] | None = None


class Portal(BaseModel):
    """A portal an API is published to (a self-hosted catalog has none)."""

    id: str
    name: str
    display_name: str


class ApiRead(BaseModel):
    """An API as ``/v3/apis`` returns it."""

    id: uuid.UUID
    name: str
    description: str | None
    version: str | None
    slug: str
    api_spec_ids: list[uuid.UUID]
    portals: list[Portal]
    labels: dict[str, str]
    attributes: dict[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ApiList(NumberedList[ApiRead]):
    """A page of APIs."""


class ApiSpecCreate(BaseModel):
    """Body of ``POST /v3/apis/{apiId}/specifications``: the document's text (JSON or YAML)
    and optionally its type (checked against the document)."""

    model_config = ConfigDict(extra="forbid")

    content: SpecContent
    type: SpecType | None = None


class ValidationMessage(BaseModel):
    """A problem found in a stored specification (none: invalid ones are refused)."""

    message: str


class ApiSpecRead(BaseModel):
    """A specification document of an API."""

    id: uuid.UUID
    content: str
    validation_messages: list[ValidationMessage]
    type: SpecType
    created_at: dt.datetime
    updated_at: dt.datetime


class ApiSpecList(NumberedList[ApiSpecRead]):
    """A page of an API's specification documents."""


class ApiMappingCreate(BaseModel):
    """Body of ``POST /v1/catalog-services/{serviceId}/api-mappings``."""

    model_config = ConfigDict(extra="forbid")

    api_id: uuid.UUID


class ApiMappingRead(BaseModel):
    """The contract's ``CatalogServiceApiMapping``."""

    id: uuid.UUID
    service_id: uuid.UUID
    api_id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime


class ApiMappingList(NumberedList[ApiMappingRead]):
    """A page of API mappings."""

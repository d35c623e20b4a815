"""Request and response shapes of dependencies (an extension: Konnect has none)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service_catalog.core.pages import NumberedList

Label = Annotated[
    str,
    StringConstraints(min_length=1, max_length=60, pattern=r"^[a-z0-9][a-z0-9_.-]*$", strict=True),
]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=120, strict=True)]


class DependencyCreate(BaseModel):
    """Body of ``POST /v1/catalog-services/{id}/dependencies``: the service depends on
    ``target`` (its id or name), optionally saying how (``calls``, ``reads-from``)."""

    model_config = ConfigDict(extra="forbid")

    target: Ref = Field(examples=["orders"])
    label: Label | None = Field(default=None, examples=["calls"])


class ServiceSummary(BaseModel):
    """The catalog service at the other end of an edge."""

    id: uuid.UUID
    name: str
    display_name: str


class DependencyRead(BaseModel):
    """One edge: ``source_id`` depends on ``target_id``."""

    id: uuid.UUID
    source_id: uuid.UUID
    target_id: uuid.UUID
    label: str | None
    status: Literal["confirmed", "proposed"]
    origin: str
    created_at: dt.datetime
    updated_at: dt.datetime


class DependencyReached(DependencyRead):
    """A service reached from the one asked about, at its shortest ``depth``, with the
    edge through which it is first reached (at depth 1, the service's own edge)."""

    depth: int
    service: ServiceSummary


class DependencyList(NumberedList[DependencyReached]):
    """A page of the services a service depends on (downstream) or that depend on it
    (upstream), nearest first."""


class ProposalList(BaseModel):
    """The edges a proposal run created."""

    data: list[DependencyRead]

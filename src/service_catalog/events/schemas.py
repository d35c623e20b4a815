"""Request and response shapes of integration events and audit entries
(``contracts/README.md``, "Integration events")."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

EventType = Annotated[
    str, StringConstraints(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.:-]+$", strict=True)
]
DedupId = Annotated[str, StringConstraints(min_length=1, max_length=255, strict=True)]
Detail = Annotated[str, StringConstraints(min_length=1, max_length=10_000, strict=True)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=120, strict=True)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=255, strict=True)]
ResourceId = Annotated[str, StringConstraints(min_length=1, max_length=32, strict=True)]
LinkHtml = Annotated[str, StringConstraints(max_length=4096, strict=True)]

MAX_EVENTS_PER_POST = 1000
MAX_ATTRIBUTES_BYTES = 64 * 1024


class EventActorIn(BaseModel):
    """Who did what the event tells, in the upstream system (a person, a bot)."""

    model_config = ConfigDict(extra="forbid")

    type: Annotated[str, StringConstraints(min_length=1, max_length=40, strict=True)] | None = None
    id: ShortText | None = None
    name: Name


class CreateIntegrationEvent(BaseModel):
    """One event pushed by an integration. ``service`` (id or name) or ``service_id`` names the
    catalog service it concerns; ``resource_id`` must be a resource of the same instance."""

    model_config = ConfigDict(extra="forbid")

    type: EventType = Field(examples=["pull_request.opened"])
    ts: dt.datetime | None = None
    service_id: uuid.UUID | None = None
    service: ShortText | None = Field(default=None, examples=["user-svc"])
    resource_id: ResourceId | None = None
    deduplication_id: DedupId = Field(examples=["pr-1234-opened"])
    attributes: dict[str, Any] | None = None
    detail: Detail = Field(examples=["Pull request #1234 opened"])
    link_html: LinkHtml | None = None
    actor: EventActorIn | None = None

    @field_validator("ts", mode="after")
    @classmethod
    def _ts(cls, v: dt.datetime | None) -> dt.datetime | None:
        if v is None:
            return None
        if v.tzinfo is None:
            v = v.replace(tzinfo=dt.UTC)
        try:
            return v.astimezone(dt.UTC)
        except OverflowError:
            raise ValueError("must be a date-time between years 1 and 9999 in UTC") from None

    @field_validator("attributes", mode="after")
    @classmethod
    def _attributes(cls, v: Any) -> Any:
        if v is not None and len(json.dumps(v, default=str)) > MAX_ATTRIBUTES_BYTES:
            raise ValueError(f"must not be larger than {MAX_ATTRIBUTES_BYTES} bytes as JSON")
        return v


class CreateIntegrationEvents(BaseModel):
    """Body of ``POST /v1/integration-instances/{id}/integration-events``."""

    model_config = ConfigDict(extra="forbid")

    data: list[CreateIntegrationEvent] = Field(min_length=1, max_length=MAX_EVENTS_PER_POST)


class IntegrationEventsAccepted(BaseModel):
    """Answer to a push: how many events were stored and how many were already known."""

    accepted: int
    duplicates: int


class EventActor(BaseModel):
    """An event's actor: ``token``/``system`` for audit entries, ``integration`` or the
    upstream's own actor for integration events."""

    type: str
    id: str
    name: str


class EventInstance(BaseModel):
    """The integration instance an event came from."""

    id: uuid.UUID
    name: str
    display_name: str


class EventIntegration(BaseModel):
    """The integration an event came from."""

    name: str
    display_name: str
    instance: EventInstance


class IntegrationEvent(BaseModel):
    """An integration event, or an audit entry (``integration: null``)."""

    id: uuid.UUID
    type: str
    ts: dt.datetime
    service_id: uuid.UUID | None
    resource_id: str | None
    deduplication_id: str | None
    actor: EventActor
    attributes: dict[str, Any]
    integration: EventIntegration | None
    binding: str | None
    detail: str
    link_html: str | None


class CursorMetaPage(BaseModel):
    """``meta.page`` of a cursor-paged list (paths under ``/v1``)."""

    size: int
    first: str
    next: str | None
    previous: str | None


class CursorMeta(BaseModel):
    """``meta`` of a cursor-paged list."""

    page: CursorMetaPage


class IntegrationEventList(BaseModel):
    """A page of events."""

    data: list[IntegrationEvent]
    meta: CursorMeta

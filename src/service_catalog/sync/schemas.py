"""Request and response shapes of resource ingestion (sync scheduling) and sync runs."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ResourceIngestionRequest(BaseModel):
    """Body of ``PUT /v1/integration-instances/{id}/resource-ingestion``: sync now."""

    model_config = ConfigDict(extra="forbid")

    ingest_from: dt.datetime | None = Field(
        default=None, description="Ingest upstream changes from this time on (optional)."
    )

    @field_validator("ingest_from", mode="before")
    @classmethod
    def _rfc3339_only(cls, value: object) -> object:
        # pydantic would read a number as a Unix timestamp; the contract says date-time.
        if value is not None and not isinstance(value, str | dt.datetime):
            raise ValueError("must be an RFC 3339 date-time string")
        return value


class SchedulerState(BaseModel):
    """Health of an instance's sync schedule: ok, or delayed/halted with why and what to do."""

    status: Literal["ok", "delayed", "halted"]
    reason: str | None = None
    remediation: str | None = None


class ResourceIngestion(BaseModel):
    """When an instance's resources were last scheduled for ingestion and are next."""

    last_scheduled: dt.datetime | None
    next_scheduled_at: dt.datetime | None
    scheduler_state: SchedulerState


class SyncRunRead(BaseModel):
    """One sync run: what triggered it, which worker ran it, what it changed, how it ended."""

    id: uuid.UUID
    trigger: Literal["schedule", "manual", "cli"]
    worker: str | None
    status: Literal["running", "succeeded", "failed"]
    started_at: dt.datetime
    finished_at: dt.datetime | None
    pages: int
    created: int
    updated: int
    unchanged: int
    vanished: int
    events: int
    error: str | None


class CursorPage(BaseModel):
    """``meta.page`` of a cursor-paged list."""

    size: int
    first: str | None = None
    next: str | None = None
    previous: str | None = None


class CursorMeta(BaseModel):
    """``meta`` of a cursor-paged list."""

    page: CursorPage


class SyncRunList(BaseModel):
    """A page of sync runs, newest first."""

    data: list[SyncRunRead]
    meta: CursorMeta

"""Sync schedule state per instance, and the record of every run."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service_catalog.core.db import Base, new_uuid, utcnow


class SyncState(Base):
    """When an instance syncs next, whether it may, and which worker holds it now.

    A worker takes an instance by setting ``lease_owner``/``lease_renewed_at`` under
    ``SELECT ... FOR UPDATE SKIP LOCKED`` and renews it (a heartbeat stamps
    ``lease_renewed_at``) while it syncs. A lease is free for another worker when its
    last heartbeat is older than the *reading* worker's lease timeout, or at once when its
    owner is a process of the reader's host that is gone (``sync.service``).
    """

    __tablename__ = "sync_states"

    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="CASCADE"), primary_key=True
    )
    interval_seconds: Mapped[int | None] = mapped_column(default=None)
    next_run_at: Mapped[dt.datetime | None] = mapped_column(default=None, index=True)
    last_scheduled_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    requested_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    ingest_from: Mapped[dt.datetime | None] = mapped_column(default=None)
    # ok | delayed | halted
    status: Mapped[str] = mapped_column(String(20), default="ok")
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    remediation: Mapped[str | None] = mapped_column(Text, default=None)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(120), default=None)
    # The lease holder's last heartbeat (no expiry is stamped: the reader's timeout rules).
    lease_renewed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # When the last complete poll of the upstream's events began (connectors that declare
    # ``polls_events``): the next poll asks for the events since then (less an overlap).
    events_polled_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class SyncRun(Base):
    """One sync of one instance: when, what it changed, and how it ended."""

    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_instance_started", "instance_id", "started_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="CASCADE")
    )
    trigger: Mapped[str] = mapped_column(String(20), default="schedule")
    worker: Mapped[str | None] = mapped_column(String(120), default=None)
    # running | succeeded | failed
    status: Mapped[str] = mapped_column(String(20), default="running")
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    pages: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    vanished: Mapped[int] = mapped_column(default=0)
    events: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class SyncPageDigest(Base):
    """An upstream page the last complete sync of an instance stored: the digest of its
    bytes (with what shapes its records), the ids of its resources and a digest of their
    stored state. A later sync that gets the same page, and finds those resources stored
    as they were, counts them unchanged without processing the page (``sync.pages``)."""

    __tablename__ = "sync_page_digests"

    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The page's resource ids, space-separated, in the order the page lists them.
    resource_ids: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(32))


class SyncConnectorState(Base):
    """What a connector that ``keeps_state`` kept at the end of an instance's last
    complete sync (e.g. the upstream's ETags for conditional requests): a mapping of
    strings, stored as zlib-compressed JSON. Nothing secret goes in it."""

    __tablename__ = "sync_connector_states"

    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)

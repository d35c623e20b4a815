"""Stored events: integration events from upstream systems and the audit trail of user actions."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Index, Integer, String, Text, cast
from sqlalchemy.orm import Mapped, mapped_column

from service_catalog.core.db import Base, new_uuid, utcnow


class Event(Base):
    """One event. Integration events carry an integration and instance; user actions
    (the audit trail) carry ``integration_name = None`` and a ``user``/``token`` actor.

    ``deduplication_id`` is unique per integration instance (or globally for audit
    entries), which makes posting the same event twice a no-op.

    The two feeds (``is_audit`` = 1 or 0) page by (ts, id) through indexes that lead with
    ``is_audit`` (defined below the class), so a page is a range of an index however rare
    its kind: ``ix_events_kind_ts_id`` for a whole feed, ``ix_events_service_kind_ts_id``
    for one service's.
    """

    __tablename__ = "events"
    __table_args__ = (Index("uq_events_dedup", "instance_id", "deduplication_id", unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    type: Mapped[str] = mapped_column(String(120), index=True)
    ts: Mapped[dt.datetime] = mapped_column(default=utcnow)
    service_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    resource_id: Mapped[str | None] = mapped_column(String(32), default=None)
    deduplication_id: Mapped[str | None] = mapped_column(String(255), default=None)
    actor_type: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[str] = mapped_column(String(120))
    actor_name: Mapped[str] = mapped_column(String(255))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    integration_name: Mapped[str | None] = mapped_column(String(120), default=None)
    integration_display_name: Mapped[str | None] = mapped_column(String(255), default=None)
    instance_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    instance_name: Mapped[str | None] = mapped_column(String(255), default=None)
    instance_display_name: Mapped[str | None] = mapped_column(String(255), default=None)
    binding: Mapped[str | None] = mapped_column(String(120), default=None)
    detail: Mapped[str] = mapped_column(Text, default="")
    link_html: Mapped[str | None] = mapped_column(Text, default=None)


#: 1 for an audit entry (a user action), 0 for an integration event; the lists compare it
#: to the feed's number. An integer, not the boolean ``integration_name IS NULL``:
#: PostgreSQL rewrites ``(x IS NULL) = false`` to ``x IS NOT NULL``, which no longer
#: matches an index on the boolean, and SQLite uses an index on an expression only for a
#: comparison of that very expression.
is_audit = cast(Event.integration_name.is_(None), Integer)

Index("ix_events_kind_ts_id", is_audit, Event.ts, Event.id)
Index("ix_events_service_kind_ts_id", Event.service_id, is_audit, Event.ts, Event.id)

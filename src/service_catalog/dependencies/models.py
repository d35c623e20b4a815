"""The dependency table: one directed edge between two catalog services."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service_catalog.core.db import Base, new_uuid, utcnow

CONFIRMED = "confirmed"
PROPOSED = "proposed"
#: ``origin`` of an edge created through the API.
MANUAL = "manual"


class Dependency(Base):
    """``source`` depends on ``target`` (``source`` calls, reads from... ``target``).

    ``label`` is ``''`` when none was given (so that the edge's uniqueness, source + target
    + label, holds without a NULL); ``origin`` says who made it (``manual``, an integration
    that proposed it, a catalog file's source). A ``proposed`` edge becomes ``confirmed``
    when someone confirms it; traversals follow confirmed edges unless asked otherwise.
    Deleting either service deletes the edge."""

    __tablename__ = "catalog_service_dependencies"
    __table_args__ = (
        UniqueConstraint(
            "source_id", "target_id", "label", name="uq_catalog_service_dependencies_edge"
        ),
        CheckConstraint("source_id <> target_id", name="ck_catalog_service_dependencies_no_self"),
        # A traversal step joins on one end and reads the other: each index covers one
        # direction's step (status, then the far end) without reading the rows.
        Index("ix_catalog_service_dependencies_down", "source_id", "status", "target_id", "id"),
        Index("ix_catalog_service_dependencies_up", "target_id", "status", "source_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    source_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_services.id", ondelete="CASCADE")
    )
    target_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_services.id", ondelete="CASCADE")
    )
    label: Mapped[str] = mapped_column(String(60), default="")
    status: Mapped[str] = mapped_column(String(16), default=CONFIRMED)
    origin: Mapped[str] = mapped_column(String(200), default=MANUAL)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

"""Resources and resource mappings."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from service_catalog.core.db import Base, JSONType, new_uuid, utcnow
from service_catalog.core.jsonindex import AttributeColumns


class Resource(Base):
    """An upstream object (a Traceable service, a repository...) known to the catalog.

    ``id`` is 16 characters of base64url derived from (instance, type, config), so the
    same upstream object always has the same id. ``content_hash`` covers name and
    integration_data: a sync writes a row only when it changes. ``discovered`` is false
    once a complete listing no longer returned the object (kept, mappings untouched).

    Lists page by (created_at, id) by default: ``filter[type]`` and
    ``filter[integration.name]`` each read an index that leads with the filtered column
    and goes on in that order, so a page is a range of the index, not a sort of every
    match (``ix_resources_integration_created_id`` serves the equality alone too, so it
    replaces the index on integration_name).
    """

    __tablename__ = "resources"
    __table_args__ = (
        Index("ix_resources_instance_type", "instance_id", "type"),
        Index("ix_resources_created_id", "created_at", "id"),
        Index("ix_resources_type_created_id", "type", "created_at", "id"),
        Index("ix_resources_integration_created_id", "integration_name", "created_at", "id"),
        Index("ix_resources_name", "name"),
    )

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="CASCADE")
    )
    integration_name: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(120))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    integration_data: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    content_hash: Mapped[str | None] = mapped_column(String(32), default=None)
    archived: Mapped[bool] = mapped_column(default=False)
    discovered: Mapped[bool] = mapped_column(default=True)
    last_seen_run_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    last_discovered_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    vanished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def sort_name(self) -> str:
        """The name as keyset paging orders it (``coalesce(name, '')``): a resource not
        hydrated yet sorts first instead of falling out of a name-sorted list."""
        return self.name or ""


class ResourceAttribute(AttributeColumns, Base):
    """One value inside a resource's ``config`` (every path) or its ``integration_data``
    (the paths the installed integrations declare, :class:`ResourceIndexedPath`), kept
    in step with it so that filters and facets on them read an index (see
    :mod:`service_catalog.core.jsonindex`). Config rows are written with the resource (a
    resource's config never changes); integration_data rows whenever the ingest path
    writes the resource's integration_data (created or changed)."""

    __tablename__ = "resource_attributes"
    __table_args__ = (
        Index("ix_resource_attributes_short", "path", "short", "resource_id"),
        # Only the numbers (most values are text): a comparison with num implies it is
        # not NULL, so both databases use this partial index; a sync writes a third fewer
        # index entries. The table is the primary key's b-tree on SQLite (no rowid).
        Index(
            "ix_resource_attributes_num",
            "path",
            "num",
            "resource_id",
            sqlite_where=text("num IS NOT NULL"),
            postgresql_where=text("num IS NOT NULL"),
        ),
        {"sqlite_with_rowid": False},
    )

    owner_id: Mapped[str] = mapped_column(
        "resource_id",
        String(16),
        ForeignKey("resources.id", ondelete="CASCADE"),
        primary_key=True,
    )


class ResourceIndexedPath(Base):
    """One ``integration_data`` path (``integration_data.endpoints.total``) whose values
    every resource has in ``resource_attributes``: the set the index was last built for.
    When the installed integrations declare another set, the app reindexes at start
    (:mod:`service_catalog.resources.dataindex`)."""

    __tablename__ = "resource_indexed_paths"

    path: Mapped[str] = mapped_column(String(200), primary_key=True)


class ResourceMapping(Base):
    """A resource mapped to a catalog service. Deleting either side removes the mapping."""

    __tablename__ = "resource_mappings"
    __table_args__ = (
        UniqueConstraint("service_id", "resource_id", name="uq_resource_mappings_service_resource"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    service_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_services.id", ondelete="CASCADE"), index=True
    )
    resource_id: Mapped[str] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)

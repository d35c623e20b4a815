"""The catalog service table."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service_catalog.core.db import Base, new_uuid, utcnow
from service_catalog.core.jsonindex import SHORT_MAX, AttributeColumns

#: The index a restricted principal's list reads (see :func:`..service.list_services`).
RESTRICTED_INDEX = "ix_catalog_services_id_display_name"


class CatalogService(Base):
    """A catalog service: unique machine name, display name, labels and custom fields."""

    __tablename__ = "catalog_services"
    # Covers filters on name/display_name and sorts by name, display_name or created_at:
    # a filtered list scans this narrow index instead of the wide rows (half the time of
    # a `contains` page over 100,000 services on SQLite).
    # (id, display_name): a restricted principal's list looks its services up by key and
    # sorts them by display_name from this index alone (no row read per service).
    __table_args__ = (
        Index("ix_catalog_services_list", "name", "display_name", "created_at", "id"),
        Index(RESTRICTED_INDEX, "id", "display_name"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    display_name: Mapped[str] = mapped_column(String(120), index=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class CatalogServiceAttribute(AttributeColumns, Base):
    """One value inside a catalog service's labels or custom fields, kept in step with
    them so that filters and facets on ``labels.*``/``custom_fields.*`` read an index
    (see :mod:`service_catalog.core.jsonindex`). Each row also carries its service's
    ``display_name`` (the lists' default sort): a label's index range is then already in
    list order, and a page of ``filter[labels.team]=core`` reads one page of entries
    instead of every match's service row (:func:`service_catalog.core.query.index_walk`)."""

    __tablename__ = "catalog_service_attributes"
    __table_args__ = (
        Index("ix_catalog_service_attributes_short", "path", "short", "display_name", "service_id"),
        Index("ix_catalog_service_attributes_num", "path", "num", "service_id"),
    )

    owner_id: Mapped[uuid.UUID] = mapped_column(
        "service_id",
        ForeignKey("catalog_services.id", ondelete="CASCADE"),
        primary_key=True,
    )
    # (after the mixin's path/short/value/num in the migrated table: added by 0009)
    display_name: Mapped[str | None] = mapped_column(String(120))


class CatalogServiceValueCount(Base):
    """How many catalog services hold each short label or custom field value (kept with
    :class:`CatalogServiceAttribute`): facet counts over the whole catalog read these
    rows instead of every service's."""

    __tablename__ = "catalog_service_value_counts"

    path: Mapped[str] = mapped_column(String(200), primary_key=True)
    short: Mapped[str] = mapped_column(String(SHORT_MAX), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class CatalogServiceValueCountDelta(Base):
    """A change to a value's count not yet folded into :class:`CatalogServiceValueCount`
    (PostgreSQL): writers append these rows instead of updating the shared count rows,
    so that concurrent writers of the same label never wait on each other's row locks;
    one writer at a time folds them in (:func:`service_catalog.core.jsonindex.apply_value_counts`),
    and facet counts add the rows not folded yet."""

    __tablename__ = "catalog_service_value_count_deltas"
    # Facet counts read a path's rows (few, unless a bulk load's were not folded yet).
    __table_args__ = (Index("ix_catalog_service_value_count_deltas_path", "path"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    path: Mapped[str] = mapped_column(String(200))
    short: Mapped[str] = mapped_column(String(SHORT_MAX))
    delta: Mapped[int] = mapped_column(Integer)


class ServiceDocument(Base):
    """A markdown document attached to a catalog service (an extension: Konnect's
    ``has_service_docs`` criterion and ``has_docs`` selector count them). The console
    renders ``content`` as escaped markdown; the API returns it as stored."""

    __tablename__ = "service_documents"
    __table_args__ = (Index("ix_service_documents_service_created", "service_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    service_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_services.id", ondelete="CASCADE")
    )
    title: Mapped[str] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

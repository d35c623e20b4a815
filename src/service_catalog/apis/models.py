"""Tables of APIs, their specification documents and their mappings to catalog services."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service_catalog.core.db import Base, JSONType, new_uuid, utcnow


class Api(Base):
    """An API as Konnect's API Builder describes it: ``name`` + ``version`` unique
    (``version`` is ``''`` when unversioned), a unique ``slug``, labels and attributes."""

    __tablename__ = "apis"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_apis_name_version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[str] = mapped_column(String(255), default="")
    slug: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attributes: Mapped[Any] = mapped_column(JSONType, default=None, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ApiSpecification(Base):
    """One specification document of an API (OpenAPI 2 or 3, or AsyncAPI), as sent."""

    __tablename__ = "api_specifications"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    api_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apis.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ApiMapping(Base):
    """A catalog service provides an API (the contract's ``CatalogServiceApiMapping``).
    Deleting either side deletes the mapping; ``origin`` is not part of the contract."""

    __tablename__ = "catalog_service_api_mappings"
    __table_args__ = (
        UniqueConstraint("service_id", "api_id", name="uq_catalog_service_api_mappings_pair"),
        Index("ix_catalog_service_api_mappings_api", "api_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    service_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_services.id", ondelete="CASCADE")
    )
    api_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apis.id", ondelete="CASCADE"))
    #: Who made it: None by hand (the API), a catalog files' source (``catalog_as_code``).
    origin: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ApiConsumer(Base):
    """A catalog service consumes an API (Backstage ``consumesApis``, or catalog files'
    ``relation: consumes``). An extension kept apart from :class:`ApiMapping`: Kong's
    mapping says "this service provides this API" and has no direction, so the five
    contract operations never show a consumer and a Konnect client has nothing to ignore.
    Read at ``/v1/catalog-services/{serviceId}/consumed-api-mappings``."""

    __tablename__ = "catalog_service_api_consumers"
    __table_args__ = (
        UniqueConstraint("service_id", "api_id", name="uq_catalog_service_api_consumers_pair"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    service_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_services.id", ondelete="CASCADE")
    )
    api_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apis.id", ondelete="CASCADE"), index=True)
    #: Who made it: a catalog files' (or Backstage import's) source.
    origin: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

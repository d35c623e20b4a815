"""Integration instances, their auth credentials and auth configs."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service_catalog.core.db import Base, new_uuid, utcnow


class IntegrationInstance(Base):
    """An installed integration: which integration, its validated config, and whether it
    is authorized (has a credential the upstream accepted)."""

    __tablename__ = "integration_instances"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    integration_name: Mapped[str] = mapped_column(String(120), index=True)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    authorized: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class InstanceAuthColumns:
    """The columns that an instance's credential and its auth config both start with: their
    id, the instance (one each), the type and the part that may be shown. Declared with a
    negative ``sort_order`` so that they stay first in the table, before the model's own."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid, sort_order=-1)
    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_instances.id", ondelete="CASCADE"), unique=True, sort_order=-1
    )
    type: Mapped[str] = mapped_column(String(40), sort_order=-1)
    public: Mapped[dict[str, Any]] = mapped_column(default=dict, sort_order=-1)


class AuthCredential(InstanceAuthColumns, Base):
    """The one credential of an instance. ``secret`` holds the encrypted secret parts
    (header values, client secrets); ``public`` holds only what may be shown (header names).
    """

    __tablename__ = "auth_credentials"

    secret: Mapped[str] = mapped_column(Text)
    # verified | unverified | rejected
    verification: Mapped[str] = mapped_column(String(20), default="unverified")
    verification_reason: Mapped[str | None] = mapped_column(Text, default=None)
    last_verified_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    tainted: Mapped[bool] = mapped_column(default=False)
    tainted_reason: Mapped[str | None] = mapped_column(Text, default=None)
    missing_permissions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuthConfig(InstanceAuthColumns, Base):
    """An instance's auth config (OAuth client settings); secrets encrypted in ``secret``."""

    __tablename__ = "auth_configs"

    secret: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

"""Stored access tokens. Only a hash of each token is kept."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from service_catalog.core.db import Base, new_uuid, utcnow


class AccessToken(Base):
    """A bearer token: its hash, owner and lifetime.

    ``role`` and ``owner_type``/``owner_id`` leave room for users, teams and
    system accounts (the Konnect identity API) without a new table.
    """

    __tablename__ = "access_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(40), default="admin")
    owner_type: Mapped[str] = mapped_column(String(40), default="system")
    owner_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)

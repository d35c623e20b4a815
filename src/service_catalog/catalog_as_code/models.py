"""What catalog files remember about a catalog service: the source that applied it (so
that ``--prune`` deletes only what the same source created) and its owner team."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from service_catalog.core.db import Base, utcnow


class CatalogServiceSource(Base):
    """The source (``--source``, or the API's ``source``) that last applied a catalog
    service from catalog files, and the team that owns it. A service made by hand has no
    row until a file names it or gives it an owner."""

    __tablename__ = "catalog_service_sources"

    service_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_services.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str | None] = mapped_column(String(500), index=True, default=None)
    owner_team_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), index=True, default=None
    )
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TeamSource(Base):
    """The source (a Backstage import's) that created a team: a re-import from it makes
    the team's user memberships exactly those Backstage lists (a team made otherwise
    only gains members)."""

    __tablename__ = "team_sources"

    team_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(500), index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class UserSource(Base):
    """The source (a Backstage import's) that created a user: a re-import from it keeps
    the user's name as Backstage has it, deactivates the user when Backstage no longer
    lists it and reactivates it when it is back (a user made otherwise is left as it is)."""

    __tablename__ = "user_sources"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(500), index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: When this source's import deactivated the user because Backstage no longer listed
    #: it; None otherwise. Only such a user is reactivated when Backstage lists it again.
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(default=None)

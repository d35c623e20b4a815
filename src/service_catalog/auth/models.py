"""Principals (users, teams, system accounts), their role assignments and access tokens.

Only a hash of each token is kept. These tables sit at the bottom of the domains so that
authenticating a request (and resolving its rights) reads them without a layer above.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service_catalog.core.db import Base, new_uuid, utcnow

#: Principal types a role assignment or a token belongs to.
USER = "user"
TEAM = "team"
SYSTEM_ACCOUNT = "system_account"


class User(Base):
    """A person who uses the catalog (Konnect's ``User``)."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    email: Mapped[str] = mapped_column(String(250), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(250), default=None)
    preferred_name: Mapped[str | None] = mapped_column(String(250), default=None)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Team(Base):
    """A group of users and system accounts that share role assignments."""

    __tablename__ = "teams"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(250), unique=True)
    description: Mapped[str | None] = mapped_column(String(250), default=None)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    system_team: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TeamMembership(Base):
    """A user or a system account (``member_type``) in a team: given by hand
    (``idp_id`` null), or by the identity provider ``idp_id`` from the groups claim of the
    user's sign-ins (and taken again by it when the group goes)."""

    __tablename__ = "team_memberships"
    __table_args__ = (
        # Rights are resolved from the member's side: its teams, in one index range.
        Index("ix_team_memberships_member", "member_type", "member_id"),
    )

    team_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    member_type: Mapped[str] = mapped_column(String(20), primary_key=True)
    member_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # No foreign key: identity providers are a domain above this one; deleting a provider
    # deletes the memberships it gave (identity_providers.service).
    idp_id: Mapped[uuid.UUID | None] = mapped_column(default=None)


class SystemAccount(Base):
    """A non-human principal (CI, scripts) that holds ``spat_`` tokens."""

    __tablename__ = "system_accounts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(250), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    konnect_managed: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RoleAssignment(Base):
    """A role held by a principal on one catalog service (``entity_id``) or on all (``*``)."""

    __tablename__ = "role_assignments"
    __table_args__ = (
        UniqueConstraint(
            "principal_type",
            "principal_id",
            "role_name",
            "entity_id",
            name="uq_role_assignments_principal_role_entity",
        ),
        # Enforcement joins lists to grants by service id.
        Index("ix_role_assignments_entity_id", "entity_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    principal_type: Mapped[str] = mapped_column(String(20))
    principal_id: Mapped[uuid.UUID] = mapped_column()
    role_name: Mapped[str] = mapped_column(String(60))
    entity_id: Mapped[str] = mapped_column(String(64), default="*")
    entity_type_name: Mapped[str] = mapped_column(String(60), default="Service Catalog")
    entity_region: Mapped[str] = mapped_column(String(8), default="*")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AccessToken(Base):
    """A bearer token: its hash, owner and lifetime.

    ``owner_type`` is ``user`` (``kpat_`` tokens) or ``system_account`` (``spat_``, and the
    ``scat_`` tokens made before users existed); ``role`` is a leftover of those days.
    """

    __tablename__ = "access_tokens"
    __table_args__ = (Index("ix_access_tokens_owner", "owner_type", "owner_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(256))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(40), default="")
    owner_type: Mapped[str] = mapped_column(String(40), default=SYSTEM_ACCOUNT)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_by: Mapped[str | None] = mapped_column(String(64), default=None)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)

"""Identity providers, their team-group mappings, the identities signed in through them and
the sign-ins in flight."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service_catalog.auth.models import Team, User
from service_catalog.core.db import Base, new_uuid, utcnow


class IdentityProvider(Base):
    """An OpenID Connect provider people sign in through. ``client_secret`` holds the client
    secret encrypted (``core.secrets``); it is bound to ``issuer_url``: changing the issuer
    needs the secret again."""

    __tablename__ = "identity_providers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    type: Mapped[str] = mapped_column(String(20), default="oidc")
    enabled: Mapped[bool] = mapped_column(default=False)
    login_path: Mapped[str] = mapped_column(String(64), unique=True)
    issuer_url: Mapped[str] = mapped_column(String(2048))
    client_id: Mapped[str] = mapped_column(String(255))
    client_secret: Mapped[str | None] = mapped_column(Text, default=None)
    # {"scopes": [...], "claim_mappings": {"name", "email", "groups"}}
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class IdpTeamGroupMapping(Base):
    """An IdP group whose members belong to a team (see ``sign_in.apply_sign_in``); deleting
    the team deletes its mappings."""

    __tablename__ = "idp_team_group_mappings"
    __table_args__ = (UniqueConstraint("idp_id", "team_id", "group_name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    idp_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("identity_providers.id", ondelete="CASCADE"), index=True
    )
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Team.id, ondelete="CASCADE"))
    group_name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OidcIdentity(Base):
    """Someone who signed in through an identity provider: the provider's subject, the user
    it is (deleting the user deletes it), the e-mail and name it last gave, and the groups
    of the last sign-in."""

    __tablename__ = "oidc_identities"
    __table_args__ = (UniqueConstraint("idp_id", "subject"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    idp_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("identity_providers.id", ondelete="CASCADE")
    )
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    groups: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"groups": [...]}
    first_sign_in_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(User.id, ondelete="CASCADE"), default=None, index=True
    )


class OidcLoginState(Base):
    """A sign-in in flight: the hash of its ``state``, and its nonce and PKCE verifier
    (encrypted). Used once: the callback deletes it; it expires after a few minutes."""

    __tablename__ = "oidc_login_states"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    idp_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("identity_providers.id", ondelete="CASCADE")
    )
    secrets: Mapped[str] = mapped_column(Text)
    return_to: Mapped[str | None] = mapped_column(String(2048), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)

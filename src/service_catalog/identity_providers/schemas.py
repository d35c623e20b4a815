"""Request and response shapes of identity providers and team-group mappings, as the
identity contract (``konnect-identity-v3``) defines them. Only ``oidc`` is served."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints

LoginPath = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=64, pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$", strict=True
    ),
]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2048, strict=True)]
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=255, strict=True)]
ClientSecret = Annotated[str, StringConstraints(min_length=1, max_length=4096, strict=True)]
# RFC 6749 scope-token: printable ASCII but space, '"' and '\'
Scope = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[!#-\[\]-~]+$", strict=True)
]
ClaimName = Annotated[str, StringConstraints(min_length=1, max_length=255, strict=True)]
GroupName = Annotated[str, StringConstraints(min_length=1, max_length=255, strict=True)]

DEFAULT_SCOPES = ["email", "openid", "profile"]


class ClaimMappings(BaseModel):
    """Which claims of the ID token (or userinfo) give a user's name, e-mail and groups."""

    model_config = ConfigDict(extra="forbid")

    name: ClaimName = "name"
    email: ClaimName = "email"
    groups: ClaimName = "groups"


class OidcConfig(BaseModel):
    """``config`` of an ``oidc`` identity provider, as sent on create."""

    model_config = ConfigDict(extra="forbid")

    issuer_url: Url = Field(examples=["https://idp.example.com/oauth2/default"])
    client_id: ClientId
    client_secret: ClientSecret | None = Field(
        default=None,
        json_schema_extra={"writeOnly": True},
        description="Write-only: encrypted at rest, never returned.",
    )
    scopes: list[Scope] | None = Field(default=None, max_length=50)
    claim_mappings: ClaimMappings | None = None


class OidcConfigUpdate(BaseModel):
    """``config`` of an update: the fields given replace the stored ones."""

    model_config = ConfigDict(extra="forbid")

    issuer_url: Url | None = None
    client_id: ClientId | None = None
    client_secret: ClientSecret | None = Field(default=None, json_schema_extra={"writeOnly": True})
    scopes: list[Scope] | None = Field(default=None, max_length=50)
    claim_mappings: ClaimMappings | None = None


class IdentityProviderCreate(BaseModel):
    """Body of ``POST /v3/identity-providers``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["oidc"] = "oidc"
    enabled: bool = Field(default=False, strict=True)
    login_path: LoginPath = Field(examples=["my-org"])
    config: OidcConfig


class IdentityProviderUpdate(BaseModel):
    """Body of ``PATCH /v3/identity-providers/{id}``."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = Field(default=None, strict=True)
    login_path: LoginPath | None = None
    config: OidcConfigUpdate | None = None


class OidcConfigRead(BaseModel):
    """``config`` as returned: never the client secret."""

    issuer_url: str
    client_id: str
    scopes: list[str]
    claim_mappings: ClaimMappings


class IdentityProviderRead(BaseModel):
    """An identity provider as the API returns it."""

    id: uuid.UUID
    type: Literal["oidc"]
    enabled: bool
    login_path: str
    config: OidcConfigRead
    created_at: dt.datetime
    updated_at: dt.datetime


class IdentityProviderList(RootModel[list[IdentityProviderRead]]):
    """Every identity provider: a plain array, as the contract has it."""


class TeamGroupMappingCreate(BaseModel):
    """Body of ``POST /v3/identity-providers/{idpId}/team-group-mappings``."""

    model_config = ConfigDict(extra="forbid")

    team_id: uuid.UUID
    group: GroupName


class TeamGroupMappingRead(BaseModel):
    """A mapping of an IdP group to a team."""

    id: uuid.UUID
    team_id: uuid.UUID
    group: str
    created_at: dt.datetime
    updated_at: dt.datetime


class CursorPage(BaseModel):
    """``meta.page`` of a cursor-paged list."""

    size: int
    first: str | None = None
    next: str | None
    previous: str | None


class CursorMeta(BaseModel):
    """``meta`` of a cursor-paged list."""

    page: CursorPage


class TeamGroupMappingList(BaseModel):
    """A page of team-group mappings."""

    data: list[TeamGroupMappingRead]
    meta: CursorMeta


# --- the legacy single-provider paths (``/v3/identity-provider``) ------------------------


class IdpConfiguration(BaseModel):
    """``GET /v3/identity-provider``: the enabled provider, in the contract's older shape."""

    issuer: str
    login_path: str
    client_id: str
    scopes: list[str]
    claim_mappings: ClaimMappings


class IdpConfigurationUpdate(BaseModel):
    """Body of ``PATCH /v3/identity-provider``: the fields given replace the enabled
    provider's (``issuer`` is ``config.issuer_url``)."""

    model_config = ConfigDict(extra="forbid")

    issuer: Url | None = None
    login_path: LoginPath | None = None
    client_id: ClientId | None = None
    client_secret: ClientSecret | None = Field(default=None, json_schema_extra={"writeOnly": True})
    scopes: list[Scope] | None = Field(default=None, max_length=50)
    claim_mappings: ClaimMappings | None = None


class GroupTeams(BaseModel):
    """An IdP group and the teams it maps to."""

    model_config = ConfigDict(extra="forbid")

    group: GroupName
    team_ids: list[uuid.UUID] = Field(max_length=1000)


class TeamMappingsUpdate(BaseModel):
    """Body of ``PUT /v3/identity-provider/team-mappings``: each group's teams, replaced."""

    model_config = ConfigDict(extra="forbid")

    mappings: list[GroupTeams] = Field(max_length=1000)


class TeamGroups(BaseModel):
    """A team and the IdP groups mapped to it."""

    model_config = ConfigDict(extra="forbid")

    team_id: uuid.UUID
    groups: list[GroupName] = Field(max_length=1000)


class TeamGroupsPatch(BaseModel):
    """Body of ``PATCH /v3/identity-provider/team-group-mappings``: each team's groups,
    replaced (an empty list removes them all)."""

    model_config = ConfigDict(extra="forbid")

    data: list[TeamGroups] = Field(max_length=1000)


class NumberPage(BaseModel):
    """``meta.page`` of a numbered page."""

    number: int
    size: int
    total: int


class NumberMeta(BaseModel):
    """``meta`` of a numbered page."""

    page: NumberPage


class GroupTeamsPage(BaseModel):
    """``GET /v3/identity-provider/team-mappings``."""

    meta: NumberMeta
    data: list[GroupTeams]


class GroupTeamsList(BaseModel):
    """``PUT /v3/identity-provider/team-mappings``: every group's teams."""

    data: list[GroupTeams]


class TeamGroupsPage(BaseModel):
    """``/v3/identity-provider/team-group-mappings``."""

    meta: NumberMeta
    data: list[TeamGroups]

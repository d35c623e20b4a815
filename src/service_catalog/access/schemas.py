"""Request and response shapes of the identity API (``/v3``), as Konnect's identity
contract defines them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from service_catalog.core.pages import PageMeta, PaginatedMeta
from service_catalog.core.validation import check_labels

Name250 = Annotated[str, StringConstraints(min_length=1, max_length=250, strict=True)]
Text250 = Annotated[str, StringConstraints(max_length=250, strict=True)]
Email = Annotated[
    str,
    StringConstraints(min_length=3, max_length=250, pattern=r"^[^@\s]+@[^@\s]+$", strict=True),
]
PATName = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=256,
        pattern=r"^[\w\d](?:[\w\d _\-.']*[\w\d])?$",
        strict=True,
    ),
]
Region = Literal["us", "eu", "au", "me", "in", "sg", "*"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InviteUser(_Body):
    """Body of ``POST /v3/invites``: creates the user at once (no e-mail is sent);
    ``full_name`` and ``preferred_name`` are an extension."""

    email: Email
    full_name: Name250 | None = None
    preferred_name: Text250 | None = None


class UserUpdate(_Body):
    """Body of ``PATCH /v3/users/{userId}``; ``active`` (false: the user's tokens stop
    working at once) is an extension."""

    full_name: Name250 | None = None
    preferred_name: Text250 | None = None
    active: bool | None = None


class UserRead(BaseModel):
    """A user."""

    id: str
    email: str
    full_name: str | None = None
    preferred_name: str | None = None
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class UserList(BaseModel):
    """A page of users."""

    data: list[UserRead]
    meta: PaginatedMeta


class TeamCreate(_Body):
    """Body of ``POST /v3/teams``."""

    name: Name250
    description: Name250 | None = None
    labels: dict[str, Any] | None = None

    @field_validator("labels", mode="after")
    @classmethod
    def _labels(cls, v: Any) -> Any:
        return check_labels(v, allow_null_values=False)


class TeamUpdate(_Body):
    """Body of ``PATCH /v3/teams/{teamId}``; a label set to null is removed."""

    name: Name250 | None = None
    description: Name250 | None = None
    labels: dict[str, Any] | None = None

    @field_validator("labels", mode="after")
    @classmethod
    def _labels(cls, v: Any) -> Any:
        return check_labels(v, allow_null_values=True)


class TeamRead(BaseModel):
    """A team."""

    id: str
    name: str
    description: str | None
    system_team: bool
    labels: dict[str, str]
    created_at: dt.datetime
    updated_at: dt.datetime


class TeamList(BaseModel):
    """A page of teams."""

    data: list[TeamRead]
    meta: PaginatedMeta


class MemberAdd(_Body):
    """Body of ``POST /v3/teams/{teamId}/users`` and ``.../system-accounts``."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=64, strict=True)]


class SystemAccountCreate(_Body):
    """Body of ``POST /v3/system-accounts``."""

    name: Name250
    description: Annotated[str, StringConstraints(max_length=2048, strict=True)]
    konnect_managed: bool = False


class SystemAccountUpdate(_Body):
    """Body of ``PATCH /v3/system-accounts/{accountId}``."""

    name: Name250 | None = None
    description: Annotated[str, StringConstraints(max_length=2048, strict=True)] | None = None


class SystemAccountRead(BaseModel):
    """A system account."""

    id: str
    name: str
    description: str
    konnect_managed: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class SystemAccountList(BaseModel):
    """A page of system accounts."""

    data: list[SystemAccountRead]
    meta: PaginatedMeta


class AccountTokenCreate(_Body):
    """Body of ``POST /v3/system-accounts/{accountId}/access-tokens``."""

    name: PATName
    expires_at: dt.datetime


class TokenRename(_Body):
    """Body of a token's ``PATCH``: its new name."""

    name: PATName


class AccountTokenRead(BaseModel):
    """A system account's access token (never its value)."""

    id: str
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime
    expires_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None


class AccountTokenCreated(AccountTokenRead):
    """A system account's new access token, with its value (shown this once)."""

    token: str


class AccountTokenList(BaseModel):
    """A page of a system account's tokens."""

    data: list[AccountTokenRead]
    meta: PaginatedMeta


class PersonalTokenCreate(_Body):
    """Body of ``POST /v3/users/{userId}/access-tokens``: a name and either ``ttl_seconds``
    (a day to a year) or ``expires_at``."""

    name: PATName
    ttl_seconds: Annotated[int, Field(ge=86400, le=31536000, strict=True)] | None = None
    expires_at: dt.datetime | None = None


class PersonalTokenRead(BaseModel):
    """A personal access token (never its value)."""

    id: str
    user_id: str
    name: str
    state: Literal["ACTIVE", "REVOKED", "EXPIRED"]
    revoked_by: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    last_used_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None


class PersonalTokenCreated(PersonalTokenRead):
    """A new personal access token, with its value (shown this once)."""

    konnect_token: str


class PersonalTokenList(BaseModel):
    """A user's personal access tokens."""

    data: list[PersonalTokenRead]
    meta: PageMeta


class AssignRole(_Body):
    """Body of ``POST .../assigned-roles``: a catalog role on one catalog service (its id)
    or on every one (``*``)."""

    role_name: Annotated[str, StringConstraints(min_length=1, max_length=60, strict=True)]
    entity_id: Annotated[str, StringConstraints(min_length=1, max_length=64, strict=True)] = "*"
    entity_type_name: (
        Annotated[str, StringConstraints(min_length=1, max_length=60, strict=True)] | None
    ) = None
    entity_region: Region = "*"


class AssignedRoleRead(BaseModel):
    """A role assigned to a user, a team or a system account."""

    id: str
    role_name: str
    entity_id: str
    entity_type_name: str
    entity_region: str


class AssignedRoleList(BaseModel):
    """A principal's assigned roles."""

    data: list[AssignedRoleRead]
    meta: PaginatedMeta


class OrganizationRead(BaseModel):
    """The one organization a self-hosted catalog serves."""

    id: str
    name: str
    owner_id: str | None = None
    login_path: str
    created_at: dt.datetime
    updated_at: dt.datetime
    state: str
    retention_period_days: int

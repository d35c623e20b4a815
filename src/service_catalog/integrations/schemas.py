"""Request and response shapes of integrations, instances, auth credentials and auth
configs, as the contract defines them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from service_catalog.catalog_services.schemas import PaginatedMeta
from service_catalog.core.validation import check_labels

MachineName = Annotated[
    str, StringConstraints(min_length=1, max_length=120, pattern=r"^[0-9a-z.-]+$", strict=True)
]
DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=120, strict=True)]
Description = Annotated[str, StringConstraints(max_length=2048, strict=True)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=1024, strict=True)]
# An HTTP header field name (RFC 9110 token).
HeaderName = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
                           strict=True)
]


def _no_control_chars(value: str) -> str:
    # A header value with CR/LF would let a credential inject headers upstream. The message
    # never repeats the value: it is a secret.
    if any(ch in value for ch in "\r\n\x00"):
        raise ValueError("must not contain line breaks or NUL characters")
    return value


SecretText = Annotated[
    str, StringConstraints(min_length=1, max_length=8192, strict=True),
    AfterValidator(_no_control_chars),
]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL")
    return value


HttpUrl = Annotated[str, StringConstraints(min_length=1, max_length=2048, strict=True),
                    AfterValidator(_http_url)]


# --- integrations ---------------------------------------------------------------------


class CatalogIntegrationRead(BaseModel):
    """An integration as ``GET /v1/integrations`` lists it (the contract's CatalogIntegration)."""

    model_config = ConfigDict(extra="allow")

    name: str
    display_name: str
    description: str
    built_in: bool
    version: str
    visibility: Literal["public", "private"]
    authorization: dict[str, Any] | None
    config_schema: dict[str, Any]
    resource_types: dict[str, Any]
    discovery: dict[str, Any] | None
    api_spec_provider: dict[str, Any] | None
    events: dict[str, Any] | None


class CatalogIntegrationList(BaseModel):
    """A page of integrations."""

    data: list[CatalogIntegrationRead]
    meta: PaginatedMeta


# --- instances ------------------------------------------------------------------------


class IntegrationInstanceCreate(BaseModel):
    """Body of ``POST /v1/integration-instances``."""

    model_config = ConfigDict(extra="forbid")

    integration_name: MachineName = Field(examples=["rest-inventory"])
    name: MachineName = Field(examples=["inventory-prod"])
    display_name: DisplayName = Field(examples=["Inventory (prod)"])
    description: Description | None = None
    labels: dict[str, Any] | None = Field(default=None, examples=[{"env": "prod"}])
    config: dict[str, Any] = Field(examples=[{"base_url": "https://inventory.example.com/api"}])

    @field_validator("labels", mode="after")
    @classmethod
    def _labels(cls, v: Any) -> Any:
        return check_labels(v, allow_null_values=False)


class IntegrationInstanceUpdate(BaseModel):
    """Body of ``PATCH /v1/integration-instances/{id}``.

    Labels and config merge into what is stored; a key set to null is removed (a config
    field then falls back to its default).
    """

    model_config = ConfigDict(extra="forbid")

    name: MachineName | None = None
    display_name: DisplayName | None = None
    description: Description | None = None
    labels: dict[str, Any] | None = None
    config: dict[str, Any] | None = None

    @field_validator("labels", mode="after")
    @classmethod
    def _labels(cls, v: Any) -> Any:
        return check_labels(v, allow_null_values=True)


class IntegrationRefWithoutInstance(BaseModel):
    """``{name, display_name}`` of an integration."""

    name: str
    display_name: str


class IntegrationInstanceRef(BaseModel):
    """``{id, name, display_name}`` of an instance."""

    id: uuid.UUID
    name: str
    display_name: str


class IntegrationInstanceRead(BaseModel):
    """An integration instance as the API returns it."""

    id: uuid.UUID
    name: str
    display_name: str
    description: str | None
    integration: IntegrationRefWithoutInstance
    authorized: bool
    labels: dict[str, str]
    config: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


class IntegrationInstanceList(BaseModel):
    """A page of integration instances."""

    data: list[IntegrationInstanceRead]
    meta: PaginatedMeta


# --- auth credentials -------------------------------------------------------------------


class KeyAuthHeader(BaseModel):
    """One header of a multi-key credential; ``key`` is the secret value."""

    model_config = ConfigDict(extra="forbid")

    name: HeaderName
    key: SecretText


class MultiKeyAuthConfig(BaseModel):
    """``config`` of a multi-key credential."""

    model_config = ConfigDict(extra="forbid")

    headers: list[KeyAuthHeader] = Field(min_length=1, max_length=20)


class CreateMultiKeyAuthCredential(BaseModel):
    """Body of a ``multi_key_auth`` credential."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["multi_key_auth"]
    config: MultiKeyAuthConfig


class OAuthCredentialConfig(BaseModel):
    """``config`` of an OAuth credential (``code`` is secret)."""

    model_config = ConfigDict(extra="forbid")

    grant_type: Literal["authorization_code"]
    code: SecretText
    redirect_uri: HttpUrl


class CreateOAuthCredential(BaseModel):
    """Body of an ``oauth`` credential."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["oauth"]
    config: OAuthCredentialConfig


class GitHubAppInstallationConfig(BaseModel):
    """``config`` of a GitHub App installation credential (``code`` is secret)."""

    model_config = ConfigDict(extra="forbid")

    installation_id: ShortText
    code: SecretText
    app_installed_by: ShortText | None = None


class CreateGitHubAppInstallationCredential(BaseModel):
    """Body of a ``github_app_installation`` credential."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["github_app_installation"]
    config: GitHubAppInstallationConfig


class AWSRoleDelegationConfig(BaseModel):
    """``config`` of an AWS role delegation credential."""

    model_config = ConfigDict(extra="forbid")

    role_arn: Annotated[str, StringConstraints(min_length=20, max_length=2048, strict=True,
                                               pattern=r"^arn:aws[a-zA-Z-]*:iam::\d{12}:role/.+$")]


class CreateAWSRoleDelegationAuthCredential(BaseModel):
    """Body of an ``aws_role_delegation`` credential."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["aws_role_delegation"]
    config: AWSRoleDelegationConfig


CREDENTIAL_TYPES: dict[str, type[BaseModel]] = {
    "multi_key_auth": CreateMultiKeyAuthCredential,
    "oauth": CreateOAuthCredential,
    "github_app_installation": CreateGitHubAppInstallationCredential,
    "aws_role_delegation": CreateAWSRoleDelegationAuthCredential,
}

CreateAuthCredential = (CreateMultiKeyAuthCredential | CreateOAuthCredential
                        | CreateGitHubAppInstallationCredential
                        | CreateAWSRoleDelegationAuthCredential)


class MissingPermission(BaseModel):
    """A permission the credential lacks."""

    scopes: list[str | None]
    message: str


class AuthCredentialRead(BaseModel):
    """A credential's metadata; secret parts are never returned."""

    model_config = ConfigDict(extra="allow")

    id: uuid.UUID
    type: Literal["multi_key_auth", "oauth", "github_app_installation", "aws_role_delegation"]
    integration_instance: IntegrationInstanceRef
    missing_permissions: list[MissingPermission]
    tainted: bool
    expires_at: dt.datetime | None
    created_at: dt.datetime
    verified: bool = Field(description="Whether the upstream accepted the credential.")
    last_verified_at: dt.datetime | None = None
    verification_reason: str | None = Field(
        default=None, description="Why the credential is unverified or tainted.")


# --- auth config ----------------------------------------------------------------------


class UpsertOAuthAuthConfig(BaseModel):
    """Body of ``PUT .../auth-config`` (``client_secret`` is stored encrypted)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["oauth"]
    client_id: ShortText
    client_secret: SecretText
    authorization_endpoint: HttpUrl
    token_endpoint: HttpUrl


class OAuthAuthConfigRead(BaseModel):
    """An auth config as returned (never the client secret)."""

    type: Literal["oauth"]
    client_id: str
    authorization_endpoint: str
    token_endpoint: str

"""Request and response shapes of integrations, instances, auth credentials and auth
configs, as the contract defines them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from service_catalog.core.errors import bad_request
from service_catalog.core.pages import NumberedList
from service_catalog.core.validation import LabelChanges, Labels, StrictBody
from service_catalog.integrations.connectors.base import Credential, Integration

MachineName = Annotated[
    str, StringConstraints(min_length=1, max_length=120, pattern=r"^[0-9a-z.-]+$", strict=True)
]
DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=120, strict=True)]
Description = Annotated[str, StringConstraints(max_length=2048, strict=True)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=1024, strict=True)]
# An HTTP header field name (RFC 9110 token).
HeaderName = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=256, pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", strict=True
    ),
]


def _no_control_chars(value: str) -> str:
    # A header value with CR/LF would let a credential inject headers upstream. The message
    # never repeats the value: it is a secret.
    if any(ch in value for ch in "\r\n\x00"):
        raise ValueError("must not contain line breaks or NUL characters")
    return value


class _Secret:
    """Marks a credential ``config`` field as secret: stored encrypted, never shown."""


SECRET = _Secret()

SecretText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=8192, strict=True),
    AfterValidator(_no_control_chars),
    SECRET,
]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL")
    return value


HttpUrl = Annotated[
    str, StringConstraints(min_length=1, max_length=2048, strict=True), AfterValidator(_http_url)
]


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


class CatalogIntegrationList(NumberedList[CatalogIntegrationRead]):
    """A page of integrations."""


# --- instances ------------------------------------------------------------------------


class IntegrationInstanceCreate(BaseModel):
    """Body of ``POST /v1/integration-instances``."""

    model_config = ConfigDict(extra="forbid")

    integration_name: MachineName = Field(examples=["rest-inventory"])
    name: MachineName = Field(examples=["inventory-prod"])
    display_name: DisplayName = Field(examples=["Inventory (prod)"])
    description: Description | None = None
    labels: Labels | None = Field(default=None, examples=[{"env": "prod"}])
    config: dict[str, Any] = Field(examples=[{"base_url": "https://inventory.example.com/api"}])


class IntegrationInstanceUpdate(BaseModel):
    """Body of ``PATCH /v1/integration-instances/{id}``.

    Labels and config merge into what is stored; a key set to null is removed (a config
    field then falls back to its default).
    """

    model_config = ConfigDict(extra="forbid")

    name: MachineName | None = None
    display_name: DisplayName | None = None
    description: Description | None = None
    labels: LabelChanges | None = None
    config: dict[str, Any] | None = None


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


class IntegrationInstanceList(NumberedList[IntegrationInstanceRead]):
    """A page of integration instances."""


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


#: The ``config`` model of a credential type.
ConfigT = TypeVar("ConfigT", bound=BaseModel)


class CredentialType(StrictBody, Generic[ConfigT]):
    """A credential type: the body that creates one, and how it splits into a public view
    (stored in clear, shown) and a secret (stored encrypted, never shown), and how the two
    become the in-memory :class:`Credential` a connector uses."""

    #: The fields of ``config`` a read of the credential shows (from its public part): the
    #: fields not typed :data:`SecretText`, in their order.
    shown: ClassVar[tuple[str, ...]] = ()
    #: The fields of ``config`` that are secret (typed :data:`SecretText`).
    secret_fields: ClassVar[tuple[str, ...]] = ()

    type: str
    config: ConfigT

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        config = cls.model_fields["config"].annotation
        if isinstance(config, type) and issubclass(config, BaseModel):
            fields = config.model_fields
            cls.secret_fields = tuple(n for n, f in fields.items() if SECRET in f.metadata)
            cls.shown = tuple(n for n in fields if n not in cls.secret_fields)

    def split(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(public part, secret part) of this body."""
        values = self.config.model_dump(mode="json")
        return (
            {k: v for k, v in values.items() if k not in self.secret_fields},
            {k: values[k] for k in self.secret_fields},
        )

    @classmethod
    def public_view(cls, public: Mapping[str, Any]) -> dict[str, Any]:
        """The credential's ``config`` as a read shows it: its public part only."""
        return {k: public.get(k) for k in cls.shown}

    @classmethod
    def credential(
        cls, public: Mapping[str, Any], secret: Mapping[str, Any], origin: str | None = None
    ) -> Credential:
        """The in-memory credential of a stored (or just split) public and secret part."""
        return Credential(type=cls.type_name(), values={**public, **secret}, origin=origin)

    @classmethod
    def type_name(cls) -> str:
        """The ``type`` this class stands for (its ``Literal``)."""
        return str(get_args(cls.model_fields["type"].annotation)[0])

    def check_fits(self, integ: Integration) -> None:
        """400 unless the integration takes this credential (its type is checked by the
        caller); a type with more to check overrides this."""


class CreateMultiKeyAuthCredential(CredentialType[MultiKeyAuthConfig]):
    """Body of a ``multi_key_auth`` credential: header names public, values secret."""

    type: Literal["multi_key_auth"]

    def split(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Header names public, header values secret."""
        headers = {h.name: h.key for h in self.config.headers}
        return {"headers": list(headers)}, {"headers": headers}

    @classmethod
    def public_view(cls, public: Mapping[str, Any]) -> dict[str, Any]:
        """The header names."""
        return {"headers": [{"name": n} for n in public.get("headers", [])]}

    @classmethod
    def credential(
        cls, public: Mapping[str, Any], secret: Mapping[str, Any], origin: str | None = None
    ) -> Credential:
        """The headers by name, with their values."""
        return Credential(
            type="multi_key_auth", headers=dict(secret.get("headers") or {}), origin=origin
        )

    def check_fits(self, integ: Integration) -> None:
        """Exactly the header names the integration declares (any case), each once."""
        declared = {h.lower(): h for h in integ.auth_headers}
        given = [h.name for h in self.config.headers]
        lowered = [g.lower() for g in given]
        for i, name in enumerate(given):
            if name.lower() not in declared:
                raise bad_request(
                    f"Invalid request: header [{name}] is not one integration {integ.name} uses "
                    f"(expected: {', '.join(declared.values())})",
                    f"config.headers.{i}.name",
                    f"must be one of {', '.join(declared.values())}",
                    rule="enum",
                    choices=list(declared.values()),
                )
            if name.lower() in lowered[:i]:
                raise bad_request(
                    f"Invalid request: header [{name}] is given twice",
                    f"config.headers.{i}.name",
                    "is given twice",
                    rule="invalid",
                )
        required = {h.lower() for h in integ.required_auth_headers}
        for low, name in declared.items():
            if low in required and low not in lowered:
                raise bad_request(
                    f"Invalid request: header [{name}] is required by integration {integ.name}",
                    "config.headers",
                    f"must include [{name}]",
                    rule="required",
                )


class OAuthCredentialConfig(BaseModel):
    """``config`` of an OAuth credential (``code`` is secret)."""

    model_config = ConfigDict(extra="forbid")

    grant_type: Literal["authorization_code"]
    code: SecretText
    redirect_uri: HttpUrl


class CreateOAuthCredential(CredentialType[OAuthCredentialConfig]):
    """Body of an ``oauth`` credential: the code secret."""

    type: Literal["oauth"]


def _pem_private_key(value: str) -> str:
    # The message never repeats the value: it is a secret.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    text = value.strip()
    if not (text.startswith("-----BEGIN ") and text.endswith("PRIVATE KEY-----")):
        raise ValueError("must be a PEM private key (-----BEGIN ... PRIVATE KEY-----)")
    return value


#: A PEM private key (line breaks allowed), secret.
PemPrivateKey = Annotated[
    str,
    StringConstraints(min_length=1, max_length=16384, strict=True),
    AfterValidator(_pem_private_key),
]


class GitHubAppInstallationConfig(BaseModel):
    """``config`` of a GitHub App installation credential: the installation, and what
    mints its tokens on a self-hosted catalog (the App's id and private key, secret);
    Konnect's ``code`` is accepted and kept secret."""

    model_config = ConfigDict(extra="forbid")

    installation_id: ShortText
    code: Annotated[SecretText | None, SECRET] = None
    app_installed_by: ShortText | None = None
    app_id: ShortText | None = None
    private_key: Annotated[PemPrivateKey | None, SECRET] = None


class CreateGitHubAppInstallationCredential(CredentialType[GitHubAppInstallationConfig]):
    """Body of a ``github_app_installation`` credential: the App's private key and the
    code secret."""

    type: Literal["github_app_installation"]

    def check_fits(self, integ: Integration) -> None:
        """A catalog mints installation tokens itself: it needs the App's id and key."""
        for name in ("app_id", "private_key"):
            if getattr(self.config, name) is None:
                raise bad_request(
                    f"Invalid request: config.{name} is required: the catalog mints the "
                    f"installation's tokens with the GitHub App's id and private key",
                    f"config.{name}",
                    "is a required field",
                    rule="required",
                )


class AWSRoleDelegationConfig(BaseModel):
    """``config`` of an AWS role delegation credential."""

    model_config = ConfigDict(extra="forbid")

    role_arn: Annotated[
        str,
        StringConstraints(
            min_length=20,
            max_length=2048,
            strict=True,
            pattern=r"^arn:aws[a-zA-Z-]*:iam::\d{12}:role/.+$",
        ),
    ]


class CreateAWSRoleDelegationAuthCredential(CredentialType[AWSRoleDelegationConfig]):
    """Body of an ``aws_role_delegation`` credential: nothing secret (a role to assume)."""

    type: Literal["aws_role_delegation"]


#: Every credential type by its ``type``.
CREDENTIAL_TYPES: dict[str, type[CredentialType[Any]]] = {
    "multi_key_auth": CreateMultiKeyAuthCredential,
    "oauth": CreateOAuthCredential,
    "github_app_installation": CreateGitHubAppInstallationCredential,
    "aws_role_delegation": CreateAWSRoleDelegationAuthCredential,
}

CreateAuthCredential = (
    CreateMultiKeyAuthCredential
    | CreateOAuthCredential
    | CreateGitHubAppInstallationCredential
    | CreateAWSRoleDelegationAuthCredential
)


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
        default=None, description="Why the credential is unverified or tainted."
    )


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

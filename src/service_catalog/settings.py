"""Settings, read from environment variables prefixed ``SERVICE_CATALOG_``.

Every field here is documented in the README; a test fails when one is not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service_catalog.core.outbound import parse_allow_list


class Settings(BaseSettings):
    """The catalog's configuration. Each field maps to ``SERVICE_CATALOG_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="SERVICE_CATALOG_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./service-catalog.db",
        description="SQLAlchemy URL of the database (SQLite file or postgresql+psycopg://...).",
    )

    @field_validator("database_url")
    @classmethod
    def _driver(cls, url: str) -> str:
        """``postgres://`` and ``postgresql://`` (as hosting providers hand them out) mean
        PostgreSQL through psycopg 3, the driver the catalog ships with."""
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    bind: str = Field(default="127.0.0.1:8080", description="host:port that `serve` listens on.")
    workers: int = Field(default=1, ge=1, description="uvicorn worker processes for `serve`.")
    secret_key: str | None = Field(
        default=None,
        description="Key that encrypts credentials at rest; generated into a key file when unset.",
    )
    key_file: str | None = Field(
        default=None,
        description="Where the generated secret key lives (default: next to the SQLite file).",
    )
    log_format: Literal["text", "json"] = Field(default="text", description="Request log format.")
    log_level: str = Field(default="INFO", description="Python logging level.")
    run_worker: bool = Field(
        default=True, description="Whether `serve` also runs a sync worker in-process."
    )
    sync_interval_seconds: int = Field(
        default=900, ge=10, description="Default sync interval of an integration instance."
    )
    lease_timeout_seconds: int = Field(
        default=30,
        ge=5,
        description="A sync lease whose heartbeat stopped for this long (this worker's "
        "setting, whatever the holder's) is taken over.",
    )
    connector_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Timeout of one HTTP request a connector sends upstream."
    )
    connector_retries: int = Field(
        default=4,
        ge=0,
        le=10,
        description="Retries of an upstream request that timed out or answered 429/5xx.",
    )
    worker_poll_seconds: float = Field(
        default=5.0, gt=0, description="How often a worker looks for due syncs."
    )
    scorecard_interval_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How often every scorecard is evaluated in full (changes are evaluated "
        "at the worker's next poll).",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest accepted request body (413 beyond)."
    )
    bootstrap_token: bool = Field(
        default=True,
        description="Create and print an admin token on the first start on an empty database.",
    )
    auth_failure_limit: int = Field(
        default=50,
        ge=0,
        description="Failed authentications one client address may make within "
        "`auth_failure_window_seconds` before it gets 429 with `Retry-After` (0: no limit).",
    )
    auth_failure_window_seconds: float = Field(
        default=60.0, gt=0, description="The window of `auth_failure_limit`, in seconds."
    )
    token_rate_limit: int = Field(
        default=0,
        ge=0,
        description="Requests one token may send per minute before it gets 429 with "
        "`Retry-After` (0: no limit).",
    )
    session_lifetime_hours: float = Field(
        default=12.0,
        gt=0,
        le=24 * 30,
        description="How long a console session started by signing in through an identity "
        "provider lasts.",
    )
    public_url: str | None = Field(
        default=None,
        description="The catalog's URL as browsers reach it (e.g. behind a proxy), used for "
        "the OpenID Connect callback; default: the URL of the request.",
    )
    upstream_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="CIDRs and host patterns connectors may reach (empty: any host but "
        "link-local/cloud-metadata addresses).",
    )

    @field_validator("upstream_allow", mode="before")
    @classmethod
    def _allow_list(cls, value: object) -> list[str]:
        """A JSON list, or entries separated by commas or spaces; each a CIDR or a host
        pattern (checked here, so a typo stops the start)."""
        return parse_allow_list(value)

    def sqlite_path(self) -> Path | None:
        """The SQLite database file, or None when the database is not a SQLite file."""
        url = self.database_url
        if not url.startswith("sqlite"):
            return None
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if not path or path == ":memory:":
            return None
        return Path(path.split("?", 1)[0])

    def resolved_key_file(self) -> Path:
        """Where the generated encryption key is stored."""
        if self.key_file:
            return Path(self.key_file)
        db = self.sqlite_path()
        base = db.parent if db is not None else Path(".")
        return base / "service-catalog.key"


def get_settings() -> Settings:
    """Settings from the environment."""
    return Settings()

"""An integration instance's connector, ready to talk to its upstream.

One place builds it (the sync engine, the generic children route and a connector's own
routes all come here): the instance's integration from the registry, its decrypted
credential bound to the origin it was stored for, and an HTTP client with the configured
timeout and retries.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from service_catalog.integrations import registry
from service_catalog.integrations.connectors.base import Connector, ConnectorError, UpstreamHTTP
from service_catalog.integrations.credentials import load_credential
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.settings import Settings


def build_connector(
    session: Session, instance: IntegrationInstance, settings: Settings
) -> Connector | None:
    """The instance's connector with its decrypted credential and an HTTP client using the
    configured timeout and retries; None for a push-only integration.
    ConnectorError('config') when the integration is not installed."""
    credential = load_credential(session, instance, settings=settings)
    http = UpstreamHTTP(
        timeout=settings.connector_timeout_seconds, retries=settings.connector_retries
    )
    try:
        return registry.connector_for(instance, credential, http=http)
    except LookupError:
        http.close()
        raise ConnectorError(
            "config",
            f"The integration [{instance.integration_name}] of this instance is not "
            "installed in this catalog",
            remediation="Install a catalog version that ships this integration, or delete "
            "the instance.",
        ) from None


__all__ = ["build_connector"]

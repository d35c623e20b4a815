"""service-catalog: a self-hosted service catalog, wire-compatible with Kong Konnect's
Service Catalog API."""

__version__ = "0.1.0"

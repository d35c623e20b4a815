"""Integrations: descriptors of the systems we ingest from, their instances and credentials."""

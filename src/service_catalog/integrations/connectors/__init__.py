"""Connectors: one module per upstream system, each implementing ``base.Connector``."""

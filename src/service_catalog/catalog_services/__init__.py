"""Catalog services: the units of software the catalog describes."""

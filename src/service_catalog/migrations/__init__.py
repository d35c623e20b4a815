"""Alembic migrations, shipped inside the package so an installed catalog can migrate."""

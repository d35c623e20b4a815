"""Applying Alembic migrations programmatically (``serve`` and ``migrate``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from service_catalog.core.db import Database

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(db: Database) -> None:
    """Bring the database to the newest schema. Safe to call on every start."""
    cfg = alembic_config(db.url)
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            # Two processes starting together must not migrate at once.
            conn.execute(text("SELECT pg_advisory_xact_lock(727272)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

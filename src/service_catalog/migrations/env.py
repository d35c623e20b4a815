"""Alembic environment: runs on the connection the caller hands over."""

from __future__ import annotations

from alembic import context

from service_catalog.core.db import make_engine
from service_catalog.models import load_all

target_metadata = load_all().metadata
config = context.config


def run() -> None:
    """Run migrations on ``config.attributes['connection']`` or on the configured URL."""
    connection = config.attributes.get("connection")
    if connection is None:
        engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.connect() as conn:
            context.configure(
                connection=conn, target_metadata=target_metadata, render_as_batch=True
            )
            with context.begin_transaction():
                context.run_migrations()
            conn.commit()
        return
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()

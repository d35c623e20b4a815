"""Migrations build, on an empty SQLite and an empty PostgreSQL database, exactly the models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from service_catalog.core.db import Database
from service_catalog.core.migrate import upgrade
from service_catalog.models import load_all


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database with no tables at all."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
        yield db
        db.dispose()
        return
    pg: Any = request.getfixturevalue("pg")
    url = pg.empty_database()
    db = Database(url)
    yield db
    db.dispose()
    pg.drop(url)


def test_migrations_apply_and_match_the_models(empty_db: Database) -> None:
    assert inspect(empty_db.engine).get_table_names() == []
    upgrade(empty_db)
    metadata = load_all().metadata
    tables = set(inspect(empty_db.engine).get_table_names())
    assert set(metadata.tables) <= tables
    with empty_db.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": False}
        )
        diff = compare_metadata(ctx, metadata)
        head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert diff == [], f"the migrations and the models differ: {diff}"
    assert head
    upgrade(empty_db)  # applying again is a no-op
    with empty_db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head

"""Migrations build, on an empty SQLite and an empty PostgreSQL database, exactly the models."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

from service_catalog.auth.access import ALL
from service_catalog.auth.models import RoleAssignment, SystemAccount
from service_catalog.auth.service import hash_token, lookup_token
from service_catalog.core.db import Database
from service_catalog.core.migrate import alembic_config, upgrade
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


def test_a_scat_token_made_before_0009_is_an_organization_admin_after_it(
    empty_db: Database,
) -> None:
    """Existing clients keep working: a ``scat_`` token stored at 0008 authenticates after
    the upgrade, as a token of a system account holding Organization Admin on ``*``."""
    cfg = alembic_config(empty_db.url)
    with empty_db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0008")
    token = "scat_" + "k" * 43
    with empty_db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO access_tokens (id, name, token_hash, prefix, role, owner_type, "
                "created_at) VALUES (:id, 'ci', :hash, :prefix, 'admin', 'system', :now)"
            ),
            {
                "id": uuid.uuid4().hex if empty_db.dialect == "sqlite" else str(uuid.uuid4()),
                "hash": hash_token(token),
                "prefix": token[:12],
                "now": dt.datetime(2025, 1, 2, 3, 4, 5),
            },
        )
    upgrade(empty_db)
    with empty_db.session(write=False) as session:
        info = lookup_token(session, token)
        assert info is not None
        assert info.actor.name == "ci"
        assert info.actor.rights.org_admin
        assert info.actor.rights == ALL
        account = session.scalar(select(SystemAccount))
        assert account is not None and account.name == "service-catalog-admin"
        assert info.actor.principal == ("system_account", account.id)
        grants = session.execute(select(RoleAssignment.role_name, RoleAssignment.entity_id)).all()
        assert [tuple(g) for g in grants] == [("Organization Admin", "*")]
    assert lookup_token_text(empty_db, "scat_" + "x" * 43) is None


def lookup_token_text(db: Database, token: str) -> object:
    """The lookup of ``token`` in ``db``."""
    with db.session(write=False) as session:
        return lookup_token(session, token)

"""Migrations build, on an empty SQLite and an empty PostgreSQL database, exactly the models."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
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
from service_catalog.auth.sessions import ConsoleSession
from service_catalog.core.db import Database
from service_catalog.core.migrate import alembic_config, upgrade
from service_catalog.identity_providers.models import IdpTeamGroupMapping
from service_catalog.models import load_all


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Database]]:
    """Makes databases with no tables at all, of one kind."""
    made: list[tuple[Database, str | None]] = []
    pg: Any = request.getfixturevalue("pg") if request.param == "postgresql" else None

    def make() -> Database:
        url = pg.empty_database() if pg else f"sqlite:///{tmp_path / f'empty{len(made)}.db'}"
        made.append((Database(url), url if pg else None))
        return made[-1][0]

    yield make
    for db, url in made:
        db.dispose()
        if url:
            pg.drop(url)


def _schema(db: Database) -> dict[str, dict[str, Any]]:
    """What the database says of each table: columns (type, nullable), the primary key in
    its column order, foreign keys, unique constraints and indexes (columns in order, or the
    expression, unique, partial-index condition)."""
    insp = inspect(db.engine)
    tables: dict[str, dict[str, Any]] = {}
    for table in insp.get_table_names():
        if table == "alembic_version":
            continue
        indexes = {
            ix["name"]: (
                [str(e) for e in ix.get("expressions") or ix["column_names"]],
                bool(ix["unique"]),
                {k: str(v) for k, v in ix.get("dialect_options", {}).items()},
            )
            for ix in insp.get_indexes(table)
        }
        tables[table] = {
            "columns": {
                c["name"]: (repr(c["type"]), c["nullable"]) for c in insp.get_columns(table)
            },
            "pk": insp.get_pk_constraint(table),
            "fks": sorted(repr(fk) for fk in insp.get_foreign_keys(table)),
            "uniques": sorted(repr(uq) for uq in insp.get_unique_constraints(table)),
            "indexes": indexes,
        }
    if db.engine.dialect.name == "sqlite":  # its reflection skips expression indexes
        with db.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT name, sql FROM sqlite_master"
                    " WHERE type = 'index' AND tbl_name != 'alembic_version'"
                )
            )
            tables["(sqlite indexes)"] = {"sql": dict(rows.tuples().all())}
    return tables


def test_migrations_apply_and_match_the_models(empty: Callable[[], Database]) -> None:
    empty_db = empty()
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
    # compare_metadata passes over the primary keys' column order and indexes' options:
    # the schema the models create themselves must be the migrated one, as the database says.
    models_db = empty()
    metadata.create_all(models_db.engine)
    assert _schema(empty_db) == _schema(models_db)
    upgrade(empty_db)  # applying again is a no-op
    with empty_db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head


def test_migrations_downgrade_to_nothing_and_back(empty: Callable[[], Database]) -> None:
    db = empty()
    upgrade(db)
    migrated = _schema(db)
    cfg = alembic_config(db.url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade(db)
    assert _schema(db) == migrated


def test_a_scat_token_made_before_0011_is_an_organization_admin_after_it(
    empty: Callable[[], Database],
) -> None:
    """Existing clients keep working: a ``scat_`` token stored at 0008 authenticates after
    the upgrade, as a token of a system account holding Organization Admin on ``*``."""
    empty_db = empty()
    cfg = alembic_config(empty_db.url)
    with empty_db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0010")
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


def test_0014_keeps_mappings_of_existing_teams_and_ends_older_sessions(
    empty: Callable[[], Database],
) -> None:
    """Team-group mappings made at 0013 (team ids stored as text) still name their team
    after 0014; a mapping naming no team, and console sessions (which named identities,
    not users), are gone."""
    db = empty()
    cfg = alembic_config(db.url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0013")

    def key(value: uuid.UUID) -> str:
        return value.hex if db.dialect == "sqlite" else str(value)

    team, idp = uuid.uuid4(), uuid.uuid4()
    now = dt.datetime(2025, 1, 2, 3, 4, 5)
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO teams (id, name, labels, system_team, created_at, updated_at) "
                "VALUES (:id, 'eng', '{}', false, :now, :now)"
            ),
            {"id": key(team), "now": now},
        )
        conn.execute(
            text(
                "INSERT INTO identity_providers (id, type, enabled, login_path, issuer_url, "
                "client_id, settings, created_at, updated_at) VALUES (:id, 'oidc', true, "
                "'acme', 'https://idp.example.com', 'c', '{}', :now, :now)"
            ),
            {"id": key(idp), "now": now},
        )
        for team_id, group in ((str(team), "eng"), (str(uuid.uuid4()), "gone")):
            conn.execute(
                text(
                    "INSERT INTO idp_team_group_mappings (id, idp_id, team_id, group_name, "
                    "created_at, updated_at) VALUES (:id, :idp, :team, :group, :now, :now)"
                ),
                {
                    "id": key(uuid.uuid4()),
                    "idp": key(idp),
                    "team": team_id,
                    "group": group,
                    "now": now,
                },
            )
        conn.execute(
            text(
                "INSERT INTO console_sessions (id, token_hash, user_id, user_name, "
                "created_at, expires_at) VALUES (:id, 'h', 'someone', 'x', :now, :now)"
            ),
            {"id": key(uuid.uuid4()), "now": now},
        )
    upgrade(db)
    with db.session(write=False) as session:
        rows = session.execute(
            select(IdpTeamGroupMapping.group_name, IdpTeamGroupMapping.team_id)
        ).all()
        assert [tuple(r) for r in rows] == [("eng", team)]
        found = session.scalar(
            select(IdpTeamGroupMapping.group_name).where(IdpTeamGroupMapping.team_id == team)
        )
        assert found == "eng"
        assert session.scalar(select(ConsoleSession.id)) is None

"""``core.bulk.insert_rows`` stores exactly what Core's executemany stores (uuids, JSON,
timestamps, nulls, values shared by every row), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any, cast

import pytest
from sqlalchemy import Table, text

from service_catalog.core.bulk import insert_rows, roomy_cache
from service_catalog.core.db import Database, new_uuid, utcnow
from service_catalog.events.models import Event

EVENTS = cast(Table, Event.__table__)


def _rows(prefix: str) -> list[dict[str, Any]]:
    values: list[Any] = [{"a": [1, "é", None]}, None, {}]
    return [
        {
            "id": new_uuid(),
            "type": "x.bulk",
            "service_id": None,
            "resource_id": None,
            "attributes": value,
            "detail": f"{prefix} {i}",
        }
        for i, value in enumerate(values)
    ]


def test_insert_rows_stores_what_core_stores(db: Database) -> None:
    now = utcnow()
    same = {"ts": now, "actor_type": "system", "actor_id": "system", "actor_name": "System"}
    with db.session() as s:
        with roomy_cache(s):
            insert_rows(s, EVENTS, _rows("bulk"), same=same, batch=2)
        s.execute(EVENTS.insert(), [{**r, **same} for r in _rows("core")])
    with db.engine.connect() as c:
        stored = c.execute(
            text(
                "SELECT detail, ts, attributes, actor_type, actor_id, actor_name, service_id "
                "FROM events WHERE type = 'x.bulk' ORDER BY detail"
            )
        ).all()
    bulk = [tuple(r)[1:] for r in stored if r[0].startswith("bulk")]
    core = [tuple(r)[1:] for r in stored if r[0].startswith("core")]
    assert len(bulk) == 3
    assert bulk == core


def test_insert_rows_refuses_a_missing_column(db: Database) -> None:
    rows = [{"id": new_uuid(), "type": "x.bulk", "detail": "no timestamp"}]
    with db.session() as s, pytest.raises(ValueError, match="no value for"):
        insert_rows(s, EVENTS, rows)

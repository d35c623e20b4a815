"""Bulk inserts of prepared rows (imports, catalog applies: tens of thousands at once).

``session.execute(table.insert(), rows)`` is already one executemany, but SQLAlchemy then
builds and converts each row's parameters one by one (uuid, JSON, timestamps), which costs
more than the database's own work on a large import. :func:`insert_rows` compiles the
INSERT once, converts each column with that column's own bind processor (the one Core
would use, so the stored values are the same), a value every row shares once for all, and
hands the database driver plain tuples or dicts in batches. It runs on the session's
connection, in its transaction, and statement events see it as any executemany.
:func:`roomy_cache` gives SQLite's page cache room while a bulk write runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

BATCH = 1000


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    same: Mapping[str, Any] | None = None,
    batch: int = BATCH,
) -> None:
    """Insert ``rows`` into ``table``: dicts by column name, each with the keys of the
    first row; ``same`` holds the values every row shares (a timestamp, the actor)."""
    if not rows:
        return
    shared = dict(same or {})
    names = [*rows[0].keys()]
    conn = session.connection()
    dialect = conn.dialect
    compiled = table.insert().compile(dialect=dialect, column_keys=[*names, *shared])
    sql = str(compiled)
    bind_of = {bind.key: name for bind, name in compiled.bind_names.items()}

    def processor(column: str) -> Any:
        return table.c[column].type.dialect_impl(dialect).bind_processor(dialect)

    fixed = [
        value if (proc := processor(column)) is None else proc(value)
        for column, value in shared.items()
    ]
    converted = [(i, proc) for i, c in enumerate(names) if (proc := processor(c)) is not None]
    pick = itemgetter(*names)
    # The statement's parameters from [row's own values..., shared values...].
    keys = [bind_of[c] for c in (*names, *shared)]
    unfilled = set(compiled.binds) - set(keys)
    if unfilled:  # (a column default Core would compute: give the column's value)
        raise ValueError(f"insert_rows into {table.name}: no value for {sorted(unfilled)}")
    if compiled.positional:
        where = {bind: i for i, bind in enumerate(keys)}
        positions = [where[bind] for bind in compiled.positiontup or ()]
        order = itemgetter(*positions) if len(positions) > 1 else lambda v: (v[positions[0]],)
    for start in range(0, len(rows), batch):
        params: list[Any] = []
        for row in rows[start : start + batch]:
            values = [*pick(row)] if len(names) > 1 else [pick(row)]  # (one name: a value)
            for i, proc in converted:
                values[i] = proc(values[i])
            values += fixed
            params.append(
                order(values) if compiled.positional else dict(zip(keys, values, strict=True))
            )
        conn.exec_driver_sql(sql, params)


@contextmanager
def roomy_cache(session: Session, mib: int = 16) -> Iterator[None]:
    """On SQLite, a page cache of ``mib`` MiB for the session's connection while a bulk
    write runs (the default 2 MiB cannot hold the indexes that tens of thousands of
    inserts touch, and pages then spill to the WAL mid-transaction: 16 MiB takes most of
    the gain at 10,000 services), the connection's own size restored after (also when
    the work failed). Nothing on PostgreSQL."""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        yield
        return
    raw: Any = conn.connection.driver_connection
    before = raw.execute("PRAGMA cache_size").fetchone()[0]
    raw.execute(f"PRAGMA cache_size=-{int(mib) * 1024}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size={int(before)}")

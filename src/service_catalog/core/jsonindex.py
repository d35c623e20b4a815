"""Side tables that index the values inside JSON columns (labels, custom fields).

A JSON column cannot be indexed by key on both databases alike, so each value inside it is
also kept as one row of a side table ``(owner_id, path, short, value, num)``, written in the
same transaction as the JSON (the owner's domain calls :func:`attribute_rows` on every
write) and indexed by ``(path, short, owner_id)`` and ``(path, num, owner_id)``. A filter
``filter[labels.team]=core`` then reads one index range instead of every row's JSON
(:mod:`service_catalog.core.query` compiles it), and facet counts group that range. A side
table may also mirror owner columns that lists sort by (:attr:`JsonIndex.sorts`; the
catalog's ``display_name``, indexed as ``(path, short, display_name, owner_id)``), so a
label's range is already in list order and a page is read without sorting every match.

Rows hold what the JSON filters compare: ``path`` is the filter's field name
(``labels.team``, ``custom_fields.dashboard.link``); ``short`` the value's text when at
most :data:`SHORT_MAX` characters (strings as they are, booleans ``true``/``false``,
numbers as JSON writes them but integral ones as integers, ``2`` for 2.0, objects as
compact JSON), else NULL with the text in
``value`` (an index entry must stay small on PostgreSQL); ``num`` the number of a JSON
number. JSON nulls and arrays' items have no row (no filter path reaches them).

An index may also keep a count table ``(path, short, count)``: how many owners hold each
short value, changed in the writer's transaction (:func:`value_count_deltas`,
:func:`apply_value_counts`), so that facet counts over the whole list read a few rows
instead of every owner's. On SQLite (one writer at a time) a write adds its changes to
the count rows in one upsert. On PostgreSQL, where writers run concurrently and many
write the same values (every service of a team has ``labels.team=core``), upserting the
shared count rows made them queue on those rows' locks until each other's commit; there
a write appends its changes to a journal table ``(id, path, short, delta)`` instead (no
key to collide on), then folds the journal into the counts only if no other transaction
is folding (a transaction-scoped advisory lock, tried, never waited for), so count rows
are only ever written by one transaction at a time. Facet counts add the journal's
rows not folded yet (:func:`value_count_sums`); the fold is one statement, so a reader
sees each change either in the journal or in the counts, never in both or neither.
"""

from __future__ import annotations

import functools
import json
import uuid
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    Select,
    String,
    Text,
    delete,
    func,
    insert,
    literal,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

#: The longest value text kept in the indexed ``short`` column.
SHORT_MAX = 200
#: The longest path :func:`nested_rows` writes a row for.
PATH_MAX = 200


class AttributeColumns:
    """The columns of a side table's row after its owner's: the model declares ``owner_id``
    (its own column name, type and foreign key, first in the primary key), this mixin adds
    ``path`` (the rest of the primary key) and the value's ``short``/``value``/``num``.
    Declarative puts a mixin's columns after the model's own, so the key stays
    (owner, path)."""

    path: Mapped[str] = mapped_column(String(200), primary_key=True)
    short: Mapped[str | None] = mapped_column(String(SHORT_MAX))
    value: Mapped[str | None] = mapped_column(Text)
    num: Mapped[float | None] = mapped_column(Float)


#: Integral floats below this are exact integers.
_EXACT = 2**53


@dataclass(frozen=True)
class JsonIndex:
    """Where a JSON column's values are indexed: ``table`` (a side table model with
    ``owner_id``, ``path``, ``short``, ``value`` and ``num``) and ``owner`` (the list
    table's key column that ``owner_id`` holds); ``prefix`` is the filter prefix
    (``labels``); ``counts``, when kept, the count table model (``path``, ``short``,
    ``count``)."""

    table: Any
    owner: Any
    prefix: str
    counts: Any = None
    #: The longest path with rows (None: no limit): a longer one reads the JSON itself.
    path_max: int | None = None
    #: Owner columns the side table mirrors under the same names (written with every
    #: row, updated when the owner's change), so that a filtered list sorted by them
    #: pages through the side table's index alone (:func:`~service_catalog.core.query.index_walk`).
    sorts: tuple[str, ...] = ()
    #: When set, the only paths with rows (filter field names, prefix included; every
    #: owner has the rows of these paths, :func:`declared_rows`): any other path reads
    #: the JSON itself, and facets refuse it.
    paths: frozenset[str] | None = None
    #: With ``counts``, the journal of count changes not folded in yet (PostgreSQL; see
    #: :func:`apply_value_counts`).
    journal: Any = None

    def covers(self, path: str) -> bool:
        """Whether ``path`` (a filter's field name, prefix included) has rows."""
        if self.paths is not None:
            return path in self.paths
        return self.path_max is None or len(path) <= self.path_max

    def countable(self) -> list[str]:
        """The field names facets may count, for messages: the declared paths, or
        ``prefix.<key>``."""
        return sorted(self.paths) if self.paths is not None else [f"{self.prefix}.<key>"]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT:
        # 2.0 is the number 2: one spelling, so that facets count 2 and 2.0 as the one
        # value that filter[...]=2 finds.
        return str(int(value))
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer beyond a double: compared as text only
        return None


def _walk(path: str, value: Any, nested: bool) -> Iterator[tuple[str, Any]]:
    if value is None:
        return
    yield path, value
    if nested and isinstance(value, dict):
        for key, child in value.items():
            yield from _walk(f"{path}.{key}", child, nested)


def attribute_rows(
    owner_id: uuid.UUID, documents: Mapping[str, tuple[Mapping[str, Any] | None, bool]]
) -> list[dict[str, Any]]:
    """The side-table rows of one owner: ``documents`` maps each filter prefix to its JSON
    object and whether paths go into nested objects (custom fields) or each key is one
    name (labels, whose keys may hold dots)."""
    rows: list[dict[str, Any]] = []
    for prefix, (doc, nested) in documents.items():
        for key, value in (doc or {}).items():
            for path, node in _walk(f"{prefix}.{key}", value, nested):
                text = _text(node)
                short = len(text) <= SHORT_MAX
                number = _number(node)
                rows.append(
                    {
                        "owner_id": owner_id,
                        "path": path,
                        "short": text if short else None,
                        "value": None if short else text,
                        "num": number,
                    }
                )
    return rows


def _row(owner_id: Any, path: str, node: Any) -> dict[str, Any]:
    text = _text(node)
    short = len(text) <= SHORT_MAX
    return {
        "owner_id": owner_id,
        "path": path,
        "short": text if short else None,
        "value": None if short else text,
        "num": _number(node),
    }


def _reachable(key: Any) -> bool:
    # A filter path splits at dots and has no empty segment: a key with a dot, or an
    # empty one, is never compared by a filter (and could collide with a nested path).
    return isinstance(key, str) and key != "" and "." not in key


def nested_rows(owner_id: Any, prefix: str, doc: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The side-table rows of every path of ``doc`` that a filter ``prefix.a.b`` can
    reach (objects also as their compact JSON, as custom fields); keys holding a dot
    (which no filter path names) have none, so no two rows share a path."""
    rows: list[dict[str, Any]] = []
    stack: list[tuple[str, Mapping[str, Any]]] = [(prefix, doc or {})]
    while stack:
        base, node = stack.pop()
        for key, value in node.items():
            if value is None or not _reachable(key):
                continue
            path = f"{base}.{key}"
            if len(path) > PATH_MAX:  # (and so are the paths below it)
                continue
            rows.append(_row(owner_id, path, value))
            if isinstance(value, dict):
                stack.append((path, value))
    return rows


def split_paths(prefix: str, paths: Iterable[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Dot paths under ``prefix`` (``endpoints.total``) as ``(path, segments)`` for
    :func:`declared_rows`; a ValueError names a path no filter can reach (an empty
    segment, or longer than :data:`PATH_MAX` with its prefix)."""
    out = []
    for path in paths:
        segs = tuple(path.split(".")) if isinstance(path, str) else ("",)
        if not all(_reachable(s) for s in segs) or len(prefix) + 1 + len(path) > PATH_MAX:
            raise ValueError(
                f"{path!r} is not a dot path of at most {PATH_MAX - len(prefix) - 1} characters"
            )
        out.append((path, segs))
    return tuple(out)


def declared_rows(
    owner_id: Any,
    prefix: str,
    doc: Mapping[str, Any] | None,
    paths: Sequence[tuple[str, tuple[str, ...]]],
) -> list[dict[str, Any]]:
    """The side-table rows of ``doc`` at the declared ``paths`` alone (from
    :func:`split_paths`), the same rows :func:`nested_rows` writes for them: a path
    through objects to a value that is not null has one; any other has none."""
    rows: list[dict[str, Any]] = []
    if not isinstance(doc, dict) or not doc:
        return rows
    for path, segs in paths:
        node: Any = doc.get(segs[0])  # (most documents hold few of the declared paths)
        if node is None:
            continue
        for seg in segs[1:]:
            if not isinstance(node, dict):
                node = None
                break
            node = node.get(seg)
        if node is not None:
            rows.append(_row(owner_id, f"{prefix}.{path}", node))
    return rows


def value_count_deltas(
    removed: Iterable[tuple[str, str | None]], added: Iterable[tuple[str, str | None]]
) -> list[dict[str, Any]]:
    """The count-table changes for side-table rows ``removed`` and ``added`` (as
    ``(path, short)``; long values, whose ``short`` is NULL, are not counted there), in
    key order, without the ones that cancel out."""
    delta: Counter[tuple[str, str]] = Counter()
    for path, short in added:
        if short is not None:
            delta[(path, short)] += 1
    for path, short in removed:
        if short is not None:
            delta[(path, short)] -= 1
    return [
        {"path": path, "short": short, "count": n}
        for (path, short), n in sorted(delta.items())
        if n
    ]


def apply_value_counts(
    session: Session, table: Any, deltas: list[dict[str, Any]], journal: Any = None
) -> None:
    """Add ``deltas`` (from :func:`value_count_deltas`) to the count table ``table``: on
    PostgreSQL with a ``journal`` (a model with ``path``, ``short`` and ``delta``),
    appended to it and folded in when no other transaction is folding; otherwise in
    one upsert (a value seen for the first time gets its row)."""
    if not deltas:
        return
    dialect = session.get_bind().dialect.name
    if journal is not None and dialect == "postgresql":
        session.execute(
            insert(journal),
            [{"path": d["path"], "short": d["short"], "delta": d["count"]} for d in deltas],
        )
        session.execute(_fold(table, journal))
        return
    # One statement executed for each value (a bulk load's many values would not fit
    # in one VALUES list).
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[table.path, table.short],
            set_={"count": table.count + stmt.excluded["count"]},
        ),
        deltas,
    )


def fold_lock(journal: Any) -> int:
    """The advisory lock key of ``journal``'s folds (stable across processes)."""
    return zlib.crc32(journal.__tablename__.encode())


@functools.cache
def _fold(table: Any, journal: Any) -> Any:
    """PostgreSQL: move the journal's committed rows (and this transaction's) into the
    count table, in one statement, if this transaction holds or can take the journal's
    fold lock; else do nothing. (The lock's test is evaluated before any row is taken;
    it is held until commit, as are the count rows the statement updates.)"""
    lock = func.pg_try_advisory_xact_lock(literal(fold_lock(journal), BigInteger), type_=Boolean)
    taken = (
        delete(journal)
        .where(lock)
        .returning(journal.path, journal.short, journal.delta)
        .cte("taken")
    )
    sums = (
        select(taken.c.path, taken.c.short, func.sum(taken.c.delta))
        .group_by(taken.c.path, taken.c.short)
        .order_by(taken.c.path, taken.c.short)  # (count rows locked in key order)
    )
    stmt = pg_insert(table).from_select(["path", "short", "count"], sums).add_cte(taken)
    return stmt.on_conflict_do_update(
        index_elements=[table.path, table.short],
        set_={"count": table.count + stmt.excluded["count"]},
    )


def value_count_sums(table: Any, journal: Any, path: Any) -> Select[Any]:
    """``(value, n)`` of each short value of ``path`` counted in ``table`` and ``journal``
    together (values counted down to nothing left out)."""
    parts: list[Select[Any]] = [
        select(table.short.label("value"), table.count.label("n")).where(table.path == path)
    ]
    if journal is not None:
        parts.append(select(journal.short, journal.delta).where(journal.path == path))
    both = union_all(*parts).subquery()
    n = func.sum(both.c.n)
    return select(both.c.value, n.label("n")).group_by(both.c.value).having(n > 0)


__all__ = [
    "PATH_MAX",
    "SHORT_MAX",
    "JsonIndex",
    "apply_value_counts",
    "attribute_rows",
    "declared_rows",
    "fold_lock",
    "nested_rows",
    "split_paths",
    "value_count_deltas",
    "value_count_sums",
]

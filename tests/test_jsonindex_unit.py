"""The side-table rows and value counts of indexed JSON (``core/jsonindex.py``) without a
server: rows computed in Python, counts applied to a table in an in-memory SQLite database
(and, for PostgreSQL, the statement compiled with its dialect). Fast enough to run once
per mutant under ``make mutation``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import String, create_engine, event, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool

from service_catalog.core import jsonindex as ji

OWNER = uuid.UUID(int=7)


class _Base(DeclarativeBase):
    """A metadata of its own: no part of the catalog's schema."""


class Count(_Base):
    """A count table as ``catalog_service_value_counts``."""

    __tablename__ = "counts"
    path: Mapped[str] = mapped_column(String(200), primary_key=True)
    short: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int]


def rows(doc: dict[str, Any] | None, nested: bool = True) -> list[tuple[Any, ...]]:
    """``(path, short, value, num)`` of each side-table row of ``doc`` under ``p``."""
    out = ji.attribute_rows(OWNER, {"p": (doc, nested)})
    assert all(r["owner_id"] == OWNER and len(r) == 5 for r in out)
    return [(r["path"], r["short"], r["value"], r["num"]) for r in out]


def test_short_max_is_what_the_schema_keeps() -> None:
    assert ji.SHORT_MAX == 200


@pytest.mark.parametrize(
    ("value", "short", "num"),
    [
        ("text", "text", None),
        ("", "", None),
        (True, "true", None),
        (False, "false", None),
        (2, "2", 2.0),
        (-3, "-3", -3.0),
        (0, "0", 0.0),
        (2.0, "2", 2.0),
        (-3.0, "-3", -3.0),
        (2.5, "2.5", 2.5),
        (0.0, "0", 0.0),
        # integral floats from 2**53 on are not exact integers: as JSON writes them
        (9007199254740991.0, "9007199254740991", 9007199254740991.0),
        (9007199254740992.0, "9007199254740992.0", 9007199254740992.0),
        (-9007199254740992.0, "-9007199254740992.0", -9007199254740992.0),
        (1e300, "1e+300", 1e300),
        (10**30, "1000000000000000000000000000000", 1e30),
        (10**400, None, None),  # beyond a double: text only (long, see below)
        ([1, "é"], '[1,"é"]', None),
    ],
)
def test_values_as_text_and_number(value: Any, short: str | None, num: float | None) -> None:
    [(path, got_short, long, got_num)] = rows({"k": value})
    assert path == "p.k"
    if short is None:
        assert got_short is None and long == str(value)
    else:
        assert (got_short, long) == (short, None)
    assert got_num == num and type(got_num) is type(num)


def test_objects_nest_or_stay_whole() -> None:
    doc = {"a": {"b": {"c": 1}, "d": "x"}, "e": None, "f": {"g": None}}
    assert rows(doc) == [
        ("p.a", '{"b":{"c":1},"d":"x"}', None, None),
        ("p.a.b", '{"c":1}', None, None),
        ("p.a.b.c", "1", None, 1.0),
        ("p.a.d", "x", None, None),
        ("p.f", '{"g":null}', None, None),
    ]
    # flat (labels): each key is one name, its object one value
    assert rows({"team.name": {"x": "é"}}, nested=False) == [
        ("p.team.name", '{"x":"é"}', None, None)
    ]
    assert rows({}) == [] and rows(None) == []


def test_long_values_keep_their_text_apart() -> None:
    assert rows({"a": "x" * 200, "b": "x" * 201}) == [
        ("p.a", "x" * 200, None, None),
        ("p.b", None, "x" * 201, None),
    ]
    assert rows({"a": {"k": "y" * 200}}) == [
        ("p.a", None, '{"k":"' + "y" * 200 + '"}', None),
        ("p.a.k", "y" * 200, None, None),
    ]


def test_several_documents() -> None:
    out = ji.attribute_rows(
        OWNER, {"labels": ({"a.b": {"c": 1}}, False), "custom_fields": ({"a": {"b": 2}}, True)}
    )
    assert [(r["path"], r["short"]) for r in out] == [
        ("labels.a.b", '{"c":1}'),
        ("custom_fields.a", '{"b":2}'),
        ("custom_fields.a.b", "2"),
    ]


def test_value_count_deltas() -> None:
    added = [("p.a", "x"), ("p.a", "x"), ("p.b", "y"), ("p.c", None), ("p.a", "w")]
    removed = [("p.b", "y"), ("p.a", "x"), ("p.d", "z"), ("p.e", None)]
    assert ji.value_count_deltas(removed, added) == [
        {"path": "p.a", "short": "w", "count": 1},
        {"path": "p.a", "short": "x", "count": 1},
        {"path": "p.d", "short": "z", "count": -1},
    ]
    assert ji.value_count_deltas([], []) == []
    assert ji.value_count_deltas(added, added) == []
    assert ji.value_count_deltas([], [("b", "1"), ("a", "2"), ("a", "1")]) == [
        {"path": "a", "short": "1", "count": 1},
        {"path": "a", "short": "2", "count": 1},
        {"path": "b", "short": "1", "count": 1},
    ]


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = create_engine("sqlite://", poolclass=StaticPool)
    _Base.metadata.create_all(eng)
    yield eng
    eng.dispose()


def counts(s: Session) -> list[tuple[str, str, int]]:
    return [tuple(r) for r in s.execute(select(Count.path, Count.short, Count.count)).all()]  # type: ignore[misc]


def test_apply_value_counts(engine: Engine) -> None:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    with Session(engine) as s:
        ji.apply_value_counts(s, Count, [])
        assert seen == []  # nothing to add: no statement
        ji.apply_value_counts(
            s,
            Count,
            [{"path": "a", "short": "x", "count": 2}, {"path": "a", "short": "y", "count": 1}],
        )
        assert len(seen) == 1
        ji.apply_value_counts(
            s,
            Count,
            [
                {"path": "a", "short": "x", "count": -1},
                {"path": "a", "short": "z", "count": 3},
                {"path": "b", "short": "x", "count": 1},
            ],
        )
        assert len(seen) == 2  # one statement for every delta
        assert sorted(counts(s)) == [("a", "x", 1), ("a", "y", 1), ("a", "z", 3), ("b", "x", 1)]
        ji.apply_value_counts(s, Count, [{"path": "a", "short": "y", "count": -1}])
        assert ("a", "y", 0) in counts(s)


class _Recording(Session):
    """A session on a PostgreSQL engine that keeps the statements it is given instead of
    running them (these unit tests start no server; the PostgreSQL tests run them)."""

    def __init__(self) -> None:
        super().__init__(bind=create_engine("postgresql+psycopg://"))
        self.statements: list[Any] = []

    def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        self.statements.append(statement)


class Journal(_Base):
    """A journal as ``catalog_service_value_count_deltas``."""

    __tablename__ = "journal"
    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(String(200))
    short: Mapped[str] = mapped_column(String(200))
    delta: Mapped[int]


def _sql(stmt: Any) -> str:
    return " ".join(str(stmt.compile(dialect=postgresql.dialect())).split())  # type: ignore[no-untyped-call]


def test_apply_value_counts_on_postgresql() -> None:
    s = _Recording()
    ji.apply_value_counts(s, Count, [])
    assert s.statements == []
    ji.apply_value_counts(s, Count, [{"path": "a", "short": "x", "count": 2}])
    [stmt] = s.statements
    assert _sql(stmt) == (
        "INSERT INTO counts (path, short, count) VALUES (%(path)s::VARCHAR, "
        "%(short)s::VARCHAR, %(count)s::INTEGER) ON CONFLICT (path, short) "
        "DO UPDATE SET count = (counts.count + excluded.count)"
    )


def test_apply_value_counts_with_a_journal_on_postgresql() -> None:
    """Appended to the journal (no key to collide on), then folded in by one statement
    that takes the journal's rows only under its advisory lock, tried, never waited for."""
    s = _Recording()
    ji.apply_value_counts(s, Count, [], Journal)
    assert s.statements == []
    ji.apply_value_counts(s, Count, [{"path": "a", "short": "x", "count": -1}], Journal)
    append, fold = s.statements
    assert _sql(append).startswith("INSERT INTO journal ")
    key = ji.fold_lock(Journal)
    assert key == ji.fold_lock(Journal) and key != ji.fold_lock(Count)
    assert _sql(fold) == (
        "WITH taken AS (DELETE FROM journal WHERE pg_try_advisory_xact_lock(%(param_1)s::BIGINT) "
        "RETURNING journal.path, journal.short, journal.delta) "
        "INSERT INTO counts (path, short, count) SELECT taken.path, taken.short, "
        "sum(taken.delta) AS sum_1 FROM taken GROUP BY taken.path, taken.short "
        "ORDER BY taken.path, taken.short ON CONFLICT (path, short) "
        "DO UPDATE SET count = (counts.count + excluded.count)"
    )
    # SQLite (one writer at a time) upserts the counts whatever the journal.
    engine = create_engine("sqlite://", poolclass=StaticPool)
    _Base.metadata.create_all(engine)
    with Session(engine) as lite:
        ji.apply_value_counts(lite, Count, [{"path": "a", "short": "x", "count": 2}], Journal)
        assert lite.execute(select(Count.path, Count.short, Count.count)).all() == [("a", "x", 2)]
        assert lite.execute(select(Journal.id)).all() == []


def test_value_count_sums_add_the_journal() -> None:
    engine = create_engine("sqlite://", poolclass=StaticPool)
    _Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all(
            [
                Count(path="a", short="x", count=2),
                Count(path="a", short="y", count=1),
                Count(path="b", short="x", count=5),
                Journal(path="a", short="x", delta=1),
                Journal(path="a", short="y", delta=-1),
                Journal(path="a", short="z", delta=1),
                Journal(path="b", short="z", delta=1),
            ]
        )
        s.flush()
        found = s.execute(ji.value_count_sums(Count, Journal, "a")).all()
        assert sorted((v, int(n)) for v, n in found) == [("x", 3), ("z", 1)]  # y counted down
        alone = s.execute(ji.value_count_sums(Count, None, "b")).all()
        assert [(v, int(n)) for v, n in alone] == [("x", 5)]


def test_covers() -> None:
    assert ji.JsonIndex(None, None, "p").covers("p." + "a" * 500)
    short = ji.JsonIndex(None, None, "p", path_max=10)
    assert short.covers("p.abcdefgh") and not short.covers("p.abcdefghi")


def paths(out: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    assert all(r["owner_id"] == OWNER and len(r) == 5 for r in out)
    return [(r["path"], r["short"], r["value"], r["num"]) for r in out]


def test_nested_rows() -> None:
    doc = {
        "a": {"b": {"c": 1.0}, "d": "x"},
        "e": None,
        "f.g": "dotted",  # no filter path names it
        "": "empty",
        "h": {"i.j": 1, "k": [1, 2], "l": None},
        "m": True,
    }
    assert sorted(paths(ji.nested_rows(OWNER, "cfg", doc))) == [
        ("cfg.a", '{"b":{"c":1.0},"d":"x"}', None, None),
        ("cfg.a.b", '{"c":1.0}', None, None),
        ("cfg.a.b.c", "1", None, 1.0),
        ("cfg.a.d", "x", None, None),
        ("cfg.h", '{"i.j":1,"k":[1,2],"l":null}', None, None),
        ("cfg.h.k", "[1,2]", None, None),
        ("cfg.m", "true", None, None),
    ]
    assert ji.nested_rows(OWNER, "cfg", None) == [] and ji.nested_rows(OWNER, "cfg", {}) == []
    long = {"v": "y" * 201, "w": "y" * 200}
    assert sorted(paths(ji.nested_rows(OWNER, "c", long))) == [
        ("c.v", None, "y" * 201, None),
        ("c.w", "y" * 200, None, None),
    ]


def test_nested_rows_stop_at_the_longest_path() -> None:
    assert ji.PATH_MAX == 200
    key = "k" * (ji.PATH_MAX - len("c."))  # c.kkk...: exactly PATH_MAX characters
    doc = {key: {"x": 1}, key + "k": 2, "a": {key: 3}}
    assert sorted(r["path"] for r in ji.nested_rows(OWNER, "c", doc)) == ["c.a", "c." + key]


def test_covers_declared_paths_alone() -> None:
    declared = ji.JsonIndex(None, None, "d", paths=frozenset({"d.a", "d.b.c"}))
    assert declared.covers("d.a") and declared.covers("d.b.c")
    assert not declared.covers("d.b") and not declared.covers("d.a.x")
    assert declared.countable() == ["d.a", "d.b.c"]
    assert ji.JsonIndex(None, None, "p").countable() == ["p.<key>"]


def test_split_paths() -> None:
    assert ji.split_paths("d", ["a", "b.c"]) == (("a", ("a",)), ("b.c", ("b", "c")))
    longest = "k" * (ji.PATH_MAX - len("d."))
    assert ji.split_paths("d", [longest]) == ((longest, (longest,)),)
    for bad in ("", "a..b", ".a", "a.", longest + "k"):
        with pytest.raises(ValueError, match="dot path"):
            ji.split_paths("d", [bad])


def test_declared_rows_are_the_nested_rows_of_those_paths() -> None:
    doc = {
        "a": {"b": {"c": 1.0}, "d": "x", "n": None},
        "e": None,
        "h": {"k": [1, 2]},
        "m": True,
        "s": "y" * 201,
    }
    declared = ["a.b.c", "a.d", "a.n", "e", "h.k", "h.k.0", "m", "s", "a.b", "zz", "m.x"]
    got = ji.declared_rows(OWNER, "d", doc, ji.split_paths("d", declared))
    nested = {r["path"]: r for r in ji.nested_rows(OWNER, "d", doc)}
    assert sorted(paths(got)) == sorted(
        paths([nested[f"d.{p}"] for p in declared if f"d.{p}" in nested])
    )
    assert {r["path"] for r in got} == {"d.a.b.c", "d.a.d", "d.h.k", "d.m", "d.s", "d.a.b"}
    assert ji.declared_rows(OWNER, "d", None, ji.split_paths("d", ["a"])) == []
    assert ji.declared_rows(OWNER, "d", {"a": 1}, ()) == []

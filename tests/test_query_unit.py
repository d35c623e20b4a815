"""The filter, sort and paging grammar (``core/query.py``) without a server: terms compiled
against a small table in an in-memory SQLite database (and, for PostgreSQL-only SQL, compiled
with its dialect). Fast enough to run once per mutant under ``make mutation``."""

from __future__ import annotations

import base64
import datetime as dt
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import Select, String, Text, create_engine, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool

from service_catalog.core import query as q
from service_catalog.core.db import JSONType, UTCDateTime
from service_catalog.core.errors import Problem
from service_catalog.core.jsonindex import (
    PATH_MAX,
    SHORT_MAX,
    JsonIndex,
    apply_value_counts,
    attribute_rows,
    nested_rows,
    value_count_deltas,
)

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy types no dialect __init__


class _Base(DeclarativeBase):
    """A metadata of its own: these test tables are no part of the catalog's schema."""


class Thing(_Base):
    """One row of every kind the grammar filters on."""

    __tablename__ = "things"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(10))
    flag: Mapped[bool]
    n: Mapped[float | None]
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    labels: Mapped[dict[str, Any]] = mapped_column(JSONType)
    ref: Mapped[uuid.UUID | None] = mapped_column(default=None)


def _uid(i: int) -> uuid.UUID:
    return uuid.UUID(int=i)


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


ROWS = [
    Thing(
        id=_uid(1),
        name="alpha",
        kind="red",
        flag=True,
        n=1.0,
        at=_at("2024-01-01T08:00:00+00:00"),
        data={"env": "prod", "count": 3, "ok": True, "nested": {"x": "y"}, "score": 0.5},
        labels={"team.name": "core"},
        ref=_uid(1),
    ),
    Thing(
        id=_uid(2),
        name="beta 50%",
        kind="blue",
        flag=False,
        n=2.5,
        at=_at("2024-01-01T09:00:00+00:00"),
        data={"env": "dev", "count": "3", "ok": False, "score": 1.5},
        labels={"team": {"name": "edge"}},
        ref=_uid(2),
    ),
    Thing(
        id=_uid(3),
        name="gamma_1",
        kind="green",
        flag=True,
        n=None,
        at=_at("2024-01-02T00:00:00+00:00"),
        data={"env": "Prod", "count": 10},
        labels={},
    ),
    Thing(
        id=_uid(4),
        name=None,
        kind="red",
        flag=False,
        n=10.0,
        at=_at("2023-12-31T00:00:00+00:00"),
        data={},
        labels={},
    ),
    Thing(
        id=_uid(5),
        name="500, gammax1",
        kind="blue",
        flag=False,
        n=-3.0,
        at=_at("2024-01-01T07:59:59+00:00"),
        data={"env": 'q"uote'},
        labels={},
    ),
    Thing(
        id=_uid(6),
        name="back\\slash",
        kind="green",
        flag=True,
        n=0.0,
        at=_at("2024-01-01T08:00:00.000001+00:00"),
        data={"env": None},
        labels={},
    ),
]
NAMES = {r.id: r.name or "-none" for r in ROWS}

SPEC = q.FilterSpec(
    fields={
        "id": q.FilterField("uuid", Thing.id),
        "name": q.FilterField("string", Thing.name),
        "kind": q.FilterField("enum", Thing.kind, choices=("red", "green", "blue")),
        "flag": q.FilterField("boolean", Thing.flag),
        "n": q.FilterField("number", Thing.n),
        "at": q.FilterField("datetime", Thing.at),
        "ref": q.FilterField("uuid", Thing.ref),
    },
    json_prefixes={
        "data": q.FilterField("json", Thing.data),
        "labels": q.FilterField("json", Thing.labels, flat=True),
    },
)
SORTS = {"name": Thing.name, "kind": Thing.kind, "n": Thing.n, "at": Thing.at}


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://", poolclass=StaticPool)
    _Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all(
            [Thing(**{c.key: getattr(r, c.key) for c in Thing.__table__.columns}) for r in ROWS]
        )
        s.commit()
        yield s
    engine.dispose()


def match(session: Session, *terms: tuple[str, str]) -> list[str]:
    """Sorted names of the rows matching ``filter[...]`` terms."""
    clauses = q.filter_clauses(SPEC, list(terms), "sqlite")
    return sorted(NAMES[i] for i in session.scalars(select(Thing.id).where(*clauses)))


def problem(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The single invalid parameter of the 400 that ``fn(*args)`` raises."""
    with pytest.raises(Problem) as info:
        fn(*args, **kwargs)
    assert info.value.status == 400
    [param] = info.value.invalid_parameters or []
    assert param["source"] == "query"
    assert param["field"] in info.value.detail
    return dict(param)


def bad_filter(session: Session, *terms: tuple[str, str]) -> dict[str, Any]:
    return problem(match, session, *terms)


def pg_sql(stmt: Select[Any]) -> str:
    return str(stmt.compile(dialect=_PG, compile_kwargs={"literal_binds": True}))


# --- strings -------------------------------------------------------------------------


def test_string_operators(session: Session) -> None:
    assert match(session, ("filter[name]", "alpha")) == ["alpha"]
    assert match(session, ("filter[name][eq]", "ALPHA")) == []  # eq is exact
    assert match(session, ("filter[name][]", "alpha")) == ["alpha"]  # empty op is eq
    # neq keeps rows without a value
    assert match(session, ("filter[name][neq]", "alpha")) == sorted(
        n for n in NAMES.values() if n != "alpha"
    )
    assert match(session, ("filter[name][contains]", "AMM")) == ["500, gammax1", "gamma_1"]
    assert match(session, ("filter[name][oeq]", "alpha,gamma_1,zzz")) == ["alpha", "gamma_1"]
    assert match(session, ("filter[name][oeq]", "alpha")) == ["alpha"]
    assert match(session, ("filter[name][ocontains]", "ALP,eta")) == ["alpha", "beta 50%"]
    assert match(session, ("filter[name][ocontains]", "nothing")) == []
    # contains takes the whole value, commas included
    assert match(session, ("filter[name][contains]", "0, g")) == ["500, gammax1"]
    assert match(session, ("filter[name][ocontains]", "0, g")) == ["500, gammax1", "beta 50%"]


@pytest.mark.parametrize(
    ("needle", "found"),
    [
        ("50%", ["beta 50%"]),  # % is a character, not "anything"
        ("%", ["beta 50%"]),
        ("a_1", ["gamma_1"]),  # _ is a character, not "any one"
        ("_", ["gamma_1"]),
        ("\\", ["back\\slash"]),  # the escape character itself
        ("k\\s", ["back\\slash"]),
    ],
)
def test_contains_takes_like_wildcards_literally(
    session: Session, needle: str, found: list[str]
) -> None:
    assert match(session, ("filter[name][contains]", needle)) == found
    assert match(session, ("filter[name][ocontains]", f"zzz,{needle}")) == found


def test_contains_is_ilike_on_postgresql() -> None:
    [clause] = q.filter_clauses(SPEC, [("filter[name][contains]", "50%_")], "postgresql")
    sql = pg_sql(select(Thing.id).where(clause))
    assert "things.name ILIKE '%50\\%\\_%' ESCAPE '\\'" in sql.replace("%%", "%")


def test_enum_values_are_checked(session: Session) -> None:
    assert match(session, ("filter[kind]", "red")) == ["-none", "alpha"]
    assert match(session, ("filter[kind][neq]", "red")) == [
        "500, gammax1",
        "back\\slash",
        "beta 50%",
        "gamma_1",
    ]
    assert match(session, ("filter[kind][oeq]", "red,green")) == [
        "-none",
        "alpha",
        "back\\slash",
        "gamma_1",
    ]
    for term in (
        ("filter[kind]", "purple"),
        ("filter[kind][oeq]", "red,purple"),
        ("filter[kind][neq]", "red,green"),
        ("filter[kind][oeq]", "purple,red"),
    ):
        p = bad_filter(session, term)
        assert p == {
            "field": term[0],
            "rule": "enum",
            "source": "query",
            "reason": "must be one of red, green, blue",
            "choices": ["red", "green", "blue"],
        }
    p = bad_filter(session, ("filter[kind][contains]", "re"))
    assert p["rule"] == "enum" and p["choices"] == ["eq", "neq", "oeq"]
    assert p["reason"] == "unknown filter operator [contains] for [kind]; use one of eq, neq, oeq"


# --- uuids ---------------------------------------------------------------------------


def test_uuid_operators(session: Session) -> None:
    one, two = str(_uid(1)), str(_uid(2))
    assert match(session, ("filter[id]", one)) == ["alpha"]
    assert match(session, ("filter[id][neq]", one)) == sorted(
        n for n in NAMES.values() if n != "alpha"
    )
    assert match(session, ("filter[id][oeq]", f"{one},{two}")) == ["alpha", "beta 50%"]
    p = bad_filter(session, ("filter[id]", f"{one},{two}"))
    assert p["rule"] == "is_uuid" and p["reason"] == "takes one UUID; use [oeq] for several"
    p = bad_filter(session, ("filter[id][neq]", f"{one},{two}"))
    assert p["rule"] == "is_uuid" and p["reason"] == "takes one UUID; use [oeq] for several"
    p = bad_filter(session, ("filter[id][oeq]", f"{one},nope"))
    assert p["rule"] == "is_uuid" and p["reason"] == "[nope] is not a UUID"
    assert bad_filter(session, ("filter[id][contains]", one))["rule"] == "enum"


# --- date-times ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2024-01-01T10:00:00+02:00",
        "2024-01-01T10:00:00 02:00",  # '+' read as a space from an unencoded query string
        "2024-01-01T08:00:00Z",
        "2024-01-01T08:00:00z",
        "2024-01-01T08:00:00",
        "2024-01-01T03:00:00-05:00",
        "2024-01-01 08:00:00+00:00",
    ],
)
def test_datetime_offsets_name_the_instant(session: Session, value: str) -> None:
    assert q._parse_datetime("p", value) == _at("2024-01-01T08:00:00+00:00")
    assert q._parse_datetime("p", value).utcoffset() == dt.timedelta(0)
    assert match(session, ("filter[at][eq]", value)) == ["alpha"]
    assert match(session, ("filter[at][gte]", value)) == [
        "alpha",
        "back\\slash",
        "beta 50%",
        "gamma_1",
    ]
    assert match(session, ("filter[at][gt]", value)) == ["back\\slash", "beta 50%", "gamma_1"]
    assert match(session, ("filter[at][lte]", value)) == ["-none", "500, gammax1", "alpha"]
    assert match(session, ("filter[at][lt]", value)) == ["-none", "500, gammax1"]


def test_datetime_offset_is_applied_when_stored_naive() -> None:
    # SQLite stores UTC without an offset: the bound value must be converted, not relabelled.
    [clause] = q.filter_clauses(SPEC, [("filter[at][gte]", "2024-01-01T10:00:00+02:00")], "sqlite")
    sql = str(
        select(Thing.id)
        .where(clause)
        .compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    )
    assert "'2024-01-01 08:00:00.000000'" in sql


def test_bad_datetimes(session: Session) -> None:
    for value in ("yesterday", "2024-13-01", "", "2024-01-01T10:00:00 2:00"):
        p = bad_filter(session, ("filter[at][gte]", value))
        assert p == {
            "field": "filter[at][gte]",
            "rule": "is_date_time",
            "source": "query",
            "reason": "must be an RFC 3339 date-time",
        }
    p = bad_filter(session, ("filter[at][lt]", "0001-01-01T00:00:00+14:00"))
    assert p["rule"] == "is_date_time"
    assert p["reason"] == "must be a date-time between years 1 and 9999 in UTC"
    assert bad_filter(session, ("filter[at][contains]", "2024"))["rule"] == "enum"


# --- numbers and booleans -------------------------------------------------------------


def test_number_operators(session: Session) -> None:
    assert match(session, ("filter[n]", "2.5")) == ["beta 50%"]
    assert match(session, ("filter[n][lt]", "1")) == ["500, gammax1", "back\\slash"]
    assert match(session, ("filter[n][lte]", "1")) == ["500, gammax1", "alpha", "back\\slash"]
    assert match(session, ("filter[n][gt]", "2.5")) == ["-none"]
    assert match(session, ("filter[n][gte]", "2.5")) == ["-none", "beta 50%"]
    assert match(session, ("filter[n][gte]", "-3")) == sorted(
        n for n in NAMES.values() if n != "gamma_1"
    )
    for value in ("ten", ""):
        assert bad_filter(session, ("filter[n]", value)) == {
            "field": "filter[n]",
            "rule": "is_number",
            "source": "query",
            "reason": "must be a number",
        }
    for value in ("inf", "-inf", "nan", "1e999"):
        p = bad_filter(session, ("filter[n][gt]", value))
        assert p["rule"] == "is_number" and p["reason"] == "must be a finite number"
    assert bad_filter(session, ("filter[n][neq]", "1"))["rule"] == "enum"


@pytest.mark.parametrize(
    ("value", "flag"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("false", False),
        ("False", False),
        ("0", False),
    ],
)
def test_booleans(session: Session, value: str, flag: bool) -> None:
    expected = sorted(NAMES[r.id] for r in ROWS if r.flag is flag)
    assert match(session, ("filter[flag]", value)) == expected
    assert match(session, ("filter[flag][eq]", value)) == expected


def test_bad_booleans(session: Session) -> None:
    for value in ("yes", "2", "", "t"):
        assert bad_filter(session, ("filter[flag]", value)) == {
            "field": "filter[flag]",
            "rule": "is_boolean",
            "source": "query",
            "reason": "must be true or false",
        }
    assert bad_filter(session, ("filter[flag][neq]", "true"))["rule"] == "enum"


# --- JSON paths ----------------------------------------------------------------------


def test_json_paths(session: Session) -> None:
    assert match(session, ("filter[data.env]", "prod")) == ["alpha"]
    assert match(session, ("filter[data.env][neq]", "prod")) == [
        "-none",
        "500, gammax1",
        "back\\slash",
        "beta 50%",
        "gamma_1",
    ]
    assert match(session, ("filter[data.env][contains]", "PRO")) == ["alpha", "gamma_1"]
    assert match(session, ("filter[data.env][oeq]", "dev,Prod")) == ["beta 50%", "gamma_1"]
    assert match(session, ("filter[data.env][ocontains]", "de,od")) == [
        "alpha",
        "beta 50%",
        "gamma_1",
    ]
    assert match(session, ("filter[data.env]", 'q"uote')) == ["500, gammax1"]
    assert match(session, ("filter[data.nested.x]", "y")) == ["alpha"]
    # eq on a number matches the number and the string alike
    assert match(session, ("filter[data.count]", "3")) == ["alpha", "beta 50%"]
    assert match(session, ("filter[data.count]", "3.0")) == ["alpha"]
    assert match(session, ("filter[data.count]", "nan")) == []
    # comparisons see numbers only
    assert match(session, ("filter[data.count][gt]", "2")) == ["alpha", "gamma_1"]
    assert match(session, ("filter[data.count][gte]", "10")) == ["gamma_1"]
    assert match(session, ("filter[data.count][gte]", "4")) == ["gamma_1"]
    assert match(session, ("filter[data.count][lt]", "10")) == ["alpha"]
    assert match(session, ("filter[data.count][lte]", "10")) == ["alpha", "gamma_1"]
    assert match(session, ("filter[data.ok]", "true")) == ["alpha"]
    assert match(session, ("filter[data.ok]", "false")) == ["beta 50%"]
    assert bad_filter(session, ("filter[data.count][gt]", "x"))["rule"] == "is_number"


def test_flat_json_keys_keep_their_dots(session: Session) -> None:
    assert match(session, ("filter[labels.team.name]", "core")) == ["alpha"]
    assert match(session, ("filter[data.team.name]", "edge")) == []


def test_json_paths_on_postgresql() -> None:
    clauses = q.filter_clauses(
        SPEC,
        [("filter[data.a.b]", "1"), ("filter[data.c][gt]", "2"), ("filter[labels.x.y]", "z")],
        "postgresql",
    )
    sql = pg_sql(select(Thing.id).where(*clauses))
    assert (
        "(CAST((things.data #>> '{a, b}') AS VARCHAR) = '1' OR CASE WHEN (jsonb_typeof("
        "(things.data #> '{a, b}')) = 'number') THEN CAST((things.data #>> '{a, b}') AS "
        "FLOAT) END = 1.0)" in sql
    )
    assert (
        "CASE WHEN (jsonb_typeof((things.data #> '{c}')) = 'number') THEN "
        "CAST((things.data #>> '{c}') AS FLOAT) END > 2.0" in sql
    )
    assert "CAST((things.labels #>> '{x.y}') AS VARCHAR) = 'z'" in sql
    assert "json_extract" not in sql and "json_type" not in sql


def test_unknown_fields_and_bad_paths(session: Session) -> None:
    known = "at, data.<key>, flag, id, kind, labels.<key>, n, name, ref"
    for term in ("filter[nope]", "filter[data]", "filter[data.]", "filter[nope.x]"):
        assert bad_filter(session, (term, "1")) == {
            "field": term,
            "rule": "unknown_property",
            "source": "query",
            "reason": f"unknown filter field [{term[7:-1]}]; known fields: {known}",
        }
    for term in ("filter[data..x]", "filter[data.x.]", "filter[data.x..y]"):
        assert bad_filter(session, (term, "1")) == {
            "field": term,
            "rule": "invalid",
            "source": "query",
            "reason": "has an empty path segment",
        }
    assert match(session, ("filter[labels..x]", "1")) == []  # a flat key may hold dots
    assert SPEC.names() == known.split(", ")


def test_parse_filters() -> None:
    terms = [
        ("sort", "name"),
        ("page[size]", "2"),
        ("filter[a]", "1"),
        ("filter[b][lt]", "2"),
        ("xfilter[c]", "3"),
    ]
    assert q.parse_filters(terms) == [
        q.ParsedFilter("filter[a]", "a", "eq", "1"),
        q.ParsedFilter("filter[b][lt]", "b", "lt", "2"),
    ]
    for key in (
        "filter",
        "filter[a",
        "filter[a]x",
        "filter[a][b][c]",
        "filter[]",
        "filters",
        "filter[a[b]]",
    ):
        p = problem(q.parse_filters, [(key, "1")])
        assert p == {
            "field": key,
            "rule": "invalid",
            "source": "query",
            "reason": "is not a valid filter; use filter[field] or filter[field][op]",
        }
    for key, value in (("filter[a]", "x\x00"), ("filter[a\x00]", "x")):
        assert (
            problem(q.parse_filters, [(key, value)])["reason"] == "must not contain NUL characters"
        )


def test_every_kind_has_its_operators() -> None:
    strings = ("eq", "neq", "contains", "oeq", "ocontains")
    compare = ("eq", "lt", "lte", "gt", "gte")
    assert {
        "string": strings,
        "enum": ("eq", "neq", "oeq"),
        "uuid": ("eq", "neq", "oeq"),
        "datetime": compare,
        "number": compare,
        "boolean": ("eq",),
        "json": (*strings, "lt", "lte", "gt", "gte"),
    } == q.OPS


# --- sorting -------------------------------------------------------------------------


def test_parse_sort() -> None:
    def ps(value: str | None) -> list[tuple[str, bool]]:
        return list(q.parse_sort(value, SORTS, "name desc"))

    assert ps(None) == [("name", True)]
    assert ps("") == [("name", True)]
    assert ps("n") == [("n", False)]
    assert ps("n asc, at DESC") == [("n", False), ("at", True)]
    assert ps("  kind   desc ,-n,,") == [("kind", True), ("n", True)]
    assert ps(",kind,,n") == [("kind", False), ("n", False)]
    assert ps("-n asc") == [("n", True)]
    assert ps(" , ") == []
    assert q.parse_sort(None, SORTS, "") == []
    for value, reason in (
        ("n up", "[n up] is not 'field', 'field asc' or 'field desc'"),
        ("n asc desc", ("[n asc desc] is not 'field', 'field asc' or 'field desc'")),
    ):
        assert problem(ps, value) == {
            "field": "sort",
            "rule": "invalid",
            "source": "query",
            "reason": reason,
        }
    assert problem(ps, "nope desc") == {
        "field": "sort",
        "rule": "enum",
        "source": "query",
        "choices": list(SORTS),
        "reason": "cannot sort by [nope]; use one of name, kind, n, at",
    }


def test_order_by_ends_with_the_unique_tiebreak() -> None:
    terms = q.order_by([("kind", True), ("n", False)], SORTS, Thing.id)
    sql = str(select(Thing.id).order_by(*terms).compile(dialect=sqlite.dialect()))
    assert sql.endswith("ORDER BY things.kind DESC, things.n ASC, things.id ASC")
    assert len(q.order_by([], SORTS, Thing.id)) == 1


# --- number paging -------------------------------------------------------------------


def test_page_request() -> None:
    assert q.page_request({}) == q.PageRequest(number=1, size=10)
    assert q.page_request({"page[size]": "", "page[number]": ""}) == q.PageRequest(1, 10)
    assert q.page_request({"page[size]": "1000", "page[number]": "10000000"}) == q.PageRequest(
        10_000_000, 1000
    )
    assert q.page_request({"page[size]": "1", "page[number]": "1", "size": "5"}) == q.PageRequest(
        1, 1
    )
    cases: list[tuple[dict[str, str], dict[str, Any]]] = [
        (
            {"page[size]": "0"},
            {"field": "page[size]", "rule": "min", "minimum": 1, "reason": "must be at least 1"},
        ),
        (
            {"page[size]": "1001"},
            {
                "field": "page[size]",
                "rule": "max",
                "maximum": 1000,
                "reason": "must be at most 1000",
            },
        ),
        (
            {"page[number]": "0"},
            {"field": "page[number]", "rule": "min", "minimum": 1, "reason": "must be at least 1"},
        ),
        (
            {"page[number]": "10000001"},
            {
                "field": "page[number]",
                "rule": "max",
                "maximum": 10_000_000,
                "reason": "is too large",
            },
        ),
        (
            {"page[number]": "x"},
            {"field": "page[number]", "rule": "is_integer", "reason": "must be an integer"},
        ),
        (
            {"page[size]": "1.5"},
            {"field": "page[size]", "rule": "is_integer", "reason": "must be an integer"},
        ),
    ]
    for query, expected in cases:
        assert problem(q.page_request, query) == {**expected, "source": "query"}
    assert q.page_meta(q.PageRequest(3, 7), 40) == {"page": {"number": 3, "size": 7, "total": 40}}


def _page(
    session: Session, stmt: Select[Any], sort: str, number: int, size: int
) -> tuple[list[str], int]:
    order = q.order_by(q.parse_sort(sort, SORTS, "name"), SORTS, Thing.id)
    rows, total = q.numbered_page(session, stmt, order, q.PageRequest(number, size))
    return [NAMES[r.id] for r in rows], total


def test_numbered_pages(session: Session) -> None:
    everything = select(Thing)
    assert _page(session, everything, "n desc", 1, 2) == (["-none", "beta 50%"], 6)
    assert _page(session, everything, "kind", 2, 2) == (["gamma_1", "back\\slash"], 6)
    assert _page(session, everything, "kind", 4, 2) == ([], 6)
    filtered = select(Thing).where(Thing.flag.is_(False))
    assert _page(session, filtered, "kind", 1, 2) == (["beta 50%", "500, gammax1"], 3)
    assert _page(session, filtered, "kind desc", 2, 2) == (["500, gammax1"], 3)
    assert _page(session, filtered, "kind", 3, 2) == ([], 3)
    nothing = select(Thing).where(Thing.kind == "none")
    assert _page(session, nothing, "kind", 1, 2) == ([], 0)
    assert _page(session, nothing, "kind", 2, 2) == ([], 0)


@pytest.mark.parametrize("where", [None, Thing.flag.is_(True) | Thing.flag.is_(False)])
def test_number_pages_through_equal_keys_visit_each_row_once(session: Session, where: Any) -> None:
    stmt = select(Thing) if where is None else select(Thing).where(where)
    for sort in ("kind", "kind desc"):
        seen: list[str] = []
        for number in (1, 2, 3):
            seen += _page(session, stmt, sort, number, 2)[0]
        assert sorted(seen) == sorted(NAMES.values())
        # ties in the same order as their ids, whichever the direction
        kinds = [next(r.kind for r in ROWS if NAMES[r.id] == n) for n in seen]
        assert kinds == sorted(kinds, reverse=sort.endswith("desc"))
        ids = [next(r.id for r in ROWS if NAMES[r.id] == n) for n in seen]
        for a, b, ka, kb in zip(ids, ids[1:], kinds, kinds[1:], strict=False):
            assert ka != kb or a < b


def test_filtered_sort_keys_skip_sqlite_indexes() -> None:
    term = q._unindexed(Thing.name.desc())
    assert str(select(Thing.id).order_by(term).compile(dialect=sqlite.dialect())).endswith(
        "ORDER BY +things.name DESC"
    )
    assert str(select(Thing.id).order_by(term).compile(dialect=_PG)).endswith(
        "ORDER BY things.name DESC"
    )
    term = q._unindexed(Thing.name.asc())
    assert str(select(Thing.id).order_by(term).compile(dialect=sqlite.dialect())).endswith(
        "ORDER BY +things.name ASC"
    )
    assert q._unindexed(Thing.name) is Thing.name


# --- cursors -------------------------------------------------------------------------


def test_cursor_request() -> None:
    assert q.cursor_request({}) == q.CursorRequest(size=10, after=None, before=None)
    assert q.cursor_request({"size": "3", "after": "a"}) == q.CursorRequest(3, "a", None)
    assert q.cursor_request(
        {"page[size]": "4", "size": "3", "page[before]": "b", "before": "c"}
    ) == q.CursorRequest(4, None, "b")
    assert q.cursor_request({"page[after]": "", "page[before]": "b"}) == q.CursorRequest(
        10, None, "b"
    )
    assert q.cursor_request({"page[size]": "1000"}).size == 1000
    assert q.cursor_request({"size": "1"}).size == 1
    for query in (
        {"page[after]": "a", "page[before]": "b"},
        {"after": "a", "before": "b"},
        {"page[after]": "a", "before": "b"},
    ):
        assert problem(q.cursor_request, query) == {
            "field": "page[before]",
            "rule": "invalid",
            "source": "query",
            "reason": "cannot be combined with page[after]",
        }
    assert problem(q.cursor_request, {"size": "0"}) == {
        "field": "size",
        "rule": "min",
        "minimum": 1,
        "source": "query",
        "reason": "must be at least 1",
    }
    assert problem(q.cursor_request, {"page[size]": "1001"}) == {
        "field": "page[size]",
        "rule": "max",
        "maximum": 1000,
        "source": "query",
        "reason": "must be at most 1000",
    }


KINDS = ["datetime", "uuid", "number", "string"]


def test_cursor_round_trip() -> None:
    when = _at("2024-01-01T10:00:00+02:00")
    values = [when, _uid(7), 2.5, 'é"x']
    cursor = q.encode_cursor(values, KINDS)
    assert "=" not in cursor and "+" not in cursor and "/" not in cursor
    decoded = q.decode_cursor(cursor, "page[after]", KINDS)
    assert decoded == [_at("2024-01-01T08:00:00+00:00"), _uid(7), 2.5, 'é"x']
    assert decoded[0].utcoffset() == dt.timedelta(0)
    assert q.decode_cursor(q.encode_cursor([None, None, 3, ""], KINDS), "x", KINDS) == [
        None,
        None,
        3,
        "",
    ]


def _refused(cursor: str, kinds: list[str] = KINDS, param: str = "page[before]") -> None:
    assert problem(q.decode_cursor, cursor, param, kinds) == {
        "field": param,
        "rule": "invalid",
        "source": "query",
        "reason": "is not a cursor this API issued",
    }


def test_cursors_we_did_not_issue_are_refused() -> None:
    good = q.encode_cursor([_at("2024-01-01T00:00:00+00:00"), _uid(1), 1, "a"], KINDS)
    _refused(good, ["datetime", "uuid", "number", "uuid"])  # another list's sort
    _refused(good, KINDS[:3])
    _refused(good[:-2])
    middle = len(good) // 2
    _refused(good[:middle] + ("A" if good[middle] != "A" else "B") + good[middle + 1 :])
    _refused(("A" if good[0] != "A" else "B") + good[1:])  # the tag
    _refused(good[:10] + "*" + good[11:])
    _refused("")
    _refused("A" * 22)
    _refused(q.encode_cursor(["x" * 4000], ["string"]), ["string"])  # over 4096 characters
    q.decode_cursor(q.encode_cursor(["x" * 3000], ["string"]), "p", ["string"])
    token = q.use_cursor_key(lambda: b"another key")
    try:
        other = q.encode_cursor([_at("2024-01-01T00:00:00+00:00"), _uid(1), 1, "a"], KINDS)
        assert q.decode_cursor(other, "p", KINDS)[3] == "a"
        _refused(good)
    finally:
        q.reset_cursor_key(token)
    _refused(other)
    assert q.decode_cursor(good, "p", KINDS)[3] == "a"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ({"t": "2024-01-01T00:00:00"}, "datetime"),  # no offset
        ({"t": "0001-01-01T00:00:00+14:00"}, "datetime"),  # no UTC instant
        ({"t": "soon"}, "datetime"),
        ({"t": 1}, "datetime"),
        ({"t": "2024-01-01T00:00:00+00:00", "u": 1}, "datetime"),
        ("2024-01-01T00:00:00+00:00", "datetime"),
        ("not-a-uuid", "uuid"),
        (7, "uuid"),
        (True, "number"),
        ("1", "number"),
        (float("inf"), "number"),
        (float("nan"), "number"),
        (1, "string"),
        ("nul\x00", "string"),
        ("\ud800", "string"),
        ([1], "string"),
    ],
)
def test_signed_cursors_with_impossible_values_are_refused(value: Any, kind: str) -> None:
    _refused(q.encode_cursor([value], [kind]), [kind], "page[after]")


def test_signed_cursor_payload_must_be_a_list() -> None:
    payload = b'{"a":1}'
    tag = q._tag(["string"], payload)
    cursor = base64.urlsafe_b64encode(tag + payload).decode().rstrip("=")
    _refused(cursor, ["string"])
    payload = b'["a"]'
    cursor = base64.urlsafe_b64encode(q._tag(["string"], payload) + payload).decode()
    assert q.decode_cursor(cursor.rstrip("="), "p", ["string"]) == ["a"]


def _cursor_walk(
    session: Session, desc: bool, size: int, backwards: bool = False
) -> list[list[str]]:
    cols = [
        q.CursorColumn(Thing.kind, "string", "kind", desc),
        q.CursorColumn(Thing.id, "uuid", "id", desc),
    ]
    query: dict[str, str] = {"page[size]": str(size), "filter[x]": "y"}
    pages = []
    for _ in range(10):
        rows, meta = q.cursor_page(
            session, select(Thing), cols, q.cursor_request(query), path="/things", query=query
        )
        pages.append([NAMES[r.id] for r in rows])
        link = meta["page"]["previous" if backwards else "next"]
        assert meta["page"]["first"] == f"/things?page%5Bsize%5D={size}&filter%5Bx%5D=y"
        assert meta["page"]["size"] == size
        if link is None:
            return pages
        url = urlsplit(link)
        assert url.path == "/things"
        query = dict(parse_qsl(url.query))
        assert query.keys() == {
            "page[size]",
            "filter[x]",
            "page[before]" if backwards else "page[after]",
        }
    raise AssertionError("no last page")


def test_cursor_pages_walk_both_ways(session: Session) -> None:
    for desc in (False, True):
        forward = _cursor_walk(session, desc, 4)
        assert [len(p) for p in forward] == [4, 2]
        flat = [n for p in forward for n in p]
        assert sorted(flat) == sorted(NAMES.values())
        kinds = [next(r.kind for r in ROWS if NAMES[r.id] == n) for n in flat]
        assert kinds == sorted(kinds, reverse=desc)
        # from the last page back to the first, the same rows in the same order
        cols = [
            q.CursorColumn(Thing.kind, "string", "kind", desc),
            q.CursorColumn(Thing.id, "uuid", "id", desc),
        ]
        last_row = next(r for r in ROWS if NAMES[r.id] == flat[-1])
        after_last = q.encode_cursor([last_row.kind, last_row.id], ["string", "uuid"])
        seen: list[str] = []
        query = {"page[size]": "4", "before": after_last}
        rows, meta = q.cursor_page(
            session, select(Thing), cols, q.cursor_request(query), path="/t", query=query
        )
        assert meta["page"]["next"] is not None
        seen = [NAMES[r.id] for r in rows]
        while meta["page"]["previous"]:
            query = dict(parse_qsl(urlsplit(meta["page"]["previous"]).query))
            assert query.keys() == {"page[size]", "page[before]"}
            rows, meta = q.cursor_page(
                session, select(Thing), cols, q.cursor_request(query), path="/t", query=query
            )
            seen = [NAMES[r.id] for r in rows] + seen
            # walking backwards, every page has a next one
            assert meta["page"]["next"] is not None
            nxt = dict(parse_qsl(urlsplit(meta["page"]["next"]).query))
            assert nxt.keys() == {"page[size]", "page[after]"}
        assert seen == flat[:-1]


def test_cursor_first_and_single_pages(session: Session) -> None:
    cols = [q.CursorColumn(Thing.at, "datetime", "at"), q.CursorColumn(Thing.id, "uuid", "id")]
    query = {"page[size]": "6"}
    rows, meta = q.cursor_page(
        session, select(Thing), cols, q.cursor_request(query), path="/t", query=query
    )
    assert len(rows) == 6
    assert meta == {
        "page": {"size": 6, "first": "/t?page%5Bsize%5D=6", "next": None, "previous": None}
    }
    query = {"page[size]": "5"}
    rows, meta = q.cursor_page(
        session, select(Thing), cols, q.cursor_request(query), path="/t", query=query
    )
    assert [NAMES[r.id] for r in rows] == [
        "-none",
        "500, gammax1",
        "alpha",
        "back\\slash",
        "beta 50%",
    ]
    assert meta["page"]["previous"] is None and meta["page"]["next"] is not None
    after = dict(parse_qsl(urlsplit(meta["page"]["next"]).query))["page[after]"]
    assert q.decode_cursor(after, "p", ["datetime", "uuid"]) == [ROWS[1].at, ROWS[1].id]
    query = {"after": after, "page[size]": "5"}
    rows, meta = q.cursor_page(
        session, select(Thing), cols, q.cursor_request(query), path="/t", query=query
    )
    assert [NAMES[r.id] for r in rows] == ["gamma_1"]
    assert meta["page"]["next"] is None
    before = dict(parse_qsl(urlsplit(meta["page"]["previous"]).query))
    assert before.keys() == {"page[before]", "page[size]"}
    rows, meta = q.cursor_page(
        session,
        select(Thing).where(Thing.kind == "none"),
        cols,
        q.cursor_request({}),
        path="/t",
        query={},
    )
    assert rows == [] and meta["page"]["next"] is None and meta["page"]["previous"] is None


def test_after_clause_is_a_row_comparison() -> None:
    cols = [
        q.CursorColumn(Thing.kind, "string", "kind", desc=True),
        q.CursorColumn(Thing.id, "uuid", "id", desc=True),
    ]
    sql = pg_sql(select(Thing.id).where(q._after_clause(cols, ["k", _uid(1)], False)))
    assert "things.kind < 'k' OR things.kind = 'k' AND things.id < " in sql
    sql = pg_sql(select(Thing.id).where(q._after_clause(cols, ["k", _uid(1)], True)))
    assert "things.kind > 'k' OR things.kind = 'k' AND things.id > " in sql
    assert "true" in pg_sql(select(Thing.id).where(q._after_clause([], [], False))).lower()


def test_count_ignores_order() -> None:
    engine = create_engine("sqlite://")
    _Base.metadata.create_all(engine)
    with Session(engine) as s:
        assert q._count(s, select(Thing).order_by(Thing.name)) == 0
        s.add(
            Thing(
                id=_uid(1),
                name="a",
                kind="red",
                flag=True,
                n=None,
                at=_at("2024-01-01T00:00:00+00:00"),
                data={},
                labels={},
            )
        )
        s.flush()
        assert q._count(s, select(Thing).where(func.length(Thing.name) == 1)) == 1
    engine.dispose()


# --- what the survivors of `make mutation` showed untested ------------------------------


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone set far from UTC: nothing may depend on it."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_nothing_depends_on_the_local_time_zone(far_from_utc: None, session: Session) -> None:
    assert dt.datetime(2024, 1, 1).astimezone().utcoffset() == dt.timedelta(hours=5, minutes=30)
    for value in ("2024-01-01T08:00:00", "2024-01-01T13:30:00+05:30"):
        parsed = q._parse_datetime("p", value)
        assert parsed == _at("2024-01-01T08:00:00+00:00")
        assert parsed.tzinfo is dt.UTC
        assert match(session, ("filter[at]", value)) == ["alpha"]
    cursor = q.encode_cursor([_at("2024-01-01T13:30:00+05:30")], ["datetime"])
    [decoded] = q.decode_cursor(cursor, "p", ["datetime"])
    assert decoded == _at("2024-01-01T08:00:00+00:00") and decoded.tzinfo is dt.UTC
    [decoded] = q.decode_cursor(
        q.encode_cursor([{"t": "2024-01-01T13:30:00+05:30"}], ["datetime"]), "p", ["datetime"]
    )
    assert decoded.tzinfo is dt.UTC


def test_uuid_neq_keeps_rows_without_a_value(session: Session) -> None:
    everyone_but_alpha = sorted(n for n in NAMES.values() if n != "alpha")
    assert match(session, ("filter[ref][neq]", str(_uid(1)))) == everyone_but_alpha
    assert match(session, ("filter[ref]", str(_uid(2)))) == ["beta 50%"]


def test_json_comparisons_read_real_numbers(session: Session) -> None:
    assert match(session, ("filter[data.score][gt]", "1")) == ["beta 50%"]
    assert match(session, ("filter[data.score][lt]", "1")) == ["alpha"]
    assert match(session, ("filter[data.score]", "1.5")) == ["beta 50%"]


def _sql(clauses: list[Any], dialect: Any) -> str:
    return str(select(Thing.id).where(*clauses).compile(dialect=dialect))


def test_contains_on_sqlite_uses_like_without_lower() -> None:
    # SQLite's LIKE is case-insensitive already; lower() would stop it reading an index.
    for term in (
        ("filter[name][contains]", "x"),
        ("filter[name][ocontains]", "x,y"),
        ("filter[data.env][contains]", "x"),
        ("filter[data.env][ocontains]", "x,y"),
    ):
        sql = _sql(q.filter_clauses(SPEC, [term], "sqlite"), sqlite.dialect())
        assert " LIKE " in sql and "lower(" not in sql, sql
        sql = _sql(q.filter_clauses(SPEC, [term], "postgresql"), _PG)
        assert " ILIKE " in sql, sql


@pytest.fixture
def statements(session: Session) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (and parameters) the session's engine runs while a test runs."""
    seen: list[tuple[str, Any]] = []
    engine = session.get_bind()

    def record(_c: Any, _cur: Any, sql: str, params: Any, _ctx: Any, _many: bool) -> None:
        seen.append((sql, params))

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_number_page_statements(session: Session, statements: list[tuple[str, Any]]) -> None:
    order = q.order_by([("kind", False)], SORTS, Thing.id)
    # unfiltered: a plain count(*) and the page read along the sort index
    q.numbered_page(session, select(Thing), order, q.PageRequest(1, 2))
    assert len(statements) == 2
    assert "count(*)" in statements[0][0] and "OVER" not in statements[0][0]
    assert "OVER" not in statements[1][0]
    statements.clear()
    # filtered: one scan for the keys and the total, then the page's rows by key
    q.numbered_page(session, select(Thing).where(Thing.flag.is_(True)), order, q.PageRequest(1, 2))
    assert len(statements) == 2
    assert "count(*) OVER ()" in statements[0][0] and "+things.kind" in statements[0][0]
    statements.clear()
    # filtered, nothing on the first page: no second statement to count
    rows, total = q.numbered_page(
        session, select(Thing).where(Thing.kind == "none"), order, q.PageRequest(1, 2)
    )
    assert (rows, total, len(statements)) == ([], 0, 1)


def test_filtered_number_page_with_two_sort_keys(session: Session) -> None:
    stmt = select(Thing).where(Thing.flag.is_(True))
    assert _page(session, stmt, "kind,n", 1, 3) == (["gamma_1", "back\\slash", "alpha"], 3)
    assert _page(session, stmt, "kind desc,n desc", 1, 2) == (["alpha", "back\\slash"], 3)


def test_cursor_page_reads_one_row_more_than_its_size(
    session: Session, statements: list[tuple[str, Any]]
) -> None:
    cols = [q.CursorColumn(Thing.at, "datetime", "at"), q.CursorColumn(Thing.id, "uuid", "id")]
    q.cursor_page(
        session, select(Thing), cols, q.cursor_request({"size": "2"}), path="/t", query={}
    )
    [(sql, params)] = statements
    assert "LIMIT" in sql and 3 in tuple(params)


def test_cursor_page_names_the_bad_parameter(session: Session) -> None:
    cols = [q.CursorColumn(Thing.at, "datetime", "at"), q.CursorColumn(Thing.id, "uuid", "id")]
    for param in ("page[after]", "page[before]", "after", "before"):
        query = {param: "nope"}
        p = problem(
            q.cursor_page,
            session,
            select(Thing),
            cols,
            q.cursor_request(query),
            path="/t",
            query=query,
        )
        assert p["field"] == ("page[after]" if "after" in param else "page[before]")


def test_cursors_issued_before_stay_valid(far_from_utc: None) -> None:
    """Cursors in clients' hands survive an upgrade: the signed format is fixed."""
    token = q.use_cursor_key(lambda: b"k" * 32)
    try:
        assert q.encode_cursor(["a"], ["string"]) == "As7gwmuQ8DXnrmLCsUXDxFsiYSJd"
        when = _at("2024-01-01T10:00:00+02:00")
        assert q.encode_cursor([when, _uid(1)], ["datetime", "uuid"]) == (
            "163yRaq09Ak0inJPubGl91t7InQiOiIyMDI0LTAxLTAxVDA4OjAwOjAwKzAwOjAwIn0sIjAwMDAwMDAwLTAw"
            "MDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMSJd"
        )
    finally:
        q.reset_cursor_key(token)


def test_cursor_length_limit_and_alphabet() -> None:
    at_limit = q.encode_cursor(["x" * 3052], ["string"])
    assert len(at_limit) == 4096
    assert q.decode_cursor(at_limit, "p", ["string"]) == ["x" * 3052]
    over = q.encode_cursor(["x" * 3053], ["string"])
    assert len(over) > 4096
    _refused(over, ["string"])
    good = q.encode_cursor(["abc"], ["string"])
    _refused(good[:8] + "!!!!" + good[8:], ["string"])  # not base64url: not skipped over


# --- filters and facets through a side table (core/jsonindex.py) ---------------------


class ThingAttr(_Base):
    """The side table indexing ``Thing.data`` and ``Thing.labels`` (as the catalog's
    ``catalog_service_attributes`` does labels and custom fields)."""

    __tablename__ = "thing_attrs"
    owner_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(String(200), primary_key=True)
    short: Mapped[str | None] = mapped_column(String(SHORT_MAX))
    value: Mapped[str | None] = mapped_column(Text)
    num: Mapped[float | None]
    #: The thing's ``name`` and ``kind`` mirrored (as ``display_name`` in the catalog's):
    #: the sort keys an index walk pages by.
    name: Mapped[str | None] = mapped_column(String(50), default=None)
    kind: Mapped[str | None] = mapped_column(String(10), default=None)


class ThingCount(_Base):
    """How many things hold each short value (``catalog_service_value_counts``)."""

    __tablename__ = "thing_counts"
    path: Mapped[str] = mapped_column(String(200), primary_key=True)
    short: Mapped[str] = mapped_column(String(SHORT_MAX), primary_key=True)
    count: Mapped[int]


LONG_A = "L" * 250
LONG_B = "L" * 249 + "%"
#: Rows beyond ROWS for the side-table tests: long values, 2 and 2.0, a 200-character value.
EXTRA = [
    Thing(
        id=_uid(7),
        name="long a",
        kind="red",
        flag=True,
        n=None,
        at=_at("2024-02-01T00:00:00+00:00"),
        data={"env": LONG_A, "count": 2.0, "w": "x" * 200, "deep": {"a": {"b": 1}}},
        labels={"tier": "1"},
    ),
    Thing(
        id=_uid(8),
        name="long b",
        kind="blue",
        flag=False,
        n=None,
        at=_at("2024-02-02T00:00:00+00:00"),
        data={"env": LONG_B, "count": 2, "w": "x" * 201},
        labels={"tier": "1", "team.name": "core"},
    ),
    Thing(
        id=_uid(9),
        name="twos",
        kind="green",
        flag=True,
        n=None,
        at=_at("2024-02-03T00:00:00+00:00"),
        data={"count": "2", "env": "prod", "nested": {"x": "z"}},
        labels={"tier": "2"},
    ),
]
ALL_NAMES = {r.id: r.name or "-none" for r in [*ROWS, *EXTRA]}


def _index(prefix: str, counts: Any = ThingCount) -> JsonIndex:
    return JsonIndex(ThingAttr, Thing.id, prefix, counts)


#: ``top.*``: ``Thing.data`` again, indexed by :func:`nested_rows` with no count table
#: and a longest path (as resources' ``config``).
TOP = JsonIndex(ThingAttr, Thing.id, "top", path_max=PATH_MAX)
ISPEC = q.FilterSpec(
    fields=SPEC.fields,
    json_prefixes={
        "data": q.FilterField("json", Thing.data, index=_index("data")),
        # flat: one segment, whatever dots the key holds
        "labels": q.FilterField("json", Thing.labels, flat=True, index=_index("labels")),
        "plain": q.FilterField("json", Thing.data),
        "top": q.FilterField("json", Thing.data, index=TOP),
    },
)
#: What ISPEC's indexed filters must answer alike: the same JSON, read as JSON.
JSPEC = q.FilterSpec(
    fields=SPEC.fields,
    json_prefixes={**SPEC.json_prefixes, "top": q.FilterField("json", Thing.data)},
)
#: As ISPEC, with no count table: facets over the whole list group the side table.
NO_COUNTS = q.FilterSpec(
    fields=SPEC.fields,
    json_prefixes={
        "data": q.FilterField("json", Thing.data, index=_index("data", None)),
        "labels": q.FilterField("json", Thing.labels, flat=True, index=_index("labels", None)),
    },
)


@pytest.fixture(scope="module")
def indexed() -> Iterator[Session]:
    """ROWS and EXTRA with their side-table rows and value counts."""
    engine = create_engine("sqlite://", poolclass=StaticPool)
    _Base.metadata.create_all(engine)
    with Session(engine) as s:
        things = [*ROWS, *EXTRA]
        s.add_all(
            [Thing(**{c.key: getattr(r, c.key) for c in Thing.__table__.columns}) for r in things]
        )
        attrs = [
            a
            for r in things
            for a in [
                *attribute_rows(r.id, {"data": (r.data, True), "labels": (r.labels, False)}),
                *nested_rows(r.id, "top", r.data),
            ]
        ]
        mirrored = {r.id: {"name": r.name, "kind": r.kind} for r in things}
        s.add_all([ThingAttr(**a, **mirrored[a["owner_id"]]) for a in attrs])
        s.flush()
        apply_value_counts(
            s, ThingCount, value_count_deltas([], [(a["path"], a["short"]) for a in attrs])
        )
        s.commit()
        yield s
    engine.dispose()


def imatch(s: Session, *terms: tuple[str, str], spec: q.FilterSpec = ISPEC) -> list[str]:
    """Sorted names of the things matching ``filter[...]`` terms under ``spec``."""
    clauses = q.filter_clauses(spec, list(terms), "sqlite")
    return sorted(ALL_NAMES[i] for i in s.scalars(select(Thing.id).where(*clauses)))


INDEXED_TERMS = [
    ("filter[data.env]", "prod"),
    ("filter[data.env][eq]", "PROD"),
    ("filter[data.env][neq]", "prod"),
    ("filter[data.env][contains]", "RO"),
    ("filter[data.env][contains]", "L%"),
    ("filter[data.env][contains]", "LLL"),
    ("filter[data.env][contains]", "de,uot"),  # the whole value, comma and all
    ("filter[data.env][oeq]", "dev,Prod"),
    ("filter[data.env][oeq]", f"dev,{LONG_A}"),
    ("filter[data.env][ocontains]", "de,uot"),
    ("filter[data.env][ocontains]", "zz,L%"),
    ("filter[data.env]", LONG_A),
    ("filter[data.env]", LONG_B),
    ("filter[data.env][neq]", LONG_A),
    ("filter[data.env]", 'q"uote'),
    ("filter[data.count]", "2"),
    ("filter[data.count]", "2.0"),
    ("filter[data.count]", "3"),
    ("filter[data.count]", "3.0"),
    ("filter[data.count]", "nan"),
    ("filter[data.count]", "inf"),
    ("filter[data.count]", "x"),
    ("filter[data.count][gt]", "2"),
    ("filter[data.count][gte]", "2"),
    ("filter[data.count][lt]", "10"),
    ("filter[data.count][lte]", "10"),
    ("filter[data.score][gt]", "1"),
    ("filter[data.score]", "1.5"),
    ("filter[data.ok]", "true"),
    ("filter[data.ok]", "false"),
    ("filter[data.nested.x]", "y"),
    ("filter[data.deep.a.b]", "1"),
    ("filter[data.w]", "x" * 200),
    ("filter[data.w]", "x" * 201),
    ("filter[data.w][oeq]", "x" * 201),
    ("filter[data.w][neq]", "x" * 201),
    ("filter[data.w][neq]", "x" * 200),
    ("filter[labels.team.name]", "core"),
    ("filter[labels.tier][oeq]", "1,2"),
    ("filter[labels.tier][neq]", "1"),
    ("filter[data.missing]", "1"),
    ("filter[top.env]", "prod"),
    ("filter[top.env][neq]", "prod"),
    ("filter[top.count]", "2"),
    ("filter[top.count][gt]", "2"),
    # objects: their compact JSON
    ("filter[top.nested]", '{"x":"y"}'),
    ("filter[top.nested][neq]", '{"x":"y"}'),
    ("filter[top.nested]", "x"),  # equal, not contained
    ("filter[top.nested][neq]", "x"),
    ("filter[top.nested][contains]", "x,zzz"),  # the whole value, comma and all
    ("filter[top.nested][contains]", "x"),
    ("filter[top.nested][ocontains]", "q,y"),
    ("filter[top.nested][oeq]", 'a,{"x":"y"}'),
    ("filter[top.deep]", '{"a":{"b":1}}'),
    ("filter[top.deep][neq]", "x"),
    # nested paths
    ("filter[top.nested.x]", "y"),
    ("filter[top.deep.a.b]", "1"),
]


@pytest.mark.parametrize("term", INDEXED_TERMS, ids=lambda t: f"{t[0][7:]}={t[1][:12]}")
def test_indexed_filters_answer_as_the_json_does(indexed: Session, term: tuple[str, str]) -> None:
    assert imatch(indexed, term) == imatch(indexed, term, spec=JSPEC)


def test_indexed_filters(indexed: Session) -> None:
    everyone = sorted(ALL_NAMES.values())
    assert imatch(indexed, ("filter[data.env]", "prod")) == ["alpha", "twos"]
    assert imatch(indexed, ("filter[data.env][neq]", "prod")) == sorted(
        set(everyone) - {"alpha", "twos"}
    )
    assert imatch(indexed, ("filter[data.env][contains]", "RO")) == ["alpha", "gamma_1", "twos"]
    # long values (no short text) are found by their whole text and inside it
    assert imatch(indexed, ("filter[data.env]", LONG_A)) == ["long a"]
    assert imatch(indexed, ("filter[data.env][contains]", "L%")) == ["long b"]
    assert imatch(indexed, ("filter[data.env][oeq]", f"dev,{LONG_B}")) == ["beta 50%", "long b"]
    assert imatch(indexed, ("filter[data.env][ocontains]", "zz,L%")) == ["long b"]
    assert imatch(indexed, ("filter[data.env][ocontains]", "de,uot")) == [
        "500, gammax1",
        "beta 50%",
    ]
    assert imatch(indexed, ("filter[data.env][neq]", LONG_A)) == sorted(set(everyone) - {"long a"})
    # exactly SHORT_MAX characters is short, one more is long
    assert imatch(indexed, ("filter[data.w]", "x" * 200)) == ["long a"]
    assert imatch(indexed, ("filter[data.w]", "x" * 201)) == ["long b"]
    # a number finds the number and its text: 2, 2.0 and "2"
    assert imatch(indexed, ("filter[data.count]", "2")) == ["long a", "long b", "twos"]
    assert imatch(indexed, ("filter[data.count]", "2.0")) == ["long a", "long b"]
    assert imatch(indexed, ("filter[data.count]", "3")) == ["alpha", "beta 50%"]
    for word in ("nan", "inf", "-inf", "x"):
        assert imatch(indexed, ("filter[data.count]", word)) == []
    assert imatch(indexed, ("filter[data.count][gt]", "2")) == ["alpha", "gamma_1"]
    assert imatch(indexed, ("filter[data.count][gte]", "3")) == ["alpha", "gamma_1"]
    assert imatch(indexed, ("filter[data.count][lt]", "3")) == ["long a", "long b"]
    assert imatch(indexed, ("filter[data.count][lte]", "3")) == ["alpha", "long a", "long b"]
    assert imatch(indexed, ("filter[data.deep.a.b]", "1")) == ["long a"]
    # neq on a number leaves out the number (SQLite's JSON compare kept it, text never
    # equalling an integer there; PostgreSQL's left it out, as the index does)
    assert "long a" not in imatch(indexed, ("filter[top.deep.a.b][neq]", "1"))
    assert "long a" in imatch(indexed, ("filter[top.deep.a.b][neq]", "1"), spec=JSPEC)
    assert imatch(indexed, ("filter[labels.team.name]", "core")) == ["alpha", "long b"]
    assert imatch(indexed, ("filter[labels.tier][oeq]", "1,2")) == ["long a", "long b", "twos"]
    # each term is its own condition on the same side table
    assert imatch(indexed, ("filter[labels.tier]", "1"), ("filter[data.env][contains]", "%")) == [
        "long b"
    ]
    p = problem(imatch, indexed, ("filter[data.count][lt]", "inf"))
    assert p["rule"] == "is_number" and p["field"] == "filter[data.count][lt]"


def test_indexed_filters_read_the_side_table() -> None:
    def sql(term: tuple[str, str], dialect: Any) -> str:
        clauses = q.filter_clauses(ISPEC, [term], dialect.name)
        return str(select(Thing.id).where(*clauses).compile(dialect=dialect))

    for term in INDEXED_TERMS:
        text = sql(term, sqlite.dialect())
        assert "thing_attrs" in text and "json_extract" not in text, text
    # a path longer than the index keeps reads the JSON
    text = sql((f"filter[top.{'k' * PATH_MAX}]", "x"), sqlite.dialect())
    assert "thing_attrs" not in text and "json_extract" in text, text
    text = sql(("filter[top.nested][neq]", "x"), _PG)
    assert "NOT IN" in text and "thing_attrs" in text, text
    for term in (("filter[data.env][contains]", "x"), ("filter[data.env][ocontains]", "x,y")):
        text = sql(term, sqlite.dialect())
        assert " LIKE " in text and "lower(" not in text
    text = sql(("filter[data.env][ocontains]", "x,y"), _PG)
    assert " ILIKE " in text and "#>>" not in text
    # a number is looked up by the (path, num) index too, one range each
    assert "UNION ALL" in sql(("filter[data.count]", "2"), _PG)
    assert "UNION ALL" not in sql(("filter[data.count]", "two"), _PG)
    assert "UNION ALL" not in sql(("filter[data.count]", "inf"), _PG)
    assert "NOT IN" in sql(("filter[data.env][neq]", "x"), _PG)
    # the JSON prefix itself, or an unindexed prefix, still reads the JSON
    assert "thing_attrs" not in sql(("filter[plain.env]", "x"), sqlite.dialect())


def test_finite() -> None:
    assert q._finite("2") == 2.0 and q._finite("-1.5e3") == -1500.0
    for word in ("inf", "-inf", "nan", "x", ""):
        assert q._finite(word) is None


# --- number pages: the keys alone --------------------------------------------------------


def test_numbered_keys(session: Session, statements: list[tuple[str, Any]]) -> None:
    # the keys are the last term's (the tiebreak), however many terms come before it
    order = q.order_by([("kind", False), ("n", True)], SORTS, Thing.id)
    for stmt in (select(Thing), select(Thing).where(Thing.id.is_not(None))):
        keys, total = q.numbered_keys(session, stmt, order, q.PageRequest(1, 3))
        assert keys == [_uid(2), _uid(5), _uid(6)] and total == 6
    statements.clear()
    order = q.order_by([("kind", False)], SORTS, Thing.id)
    keys, total = q.numbered_keys(session, select(Thing), order, q.PageRequest(2, 2))
    assert [NAMES[k] for k in keys] == ["gamma_1", "back\\slash"] and total == 6
    assert len(statements) == 2 and "OVER" not in statements[0][0]
    statements.clear()
    flagged = select(Thing).where(Thing.flag.is_(False))
    keys, total = q.numbered_keys(session, flagged, order, q.PageRequest(1, 2))
    assert [NAMES[k] for k in keys] == ["beta 50%", "500, gammax1"] and total == 3
    assert len(statements) == 1
    statements.clear()
    # past the last page: counted apart
    assert q.numbered_keys(session, flagged, order, q.PageRequest(3, 2)) == ([], 3)
    assert len(statements) == 2
    assert q.numbered_keys(session, select(Thing), order, q.PageRequest(4, 2))[0] == []


# --- facets ------------------------------------------------------------------------------


def test_facet_request() -> None:
    assert q.facet_request({"field": "labels.team"}) == q.FacetRequest("labels.team", 100)
    assert q.facet_request({"field": "kind", "limit": "1"}).limit == 1
    assert q.facet_request({"field": "kind", "limit": "1000"}).limit == 1000
    assert q.facet_request({"field": "kind", "limit": ""}).limit == 100
    for query in ({}, {"field": ""}):
        assert problem(q.facet_request, query) == {
            "field": "field",
            "rule": "required",
            "source": "query",
            "reason": "is required: the field whose values to count",
        }
    assert problem(q.facet_request, {"field": "a\x00"}) == {
        "field": "field",
        "rule": "invalid",
        "source": "query",
        "reason": "must not contain NUL characters",
    }
    for limit in ("0", "1001", "-1"):
        assert problem(q.facet_request, {"field": "kind", "limit": limit}) == {
            "field": "limit",
            "rule": "max",
            "source": "query",
            "reason": "must be between 1 and 1000",
        }
    assert problem(q.facet_request, {"field": "kind", "limit": "x"})["rule"] == "is_integer"


def facets(
    s: Session,
    field: str,
    limit: int = 100,
    where: Any = None,
    spec: q.FilterSpec = ISPEC,
) -> tuple[list[tuple[Any, int]], bool]:
    rows = select(Thing) if where is None else select(Thing).where(where)
    data, truncated = q.facet_counts(
        s,
        spec=spec,
        columns={"kind": Thing.kind, "flag": Thing.flag},
        rows=rows,
        key=Thing.id,
        req=q.FacetRequest(field, limit),
    )
    assert all(set(d) == {"value", "count"} and type(d["count"]) is int for d in data)
    return [(d["value"], d["count"]) for d in data], truncated


def test_facets_of_columns(indexed: Session) -> None:
    # most frequent first, ties by value
    assert facets(indexed, "kind") == ([("blue", 3), ("green", 3), ("red", 3)], False)
    assert facets(indexed, "kind", 2) == ([("blue", 3), ("green", 3)], True)
    assert facets(indexed, "kind", 3) == ([("blue", 3), ("green", 3), ("red", 3)], False)
    assert facets(indexed, "flag", where=Thing.kind != "green") == ([(False, 4), (True, 2)], False)
    assert facets(indexed, "kind", where=Thing.flag.is_(True)) == (
        [("green", 3), ("red", 2)],
        False,
    )
    assert facets(indexed, "kind", where=Thing.kind == "none") == ([], False)
    # the more frequent first, though its value sorts last
    early = Thing.at < _at("2024-01-01T12:00:00+00:00")
    assert facets(indexed, "kind", where=early) == ([("blue", 2), ("red", 2), ("green", 1)], False)
    assert facets(indexed, "kind", 2, where=early) == ([("blue", 2), ("red", 2)], True)


@pytest.fixture
def indexed_statements(indexed: Session) -> Iterator[list[tuple[str, Any]]]:
    """As ``statements``, on the ``indexed`` session's engine."""
    seen: list[tuple[str, Any]] = []
    engine = indexed.get_bind()

    def record(_c: Any, _cur: Any, sql: str, params: Any, _ctx: Any, _many: bool) -> None:
        seen.append((sql, params))

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_facets_read_one_value_more_than_the_limit(
    indexed: Session, indexed_statements: list[tuple[str, Any]]
) -> None:
    """One value beyond the limit says whether there are more, in one ordered query (no
    read of every value): for a JSON path the short values (from the count table or the
    grouped index) and the long ones are one UNION, ordered and limited once."""
    merged = "ORDER BY anon_1.n DESC, anon_1.value"
    for field, spec, where, order, source in (
        ("kind", ISPEC, None, "ORDER BY count(*) DESC, things.kind", "things"),
        ("labels.tier", ISPEC, None, merged, "FROM thing_counts"),
        ("labels.tier", NO_COUNTS, None, merged, "GROUP BY thing_attrs.short"),
        ("labels.tier", ISPEC, Thing.flag, merged, "GROUP BY thing_attrs.short"),
    ):
        indexed_statements.clear()
        facets(indexed, field, 2, where=where, spec=spec)
        assert len(indexed_statements) == 1, indexed_statements
        sql, params = indexed_statements[0]
        assert order in sql and source in sql, sql
        assert "LIMIT" in sql and tuple(params)[-2:] == (3, 0), (sql, params)


@pytest.mark.parametrize("spec", [ISPEC, NO_COUNTS], ids=["counts", "grouped"])
def test_facets_of_indexed_paths(indexed: Session, spec: q.FilterSpec) -> None:
    everything = [
        ("prod", 2),
        (LONG_B, 1),  # ties by value, the long ones among them
        (LONG_A, 1),
        ("Prod", 1),
        ("dev", 1),
        ('q"uote', 1),
    ]
    assert facets(indexed, "data.env", spec=spec) == (everything, False)
    assert facets(indexed, "data.env", 6, spec=spec) == (everything, False)
    assert facets(indexed, "data.env", 5, spec=spec) == (everything[:5], True)
    assert facets(indexed, "data.env", 2, spec=spec) == (everything[:2], True)
    assert facets(indexed, "data.env", 1, spec=spec) == (everything[:1], True)
    # numbers as their text, 2.0 as 2
    assert facets(indexed, "data.count", spec=spec) == (
        [("2", 3), ("3", 2), ("10", 1)],
        False,
    )
    assert facets(indexed, "labels.team.name", spec=spec) == ([("core", 2)], False)
    assert facets(indexed, "data.w", spec=spec) == ([("x" * 200, 1), ("x" * 201, 1)], False)
    assert facets(indexed, "data.nope", spec=spec) == ([], False)
    # filtered: only the matching rows' values
    assert facets(indexed, "data.env", where=Thing.flag.is_(False), spec=spec) == (
        [(LONG_B, 1), ("dev", 1), ('q"uote', 1)],
        False,
    )
    assert facets(indexed, "labels.tier", where=Thing.kind == "blue", spec=spec) == (
        [("1", 1)],
        False,
    )
    assert facets(indexed, "data.env", where=Thing.kind == "none", spec=spec) == ([], False)


def test_whole_list_facets_read_the_count_table(indexed: Session) -> None:
    indexed.add(ThingCount(path="labels.tier", short="9", count=5))
    indexed.add(ThingCount(path="labels.tier", short="0", count=0))
    indexed.flush()
    try:
        assert facets(indexed, "labels.tier") == ([("9", 5), ("1", 2), ("2", 1)], False)
        # a value no row holds any more (count 0) is not listed
        assert facets(indexed, "labels.tier", spec=NO_COUNTS) == ([("1", 2), ("2", 1)], False)
        # filtered, the side table is grouped, whatever the count table says
        assert facets(indexed, "labels.tier", where=Thing.id.is_not(None)) == (
            [("1", 2), ("2", 1)],
            False,
        )
    finally:
        indexed.rollback()


def test_facets_of_unknown_fields(indexed: Session) -> None:
    for field in ("nope", "data", "data.", "plain.env", "nope.x", "name", f"top.{'k' * PATH_MAX}"):
        assert problem(facets, indexed, field) == {
            "field": "field",
            "rule": "enum",
            "source": "query",
            "reason": f"cannot count values of [{field}]; use one of kind, flag, data.<key>, "
            "labels.<key>, top.<key>",
        }


def test_facets_of_an_index_without_counts(indexed: Session) -> None:
    """``top`` keeps no count table: its facets group the side table, as ``data``'s
    filtered ones do, and answer the same."""
    for path in ("env", "nested", "nested.x", "count"):
        assert facets(indexed, f"top.{path}") == facets(indexed, f"data.{path}"), path
        assert facets(indexed, f"top.{path}", where=Thing.flag) == facets(
            indexed, f"data.{path}", where=Thing.flag
        ), path
    # a flat key is one segment, however many dots it holds
    assert facets(indexed, "labels.team.name") == ([("core", 2)], False)


# --- index walks: pages read from the side table alone ------------------------------

#: As ISPEC, with ``name`` and ``kind`` mirrored in the side table.
WSPEC = q.FilterSpec(
    fields=SPEC.fields,
    json_prefixes={
        "data": q.FilterField(
            "json", Thing.data, index=JsonIndex(ThingAttr, Thing.id, "data", sorts=("name", "kind"))
        ),
        "labels": q.FilterField(
            "json",
            Thing.labels,
            flat=True,
            index=JsonIndex(ThingAttr, Thing.id, "labels", sorts=("name", "kind")),
        ),
        "top": q.FilterField("json", Thing.data, index=TOP),
    },
)
WALKS = [
    [("filter[data.env]", "prod")],
    [("filter[data.env][eq]", "dev")],
    [("filter[data.env][oeq]", "dev,prod")],
    [("filter[labels.team.name]", "core")],
    [("filter[labels.team.name][oeq]", "core,edge,x")],
    [("filter[labels.team.name]", "core"), ("filter[data.env][neq]", LONG_A)],
    [("filter[data.env][neq]", "dev"), ("filter[data.env][oeq]", "prod,dev")],
    [("filter[data.env][oeq]", "prod,dev"), ("filter[data.count][gte]", "2")],
    [("filter[labels.team.name][oeq]", "core,x"), ("filter[data.env][contains]", "L")],
    [("filter[labels.tier]", "1"), ("filter[data.env][eq]", LONG_B[-10:])],
    [("filter[data.env]", "nobody")],
    # two or three equalities: their index ranges intersected (merged, on SQLite)
    [("filter[data.env]", "prod"), ("filter[labels.team.name]", "core")],
    [("filter[data.env][oeq]", "prod,dev"), ("filter[labels.team.name][oeq]", "core,edge")],
    [
        ("filter[labels.team.name]", "core"),
        ("filter[data.env][oeq]", "dev,prod"),
        ("filter[data.count][gte]", "2"),
    ],
    [("filter[data.env]", "prod"), ("filter[data.env]", "prod"), ("filter[labels.tier]", "1")],
    [("filter[data.env]", "prod"), ("filter[labels.team.name]", "nobody")],
]


def _general_keys(s: Session, terms: list[tuple[str, str]], sort: Any, page: Any) -> Any:
    clauses = q.filter_clauses(WSPEC, terms, "sqlite")
    order = q.order_by(sort, SORTS, Thing.id)
    return q.numbered_keys(s, select(Thing.id).where(*clauses), order, page)


@pytest.mark.parametrize("terms", WALKS, ids=lambda t: "&".join(f"{k[7:]}={v[:8]}" for k, v in t))
@pytest.mark.parametrize(
    "sort", [[("name", False)], [("name", True)], [("kind", False), ("name", True)]], ids=str
)
def test_index_walks_page_as_the_general_path(
    indexed: Session, terms: list[tuple[str, str]], sort: Any
) -> None:
    walk = q.index_walk(WSPEC, terms, "sqlite", sort)
    assert walk is not None
    for size in (1, 2, 3, 100):
        for number in range(1, 6):
            page = q.PageRequest(number, size)
            assert q.walked_keys(indexed, walk, page) == _general_keys(indexed, terms, sort, page)


def test_index_walk_needs_an_equality_of_text_on_mirrored_sorts() -> None:
    def walk(terms: list[tuple[str, str]], sort: Any = (("name", False),)) -> Any:
        return q.index_walk(WSPEC, terms, "sqlite", list(sort))

    assert walk([("filter[data.env]", "prod")]) is not None
    assert walk([("filter[data.env]", "prod")], [("kind", True)]) is not None
    assert walk([("filter[data.env]", "x" * SHORT_MAX)]) is not None
    assert walk([]) is None  # nothing to walk
    assert walk([("filter[data.env]", "prod")], []) is None  # no sort to follow
    assert walk([("filter[data.env]", "prod")], [("n", False)]) is None  # not mirrored
    assert walk([("filter[data.env]", "prod"), ("filter[name]", "alpha")]) is None  # a column
    assert walk([("filter[data.env]", "prod"), ("filter[top.env]", "prod")]) is None  # unmirrored
    assert walk([("filter[data.env][neq]", "prod")]) is None  # no equality
    assert walk([("filter[data.env][contains]", "prod")]) is None
    assert walk([("filter[data.count]", "2")]) is None  # a number: also its num rows
    assert walk([("filter[data.env][oeq]", "prod,2")]) is None
    assert walk([("filter[data.env]", "x" * (SHORT_MAX + 1))]) is None  # not in short
    assert walk([("filter[data.env][oeq]", "prod," + "x" * (SHORT_MAX + 1))]) is None
    # the equality drives even when it is not the first term
    both = walk([("filter[data.count][gt]", "1"), ("filter[data.env]", "prod")])
    assert both is not None
    sql = str(both.stmt.compile(dialect=sqlite.dialect()))
    assert sql.count("thing_attrs_walk.short = ?") == 1


def test_a_walk_of_one_equality_is_built_once_per_shape(indexed: Session) -> None:
    """One equality of text and no other term: every value walks the same statement (built
    once per shape, the value bound at execution), and each answers as the general path."""
    sort = [("name", False)]
    walks = {
        value: q.index_walk(WSPEC, [("filter[data.env]", value)], "sqlite", sort)
        for value in ("prod", "dev", "nobody")
    }
    first = walks["prod"]
    assert first is not None and first.shape is not None
    for value, walk in walks.items():
        assert walk is not None
        assert (walk.stmt, walk.paged, walk.shape) == (first.stmt, first.paged, first.shape)
        assert walk.params == {"walk_p0": "data.env", "walk_s0": value}
        terms = [("filter[data.env]", value)]
        for page in (q.PageRequest(1, 2), q.PageRequest(2, 2), q.PageRequest(1, 100)):
            assert q.walked_keys(indexed, walk, page) == _general_keys(indexed, terms, sort, page)
    # another shape (two values; another sort), another statement
    oeq = q.index_walk(WSPEC, [("filter[data.env][oeq]", "prod,dev")], "sqlite", sort)
    desc = q.index_walk(WSPEC, [("filter[data.env]", "prod")], "sqlite", [("name", True)])
    assert oeq is not None and desc is not None
    assert len({id(first.stmt), id(oeq.stmt), id(desc.paged)}) == 3
    assert len({first.shape, oeq.shape, desc.shape}) == 3


def test_index_walk_checks_its_terms() -> None:
    with pytest.raises(Problem) as bad:
        q.index_walk(WSPEC, [("filter[nope]", "x")], "sqlite", [("name", False)])
    assert bad.value.status == 400
    with pytest.raises(Problem):
        q.index_walk(
            WSPEC,
            [("filter[data.env][lt]", "x"), ("filter[data.a]", "b")],
            "sqlite",
            [("name", False)],
        )


def test_walked_totals_past_the_end(indexed: Session) -> None:
    walk = q.index_walk(WSPEC, [("filter[data.env][oeq]", "prod,dev")], "sqlite", [("name", False)])
    assert walk is not None
    assert q.walked_keys(indexed, walk, q.PageRequest(1, 2))[1] == 3
    assert q.walked_keys(indexed, walk, q.PageRequest(9, 2)) == ([], 3)
    nobody = q.index_walk(WSPEC, [("filter[data.env]", "zz")], "sqlite", [("name", False)])
    assert nobody is not None
    assert q.walked_keys(indexed, nobody, q.PageRequest(1, 2)) == ([], 0)


def test_model_fields_take_their_kind_from_the_column_type_in_the_order_named() -> None:
    fields = q.model_fields(Thing, "name id at ref flag", prefix="thing.")
    assert [(k, f.kind, f.column) for k, f in fields.items()] == [
        ("thing.name", "string", Thing.name),
        ("thing.id", "uuid", Thing.id),
        ("thing.at", "datetime", Thing.at),
        ("thing.ref", "uuid", Thing.ref),
        ("thing.flag", "boolean", Thing.flag),
    ]
    with pytest.raises(TypeError, match="no filter kind"):
        q.model_fields(Thing, "data")  # JSON is written as a FilterField("json", ...)

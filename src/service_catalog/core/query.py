"""One filter, sort and paging grammar for every list endpoint and web page.

Query strings follow the contract: ``filter[field]=v`` (equality),
``filter[field][op]=v``, dot paths into JSON columns (``filter[labels.env]``,
``filter[config.service_id]``), ``sort=name desc,created_at`` and number
paging (``page[size]``, ``page[number]``) or cursor paging (``page[after]``, with opaque
cursors signed by the server).
Filters compile to SQL; nothing loads a table into Python.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import datetime as dt
import functools
import hashlib
import hmac
import json
import math
import os
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlencode

from sqlalchemy import (
    Select,
    String,
    Uuid,
    and_,
    any_,
    bindparam,
    case,
    func,
    intersect,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Alias
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator

from service_catalog.core.errors import Problem
from service_catalog.core.jsonindex import SHORT_MAX, JsonIndex, value_count_sums

Kind = Literal["string", "uuid", "datetime", "boolean", "number", "json", "enum"]

OPS: dict[str, tuple[str, ...]] = {
    "string": ("eq", "neq", "contains", "oeq", "ocontains"),
    "enum": ("eq", "neq", "oeq"),
    "uuid": ("eq", "neq", "oeq"),
    "datetime": ("eq", "lt", "lte", "gt", "gte"),
    "number": ("eq", "lt", "lte", "gt", "gte"),
    "boolean": ("eq",),
    "json": ("eq", "neq", "contains", "oeq", "ocontains", "lt", "lte", "gt", "gte"),
}

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000

_FILTER_KEY = re.compile(r"^filter\[([^\[\]]+)\](?:\[([^\[\]]*)\])?$")


@dataclass(frozen=True)
class FilterField:
    """A filterable field: its kind and the SQL it compiles to.

    ``column`` is a column expression, or for ``json`` a JSON column whose
    dotted sub-path comes from the query (``labels.env`` -> ``labels['env']``).
    ``flat`` JSON fields treat everything after the prefix as one key
    (label keys may contain dots). A JSON field with an ``index`` is filtered through
    its side table (:mod:`service_catalog.core.jsonindex`) instead of the JSON itself.
    """

    kind: Kind
    column: Any
    flat: bool = False
    choices: tuple[str, ...] = ()
    index: JsonIndex | None = None


@dataclass
class FilterSpec:
    """The fields one list endpoint accepts in ``filter[...]``."""

    fields: Mapping[str, FilterField]
    json_prefixes: Mapping[str, FilterField] = field(default_factory=dict)

    def names(self) -> list[str]:
        """Accepted field names, for error messages."""
        return sorted([*self.fields, *(f"{p}.<key>" for p in self.json_prefixes)])


#: The filter kind of a column, by the Python type its SQL type reads as (first match).
_KIND_OF_TYPE: tuple[tuple[type, Kind], ...] = (
    (bool, "boolean"),
    (uuid.UUID, "uuid"),
    (str, "string"),
    (dt.datetime, "datetime"),
)


def _column_kind(column: Any) -> Kind:
    sql_type = column.type
    if isinstance(sql_type, TypeDecorator):
        sql_type = sql_type.impl_instance
    for python_type, kind in _KIND_OF_TYPE:
        if issubclass(sql_type.python_type, python_type):
            return kind
    raise TypeError(f"no filter kind for the column {column} of type {column.type}")


def model_fields(model: Any, names: str, *, prefix: str = "") -> dict[str, FilterField]:
    """Filter fields on columns of ``model`` named in ``names`` (separated by white space),
    in that order, each of the kind its column's type reads as (uuid, string, datetime or
    boolean) and filtered as ``prefix`` + its name: ``model_fields(Event, "id type")`` is
    ``{"id": FilterField("uuid", Event.id), "type": FilterField("string", Event.type)}``.
    Fields of another kind (``enum``, ``json`` ...) or SQL are written as :class:`FilterField`."""
    columns = {name: getattr(model, name) for name in names.split()}
    return {prefix + name: FilterField(_column_kind(col), col) for name, col in columns.items()}


def _qproblem(param: str, reason: str, rule: str = "invalid", **extra: Any) -> Problem:
    p: dict[str, Any] = {"field": param, "rule": rule, "reason": reason, "source": "query"}
    p.update(extra)
    return Problem(400, f"Invalid query parameter [{param}]: {reason}", invalid_parameters=[p])


# --- JSON helpers that work on SQLite and PostgreSQL alike ---------------------------


def _sqlite_path(segments: Sequence[str]) -> str:
    return "$" + "".join('."' + s.replace('"', '\\"') + '"' for s in segments)


class _JsonOps:
    """Dialect-specific pieces of JSON filtering, chosen once per query."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def text(self, column: Any, segs: Sequence[str]) -> ColumnElement[Any]:
        if self.sqlite:
            path = _sqlite_path(segs)
            # json_extract gives 1/0 for booleans; normalise to the JSON words.
            return case(
                (func.json_type(column, path) == "true", literal("true")),
                (func.json_type(column, path) == "false", literal("false")),
                else_=func.json_extract(column, path),
            )
        return column[tuple(segs)].as_string()  # type: ignore[no-any-return]

    def number(self, column: Any, segs: Sequence[str]) -> ColumnElement[Any]:
        if self.sqlite:
            path = _sqlite_path(segs)
            return case(
                (
                    func.json_type(column, path).in_(["integer", "real"]),
                    func.json_extract(column, path),
                ),
            )  # anything else (text, true, an object) is NULL: no number to compare
        node = column[tuple(segs)]
        return case((func.jsonb_typeof(node) == "number", node.as_float()))


def _split(value: str) -> list[str]:
    return [v for v in value.split(",")]


# ``+02:00`` written unencoded in a query string arrives as `` 02:00`` (a ``+`` is a space
# in form encoding): read a space before a trailing offset as the ``+`` it was.
_SPACED_OFFSET = re.compile(r"(?<=\d) (\d\d:\d\d)$")


def _parse_datetime(param: str, value: str) -> dt.datetime:
    # fromisoformat reads "Z" (Python 3.11+), not "z".
    text = _SPACED_OFFSET.sub(r"+\1", value.replace("z", "Z"))
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _qproblem(param, "must be an RFC 3339 date-time", "is_date_time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:  # stored in UTC: 0001-01-01T00:00+14:00 has no UTC equivalent
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        raise _qproblem(
            param, "must be a date-time between years 1 and 9999 in UTC", "is_date_time"
        ) from None


def _parse_number(param: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise _qproblem(param, "must be a number", "is_number") from None
    if not math.isfinite(number):
        raise _qproblem(param, "must be a finite number", "is_number")
    return number


def _parse_bool(param: str, value: str) -> bool:
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise _qproblem(param, "must be true or false", "is_boolean")


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(col: ColumnElement[Any], value: str, sqlite: bool) -> ColumnElement[bool]:
    pattern = f"%{_like_escape(value)}%"
    if sqlite:
        # SQLite's LIKE is already case-insensitive (for ASCII, exactly like its lower()),
        # and without lower() a scan can read a covering index: several times faster.
        return col.like(pattern, escape="\\")
    return col.ilike(pattern, escape="\\")


def _string_clause(
    col: ColumnElement[Any], op: str, value: str, sqlite: bool
) -> ColumnElement[bool]:
    if op == "eq":
        return col == value
    if op == "neq":
        return or_(col != value, col.is_(None))
    if op == "contains":
        return _contains(col, value, sqlite)
    if op == "oeq":
        return col.in_(_split(value))
    # ocontains (filter_clauses checked the operator against the field's kind)
    return or_(*[_contains(col, v, sqlite) for v in _split(value)])


def _compare(col: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    return {  # type: ignore[no-any-return]
        "eq": lambda: col == value,
        "lt": lambda: col < value,
        "lte": lambda: col <= value,
        "gt": lambda: col > value,
        "gte": lambda: col >= value,
    }[op]()


def _uuid_values(param: str, value: str) -> list[uuid.UUID]:
    out = []
    for v in _split(value):
        try:
            out.append(uuid.UUID(v))
        except ValueError:
            raise _qproblem(param, f"[{v}] is not a UUID", "is_uuid") from None
    return out


def _check_choices(ff: FilterField, op: str, value: str, param: str) -> None:
    for v in _split(value) if op == "oeq" else [value]:
        if v not in ff.choices:
            raise _qproblem(
                param,
                f"must be one of {', '.join(ff.choices)}",
                "enum",
                choices=list(ff.choices),
            )


def _uuid_clause(ff: FilterField, op: str, value: str, param: str) -> ColumnElement[bool]:
    ids = _uuid_values(param, value)
    if op == "oeq":
        return ff.column.in_(ids)  # type: ignore[no-any-return]
    if len(ids) != 1:
        raise _qproblem(param, "takes one UUID; use [oeq] for several", "is_uuid")
    if op == "eq":
        return ff.column == ids[0]  # type: ignore[no-any-return]
    # As for strings, neq keeps the rows without a value.
    return or_(ff.column != ids[0], ff.column.is_(None))


def _json_clause(
    ff: FilterField, segs: Sequence[str], op: str, value: str, param: str, jops: _JsonOps
) -> ColumnElement[bool]:
    """A path inside a JSON column: numbers compare as numbers, eq matches the text or,
    for a numeric value, the number."""
    if op in ("lt", "lte", "gt", "gte"):
        return _compare(jops.number(ff.column, segs), op, _parse_number(param, value))
    text = jops.text(ff.column, segs)
    if op == "eq":
        alts: list[ColumnElement[bool]] = [text == value]
        num = _finite(value)
        if num is not None:
            alts.append(jops.number(ff.column, segs) == num)
        return or_(*alts)
    return _string_clause(text, op, value, jops.sqlite)


def _short_eq(t: Any, value: str) -> ColumnElement[bool]:
    if len(value) <= SHORT_MAX:
        return t.short == value  # type: ignore[no-any-return]
    return and_(t.short.is_(None), t.value == value)


def _short_contains(t: Any, value: str, sqlite: bool) -> ColumnElement[bool]:
    return or_(_contains(t.short, value, sqlite), _contains(t.value, value, sqlite))


def _indexed_clause(
    index: JsonIndex, path: str, op: str, value: str, param: str, sqlite: bool, owner: Any
) -> ColumnElement[bool]:
    """A JSON path filter read from the side table ``index``: ``owner`` (the list's key
    column, or the side table's own ``owner_id``) is one whose row for ``path`` matches,
    through the ``(path, short)`` or ``(path, num)`` index. Same answers as
    :func:`_json_clause` on the JSON."""
    t = index.table
    rows = select(t.owner_id).where(t.path == path)
    if op in ("lt", "lte", "gt", "gte"):
        return owner.in_(  # type: ignore[no-any-return]
            rows.where(_compare(t.num, op, _parse_number(param, value)))
        )
    if op == "neq":  # as for strings, neq keeps the rows without the key
        return owner.not_in(rows.where(_short_eq(t, value)))  # type: ignore[no-any-return]
    if op == "eq":
        matching: Any = rows.where(_short_eq(t, value))
        num = _finite(value)
        if num is not None:  # or the number: "2" finds 2.0 (one index range each)
            matching = union_all(matching, rows.where(t.num == num))
    elif op == "oeq":
        matching = rows.where(or_(*[_short_eq(t, v) for v in _split(value)]))
    elif op == "contains":
        matching = rows.where(_short_contains(t, value, sqlite))
    else:  # ocontains
        matching = rows.where(or_(*[_short_contains(t, v, sqlite) for v in _split(value)]))
    return owner.in_(matching)  # type: ignore[no-any-return]


def _finite(value: str) -> float | None:
    try:
        num = float(value)
    except ValueError:
        return None
    return num if math.isfinite(num) else None


def _clause(
    ff: FilterField, segs: Sequence[str], op: str, value: str, param: str, jops: _JsonOps
) -> ColumnElement[bool]:
    kind = ff.kind
    if kind in ("string", "enum"):
        if ff.choices:
            _check_choices(ff, op, value, param)
        return _string_clause(ff.column, op, value, jops.sqlite)
    if kind == "uuid":
        return _uuid_clause(ff, op, value, param)
    if kind == "datetime":
        return _compare(ff.column, op, _parse_datetime(param, value))
    if kind == "number":
        return _compare(ff.column, op, _parse_number(param, value))
    if kind == "boolean":
        return ff.column == _parse_bool(param, value)  # type: ignore[no-any-return]
    return _json_clause(ff, segs, op, value, param, jops)


@dataclass
class ParsedFilter:
    """One ``filter[...]`` term from a query string."""

    param: str
    name: str
    op: str
    value: str


def parse_filters(query: Iterable[tuple[str, str]]) -> list[ParsedFilter]:
    """Pick the ``filter[...]`` terms out of a query string."""
    out = []
    for key, value in query:
        if not key.startswith("filter"):
            continue
        m = _FILTER_KEY.match(key)
        if not m:
            raise _qproblem(key, "is not a valid filter; use filter[field] or filter[field][op]")
        if "\x00" in value or "\x00" in key:
            # Nothing stored holds NUL, and PostgreSQL refuses it as a parameter.
            raise _qproblem(key, "must not contain NUL characters")
        out.append(ParsedFilter(key, m.group(1), m.group(2) or "eq", value))
    return out


@dataclass(frozen=True)
class _Term:
    """One validated filter term: its field, the JSON path segments after a prefix (empty
    for a plain field) and the parsed ``filter[...]``."""

    ff: FilterField
    segs: list[str]
    pf: ParsedFilter

    @property
    def indexed(self) -> bool:
        """Whether the term reads a JSON side table."""
        return self.ff.index is not None and bool(self.segs) and self.ff.index.covers(self.pf.name)


def _terms(spec: FilterSpec, query: Iterable[tuple[str, str]]) -> list[_Term]:
    """A query string's filter terms checked against ``spec``; unknown fields or ops are a
    400."""
    terms: list[_Term] = []
    for pf in parse_filters(query):
        ff = spec.fields.get(pf.name)
        segs: list[str] = []
        if ff is None:
            prefix, _, rest = pf.name.partition(".")
            ff = spec.json_prefixes.get(prefix)
            if ff is None or not rest:
                raise _qproblem(
                    pf.param,
                    f"unknown filter field [{pf.name}]; known fields: {', '.join(spec.names())}",
                    "unknown_property",
                )
            segs = [rest] if ff.flat else rest.split(".")
            if any(not s for s in segs):
                raise _qproblem(pf.param, "has an empty path segment")
        ops = OPS[ff.kind]
        if pf.op not in ops:
            raise _qproblem(
                pf.param,
                f"unknown filter operator [{pf.op}] for [{pf.name}]; use one of {', '.join(ops)}",
                "enum",
                choices=list(ops),
            )
        terms.append(_Term(ff, segs, pf))
    return terms


def _term_clause(term: _Term, jops: _JsonOps) -> ColumnElement[bool]:
    pf = term.pf
    if term.indexed:
        assert term.ff.index is not None
        return _indexed_clause(
            term.ff.index, pf.name, pf.op, pf.value, pf.param, jops.sqlite, term.ff.index.owner
        )
    return _clause(term.ff, term.segs, pf.op, pf.value, pf.param, jops)


def filter_clauses(
    spec: FilterSpec, query: Iterable[tuple[str, str]], dialect: str
) -> list[ColumnElement[bool]]:
    """Compile a query string's filters against ``spec``; unknown fields or ops are a 400."""
    jops = _JsonOps(dialect)
    return [_term_clause(t, jops) for t in _terms(spec, query)]


def keys_in(
    column: Any, keys: frozenset[uuid.UUID], dialect: str, *, lookup: bool = True
) -> ColumnElement[bool]:
    """``column IN keys`` (UUID keys), sent as one bound value however many keys there are
    (an ``IN`` list of a thousand parameters cost the driver and SQLAlchemy 3.5x a list's
    time). SQLite: a JSON array read by ``json_each`` (its ``Uuid`` columns hold 32 hex
    digits). PostgreSQL: an array; with ``lookup`` (the keys drive the query: each is
    looked up by its index) ``IN (SELECT unnest(:keys))``, whose generic plan estimates a
    few rows (``= ANY(:keys)`` was planned as a scan of the table); without it (rows found
    otherwise, e.g. a walk of the label index, are tested) ``= ANY(:keys)``."""
    if dialect == "postgresql":
        array = bindparam(None, list(keys), type_=ARRAY(Uuid()))
        if lookup:
            found: ColumnElement[bool] = column.in_(select(func.unnest(array)))
            return found
        tested: ColumnElement[bool] = column == any_(array)
        return tested
    values = func.json_each(bindparam(None, _json_keys(keys), type_=String())).table_valued("value")
    listed: ColumnElement[bool] = column.in_(select(values.c.value))
    return listed


class _IndexedBy(Alias):
    """An alias of a table that SQLite reads through one named index (``INDEXED BY``),
    for a query its planner would answer through another; plain on other databases."""

    inherit_cache = True
    __visit_name__ = "indexed_by"
    _traverse_internals = [  # noqa: RUF012
        *Alias._traverse_internals,
        ("index_name", InternalTraversal.dp_string),
    ]
    index_name: str


@compiles(_IndexedBy)
def _indexed_by_default(element: _IndexedBy, compiler: Any, **kw: Any) -> str:
    return str(compiler.visit_alias(element, **kw))


@compiles(_IndexedBy, "sqlite")
def _indexed_by_sqlite(element: _IndexedBy, compiler: Any, **kw: Any) -> str:
    text = str(compiler.visit_alias(element, **kw))
    if kw.get("asfrom"):
        text += " INDEXED BY " + compiler.preparer.quote(element.index_name)
    return text


@functools.lru_cache(maxsize=16)
def indexed_by(table: Any, index_name: str) -> Any:
    """``table`` aliased as ``<table>_by_index``, read on SQLite through ``index_name``
    (one alias per table and index: built once)."""
    alias = _IndexedBy._construct(table, name=f"{table.name}_by_index")
    alias.index_name = index_name
    return alias


@dataclass(frozen=True)
class KeysPage:
    """One number page of the rows whose key is in a set given per request, SQLite: the
    statement (keys, and the total with ``count(*) OVER ()``) built once, the keys bound
    as one JSON array (:func:`keys_page`)."""

    paged: Select[Any]
    counted: Select[Any]


def keys_page_statement(key: Any, order: Sequence[Any]) -> KeysPage:
    """The :class:`KeysPage` of ``key IN <keys>`` sorted by ``order`` (ending with
    ``key``), for SQLite; build it once (e.g. in a cached function)."""
    values = func.json_each(bindparam("page_keys", type_=String())).table_valued("value")
    where = key.in_(select(values.c.value))
    paged = (
        select(key, func.count().over())
        .where(where)
        .order_by(*order)
        .limit(bindparam("page_size"))
        .offset(bindparam("page_offset"))
    )
    return KeysPage(paged, select(func.count()).select_from(key.table).where(where))


def keys_page(
    session: Session, plan: KeysPage, keys: frozenset[uuid.UUID], page: PageRequest
) -> tuple[list[Any], int]:
    """The keys of one number page of ``plan`` over ``keys``, in order, and the total."""
    offset = (page.number - 1) * page.size
    bound = {"page_keys": _json_keys(keys), "page_size": page.size, "page_offset": offset}
    rows = session.connection().execute(plan.paged, bound).all()
    if rows:
        return [r[0] for r in rows], int(rows[0][1])
    return [], (int(session.scalar(plan.counted, bound) or 0) if offset else 0)


@functools.lru_cache(maxsize=256)
def _json_keys(keys: frozenset[uuid.UUID]) -> str:
    """A key set as a JSON array of hex digits (memoised: a principal's set is the same
    from one request to the next)."""
    return json.dumps(sorted(k.hex for k in keys))  # sorted: neighbouring index seeks


@dataclass(frozen=True)
class IndexWalk:
    """A list's page keys read from a JSON side table alone (:func:`index_walk`):
    ``stmt`` selects the owners' keys, ``order`` its ORDER BY terms, which the side
    table's ``(path, short, <sort key>, owner_id)`` index delivers."""

    stmt: Select[Any]
    order: list[Any]
    #: Whether ``stmt`` filters beyond the driving index range (another term, or the
    #: principal's services): its total is then counted with the page (a window over the
    #: matches) rather than by a second evaluation of every filter.
    filtered: bool = False
    #: Values of ``stmt``'s named bound parameters (a statement built once per shape).
    params: Mapping[str, Any] = field(default_factory=dict)
    #: ``stmt`` with its total, ``order`` and a LIMIT/OFFSET bound as ``walk_limit`` and
    #: ``walk_offset``, when built once per shape (else :func:`walked_keys` builds it).
    paged: Select[Any] | None = None
    #: When ``stmt`` is built once per shape (its values all in ``params``): a hashable
    #: key of that shape, on which statements built from it are memoised
    #: (:func:`walked_rows`).
    shape: tuple[Any, ...] | None = None


def _text_values(term: _Term) -> list[str] | None:
    """The values an ``eq``/``oeq`` term compares as text alone (no number spelling, each
    short enough for the index's ``short`` column), or None."""
    op, value = term.pf.op, term.pf.value
    if op not in ("eq", "oeq"):
        return None
    values = _split(value) if op == "oeq" else [value]
    if any(_finite(v) is not None or len(v) > SHORT_MAX for v in values):
        return None
    return values


def index_walk(
    spec: FilterSpec,
    query: Iterable[tuple[str, str]],
    dialect: str,
    sort: list[tuple[str, bool]],
    *,
    owners: frozenset[uuid.UUID] | None = None,
) -> IndexWalk | None:
    """Page keys straight from a JSON side table, when that answers the same as the list:
    every filter term reads the same side table, one of them is an equality of text values
    (``filter[labels.team]=core``, ``oeq``), and the sort is by owner fields the side
    table mirrors (:attr:`JsonIndex.sorts`, e.g. ``display_name``). The equality term's
    index range then holds the matches already in sort order: a page reads ``size``
    index entries instead of looking up every match's row to sort them (at 100,000
    services a 1% label page is 1,000 matches); the other terms test the owner key
    against their own index range. On SQLite every equality of text is such a range, and
    several are merged (:func:`_merged_walk`). None otherwise (the list takes its general
    path).

    ``owners``, when given, restricts the walk to those owner keys (the services a
    principal may read): one more clause on the side table's ``owner_id``."""
    terms = _terms(spec, query)
    if not terms or not all(t.indexed for t in terms):
        return None
    index = terms[0].ff.index
    assert index is not None
    names = {name for name, _ in sort}
    if not names or any(
        t.ff.index is None or t.ff.index.table is not index.table or names - set(t.ff.index.sorts)
        for t in terms
    ):
        return None
    texts = [t for t in terms if _text_values(t) is not None]
    if not texts:
        return None
    # SQLite: every equality of text is one index range already in list order, and
    # their intersection a merge of those ranges (INTERSECT with an ORDER BY: one pass
    # over each, no lookup per entry). PostgreSQL plans the subqueries well itself.
    arms = texts if dialect == "sqlite" else texts[:1]
    others = [term for term in terms if not any(term is arm for arm in arms)]
    if len(arms) > 1:
        params: dict[str, Any] = {}
        widths = []
        for i, arm in enumerate(arms):
            values = _text_values(arm)
            assert values is not None
            params[f"walk_p{i}"] = arm.pf.name
            params[f"walk_s{i}"] = values[0] if len(values) == 1 else values
            widths.append(len(values))
        shape = (index.table, index.sorts, tuple(widths), tuple(sort))
        if not others and owners is None:  # the statement of this shape, built once
            return replace(_merged_walk(*shape), params=params)
        first = _walk_alias(index.table, 0)
        return replace(
            _merged_walk.__wrapped__(*shape, _tests(others, owners, first, index, dialect)),
            params=params,
        )
    values = _text_values(arms[0])
    assert values is not None
    if not others and owners is None:  # the statement of this shape, built once
        return replace(
            _single_walk(index.table, index.sorts, len(values), tuple(sort)),
            params={
                "walk_p0": arms[0].pf.name,
                "walk_s0": values[0] if len(values) == 1 else values,
            },
        )
    t = _walk_alias(index.table, 0)  # an alias: the other terms' subqueries read the table
    clauses: list[ColumnElement[bool]] = [
        t.path == arms[0].pf.name,
        t.short == values[0] if len(values) == 1 else t.short.in_(values),
        *_tests(others, owners, t, index, dialect),
    ]
    columns = {name: getattr(t, name) for name in index.sorts}
    return IndexWalk(
        select(t.owner_id).where(*clauses), order_by(sort, columns, t.owner_id), len(clauses) > 2
    )


def _tests(
    others: list[_Term],
    owners: frozenset[uuid.UUID] | None,
    t: Any,
    index: JsonIndex,
    dialect: str,
) -> list[ColumnElement[bool]]:
    """The clauses testing a walked index entry ``t`` against the ``others`` terms (each
    through its own index range) and the principal's ``owners``."""
    sqlite = dialect == "sqlite"
    tests = [
        _indexed_clause(
            index, term.pf.name, term.pf.op, term.pf.value, term.pf.param, sqlite, t.owner_id
        )
        for term in others
    ]
    if owners is not None:
        tests.append(keys_in(t.owner_id, owners, dialect, lookup=False))
    return tests


@functools.lru_cache(maxsize=256)
def _merged_walk(
    table: Any,
    sorts: tuple[str, ...],
    widths: tuple[int, ...],
    sort: tuple[tuple[str, bool], ...],
    tests: Sequence[ColumnElement[bool]] = (),
) -> IndexWalk:
    """The walk of several equalities of text on one side table (SQLite): each is an index
    range already in list order (:attr:`JsonIndex.sorts`, then the owner), so their
    ``INTERSECT`` with that ORDER BY is a merge of the ranges (one pass over each, no
    lookup per entry: at 100,000 services a third of testing each of 1,000 entries
    against another range). Arm ``i`` compares its path with ``walk_p<i>`` and its value
    with ``walk_s<i>`` (a list where ``widths[i] > 1``); ``tests`` (the other terms, the
    principal's keys) filter the first arm. Built once per shape when there are none."""
    arms = []
    for i, width in enumerate(widths):
        t = _walk_alias(table, i)
        value: Any = bindparam(f"walk_s{i}", expanding=width > 1)
        arms.append(
            select(*[getattr(t, name) for name in sorts], t.owner_id.label("owner_id")).where(
                t.path == bindparam(f"walk_p{i}"),
                t.short.in_(value) if width > 1 else t.short == value,
                *(tests if i == 0 else ()),
            )
        )
    both = intersect(*arms)
    mine = both.selected_columns
    merged = both.order_by(
        *order_by(list(sort), {n: mine[n] for n in sorts}, mine.owner_id)
    ).subquery(f"{table.__tablename__}_both")
    stmt = select(merged.c.owner_id)
    order = order_by(list(sort), {n: merged.c[n] for n in sorts}, merged.c.owner_id)
    paged = (
        stmt.add_columns(func.count().over())
        .order_by(*order)
        .limit(bindparam("walk_limit"))
        .offset(bindparam("walk_offset"))
    )
    shape = None if tests else ("merged", table, sorts, widths, sort)
    return IndexWalk(stmt, order, filtered=True, paged=paged, shape=shape)


@functools.lru_cache(maxsize=256)
def _single_walk(
    table: Any, sorts: tuple[str, ...], width: int, sort: tuple[tuple[str, bool], ...]
) -> IndexWalk:
    """The walk of one equality of text (``width`` values, ``oeq`` when more than one) on
    one side table, with no other term: its path bound as ``walk_p0``, its value (a list
    where ``width > 1``) as ``walk_s0``. Built once per shape, with its ``paged``
    statement (the total a scalar subquery counting the same index range): a request
    then builds no SQL (building and compiling the statement cost a 1% label page
    about as much as reading it on PostgreSQL)."""
    t = _walk_alias(table, 0)
    value: Any = bindparam("walk_s0", expanding=width > 1)
    stmt = select(t.owner_id).where(
        t.path == bindparam("walk_p0"), t.short.in_(value) if width > 1 else t.short == value
    )
    order = order_by(list(sort), {name: getattr(t, name) for name in sorts}, t.owner_id)
    total = stmt.with_only_columns(func.count()).scalar_subquery().correlate(None)
    paged = (
        stmt.add_columns(total)
        .order_by(*order)
        .limit(bindparam("walk_limit"))
        .offset(bindparam("walk_offset"))
    )
    return IndexWalk(stmt, order, paged=paged, shape=("single", table, sorts, width, sort))


@functools.lru_cache(maxsize=64)
def _walk_alias(table: Any, n: int = 0) -> Any:
    """The ``n``-th alias of a side table (an alias is built column by column: not per
    request)."""
    return aliased(table, name=f"{table.__tablename__}_walk{n or ''}")


def walked_keys(session: Session, walk: IndexWalk, page: PageRequest) -> tuple[list[Any], int]:
    """The keys of one number page of an :class:`IndexWalk`, in order, and the total: the
    page reads its entries in index order and stops at its LIMIT; the total is an
    uncorrelated scalar subquery counting the same index range (evaluated once, reading
    no table row: cheaper than sorting every match to count them with a window). A walk
    with more filters than its index range counts with a window instead: its matches
    are found once (a scalar count would test every filter a second time)."""
    offset = (page.number - 1) * page.size
    conn = session.connection()
    if walk.paged is not None:
        bounds = {**walk.params, "walk_limit": page.size, "walk_offset": offset}
        rows = conn.execute(walk.paged, bounds).all()
    else:
        total: Any = func.count().over()
        if not walk.filtered:
            total = walk.stmt.with_only_columns(func.count()).scalar_subquery().correlate(None)
        paging = walk.stmt.add_columns(total).order_by(*walk.order)
        rows = conn.execute(paging.limit(page.size).offset(offset), walk.params).all()
    if rows:
        return [r[0] for r in rows], int(rows[0][1])
    return [], (_count(session, walk.stmt, walk.params) if offset else 0)


def walked_rows(
    session: Session, walk: IndexWalk, page: PageRequest, key: Any, columns: Sequence[Any]
) -> tuple[list[tuple[Any, ...]], int]:
    """As :func:`walked_keys`, but the page's rows (``columns`` of the table whose key
    column ``key`` the walked owners are), in order, in the same statement: the page of
    keys joined to their rows, one round trip instead of two (on PostgreSQL, about a
    quarter of a 1% label page's time). Rows come as the driver returns them (plain
    tuples, ``columns`` typed as they are given). The statement is built once per
    :attr:`IndexWalk.shape` (``key`` and ``columns`` being the same objects each time)."""
    offset = (page.number - 1) * page.size
    bounds = {**walk.params, "walk_limit": page.size, "walk_offset": offset}
    memo = None if walk.shape is None else (walk.shape, key, *columns)
    stmt = None if memo is None else _ROWS_STATEMENTS.get(memo)
    if stmt is None:
        stmt = _rows_statement(walk, key, columns)
        if memo is not None:
            if len(_ROWS_STATEMENTS) >= 256:  # (``oeq`` widths make shapes: keep a bound)
                _ROWS_STATEMENTS.clear()
            _ROWS_STATEMENTS[memo] = stmt
    rows = session.connection().execute(stmt, bounds).all()
    if rows:
        return [tuple(r[:-1]) for r in rows], int(rows[0][-1])
    return [], (_count(session, walk.stmt, walk.params) if offset else 0)


#: :func:`walked_rows`' statements by walk shape, key and columns (a few per list).
_ROWS_STATEMENTS: dict[tuple[Any, ...], Select[Any]] = {}


def _rows_statement(walk: IndexWalk, key: Any, columns: Sequence[Any]) -> Select[Any]:
    """:func:`walked_rows`' statement for ``walk``, paged by ``walk_limit`` and
    ``walk_offset``."""
    total: Any = func.count().over()
    if not walk.filtered:
        total = walk.stmt.with_only_columns(func.count()).scalar_subquery().correlate(None)
    sorts = [o.element.label(f"walk_o{i}") for i, o in enumerate(walk.order)]
    keys = (
        walk.stmt.add_columns(*sorts, total.label("walk_total"))
        .order_by(*walk.order)
        .limit(bindparam("walk_limit"))
        .offset(bindparam("walk_offset"))
        .subquery("walk_page")
    )
    order = [
        keys.c[f"walk_o{i}"].desc() if o.modifier is operators.desc_op else keys.c[f"walk_o{i}"]
        for i, o in enumerate(walk.order)
    ]
    return (
        select(*columns, keys.c.walk_total)
        .join_from(keys, key.table, key == keys.c[sorts[-1].name])
        .order_by(*order)
    )


# --- sorting ----------------------------------------------------------------------


def parse_sort(
    value: str | None, allowed: Mapping[str, Any], default: str
) -> list[tuple[str, bool]]:
    """Parse ``sort=a desc,b``: a list of (field, descending). Unknown fields are a 400."""
    text = value if value not in (None, "") else default
    out: list[tuple[str, bool]] = []
    for part in (text or "").split(","):
        words = part.strip().split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise _qproblem("sort", f"[{part.strip()}] is not 'field', 'field asc' or 'field desc'")
        name = words[0]
        desc = len(words) == 2 and words[1].lower() == "desc"
        if name.startswith("-"):
            name, desc = name[1:], True
        if name not in allowed:
            raise _qproblem(
                "sort",
                f"cannot sort by [{name}]; use one of {', '.join(allowed)}",
                "enum",
                choices=list(allowed),
            )
        out.append((name, desc))
    return out


def order_by(sort: list[tuple[str, bool]], allowed: Mapping[str, Any], tiebreak: Any) -> list[Any]:
    """ORDER BY terms for a parsed sort, ending with a unique tiebreak column."""
    terms = [allowed[n].desc() if d else allowed[n].asc() for n, d in sort]
    terms.append(tiebreak.asc())
    return terms


# --- number paging ----------------------------------------------------------------


def _int_param(query: Mapping[str, str], names: Sequence[str], default: int) -> tuple[str, int]:
    for name in names:
        if name in query:
            raw = query[name]
            if raw == "":
                return name, default
            try:
                return name, int(raw)
            except ValueError:
                raise _qproblem(name, "must be an integer", "is_integer") from None
    return names[0], default


@dataclass
class PageRequest:
    """A number page: 1-based ``number`` of ``size`` items."""

    number: int
    size: int


def page_request(query: Mapping[str, str]) -> PageRequest:
    """Read ``page[size]`` and ``page[number]`` (default 10 and 1, size at most 1000)."""
    sname, size = _int_param(query, ("page[size]",), DEFAULT_PAGE_SIZE)
    nname, number = _int_param(query, ("page[number]",), 1)
    if size < 1:
        raise _qproblem(sname, "must be at least 1", "min", minimum=1)
    if size > MAX_PAGE_SIZE:
        raise _qproblem(sname, f"must be at most {MAX_PAGE_SIZE}", "max", maximum=MAX_PAGE_SIZE)
    if number < 1:
        raise _qproblem(nname, "must be at least 1", "min", minimum=1)
    if number > 10_000_000:
        raise _qproblem(nname, "is too large", "max", maximum=10_000_000)
    return PageRequest(number=number, size=size)


class _NoIndex(ColumnElement[Any]):
    """A sort key SQLite must not walk an index for (``+col``): with a filter, scanning
    the matches and sorting them beats visiting the whole table in index order."""

    inherit_cache = True
    _traverse_internals = [("col", InternalTraversal.dp_clauseelement)]  # noqa: RUF012

    def __init__(self, col: ColumnElement[Any]) -> None:
        self.col = col
        self.type = col.type


@compiles(_NoIndex)
def _no_index_default(element: _NoIndex, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.col, **kw))


@compiles(_NoIndex, "sqlite")
def _no_index_sqlite(element: _NoIndex, compiler: Any, **kw: Any) -> str:
    return "+" + str(compiler.process(element.col, **kw))


def _unindexed(term: Any) -> Any:
    modifier = getattr(term, "modifier", None)
    if modifier is operators.desc_op:
        return _NoIndex(term.element).desc()
    if modifier is operators.asc_op:
        return _NoIndex(term.element).asc()
    return term


def _count(session: Session, stmt: Select[Any], params: Mapping[str, Any] | None = None) -> int:
    counting = stmt.order_by(None).with_only_columns(func.count(), maintain_column_froms=True)
    return int(session.scalar(counting, params) or 0)


def numbered_keys(
    session: Session, stmt: Select[Any], order: list[Any], page: PageRequest
) -> tuple[list[Any], int]:
    """The unique keys (``order``'s last term, its tiebreak) of one number page of
    ``stmt``'s rows, in order, and the total count of matches.

    Unfiltered, the page walks the sort index and the count is a plain ``count(*)``.
    Filtered, one query returns the page's keys and, with ``count(*) OVER ()``, the total:
    the matches are found in a single scan instead of two, and only their narrow sort
    keys go through the sorter (the wide rows are read by key afterwards).
    """
    offset = (page.number - 1) * page.size
    keys = [t.element for t in order]  # the columns of order_by()'s asc()/desc() terms
    conn = session.connection()  # Core rows: no ORM loading for a column of keys
    if stmt.whereclause is None:
        found = conn.execute(
            stmt.with_only_columns(keys[-1], maintain_column_froms=True)
            .order_by(*order)
            .limit(page.size)
            .offset(offset)
        ).scalars()
        return list(found), _count(session, stmt)
    narrow = stmt.with_only_columns(keys[-1], func.count().over(), maintain_column_froms=True)
    rows = conn.execute(
        narrow.order_by(*[_unindexed(t) for t in order]).limit(page.size).offset(offset)
    ).all()
    if not rows:
        return [], (_count(session, stmt) if offset else 0)
    return [r[0] for r in rows], int(rows[0][1])


def numbered_page(
    session: Session, stmt: Select[Any], order: list[Any], page: PageRequest
) -> tuple[list[Any], int]:
    """Rows of one number page of ``stmt`` (a single-entity SELECT) and the total count of
    matches (see :func:`numbered_keys`; unfiltered, the rows come in one query)."""
    if stmt.whereclause is None:
        offset = (page.number - 1) * page.size
        total = _count(session, stmt)
        rows = list(session.scalars(stmt.order_by(*order).limit(page.size).offset(offset)))
        return rows, total
    found, total = numbered_keys(session, stmt, order, page)
    if not found:
        return [], total
    key = order[-1].element
    return list(session.scalars(stmt.where(key.in_(found)).order_by(*order))), total


def page_meta(page: PageRequest, total: int) -> dict[str, Any]:
    """The contract's ``meta`` for a number page."""
    return {"page": {"number": page.number, "size": page.size, "total": total}}


# --- facets -----------------------------------------------------------------------

DEFAULT_FACET_LIMIT = 100
MAX_FACET_LIMIT = 1000


@dataclass
class FacetRequest:
    """``field`` to count the values of, and at most ``limit`` values."""

    field: str
    limit: int


def facet_request(query: Mapping[str, str]) -> FacetRequest:
    """Read ``field`` (required) and ``limit`` (default 100, at most 1000)."""
    field = query.get("field", "")
    if not field:
        raise _qproblem("field", "is required: the field whose values to count", "required")
    if "\x00" in field:
        raise _qproblem("field", "must not contain NUL characters")
    lname, limit = _int_param(query, ("limit",), DEFAULT_FACET_LIMIT)
    if not 1 <= limit <= MAX_FACET_LIMIT:
        raise _qproblem(lname, f"must be between 1 and {MAX_FACET_LIMIT}", "max")
    return FacetRequest(field=field, limit=limit)


def facet_counts(
    session: Session,
    *,
    spec: FilterSpec,
    columns: Mapping[str, Any],
    rows: Select[Any],
    key: Any,
    req: FacetRequest,
) -> tuple[list[dict[str, Any]], bool]:
    """Each value of ``req.field`` among the rows of ``rows`` (a list's filtered SELECT)
    with its count, most frequent first (ties by value), and whether more values exist
    than ``req.limit``.

    ``field`` is one of ``columns`` (counted by grouping the rows) or a path an indexed
    JSON prefix of ``spec`` covers (``labels.team``: counted from the side table's
    ``(path, short)`` index, restricted to the rows' ``key`` when the list is filtered).
    Values are the text that filters compare, so a value can be sent back as a filter.
    """
    col = columns.get(req.field)
    if col is None:
        prefix, _, rest = req.field.partition(".")
        ff = spec.json_prefixes.get(prefix)
        if ff is None or ff.index is None or not rest or not ff.index.covers(req.field):
            known = [
                *columns,
                *(n for f in spec.json_prefixes.values() if f.index for n in f.index.countable()),
            ]
            raise _qproblem(
                "field",
                f"cannot count values of [{req.field}]; use one of {', '.join(known)}",
                "enum",
            )
        return _indexed_facets(session, ff.index, rows, key, req)
    found = session.execute(
        rows.with_only_columns(col, func.count(), maintain_column_froms=True)
        .group_by(col)
        .order_by(func.count().desc(), col)
        .limit(req.limit + 1)
    ).all()
    return _top(found, req.limit)


def _top(found: Sequence[Any], limit: int) -> tuple[list[dict[str, Any]], bool]:
    data = [{"value": v, "count": int(n)} for v, n in found[:limit]]
    return data, len(found) > limit


def _indexed_facets(
    session: Session, index: JsonIndex, rows: Select[Any], key: Any, req: FacetRequest
) -> tuple[list[dict[str, Any]], bool]:
    """Facet counts of a JSON path from its side table. Over the whole list, from the
    index's count table when it keeps one (a few rows, whatever the list's size);
    filtered, by grouping the side table's ``(path, short)`` index over the matches.
    The rare long values (``short`` NULL) are grouped by their text either way."""
    t = index.table
    where = [t.path == req.field]
    if rows.whereclause is not None:
        where.append(t.owner_id.in_(rows.with_only_columns(key, maintain_column_froms=True)))
    shorts: Select[Any]
    if rows.whereclause is None and index.counts is not None:
        shorts = value_count_sums(index.counts, index.journal, req.field)
    else:
        shorts = (
            select(t.short.label("value"), func.count().label("n"))
            .where(*where, t.short.is_not(None))
            .group_by(t.short)
        )
    longs = select(t.value, func.count()).where(*where, t.short.is_(None)).group_by(t.value)
    both = union_all(shorts, longs).subquery()  # one statement, one round trip
    found = session.execute(
        select(both.c.value, both.c.n).order_by(both.c.n.desc(), both.c.value).limit(req.limit + 1)
    ).all()
    return _top(found, req.limit)


# --- cursor paging ----------------------------------------------------------------


@dataclass
class CursorRequest:
    """A cursor page: ``size`` items after or before an opaque cursor."""

    size: int
    after: str | None
    before: str | None


def cursor_request(query: Mapping[str, str]) -> CursorRequest:
    """Read ``page[size]``/``size``, ``page[after]``/``after``, ``page[before]``/``before``."""
    sname, size = _int_param(query, ("page[size]", "size"), DEFAULT_PAGE_SIZE)
    if size < 1:
        raise _qproblem(sname, "must be at least 1", "min", minimum=1)
    if size > MAX_PAGE_SIZE:
        raise _qproblem(sname, f"must be at most {MAX_PAGE_SIZE}", "max", maximum=MAX_PAGE_SIZE)
    after = query.get("page[after]", query.get("after")) or None
    before = query.get("page[before]", query.get("before")) or None
    if after and before:
        raise _qproblem("page[before]", "cannot be combined with page[after]")
    return CursorRequest(size=size, after=after, before=before)


# Cursors are opaque and tamper-evident: base64url of an HMAC-SHA256 tag (truncated to
# 128 bits) followed by the JSON of the row's sort key. The tag covers the sort key and
# the kinds of the list's sort columns, and is keyed by a key derived from the server
# secret, so a cursor altered, truncated, made up or issued by a server with another
# key is refused before its content is read. The key is the request's (set by the
# request middleware, see :func:`use_cursor_key`); outside a request a per-process
# random key signs cursors that only this process accepts.
_TAG_BYTES = 16
_MAX_CURSOR_CHARS = 4096
_PROCESS_KEY = os.urandom(32)
_cursor_key: contextvars.ContextVar[Callable[[], bytes] | None] = contextvars.ContextVar(
    "service_catalog_cursor_key", default=None
)
_NOT_OURS = "is not a cursor this API issued"


def use_cursor_key(key: Callable[[], bytes]) -> contextvars.Token[Callable[[], bytes] | None]:
    """Sign and check cursors with ``key()`` in the current context (a request); returns
    the token that :func:`reset_cursor_key` takes to undo it."""
    return _cursor_key.set(key)


def reset_cursor_key(token: contextvars.Token[Callable[[], bytes] | None]) -> None:
    """Undo :func:`use_cursor_key`."""
    _cursor_key.reset(token)


def _tag(kinds: Sequence[str], payload: bytes) -> bytes:
    provider = _cursor_key.get()
    key = provider() if provider is not None else _PROCESS_KEY
    message = b"cursor-v1\n" + ",".join(kinds).encode() + b"\n" + payload
    return hmac.new(key, message, hashlib.sha256).digest()[:_TAG_BYTES]


def encode_cursor(values: Sequence[Any], kinds: Sequence[str]) -> str:
    """An opaque, signed cursor for a row's sort key (``kinds`` are the sort columns')."""
    payload = json.dumps([_jsonable(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(_tag(kinds, payload) + payload).decode().rstrip("=")


def _jsonable(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return {"t": v.astimezone(dt.UTC).isoformat()}
    if isinstance(v, uuid.UUID):
        return str(v)
    return v


def _cursor_value(v: Any, kind: str) -> Any:
    """One decoded sort-key value, checked against its column's kind (ValueError if not)."""
    if v is None:
        return None
    if kind == "datetime":
        if not isinstance(v, dict) or set(v) != {"t"} or not isinstance(v["t"], str):
            raise ValueError
        parsed = dt.datetime.fromisoformat(v["t"])
        if parsed.tzinfo is None:
            raise ValueError
        # A real UTC instant (0001-01-01T00:00+14:00 has none), storable as such.
        return parsed.astimezone(dt.UTC)
    if kind == "uuid":
        if not isinstance(v, str):
            raise ValueError
        return uuid.UUID(v)
    if kind == "number":
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ValueError
        return v
    if not isinstance(v, str) or "\x00" in v:
        raise ValueError
    v.encode()  # UTF-8: no lone surrogates
    return v


def decode_cursor(cursor: str, param: str, kinds: Sequence[str]) -> list[Any]:
    """The sort key inside a cursor made by :func:`encode_cursor` with this server's key
    for a list sorted by columns of ``kinds``; anything else (altered, truncated, made up,
    signed by another key, or for another sort) is a 400 naming ``param``."""
    try:
        if len(cursor) > _MAX_CURSOR_CHARS:
            raise ValueError
        blob = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        tag, payload = blob[:_TAG_BYTES], blob[_TAG_BYTES:]
        if len(tag) != _TAG_BYTES or not hmac.compare_digest(tag, _tag(kinds, payload)):
            raise ValueError
        values = json.loads(payload)
        if not isinstance(values, list) or len(values) != len(kinds):
            raise ValueError
        return list(map(_cursor_value, values, kinds))  # lengths checked equal above
    except (
        ValueError,
        TypeError,
        KeyError,
        OverflowError,
        RecursionError,
        binascii.Error,
        UnicodeError,
        AttributeError,
    ):
        raise _qproblem(param, _NOT_OURS) from None


@dataclass
class CursorColumn:
    """One column of a keyset sort: the SQL column, its cursor kind and direction."""

    column: Any
    kind: str
    attr: str
    desc: bool = False


def _after_clause(
    cols: Sequence[CursorColumn], values: Sequence[Any], reverse: bool
) -> ColumnElement[bool]:
    # (a, b, c) > (x, y, z) expanded, honouring per-column direction; NULLs are not
    # produced by our sort keys. The leading ``a >= x`` repeats what the OR implies, in
    # the one form both databases can seek an index to: without it a page N deep walks
    # the N pages before it.
    ors = []
    for i, col in enumerate(cols):
        eqs = [cols[j].column == values[j] for j in range(i)]
        forward = col.desc == reverse
        cmp = col.column > values[i] if forward else col.column < values[i]
        ors.append(and_(*eqs, cmp))
    if not ors:
        return true()
    first = cols[0]
    seek = first.column >= values[0] if first.desc == reverse else first.column <= values[0]
    return and_(seek, or_(*ors))


def cursor_page(
    session: Session,
    stmt: Select[Any],
    cols: Sequence[CursorColumn],
    req: CursorRequest,
    *,
    path: str,
    query: Mapping[str, str],
) -> tuple[list[Any], dict[str, Any]]:
    """Rows of one cursor page and the contract's ``meta`` (next/previous/first paths)."""
    kinds = [c.kind for c in cols]
    reverse = req.before is not None
    if req.after:
        stmt = stmt.where(
            _after_clause(cols, decode_cursor(req.after, "page[after]", kinds), False)
        )
    if req.before:
        stmt = stmt.where(
            _after_clause(cols, decode_cursor(req.before, "page[before]", kinds), True)
        )
    order = [(c.column.asc() if c.desc == reverse else c.column.desc()) for c in cols]
    rows = list(session.scalars(stmt.order_by(*order).limit(req.size + 1)))
    more = len(rows) > req.size
    rows = rows[: req.size]
    if reverse:
        rows.reverse()

    def key(row: Any) -> str:
        return encode_cursor([getattr(row, c.attr) for c in cols], kinds)

    base = {
        k: v
        for k, v in query.items()
        if k not in ("page[after]", "after", "page[before]", "before")
    }

    def link(extra: dict[str, str]) -> str:
        return f"{path}?{urlencode({**base, **extra})}"

    has_next = more if not reverse else True
    has_prev = (req.after is not None) if not reverse else more
    meta = {
        "page": {
            "size": req.size,
            "first": link({}),
            "next": link({"page[after]": key(rows[-1])}) if rows and has_next else None,
            "previous": link({"page[before]": key(rows[0])}) if rows and has_prev else None,
        }
    }
    return rows, meta


__all__ = [
    "CursorColumn",
    "CursorRequest",
    "FacetRequest",
    "FilterField",
    "FilterSpec",
    "PageRequest",
    "cursor_page",
    "cursor_request",
    "decode_cursor",
    "encode_cursor",
    "facet_counts",
    "facet_request",
    "filter_clauses",
    "indexed_by",
    "model_fields",
    "numbered_keys",
    "numbered_page",
    "order_by",
    "page_meta",
    "page_request",
    "parse_sort",
    "reset_cursor_key",
    "use_cursor_key",
]

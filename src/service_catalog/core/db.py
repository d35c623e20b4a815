"""Database engine, sessions and the declarative base shared by every domain."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import namedtuple
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    MetaData,
    Table,
    bindparam,
    create_engine,
    event,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of every table."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime(),
                                                      dict[str, Any]: JSONType}


def utcnow() -> dt.datetime:
    """Now, in UTC, to the microsecond."""
    return dt.datetime.now(dt.UTC)


def new_uuid() -> uuid.UUID:
    """A random UUID for a new row."""
    return uuid.uuid4()


def redact_url(url: str) -> str:
    """The database URL with its password hidden, safe to show a user."""
    try:
        parsed: URL = make_url(url)
    except Exception:  # noqa: BLE001 - a URL we cannot parse is shown without its userinfo
        return url.split("@")[-1]
    return parsed.render_as_string(hide_password=True)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            **kwargs,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Python's sqlite3 opens transactions lazily; let SQLAlchemy issue BEGIN itself.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # A transaction that reads and then writes cannot wait for the write lock (SQLite
            # answers "database is locked" at once): writers take it up front.
            immediate = conn.get_execution_options().get("sqlite_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


class Database:
    """An engine and its session factory: the one handle on storage an app or worker holds."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self._key_reads: dict[tuple[str, str], KeyedSelect] = {}

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def new_session(self, *, write: bool = False) -> Session:
        """A session; ``write=True`` when it will write (on SQLite it then takes the write
        lock when its transaction begins, so concurrent writers queue instead of failing)."""
        session = self.sessionmaker()
        if write and self.dialect == "sqlite":
            session.connection(execution_options={"sqlite_write": True})
        return session

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self.new_session(write=write) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def read_by_key(self, table: Table, key: Column[Any], value: Any) -> Any | None:
        """One row of ``table`` whose unique ``key`` equals ``value``, as a named tuple of
        its columns, or None: the hot path of GET by id.

        On SQLite the statement goes straight to the driver through a pooled connection
        (a local key lookup costs tens of microseconds; SQLAlchemy's execution machinery
        would cost several times that), with the columns' own bind and result processors,
        so values come back exactly as through SQLAlchemy. Elsewhere, SQLAlchemy Core
        (with the statement built once).
        """
        plan = self._key_reads.get((table.name, key.name))
        if plan is None:
            plan = self._key_reads[(table.name, key.name)] = KeyedSelect(
                self.engine.dialect, list(table.columns), key)
        if self.dialect != "sqlite":
            with self.engine.connect() as conn:
                return conn.execute(plan.statement, {"k": value}).first()
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(plan.sql, plan.params(value))
                found = cursor.fetchone()
            finally:
                cursor.close()
        finally:
            raw.close()  # back to the pool (which rolls back: nothing is held)
        return None if found is None else plan.row(found)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


class KeyedSelect:
    """``SELECT columns WHERE key = :k`` compiled once for a dialect, to run straight on
    a driver cursor (``sql`` with ``params(value)``) where SQLAlchemy's execution
    machinery would cost more than the query; ``row`` turns a fetched row into a named
    tuple through the columns' own result processors."""

    def __init__(self, dialect: Any, columns: Sequence[ColumnElement[Any]],
                 key: ColumnElement[Any]) -> None:
        self.statement = select(*columns).where(key == bindparam("k"))
        compiled = self.statement.compile(dialect=dialect)
        self.sql = compiled.string
        self._positional = bool(compiled.positiontup)
        self._bind = key.type.dialect_impl(dialect).bind_processor(dialect)
        self._results = [c.type.dialect_impl(dialect).result_processor(dialect, None)
                         for c in columns]
        self._row: Any = namedtuple("Row", [str(c.key) for c in columns])  # type: ignore[misc]

    def bound(self, value: Any) -> Any:
        """``value`` as the driver is given it for the key column."""
        return self._bind(value) if self._bind is not None else value

    def params(self, value: Any) -> tuple[Any, ...] | dict[str, Any]:
        """The driver parameters for ``key = value`` (positional or named, as compiled)."""
        return (self.bound(value),) if self._positional else {"k": self.bound(value)}

    def row(self, found: Any) -> Any:
        """A fetched row as a named tuple of the columns' Python values."""
        return self._row(*[p(v) if p else v for p, v in zip(self._results, found, strict=True)])

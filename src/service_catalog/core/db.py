"""Database engine, sessions and the declarative base shared by every domain."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import threading
import uuid
from collections import deque, namedtuple
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    MetaData,
    Table,
    Text,
    bindparam,
    cast,
    create_engine,
    event,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

from service_catalog.core import jsonio

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
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
    }


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
    except Exception:  # a URL we cannot parse is shown without its userinfo
        return url.split("@")[-1]
    return parsed.render_as_string(hide_password=True)


#: Connections the reading pool may open on SQLite (persistent + overflow). Reads run in
#: anyio's worker threads (40 by default), inline on the event loop (key lookups) and in
#: the sync worker's threads: 64 covers them all, so a reader never waits for a connection
#: (a SQLite connection to a local file costs a file handle and a little cache).
SQLITE_READ_POOL = (16, 48)
#: The same on PostgreSQL, where every request (reads and writes) uses a pooled
#: connection from a worker thread: 50 per process covers anyio's 40 threads and the
#: worker's; mind ``max_connections`` (100 by default) when running several processes.
#: 20 of them stay open: a connection beyond the persistent ones is closed when it comes
#: back, so 16 steady writers on (10, 40) opened ~10 new connections a second (a server
#: process forked and ~4 ms of CPU each, in the writes' latency); on (20, 30), none.
POSTGRES_POOL = (20, 30)
#: Seconds a write waits for its turn at the SQLite writer (as long as SQLite's own busy
#: timeout) before it gives up with :class:`WriterBusy`.
WRITE_WAIT_SECONDS = 30.0


def sqlite_file(url: str) -> str | None:
    """The file a SQLite URL opens, or None (not SQLite, in memory, or a ``file:`` URI)."""
    if not url.startswith("sqlite"):
        return None
    try:
        database = make_url(url).database
    except Exception:  # create_engine reports a bad URL to the user
        return None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def create_private_file(path: str) -> bool:
    """Create ``path`` empty with mode 0600 unless it exists; whether it was created.

    SQLite gives its ``-wal`` and ``-shm`` files the mode of the database file, so a
    database created through here keeps all three private, like the key file. A path
    that cannot be created (a missing directory) is left for SQLite to report."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return False
    os.close(fd)
    return True


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout, and its
    file is created with mode 0600. JSON columns are read through orjson (exactly:
    :func:`service_catalog.core.jsonio.loads`)."""
    kwargs.setdefault("json_deserializer", jsonio.loads)
    if url.startswith("sqlite"):
        path = sqlite_file(url)
        if path is not None:
            create_private_file(path)
            kwargs.setdefault("pool_size", SQLITE_READ_POOL[0])
            kwargs.setdefault("max_overflow", SQLITE_READ_POOL[1])
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
            # Within a process writers queue at the WriterQueue; the busy timeout is for
            # writers in other processes (a separate ``service-catalog worker``).
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
    kwargs.setdefault("pool_size", POSTGRES_POOL[0])
    kwargs.setdefault("max_overflow", POSTGRES_POOL[1])
    return create_engine(url, **kwargs)


class WriterBusy(PoolTimeout):
    """A write waited longer than it may for its turn at the SQLite writer (a pool timeout,
    answered as a retryable 503)."""


class _ThreadWaiter:
    """A thread blocked until its turn comes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()

    def grant(self) -> bool:
        self.lock.release()
        return True


class _TaskWaiter:
    """A coroutine awaiting its turn on an event loop (holding no thread meanwhile)."""

    def __init__(self, queue: WriterQueue, loop: asyncio.AbstractEventLoop) -> None:
        self.queue = queue
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()

    def grant(self) -> bool:
        try:
            self.loop.call_soon_threadsafe(self._deliver)
        except RuntimeError:  # the loop is closed: nobody awaits this turn
            return False
        return True

    def _deliver(self) -> None:
        if self.future.cancelled():  # the request went away while the turn was on its way
            self.queue._hand_on()
        else:
            self.future.set_result(None)


class Turn:
    """The right to use the SQLite writer, until :meth:`release` (idempotent)."""

    def __init__(self, queue: WriterQueue) -> None:
        self._queue = queue
        self._held = True

    @property
    def held(self) -> bool:
        """Whether this turn is still held."""
        return self._held

    def release(self) -> None:
        """Hand the writer to the next in line (once; later calls do nothing)."""
        with self._queue._mutex:
            if not self._held:
                return
            self._held = False
            self._queue._hand_on_locked()


class WriterQueue:
    """One writer at a time, first come first served: the SQLite writer's queue.

    Threads wait with :meth:`turn`, coroutines with :meth:`turn_async` (which holds no
    thread while waiting). The holder hands the writer straight to the next in line, so
    nobody who arrived later can overtake (a ``threading.Lock`` promises no order, and
    SQLite's busy handler polls: a writer committing every half second could starve the
    others).
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._busy = False
        self._waiters: deque[_ThreadWaiter | _TaskWaiter] = deque()
        self._holder: int | None = None  # the thread that waited for the turn held now

    @property
    def waiting(self) -> int:
        """How many wait for their turn now."""
        return len(self._waiters)

    def turn(self, timeout: float | None = WRITE_WAIT_SECONDS) -> Turn:
        """Wait (blocking this thread) for the writer; WriterBusy after ``timeout`` s.
        A thread that already holds the turn it waited for gets a RuntimeError (it would
        wait for itself)."""
        me = threading.get_ident()
        with self._mutex:
            if not self._busy:
                self._busy, self._holder = True, me
                return Turn(self)
            if self._holder == me:
                raise RuntimeError("this thread already holds the database writer's turn")
            waiter = _ThreadWaiter()
            self._waiters.append(waiter)
        if not waiter.lock.acquire(timeout=-1 if timeout is None else timeout):
            with self._mutex:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                    raise WriterBusy(f"waited {timeout:g} s for the database writer")
            waiter.lock.acquire()  # handed the turn just as the wait ended: it is ours
        self._holder = me
        return Turn(self)

    async def turn_async(self, timeout: float | None = WRITE_WAIT_SECONDS) -> Turn:
        """Await the writer without holding a thread; WriterBusy after ``timeout`` s."""
        with self._mutex:
            if not self._busy:
                self._busy = True
                return Turn(self)
            waiter = _TaskWaiter(self, asyncio.get_running_loop())
            self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter.future
        except BaseException as exc:
            with self._mutex:
                queued = waiter in self._waiters
                if queued:
                    self._waiters.remove(waiter)
            if not queued and waiter.future.done() and not waiter.future.cancelled():
                self._hand_on()  # the turn arrived as this task was cancelled: pass it on
            # (a turn still on its way finds the future cancelled and passes itself on)
            if isinstance(exc, TimeoutError):
                raise WriterBusy(f"waited {timeout:g} s for the database writer") from None
            raise
        return Turn(self)

    def _hand_on(self) -> None:
        with self._mutex:
            self._hand_on_locked()

    def _hand_on_locked(self) -> None:
        self._holder = None
        while self._waiters:
            if self._waiters.popleft().grant():
                return  # still busy: the writer changed hands
        self._busy = False


class _WriterSession(Session):
    """A session on the SQLite writer connection that gives its turn back when closed."""

    turn: Turn | None = None

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.turn is not None:
                self.turn.release()


class UnitOfWork:
    """One unit of work: the one owner of a transaction, and the only code that commits it.

    Service functions work in the caller's transaction: they take a unit's ``session`` and
    never commit, roll back or close it. A conflict they expect (a name a concurrent
    writer took first) is caught in a savepoint (``with session.begin_nested():``), which
    undoes that statement alone, never by rolling back the caller's transaction. The owner
    (a request's :class:`service_catalog.auth.deps.Ctx`, :meth:`Database.session` for the
    CLI and the sync worker) ends the unit once with :meth:`finish`: commit when the work
    succeeded, roll back otherwise; a request commits before its response is sent.

    **Phases.** A unit that writes holds a write session from its start (on a SQLite file
    with the writer's turn, which a request awaits before its handler runs). A unit made
    with ``deferred=True`` starts in a *read phase* instead, holding no turn: the caller
    validates and prepares with ``session`` (a read session), :meth:`release` ends that
    transaction so it can wait on something slow (an upstream's answer) holding neither a
    transaction nor the writer's turn, and :meth:`begin_write` enters the *write phase*
    (taking the turn, opening the write session, where what was read is read again). So a
    slow upstream never holds up the other writes of the process.
    """

    def __init__(
        self, db: Database, *, write: bool = False, turn: Turn | None = None, deferred: bool = False
    ) -> None:
        self.db = db
        #: Whether the unit writes (in its write phase, for a deferred one).
        self.write = write
        #: The SQLite writer's turn, when it was taken before the session was opened.
        self.turn = turn
        self._deferred = deferred and write
        self._session: Session | None = None
        self._after_commit: list[Callable[[], None]] = []

    @property
    def writing(self) -> bool:
        """Whether the unit is in its write phase (a writing unit that was not deferred,
        or a deferred one after :meth:`begin_write`)."""
        return self.write and not self._deferred

    @property
    def session(self) -> Session:
        """The current phase's session (opened on first use, in the thread that uses it)."""
        if self._session is None:
            self._session = self.db.new_session(write=self.writing, turn=self.turn)
        return self._session

    @property
    def dialect(self) -> str:
        """The database dialect name."""
        return self.db.dialect

    def release(self) -> None:
        """End the read phase's transaction (closing its session; loaded objects stay
        readable, detached), so the caller holds no transaction and no writer's turn while
        it waits. Only in the read phase: a write phase's changes are the unit's to commit."""
        if self.writing:
            raise RuntimeError("a unit of work in its write phase cannot be released")
        session, self._session = self._session, None
        if session is not None:
            if session.new or session.dirty or session.deleted:
                session.close()
                raise RuntimeError("the read phase changed objects; write them after begin_write()")
            session.close()

    def begin_write(self) -> Session:
        """Enter the write phase: end the read phase, take the SQLite writer's turn (see
        :meth:`take_turn`) and return the write session. In the write phase already: its
        session."""
        if not self.writing:
            self.release()
            self._deferred, self.write = False, True
            if self.db.writer is not None and self.turn is None:
                self.turn = self.take_turn(self.db.writer)
        return self.session

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` once the unit has committed (not when it rolls back): to tell
        others about what it stored, e.g. wake the sync workers."""
        self._after_commit.append(fn)

    def take_turn(self, writer: WriterQueue) -> Turn:
        """Wait in this thread for the writer's turn (WriterBusy after
        ``WRITE_WAIT_SECONDS``); a request's unit awaits it on the event loop instead."""
        return writer.turn()

    def finish(self, ok: bool) -> None:
        """Commit (``ok``) or roll back, close the session if one was opened, and give the
        writer's turn back."""
        session, self._session = self._session, None
        try:
            if session is not None:
                try:
                    if ok:
                        session.commit()
                    else:
                        session.rollback()
                finally:
                    session.close()
        finally:
            if self.turn is not None:
                self.turn.release()
        if ok:
            for fn in self._after_commit:
                fn()


class Database:
    """An engine and its session factory: the one handle on storage an app or worker holds.

    On a SQLite file, one write transaction runs at a time in the process, in arrival
    order (:class:`WriterQueue`: one writer, the way Datasette has one write connection),
    taking SQLite's write lock up front; reads use the other pooled connections and never
    wait for a writer (WAL).
    """

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        #: On a SQLite file: the queue of this process's writers.
        self.writer: WriterQueue | None = WriterQueue() if sqlite_file(url) else None
        # Every transaction of a write session takes the write lock up front (BEGIN
        # IMMEDIATE), also after a commit part-way; same pool, same event listeners.
        self._write_sessions = sessionmaker(
            self.engine.execution_options(sqlite_write=True),
            class_=_WriterSession,
            expire_on_commit=False,
        )
        # Reads: on PostgreSQL in autocommit (under READ COMMITTED each statement sees its
        # own snapshot anyway, so a transaction would only add BEGIN and ROLLBACK round
        # trips); on SQLite in a transaction, whose snapshot spans the read's statements.
        self._read_sessions = (
            sessionmaker(
                self.engine.execution_options(isolation_level="AUTOCOMMIT"),
                expire_on_commit=False,
            )
            if self.dialect == "postgresql"
            else self.sessionmaker
        )

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def writers_waiting(self) -> int:
        """How many writers of this process wait for their turn at the SQLite writer now
        (0 on PostgreSQL): a long transaction commits early when others wait."""
        return self.writer.waiting if self.writer is not None else 0

    def new_session(
        self,
        *,
        write: bool = False,
        turn: Turn | None = None,
        timeout: float | None = WRITE_WAIT_SECONDS,
    ) -> Session:
        """A session; ``write=True`` when it will write.

        On a SQLite file a write session waits (up to ``timeout`` s, then WriterBusy) for
        its turn at the writer, unless ``turn`` is given (already waited
        for, e.g. by a request's coroutine), and gives the turn back when it is closed:
        keep its transactions short. Elsewhere it is an ordinary session.
        """
        if write and self.writer is not None:
            if turn is None:
                turn = self.writer.turn(timeout)
            writing = self._write_sessions()
            writing.turn = turn
            return writing
        session = self.sessionmaker()
        if write and self.dialect == "sqlite":  # in memory: one engine, BEGIN IMMEDIATE
            session.connection(execution_options={"sqlite_write": True})
        return session

    def read_session(self) -> Session:
        """A session for a read that writes nothing (a list, facet counts): nothing to
        commit, and on PostgreSQL no transaction at all."""
        return self._read_sessions()

    @contextmanager
    def session(
        self, *, write: bool = True, timeout: float | None = WRITE_WAIT_SECONDS
    ) -> Iterator[Session]:
        """A unit of work for the CLI, the sync worker and scripts (a request has its
        :class:`service_catalog.auth.deps.Ctx`): a session whose transaction commits when
        the block succeeds and rolls back on error; what runs inside never commits."""
        with self.new_session(write=write, timeout=timeout) as session:
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
        plan = self.key_plan(table, key)
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

    def key_plan(self, table: Table, key: Column[Any]) -> KeyedSelect:
        """The :class:`KeyedSelect` of ``table``'s columns by ``key`` on this database."""
        return keyed_select(self.engine.dialect, table, key)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


class KeyedSelect:
    """``SELECT columns WHERE key = :k`` compiled once for a dialect, to run straight on
    a driver cursor (``sql`` with ``params(value)``) where SQLAlchemy's execution
    machinery would cost more than the query; ``row`` turns a fetched row into a named
    tuple through the columns' own result processors."""

    def __init__(
        self, dialect: Any, columns: Sequence[ColumnElement[Any]], key: ColumnElement[Any]
    ) -> None:
        self.statement = select(*columns).where(key == bindparam("k"))
        compiled = self.statement.compile(dialect=dialect)
        self.sql = compiled.string
        self._positional = bool(compiled.positiontup)
        self._bind = key.type.dialect_impl(dialect).bind_processor(dialect)
        self._results: list[Any] = [
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
        ]
        self._row: Any = namedtuple("Row", [str(c.key) for c in columns])  # type: ignore[misc]
        # Rows read by fetch_in: on PostgreSQL, JSON columns come as their text (psycopg
        # would build dicts, which a caller memoising rows cannot hash) and are parsed by
        # row(); SQLite hands back text anyway.
        pg = dialect.name == "postgresql"
        as_text = [pg and isinstance(c.type, JSON) for c in columns]
        self._raw_columns = [
            cast(c, Text).label(str(c.key)) if text else c
            for c, text in zip(columns, as_text, strict=True)
        ]
        if pg:
            self._results = [
                jsonio.loads if text else p for p, text in zip(self._results, as_text, strict=True)
            ]
        self._key, self._dialect = key, dialect
        self._sql_in: dict[int, str] = {}

    def sql_in(self, n: int) -> str:
        """``SELECT columns WHERE key IN (:k0, ...)`` for ``n`` values, as the driver takes
        it (``?`` on SQLite, ``%(k0)s`` on PostgreSQL)."""
        sql = self._sql_in.get(n)
        if sql is None:
            marks: list[Any] = [bindparam(f"k{i}") for i in range(n)]
            stmt = select(*self._raw_columns).where(self._key.in_(marks))
            sql = self._sql_in[n] = stmt.compile(dialect=self._dialect).string
        return sql

    def bound(self, value: Any) -> Any:
        """``value`` as the driver is given it for the key column."""
        return self._bind(value) if self._bind is not None else value

    def params(self, value: Any) -> tuple[Any, ...] | dict[str, Any]:
        """The driver parameters for ``key = value`` (positional or named, as compiled)."""
        return (self.bound(value),) if self._positional else {"k": self.bound(value)}

    def row(self, found: Any) -> Any:
        """A row fetched by :attr:`sql` (SQLite) or :meth:`fetch_in` as a named tuple of
        the columns' Python values."""
        return self._row(*[p(v) if p else v for p, v in zip(self._results, found, strict=True)])

    def fetch_in(self, conn: Connection, bound: Sequence[Any]) -> list[Any]:
        """The rows whose key is one of ``bound`` (keys as the driver takes them:
        :meth:`bound`), in no order, read on ``conn`` (the caller's transaction) as the
        driver returns them (tuples of hashable values, JSON as text; :meth:`row` gives
        their Python values). Spares SQLAlchemy's per-value result processing for a page
        of rows."""
        if not bound:
            return []
        params: Any = (
            tuple(bound) if self._positional else {f"k{i}": v for i, v in enumerate(bound)}
        )
        # Driver SQL through the connection (statement events and logging see it),
        # whose rows come back unprocessed.
        # Plain tuples, not Rows: a caller memoising rows compares them (tuple equality
        # runs in C; a Row's goes through Python per column).
        return list(map(tuple, conn.exec_driver_sql(self.sql_in(len(bound)), params)))


_KEYED: dict[tuple[str, str, str], KeyedSelect] = {}


def keyed_select(dialect: Any, table: Table, key: Column[Any]) -> KeyedSelect:
    """The :class:`KeyedSelect` of ``table``'s columns by ``key`` for ``dialect``, built
    once per process."""
    ident = (dialect.name, table.name, key.name)
    plan = _KEYED.get(ident)
    if plan is None:
        plan = _KEYED[ident] = KeyedSelect(dialect, list(table.columns), key)
    return plan

"""Shared fixtures: databases (SQLite and a real PostgreSQL server), a live server on
loopback, an authenticated HTTP client, and the contract's schemas."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import queue
import re
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).parent))

from playwright.sync_api import sync_playwright

import browser
from contract import IDENTITY_SPEC, SPEC, Contract, contract_path
from pgserver import PostgresServer, free_port
from service_catalog.app import create_app
from service_catalog.auth.service import create_token
from service_catalog.core.db import Database
from service_catalog.core.migrate import upgrade
from service_catalog.settings import Settings

IN_CI = os.environ.get("CI", "").lower() == "true"
_counter = itertools.count()


# --- PostgreSQL ---------------------------------------------------------------------


class PgProvider:
    """Hands out fresh, migrated PostgreSQL databases cloned from a template.

    A thread of its own clones the next database while a test runs and drops released ones
    behind it: ``CREATE DATABASE ... TEMPLATE`` takes a tenth of a second to a second, which
    a test would otherwise wait for before it starts."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        base = admin_url.rsplit("/", 1)[0]
        self.base = base
        self.template = f"sc_tmpl_{os.getpid()}"
        with self.admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{self.template}"'))
            c.execute(text(f'CREATE DATABASE "{self.template}"'))
        db = Database(f"{base}/{self.template}")
        upgrade(db)
        db.dispose()
        # jobs: ("clone", name) puts the name (or what failed) in _ready; ("drop", name)
        self._jobs: queue.SimpleQueue[tuple[str, str] | None] = queue.SimpleQueue()
        self._ready: queue.SimpleQueue[str | Exception] = queue.SimpleQueue()
        self._failed_drops: list[str] = []
        self._thread = threading.Thread(target=self._work, name="pg-provider", daemon=True)
        self._thread.start()
        self._jobs.put(("clone", self._name("sc_t")))

    def _name(self, prefix: str) -> str:
        return f"{prefix}_{os.getpid()}_{next(_counter)}"

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            kind, name = job
            try:
                if kind == "clone":
                    self._clone(name)
                else:
                    self._drop(name)
            except Exception as exc:  # handed to the test that waits for it, or to close()
                if kind == "clone":
                    self._ready.put(exc)
                else:
                    self._failed_drops.append(f"{name}: {exc}")
            else:
                if kind == "clone":
                    self._ready.put(name)

    def _clone(self, name: str) -> None:
        with self.admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))

    def _drop(self, name: str) -> None:
        with self.admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def new_database(self) -> str:
        """A new database with the current schema (cloned ahead of time); returns its URL."""
        made = self._ready.get(timeout=300)
        self._jobs.put(("clone", self._name("sc_t")))  # the next one, while this test runs
        if isinstance(made, Exception):
            raise made
        return f"{self.base}/{made}"

    def empty_database(self) -> str:
        """A new database with no schema at all."""
        name = self._name("sc_e")
        with self.admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        return f"{self.base}/{name}"

    def drop(self, url: str) -> None:
        """Drop a database made by this provider, now (its connections are terminated)."""
        self._drop(url.rsplit("/", 1)[1])

    def release(self, url: str) -> None:
        """Drop a database made by this provider once the test is over, behind it (what
        fixtures call in their teardown; a test that needs it gone calls ``drop``)."""
        self._jobs.put(("drop", url.rsplit("/", 1)[1]))

    def close(self) -> None:
        """Finish the released drops, drop the database cloned ahead, and disconnect;
        fails if a drop failed."""
        self._jobs.put(None)
        self._thread.join()
        with contextlib.suppress(queue.Empty):
            while True:
                made = self._ready.get_nowait()
                if isinstance(made, str):
                    self._drop(made)
        self.admin.dispose()
        assert not self._failed_drops, f"databases not dropped: {self._failed_drops}"


@pytest.fixture(scope="session")
def pg() -> Iterator[PgProvider]:
    """A PostgreSQL server for the whole session (SERVICE_CATALOG_TEST_DATABASE_URL or our own)."""
    url = os.environ.get("SERVICE_CATALOG_TEST_DATABASE_URL")
    server = None
    if not url:
        try:
            server = PostgresServer()
            url = server.start()
        except Exception as exc:  # whatever keeps it from starting: skip (fail under CI)
            if IN_CI:
                pytest.fail(f"PostgreSQL is required under CI=true but could not start: {exc}")
            pytest.skip(f"PostgreSQL server not available: {exc}")
    provider = PgProvider(url)
    yield provider
    provider.close()
    if server is not None:
        server.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that take the PostgreSQL server directly carry the ``postgres`` marker too (the
    database fixtures' PostgreSQL parameters carry it already), so ``-m "not postgres"``
    runs without one."""
    for item in items:
        if "pg" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


# --- SQLite ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies."""
    path = tmp_path_factory.mktemp("tmpl") / "template.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    with db.engine.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """A fresh, migrated database: each storage test runs once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "catalog.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    provider: PgProvider = request.getfixturevalue("pg")
    url = provider.new_database()
    yield url
    provider.release(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    pg: PgProvider = request.getfixturevalue("pg")
    url = pg.empty_database()
    yield url
    pg.release(url)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """An open handle on the test's database."""
    database = Database(database_url)
    yield database
    database.dispose()


# --- live server ------------------------------------------------------------------


class _QuickStopServer(uvicorn.Server):
    """uvicorn's server that stops as soon as it is told to: uvicorn checks ``should_exit``
    every 0.1 s and pauses 0.1 s more on shutdown, fixed waits that add up to minutes over
    the suite's thousand servers. Here the main loop wakes on ``stop()``, and shutdown waits
    for open connections and running tasks by polling them every 5 ms (10 s at most, as
    uvicorn's graceful timeout would, then cancels the tasks), then runs the app's lifespan
    shutdown as uvicorn does."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    def stop(self) -> None:
        """Ask the server to exit (from any thread)."""
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed already
                loop.call_soon_threadsafe(wake.set)

    async def main_loop(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for listener in self.servers:
            listener.close()
        state = self.server_state
        for connection in list(state.connections):
            connection.shutdown()
        deadline = time.monotonic() + 10
        while (state.connections or state.tasks) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        for task in state.tasks:
            task.cancel()
        for listener in self.servers:
            await listener.wait_closed()
        await self.lifespan.shutdown()


class LiveServer:
    """The catalog app served by uvicorn on a loopback port, in a thread."""

    def __init__(self, settings: Settings, db: Database, **app_kwargs: Any) -> None:
        self.settings = settings
        self.db = db
        self.app = create_app(settings, db=db, **app_kwargs)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            access_log=False,
        )
        self.server = _QuickStopServer(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.time() + 15
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("live server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(10)

    def token(self, name: str = "test") -> str:
        """A new admin token."""
        with self.db.session() as s:
            _, token = create_token(s, name=name)
        return token

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        """An HTTP client for this server, authenticated unless ``token`` is ''."""
        tok = self.token() if token is None else token
        headers = {"Authorization": f"Bearer {tok}"} if tok else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for a test server on the test's database (no background worker)."""
    return Settings(
        database_url=database_url,
        run_worker=False,
        key_file=str(tmp_path / "test.key"),
        secret_key=None,
    )


@pytest.fixture
def server(settings: Settings, db: Database) -> Iterator[LiveServer]:
    """A running catalog on loopback."""
    live = LiveServer(settings, db).start()
    yield live
    live.stop()


@pytest.fixture
def worker_server(settings: Settings, db: Database) -> Iterator[LiveServer]:
    """A running catalog with its background worker (syncs and scorecard passes) polling
    fast."""
    cfg = settings.model_copy(update={"run_worker": True, "worker_poll_seconds": 0.2})
    live = LiveServer(cfg, db).start()
    yield live
    live.stop()


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    """An authenticated HTTP client of the running catalog."""
    with server.client() as client:
        yield client


@pytest.fixture
def sim(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The upstream simulator the test module declares as ``SIMULATOR`` (what makes one,
    e.g. ``partial(InventorySimulator, items=3, token=TOKEN)``), serving on loopback for
    the test."""
    with request.module.SIMULATOR() as simulator:
        yield simulator


# --- the contract -------------------------------------------------------------------


@pytest.fixture(scope="session")
def contract() -> Contract:
    """Kong's published Service Catalog OpenAPI contract, for validating responses.

    Tests that validate against it skip with one line when no copy is found (and fail
    under CI=true, where it must be checked)."""
    path = contract_path()
    if path is None:
        message = (
            f"Kong's published spec {SPEC} not found (looked in ../shared/contracts "
            "and tests/contracts)"
        )
        if IN_CI:
            pytest.fail(message + "; it is required under CI=true")
        pytest.skip(message)
    return Contract.load(path)


@pytest.fixture(scope="session")
def identity_contract() -> Contract:
    """Kong's published Konnect Identity contract, which ``/v3`` serves."""
    path = contract_path(IDENTITY_SPEC)
    if path is None:
        message = f"Kong's published spec {IDENTITY_SPEC} not found"
        if IN_CI:
            pytest.fail(message + "; it is required under CI=true")
        pytest.skip(message)
    return Contract.load(path)


# --- browser ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (tests marked ``browser``); skipped
    when it is not installed (``make system-deps`` installs it), failing under ``CI=true``."""
    path = browser.chromium_path()
    if path is None:
        if IN_CI:
            pytest.fail("chromium is not installed (make system-deps installs it)")
        pytest.skip("chromium is not installed (make system-deps installs it)")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=path, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(
    chromium: Any, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """A fresh browser context's page, 1280 px wide; its final state is saved as
    ``<pytest base temp>/screenshots/<test name>.png`` when the test ends."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    browser.screenshot(tab, tmp_path_factory.getbasetemp() / "screenshots", name)
    context.close()

"""Request dependencies: a database session and the authenticated actor."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from service_catalog.auth.service import (
    Actor,
    TokenCache,
    TokenInfo,
    lookup_token,
    touch_token,
)
from service_catalog.core.db import Database, Turn, WriterBusy
from service_catalog.core.errors import Problem

log = logging.getLogger("service_catalog.auth")
T = TypeVar("T")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Ctx:
    """What a request handler gets: a session (committed when the handler succeeds) and who asks.

    The session is opened on first use, in the thread that uses it, so a handler costs one
    trip to the thread pool, not three. A writing request on SQLite holds its ``turn`` at
    the database writer (awaited before the handler runs) until it finishes.
    """

    db: Database
    actor: Actor
    request: Request
    write: bool = False
    turn: Turn | None = None
    _session: Session | None = field(default=None, repr=False)

    @property
    def session(self) -> Session:
        """The request's session (opened on first use)."""
        if self._session is None:
            self._session = self.db.new_session(write=self.write, turn=self.turn)
        return self._session

    @property
    def dialect(self) -> str:
        """The database dialect name."""
        return self.db.dialect

    @property
    def query(self) -> list[tuple[str, str]]:
        """The query string as (key, value) pairs."""
        return self.request.query_params.multi_items()

    def finish(self, ok: bool) -> None:
        """Commit (``ok``) or roll back, close the session if one was opened, and give the
        writer's turn back."""
        session, self._session = self._session, None
        try:
            if session is None:
                return
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


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail, headers={"WWW-Authenticate": "Bearer"})


def _check_token(db: Database, token: str) -> TokenInfo | None:
    with db.session(write=False) as session:
        info = lookup_token(session, token)
    if info is not None and info.stale_use:
        try:  # best effort: recording use must never fail (or hold up) a request
            with db.session(write=True, timeout=1.0) as session:
                touch_token(session, info.token_id)
        except (OperationalError, WriterBusy):
            log.debug("could not record token use (database busy)")
    return info


def token_cache(request: Request) -> TokenCache:
    """The app's token cache."""
    cache = getattr(request.app.state, "token_cache", None)
    if cache is None:
        cache = request.app.state.token_cache = TokenCache()
    return cache


async def authenticate_request(request: Request) -> Actor:
    """The actor of the request's bearer token; a 401 problem otherwise."""
    header = request.headers.get("authorization")
    if not header:
        raise _unauthorized("Missing Authorization header; send 'Authorization: Bearer <token>'")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("Invalid Authorization header; expected 'Bearer <token>'")
    cache = token_cache(request)
    now = time.monotonic()
    actor = cache.get(token, now)
    if actor is None:
        info = await run_in_threadpool(_check_token, request.app.state.db, token)
        if info is None:
            raise _unauthorized("Invalid credentials")
        cache.put(token, info, now)
        actor = info.actor
    request.state.actor = actor
    return actor


async def get_ctx(request: Request) -> AsyncIterator[Ctx]:
    """Authenticate the bearer token; give the handler a session, committed when it returns.

    A writing request on SQLite first awaits its turn at the database writer (first come,
    first served, holding no thread while it waits; a 503 with ``Retry-After`` after
    ``WRITE_WAIT_SECONDS``), so writers never pile up in the thread pool ahead of reads.
    """
    actor = await authenticate_request(request)
    db: Database = request.app.state.db
    ctx = Ctx(db=db, actor=actor, request=request, write=request.method in WRITE_METHODS)
    if ctx.write and db.writer is not None:
        try:
            ctx.turn = await db.writer.turn_async()
        except WriterBusy:
            log.warning("a write waited too long for the database writer")
            raise Problem(503, "The database is busy with other writes; retry later",
                          headers={"Retry-After": "5"}) from None
    ok = False
    try:
        yield ctx
        ok = True
    finally:
        if ctx._session is None:
            if ctx.turn is not None:
                ctx.turn.release()
        elif db.dialect == "sqlite" and not ctx.write:
            ctx.finish(ok)  # ending a read on a local file: microseconds, not worth a hop
        else:
            await run_in_threadpool(ctx.finish, ok)


CtxDep = Annotated[Ctx, Depends(get_ctx)]


ActorDep = Annotated[Actor, Depends(authenticate_request)]
"""The authenticated actor alone, for handlers that need no session."""


async def run_short_read(ctx: Ctx | Database, fn: Callable[[], T]) -> T:
    """Run ``fn`` (a read of a few rows by key) for an ``async`` handler.

    On SQLite it runs inline: a key lookup in a local WAL file takes tens of microseconds
    and never waits for a writer, less than the thread hop it would otherwise cost. On a
    networked database it goes to the thread pool. Never use it for scans or writes.
    """
    if ctx.dialect == "sqlite":
        return fn()
    return await run_in_threadpool(fn)

"""Request dependencies: the request's unit of work and the authenticated actor."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from anyio import from_thread
from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from service_catalog.auth.access import GENERATION
from service_catalog.auth.limits import FailureLimiter, RateLimiter
from service_catalog.auth.service import (
    Actor,
    TokenCache,
    TokenInfo,
    hash_token,
    lookup_token,
    touch_token,
)
from service_catalog.auth.sessions import SESSION_COOKIE, lookup_session
from service_catalog.core.db import Database, Turn, UnitOfWork, WriterBusy, WriterQueue
from service_catalog.core.errors import Problem
from service_catalog.core.responses import page

log = logging.getLogger("service_catalog.auth")
T = TypeVar("T")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Ctx(UnitOfWork):
    """What a request handler gets: the request's unit of work and who asks.

    The request's one transaction: services work in ``session`` and never commit; the
    dependency (:func:`get_ctx`) commits it when the handler returns, before the response
    is sent (a handler that raises rolls it back), and no router commits. The session is
    opened on first use, in the thread that uses it, so a handler costs one trip to the
    thread pool, not three. A writing request on SQLite holds its ``turn`` at the database
    writer (awaited before the handler runs) until it finishes; a route declared with
    :data:`DeferredWriteCtxDep` starts in a read phase and takes its turn only at
    :meth:`begin_write` (see :class:`service_catalog.core.db.UnitOfWork`).
    """

    def __init__(
        self,
        db: Database,
        actor: Actor,
        request: Request,
        *,
        write: bool = False,
        deferred: bool = False,
    ) -> None:
        super().__init__(db, write=write, deferred=deferred)
        self.actor = actor
        self.request = request

    @property
    def query(self) -> list[tuple[str, str]]:
        """The query string as (key, value) pairs."""
        return self.request.query_params.multi_items()

    def take_turn(self, writer: WriterQueue) -> Turn:
        """Await the writer's turn on the event loop from the handler's worker thread
        (first come, first served with every other write; a 503 after
        ``WRITE_WAIT_SECONDS``)."""
        try:
            return from_thread.run(writer.turn_async)
        except WriterBusy:
            raise _writer_busy() from None


def _writer_busy() -> Problem:
    log.warning("a write waited too long for the database writer")
    return Problem(
        503, "The database is busy with other writes; retry later", headers={"Retry-After": "5"}
    )


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


def _check_session(db: Database, token: str) -> TokenInfo | None:
    with db.session(write=False) as session:
        return lookup_session(session, token)


def _app_cache(request: Request, name: str) -> TokenCache:
    cache: TokenCache | None = getattr(request.app.state, name, None)
    if cache is None:
        cache = TokenCache()
        setattr(request.app.state, name, cache)
    return cache


def token_cache(request: Request) -> TokenCache:
    """The app's token cache."""
    return _app_cache(request, "token_cache")


def session_cache(request: Request) -> TokenCache:
    """The app's cache of console sessions (as tokens: checked again after any change of
    users, teams or roles, and a sign-out, in this process; at most
    ``TOKEN_CACHE_SECONDS`` old otherwise)."""
    return _app_cache(request, "session_cache")


async def _cached_actor(
    request: Request,
    cache: TokenCache,
    key: str,
    now: float,
    check: Callable[[Database, str], TokenInfo | None],
) -> Actor | None:
    """The actor of ``key`` from ``cache``, else as ``check`` finds it in the database (and
    then cached); None when ``check`` finds none."""
    actor = cache.get(key, now)
    if actor is None:
        generation = GENERATION.value
        info = await run_in_threadpool(check, request.app.state.db, key)
        if info is None:
            return None
        cache.put(key, info, now, generation)
        actor = info.actor
    return actor


async def _session_actor(request: Request, cookie: str, now: float) -> Actor:
    actor = await _cached_actor(request, session_cache(request), cookie, now, _check_session)
    if actor is None:
        raise _unauthorized("Session expired or signed out; sign in again")
    return actor


def _limiters(request: Request) -> tuple[FailureLimiter, RateLimiter]:
    """The app's limiters of failed authentications (per client) and requests (per token),
    from its settings (``auth_failure_limit``, ``auth_failure_window_seconds``,
    ``token_rate_limit``)."""
    state = request.app.state
    limiters: tuple[FailureLimiter, RateLimiter] | None = getattr(state, "auth_limiters", None)
    if limiters is None:
        settings = getattr(state, "settings", None)
        limiters = state.auth_limiters = (
            FailureLimiter(
                getattr(settings, "auth_failure_limit", 0),
                getattr(settings, "auth_failure_window_seconds", 60.0),
            ),
            RateLimiter(getattr(settings, "token_rate_limit", 0), 60.0),
        )
    return limiters


def _too_many(detail: str, retry_after: int) -> Problem:
    return Problem(429, detail, headers={"Retry-After": str(retry_after)})


def _client_not_locked_out(request: Request, failures: FailureLimiter) -> tuple[str, float]:
    """The request's client address and the monotonic time now; a 429 problem when the
    client failed to authenticate too often lately."""
    client = request.client.host if request.client else "?"
    now = time.monotonic()
    wait = failures.retry_after(client, now)
    if wait is not None:
        raise _too_many("Too many failed authentications from this client; retry later", wait)
    return client, now


async def authenticate_request(request: Request) -> Actor:
    """The actor of the request's bearer token, or else of its console session cookie
    (:mod:`service_catalog.auth.sessions`); a 401 problem otherwise (a 429 for a client
    that failed too often lately, or a token over its request rate)."""
    failures, rates = _limiters(request)
    client, now = _client_not_locked_out(request, failures)
    header = request.headers.get("authorization")
    cookie = request.cookies.get(SESSION_COOKIE)
    if not header and cookie:
        session_actor = await _session_actor(request, cookie, now)
        request.state.actor = session_actor
        return session_actor
    if not header:
        raise _unauthorized("Missing Authorization header; send 'Authorization: Bearer <token>'")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        failures.failed(client, now)
        raise _unauthorized("Invalid Authorization header; expected 'Bearer <token>'")
    actor = await _cached_actor(request, token_cache(request), token, now, _check_token)
    if actor is None:
        failures.failed(client, now)
        raise _unauthorized("Invalid credentials")
    if rates.limit:
        wait = rates.hit(hash_token(token), now)
        if wait is not None:
            raise _too_many("Too many requests with this token; retry later", wait)
    request.state.actor = actor
    return actor


async def check_token(request: Request, token: str) -> TokenInfo | None:
    """Check ``token`` as a bearer token is checked (the console's sign-in form exchanges
    it for a session): its holder with the holder's rights, or None when it is unknown,
    expired or revoked (counted as a failed authentication of the client; a 429 problem
    for a client that failed too often lately)."""
    failures, _ = _limiters(request)
    client, now = _client_not_locked_out(request, failures)
    info = await run_in_threadpool(_check_token, request.app.state.db, token.strip())
    if info is None:
        failures.failed(client, now)
    return info


async def _open(request: Request, *, deferred: bool) -> Ctx:
    actor = await authenticate_request(request)
    db: Database = request.app.state.db
    ctx = Ctx(db, actor, request, write=request.method in WRITE_METHODS, deferred=deferred)
    if ctx.writing and db.writer is not None:
        try:
            ctx.turn = await db.writer.turn_async()
        except WriterBusy:
            raise _writer_busy() from None
    return ctx


#: Threads that end units of work (commit or roll back) have a capacity of their own, apart
#: from the default thread limiter that request handlers use: when every default thread
#: holds a handler waiting on a row lock that a finished request's transaction still holds,
#: that transaction must still be able to commit (PostgreSQL under 50 writers beside a sync
#: deadlocked that way, the waiters on the facet value counts' rows). One per event loop.
_FINISHERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def _finishers() -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _FINISHERS.get(loop)
    if limiter is None:
        limiter = _FINISHERS[loop] = anyio.CapacityLimiter(40)
    return limiter


async def _close(ctx: Ctx, ok: bool) -> None:
    if ctx._session is None or (ctx.dialect == "sqlite" and not ctx.write):
        ctx.finish(ok)  # nothing opened, or a read on a local file: not worth a hop
    else:
        await anyio.to_thread.run_sync(ctx.finish, ok, limiter=_finishers())


def _ctx_dependency(
    *, deferred: bool, name: str, doc: str
) -> Callable[[Request], AsyncIterator[Ctx]]:
    """A request dependency that opens the request's unit of work (:func:`_open`), yields
    it to the handler and commits it when the handler returns, or rolls it back when it
    raises (:func:`_close`)."""

    async def dependency(request: Request) -> AsyncIterator[Ctx]:
        ctx = await _open(request, deferred=deferred)
        ok = False
        try:
            yield ctx
            ok = True
        finally:
            await _close(ctx, ok)

    dependency.__name__ = dependency.__qualname__ = name
    dependency.__doc__ = doc
    return dependency


get_ctx = _ctx_dependency(
    deferred=False,
    name="get_ctx",
    doc="""Authenticate the bearer token; give the handler the request's unit of work,
    committed when the handler returns (``CtxDep`` runs this end before the response is
    sent, so a client that got its answer finds the change stored).

    A writing request on SQLite first awaits its turn at the database writer (first come,
    first served, holding no thread while it waits; a 503 with ``Retry-After`` after
    ``WRITE_WAIT_SECONDS``), so writers never pile up in the thread pool ahead of reads.
    """,
)
get_deferred_ctx = _ctx_dependency(
    deferred=True,
    name="get_deferred_ctx",
    doc="""As :func:`get_ctx`, but a writing request starts in its read phase, holding no
    writer's turn: the handler calls ``ctx.release()`` before waiting on something slow
    and ``ctx.begin_write()`` to store (for routes that call an upstream between reading
    and writing, such as a credential's verification).""",
)


CtxDep = Annotated[Ctx, Depends(get_ctx, scope="function")]
"""The request's unit of work, committed before the response is sent."""

DeferredWriteCtxDep = Annotated[Ctx, Depends(get_deferred_ctx, scope="function")]
"""The request's unit of work, whose write phase the handler enters with ``begin_write()``."""


ActorDep = Annotated[Actor, Depends(authenticate_request)]
"""The authenticated actor alone, for handlers that need no session."""


def page_endpoint(
    fetch: Callable[..., tuple[list[Any], Any]], doc: str, **path: str
) -> Callable[..., JSONResponse]:
    """The endpoint of a list route whose handler would only call ``fetch``: it takes the
    path parameters named in ``path`` (each mapped to ``fetch``'s keyword for it) and the
    request's :data:`CtxDep`, calls ``fetch(session, **refs, query=..., actor=...)`` and
    answers the page. ``doc`` is the route's description, as a handler's docstring is."""

    def endpoint(ctx: Ctx, **values: str) -> JSONResponse:
        refs = {path[name]: value for name, value in values.items()}
        data, meta = fetch(ctx.session, **refs, query=ctx.query, actor=ctx.actor)
        return page(data, meta)

    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter(name, keyword, annotation=str) for name in path]
    params.append(inspect.Parameter("ctx", keyword, annotation=CtxDep))
    # FastAPI reads the parameters (and so the OpenAPI description) from the signature.
    endpoint.__signature__ = inspect.Signature(params, return_annotation=JSONResponse)  # type: ignore[attr-defined]
    endpoint.__doc__ = doc
    endpoint.__name__ = endpoint.__qualname__ = fetch.__name__
    return endpoint


async def run_read(request: Request, fn: Callable[[Session, list[tuple[str, str]], Actor], T]) -> T:
    """Authenticate ``request`` and run ``fn(session, query, actor)`` (a list, facet
    counts: any read, which checks ``actor``'s rights) in a read-only session in the thread
    pool, for an ``async`` handler.

    A read has nothing to commit, so it needs no unit of work, and sparing FastAPI's
    dependency resolution (a generator dependency and a sync handler: two trips to the
    thread pool) costs a hot list a third less. ``query`` is the query string's pairs.
    """
    actor = await authenticate_request(request)
    db: Database = request.app.state.db
    query = request.query_params.multi_items()

    def read() -> T:
        with db.read_session() as session:
            return fn(session, query, actor)

    if db.dialect == "sqlite":
        return read()
    return await run_in_threadpool(read)


async def run_short_read(ctx: Ctx | Database, fn: Callable[[], T]) -> T:
    """Run ``fn`` (a read of a few rows by key) for an ``async`` handler.

    On SQLite it runs inline: a key lookup in a local WAL file takes tens of microseconds
    and never waits for a writer, less than the thread hop it would otherwise cost. On a
    networked database it goes to the thread pool. Never use it for scans or writes.
    """
    if ctx.dialect == "sqlite":
        return fn()
    return await run_in_threadpool(fn)

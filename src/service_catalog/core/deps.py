"""Request dependencies: a database session and the authenticated actor."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from service_catalog.auth.service import Actor, authenticate
from service_catalog.core.db import Database
from service_catalog.core.errors import Problem


@dataclass
class Ctx:
    """What a request handler gets: a session (committed when the handler succeeds) and who asks."""

    session: Session
    actor: Actor
    request: Request

    @property
    def dialect(self) -> str:
        """The database dialect name."""
        return self.session.get_bind().dialect.name

    @property
    def query(self) -> list[tuple[str, str]]:
        """The query string as (key, value) pairs."""
        return self.request.query_params.multi_items()


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail, headers={"WWW-Authenticate": "Bearer"})


def get_ctx(request: Request) -> Iterator[Ctx]:
    """Open a session, authenticate the bearer token, and commit when the handler returns."""
    header = request.headers.get("authorization")
    if not header:
        raise _unauthorized("Missing Authorization header; send 'Authorization: Bearer <token>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Invalid Authorization header; expected 'Bearer <token>'")
    db: Database = request.app.state.db
    with db.session() as session:
        actor = authenticate(session, token.strip())
        if actor is None:
            raise _unauthorized("Invalid credentials")
        if session.dirty:
            # Commit the token's last_used_at now: committed after the response, it would
            # race the client's next request (SQLite refuses a stale snapshot's write).
            session.commit()
        request.state.actor = actor
        yield Ctx(session=session, actor=actor, request=request)


CtxDep = Annotated[Ctx, Depends(get_ctx)]

"""The ``integration_data`` paths the resource index holds, and keeping it built for them.

Connectors declare the few ``integration_data`` paths that lists filter and facet on
(``Integration.indexed_data``). The index must answer exactly as the JSON does, so every
resource, whatever its integration, has its rows for every declared path of every
installed integration (the union, :func:`data_paths`): the ingest path writes them with
each new or changed integration_data, and :func:`ensure_data_index` rebuilds them when
the declared set is not the one the database was indexed for (a connector package
installed, upgraded or removed), before the app serves. Filters on other paths read the
JSON (:func:`data_index` covers only the declared ones).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from service_catalog.core.db import Database
from service_catalog.core.jsonindex import JsonIndex, declared_rows, split_paths
from service_catalog.integrations import registry
from service_catalog.resources.models import Resource, ResourceAttribute, ResourceIndexedPath

log = logging.getLogger("service_catalog.resources")

PREFIX = "integration_data"
#: Resources read per step of a reindex (their integration_data may be large).
BATCH = 2000

DataPaths = tuple[tuple[str, tuple[str, ...]], ...]


def data_paths() -> DataPaths:
    """The declared paths (``endpoints.total``) with their segments, for
    :func:`~service_catalog.core.jsonindex.declared_rows`."""
    return _split(registry.indexed_data_paths())


@lru_cache(maxsize=8)
def _split(paths: tuple[str, ...]) -> DataPaths:
    return split_paths(PREFIX, paths)


def data_index() -> JsonIndex:
    """The index of ``integration_data``: it covers the declared paths alone."""
    return _index(registry.indexed_data_paths())


@lru_cache(maxsize=8)
def _index(paths: tuple[str, ...]) -> JsonIndex:
    return JsonIndex(
        ResourceAttribute,
        Resource.id,
        PREFIX,
        paths=frozenset(f"{PREFIX}.{p}" for p in paths),
    )


def data_rows(owner_id: Any, data: dict[str, Any] | None, paths: DataPaths) -> list[dict[str, Any]]:
    """The index rows of one resource's ``integration_data`` at ``paths``."""
    return declared_rows(owner_id, PREFIX, data, paths) if paths else []


def ensure_data_index(db: Database) -> None:
    """Build the index for the declared paths when the database was indexed for another
    set: drop the rows of paths no longer declared, write every resource's rows of the
    newly declared ones (reading the resources in batches), record the set. One
    transaction; nothing to do (one small read) when the sets agree."""
    wanted = {f"{PREFIX}.{p}" for p in registry.indexed_data_paths()}
    with db.session(write=False) as session:
        if _stored(session) == wanted:
            return
    with db.session() as session:
        if session.get_bind().dialect.name == "postgresql":
            # Two processes starting together must not reindex at once.
            session.execute(text("SELECT pg_advisory_xact_lock(727273)"))
        stored = _stored(session)
        if stored == wanted:
            return
        reindex(session, stored=stored, wanted=wanted)


def _stored(session: Session) -> set[str]:
    return set(session.scalars(select(ResourceIndexedPath.path)))


def reindex(session: Session, *, stored: set[str], wanted: set[str]) -> int:
    """Bring the rows of ``integration_data`` paths from the set ``stored`` to ``wanted``
    and record it; returns how many rows were written."""
    gone, added = sorted(stored - wanted), sorted(wanted - stored)
    t = ResourceAttribute
    if gone or added:  # (rows of an added path may remain from an earlier set: rewritten)
        session.execute(delete(t).where(t.path.in_([*gone, *added])))
    written = 0
    if added:
        paths = _split(tuple(p.removeprefix(f"{PREFIX}.") for p in added))
        last: str | None = None
        while True:
            stmt = select(Resource.id, Resource.integration_data)
            if last is not None:
                stmt = stmt.where(Resource.id > last)
            batch = session.execute(stmt.order_by(Resource.id).limit(BATCH)).all()
            if not batch:
                break
            rows = [r for rid, data in batch for r in data_rows(rid, data, paths)]
            if rows:
                session.execute(insert(t), rows)
                written += len(rows)
            last = batch[-1][0]
    session.execute(delete(ResourceIndexedPath))
    if wanted:
        session.execute(insert(ResourceIndexedPath), [{"path": p} for p in sorted(wanted)])
    log.info(
        "resource index: integration_data paths %s added, %s dropped (%d rows written)",
        ", ".join(added) or "none",
        ", ".join(gone) or "none",
        written,
    )
    return written


__all__ = [
    "BATCH",
    "PREFIX",
    "data_index",
    "data_paths",
    "data_rows",
    "ensure_data_index",
    "reindex",
]

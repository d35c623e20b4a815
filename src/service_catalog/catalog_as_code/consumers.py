"""Consumed APIs of catalog files and of the Backstage import (``apis`` entries with
``relation: consumes``, Backstage ``consumesApis``): stored apart from Kong's API
mappings (:class:`service_catalog.apis.models.ApiConsumer`), since a mapping says "this
service provides this API" and has no direction.

Declarative as the provided APIs are (:mod:`.relations`): after an apply, the consumed
APIs of every service the files name are those declared; an apply deletes only those it
(its source) recorded; one recorded otherwise stays. Kept in its own module, beside
:mod:`.relations`, so that each ``plan_*``/``apply_*`` pair plugs into the apply as the
others do.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service_catalog.apis import service as apis
from service_catalog.apis.models import Api, ApiConsumer
from service_catalog.auth.service import Actor
from service_catalog.catalog_as_code.relations import (
    DeclaredApi,
    DeclaredApiMapping,
    LinkDiff,
    Planned,
    Where,
    link_diff,
    origin_of,
    planned_links,
    store_links,
)
from service_catalog.catalog_services.models import CatalogService

_CHUNK = 5000
_Pair = tuple[str, str, str]  # service name, API name, API version ('' for none)


def _name(pair: _Pair) -> str:
    return f"{pair[0]} consumes {pair[1]}" + (f" {pair[2]}" if pair[2] else "")


def _rows(session: Session, stmt_of: Any, values: Sequence[Any]) -> list[Any]:
    return [
        row
        for start in range(0, len(values), _CHUNK)
        for row in session.execute(stmt_of(values[start : start + _CHUNK]))
    ]


def _diff(
    session: Session,
    declared: Sequence[DeclaredApiMapping],
    services: Sequence[str],
    known: Mapping[str, uuid.UUID],
    coming: set[tuple[str, str]],
    origin: str,
) -> LinkDiff:
    wanted: dict[_Pair, Where] = {}
    for m in declared:
        if m.relation == "consumes":
            wanted.setdefault((m.service, m.api, m.version or ""), m.where)
    if (
        not wanted
        and session.scalar(select(ApiConsumer.id).where(ApiConsumer.origin == origin).limit(1))
        is None
    ):
        return LinkDiff(dict(known), {}, {}, {}, {})  # nothing declared, nothing of this source
    ids = dict(known)
    cs = CatalogService
    missing = sorted(set(services) - set(ids))
    ids.update(
        (r.name, r.id)
        for r in _rows(
            session, lambda part: select(cs.name, cs.id).where(cs.name.in_(part)), missing
        )
    )
    names = {v: k for k, v in ids.items()}
    stored = apis.consumers_of_services(session, [ids[n] for n in services if n in ids])
    api_ids, create, delete, unknown = link_diff(session, wanted, stored, names, coming, origin)
    return LinkDiff(ids, api_ids, create, delete, unknown)


def plan_consumed_apis(
    session: Session,
    declared: Sequence[DeclaredApiMapping],
    *,
    services: Sequence[str],
    apis_declared: Sequence[DeclaredApi],
    source: str,
    actor: Actor,
) -> Planned:
    """The consumed APIs applying ``declared`` would record and delete (changes of kind
    ``api_consumer``); an error for an API that neither exists nor is declared, or a
    service the actor may not administer."""
    coming = {(a.name, a.version or "") for a in apis_declared}
    diff = _diff(session, declared, services, {}, coming, origin_of(source))
    return planned_links(diff, "api_consumer", _name, actor, unknown="consumed API")


def apply_consumed_apis(
    session: Session,
    declared: Sequence[DeclaredApiMapping],
    *,
    services: Sequence[str],
    service_ids: Mapping[str, uuid.UUID],
    source: str,
    actor: Actor,
) -> None:
    """Make the consumed APIs of the services the files name those declared (after
    :func:`.relations.apply_apis`: the APIs exist)."""
    origin = origin_of(source)
    diff = _diff(session, declared, services, service_ids, set(), origin)
    store_links(session, diff, apis.replace_api_consumers, origin=origin, actor=actor)


def export_consumed(
    session: Session, service_ids: Mapping[uuid.UUID, str]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """The ``apis`` entries (``relation: consumes``) of each exported service, by id."""
    stored = apis.consumers_of_services(session, list(service_ids))
    rows = {
        r.id: r
        for r in _rows(
            session,
            lambda part: select(Api.id, Api.name, Api.version).where(Api.id.in_(part)),
            sorted({s[2] for s in stored}),
        )
    }
    out: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for _, service_id, api_id, _origin in sorted(
        stored, key=lambda s: (rows[s[2]].name, rows[s[2]].version)
    ):
        entry: dict[str, Any] = {"api": rows[api_id].name}
        if rows[api_id].version:
            entry["version"] = rows[api_id].version
        entry["relation"] = "consumes"
        out.setdefault(service_id, []).append(entry)
    return out

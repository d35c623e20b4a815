"""The seam between catalog files and the relations another branch is building: service
dependencies and API mappings (``deps``: a dependencies table, ``/v3/apis`` and the
``api-mappings`` operations).

Catalog files and the Backstage import already read ``dependencies`` and ``apis`` (and
Backstage ``API`` entities) and hand them here, resolved to catalog service names; today
nothing stores them, so :func:`plan_dependencies`, :func:`plan_api_mappings` and
:func:`plan_apis` answer one "not supported yet" warning each, and the ``apply_*``
functions store nothing. To connect them, replace the bodies of these six functions (and
:func:`export_relations`) with calls into the dependencies and APIs domains; nothing
else in ``catalog_as_code`` needs to change. Each ``apply_*`` runs in the apply's
transaction, after services were created and before prune deletes any, with the ids of
every service the files name.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from service_catalog.auth.service import Actor

SUPPORTED = False  # True once the deps branch's tables are connected below


@dataclass(frozen=True)
class Where:
    """The file and line a relation was declared at."""

    file: str
    line: int


@dataclass(frozen=True)
class DeclaredDependency:
    """``service`` depends on ``depends_on`` (both catalog service names)."""

    service: str
    depends_on: str
    label: str | None
    where: Where


@dataclass(frozen=True)
class DeclaredApiMapping:
    """``service`` provides or consumes the API ``api`` (name, optional version)."""

    service: str
    api: str
    version: str | None
    relation: str  # "provides" | "consumes"
    where: Where


@dataclass(frozen=True)
class DeclaredApi:
    """An API with its definition (a Backstage ``API`` entity)."""

    name: str
    version: str | None
    description: str | None
    spec_type: str | None  # openapi, asyncapi, graphql, grpc ...
    definition: str | None
    where: Where


def _not_yet(what: str, count: int, first: Where) -> dict[str, Any]:
    return {
        "file": first.file,
        "line": first.line,
        "message": f"{count} {what} declared (first at {first.file}:{first.line}) "
        "are not applied: the catalog does not store them yet",
    }


def plan_dependencies(
    session: Session, declared: Sequence[DeclaredDependency]
) -> list[dict[str, Any]]:
    """What applying ``declared`` would change, as warnings ``{file, line, message}``
    (today: one saying dependencies are not supported yet)."""
    return [_not_yet("dependencies", len(declared), declared[0].where)] if declared else []


def apply_dependencies(
    session: Session,
    declared: Sequence[DeclaredDependency],
    *,
    service_ids: Mapping[str, uuid.UUID],
    source: str,
    actor: Actor,
) -> None:
    """Make the dependencies of the services in ``declared`` (by the source ``source``)
    exactly those declared. Today: nothing is stored."""


def plan_api_mappings(
    session: Session, declared: Sequence[DeclaredApiMapping]
) -> list[dict[str, Any]]:
    """Warnings for API mappings (today: one saying they are not supported yet)."""
    return [_not_yet("API mappings", len(declared), declared[0].where)] if declared else []


def apply_api_mappings(
    session: Session,
    declared: Sequence[DeclaredApiMapping],
    *,
    service_ids: Mapping[str, uuid.UUID],
    source: str,
    actor: Actor,
) -> None:
    """Make the API mappings of the services in ``declared`` exactly those declared.
    Today: nothing is stored."""


def plan_apis(session: Session, declared: Sequence[DeclaredApi]) -> list[dict[str, Any]]:
    """Warnings for APIs (today: one saying the API registry is not there yet)."""
    return [_not_yet("APIs", len(declared), declared[0].where)] if declared else []


def apply_apis(
    session: Session, declared: Sequence[DeclaredApi], *, source: str, actor: Actor
) -> None:
    """Create or update the APIs ``declared``. Today: nothing is stored."""


def export_relations(
    session: Session, service_ids: Mapping[uuid.UUID, str]
) -> dict[uuid.UUID, dict[str, list[dict[str, Any]]]]:
    """The ``dependencies`` and ``apis`` entries of each exported service (by id), in
    the file format's shape. Today: none."""
    return {}

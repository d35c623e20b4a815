"""Catalog files from text to a result: load, plan, apply (unless a dry run). Shared by
the API route and the command line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from service_catalog.auth.service import Actor
from service_catalog.catalog_as_code import service
from service_catalog.catalog_as_code.documents import Located, load_documents
from service_catalog.catalog_as_code.relations import DeclaredApi


def run_docs(
    session: Session,
    *,
    docs: Sequence[Located],
    source: str,
    actor: Actor,
    prune: bool,
    dry_run: bool,
    apis: Sequence[DeclaredApi] = (),
    warnings: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Plan ``docs`` and, unless ``dry_run``, apply them in ``session``'s transaction;
    the plan as a dict (with ``warnings`` of the caller's added). Raises
    :class:`CatalogFileErrors` (nothing applied)."""
    plan = service.plan(session, docs=docs, source=source, actor=actor, prune=prune, apis=apis)
    changes = any(c.action != "unchanged" for c in plan.changes)
    if not dry_run and (changes or plan.apis):
        service.apply(session, result=plan, actor=actor)
    result = plan.as_dict(applied=not dry_run and changes, dry_run=dry_run)
    result["warnings"] = [*warnings, *result["warnings"]]
    return result


def run_files(
    session: Session,
    *,
    files: Sequence[tuple[str, str]],
    source: str,
    actor: Actor,
    prune: bool,
    dry_run: bool,
) -> dict[str, Any]:
    """:func:`run_docs` of catalog files given as ``(path, YAML text)`` pairs."""
    docs = load_documents(files)
    return run_docs(session, docs=docs, source=source, actor=actor, prune=prune, dry_run=dry_run)

"""``POST /v1/catalog-apply``: catalog files applied (or planned, ``dry_run``) through the
API, for CI pipelines. An extension: Konnect has no such operation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StringConstraints

from service_catalog.auth.deps import CtxDep
from service_catalog.catalog_as_code.documents import CatalogFileErrors
from service_catalog.catalog_as_code.runner import run_files
from service_catalog.core.errors import Problem
from service_catalog.core.responses import json_response
from service_catalog.core.routes import operation
from service_catalog.core.validation import StrictBody

Path = Annotated[str, StringConstraints(min_length=1, max_length=500, strict=True)]


class CatalogFile(StrictBody):
    """One catalog file: its path (as errors name it) and its YAML text."""

    path: Path
    content: Annotated[str, StringConstraints(strict=True)]


class CatalogApply(StrictBody):
    """Body of ``POST /v1/catalog-apply``."""

    source: Path = Field(
        description="Who applies these files (a repository, a pipeline): --prune deletes "
        "only services this same source applied, and a service another source applied "
        "cannot be changed.",
        examples=["github.com/acme/catalog"],
    )
    files: list[CatalogFile] = Field(min_length=1, max_length=1000)
    prune: bool = False
    dry_run: bool = False


class CatalogApplyResult(BaseModel):
    """What was (or, on a dry run, would be) changed."""

    source: str
    dry_run: bool
    applied: bool
    prune: bool
    summary: dict[str, int]
    changes: list[dict[str, Any]]
    unchanged: list[str]
    warnings: list[dict[str, Any]]


router = APIRouter(tags=["Catalog as Code"])


def problem_of(exc: CatalogFileErrors) -> Problem:
    """The problem answering catalog file errors: each names its file and line."""
    first = str(exc.errors[0]) if exc.errors else "invalid catalog files"
    count = len(exc.errors) + exc.more
    detail = first if count == 1 else f"{first} (and {count - 1} more errors)"
    params = [
        {"field": "files", "rule": "invalid", "reason": str(e), "source": "body"}
        for e in exc.errors
    ]
    return Problem(exc.status, detail, invalid_parameters=params)


@router.post(
    "/v1/catalog-apply",
    **operation(
        "apply-catalog",
        "Apply Catalog Files",
        CatalogApplyResult,
        description="Plan (``dry_run``) or apply catalog files (``apiVersion: "
        "service-catalog/v1``) in one transaction: all or nothing. Creating services needs "
        "Service Creator, changing or pruning one needs Service Admin on it, creating or "
        "changing teams needs Organization Admin. An extension: Konnect has none.",
    ),
)
def apply_catalog(body: CatalogApply, ctx: CtxDep) -> JSONResponse:
    """Apply catalog files, or say what applying them would change."""
    try:
        result = run_files(
            ctx.session,
            files=[(f.path, f.content) for f in body.files],
            source=body.source,
            actor=ctx.actor,
            prune=body.prune,
            dry_run=body.dry_run,
        )
    except CatalogFileErrors as exc:
        raise problem_of(exc) from None
    return json_response(result)

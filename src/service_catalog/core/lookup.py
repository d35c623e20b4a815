"""Finding one row by the reference a user gives: its id or, failing that, its name.

Every path parameter and body reference to a named entity (catalog service, integration
instance) goes through here, so ``GET /v1/integration-instances/traceable-prod`` works as
the CLI and request bodies already do, and a miss says so the same way everywhere.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from service_catalog.core.errors import Problem

T = TypeVar("T")


def find_by_id_or_name(session: Session, model: type[T], ref: str) -> T | None:
    """The row of ``model`` whose id is ``ref`` or, failing that, whose unique name is."""
    if "\x00" in ref:
        return None  # no name holds NUL (and PostgreSQL refuses it as a parameter)
    try:
        ident: uuid.UUID | None = uuid.UUID(ref)
    except ValueError:
        ident = None
    if ident is not None:
        row = session.get(model, ident)
        if row is not None:
            return row
    name: Any = model.name  # type: ignore[attr-defined]
    return session.scalar(select(model).where(name == ref))


def missing(what: str, ref: object, listing: str) -> Problem:
    """The 404 for a reference that names nothing: says what paths take and where to look."""
    return Problem(
        404, f"{what} [{ref}] not found (give its id or its name; list them with GET {listing})"
    )


def get_by_id_or_name(session: Session, model: type[T], ref: str, *, what: str, listing: str) -> T:
    """:func:`find_by_id_or_name`, or a 404 (:func:`missing`)."""
    row = find_by_id_or_name(session, model, ref)
    if row is None:
        raise missing(what, ref, listing)
    return row

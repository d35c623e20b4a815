"""What a PATCH does with the fields every named entity (catalog service, integration
instance) shares: a unique name, a display name, a description and labels merged key by key.

One place for these rules, so that a rename races, a null and a labels merge behave the
same on every entity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service_catalog.core.errors import bad_request, name_taken
from service_catalog.core.validation import MAX_LABELS


def merge_map(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` with ``changes`` applied: a key given a value takes it, a key given null
    is removed (labels, custom fields, config)."""
    out = dict(current)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def patch_named(
    session: Session,
    row: Any,
    data: Any,
    *,
    what: str,
    objects: Sequence[str] = (),
) -> list[str]:
    """Apply the shared fields of a PATCH body ``data`` (a pydantic model: only the fields it
    was given count) to ``row``; the names of the fields that changed.

    ``name``, ``display_name`` and the fields named in ``objects`` (the entity's own, which
    the caller applies) may be left out but not null (400), checked before anything
    changes. A name another row
    holds is a 409 (:func:`~service_catalog.core.errors.name_taken` of ``what``, e.g.
    ``"A catalog service"``), also when a concurrent writer takes it first (caught in a
    savepoint, undoing that statement alone). ``labels: null`` clears them; a labels map
    merges (:func:`merge_map`) and may hold at most :data:`MAX_LABELS` labels afterwards.
    """
    given = data.model_fields_set
    for required in ("name", "display_name", *objects):
        if required in given and getattr(data, required) is None:
            kind, rule = (
                ("an object", "is_object") if required in objects else ("a string", "is_string")
            )
            raise bad_request(
                f"Invalid request: {required} must be {kind}",
                required,
                f"must be {kind}",
                rule=rule,
            )
    changed: list[str] = []
    model = type(row)
    if data.name is not None and data.name != row.name:
        if session.scalar(select(model.id).where(model.name == data.name)):
            raise name_taken(what, data.name)
        try:
            with session.begin_nested():  # a concurrent write of the same name wins
                row.name = data.name
        except IntegrityError:
            raise name_taken(what, data.name) from None
        changed.append("name")
    if data.display_name is not None:
        set_changed(row, "display_name", data.display_name, changed)
    if "description" in given:
        set_changed(row, "description", data.description, changed)
    if "labels" in given:
        labels = {} if data.labels is None else merge_map(row.labels or {}, data.labels)
        if len(labels) > MAX_LABELS:
            reason = f"must not have more than {MAX_LABELS} labels"
            raise bad_request(
                f"Invalid request: labels {reason}",
                "labels",
                reason,
                rule="max_items",
                maximum=MAX_LABELS,
            )
        set_changed(row, "labels", labels, changed)
    return changed


def set_changed(row: Any, name: str, value: Any, changed: list[str]) -> None:
    """Set ``row``'s field ``name`` to ``value`` and list ``name`` in ``changed``, unless the
    field holds ``value`` already."""
    if value != getattr(row, name):
        setattr(row, name, value)
        changed.append(name)


__all__ = ["merge_map", "patch_named", "set_changed"]

"""Scorecard request bodies shared by the tests: a criterion, and a ``POST /v1/scorecards``
(or ``PUT``) body over the catalog's services."""

from __future__ import annotations

from typing import Any

ALL_SERVICES: dict[str, Any] = {"selector": "all", "selector_parameters": None}


def criterion(template: str, section: str | None = None, **params: Any) -> dict[str, Any]:
    """One enabled criterion of a scorecard body: ``template`` with ``params``, in
    ``section``."""
    return {
        "enabled": True,
        "template_name": template,
        "template_parameters": params,
        "section_name": section,
    }


def scorecard_body(
    name: str,
    criteria: list[dict[str, Any]],
    selector: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A scorecard body named ``name`` with ``criteria``, no description and no template,
    over the services ``selector`` picks (all of them unless given); ``extra`` fields
    (levels, a description...) added or replaced."""
    return {
        "name": name,
        "description": None,
        "scorecard_template": None,
        "entity_selector": selector or ALL_SERVICES,
        "criteria": criteria,
        **extra,
    }

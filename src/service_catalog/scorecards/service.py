"""Rules of scorecards: the only place that changes them, and the reads of their results.

Every function takes the caller's session and actor and never commits. Rights (README,
"Access"): Scorecard Admin changes scorecards; Scorecard Viewer (or Admin) reads them; a
service's results are shown only to principals who may see that service (Service Viewer or
Admin of it, or an Organization Admin).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import jsonschema
from sqlalchemy import ColumnElement, Select, case, delete, func, select, true
from sqlalchemy.orm import Session

from service_catalog.auth.access import SCORECARD_ADMIN, SCORECARD_VIEWER
from service_catalog.auth.guard import readable_services, require_any
from service_catalog.auth.service import Actor
from service_catalog.catalog_services import service as catalog
from service_catalog.catalog_services.models import CatalogService
from service_catalog.core import query as q
from service_catalog.core.db import utcnow
from service_catalog.core.errors import Problem, invalid_request
from service_catalog.core.render import ts
from service_catalog.events.service import record_action
from service_catalog.integrations import registry
from service_catalog.scorecards.criteria import BY_NAME, TEMPLATES, CriteriaTemplate, provider_of
from service_catalog.scorecards.evaluation import level_of, passing_expr
from service_catalog.scorecards.models import (
    Scorecard,
    ScorecardCriterion,
    ScorecardResult,
    ScorecardState,
)
from service_catalog.scorecards.schemas import ScorecardIn
from service_catalog.scorecards.selectors import selector_clause
from service_catalog.scorecards.templates import SCORECARD_TEMPLATES

LISTING = "/v1/scorecards"
#: JSON schema keywords -> the contract's invalid parameter rules.
_RULES = {"required": "required", "type": "type", "additionalProperties": "unknown_property"}


# --- rights ------------------------------------------------------------------------

#: Roles that read scorecards, their templates and results (Organization Admin too).
SCORECARD_READERS = (SCORECARD_VIEWER, SCORECARD_ADMIN)


def require_admin(actor: Actor) -> None:
    """403 naming Scorecard Admin unless the actor may change scorecards."""
    require_any(actor.rights, SCORECARD_ADMIN)


def require_viewer(actor: Actor) -> None:
    """403 naming the roles unless the actor may read scorecards (Viewer or Admin)."""
    require_any(actor.rights, *SCORECARD_READERS)


def visible_services(actor: Actor) -> ColumnElement[bool]:
    """SQL: the catalog services whose results the actor may see (those it reads)."""
    ids = readable_services(actor.rights)
    if ids is None:
        return true()
    return CatalogService.id.in_(sorted(ids))


def _service_for(session: Session, actor: Actor, ref: str) -> CatalogService:
    """The service ``ref`` names; the 404 of a missing one unless the actor reads it."""
    return catalog.get_service(session, service_id=ref, rights=actor.rights)


# --- templates ---------------------------------------------------------------------


def installed(template: CriteriaTemplate) -> bool:
    """Whether the template can be evaluated here: its data exists in this catalog and the
    integration providing it is registered."""
    provider = provider_of(template)
    return template.unavailable is None and (
        provider is None or registry.get_integration(provider) is not None
    )


def template_dict(t: CriteriaTemplate) -> dict[str, Any]:
    """A criteria template as the contract's ``CriteriaTemplate``."""
    return {
        "name": t.name,
        "display_name": t.display_name,
        "category": t.category,
        "template_string": t.template_string,
        "integration_name": t.integration,
        "installed": installed(t),
        "schema": t.schema(),
        "required_integration_capability": t.capability,
    }


def _memory_list(
    items: list[dict[str, Any]],
    query: list[tuple[str, str]],
    fields: dict[str, str],
    sorts: Sequence[str],
    default: str,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Filter, sort and page a short list held in memory with the API's grammar."""
    page = q.page_request(dict(query))
    for f in q.parse_filters(query):
        kind = fields.get(f.name)
        if kind is None:
            raise invalid_request(
                [
                    {
                        "field": f.param,
                        "rule": "invalid",
                        "reason": f"unknown filter field; use one of {', '.join(fields)}",
                        "source": "query",
                    }
                ]
            )
        items = [i for i in items if _matches(i.get(f.name), kind, f)]
    for name, desc in reversed(
        q.parse_sort(dict(query).get("sort"), dict.fromkeys(sorts), default)
    ):
        items = sorted(items, key=lambda i: str(i.get(name) or ""), reverse=desc)
    start = (page.number - 1) * page.size
    return items[start : start + page.size], q.page_meta(page, len(items))


def _matches(value: Any, kind: str, f: q.ParsedFilter) -> bool:
    ops = ("eq", "neq") if kind == "boolean" else ("eq", "neq", "contains", "oeq")
    if f.op not in ops:
        raise invalid_request(
            [
                {
                    "field": f.param,
                    "rule": "invalid",
                    "reason": f"unknown operator; use one of {', '.join(ops)}",
                    "source": "query",
                }
            ]
        )
    if kind == "boolean":
        if f.value not in ("true", "false"):
            raise invalid_request(
                [
                    {
                        "field": f.param,
                        "rule": "is_boolean",
                        "reason": "must be true or false",
                        "source": "query",
                    }
                ]
            )
        hit = value is (f.value == "true")
        return hit if f.op == "eq" else not hit
    text = "" if value is None else str(value)
    if f.op == "eq":
        return text == f.value
    if f.op == "neq":
        return text != f.value
    if f.op == "oeq":
        return text in f.value.split(",")
    return f.value.lower() in text.lower()


def list_criteria_templates(
    session: Session, query: list[tuple[str, str]], actor: Actor
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of criteria templates (filters name, display_name, installed, integration_name;
    sorts display_name, name)."""
    require_viewer(actor)
    items = [template_dict(t) for t in TEMPLATES]
    fields = {
        "name": "string",
        "display_name": "string",
        "installed": "boolean",
        "integration_name": "string",
    }
    return _memory_list(items, query, fields, ("display_name", "name"), "display_name")


def list_scorecard_templates(
    session: Session, query: list[tuple[str, str]], actor: Actor
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of scorecard templates (filters name, display_name; sorts display_name, name)."""
    require_viewer(actor)
    items = [dict(t) for t in SCORECARD_TEMPLATES]
    fields = {"name": "string", "display_name": "string"}
    return _memory_list(items, query, fields, ("display_name", "name"), "display_name")


# --- rendering ----------------------------------------------------------------------


def _score(raw: float | None, value: str | None) -> dict[str, Any] | None:
    return None if raw is None or value is None else {"value": value, "raw_value": raw}


def scorecard_dict(card: Scorecard) -> dict[str, Any]:
    """A scorecard as the contract's ``Scorecard`` (plus ``levels``, our extension)."""
    return {
        "id": str(card.id),
        "name": card.name,
        "description": card.description,
        "score": _score(card.score_raw, card.score_value),
        "entity_selector": card.entity_selector,
        "scorecard_template": card.scorecard_template,
        "created_at": ts(card.created_at),
        "updated_at": ts(card.updated_at),
        "levels": card.levels,
    }


def criterion_dict(c: ScorecardCriterion) -> dict[str, Any]:
    """A criterion as the contract's ``ScorecardCriteria``."""
    return {
        "id": str(c.id),
        "name": c.name,
        "scorecard_id": str(c.scorecard_id),
        "integration": c.integration,
        "enabled": c.enabled,
        "template_name": c.template_name,
        "template_parameters": c.template_parameters,
        "section_name": c.section_name,
        "created_at": ts(c.created_at),
        "updated_at": ts(c.updated_at),
    }


def evaluation_dict(
    entry: dict[str, Any] | None, attempted_at: dt.datetime
) -> dict[str, Any] | None:
    """A stored criterion result as the contract's ``ScorecardCriteriaServiceEvaluation``:
    ``is_passing`` false with ``evaluation_error`` when it could not be judged;
    ``successfully_evaluated_at`` the last attempt when it was judged, else the last
    success before the error (null when it never was judged)."""
    if entry is None:
        return None
    attempted = ts(attempted_at)
    return {
        "is_passing": bool(entry.get("p")),
        "evaluation_context": {"raw_value": entry.get("v"), "display_text": entry.get("t") or ""},
        "evaluation_error": entry.get("e"),
        "attempted_at": attempted,
        "successfully_evaluated_at": attempted if entry.get("e") is None else entry.get("ok"),
        "created_at": entry.get("c") or attempted,
    }


# --- scorecards ---------------------------------------------------------------------


def _check_body(data: ScorecardIn) -> None:
    """400 for criteria naming no template or with parameters its schema refuses, and
    levels naming sections no criterion has."""
    problems: list[dict[str, Any]] = []
    for i, c in enumerate(data.criteria):
        t = BY_NAME.get(c.template_name)
        where = f"criteria[{i}]"
        if t is None:
            problems.append(
                {
                    "field": f"{where}.template_name",
                    "rule": "invalid",
                    "reason": f"is not a criteria template (GET /v1/criteria-templates lists "
                    f"them): {c.template_name}",
                    "source": "body",
                }
            )
            continue
        schema = t.schema()
        params = c.template_parameters or {}
        definition = schema["definition"] if schema else {"type": "object", "maxProperties": 0}
        for err in jsonschema.Draft202012Validator(definition).iter_errors(params):
            path = ".".join(str(p) for p in err.absolute_path)
            problems.append(
                {
                    "field": f"{where}.template_parameters" + (f".{path}" if path else ""),
                    "rule": _RULES.get(str(err.validator), "invalid"),
                    "reason": err.message,
                    "source": "body",
                }
            )
    sections = {c.section_name for c in data.criteria if c.section_name}
    for i, lv in enumerate(data.levels or []):
        for s in lv.sections:
            if s not in sections:
                problems.append(
                    {
                        "field": f"levels[{i}].sections",
                        "rule": "invalid",
                        "reason": f"no criterion is in section {s!r}",
                        "source": "body",
                    }
                )
    if problems:
        raise invalid_request(problems)


def get_scorecard(session: Session, scorecard_id: str) -> Scorecard:
    """A scorecard by id; 404 when there is none."""
    try:
        card = session.get(Scorecard, uuid.UUID(scorecard_id))
    except ValueError:
        card = None
    if card is None:
        raise Problem(404, f"Scorecard [{scorecard_id}] not found (list them with GET {LISTING})")
    return card


def criteria_of(session: Session, card: Scorecard) -> list[ScorecardCriterion]:
    """The scorecard's criteria in their configured order."""
    return list(
        session.scalars(
            select(ScorecardCriterion)
            .where(ScorecardCriterion.scorecard_id == card.id)
            .order_by(ScorecardCriterion.position)
        )
    )


def with_criteria(session: Session, card: Scorecard) -> dict[str, Any]:
    """A scorecard with its criteria (the contract's ``ScorecardWithCriteria``)."""
    return {
        **scorecard_dict(card),
        "criteria": [criterion_dict(c) for c in criteria_of(session, card)],
    }


def _apply_criteria(session: Session, card: Scorecard, data: ScorecardIn, now: dt.datetime) -> None:
    existing = {c.id: c for c in criteria_of(session, card)}
    keep: set[uuid.UUID] = set()
    for pos, c in enumerate(data.criteria):
        values = {
            "position": pos,
            "name": c.name,
            "template_name": c.template_name,
            "integration": provider_of(BY_NAME[c.template_name]),
            "enabled": c.enabled,
            "template_parameters": c.template_parameters,
            "section_name": c.section_name,
        }
        if c.id is not None:
            row = existing.get(c.id)
            if row is None:
                raise invalid_request(
                    [
                        {
                            "field": f"criteria[{pos}].id",
                            "rule": "invalid",
                            "reason": f"is not a criterion of this scorecard: {c.id}",
                            "source": "body",
                        }
                    ]
                )
            changed = any(getattr(row, k) != v for k, v in values.items())
            for k, v in values.items():
                setattr(row, k, v)
            if changed:
                row.updated_at = now
                row.passing_services_count = None
            keep.add(row.id)
        else:
            session.add(
                ScorecardCriterion(scorecard_id=card.id, created_at=now, updated_at=now, **values)
            )
    gone = [cid for cid in existing if cid not in keep]
    if gone:
        session.execute(delete(ScorecardCriterion).where(ScorecardCriterion.id.in_(gone)))


def _stored_selector(data: ScorecardIn) -> dict[str, Any] | None:
    if data.entity_selector is None:
        return None
    return data.entity_selector.model_dump(mode="json")


def _audit(session: Session, actor: Actor, card: Scorecard, verb: str) -> None:
    record_action(
        session,
        actor=actor,
        type=f"scorecard.{verb}",
        detail=f"Scorecard {card.name} {verb} by {actor.name}",
        attributes={"scorecard_id": str(card.id), "name": card.name},
    )


def _due_in_full(session: Session, card: Scorecard) -> None:
    state = session.get(ScorecardState, card.id)
    if state is None:
        session.add(ScorecardState(scorecard_id=card.id, full_due=True))
    else:
        state.full_due = True


def create_scorecard(session: Session, *, data: ScorecardIn, actor: Actor) -> dict[str, Any]:
    """Create a scorecard (Scorecard Admin); it is evaluated by the worker's next pass."""
    require_admin(actor)
    _check_body(data)
    if any(c.id is not None for c in data.criteria):
        raise invalid_request(
            [
                {
                    "field": "criteria[].id",
                    "rule": "unknown_property",
                    "reason": "a new scorecard's criteria have no id yet",
                    "source": "body",
                }
            ]
        )
    now = utcnow()
    card = Scorecard(
        name=data.name,
        description=data.description,
        entity_selector=_stored_selector(data),
        scorecard_template=data.scorecard_template,
        levels=[lv.model_dump() for lv in data.levels] if data.levels else None,
        created_at=now,
        updated_at=now,
    )
    session.add(card)
    session.flush()
    _apply_criteria(session, card, data, now)
    _due_in_full(session, card)
    _audit(session, actor, card, "created")
    session.flush()
    return with_criteria(session, card)


def update_scorecard(
    session: Session, *, scorecard_id: str, data: ScorecardIn, actor: Actor
) -> dict[str, Any]:
    """Replace a scorecard (PUT): criteria with an ``id`` are updated, others created, the
    ones left out deleted; it is evaluated again in full."""
    require_admin(actor)
    card = get_scorecard(session, scorecard_id)
    _check_body(data)
    now = utcnow()
    card.name = data.name
    card.description = data.description
    card.entity_selector = _stored_selector(data)
    card.scorecard_template = data.scorecard_template
    card.levels = [lv.model_dump() for lv in data.levels] if data.levels else None
    card.updated_at = now
    _apply_criteria(session, card, data, now)
    _due_in_full(session, card)
    _audit(session, actor, card, "updated")
    session.flush()
    return with_criteria(session, card)


def delete_scorecard(session: Session, *, scorecard_id: str, actor: Actor) -> None:
    """Delete a scorecard with its criteria and results."""
    require_admin(actor)
    card = get_scorecard(session, scorecard_id)
    _audit(session, actor, card, "deleted")
    session.execute(delete(Scorecard).where(Scorecard.id == card.id))


def read_scorecard(session: Session, *, scorecard_id: str, actor: Actor) -> dict[str, Any]:
    """One scorecard with its criteria."""
    require_viewer(actor)
    return with_criteria(session, get_scorecard(session, scorecard_id))


SCORECARD_FILTERS = q.FilterSpec(
    fields={
        "name": q.FilterField("string", Scorecard.name),
        "score.value": q.FilterField("string", Scorecard.score_value),
        "score.raw_value": q.FilterField("number", Scorecard.score_raw),
    }
)
SCORECARD_SORTS = {
    "name": Scorecard.name,
    "score.value": Scorecard.score_value,
    "score.raw_value": Scorecard.score_raw,
}


def _page(
    session: Session, stmt: Select[Any], order: list[Any], query: list[tuple[str, str]]
) -> tuple[list[Any], dict[str, Any]]:
    page = q.page_request(dict(query))
    rows, total = q.numbered_page(session, stmt, order, page)
    return rows, q.page_meta(page, total)


def list_scorecards(
    session: Session, query: list[tuple[str, str]], actor: Actor
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of scorecards (filters name, score.value, score.raw_value; same sorts)."""
    require_viewer(actor)
    dialect = session.get_bind().dialect.name
    clauses = q.filter_clauses(SCORECARD_FILTERS, query, dialect)
    sort = q.parse_sort(dict(query).get("sort"), SCORECARD_SORTS, "name")
    rows, meta = _page(
        session,
        select(Scorecard).where(*clauses),
        q.order_by(sort, SCORECARD_SORTS, Scorecard.id),
        query,
    )
    return [scorecard_dict(c) for c in rows], meta


# --- results ------------------------------------------------------------------------

_SERVICE_FIELDS = dict(catalog.FILTERS.fields)


def _result_of(card: Scorecard) -> Any:
    """SQL: joins a catalog service to its result row under ``card``."""
    return (ScorecardResult.service_id == CatalogService.id) & (
        ScorecardResult.scorecard_id == card.id
    )


def _targeted_visible(card: Scorecard, actor: Actor) -> tuple[Any, Any]:
    """SQL: the services ``card`` targets that ``actor`` may see."""
    return selector_clause(card.entity_selector), visible_services(actor)


def _service_base(card: Scorecard, actor: Actor) -> Select[Any]:
    return (
        select(CatalogService.id)
        .select_from(CatalogService)
        .outerjoin(ScorecardResult, _result_of(card))
        .where(*_targeted_visible(card, actor))
    )


def _services_page(
    session: Session,
    card: Scorecard,
    actor: Actor,
    query: list[tuple[str, str]],
    fields: dict[str, q.FilterField],
    sorts: dict[str, Any],
) -> tuple[list[tuple[CatalogService, ScorecardResult | None]], dict[str, Any]]:
    dialect = session.get_bind().dialect.name
    spec = q.FilterSpec(fields=fields, json_prefixes=catalog.FILTERS.json_prefixes)
    clauses = q.filter_clauses(spec, query, dialect)
    sort = q.parse_sort(dict(query).get("sort"), sorts, "display_name")
    page = q.page_request(dict(query))
    keys, total = q.numbered_keys(
        session,
        _service_base(card, actor).where(*clauses),
        q.order_by(sort, sorts, CatalogService.id),
        page,
    )
    if not keys:
        return [], q.page_meta(page, total)
    found = {
        svc.id: (svc, res)
        for svc, res in session.execute(
            select(CatalogService, ScorecardResult)
            .outerjoin(ScorecardResult, _result_of(card))
            .where(CatalogService.id.in_(keys))
        )
    }
    return [found[k] for k in keys if k in found], q.page_meta(page, total)


def list_scorecard_services(
    session: Session, *, scorecard_id: str, query: list[tuple[str, str]], actor: Actor
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The services a scorecard targets (those the actor may see), each with its score and
    level; the contract's filters and sorts (``score.value``, ``score.raw_value``)."""
    require_viewer(actor)
    card = get_scorecard(session, scorecard_id)
    fields = {
        **_SERVICE_FIELDS,
        "score.value": q.FilterField("string", ScorecardResult.score_value),
        "score.raw_value": q.FilterField("number", ScorecardResult.score_raw),
    }
    sorts = {
        "display_name": CatalogService.display_name,
        "name": CatalogService.name,
        "score.value": ScorecardResult.score_value,
        "score.raw_value": ScorecardResult.score_raw,
    }
    rows, meta = _services_page(session, card, actor, query, fields, sorts)
    data = [
        {
            **catalog.to_dict(svc),
            "score": _score(res.score_raw, res.score_value) if res is not None else None,
            "level": res.level if res is not None else None,
        }
        for svc, res in rows
    ]
    return data, meta


def level_distribution(
    session: Session, *, scorecard_id: str, actor: Actor
) -> list[dict[str, Any]]:
    """How many targeted services (those the actor may see) are at each level of a
    scorecard, lowest first; ``name`` None counts those below the first level, and those
    not evaluated yet are left out. Empty when the scorecard has no levels."""
    require_viewer(actor)
    card = get_scorecard(session, scorecard_id)
    if not card.levels:
        return []
    counts: dict[str | None, int] = {
        level: n
        for level, n in session.execute(
            select(ScorecardResult.level, func.count())
            .select_from(CatalogService)
            .join(ScorecardResult, _result_of(card))
            .where(*_targeted_visible(card, actor))
            .group_by(ScorecardResult.level)
        )
    }
    names: list[str | None] = [None, *(lv["name"] for lv in card.levels)]
    return [{"name": n, "count": counts.get(n, 0)} for n in names]


def list_scorecard_criteria(
    session: Session, *, scorecard_id: str, query: list[tuple[str, str]], actor: Actor
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A scorecard's criteria with how many targeted services pass each (filter and sort
    ``evaluation.passing_services_count``; by default in their configured order)."""
    require_viewer(actor)
    card = get_scorecard(session, scorecard_id)
    count = ScorecardCriterion.passing_services_count
    spec = q.FilterSpec(
        fields={"evaluation.passing_services_count": q.FilterField("number", count)}
    )
    clauses = q.filter_clauses(spec, query, session.get_bind().dialect.name)
    sorts = {"evaluation.passing_services_count": count, "position": ScorecardCriterion.position}
    sort = q.parse_sort(dict(query).get("sort"), {"evaluation.passing_services_count": count}, "")
    order = q.order_by(sort, sorts, ScorecardCriterion.position)
    rows, meta = _page(
        session,
        select(ScorecardCriterion).where(ScorecardCriterion.scorecard_id == card.id, *clauses),
        [*order, ScorecardCriterion.id.asc()],
        query,
    )
    data = [
        {
            **criterion_dict(c),
            "evaluation": None
            if c.passing_services_count is None
            else {"passing_services_count": c.passing_services_count},
        }
        for c in rows
    ]
    return data, meta


def list_criterion_services(
    session: Session,
    *,
    scorecard_id: str,
    criterion_id: str,
    query: list[tuple[str, str]],
    actor: Actor,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The services a scorecard targets, each with its evaluation of one criterion; filters
    and sorts ``evaluation.is_passing``, ``evaluation.attempted_at``,
    ``evaluation.successfully_evaluated_at`` (the last attempt: results are stored per pass)."""
    require_viewer(actor)
    card = get_scorecard(session, scorecard_id)
    crit = next((c for c in criteria_of(session, card) if str(c.id) == criterion_id), None)
    if crit is None:
        raise Problem(404, f"Criteria [{criterion_id}] of scorecard [{scorecard_id}] not found")
    passing = case((passing_expr(crit.id), True), else_=False)
    fields = {
        **_SERVICE_FIELDS,
        "evaluation.is_passing": q.FilterField("boolean", passing),
        "evaluation.attempted_at": q.FilterField("datetime", ScorecardResult.attempted_at),
        "evaluation.successfully_evaluated_at": q.FilterField(
            "datetime", ScorecardResult.attempted_at
        ),
    }
    sorts = {
        "display_name": CatalogService.display_name,
        "name": CatalogService.name,
        "evaluation.is_passing": passing,
        "evaluation.attempted_at": ScorecardResult.attempted_at,
        "evaluation.successfully_evaluated_at": ScorecardResult.attempted_at,
    }
    rows, meta = _services_page(session, card, actor, query, fields, sorts)
    key = str(crit.id)
    data = [
        {
            **catalog.to_dict(svc),
            "evaluation": evaluation_dict(res.results.get(key), res.attempted_at)
            if res is not None
            else None,
        }
        for svc, res in rows
    ]
    return data, meta


def _targets(session: Session, card: Scorecard, service_id: uuid.UUID) -> bool:
    return (
        session.scalar(
            select(CatalogService.id).where(
                CatalogService.id == service_id, selector_clause(card.entity_selector)
            )
        )
        is not None
    )


def list_service_scorecards(
    session: Session, *, service_ref: str, query: list[tuple[str, str]], actor: Actor
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The scorecards targeting a service (one the actor may see), each with the service's
    score under it."""
    svc = _service_for(session, actor, service_ref)
    dialect = session.get_bind().dialect.name
    clauses = q.filter_clauses(SCORECARD_FILTERS, query, dialect)
    sort = q.parse_sort(dict(query).get("sort"), SCORECARD_SORTS, "name")
    cards = [
        c
        for c in session.scalars(
            select(Scorecard)
            .where(*clauses)
            .order_by(*q.order_by(sort, SCORECARD_SORTS, Scorecard.id))
        )
        if _targets(session, c, svc.id)
    ]
    page = q.page_request(dict(query))
    start = (page.number - 1) * page.size
    shown = cards[start : start + page.size]
    results = {
        r.scorecard_id: r
        for r in session.scalars(
            select(ScorecardResult).where(
                ScorecardResult.service_id == svc.id,
                ScorecardResult.scorecard_id.in_([c.id for c in shown]),
            )
        )
    }
    data = []
    for c in shown:
        r = results.get(c.id)
        data.append(
            {
                **scorecard_dict(c),
                "score": _score(r.score_raw, r.score_value) if r is not None else None,
            }
        )
    return data, q.page_meta(page, len(cards))


def read_service_scorecard(
    session: Session, *, service_ref: str, scorecard_id: str, actor: Actor
) -> dict[str, Any]:
    """How one service fares under one scorecard: its score, each criterion's evaluation,
    its level and what the next level needs (``level``, our extension)."""
    svc = _service_for(session, actor, service_ref)
    card = get_scorecard(session, scorecard_id)
    if not _targets(session, card, svc.id):
        raise Problem(404, f"Scorecard [{scorecard_id}] does not target service [{service_ref}]")
    res = session.get(ScorecardResult, (card.id, svc.id))
    criteria = criteria_of(session, card)
    results = res.results if res is not None else {}
    passing = {k for k, v in results.items() if v.get("p")}
    level, next_level = level_of(card.levels, criteria, passing)
    return {
        **scorecard_dict(card),
        "score": _score(res.score_raw, res.score_value) if res is not None else None,
        "criteria": [
            {
                **criterion_dict(c),
                "evaluation": evaluation_dict(results.get(str(c.id)), res.attempted_at)
                if res is not None
                else None,
            }
            for c in criteria
        ],
        "level": None
        if not card.levels
        else {"name": level if res is not None else None, "next": next_level},
    }

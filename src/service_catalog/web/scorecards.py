"""The console's scorecards pages: the list of scorecards with their scores (and, for a
Scorecard Admin, a form creating one from a scorecard template with an entity selector), a
scorecard's page (its services, failing first, each criterion's passing count, the level
distribution), a criterion's page (each service's result with its explanation, failing
first), the form editing a scorecard (name, selector, each criterion's enabled flag,
parameters from its template's schema and section, removing criteria, adding one), its
deletion, and
:func:`service_section`, the Scorecards section of a service's page (score, level, what
the next level needs, failing criteria with their explanation).

Every read and change goes through ``service_catalog.scorecards.service`` with the
signed-in actor, which checks the rights (README, "Access"): Scorecard Viewer or Admin
reads scorecards, Scorecard Admin creates, edits and deletes them; a service's results are
shown to who may read the service. A refused change shows the form again with the reason
next to the input it concerns (a 400 page, never a 500).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import ImmutableMultiDict

from service_catalog.auth.deps import CtxDep
from service_catalog.auth.service import Actor
from service_catalog.catalog_services.models import CatalogService
from service_catalog.core.errors import Problem
from service_catalog.scorecards import service as scorecards
from service_catalog.scorecards.criteria import BY_NAME
from service_catalog.scorecards.schemas import ScorecardIn
from service_catalog.scorecards.templates import BY_TEMPLATE
from service_catalog.sync.worker import notify
from service_catalog.web.forms import config_from_form, param_fields, param_values, refusal
from service_catalog.web.pages import form_of, page_router
from service_catalog.web.templating import form_page, render

router = page_router()

PAGE_SIZE = 50
#: Scorecards shown on a service's page at most.
SERVICE_CARDS = 50
#: The selectors the form offers by their fields; any other of the contract is JSON.
SELECTORS = (
    ("all", "Every service"),
    ("name", "Services by name"),
    ("label", "Services by a label"),
    ("has_docs", "Services with at least one document"),
    ("ids", "These services (ids)"),
    ("json", "Another selector of the contract, as JSON"),
)
OPERATORS = (("eq", "is"), ("contains", "contains"))
#: Each selector kind's inputs (kinds not named have none). Each kind here has a block of
#: its inputs in ``templates/scorecards/_selector.html`` that ``static/console.css`` shows
#: only while the kind is chosen: a new kind with inputs needs both.
SELECTOR_INPUTS = {
    "name": ("name_operator", "name_value"),
    "label": ("label_key", "label_operator", "label_value"),
    "ids": ("ids",),
    "json": ("selector_json",),
}
JSON_EXAMPLE = '{"selector": "has_label_key", "selector_parameters": {"label_key": "team"}}'
#: What the selector's inputs (``templates/scorecards/_selector.html``) offer.
SELECTOR_CHOICES: dict[str, Any] = {
    "selectors": SELECTORS,
    "operators": OPERATORS,
    "json_example": JSON_EXAMPLE,
}


def criterion_label(c: dict[str, Any]) -> str:
    """What a criterion is called: its name, else its template's sentence with its
    parameters (``No open vulnerability at or above HIGH``)."""
    if c.get("name"):
        return str(c["name"])
    t = BY_NAME.get(str(c.get("template_name")))
    return t.render(c.get("template_parameters")) if t is not None else str(c["template_name"])


def describe_selector(selector: dict[str, Any] | None) -> str:
    """A scorecard's entity selector in words (``Services whose label team is payments``)."""
    if not selector or selector.get("selector") == "all":
        return "Every service"
    kind = str(selector.get("selector"))
    p = selector.get("selector_parameters") or {}
    op = {"eq": "is", "contains": "contains"}.get(str(p.get("operator")), p.get("operator"))
    if kind in ("name", "display_name"):
        return f"Services whose {kind.replace('_', ' ')} {op} {p.get('value')}"
    if kind == "label":
        return f"Services whose label {p.get('label_key')} {op} {p.get('value')}"
    if kind == "has_docs":
        return "Services with at least one document"
    if kind == "ids":
        return f"{len(p.get('ids') or [])} chosen service(s)"
    return json.dumps(selector)


# --- the selector's inputs -------------------------------------------------------------


def selector_values(selector: dict[str, Any] | None) -> dict[str, str]:
    """What the selector's inputs show for a stored entity selector."""
    values = {k: "" for keys in SELECTOR_INPUTS.values() for k in keys}
    values.update(selector="all", name_operator="eq", label_operator="eq")
    kind = str((selector or {}).get("selector", "all"))
    p = (selector or {}).get("selector_parameters") or {}
    if kind in ("name", "label"):
        values[f"{kind}_operator"] = str(p.get("operator", "eq"))
        values[f"{kind}_value"] = str(p.get("value", ""))
        values["label_key"] = str(p.get("label_key", ""))
    elif kind == "ids":
        values["ids"] = "\n".join(str(i) for i in p.get("ids") or [])
    elif kind not in ("all", "has_docs"):
        kind = "json"
        values["selector_json"] = json.dumps(selector, indent=2)
    values["selector"] = kind
    return values


def submitted_selector(form: ImmutableMultiDict[str, str]) -> dict[str, str]:
    """The selector's inputs as submitted."""
    keys = ["selector", *(k for keys in SELECTOR_INPUTS.values() for k in keys)]
    return {k: form.get(k, "").strip() for k in keys}


def selector_from(values: dict[str, str], errors: dict[str, str]) -> dict[str, Any] | None:
    """The ``entity_selector`` the inputs stand for (None: every service); what cannot be
    read (JSON that is none, or no object) is put in ``errors``."""
    kind = values["selector"]
    if kind == "name":
        params = {"operator": values["name_operator"], "value": values["name_value"]}
        return {"selector": "name", "selector_parameters": params}
    if kind == "label":
        params = {
            "label_key": values["label_key"],
            "operator": values["label_operator"],
            "value": values["label_value"],
        }
        return {"selector": "label", "selector_parameters": params}
    if kind == "has_docs":
        return {"selector": "has_docs"}
    if kind == "ids":
        return {"selector": "ids", "selector_parameters": {"ids": values["ids"].split()}}
    if kind == "json":
        try:
            parsed = json.loads(values["selector_json"])
        except json.JSONDecodeError as exc:
            errors["selector_json"] = (
                f"This is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            )
            return None
        if not isinstance(parsed, dict):
            errors["selector_json"] = f"Write one JSON object, e.g. {JSON_EXAMPLE}."
            return None
        return parsed
    if kind != "all":
        errors["selector"] = "Choose which services the scorecard selects."
    return None


# --- errors by input -------------------------------------------------------------------


def _api_field(loc: tuple[Any, ...]) -> str:
    """A pydantic error's location as the API names a body field (``criteria[0].name``)."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def place_errors(
    exc: ValidationError | Problem,
    inputs: set[str],
    kind: str,
    errors: dict[str, str],
    keys: list[str] | None = None,
) -> None:
    """Put a refused scorecard's reasons next to their inputs: an input's own name, else
    the selector's input (``kind`` the chosen selector), else the criterion's fieldset
    (``criteria[2]``), else the form's head (naming the field). ``keys``: the form key of
    each criterion of the body, in order, when criteria were left out of it."""
    if isinstance(exc, ValidationError):
        problems = [
            {"field": _api_field(tuple(e["loc"])), "reason": str(e["msg"])} for e in exc.errors()
        ]
    else:
        problems = refusal(exc)
    for p in problems:
        field, reason = str(p.get("field", "")), str(p.get("reason", "is invalid"))
        at = re.match(r"criteria\[(\d+)\]", field)
        if at and keys is not None and int(at.group(1)) < len(keys):
            field = keys[int(at.group(1))] + field[at.end() :]
        if field in inputs:
            errors.setdefault(field, reason)
        elif field.startswith("entity_selector"):
            last = field.rsplit(".", 1)[-1]
            own = SELECTOR_INPUTS.get(kind, ("selector",))
            key = next((k for k in own if k.endswith(last)), own[-1])
            errors.setdefault(key, f"{last}: {reason}" if last != "entity_selector" else reason)
        elif m := re.match(r"criteria\[\d+\]", field):
            errors.setdefault(m.group(0), f"{field[m.end() + 1 :] or 'criterion'}: {reason}")
        else:
            errors.setdefault("form", f"{field}: {reason}" if field != "form" else reason)


# --- the list and the new scorecard ---------------------------------------------------


def _templates(ctx: Any) -> list[dict[str, Any]]:
    rows, _ = scorecards.list_scorecard_templates(ctx.session, [("page[size]", "100")], ctx.actor)
    return rows


def _criteria_choices(ctx: Any) -> list[tuple[str, str]]:
    """The criteria templates a criterion may be added from, as (name, label) choices."""
    query = [("page[size]", "100"), ("sort", "display_name")]
    rows, _ = scorecards.list_criteria_templates(ctx.session, query, ctx.actor)
    return [("", "Choose a criteria template")] + [
        (t["name"], t["display_name"] + ("" if t["installed"] else " (not evaluable here)"))
        for t in rows
    ]


def _params(request: Request) -> dict[str, str]:
    return {k: v.strip() for k, v in request.query_params.items()}


def _number(params: dict[str, str]) -> int:
    page = params.get("page", "1")
    return int(page) if page.isdigit() and int(page) > 0 else 1


def page_query(params: dict[str, str], sort: str) -> list[tuple[str, str]]:
    """A listing's query: sorted by ``sort``, the page the page's ``page`` parameter names."""
    number = str(_number(params))
    return [("sort", sort), ("page[size]", str(PAGE_SIZE)), ("page[number]", number)]


def paging(params: dict[str, str], meta: dict[str, Any]) -> dict[str, Any]:
    """What a page's pager shows (``m.pager``): ``total``, ``number``, ``pages``, ``params``."""
    total = int(meta["page"]["total"])
    pages = max(1, -(-total // PAGE_SIZE))
    return {"total": total, "number": _number(params), "pages": pages, "params": params}


def _list_page(
    request: Request,
    ctx: Any,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    params = _params(request)
    rows, meta = scorecards.list_scorecards(ctx.session, page_query(params, "name"), ctx.actor)
    return render(
        request,
        "scorecards/list.html",
        status=status,
        actor=ctx.actor,
        section="scorecards",
        scorecards=rows,
        templates=_templates(ctx),
        **paging(params, meta),
        values=values or {"template": "", "name": "", **selector_values(None)},
        errors=errors or {},
        **SELECTOR_CHOICES,
    )


@router.get("/scorecards")
def scorecards_list(request: Request, ctx: CtxDep) -> Response:
    """Every scorecard with its score; the create form for a Scorecard Admin."""
    return _list_page(request, ctx)


def body_from_template(
    template_name: str, name: str, selector: dict[str, Any] | None = None
) -> ScorecardIn:
    """The body of a new scorecard named ``name`` with a scorecard template's criteria,
    default parameters and sections, selecting what ``selector`` says (every service
    when None), as ``POST /v1/scorecards`` would receive it."""
    t = BY_TEMPLATE[template_name]
    return ScorecardIn.model_validate(
        {
            "name": name,
            "description": t.get("description"),
            "scorecard_template": template_name,
            "entity_selector": selector,
            "criteria": [
                {
                    "enabled": True,
                    "template_name": c["template_name"],
                    "template_parameters": c["template_parameters"],
                    "section_name": c["section_name"],
                }
                for c in t["criteria"]
            ],
        }
    )


@router.post("/scorecards")
def create_scorecard(request: Request, ctx: CtxDep) -> Response:
    """Create a scorecard from a template (Scorecard Admin); the worker evaluates it at
    once. The list again with the form's errors when invalid."""
    form = form_of(request)
    values = {
        "template": form.get("template", "").strip(),
        "name": form.get("name", "").strip(),
        **submitted_selector(form),
    }
    errors: dict[str, str] = {}
    if values["template"] not in BY_TEMPLATE:
        errors["template"] = "Pick a scorecard template."
    if not values["name"]:
        errors["name"] = "Give the scorecard a name."
    selector = selector_from(values, errors)
    if not errors:
        try:
            data = body_from_template(values["template"], values["name"], selector)
            with ctx.session.begin_nested():
                card = scorecards.create_scorecard(ctx.session, data=data, actor=ctx.actor)
            ctx.after_commit(notify)
            return RedirectResponse(f"/scorecards/{card['id']}?created=1", status_code=303)
        except (ValidationError, Problem) as exc:
            place_errors(exc, {"name"}, values["selector"], errors)
    return _list_page(request, ctx, values=values, errors=errors, status=400)


# --- a scorecard's page and a criterion's ----------------------------------------------


@router.get("/scorecards/{scorecard_id}")
def scorecard_page(scorecard_id: str, request: Request, ctx: CtxDep) -> Response:
    """A scorecard: its services (lowest score first), each criterion with how many
    services pass it, and how many services are at each level."""
    card = scorecards.read_scorecard(ctx.session, scorecard_id=scorecard_id, actor=ctx.actor)
    params = _params(request)
    rows, meta = scorecards.list_scorecard_services(
        ctx.session,
        scorecard_id=card["id"],
        query=page_query(params, "score.raw_value,display_name"),
        actor=ctx.actor,
    )
    criteria, _ = scorecards.list_scorecard_criteria(
        ctx.session, scorecard_id=card["id"], query=[("page[size]", "100")], actor=ctx.actor
    )
    return render(
        request,
        "scorecards/show.html",
        actor=ctx.actor,
        section="scorecards",
        card=card,
        selects=describe_selector(card["entity_selector"]),
        services=rows,
        criteria=[{**c, "label": criterion_label(c)} for c in criteria],
        levels=scorecards.level_distribution(ctx.session, scorecard_id=card["id"], actor=ctx.actor),
        **paging(params, meta),
    )


@router.get("/scorecards/{scorecard_id}/criteria/{criterion_id}")
def criterion_page(scorecard_id: str, criterion_id: str, request: Request, ctx: CtxDep) -> Response:
    """One criterion of a scorecard: each targeted service's result with its explanation
    (or why it could not be judged), failing services first."""
    card = scorecards.read_scorecard(ctx.session, scorecard_id=scorecard_id, actor=ctx.actor)
    params = _params(request)
    rows, meta = scorecards.list_criterion_services(
        ctx.session,
        scorecard_id=card["id"],
        criterion_id=criterion_id,
        query=page_query(params, "evaluation.is_passing,display_name"),
        actor=ctx.actor,
    )
    # list_criterion_services found it (else a 404 page): the same id of the same card
    crit = next(c for c in card["criteria"] if c["id"] == criterion_id)
    return render(
        request,
        "scorecards/criterion.html",
        actor=ctx.actor,
        section="scorecards",
        card=card,
        criterion={**crit, "label": criterion_label(crit)},
        services=rows,
        **paging(params, meta),
    )


# --- edit and delete -----------------------------------------------------------------


def criteria_inputs(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Each criterion of ``card`` with its inputs' names: ``criteria[i].enabled``,
    ``criteria[i].section_name`` and its parameters' fields (``param_fields``) under
    ``criteria[i].template_parameters``."""
    out = []
    for i, c in enumerate(card["criteria"]):
        key = f"criteria[{i}]"
        t = BY_NAME.get(c["template_name"])
        out.append(
            {
                **c,
                "key": key,
                "label": criterion_label(c),
                "template": t.display_name if t is not None else c["template_name"],
                "fields": param_fields(t.schema() if t else None, f"{key}.template_parameters"),
            }
        )
    return out


def stored_values(card: dict[str, Any], criteria: list[dict[str, Any]]) -> dict[str, str]:
    """What the edit form shows for a stored scorecard."""
    values = {
        "name": card["name"],
        "description": card["description"] or "",
        **selector_values(card["entity_selector"]),
    }
    for c in criteria:
        values[f"{c['key']}.enabled"] = "true" if c["enabled"] else ""
        values[f"{c['key']}.section_name"] = c["section_name"] or ""
        values.update(param_values(c["fields"], c["template_parameters"]))
    return values


def _edit_page(
    request: Request,
    ctx: Any,
    card: dict[str, Any],
    criteria: list[dict[str, Any]],
    *,
    values: dict[str, str],
    errors: dict[str, str],
) -> Response:
    return form_page(
        request,
        "scorecards/edit.html",
        actor=ctx.actor,
        section="scorecards",
        values=values,
        errors=errors,
        card=card,
        criteria=criteria,
        choices=_criteria_choices(ctx),
        params=_params(request),
        **SELECTOR_CHOICES,
    )


def _admin_card(ctx: Any, scorecard_id: str) -> dict[str, Any]:
    """The scorecard a form changes: 403 unless the actor is a Scorecard Admin."""
    scorecards.require_admin(ctx.actor)
    return scorecards.read_scorecard(ctx.session, scorecard_id=scorecard_id, actor=ctx.actor)


@router.get("/scorecards/{scorecard_id}/edit")
def edit_scorecard(scorecard_id: str, request: Request, ctx: CtxDep) -> Response:
    """The form of a scorecard's changes (Scorecard Admin)."""
    card = _admin_card(ctx, scorecard_id)
    criteria = criteria_inputs(card)
    values = stored_values(card, criteria)
    return _edit_page(request, ctx, card, criteria, values=values, errors={})


def edited_body(
    card: dict[str, Any],
    criteria: list[dict[str, Any]],
    form: ImmutableMultiDict[str, str],
    selector: dict[str, Any] | None,
) -> dict[str, Any]:
    """The ``PUT /v1/scorecards/{id}`` body of a submitted edit form: the stored criteria
    (by id, in order) with the form's enabled flags, parameters and sections, those marked
    for removal left out; the stored template and levels kept."""
    return {
        "name": form.get("name", "").strip(),
        "description": form.get("description", "").strip() or None,
        "entity_selector": selector,
        "scorecard_template": card["scorecard_template"],
        "levels": card["levels"],
        "criteria": [
            {
                "id": c["id"],
                "name": c["name"],
                "enabled": form.get(f"{c['key']}.enabled") == "true",
                "template_name": c["template_name"],
                "template_parameters": config_from_form(c["fields"], form) or None,
                "section_name": form.get(f"{c['key']}.section_name", "").strip() or None,
            }
            for c in criteria
            if form.get(f"{c['key']}.remove") != "true"
        ],
    }


def stored_body(card: dict[str, Any]) -> dict[str, Any]:
    """The ``PUT /v1/scorecards/{id}`` body that leaves ``card`` as it is."""
    keep = ("id", "name", "enabled", "template_name", "template_parameters", "section_name")
    return {
        "name": card["name"],
        "description": card["description"],
        "entity_selector": card["entity_selector"],
        "scorecard_template": card["scorecard_template"],
        "levels": card["levels"],
        "criteria": [{k: c[k] for k in keep} for c in card["criteria"]],
    }


def starting_parameters(template_name: str) -> dict[str, Any] | None:
    """Parameters a criterion added in the console starts with (disabled, to be set before
    it is enabled): a scorecard template's defaults for it, else the least its schema
    accepts (an enum's first choice, a number's minimum)."""
    for t in BY_TEMPLATE.values():
        for c in t["criteria"]:
            if c["template_name"] == template_name:
                return dict(c["template_parameters"]) or None
    schema = BY_NAME[template_name].schema()
    if schema is None:
        return None
    definition = schema["definition"]
    out: dict[str, Any] = {}
    for name in definition["required"]:
        spec = definition["properties"][name]
        choices = spec.get("enum") or (spec.get("items") or {}).get("enum")
        if spec.get("type") == "array" and choices:
            out[name] = [choices[0]]
        elif choices:
            out[name] = choices[0]
        elif spec.get("type") in ("integer", "number"):
            out[name] = spec.get("minimum", 0)
    return out or None


@router.post("/scorecards/{scorecard_id}/edit")
def update_scorecard(scorecard_id: str, request: Request, ctx: CtxDep) -> Response:
    """Save the form's changes (the same ``update_scorecard`` as ``PUT``); the worker
    evaluates the scorecard again at once. The form again with its errors when refused."""
    card = _admin_card(ctx, scorecard_id)
    criteria = criteria_inputs(card)
    form = form_of(request)
    values = {k: v for k, v in form.items() if k != "csrf_token"}
    values.update(submitted_selector(form))
    errors: dict[str, str] = {}
    selector = selector_from(values, errors)
    if not errors:
        try:
            data = ScorecardIn.model_validate(edited_body(card, criteria, form, selector))
            with ctx.session.begin_nested():
                scorecards.update_scorecard(
                    ctx.session, scorecard_id=card["id"], data=data, actor=ctx.actor
                )
            ctx.after_commit(notify)
            return RedirectResponse(f"/scorecards/{card['id']}?updated=1", status_code=303)
        except (ValidationError, Problem) as exc:
            inputs = {"name", "description"} | {f"{c['key']}.section_name" for c in criteria}
            inputs |= {f["name"] for c in criteria for f in c["fields"]}
            keys = [c["key"] for c in criteria if form.get(f"{c['key']}.remove") != "true"]
            place_errors(exc, inputs, values["selector"], errors, keys)
    return _edit_page(request, ctx, card, criteria, values=values, errors=errors)


@router.post("/scorecards/{scorecard_id}/criteria")
def add_criterion(scorecard_id: str, request: Request, ctx: CtxDep) -> Response:
    """Add a criterion of the chosen criteria template to the scorecard, disabled and with
    starting parameters (:func:`starting_parameters`), then edit it in the form."""
    card = _admin_card(ctx, scorecard_id)
    form = form_of(request)
    name = form.get("template_name", "")
    section = form.get("section_name", "").strip()
    errors: dict[str, str] = {}
    if name not in BY_NAME:
        errors["template_name"] = "Choose a criteria template."
    else:
        body = stored_body(card)
        added = {
            "enabled": False,
            "template_name": name,
            "template_parameters": starting_parameters(name),
            "section_name": section or None,
        }
        body["criteria"].append(added)
        try:
            data = ScorecardIn.model_validate(body)
            with ctx.session.begin_nested():
                scorecards.update_scorecard(
                    ctx.session, scorecard_id=card["id"], data=data, actor=ctx.actor
                )
        except (ValidationError, Problem) as exc:
            reasons = (f"{p.get('field')}: {p.get('reason')}" for p in refusal(exc))
            errors["template_name"] = "; ".join(reasons)
    if errors:
        criteria = criteria_inputs(card)
        values = {**stored_values(card, criteria), "template_name": name, "section_name": section}
        return _edit_page(request, ctx, card, criteria, values=values, errors=errors)
    ctx.after_commit(notify)
    last = len(body["criteria"])
    return RedirectResponse(
        f"/scorecards/{card['id']}/edit?added={last}#criterion-{last}", status_code=303
    )


@router.get("/scorecards/{scorecard_id}/delete")
def confirm_delete(scorecard_id: str, request: Request, ctx: CtxDep) -> Response:
    """Ask before deleting a scorecard (Scorecard Admin)."""
    card = _admin_card(ctx, scorecard_id)
    return render(
        request, "scorecards/delete.html", actor=ctx.actor, section="scorecards", card=card
    )


@router.post("/scorecards/{scorecard_id}/delete")
def delete_scorecard(scorecard_id: str, request: Request, ctx: CtxDep) -> Response:
    """Delete the scorecard with its results."""
    card = _admin_card(ctx, scorecard_id)
    scorecards.delete_scorecard(ctx.session, scorecard_id=card["id"], actor=ctx.actor)
    return RedirectResponse(f"/scorecards?deleted={quote(card['name'])}", status_code=303)


def service_section(session: Session, svc: CatalogService, actor: Actor) -> dict[str, Any]:
    """The Scorecards section of a service's page: ``{cards, note}``; each card the
    service's score and level under a scorecard targeting it, what the next level needs,
    and its failing criteria with their explanation (or evaluation error)."""
    try:
        rows, _ = scorecards.list_service_scorecards(
            session,
            service_ref=str(svc.id),
            query=[("page[size]", str(SERVICE_CARDS))],
            actor=actor,
        )
        cards = []
        for row in rows:
            one = scorecards.read_service_scorecard(
                session, service_ref=str(svc.id), scorecard_id=row["id"], actor=actor
            )
            criteria = [{**c, "label": criterion_label(c)} for c in one["criteria"] if c["enabled"]]
            evaluated = [c for c in criteria if c["evaluation"] is not None]
            cards.append(
                {
                    **one,
                    "evaluated": bool(evaluated),
                    "failing": [c for c in evaluated if not c["evaluation"]["is_passing"]],
                    "passing": sum(1 for c in evaluated if c["evaluation"]["is_passing"]),
                    "enabled": len(criteria),
                }
            )
    except Problem as exc:
        return {"cards": [], "note": exc.detail}
    return {"cards": cards, "note": ""}

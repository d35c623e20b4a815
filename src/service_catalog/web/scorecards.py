"""The console's scorecards pages: the list of scorecards with their scores (and, for a
Scorecard Admin, a form creating one from a scorecard template), a scorecard's page (its
services, failing first, each criterion's passing count, the level distribution), and
:func:`service_section`, the Scorecards section of a service's page (score, level, what the
next level needs, failing criteria with their explanation).

Every read and change goes through ``service_catalog.scorecards.service`` with the
signed-in actor, which checks the rights (README, "Access"): Scorecard Viewer or Admin
reads scorecards, Scorecard Admin creates them; a service's results are shown to who may
read the service.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from service_catalog.auth.deps import CtxDep
from service_catalog.auth.service import Actor
from service_catalog.catalog_services.models import CatalogService
from service_catalog.core.errors import Problem
from service_catalog.scorecards import service as scorecards
from service_catalog.scorecards.criteria import BY_NAME
from service_catalog.scorecards.schemas import ScorecardIn
from service_catalog.scorecards.templates import BY_TEMPLATE
from service_catalog.sync.worker import notify
from service_catalog.web.pages import form_of, page_router
from service_catalog.web.templating import render

router = page_router()

PAGE_SIZE = 50
#: Scorecards shown on a service's page at most.
SERVICE_CARDS = 50


def criterion_label(c: dict[str, Any]) -> str:
    """What a criterion is called: its name, else its template's sentence with its
    parameters (``No open vulnerability at or above HIGH``)."""
    if c.get("name"):
        return str(c["name"])
    t = BY_NAME.get(str(c.get("template_name")))
    return t.render(c.get("template_parameters")) if t is not None else str(c["template_name"])


def _templates(ctx: Any) -> list[dict[str, Any]]:
    rows, _ = scorecards.list_scorecard_templates(ctx.session, [("page[size]", "100")], ctx.actor)
    return rows


def _list_page(
    request: Request,
    ctx: Any,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    params = {k: v.strip() for k, v in request.query_params.items()}
    page = params.get("page", "1")
    number = int(page) if page.isdigit() and int(page) > 0 else 1
    query = [("sort", "name"), ("page[size]", str(PAGE_SIZE)), ("page[number]", str(number))]
    rows, meta = scorecards.list_scorecards(ctx.session, query, ctx.actor)
    total = int(meta["page"]["total"])
    return render(
        request,
        "scorecards/list.html",
        status=status,
        actor=ctx.actor,
        section="scorecards",
        scorecards=rows,
        templates=_templates(ctx),
        total=total,
        number=number,
        pages=max(1, -(-total // PAGE_SIZE)),
        params=params,
        values=values or {"template": "", "name": ""},
        errors=errors or {},
    )


@router.get("/scorecards")
def scorecards_list(request: Request, ctx: CtxDep) -> Response:
    """Every scorecard with its score; the create form for a Scorecard Admin."""
    return _list_page(request, ctx)


def body_from_template(template_name: str, name: str) -> ScorecardIn:
    """The body of a new scorecard named ``name`` with a scorecard template's criteria,
    default parameters and sections (every service selected), as ``POST /v1/scorecards``
    would receive it."""
    t = BY_TEMPLATE[template_name]
    return ScorecardIn.model_validate(
        {
            "name": name,
            "description": t.get("description"),
            "scorecard_template": template_name,
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
    values = {"template": form.get("template", "").strip(), "name": form.get("name", "").strip()}
    errors: dict[str, str] = {}
    if values["template"] not in BY_TEMPLATE:
        errors["template"] = "Pick a scorecard template."
    if not values["name"]:
        errors["name"] = "Give the scorecard a name."
    if not errors:
        try:
            data = body_from_template(values["template"], values["name"])
            with ctx.session.begin_nested():
                card = scorecards.create_scorecard(ctx.session, data=data, actor=ctx.actor)
            ctx.after_commit(notify)
            return RedirectResponse(f"/scorecards/{card['id']}?created=1", status_code=303)
        except ValidationError as exc:
            errors["name"] = "; ".join(str(e["msg"]) for e in exc.errors())
        except Problem as exc:
            if exc.status != 400:
                raise
            errors["form"] = "; ".join(
                str(p.get("reason")) for p in exc.invalid_parameters or []
            ) or str(exc.detail)
    return _list_page(request, ctx, values=values, errors=errors, status=400)


@router.get("/scorecards/{scorecard_id}")
def scorecard_page(scorecard_id: str, request: Request, ctx: CtxDep) -> Response:
    """A scorecard: its services (lowest score first), each criterion with how many
    services pass it, and how many services are at each level."""
    card = scorecards.read_scorecard(ctx.session, scorecard_id=scorecard_id, actor=ctx.actor)
    params = {k: v.strip() for k, v in request.query_params.items()}
    page = params.get("page", "1")
    number = int(page) if page.isdigit() and int(page) > 0 else 1
    rows, meta = scorecards.list_scorecard_services(
        ctx.session,
        scorecard_id=card["id"],
        query=[
            ("sort", "score.raw_value,display_name"),
            ("page[size]", str(PAGE_SIZE)),
            ("page[number]", str(number)),
        ],
        actor=ctx.actor,
    )
    total = int(meta["page"]["total"])
    criteria, _ = scorecards.list_scorecard_criteria(
        ctx.session, scorecard_id=card["id"], query=[("page[size]", "100")], actor=ctx.actor
    )
    return render(
        request,
        "scorecards/show.html",
        actor=ctx.actor,
        section="scorecards",
        card=card,
        services=rows,
        criteria=[{**c, "label": criterion_label(c)} for c in criteria],
        levels=scorecards.level_distribution(ctx.session, scorecard_id=card["id"], actor=ctx.actor),
        total=total,
        number=number,
        pages=max(1, -(-total // PAGE_SIZE)),
        params=params,
    )


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

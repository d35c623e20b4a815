"""HTTP routes of scorecards: ``/v1/criteria-templates``, ``/v1/scorecard-templates``,
``/v1/scorecards`` and ``/v1/catalog-services/{id}/scorecards``."""

from __future__ import annotations

from fastapi import Response
from fastapi.responses import JSONResponse

from service_catalog.auth.deps import CtxDep, page_endpoint
from service_catalog.core.responses import json_response, no_content, page
from service_catalog.core.routes import Router
from service_catalog.scorecards import service
from service_catalog.scorecards.schemas import (
    CriteriaPage,
    CriteriaTemplatePage,
    CriterionServicePage,
    ScorecardIn,
    ScorecardList,
    ScorecardServicePage,
    ScorecardTemplatePage,
    ScorecardWithCriteria,
    ServiceScorecard,
)
from service_catalog.sync.worker import notify

templates = Router(prefix="/v1", tags=["Criteria Templates"])
router = Router(prefix="/v1/scorecards", tags=["Scorecards"])
service_scorecards = Router(prefix="/v1/catalog-services", tags=["Scorecards"])


@templates.op(
    "GET /criteria-templates",
    "list-criteria-templates",
    "List Criteria Templates",
    CriteriaTemplatePage,
)
def list_criteria_templates(ctx: CtxDep) -> JSONResponse:
    """Every criteria template, ``installed`` when it can be evaluated here."""
    data, meta = service.list_criteria_templates(ctx.session, ctx.query, ctx.actor)
    return page(data, meta)


@templates.op(
    "GET /scorecard-templates",
    "list-scorecard-templates",
    "List Scorecard Templates",
    ScorecardTemplatePage,
    tags=["Scorecards"],
)
def list_scorecard_templates(ctx: CtxDep) -> JSONResponse:
    """Konnect's four scorecard templates."""
    data, meta = service.list_scorecard_templates(ctx.session, ctx.query, ctx.actor)
    return page(data, meta)


@router.op("POST ", "create-scorecard", "Create Scorecard", ScorecardWithCriteria)
def create(body: ScorecardIn, ctx: CtxDep) -> JSONResponse:
    """Create a scorecard; the worker evaluates it at once."""
    card = service.create_scorecard(ctx.session, data=body, actor=ctx.actor)
    ctx.after_commit(notify)
    return json_response(card, 201)


@router.op("GET ", "list-scorecards", "List Scorecards", ScorecardList)
def list_(ctx: CtxDep) -> JSONResponse:
    """A page of scorecards."""
    data, meta = service.list_scorecards(ctx.session, ctx.query, ctx.actor)
    return page(data, meta)


@router.op("GET /{id}", "fetch-scorecard", "Get a Scorecard", ScorecardWithCriteria)
def get(id: str, ctx: CtxDep) -> JSONResponse:
    """One scorecard with its criteria."""
    return json_response(service.read_scorecard(ctx.session, scorecard_id=id, actor=ctx.actor))


@router.op("PUT /{id}", "update-scorecard", "Update Scorecard", ScorecardWithCriteria)
def update(id: str, body: ScorecardIn, ctx: CtxDep) -> JSONResponse:
    """Replace a scorecard; the worker evaluates it again at once."""
    card = service.update_scorecard(ctx.session, scorecard_id=id, data=body, actor=ctx.actor)
    ctx.after_commit(notify)
    return json_response(card)


@router.op("DELETE /{id}", "delete-scorecard", "Delete Scorecard")
def delete(id: str, ctx: CtxDep) -> Response:
    """Delete a scorecard with its results."""
    service.delete_scorecard(ctx.session, scorecard_id=id, actor=ctx.actor)
    return no_content()


list_services = router.op(
    "GET /{id}/catalog-services",
    "list-scorecard-services",
    "List Scorecard Services",
    ScorecardServicePage,
)(
    page_endpoint(
        service.list_scorecard_services,
        "The services a scorecard targets, with their scores.",
        id="scorecard_id",
    )
)


list_criteria = router.op(
    "GET /{id}/criteria", "list-scorecard-criteria", "List Scorecard Criteria", CriteriaPage
)(
    page_endpoint(
        service.list_scorecard_criteria,
        "A scorecard's criteria with their passing service counts.",
        id="scorecard_id",
    )
)


list_criterion_services = router.op(
    "GET /{scorecardId}/criteria/{criteriaId}/catalog-services",
    "list-scorecard-criteria-services",
    "List Scorecard Criteria Services",
    CriterionServicePage,
)(
    page_endpoint(
        service.list_criterion_services,
        "The targeted services with their evaluation of one criterion.",
        scorecardId="scorecard_id",
        criteriaId="criterion_id",
    )
)


list_service_scorecards = service_scorecards.op(
    "GET /{id}/scorecards",
    "list-catalog-service-scorecards",
    "List Catalog Service Scorecards",
    ScorecardList,
)(
    page_endpoint(
        service.list_service_scorecards,
        "The scorecards targeting a service, with its score under each.",
        id="service_ref",
    )
)


@service_scorecards.op(
    "GET /{serviceId}/scorecards/{scorecardId}",
    "fetch-catalog-service-scorecard",
    "Get a Catalog Service Scorecard",
    ServiceScorecard,
)
def get_service_scorecard(serviceId: str, scorecardId: str, ctx: CtxDep) -> JSONResponse:
    """One service under one scorecard: each criterion's evaluation, its level."""
    return json_response(
        service.read_service_scorecard(
            ctx.session, service_ref=serviceId, scorecard_id=scorecardId, actor=ctx.actor
        )
    )

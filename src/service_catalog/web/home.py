"""The console's Home: the dashboard a team lead opens each morning (counts, integrations
needing attention with what to do, the latest integration events, and the services with
the most open Traceable vulnerabilities or exposed sensitive endpoints)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from sqlalchemy.orm import Session

from service_catalog.auth.access import SERVICE_ADMIN, SERVICE_VIEWER
from service_catalog.auth.deps import CtxDep
from service_catalog.auth.guard import INTEGRATION_READERS
from service_catalog.auth.service import Actor
from service_catalog.catalog_services import service as catalog
from service_catalog.events import service as events
from service_catalog.integrations import service as integrations
from service_catalog.resources import service as resources
from service_catalog.sync.service import instance_health
from service_catalog.web.pages import page_router
from service_catalog.web.templating import render

router = page_router()

TRACEABLE_SERVICE = "traceable_service"
#: The dashboard's Traceable lists: (heading, indexed integration_data path).
TRACEABLE_TOPS = (
    ("Most open vulnerabilities", "vulnerabilities.open"),
    ("Most exposed sensitive endpoints", "endpoints.exposed_sensitive_total"),
)


def _facet_total(session: Session, query: list[tuple[str, str]], actor: Actor) -> int:
    data, _ = resources.resource_facets(session, [("field", "archived"), *query], actor)
    return sum(int(d["count"]) for d in data)


def reads_integrations(actor: Actor) -> bool:
    """Whether ``actor`` may read integration instances (else the dashboard leaves them
    out rather than failing)."""
    return any(actor.rights.has(role) for role in INTEGRATION_READERS)


def counts(session: Session, actor: Actor) -> dict[str, int | None]:
    """How many services, resources (unarchived), unmapped resources and instances the
    actor sees (instances: None when it may not read integrations)."""
    _, meta = catalog.list_services(session, [("page[size]", "1")], actor)
    instances: int | None = None
    if reads_integrations(actor):
        _, inst_meta = integrations.list_instances(
            session, query=[("page[size]", "1")], rights=actor.rights
        )
        instances = int(inst_meta["page"]["total"])
    return {
        "services": int(meta["page"]["total"]),
        "resources": _facet_total(session, [("filter[archived]", "false")], actor),
        "unmapped": _facet_total(
            session, [("filter[archived]", "false"), ("filter[service_associations]", "0")], actor
        ),
        "instances": instances,
    }


def instances_health(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """Every integration instance (the first 100) with its health; none for an actor who
    may not read integrations."""
    if not reads_integrations(actor):
        return []
    rows, _ = integrations.list_instances(
        session, query=[("page[size]", "100")], rights=actor.rights
    )
    return [
        {"instance": integrations.to_dict(inst), **instance_health(session, inst)} for inst in rows
    ]


def traceable_tops(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """The services with the largest Traceable figures, per figure of :data:`TRACEABLE_TOPS`:
    each service's sum over the Traceable services mapped to it."""
    readable = actor.rights.service_ids(SERVICE_ADMIN, SERVICE_VIEWER)
    out = []
    for heading, path in TRACEABLE_TOPS:
        top = resources.top_mapped_by_data(
            session, type=TRACEABLE_SERVICE, path=path, limit=20, service_ids=readable
        )
        by_service: dict[str, dict[str, Any]] = {}
        for item in top:
            for sid, name, display in item["services"]:
                entry = by_service.setdefault(
                    sid, {"id": sid, "name": name, "display_name": display, "value": 0}
                )
                entry["value"] += int(item["value"] or 0)
        ranked = sorted(by_service.values(), key=lambda e: (-e["value"], e["name"]))[:5]
        out.append({"heading": heading, "path": path, "services": ranked})
    return out


@router.get("/")
def home(request: Request, ctx: CtxDep) -> Response:
    """The dashboard."""
    session = ctx.session
    health = instances_health(session, ctx.actor)
    latest, _ = events.list_events(
        session, query=[("page[size]", "8")], path="/v1/integration-events", actor=ctx.actor
    )
    return render(
        request,
        "home.html",
        actor=ctx.actor,
        section="home",
        counts=counts(session, ctx.actor),
        health=health,
        healthy=sum(1 for h in health if not h["attention"]),
        attention=[h for h in health if h["attention"]],
        events=[events.to_dict(e) for e in latest],
        tops=traceable_tops(session, ctx.actor),
    )

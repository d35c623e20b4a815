"""The Traceable panel of a service page: for each Traceable Service resource mapped to the
service, the Traceable service's name linked to Traceable, its instance's connection
status (verified and when, or why not and what to do), the last sync, endpoint counts, the
endpoints grouped by risk, exposure, authentication, sensitive data type and discovery state
(each group expandable to its endpoints), open vulnerabilities by severity, a bar chart of
endpoints by risk (server-rendered SVG), and every endpoint paged live from Traceable
(``children_page``, the service function of ``GET /v1/resources/{id}/children/endpoints``).

Built from the resource's ``integration_data`` (the shape in
``integrations/connectors/traceable/data.py``): a group's endpoints are those of the
resource's listed ones (the riskiest, ``endpoints.listed`` of ``endpoints.total``) that fall
in it; the live listing pages through all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Request, Response
from sqlalchemy.orm import Session

from service_catalog.auth.access import ALL
from service_catalog.auth.deps import CtxDep
from service_catalog.catalog_services import service as catalog
from service_catalog.core.errors import Problem
from service_catalog.integrations import service as integrations
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.resources import service as resources
from service_catalog.resources.children import children_page
from service_catalog.sync import service as sync
from service_catalog.web.pages import page_router
from service_catalog.web.templating import render

router = page_router()

TRACEABLE_SERVICE = "traceable_service"
RISK_ORDER = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
LIVE_PAGE_SIZE = 25
#: The groups of endpoints, in the order shown: (key in ``endpoints.groups``, heading).
GROUPS = (
    ("risk", "Risk"),
    ("exposure", "Exposure"),
    ("authentication", "Authentication"),
    ("sensitive_data", "Sensitive data"),
    ("discovery_state", "Discovery state"),
)


def _flag(attr: str, yes: str, no: str) -> Callable[[dict[str, Any], str], bool]:
    def match(item: dict[str, Any], key: str) -> bool:
        value = item.get(attr)
        if key == "unknown":
            return value is None
        return value is (key == yes) if key in (yes, no) else False

    return match


def _equals(attr: str) -> Callable[[dict[str, Any], str], bool]:
    def match(item: dict[str, Any], key: str) -> bool:
        value = item.get(attr)
        return value is None if key == "unknown" else value == key

    return match


def _sensitive(item: dict[str, Any], key: str) -> bool:
    return key in (item.get("sensitive_data_types") or [])


#: Whether a listed endpoint belongs to a group's value.
MATCHERS: dict[str, Callable[[dict[str, Any], str], bool]] = {
    "risk": _equals("risk"),
    "exposure": _flag("external", "external", "internal"),
    "authentication": _flag("authenticated", "authenticated", "unauthenticated"),
    "sensitive_data": _sensitive,
    "discovery_state": _equals("discovery_state"),
}


def _ranked(counts: Mapping[str, Any]) -> list[tuple[str, int]]:
    """A group's values, risk and severity order first, then by count."""
    order = {k: i for i, k in enumerate(RISK_ORDER)}
    return sorted(
        ((str(k), int(v or 0)) for k, v in counts.items()),
        key=lambda kv: (order.get(kv[0], len(order)), -kv[1], kv[0]),
    )


def risk_chart(risk: Mapping[str, Any]) -> dict[str, Any]:
    """The bars of the endpoints-by-risk chart: each ``{label, count, y, width}`` on a
    ``width`` x ``height`` canvas (the template draws the SVG)."""
    bars = _ranked(risk)
    top = max((c for _, c in bars), default=0) or 1
    label_w, bar_max, row = 90, 220, 26
    return {
        "width": label_w + bar_max + 60,
        "height": row * len(bars) + 4,
        "label_width": label_w,
        "bars": [
            {
                "label": label,
                "count": count,
                "y": i * row + 2,
                "width": max(2, round(bar_max * count / top)) if count else 0,
                "key": label.lower(),
            }
            for i, (label, count) in enumerate(bars)
        ],
        "summary": ", ".join(f"{c} {label.lower()}" for label, c in bars) or "no endpoints",
    }


def _groups(endpoints: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = [i for i in endpoints.get("items") or [] if isinstance(i, dict)]
    groups = endpoints.get("groups") or {}
    out = []
    for key, heading in GROUPS:
        match = MATCHERS[key]
        values = [
            {"value": value, "count": count, "endpoints": [i for i in items if match(i, value)]}
            for value, count in _ranked(groups.get(key) or {})
        ]
        out.append({"key": key, "heading": heading, "values": values})
    return out


def _connection(session: Session, inst: IntegrationInstance) -> dict[str, Any]:
    """The instance's connection as the panel says it: ``verified`` with ``when``, or
    ``reason`` and ``remediation``."""
    health = sync.instance_health(session, inst)
    cred: dict[str, Any] | None = None
    try:
        # The panel shows whether the connection is verified (never the credential) to
        # whoever may read the service it sits on, as the seed's service page does; only
        # integration readers see the credential itself (its API route and pages).
        row, _ = integrations.get_credential(session, instance_id=str(inst.id), rights=ALL)
        cred = integrations.credential_to_dict(row, inst)
    except Problem:
        cred = None
    verified = bool(cred and cred["verified"] and not cred["tainted"] and inst.authorized)
    attention = health["attention"]
    reason = ""
    remediation = ""
    if not verified:
        if attention:
            reason, remediation = attention[0]["reason"], attention[0]["remediation"]
        elif cred is None:
            reason = "The instance has no credential."
            remediation = "Authorize it on its integration page."
        else:
            reason = cred["verification_reason"] or "Its credential is not verified."
            remediation = "Verify it again on its integration page."
    return {
        "verified": verified,
        "when": cred["last_verified_at"] if cred else None,
        "reason": reason,
        "remediation": remediation,
        "last_run": health["last_run"],
        "instance": integrations.to_dict(inst),
    }


def panels(session: Session, mapped: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The panel of each Traceable Service among a service's mapped resources (resource
    dicts as ``resource_dicts`` gives them)."""
    found = [r for r in mapped if r["type"] == TRACEABLE_SERVICE]
    if not found:
        return []
    ids = sorted({r["integration"]["instance"]["id"] for r in found})
    instances = {i: integrations.get_instance(session, instance_id=i) for i in ids}
    connections = {iid: _connection(session, inst) for iid, inst in instances.items()}
    out = []
    for r in found:
        data = r.get("integration_data") or {}
        endpoints = data.get("endpoints") or {}
        vulns = data.get("vulnerabilities") or {}
        out.append(
            {
                "resource": r,
                "name": data.get("service_name") or r["name"] or r["id"],
                "link": data.get("link") if str(data.get("link", "")).startswith("http") else None,
                "environments": data.get("environments") or [],
                "connection": connections.get(r["integration"]["instance"]["id"]),
                "endpoints": endpoints,
                "groups": _groups(endpoints),
                "chart": risk_chart((endpoints.get("groups") or {}).get("risk") or {}),
                "vulnerabilities": {
                    "open": int(vulns.get("open") or 0),
                    "by_severity": _ranked(vulns.get("by_severity") or {}),
                    "items": vulns.get("items") or [],
                },
                "hydrated": bool(data),
            }
        )
    return out


@router.get("/services/{service_id}/traceable/{resource_id}/endpoints")
def live_endpoints(service_id: str, resource_id: str, request: Request, ctx: CtxDep) -> Response:
    """A page of a mapped Traceable Service's endpoints, read live from Traceable (an htmx
    fragment, with links to the next and previous pages)."""
    svc = catalog.get_service(ctx.session, service_id=service_id, rights=ctx.actor.rights)
    row = resources.get_resource(ctx.session, resource_id=resource_id, rights=ctx.actor.rights)
    mapped, _ = resources.list_mappings(
        ctx.session,
        query=[("filter[service.id]", str(svc.id)), ("filter[resource.id]", row.id)],
        actor=ctx.actor,
    )
    if not mapped:
        raise Problem(404, f"Resource [{resource_id}] is not mapped to {svc.name}")
    raw = request.query_params.get("page", "1")
    number = int(raw) if raw.isdigit() and 0 < int(raw) < 10_000 else 1
    error = ""
    items: list[dict[str, Any]] = []
    total = 0
    try:
        page = children_page(
            ctx.session,
            resource_id=row.id,
            kind="endpoints",
            query=[("page[size]", str(LIVE_PAGE_SIZE)), ("page[number]", str(number))],
            settings=request.app.state.settings,
            rights=ctx.actor.rights,
        )
        items = page["data"]
        total = int(page["meta"]["page"]["total"])
    except Problem as exc:
        error = exc.detail
    pages = max(1, -(-total // LIVE_PAGE_SIZE))
    return render(
        request,
        "services/_endpoints_live.html",
        actor=ctx.actor,
        service_id=str(svc.id),
        resource_id=row.id,
        items=items,
        total=total,
        number=number,
        pages=pages,
        error=error,
    )

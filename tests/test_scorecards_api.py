"""Scorecards over HTTP on SQLite and PostgreSQL: templates, CRUD, every entity selector,
the result routes, evaluation by the worker's pass (pass, fail and error of each criterion
we can evaluate), scores, levels and service documents; bodies validated against Kong's
contract.

Resources of the shipped integrations are stored through the domain models with the
``integration_data`` shapes their connectors document (``connectors/*/data.py``), on
instances of those integrations (GitHub's shape is the one its connector branch documents).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import httpx
import pytest

from contract import Contract
from scorecard_support import criterion, scorecard_body
from service_catalog.core.db import Database, utcnow
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.resources.models import Resource
from service_catalog.scorecards import evaluation
from service_catalog.settings import Settings
from service_catalog.sync import scorecards as jobs

NOW = dt.datetime.now(dt.UTC)


def traceable(
    *,
    vulns: dict[str, int],
    exposed: int,
    total: int,
    auth: int,
    seen_days: float,
    risk: dict[str, int],
) -> dict[str, Any]:
    seen = (NOW - dt.timedelta(days=seen_days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "service_id": "svc",
        "service_name": "svc",
        "endpoints": {
            "total": total,
            "last_seen": seen,
            "groups": {
                "risk": risk,
                "authentication": {"authenticated": auth, "unauthenticated": total - auth},
            },
            "exposed_sensitive": [],
            "exposed_sensitive_total": exposed,
        },
        "vulnerabilities": {"open": sum(vulns.values()), "by_severity": vulns},
    }


def pagerduty(
    *, on_call: bool, enabled: bool, in_window: int, ack_s: float | None, resolve_s: float | None
) -> dict[str, Any]:
    return {
        "enabled": enabled,
        "status": "active" if enabled else "disabled",
        "on_call_now": on_call,
        "incidents": {
            "open": 0,
            "window_days": 30,
            "in_window": in_window,
            "mean_seconds_to_acknowledge": ack_s,
            "mean_seconds_to_resolve": resolve_s,
        },
    }


def github(
    *, stale: int, approvals: list[int], merge_h: float | None, dependabot: dict[str, Any]
) -> dict[str, Any]:
    return {
        "pull_requests": {
            "window_days": 30,
            "stale_days": 14,
            "open": stale,
            "stale": stale,
            "merged_in_window": len(approvals),
            "median_hours_to_first_approval": merge_h,
            "median_hours_to_merge": merge_h,
            "merged_items": [{"number": i, "approvals": a} for i, a in enumerate(approvals)],
        },
        "dependabot_alerts": dependabot,
    }


def gateway(plugins: list[str]) -> dict[str, Any]:
    return {"plugins": [{"id": p, "name": p, "enabled": True} for p in plugins], "routes": []}


TYPES = {
    "traceable": "traceable_service",
    "pagerduty": "pagerduty_service",
    "github": "github_repository",
    "gateway-manager": "gateway_svc",
}


class World:
    """Services made through the API; resources and instances through the domain models."""

    def __init__(self, api: httpx.Client, db: Database, settings: Settings) -> None:
        self.api, self.db, self.settings = api, db, settings
        self.instances: dict[str, uuid.UUID] = {}

    def service(self, name: str, **body: Any) -> str:
        resp = self.api.post(
            "/v1/catalog-services", json={"name": name, "display_name": name.title(), **body}
        )
        assert resp.status_code == 201, resp.text
        return str(resp.json()["id"])

    def instance(self, integration: str, *, authorized: bool = True) -> uuid.UUID:
        key = f"{integration}:{authorized}"
        if key not in self.instances:
            with self.db.session() as s:
                inst = IntegrationInstance(
                    name=f"{integration}-{authorized}".lower(),
                    display_name=integration,
                    integration_name=integration,
                    authorized=authorized,
                )
                s.add(inst)
                s.flush()
                self.instances[key] = inst.id
        return self.instances[key]

    def resource(
        self,
        service_id: str,
        integration: str,
        data: dict[str, Any] | None,
        *,
        authorized: bool = True,
    ) -> str:
        rid = uuid.uuid4().hex[:16]
        iid = self.instance(integration, authorized=authorized)
        with self.db.session() as s:
            s.add(
                Resource(
                    id=rid,
                    instance_id=iid,
                    integration_name=integration,
                    type=TYPES[integration],
                    name=f"{integration}-{rid[:4]}",
                    integration_data=data,
                )
            )
        # the mapping through the API (audited, so the worker re-evaluates the service)
        resp = self.api.post("/v1/resource-mappings", json={"service": service_id, "resource": rid})
        assert resp.status_code == 201, resp.text
        return rid

    def evaluate(self) -> None:
        jobs.run_due(self.db, self.settings, "test-worker")


@pytest.fixture
def world(api: httpx.Client, db: Database, settings: Settings) -> World:
    return World(api, db, settings)


def create(
    api: httpx.Client,
    contract: Contract,
    criteria: list[dict[str, Any]],
    selector: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body = scorecard_body("card", criteria, selector, **extra)
    return contract.check(api.post("/v1/scorecards", json=body), 201, response="ScorecardResponse")


def validated(contract: Contract, body: dict[str, Any], response: str) -> dict[str, Any]:
    """Validate ``body`` against the contract, except two spots where the contract cannot
    be met: ``evaluation_context.raw_value`` is a ``oneOf`` whose last branch (``nullable``
    alone) matches any value, so no value but null passes (Kong's own example fails it);
    ``successfully_evaluated_at`` is null for a criterion never judged (the contract has no
    way to say "never"). Both are checked here by shape instead."""
    copy = json.loads(json.dumps(body))
    items = copy.get("criteria") or copy.get("data") or []
    for item in items:
        ev = item.get("evaluation")
        if ev and ev.get("evaluation_context"):
            raw = ev["evaluation_context"]["raw_value"]
            assert raw is None or isinstance(raw, int | float | str | bool | dict), raw
            ev["evaluation_context"]["raw_value"] = None
        if ev and ev.get("successfully_evaluated_at") is None and "is_passing" in ev:
            assert ev["evaluation_error"] is not None
            ev["successfully_evaluated_at"] = ev["attempted_at"]
    contract.validate(copy, response=response)
    return body


def service_card(api: httpx.Client, contract: Contract, sid: str, cid: str) -> dict[str, Any]:
    resp = api.get(f"/v1/catalog-services/{sid}/scorecards/{cid}")
    assert resp.status_code == 200, resp.text
    return validated(contract, resp.json(), "CatalogServiceScorecardResponse")


def evaluations(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["template_name"]: c["evaluation"] for c in body["criteria"]}


def test_templates(api: httpx.Client, contract: Contract) -> None:
    body = contract.check(
        api.get("/v1/criteria-templates?page[size]=100"),
        200,
        response="ListCriteriaTemplatesResponse",
    )
    by = {t["name"]: t for t in body["data"]}
    assert len(by) == 24  # Konnect's 19 and our 5 Traceable criteria
    assert by["has_service_docs"]["installed"] is True
    assert by["traceable_vulnerability_limit"]["installed"] is True
    assert by["on_call_engineer_assigned"]["required_integration_capability"] == "on_call_provider"
    assert by["gateway_manager_error_rate"]["installed"] is False
    assert by["has_api_specs"]["installed"] is False
    # GitHub's criteria are installed when a `github` integration is registered
    github_registered = any(
        i["name"] == "github" for i in api.get("/v1/integrations?page[size]=100").json()["data"]
    )
    assert by["minimum_approving_reviews"]["installed"] is github_registered
    names = [
        t["name"]
        for t in contract.check(
            api.get("/v1/criteria-templates?filter[installed]=false&sort=name&page[size]=100"), 200
        )["data"]
    ]
    assert "lint_api_specs" in names and names == sorted(names)
    assert "has_service_docs" not in names
    sc = contract.check(
        api.get("/v1/scorecard-templates"), 200, response="ListScorecardTemplatesResponse"
    )
    assert {t["name"] for t in sc["data"]} == {
        "kong_best_practices",
        "service_documentation",
        "service_maturity",
        "security_and_compliance",
    }
    sec = next(t for t in sc["data"] if t["name"] == "security_and_compliance")
    assert any(c["template_name"].startswith("traceable_") for c in sec["criteria"])
    bad = api.get("/v1/criteria-templates?filter[nope]=1")
    contract.check(bad, 400)


def test_crud_and_validation(api: httpx.Client, contract: Contract) -> None:
    card = create(api, contract, [criterion("has_service_docs", "Docs", min_docs=1)])
    cid = card["id"]
    assert card["score"] is None and card["criteria"][0]["integration"] is None
    contract.check(api.get(f"/v1/scorecards/{cid}"), 200, response="ScorecardResponse")
    listed = contract.check(
        api.get("/v1/scorecards?filter[name]=card"), 200, response="ListScorecardsResponse"
    )
    assert [c["id"] for c in listed["data"]] == [cid]
    kept = card["criteria"][0]["id"]
    updated = contract.check(
        api.put(
            f"/v1/scorecards/{cid}",
            json=scorecard_body(
                "renamed",
                [
                    {**criterion("has_service_docs", "Docs", min_docs=2), "id": kept},
                    criterion("has_resources", "Catalog", min_resources=1),
                ],
                description="d",
            ),
        ),
        200,
        response="ScorecardResponse",
    )
    assert updated["criteria"][0]["id"] == kept and updated["criteria"][0][
        "template_parameters"
    ] == {"min_docs": 2}
    # bad bodies: unknown template, parameters refused by its schema, unknown selector
    for body, field in (
        ({"criteria": [criterion("nope")]}, "criteria[0].template_name"),
        (
            {"criteria": [criterion("has_service_docs", min_docs=0)]},
            "criteria[0].template_parameters.min_docs",
        ),
        (
            {"criteria": [criterion("has_service_docs", min_docs=1, extra=1)]},
            "criteria[0].template_parameters",
        ),
        (
            {
                "criteria": [criterion("has_service_docs", min_docs=1)],
                "entity_selector": {"selector": "weird", "selector_parameters": None},
            },
            "entity_selector",
        ),
        (
            {
                "criteria": [criterion("has_service_docs", "A", min_docs=1)],
                "levels": [{"name": "Gold", "sections": ["B"]}],
            },
            "levels[0].sections",
        ),
    ):
        resp = api.post("/v1/scorecards", json={"name": "x", **body})
        problem = contract.check(resp, 400)
        assert any(p["field"].startswith(field) for p in problem["invalid_parameters"]), problem
    contract.check(api.get(f"/v1/scorecards/{uuid.uuid4()}"), 404)
    assert api.delete(f"/v1/scorecards/{cid}").status_code == 204
    contract.check(api.get(f"/v1/scorecards/{cid}"), 404)
    audit = api.get("/v1/audit-log?filter[type][contains]=scorecard&page[size]=10").json()["data"]
    assert {e["type"] for e in audit} >= {
        "scorecard.created",
        "scorecard.updated",
        "scorecard.deleted",
    }


def test_selectors(api: httpx.Client, contract: Contract, world: World) -> None:
    a = world.service("alpha", labels={"team": "core"}, custom_fields={"owner": "ann"})
    b = world.service("beta", labels={"env": "prod"}, custom_fields={"owner": "bob"})
    c = world.service("gamma")
    api.post(f"/v1/catalog-services/{c}/documents", json={"title": "Runbook", "content": "# hi"})
    world.resource(
        b, "traceable", traceable(vulns={}, exposed=0, total=1, auth=1, seen_days=1, risk={})
    )
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"selector": "all", "selector_parameters": None}, {a, b, c}),
        ({"selector": "ids", "selector_parameters": {"ids": [a, c]}}, {a, c}),
        ({"selector": "name", "selector_parameters": {"operator": "eq", "value": "beta"}}, {b}),
        ({"selector": "name", "selector_parameters": {"operator": "contains", "value": "ta"}}, {b}),
        (
            {
                "selector": "display_name",
                "selector_parameters": {"operator": "contains", "value": "Gam"},
            },
            {c},
        ),
        (
            {
                "selector": "label",
                "selector_parameters": {"operator": "eq", "value": "core", "label_key": "team"},
            },
            {a},
        ),
        ({"selector": "has_label_key", "selector_parameters": {"label_key": "env"}}, {b}),
        (
            {
                "selector": "custom_field",
                "selector_parameters": {"field": "owner", "operator": "eq", "value": "bob"},
            },
            {b},
        ),
        ({"selector": "has_docs", "selector_parameters": None}, {c}),
        (
            {"selector": "api_count", "selector_parameters": {"operator": "eq", "value": 0}},
            {a, b, c},
        ),
        ({"selector": "api_count", "selector_parameters": {"operator": "gte", "value": 1}}, set()),
        (
            {
                "selector": "resource_count",
                "selector_parameters": {
                    "operator": "gte",
                    "value": 1,
                    "resource_type": "traceable_service",
                    "integration": "traceable",
                },
            },
            {b},
        ),
    ]
    for selector, expected in cases:
        card = create(api, contract, [criterion("has_service_docs", min_docs=1)], selector)
        got = contract.check(
            api.get(f"/v1/scorecards/{card['id']}/catalog-services?page[size]=100"),
            200,
            response="ListScorecardServicesResponse",
        )
        assert {s["id"] for s in got["data"]} == expected, selector


def test_evaluation_scores_levels_and_routes(
    api: httpx.Client, contract: Contract, world: World
) -> None:
    good = world.service("good")
    bad = world.service("bad")
    broken = world.service("broken")
    api.post(f"/v1/catalog-services/{good}/documents", json={"title": "Readme", "content": "x"})
    world.resource(
        good,
        "traceable",
        traceable(vulns={"LOW": 1}, exposed=0, total=10, auth=10, seen_days=1, risk={"LOW": 3}),
    )
    world.resource(
        bad,
        "traceable",
        traceable(
            vulns={"CRITICAL": 1, "HIGH": 2},
            exposed=2,
            total=14,
            auth=7,
            seen_days=30,
            risk={"CRITICAL": 1},
        ),
    )
    world.resource(broken, "traceable", None, authorized=False)
    world.resource(
        good,
        "pagerduty",
        pagerduty(on_call=True, enabled=True, in_window=1, ack_s=60, resolve_s=3600),
    )
    world.resource(
        bad,
        "pagerduty",
        pagerduty(on_call=False, enabled=False, in_window=9, ack_s=7200, resolve_s=360000),
    )
    world.resource(
        good,
        "github",
        github(
            stale=0,
            approvals=[2, 1],
            merge_h=3,
            dependabot={"status": "ok", "open": 1, "by_severity": {"low": 1}},
        ),
    )
    world.resource(
        bad,
        "github",
        github(
            stale=9,
            approvals=[0],
            merge_h=99,
            dependabot={"status": "ok", "open": 2, "by_severity": {"critical": 2}},
        ),
    )
    world.resource(
        broken,
        "github",
        github(stale=0, approvals=[], merge_h=None, dependabot={"status": "not_permitted"}),
    )
    world.resource(good, "gateway-manager", gateway(["key-auth", "prometheus"]))
    world.resource(bad, "gateway-manager", gateway(["cors"]))
    criteria = [
        criterion("has_service_docs", "Basics", min_docs=1),
        criterion("has_resources", "Basics", min_resources=1),
        criterion("traceable_vulnerability_limit", "Security", severity="HIGH"),
        criterion("traceable_endpoint_risk_limit", "Security", max_risk="MEDIUM"),
        criterion("traceable_no_exposed_sensitive_endpoints", "Security"),
        criterion("traceable_authenticated_endpoints", "Security", min_percent=90),
        criterion("traceable_seen_within", "Security", days=7),
        criterion("on_call_engineer_assigned", "Ops"),
        criterion("pagerduty_service_enabled", "Ops"),
        criterion("incident_limit", "Ops", max_incidents=3),
        criterion("time_to_acknowledge", "Ops", max_minutes=30),
        criterion("time_to_restore", "Ops", max_hours=24),
        criterion("time_before_failure", "Ops", min_hours=100),
        criterion("minimum_approving_reviews", "Code", min_approvals=1),
        criterion("stale_pull_request_limit", "Code", max_stale=2),
        criterion("time_to_approve", "Code", max_hours=24),
        criterion("time_to_merge", "Code", max_hours=24),
        criterion("github_dependabot_vulnerability_limit", "Code", severity="high", max_alerts=0),
        criterion("gateway_manager_has_plugin", "Gateway", category="Authentication"),
        criterion("gateway_manager_error_rate", "Gateway", threshold=5, relative_window="30d"),
    ]
    card = create(
        api,
        contract,
        criteria,
        levels=[
            {"name": "Bronze", "sections": ["Basics"]},
            {"name": "Silver", "sections": ["Security"]},
            {"name": "Gold", "sections": ["Ops", "Code", "Gateway"]},
        ],
    )
    cid = card["id"]
    world.evaluate()
    g, b, x = (evaluations(service_card(api, contract, s, cid)) for s in (good, bad, broken))
    judged = [c["template_name"] for c in criteria][:-1]
    for name in judged:
        assert g[name]["is_passing"] is True and g[name]["evaluation_error"] is None, (
            name,
            g[name],
        )
    for name in (n for n in judged if n != "has_resources"):  # bad fails all but this
        assert b[name]["is_passing"] is False and b[name]["evaluation_error"] is None, (
            name,
            b[name],
        )
    # errors: not installed (no metrics), unauthorized instance, not permitted, nothing mapped
    assert g["gateway_manager_error_rate"]["evaluation_error"]["type"] == "criteria_not_installed"
    assert (
        x["traceable_vulnerability_limit"]["evaluation_error"]["type"] == "integration_unauthorized"
    )
    assert (
        x["github_dependabot_vulnerability_limit"]["evaluation_error"]["type"]
        == "integration_unauthorized"
    )
    assert x["on_call_engineer_assigned"]["evaluation_error"]["type"] == "no_mapped_resources"
    assert x["time_to_merge"]["is_passing"] is True  # nothing merged: nothing slow
    assert "2 of 14 endpoints are external and unauthenticated with sensitive data" in str(
        b["traceable_no_exposed_sensitive_endpoints"]["evaluation_context"]
    )
    # scores: share of enabled criteria passed; the scorecard's the mean
    services = contract.check(
        api.get(f"/v1/scorecards/{cid}/catalog-services?sort=score.raw_value desc"),
        200,
        response="ListScorecardServicesResponse",
    )["data"]
    scores = {s["id"]: s["score"] for s in services}
    assert scores[good] == {"value": "95%", "raw_value": 95.0}  # 19 of 20
    assert scores[bad] == {"value": "5%", "raw_value": 5.0}  # has_resources only
    assert services[0]["id"] == good
    mean = contract.check(api.get(f"/v1/scorecards/{cid}"), 200)["score"]
    assert mean["raw_value"] == round((95 + 5 + scores[broken]["raw_value"]) / 3, 3)
    # levels (an extension): good has Silver (Gold needs the error rate, not evaluable)
    gcard = service_card(api, contract, good, cid)
    assert gcard["level"]["name"] == "Silver"
    assert [m["section_name"] for m in gcard["level"]["next"]["missing"]] == ["Gateway"]
    blevel = service_card(api, contract, bad, cid)["level"]
    assert blevel["name"] is None and blevel["next"]["name"] == "Bronze"
    assert [m["section_name"] for m in blevel["next"]["missing"]] == ["Basics"]
    # criteria with passing counts; criterion services filtered and sorted
    crit = contract.check(
        api.get(f"/v1/scorecards/{cid}/criteria?page[size]=100"),
        200,
        response="ListScorecardCriteriaResponse",
    )["data"]
    counts = {c["template_name"]: c["evaluation"]["passing_services_count"] for c in crit}
    assert counts["has_resources"] == 3 and counts["traceable_vulnerability_limit"] == 1
    top = contract.check(
        api.get(
            f"/v1/scorecards/{cid}/criteria"
            "?sort=evaluation.passing_services_count desc&page[size]=1"
        ),
        200,
    )
    assert top["data"][0]["template_name"] == "has_resources"
    few = contract.check(
        api.get(
            f"/v1/scorecards/{cid}/criteria?filter[evaluation.passing_services_count][lt]=1&page[size]=100"
        ),
        200,
    )
    assert {c["template_name"] for c in few["data"]} == {"gateway_manager_error_rate"}
    vuln = next(c for c in crit if c["template_name"] == "traceable_vulnerability_limit")
    url = f"/v1/scorecards/{cid}/criteria/{vuln['id']}/catalog-services"
    listing = "ListScorecardCriteriaServicesResponse"
    passing = validated(
        contract, api.get(url + "?filter[evaluation.is_passing]=true").json(), listing
    )["data"]
    assert [s["id"] for s in passing] == [good]
    failing_first = validated(
        contract, api.get(url + "?sort=evaluation.is_passing").json(), listing
    )["data"]
    assert failing_first[-1]["id"] == good
    listed = contract.check(
        api.get(f"/v1/catalog-services/{bad}/scorecards"),
        200,
        response="ListCatalogServiceScorecardsResponse",
    )
    assert listed["data"][0]["score"]["raw_value"] == 5.0
    # incremental: a document for bad changes only bad's results
    api.post(f"/v1/catalog-services/{bad}/documents", json={"title": "Runbook"})
    world.evaluate()
    assert (
        evaluations(service_card(api, contract, bad, cid))["has_service_docs"]["is_passing"] is True
    )


def test_counts_and_score_follow_incremental_passes(
    api: httpx.Client, contract: Contract, world: World
) -> None:
    """Incremental passes move each criterion's passing count and the scorecard's score
    by what changed (a document added, a mapping deleted, a service deleted or no longer
    selected), as a full evaluation would count them."""
    a, b, c = (world.service(n, labels={"team": "x"}) for n in ("alpha", "bravo", "charlie"))
    for sid in (a, b):
        world.resource(sid, "traceable", None)
    card = create(
        api,
        contract,
        [criterion("has_service_docs", min_docs=1), criterion("has_resources", min_resources=1)],
        selector={"selector": "has_label_key", "selector_parameters": {"label_key": "team"}},
    )
    cid = card["id"]
    world.evaluate()

    def counts() -> tuple[dict[str, int | None], float | None]:
        crit = contract.check(
            api.get(f"/v1/scorecards/{cid}/criteria"), 200, response="ListScorecardCriteriaResponse"
        )["data"]
        score = contract.check(api.get(f"/v1/scorecards/{cid}"), 200)["score"]
        return (
            {x["template_name"]: x["evaluation"]["passing_services_count"] for x in crit},
            score and score["raw_value"],
        )

    assert counts() == ({"has_service_docs": 0, "has_resources": 2}, round(100 / 3, 3))
    api.post(f"/v1/catalog-services/{c}/documents", json={"title": "Runbook"})
    world.evaluate()
    assert counts() == ({"has_service_docs": 1, "has_resources": 2}, 50.0)
    listed = api.get("/v1/resource-mappings?page[size]=100").json()["data"]
    (mapping,) = [m for m in listed if m["service"]["id"] == a]
    assert api.delete(f"/v1/resource-mappings/{mapping['id']}").status_code == 204
    world.evaluate()
    assert counts() == ({"has_service_docs": 1, "has_resources": 1}, round(100 / 3, 3))
    # no longer selected (its row dropped), then deleted (its row gone with it)
    resp = api.patch(f"/v1/catalog-services/{b}", json={"labels": {"team": None}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["labels"] == {}, resp.text
    world.evaluate()
    assert counts() == ({"has_service_docs": 1, "has_resources": 0}, 25.0)
    assert api.delete(f"/v1/catalog-services/{c}").status_code == 204
    world.evaluate()
    assert counts() == ({"has_service_docs": 0, "has_resources": 0}, 0.0)


def test_documents(api: httpx.Client, contract: Contract, world: World) -> None:
    sid = world.service("docs-svc")
    base = f"/v1/catalog-services/{sid}/documents"
    doc = api.post(base, json={"title": "Readme", "content": "<script>x</script> **md**"})
    assert doc.status_code == 201, doc.text
    did = doc.json()["id"]
    assert api.get(f"{base}/{did}").json()["content"] == "<script>x</script> **md**"
    assert api.patch(f"{base}/{did}", json={"title": "Read me"}).json()["title"] == "Read me"
    assert api.get("/v1/catalog-services/docs-svc/documents").json()["meta"]["page"]["total"] == 1
    contract.check(api.post(base, json={"title": ""}), 400)
    contract.check(api.post(base, json={"title": "x", "nope": 1}), 400)
    contract.check(api.get(f"{base}/{uuid.uuid4()}"), 404)
    assert api.delete(f"{base}/{did}").status_code == 204
    audit = api.get(f"/v1/audit-log?filter[service_id]={sid}&page[size]=20").json()["data"]
    assert {"service_document.created", "service_document.updated", "service_document.deleted"} <= {
        e["type"] for e in audit
    }


def test_lease_keeps_a_second_worker_out(
    api: httpx.Client, contract: Contract, world: World
) -> None:
    world.service("leased")
    card = create(api, contract, [criterion("has_service_docs", min_docs=1)])
    sid = uuid.UUID(card["id"])
    with world.db.session() as s:
        evaluation.ensure_states(s)
        assert evaluation.claim(s, sid, "worker-a", 30)
    assert jobs.run_pass(world.db, world.settings, sid, "worker-b") is None
    assert contract.check(api.get(f"/v1/scorecards/{sid}"), 200)["score"] is None
    with world.db.session() as s:
        evaluation.release(s, sid, "worker-a", full_at=None, seen_at=utcnow())
    stats = jobs.run_pass(world.db, world.settings, sid, "worker-b")
    assert stats is not None and stats.services == 1
    assert contract.check(api.get(f"/v1/scorecards/{sid}"), 200)["score"]["raw_value"] == 0.0

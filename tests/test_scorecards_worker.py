"""Scorecards end to end through a real server with its background worker (on SQLite and
PostgreSQL): a sync that changes a mapped resource gets the affected service re-evaluated
without anyone asking, and what principals without administrative roles see of the
results."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx

from conftest import LiveServer
from scorecard_support import criterion, scorecard_body
from service_catalog.testing.github_sim import GitHubSimulator
from sync_support import create_instance, create_service, wait_for

TOKEN = "ghp_worker_e2e_41d7"
T = TypeVar("T")


def _ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


def _principal(api: httpx.Client, email: str, roles: list[tuple[str, str]]) -> str:
    """A user holding ``roles`` (role, entity id), and a token of its own."""
    uid = _ok(api.post("/v3/invites", json={"email": email}), 201)["id"]
    for role, entity in roles:
        body = {"role_name": role, "entity_id": entity}
        _ok(api.post(f"/v3/users/{uid}/assigned-roles", json=body), 201)
    made = api.post(f"/v3/users/{uid}/access-tokens", json={"name": "t", "ttl_seconds": 86400})
    return str(_ok(made, 201)["konnect_token"])


def test_a_sync_changing_a_mapped_repository_re_evaluates_its_service(
    worker_server: LiveServer,
) -> None:
    with (
        GitHubSimulator(repos=2, prs_per_repo=4, token=TOKEN) as sim,
        worker_server.client() as api,
    ):
        iid = str(
            create_instance(api, "gh", integration="github", base_url=sim.url, owner="acme")["id"]
        )
        cred = {
            "type": "multi_key_auth",
            "config": {"headers": [{"name": "authorization", "key": TOKEN}]},
        }
        _ok(api.post(f"/v1/integration-instances/{iid}/auth-credential", json=cred), 201)

        def repos() -> dict[str, dict[str, Any]]:
            listed = _ok(api.get("/v1/resources", params={"filter[type]": "github_repository"}))
            return {r["name"]: r for r in listed["data"]}

        def both() -> dict[str, dict[str, Any]] | None:
            got = repos()
            return got if len(got) == 2 else None

        found = wait_for(both, repos)
        one, two = found["acme/repo-00001"], found["acme/repo-00002"]
        a, b = create_service(api, "alpha")["id"], create_service(api, "beta")["id"]
        for sid, rid in ((a, one["id"]), (b, two["id"])):
            _ok(api.post("/v1/resource-mappings", json={"service": sid, "resource": rid}), 201)
        # each repository passes with its present count of alerts; one more fails it
        most = max(r["integration_data"]["dependabot_alerts"]["open"] for r in (one, two))
        card = scorecard_body(
            "Dependabot",
            [criterion("github_dependabot_vulnerability_limit", severity="low", max_alerts=most)],
        )
        cid = _ok(api.post("/v1/scorecards", json=card), 201)["id"]

        def result(sid: str) -> dict[str, Any]:
            got = _ok(api.get(f"/v1/catalog-services/{sid}/scorecards/{cid}"))
            ev: dict[str, Any] = got["criteria"][0]["evaluation"] or {}
            return ev

        def passing() -> dict[str, Any] | None:
            got = result(a)
            return got if got.get("is_passing") else None

        first_a = wait_for(passing, lambda: result(a))
        wait_for(lambda: result(b).get("is_passing"), lambda: result(b))

        for k in range(most + 1 - one["integration_data"]["dependabot_alerts"]["open"]):
            sim.add_alert("repo-00001", "critical", package=f"left-pad-{k}")
        _ok(api.put(f"/v1/integration-instances/{iid}/resource-ingestion", json={}))

        def failing() -> dict[str, Any] | None:
            got = result(a)
            return got if got.get("is_passing") is False else None

        failed = wait_for(
            failing,
            lambda: (
                result(a),
                repos()["acme/repo-00001"]["integration_data"]["dependabot_alerts"],
                _ok(api.get(f"/v1/integration-instances/{iid}/sync-runs"))["data"][:2],
            ),
        )
        assert failed["evaluation_error"] is None, failed
        assert failed["attempted_at"] > first_a["attempted_at"]
        text = failed["evaluation_context"]["raw_value"]["map"][one["id"]]["details"]
        assert f"{most + 1} open Dependabot alerts low or above" in text["display_text"], text
        assert result(b)["is_passing"] is True, result(b)
        services = _ok(api.get(f"/v1/scorecards/{cid}/catalog-services"))["data"]
        scores = {s["id"]: s["score"]["raw_value"] for s in services}
        assert scores == {a: 0, b: 100}, services


def test_a_scorecard_viewer_sees_results_of_the_services_it_reads(
    server: LiveServer, api: httpx.Client
) -> None:
    a, b = create_service(api, "alpha")["id"], create_service(api, "beta")["id"]
    doc = {"title": "Runbook", "content": "# Runbook"}
    _ok(api.post(f"/v1/catalog-services/{a}/documents", json=doc), 201)
    card = scorecard_body("Docs", [criterion("has_service_docs", min_docs=1)])
    cid = _ok(api.post("/v1/scorecards", json=card), 201)["id"]
    crit = _ok(api.get(f"/v1/scorecards/{cid}"))["criteria"][0]["id"]
    viewer = _principal(
        api, "viewer@example.com", [("Scorecard Viewer", "*"), ("Service Viewer", a)]
    )
    reader = _principal(api, "reader@example.com", [("Service Viewer", a)])
    with server.client(viewer) as v, server.client(reader) as r:
        listed = _ok(v.get(f"/v1/scorecards/{cid}/catalog-services"))
        assert [s["id"] for s in listed["data"]] == [a] and listed["meta"]["page"]["total"] == 1
        per = _ok(v.get(f"/v1/scorecards/{cid}/criteria/{crit}/catalog-services"))
        assert [s["id"] for s in per["data"]] == [a]
        _ok(v.get(f"/v1/catalog-services/{a}/scorecards/{cid}"))
        assert v.get(f"/v1/catalog-services/{b}/scorecards/{cid}").status_code == 404
        assert v.get(f"/v1/catalog-services/{b}/scorecards").status_code == 404
        denied = v.post("/v1/scorecards", json={**card, "name": "Mine"})
        assert denied.status_code == 403 and "Scorecard Admin" in denied.json()["detail"]
        assert v.delete(f"/v1/scorecards/{cid}").status_code == 403
        # a reader of the service without a scorecard role: the service's own scorecards,
        # never the scorecards' lists
        _ok(r.get(f"/v1/catalog-services/{a}/scorecards"))
        refused = r.get(f"/v1/scorecards/{cid}/catalog-services")
        assert refused.status_code == 403 and "Scorecard Viewer" in refused.json()["detail"]
        # documents: read by the service's readers, changed only by its Service Admin
        _ok(r.get(f"/v1/catalog-services/{a}/documents"))
        change = r.post(f"/v1/catalog-services/{a}/documents", json=doc)
        assert change.status_code == 403 and "Service Admin" in change.json()["detail"]
        assert r.get(f"/v1/catalog-services/{b}/documents").status_code == 404

"""Scorecard criteria over what the shipped connectors really store: a GitHub, a PagerDuty
and a Kong Gateway simulator synced through a real catalog server (on SQLite and
PostgreSQL), resources mapped to services over HTTP, the worker's evaluation pass, and the
results read back through the API (pass, fail, and an error that is never a pass or a
fail)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from conftest import LiveServer
from scorecard_support import scorecard_body
from service_catalog.settings import Settings
from service_catalog.sync import scorecards as jobs
from service_catalog.sync.worker import Worker
from service_catalog.testing.gateway_manager_sim import GatewaySimulator
from service_catalog.testing.github_sim import GitHubSimulator
from service_catalog.testing.pagerduty_sim import PagerDutySimulator
from sync_support import (
    authorize_instance,
    create_instance,
    create_service,
    install_pagerduty,
    sync_now,
)

GH_TOKEN = "ghp_scorecards_8e1d"
PD_TOKEN = "pd-key-scorecards-3a9c"
KONG_TOKEN = "kong-admin-scorecards-7f2b"
GITHUB_CRITERIA = {
    "minimum_approving_reviews",
    "stale_pull_request_limit",
    "time_to_approve",
    "time_to_merge",
    "github_dependabot_vulnerability_limit",
}


def _authorize(api: httpx.Client, iid: str, header: str, key: str) -> None:
    resp = authorize_instance(api, iid, key, header)
    assert resp.status_code == 201, resp.text
    assert resp.json()["verified"] is True, resp.text


def _resources(api: httpx.Client, rtype: str) -> dict[str, dict[str, Any]]:
    resp = api.get("/v1/resources", params={"filter[type]": rtype, "page[size]": 100})
    assert resp.status_code == 200, resp.text
    return {r["name"]: r for r in resp.json()["data"]}


def _map(api: httpx.Client, name: str, resource_id: str) -> str:
    sid = str(create_service(api, name)["id"])
    resp = api.post("/v1/resource-mappings", json={"service": sid, "resource": resource_id})
    assert resp.status_code == 201, resp.text
    return sid


def _card(api: httpx.Client, name: str, criteria: list[tuple[str, dict[str, Any]]]) -> str:
    body = scorecard_body(
        name,
        [
            {"enabled": True, "template_name": t, "template_parameters": p or None}
            for t, p in criteria
        ],
    )
    resp = api.post("/v1/scorecards", json=body)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def _results(api: httpx.Client, sid: str, cid: str) -> dict[str, dict[str, Any]]:
    resp = api.get(f"/v1/catalog-services/{sid}/scorecards/{cid}")
    assert resp.status_code == 200, resp.text
    return {c["template_name"]: c["evaluation"] for c in resp.json()["criteria"]}


def _judged(ev: dict[str, Any], passing: bool) -> None:
    assert ev["evaluation_error"] is None, ev
    assert ev["is_passing"] is passing, ev


def test_github_criteria_over_a_synced_repository(
    api: httpx.Client, server: LiveServer, settings: Settings
) -> None:
    templates = api.get("/v1/criteria-templates", params={"page[size]": 100}).json()["data"]
    installed = {t["name"]: t["installed"] for t in templates}
    assert all(installed[name] for name in GITHUB_CRITERIA), installed
    assert installed["time_to_workflow_completion"] is False

    with GitHubSimulator(repos=1, prs_per_repo=8, token=GH_TOKEN) as sim:
        # a well-kept repository: one pull request approved twice and merged at once, no
        # alert; repo-00001 (the simulator's seeded history) has merged pull requests
        # without approval, old open ones, and a high Dependabot alert
        sim.add_repo("kept", prs=0, seed=4)
        pr = sim.open_pr("kept", "Small change")
        sim.merge_pr("kept", pr["number"], approvals=2)
        iid = str(
            create_instance(
                api, "gh", integration="github", base_url=sim.url, owner="acme", stale_days=7
            )["id"]
        )
        _authorize(api, iid, "authorization", GH_TOKEN)
        assert sync_now(api, settings, server.db, iid)["status"] == "succeeded"
        repos = _resources(api, "github_repository")
        kept, seeded = repos["acme/kept"], repos["acme/repo-00001"]
        prs = seeded["integration_data"]["pull_requests"]
        assert prs["unapproved_merged"] > 0 and prs["stale"] > 0, prs
        assert prs["median_hours_to_first_approval"] > 1 and prs["median_hours_to_merge"] > 1
        good, bad = _map(api, "kept", kept["id"]), _map(api, "seeded", seeded["id"])
        cid = _card(
            api,
            "GitHub",
            [
                ("minimum_approving_reviews", {"min_approvals": 1}),
                ("stale_pull_request_limit", {"max_stale": 0}),
                ("time_to_approve", {"max_hours": 1}),
                ("time_to_merge", {"max_hours": 1}),
                ("github_dependabot_vulnerability_limit", {"severity": "high", "max_alerts": 0}),
            ],
        )
        jobs.run_due(server.db, settings, "test-worker")
        passing, failing = _results(api, good, cid), _results(api, bad, cid)
        assert set(passing) == GITHUB_CRITERIA
        for name in GITHUB_CRITERIA:
            _judged(passing[name], True)
            _judged(failing[name], False)
        relation = failing["minimum_approving_reviews"]["evaluation_context"]["raw_value"]
        detail = relation["map"][seeded["id"]]["details"]["display_text"]
        assert f"{prs['unapproved_merged']} of {prs['merged_in_window']}" in detail, detail
        alerts = failing["github_dependabot_vulnerability_limit"]["evaluation_context"]
        assert alerts["display_text"] == "0 out of 1 GitHub repository passing Dependabot check"

        # the credential loses the right to read Dependabot alerts: an error, not a pass
        sim.dependabot_forbidden = True
        sim.open_pr("kept", "Another")  # a change, so the repository is read again
        assert sync_now(api, settings, server.db, iid)["status"] == "succeeded"
        stored = _resources(api, "github_repository")["acme/kept"]["integration_data"]
        assert stored["dependabot_alerts"] == {"status": "not_permitted"}
        jobs.run_due(server.db, settings, "test-worker")
        ev = _results(api, good, cid)["github_dependabot_vulnerability_limit"]
        assert ev["is_passing"] is False, ev
        assert ev["evaluation_error"]["type"] == "integration_unauthorized", ev
        assert "Dependabot" in ev["evaluation_error"]["details"]


def test_pagerduty_criteria_over_a_synced_service(
    api: httpx.Client, server: LiveServer, settings: Settings
) -> None:
    with PagerDutySimulator(6, 40, PD_TOKEN) as sim:
        iid = install_pagerduty(api, sim)
        assert sync_now(api, settings, server.db, iid)["status"] == "succeeded"
        listed = _resources(api, "pagerduty_service")
        busiest = max(
            listed.values(), key=lambda r: r["integration_data"]["incidents"]["in_window"]
        )
        data = busiest["integration_data"]
        inc = data["incidents"]
        n = inc["in_window"]
        assert n > 0 and inc["mean_seconds_to_acknowledge"] is not None, inc
        sid = _map(api, "paged", busiest["id"])
        ack_min = inc["mean_seconds_to_acknowledge"] / 60
        restore_h = (inc["mean_seconds_to_resolve"] or 0) / 3600
        between_h = inc["window_days"] * 24 / n
        cards = {
            True: _card(
                api,
                "PagerDuty lenient",
                [
                    ("incident_limit", {"max_incidents": n}),
                    ("time_to_acknowledge", {"max_minutes": round(ack_min) + 1}),
                    ("time_to_restore", {"max_hours": round(restore_h) + 1}),
                    ("time_before_failure", {"min_hours": max(round(between_h) - 1, 0)}),
                ],
            ),
            False: _card(
                api,
                "PagerDuty strict",
                [
                    ("incident_limit", {"max_incidents": n - 1}),
                    ("time_to_acknowledge", {"max_minutes": 0}),
                    ("time_before_failure", {"min_hours": round(between_h) + 24}),
                ],
            ),
        }
        flags = _card(
            api,
            "PagerDuty flags",
            [("on_call_engineer_assigned", {}), ("pagerduty_service_enabled", {})],
        )
        jobs.run_due(server.db, settings, "test-worker")
        for want, cid in cards.items():
            for ev in _results(api, sid, cid).values():
                _judged(ev, want)
        got = _results(api, sid, flags)
        _judged(got["on_call_engineer_assigned"], data["on_call_now"])
        _judged(got["pagerduty_service_enabled"], data["enabled"])


def test_gateway_plugin_criterion_over_a_synced_gateway_service(
    api: httpx.Client, server: LiveServer, settings: Settings
) -> None:
    with GatewaySimulator(4, 1, 2, admin_token=KONG_TOKEN, global_plugins=1) as sim:
        iid = str(
            create_instance(api, "kong", integration="gateway-manager", base_url=sim.url)["id"]
        )
        _authorize(api, iid, "Kong-Admin-Token", KONG_TOKEN)
        api.put(f"/v1/integration-instances/{iid}/resource-ingestion", json={})
        Worker(settings, server.db, name="test-worker").run_once(instance_id=uuid.UUID(iid))
        svc = _resources(api, "gateway_svc")["svc-00001"]
        enabled = svc["integration_data"]["enabled_plugins"]
        assert enabled, svc["integration_data"]
        sid = _map(api, "gated", svc["id"])
        on = _card(api, "Has plugin", [("gateway_manager_has_plugin", {"plugin_name": enabled[0]})])
        off = _card(
            api, "Lacks plugin", [("gateway_manager_has_plugin", {"plugin_name": "no-such-plugin"})]
        )
        metrics = _card(
            api,
            "Metrics",
            [("gateway_manager_error_rate", {"threshold": 1, "relative_window": "24h"})],
        )
        jobs.run_due(server.db, settings, "test-worker")
        _judged(_results(api, sid, on)["gateway_manager_has_plugin"], True)
        ev = _results(api, sid, off)["gateway_manager_has_plugin"]
        _judged(ev, False)
        detail = ev["evaluation_context"]["raw_value"]["map"][svc["id"]]["details"]
        assert "no no-such-plugin enabled" in detail["display_text"], detail
        err = _results(api, sid, metrics)["gateway_manager_error_rate"]
        assert err["is_passing"] is False and err["evaluation_error"]["type"] == (
            "criteria_not_installed"
        ), err

"""The github integration end to end: instances created and authorized over HTTP (a token
or a GitHub App installation), synced by an in-test worker against the loopback GitHub
simulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections import Counter
from functools import partial
from typing import Any

import httpx
import yaml
from sqlalchemy import select

from conftest import LiveServer
from contract import contract_path
from service_catalog.resources.models import Resource
from service_catalog.settings import Settings
from service_catalog.testing.github_sim import GitHubSimulator
from sync_support import create_instance, sync_now

TOKEN = "ghp_e2e_5f1c9a"
SIMULATOR = partial(GitHubSimulator, repos=6, prs_per_repo=8, token=TOKEN)


def _instance(
    api: httpx.Client, sim: GitHubSimulator, *, authorize: bool = True, **config: Any
) -> str:
    iid = str(
        create_instance(api, "gh", integration="github", base_url=sim.url, owner="acme", **config)[
            "id"
        ]
    )
    if authorize:
        resp = api.post(
            f"/v1/integration-instances/{iid}/auth-credential",
            json={
                "type": "multi_key_auth",
                "config": {"headers": [{"name": "authorization", "key": TOKEN}]},
            },
        )
        assert resp.status_code == 201, resp.text
        assert resp.json()["verified"] is True, resp.json()
    return iid


def _repos(server: LiveServer, iid: str) -> dict[str, Resource]:
    with server.db.session() as s:
        rows = s.scalars(select(Resource).where(Resource.instance_id == uuid.UUID(iid))).all()
        return {r.config["repo"]: r for r in rows}


def _events(api: httpx.Client) -> list[dict[str, Any]]:
    resp = api.get("/v1/integration-events", params={"sort": "ts", "page[size]": 100})
    assert resp.status_code == 200, resp.text
    return list(resp.json()["data"])


def test_kong_s_example_body_for_github_answers_201(api: httpx.Client) -> None:
    spec = contract_path()  # the shared copy, or the one shipped under tests/contracts
    assert spec is not None, "tests/contracts must ship Kong's spec"
    doc = yaml.safe_load(spec.read_text())
    body = doc["components"]["examples"]["SampleInstanceCreateGithubPayload"]["value"]
    resp = api.post("/v1/integration-instances", json=body)
    assert resp.status_code == 201, resp.text
    listed = api.get("/v1/integrations", params={"page[size]": 100}).json()["data"]
    integ = next(i for i in listed if i["name"] == "github")
    assert "github_repository" in integ["resource_types"]
    assert set(integ["events"]["github_repository"]) == {
        "pull_request_opened",
        "pull_request_merged",
        "pull_request_closed",
    }


def test_repositories_sync_and_an_unchanged_resync_is_conditional(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: GitHubSimulator
) -> None:
    iid = _instance(api, sim)
    first = sync_now(api, settings, server.db, iid)
    assert first["status"] == "succeeded" and first["created"] == 6, first
    repos = _repos(server, iid)
    data = repos["repo-00001"].integration_data or {}
    assert data["full_name"] == "acme/repo-00001" and data["default_branch"] == "main"
    assert data["codeowners"] == {
        "path": ".github/CODEOWNERS",
        "owners": ["@acme/team-1", "@writer1"],
    }
    assert repos["repo-00005"].integration_data["codeowners"] is None  # type: ignore[index]
    prs = data["pull_requests"]
    assert prs["open"] == 2 and data["open_pull_requests"] == 2
    assert prs["merged_in_window"] >= 1 and prs["median_hours_to_merge"] is not None
    assert data["dependabot_alerts"] == {
        "status": "ok",
        "open": 1,
        "by_severity": {"critical": 0, "high": 1, "medium": 0, "low": 0},
    }
    got = api.get(f"/v1/resources/{repos['repo-00001'].id}")
    assert got.status_code == 200 and got.json()["config"] == {
        "owner": "acme",
        "repo": "repo-00001",
    }

    sim.requests.clear()
    second = sync_now(api, settings, server.db, iid)
    assert second["status"] == "succeeded", second
    assert (second["created"], second["updated"], second["unchanged"]) == (0, 0, 6)
    gets = [r for r in sim.requests if r["method"] == "GET" and r["status"] != 404]
    assert gets and all(r["conditional"] and r["status"] == 304 for r in gets), gets
    assert not any("/reviews" in r["path"] for r in sim.requests)


def test_an_unchanged_resync_writes_nothing_and_misses_no_change(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: GitHubSimulator
) -> None:
    iid = _instance(api, sim)
    assert sync_now(api, settings, server.db, iid)["created"] == 6
    stamps = {name: r.updated_at for name, r in _repos(server, iid).items()}
    sim.requests.clear()
    same = sync_now(api, settings, server.db, iid)
    assert (same["created"], same["updated"], same["unchanged"], same["events"]) == (0, 0, 6, 0)
    assert {name: r.updated_at for name, r in _repos(server, iid).items()} == stamps
    # Two conditional questions a repository (its latest pull request, its Dependabot
    # alerts): no pull request list, no review, no CODEOWNERS (repo-00005 has none: its
    # 404s carry no ETag and are not asked again while its listing entry stays the same).
    per_repo = Counter(r["path"].split("/")[3] for r in sim.requests if r["path"].count("/") > 3)
    assert per_repo == {f"repo-{i:05d}": 2 for i in range(1, 7)}, per_repo
    assert all(r["conditional"] and r["status"] == 304 for r in sim.requests), sim.requests
    # Changes that move no pushed_at (a pull request closed unmerged, a review) are seen
    # all the same, as are a merge (a push) and a CODEOWNERS file added (a push).
    pushed = {name: repo["pushed_at"] for name, repo in sim.repos.items()}
    sim.close_pr("repo-00003", 8)
    sim.review_pr("repo-00002", 2, user="late-reviewer")  # merged in the window
    sim.merge_pr("repo-00004", 4, approvals=1)
    sim.set_codeowners("repo-00005", "* @acme/new-owners\n")
    assert sim.repos["repo-00003"]["pushed_at"] == pushed["repo-00003"]
    assert sim.repos["repo-00002"]["pushed_at"] == pushed["repo-00002"]
    moved = sync_now(api, settings, server.db, iid)
    assert (moved["updated"], moved["unchanged"]) == (4, 2), moved
    repos = _repos(server, iid)
    closed = repos["repo-00003"].integration_data["pull_requests"]  # type: ignore[index]
    assert 8 in {p["number"] for p in closed["closed_items"]}
    merged = repos["repo-00002"].integration_data["pull_requests"]  # type: ignore[index]
    assert next(p for p in merged["merged_items"] if p["number"] == 2)["approvals"] == 3
    merged = repos["repo-00004"].integration_data["pull_requests"]  # type: ignore[index]
    assert 4 in {p["number"] for p in merged["merged_items"]}
    assert repos["repo-00005"].integration_data["codeowners"] == {  # type: ignore[index]
        "path": ".github/CODEOWNERS",
        "owners": ["@acme/new-owners"],
    }
    events = {(e["type"], e["attributes"]["repository"]) for e in _events(api)}
    assert events == {
        ("pull_request_closed", "acme/repo-00003"),
        ("pull_request_merged", "acme/repo-00004"),
    }
    again = sync_now(api, settings, server.db, iid)
    assert (again["updated"], again["unchanged"], again["events"]) == (0, 6, 0), again


def test_pull_request_events_follow_the_upstream(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: GitHubSimulator
) -> None:
    iid = _instance(api, sim)
    assert sync_now(api, settings, server.db, iid)["events"] == 0  # history is not news
    opened = sim.open_pr("repo-00002", "Add retries", author="octocat")
    sim.merge_pr("repo-00001", 4, approvals=2)  # an open one of the tenant
    sim.close_pr("repo-00003", 8)
    run = sync_now(api, settings, server.db, iid)
    assert run["status"] == "succeeded" and run["updated"] == 3, run
    events = {
        (e["type"], e["attributes"]["repository"], e["attributes"]["number"]) for e in _events(api)
    }
    assert events == {
        ("pull_request_opened", "acme/repo-00002", opened["number"]),
        ("pull_request_merged", "acme/repo-00001", 4),
        ("pull_request_closed", "acme/repo-00003", 8),
    }
    merged = next(e for e in _events(api) if e["type"] == "pull_request_merged")
    assert merged["attributes"]["approvals"] == 2
    assert merged["link_html"] == "https://github.com/acme/repo-00001/pull/4"
    assert sync_now(api, settings, server.db, iid)["events"] == 0


def test_faults_are_retried_and_a_partial_listing_removes_nothing(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: GitHubSimulator
) -> None:
    iid = _instance(api, sim)
    sim.fail_next, sim.rate_limit_next, sim.secondary_limit_next = 1, 1, 1
    sim.retry_after = "0"
    run = sync_now(api, settings, server.db, iid)
    assert run["status"] == "succeeded" and run["created"] == 6, run
    sim.truncate_next = 1  # the listing itself cut short
    sim.remove_repo("repo-00006")
    broken = sync_now(api, settings, server.db, iid)
    assert broken["status"] == "failed" and "not JSON" in broken["error"], broken
    assert _repos(server, iid)["repo-00006"].discovered is True
    healed = sync_now(api, settings, server.db, iid)
    assert healed["status"] == "succeeded" and healed["vanished"] == 1, healed


def test_dependabot_not_permitted_is_not_zero(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: GitHubSimulator
) -> None:
    sim.dependabot_forbidden = True
    iid = _instance(api, sim)
    assert sync_now(api, settings, server.db, iid)["status"] == "succeeded"
    for repo in _repos(server, iid).values():
        assert (repo.integration_data or {})["dependabot_alerts"] == {"status": "not_permitted"}


def test_refused_credentials_say_why_and_a_revoked_one_taints(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: GitHubSimulator
) -> None:
    iid = _instance(api, sim, authorize=False)
    url = f"/v1/integration-instances/{iid}/auth-credential"
    body = {
        "type": "multi_key_auth",
        "config": {"headers": [{"name": "authorization", "key": "ghp_wrong_token"}]},
    }
    bad = api.post(url, json=body)
    assert bad.status_code == 400 and "Bad credentials" in bad.json()["detail"], bad.text
    assert "ghp_wrong_token" not in bad.text
    sim.forbid_listing = True
    good = {**body, "config": {"headers": [{"name": "authorization", "key": TOKEN}]}}
    scope = api.post(url, json=good)
    assert scope.status_code == 400 and "not accessible" in scope.json()["detail"], scope.text
    assert "403" in scope.json()["detail"]
    sim.forbid_listing = False
    ok = api.post(url, json=good)
    assert ok.status_code == 201 and ok.json()["verified"] is True
    sim.reject_all = True
    run = sync_now(api, settings, server.db, iid)
    assert run["status"] == "failed" and "Bad credentials" in run["error"], run
    cred = api.get(url).json()
    assert cred["tainted"] is True
    state = api.get(f"/v1/integration-instances/{iid}/resource-ingestion").json()
    assert "auth-credential" in str(state), state


def test_unreachable_upstream_is_a_clear_reason(api: httpx.Client, sim: GitHubSimulator) -> None:
    iid = str(
        create_instance(
            api, "gh-down", integration="github", base_url="http://127.0.0.1:9", owner="acme"
        )["id"]
    )
    resp = api.post(
        f"/v1/integration-instances/{iid}/auth-credential",
        json={
            "type": "multi_key_auth",
            "config": {"headers": [{"name": "authorization", "key": TOKEN}]},
        },
    )
    assert (
        resp.status_code == 201 and resp.json()["verification_error"]["reason"] == "unreachable"
    ), resp.text


def test_a_github_app_installation_mints_and_refreshes_its_tokens(
    api: httpx.Client, server: LiveServer, settings: Settings, sim: GitHubSimulator
) -> None:
    iid = str(create_instance(api, "gh-app", integration="github", base_url=sim.url)["id"])
    url = f"/v1/integration-instances/{iid}/auth-credential"
    missing = api.post(
        url,
        json={
            "type": "github_app_installation",
            "config": {"installation_id": sim.installation_id, "code": "x"},
        },
    )
    assert missing.status_code == 400 and "app_id" in missing.text
    resp = api.post(
        url,
        json={
            "type": "github_app_installation",
            "config": {
                "installation_id": sim.installation_id,
                "app_id": sim.app_id,
                "private_key": sim.app_private_key,
            },
        },
    )
    assert resp.status_code == 201 and resp.json()["verified"] is True, resp.text
    assert "PRIVATE KEY" not in resp.text and resp.json()["config"]["app_id"] == sim.app_id
    first = sync_now(api, settings, server.db, iid)
    assert first["status"] == "succeeded" and first["created"] == 6, first
    sim.revoke_installation_tokens()  # a token GitHub no longer takes: a new one is minted
    sim.token_ttl = 60  # and one that expires within five minutes is refreshed each time
    sim.open_pr("repo-00001", "More")
    again = sync_now(api, settings, server.db, iid)
    assert again["status"] == "succeeded" and again["updated"] == 1, again
    mints = [r for r in sim.requests if r["method"] == "POST"]
    assert len(mints) >= 3

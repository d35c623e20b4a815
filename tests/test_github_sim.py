"""The GitHub simulator answers in GitHub's wire format: every answer the connector relies
on validates against the subset of github/rest-api-description kept in
tests/contracts/github/ (the operations and schemas the connector reads)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from contract import _to_jsonschema
from service_catalog.integrations.connectors.base import Credential, UpstreamHTTP
from service_catalog.integrations.connectors.github.client import GitHubClient
from service_catalog.testing.github_sim import GitHubSimulator

SUBSET = Path(__file__).parent / "contracts" / "github" / "github-rest-subset.json"
DOC = json.loads(SUBSET.read_text())
COMPONENTS = _to_jsonschema(copy.deepcopy(DOC["components"]))


def _validate(path: str, method: str, status: int, body: Any) -> None:
    op = DOC["paths"][path][method]
    content = op["responses"][str(status)]["content"]
    schema = _to_jsonschema(copy.deepcopy(content["application/json"]["schema"]))
    jsonschema.Draft4Validator({**schema, "components": COMPONENTS}).validate(body)


@pytest.fixture
def sim() -> Iterator[GitHubSimulator]:
    with GitHubSimulator(repos=3, prs_per_repo=8, token="ghp_contract") as simulator:
        yield simulator


def _get(sim: GitHubSimulator, path: str, token: str = "ghp_contract") -> httpx.Response:
    return httpx.get(sim.url + path, headers={"Authorization": f"Bearer {token}"})


def test_every_answer_the_connector_reads_matches_github_s_description(
    sim: GitHubSimulator,
) -> None:
    checks = [
        ("/orgs/acme/repos?per_page=100", "/orgs/{org}/repos"),
        ("/user/repos?per_page=2", "/user/repos"),
        ("/repos/acme/repo-00001/pulls?state=open&per_page=100", "/repos/{owner}/{repo}/pulls"),
        (
            "/repos/acme/repo-00001/pulls?state=closed&sort=updated&direction=desc",
            "/repos/{owner}/{repo}/pulls",
        ),
        (
            "/repos/acme/repo-00001/pulls/3/reviews?per_page=100",
            "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
        ),
        (
            "/repos/acme/repo-00001/contents/.github/CODEOWNERS",
            "/repos/{owner}/{repo}/contents/{path}",
        ),
        (
            "/repos/acme/repo-00003/dependabot/alerts?state=open",
            "/repos/{owner}/{repo}/dependabot/alerts",
        ),
    ]
    for url, path in checks:
        resp = _get(sim, url)
        assert resp.status_code == 200, (url, resp.text)
        assert resp.headers["etag"] and resp.headers["x-ratelimit-remaining"].isdigit()
        _validate(path, "get", 200, resp.json())
    assert _get(sim, "/repos/acme/repo-00003/dependabot/alerts").json(), "alerts listed"
    assert _get(sim, "/repos/acme/repo-00001/pulls/3/reviews").json(), "reviews listed"


def test_installation_token_and_installation_repositories(sim: GitHubSimulator) -> None:
    cred = Credential(
        type="github_app_installation",
        values={
            "installation_id": sim.installation_id,
            "app_id": sim.app_id,
            "private_key": sim.app_private_key,
        },
    )
    client = GitHubClient(UpstreamHTTP(), sim.url, cred)
    jwt = client.app_jwt(dt.datetime.now(dt.UTC))
    resp = httpx.post(
        f"{sim.url}/app/installations/{sim.installation_id}/access_tokens",
        headers={"Authorization": f"Bearer {jwt}"},
    )
    assert resp.status_code == 201, resp.text
    _validate("/app/installations/{installation_id}/access_tokens", "post", 201, resp.json())
    listed = _get(sim, "/installation/repositories?per_page=2", resp.json()["token"])
    assert listed.status_code == 200
    _validate("/installation/repositories", "get", 200, listed.json())
    assert 'rel="next"' in listed.headers["link"]


def test_conditional_requests_answer_304_and_cost_nothing(sim: GitHubSimulator) -> None:
    first = _get(sim, "/orgs/acme/repos")
    remaining = int(first.headers["x-ratelimit-remaining"])
    again = httpx.get(
        sim.url + "/orgs/acme/repos",
        headers={"Authorization": "Bearer ghp_contract", "If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304 and again.content == b""
    assert int(again.headers["x-ratelimit-remaining"]) == remaining
    sim.open_pr("repo-00001", "New")
    changed = httpx.get(
        sim.url + "/orgs/acme/repos",
        headers={"Authorization": "Bearer ghp_contract", "If-None-Match": first.headers["etag"]},
    )
    assert changed.status_code == 200 and changed.headers["etag"] != first.headers["etag"]


def test_faults_and_refusals(sim: GitHubSimulator) -> None:
    assert _get(sim, "/orgs/acme/repos", "wrong").status_code == 401
    ctl = httpx.post(sim.url + "/_sim/control", json={"secondary_limit_next": 1})
    assert ctl.status_code == 200
    limited = _get(sim, "/orgs/acme/repos")
    assert limited.status_code == 403 and limited.headers["retry-after"] == "1"
    sim.dependabot_forbidden = True
    assert _get(sim, "/repos/acme/repo-00001/dependabot/alerts").status_code == 403
    assert _get(sim, "/repos/acme/repo-00002/contents/CODEOWNERS").status_code == 404
    bad = httpx.post(sim.url + "/_sim/control", json={"nope": 1})
    assert bad.status_code == 400

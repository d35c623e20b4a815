"""A simulator of GitHub's REST API (the part the ``github`` connector reads): a real HTTP
server on loopback. Used by tests, benchmarks and the demo; never by production code.

It serves, in GitHub's wire format (``tests/contracts/github/github-rest-subset.json``,
taken from github/rest-api-description; a test validates every answer against it)::

    GET  /orgs/{org}/repos, /users/{user}/repos, /user/repos     minimal-repository / repository
    GET  /installation/repositories                              {total_count, repositories}
    POST /app/installations/{id}/access_tokens                   installation-token (App JWT)
    GET  /repos/{o}/{r}/pulls?state=open|closed|all&sort&direction
    GET  /repos/{o}/{r}/pulls/{n}/reviews
    GET  /repos/{o}/{r}/contents/{path}                          content-file, or 404
    GET  /repos/{o}/{r}/dependabot/alerts?state=open             dependabot-alert, or 403

with Link-header paging (``per_page`` up to 100, ``page``), ``ETag`` on every 200 and
``304 Not Modified`` for a matching ``If-None-Match`` (not counted against the limit),
``X-RateLimit-Limit/Remaining/Reset/Used`` headers, and ``Authorization: Bearer <token>``
(or ``token <token>``): the personal access token ``sim.token``, or an installation token
minted by ``POST /app/installations/{id}/access_tokens`` with an RS256 JWT signed by the
App's key (``sim.app_private_key``, PEM; ``sim.app_id``, ``sim.installation_id``).

Usage::

    with GitHubSimulator(repos=20, prs_per_repo=8, token="ghp_x") as sim:
        sim.url                                   # base_url of an instance
        sim.open_pr("repo-00001", "Add retries")
        sim.merge_pr("repo-00001", 3, approvals=2)  # moves the repository's pushed_at
        sim.review_pr("repo-00001", 2)              # moves only the PR's updated_at

Faults and controls (attributes; also settable with ``POST /_sim/control`` and a JSON
object of them): ``fail_next`` (n answers of ``fail_status``, 502), ``rate_limit_next``
(n 429s with ``Retry-After: retry_after``), ``secondary_limit_next`` (n 403s of GitHub's
secondary rate limit, with ``Retry-After``), ``truncate_next`` (n bodies cut short),
``reject_all`` (401 Bad credentials), ``forbid_listing`` (403 "Resource not accessible by
personal access token" on the listing: a missing scope), ``dependabot_forbidden`` (403 on
Dependabot alerts), ``token_ttl`` (seconds an installation token lives),
``revoke_installation_tokens()``, ``delay``. ``sim.requests``: one dict per answer
(``method``, ``path``, ``query``, ``status``, ``conditional``), never a header or token.

Run alone (benchmarks run it in its own process)::

    python -m service_catalog.testing.github_sim --repos 5000 --prs 20

prints one JSON line ``{"url": ..., "token": ..., "owner": ...}`` and serves until killed.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import secrets
import sys
import threading
import time
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from service_catalog.testing.serving import JSON_UTF8, Serving, SimHandler

LANGUAGES = ("Python", "Go", "TypeScript", "Java", "Rust", None)
SEVERITIES = ("critical", "high", "medium", "low")
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _ts(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GitHubSimulator(Serving):
    """GitHub's REST API for one owner on a loopback port; see the module docstring."""

    max_per_page = 100
    thread_name = "github-sim"

    def __init__(
        self,
        repos: int = 5,
        prs_per_repo: int = 6,
        token: str = "ghp_simtoken",
        *,
        owner: str = "acme",
        owner_type: str = "organization",
        now: dt.datetime | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        app: bool = True,
    ) -> None:
        self._lock = threading.Lock()
        self.owner = owner
        self.owner_type = owner_type
        self.token = token
        self.now = now or dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.repos: dict[str, dict[str, Any]] = {}
        self.pulls: dict[str, list[dict[str, Any]]] = {}
        self.reviews: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.files: dict[tuple[str, str], str] = {}
        self.alerts: dict[str, list[dict[str, Any]]] = {}
        self._cache: dict[str, tuple[bytes, str, str | None]] = {}
        self._next_id = 1
        for i in range(1, repos + 1):
            self.add_repo(f"repo-{i:05d}", prs=prs_per_repo, seed=i)
        # Faults and controls.
        self.fail_next = 0
        self.fail_status = 502
        self.rate_limit_next = 0
        self.secondary_limit_next = 0
        self.retry_after = "1"
        self.truncate_next = 0
        self.reject_all = False
        self.forbid_listing = False
        self.dependabot_forbidden = False
        self.delay = 0.0
        self.token_ttl = 3600
        self.rate_limit = 5000
        self.used = 0
        self.requests: list[dict[str, Any]] = []
        self.log_requests = True
        # The GitHub App.
        self.app_id = "123456"
        self.installation_id = "46952218"
        self.installation_tokens: dict[str, dt.datetime] = {}
        self.app_private_key = ""
        self._app_public: RSAKey | None = None
        if app:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.app_private_key = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()
            self._app_public = RSAKey.import_key(
                key.public_key()
                .public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                .decode()
            )
        self._serve_on(host, port)

    # --- the tenant --------------------------------------------------------------

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _touch(self) -> None:
        self._cache.clear()

    def _user(self, login: str, uid: int) -> dict[str, Any]:
        u = f"{self.url_or_placeholder}/users/{login}"
        return {
            "login": login,
            "id": uid,
            "node_id": f"U_{uid}",
            "avatar_url": f"https://avatars.example.com/u/{uid}",
            "gravatar_id": "",
            "url": u,
            "html_url": f"https://github.com/{login}",
            "followers_url": f"{u}/followers",
            "following_url": f"{u}/following{{/other_user}}",
            "gists_url": f"{u}/gists{{/gist_id}}",
            "starred_url": f"{u}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{u}/subscriptions",
            "organizations_url": f"{u}/orgs",
            "repos_url": f"{u}/repos",
            "events_url": f"{u}/events{{/privacy}}",
            "received_events_url": f"{u}/received_events",
            "type": "Organization" if login == self.owner else "User",
            "site_admin": False,
        }

    @property
    def url_or_placeholder(self) -> str:
        """The base URL (a fixed placeholder before the server runs)."""
        return self.url if self._server is not None else "http://127.0.0.1"

    def add_repo(self, name: str, *, prs: int = 0, seed: int = 1) -> dict[str, Any]:
        """Add a repository with ``prs`` pull requests (deterministic from ``seed``)."""
        with self._lock:
            rid = 1000 + seed
            created = EPOCH - dt.timedelta(days=400 + seed % 50)
            repo = {
                "id": rid,
                "name": name,
                "language": LANGUAGES[seed % len(LANGUAGES)],
                "topics": ["service", f"team-{seed % 7}"],
                "private": seed % 3 == 0,
                "visibility": "private" if seed % 3 == 0 else "public",
                "archived": seed % 17 == 0,
                "default_branch": "main" if seed % 4 else "master",
                "description": f"Repository {name}",
                "created_at": _ts(created),
                "pushed_at": _ts(self.now - dt.timedelta(hours=seed % 48)),
                "updated_at": _ts(self.now - dt.timedelta(days=seed % 9)),
            }
            self.repos[name] = repo
            self.pulls[name] = []
            if seed % 5:
                owners = f"* @{self.owner}/team-{seed % 7}\n/docs/ @writer{seed % 3}\n"
                self.files[(name, ".github/CODEOWNERS")] = owners
            self.alerts[name] = [
                {"severity": SEVERITIES[(seed + k) % 4], "package": f"lib{k}"}
                for k in range(seed % 4)
            ]
            self._touch()
        for j in range(1, prs + 1):
            age = dt.timedelta(days=j * 3 + seed % 3, hours=seed % 11)
            kind = j % 4
            pr = self._add_pr(name, f"Change {j} of {name}", self.now - age, author=f"dev{j % 5}")
            if kind == 1:
                self.close_pr(name, pr["number"], after=dt.timedelta(hours=5))
            elif kind in (2, 3):
                self.merge_pr(
                    name, pr["number"], approvals=j % 3, after=dt.timedelta(hours=6 + j % 30)
                )
        return repo

    def remove_repo(self, name: str) -> None:
        """Delete a repository."""
        with self._lock:
            self.repos.pop(name)
            self._touch()

    def _add_pr(self, repo: str, title: str, created: dt.datetime, author: str) -> dict[str, Any]:
        with self._lock:
            pulls = self.pulls[repo]
            pr = {
                "id": self._id(),
                "number": len(pulls) + 1,
                "title": title,
                "author": author,
                "state": "open",
                "created_at": _ts(created),
                "updated_at": _ts(created),
                "closed_at": None,
                "merged_at": None,
            }
            pulls.append(pr)
            self._touch()
            return pr

    def open_pr(self, repo: str, title: str, *, author: str = "octocat") -> dict[str, Any]:
        """Open a pull request now."""
        return self._add_pr(repo, title, dt.datetime.now(dt.UTC).replace(microsecond=0), author)

    def _pr(self, repo: str, number: int) -> dict[str, Any]:
        return self.pulls[repo][number - 1]

    def close_pr(self, repo: str, number: int, *, after: dt.timedelta | None = None) -> None:
        """Close a pull request without merging it (``after`` its creation, else now)."""
        with self._lock:
            pr = self._pr(repo, number)
            when = self._when(pr, after)
            pr.update(state="closed", closed_at=_ts(when), updated_at=_ts(when))
            self._touch()

    def merge_pr(
        self, repo: str, number: int, *, approvals: int = 1, after: dt.timedelta | None = None
    ) -> None:
        """Merge a pull request after ``approvals`` approving reviews (and a comment)."""
        with self._lock:
            pr = self._pr(repo, number)
            when = self._when(pr, after)
            created = dt.datetime.fromisoformat(pr["created_at"].replace("Z", "+00:00"))
            reviews = [{"state": "COMMENTED", "user": "bot", "at": created + (when - created) / 4}]
            reviews += [
                {"state": "APPROVED", "user": f"reviewer{k}", "at": created + (when - created) / 2}
                for k in range(approvals)
            ]
            self.reviews[(repo, number)] = reviews
            pr.update(
                state="closed", closed_at=_ts(when), merged_at=_ts(when), updated_at=_ts(when)
            )
            self._pushed(repo, when)  # a merge is a push to the base branch
            self._touch()

    def review_pr(
        self, repo: str, number: int, *, state: str = "APPROVED", user: str = "reviewer9"
    ) -> None:
        """Submit a review now: the pull request's ``updated_at`` moves, as on GitHub; the
        repository's ``pushed_at`` does not (nothing is pushed)."""
        with self._lock:
            pr = self._pr(repo, number)
            now = dt.datetime.now(dt.UTC).replace(microsecond=0)
            self.reviews.setdefault((repo, number), []).append(
                {"state": state, "user": user, "at": now}
            )
            pr["updated_at"] = _ts(now)
            self._touch()

    def _pushed(self, repo: str, when: dt.datetime) -> None:
        """A push to ``repo`` at ``when``: its ``pushed_at`` moves (never back)."""
        stamp = _ts(when)
        if stamp > self.repos[repo]["pushed_at"]:
            self.repos[repo]["pushed_at"] = stamp

    def _when(self, pr: dict[str, Any], after: dt.timedelta | None) -> dt.datetime:
        if after is None:
            return dt.datetime.now(dt.UTC).replace(microsecond=0)
        return dt.datetime.fromisoformat(pr["created_at"].replace("Z", "+00:00")) + after

    def set_codeowners(self, repo: str, text: str | None, path: str = ".github/CODEOWNERS") -> None:
        """Write (or, with None, delete) a CODEOWNERS file."""
        with self._lock:
            if text is None:
                self.files.pop((repo, path), None)
            else:
                self.files[(repo, path)] = text
            # A commit to the default branch: a push.
            self._pushed(repo, dt.datetime.now(dt.UTC).replace(microsecond=0))
            self._touch()

    def add_alert(self, repo: str, severity: str, package: str = "lodash") -> None:
        """Open a Dependabot alert."""
        with self._lock:
            self.alerts[repo].append({"severity": severity, "package": package})
            self._touch()

    def revoke_installation_tokens(self) -> None:
        """Every installation token minted so far is refused from now on."""
        with self._lock:
            self.installation_tokens.clear()

    # --- wire shapes ---------------------------------------------------------------

    def _repo_json(self, repo: dict[str, Any], full: bool) -> dict[str, Any]:
        base = self.url_or_placeholder
        full_name = f"{self.owner}/{repo['name']}"
        u = f"{base}/repos/{full_name}"
        out: dict[str, Any] = {
            "id": repo["id"],
            "node_id": f"R_{repo['id']}",
            "name": repo["name"],
            "full_name": full_name,
            "owner": self._user(self.owner, 1),
            "private": repo["private"],
            "html_url": f"https://github.com/{full_name}",
            "description": repo["description"],
            "fork": False,
            "url": u,
        }
        for key in (
            "archive_url", "assignees_url", "blobs_url", "branches_url", "collaborators_url",
            "comments_url", "commits_url", "compare_url", "contents_url", "contributors_url",
            "deployments_url", "downloads_url", "events_url", "forks_url", "git_commits_url",
            "git_refs_url", "git_tags_url", "hooks_url", "issue_comment_url",
            "issue_events_url", "issues_url", "keys_url", "labels_url", "languages_url",
            "merges_url", "milestones_url", "notifications_url", "pulls_url", "releases_url",
            "stargazers_url", "statuses_url", "subscribers_url", "subscription_url",
            "tags_url", "teams_url", "trees_url",
        ):  # fmt: skip
            out[key] = f"{u}/{key[:-4]}"
        open_prs = sum(1 for p in self.pulls[repo["name"]] if p["state"] == "open")
        out.update(
            {
                "language": repo["language"],
                "topics": repo["topics"],
                "visibility": repo["visibility"],
                "archived": repo["archived"],
                "disabled": False,
                "default_branch": repo["default_branch"],
                "open_issues_count": open_prs,
                "forks_count": 0,
                "stargazers_count": repo["id"] % 40,
                "watchers_count": repo["id"] % 40,
                "size": 100,
                "pushed_at": repo["pushed_at"],
                "created_at": repo["created_at"],
                "updated_at": repo["updated_at"],
            }
        )
        if full:
            out.update(
                {
                    "clone_url": f"https://github.com/{full_name}.git",
                    "git_url": f"git://github.com/{full_name}.git",
                    "ssh_url": f"git@github.com:{full_name}.git",
                    "svn_url": f"https://github.com/{full_name}",
                    "mirror_url": None,
                    "homepage": None,
                    "forks": 0,
                    "open_issues": open_prs,
                    "watchers": repo["id"] % 40,
                    "has_downloads": True,
                    "has_issues": True,
                    "has_projects": False,
                    "has_wiki": False,
                    "has_pages": False,
                    "license": None,
                }
            )
        return out

    def _pr_json(self, repo: dict[str, Any], pr: dict[str, Any]) -> dict[str, Any]:
        full_name = f"{self.owner}/{repo['name']}"
        u = f"{self.url_or_placeholder}/repos/{full_name}/pulls/{pr['number']}"
        html = f"https://github.com/{full_name}/pull/{pr['number']}"
        user = self._user(pr["author"], 10_000 + sum(map(ord, pr["author"])))
        repo_json = self._repo_json(repo, full=True)

        def ref(name: str) -> dict[str, Any]:
            return {
                "label": f"{self.owner}:{name}",
                "ref": name,
                "repo": repo_json,
                "sha": hashlib.sha1(f"{u}{name}".encode()).hexdigest(),
                "user": user,
            }

        return {
            "url": u,
            "id": pr["id"],
            "node_id": f"PR_{pr['id']}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": u.replace("/pulls/", "/issues/"),
            "commits_url": f"{u}/commits",
            "review_comments_url": f"{u}/comments",
            "review_comment_url": f"{u}/comments{{/number}}",
            "comments_url": u.replace("/pulls/", "/issues/") + "/comments",
            "statuses_url": f"{u}/statuses",
            "number": pr["number"],
            "state": pr["state"],
            "locked": False,
            "title": pr["title"],
            "user": user,
            "body": None,
            "labels": [],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": pr["created_at"],
            "updated_at": pr["updated_at"],
            "closed_at": pr["closed_at"],
            "merged_at": pr["merged_at"],
            "merge_commit_sha": None,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": ref(f"change-{pr['number']}"),
            "base": ref(repo["default_branch"]),
            "_links": {
                k: {"href": f"{u}/{k}"}
                for k in (
                    "comments",
                    "commits",
                    "statuses",
                    "html",
                    "issue",
                    "review_comments",
                    "review_comment",
                    "self",
                )
            },
            "author_association": "MEMBER",
            "auto_merge": None,
            "draft": False,
        }

    def _review_json(
        self, repo: str, number: int, k: int, review: dict[str, Any]
    ) -> dict[str, Any]:
        full_name = f"{self.owner}/{repo}"
        pr_url = f"{self.url_or_placeholder}/repos/{full_name}/pulls/{number}"
        rid = number * 100 + k
        html = f"https://github.com/{full_name}/pull/{number}#pullrequestreview-{rid}"
        return {
            "id": rid,
            "node_id": f"PRR_{rid}",
            "user": self._user(review["user"], 20_000 + k),
            "body": "",
            "state": review["state"],
            "html_url": html,
            "pull_request_url": pr_url,
            "_links": {"html": {"href": html}, "pull_request": {"href": pr_url}},
            "submitted_at": _ts(review["at"]),
            "commit_id": hashlib.sha1(f"{pr_url}{k}".encode()).hexdigest(),
            "author_association": "MEMBER",
        }

    def _alert_json(self, repo: str, n: int, alert: dict[str, Any]) -> dict[str, Any]:
        full_name = f"{self.owner}/{repo}"
        url = f"{self.url_or_placeholder}/repos/{full_name}/dependabot/alerts/{n}"
        package = {"ecosystem": "npm", "name": alert["package"]}
        vuln = {
            "package": package,
            "severity": alert["severity"],
            "vulnerable_version_range": "< 4.17.21",
            "first_patched_version": {"identifier": "4.17.21"},
        }
        return {
            "number": n,
            "state": "open",
            "dependency": {
                "package": package,
                "manifest_path": "package-lock.json",
                "scope": "runtime",
            },
            "security_advisory": {
                "ghsa_id": f"GHSA-{n:04d}-abcd-efgh",
                "cve_id": None,
                "summary": f"Vulnerability in {alert['package']}",
                "description": "A vulnerability.",
                "vulnerabilities": [vuln],
                "severity": alert["severity"],
                "cvss": {"vector_string": None, "score": 0},
                "cwes": [],
                "identifiers": [{"type": "GHSA", "value": f"GHSA-{n:04d}-abcd-efgh"}],
                "references": [],
                "published_at": _ts(EPOCH),
                "updated_at": _ts(EPOCH),
                "withdrawn_at": None,
            },
            "security_vulnerability": vuln,
            "url": url,
            "html_url": f"https://github.com/{full_name}/security/dependabot/{n}",
            "created_at": _ts(EPOCH),
            "updated_at": _ts(EPOCH),
            "dismissed_at": None,
            "dismissed_by": None,
            "dismissed_reason": None,
            "dismissed_comment": None,
            "fixed_at": None,
            "auto_dismissed_at": None,
        }

    # --- serving -------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving in a background thread."""
        self._bind()
        self._touch()  # bodies name the server's URL
        return super().start()

    def _limit_headers(self, counted: bool) -> dict[str, str]:
        with self._lock:
            if counted:
                self.used += 1
            used = self.used
        reset = int(time.time()) + 3600
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - used)),
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Used": str(used),
            "X-RateLimit-Resource": "core",
        }

    def _authorized(self, authorization: str | None) -> bool:
        if self.reject_all or not authorization:
            return False
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return False
        if value == self.token:
            return True
        with self._lock:
            expires = self.installation_tokens.get(value)
        return expires is not None and expires > dt.datetime.now(dt.UTC)

    def _fault(self) -> tuple[int, dict[str, str], bytes] | None:
        if self._take("rate_limit_next"):
            return 429, {"Retry-After": self.retry_after}, _msg("API rate limit exceeded")
        if self._take("secondary_limit_next"):
            return (
                403,
                {"Retry-After": self.retry_after},
                _msg("You have exceeded a secondary rate limit. Please wait a few minutes."),
            )
        if self._take("fail_next"):
            return self.fail_status, {}, _msg("Server Error")
        return None

    def _answer(
        self, method: str, target: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(target)
        path = unquote(parts.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if self.delay:
            time.sleep(self.delay)
        if path == "/_sim/control" and method == "POST":
            return self._control(body)
        fault = self._fault()
        if fault is not None:
            return fault
        if method == "POST" and path.startswith("/app/installations/"):
            return self._mint(path, headers.get("Authorization"))
        if not self._authorized(headers.get("Authorization")):
            return 401, {}, _msg("Bad credentials")
        if method != "GET":
            return 404, {}, _msg("Not Found")
        answer = self._get(path, query)
        if answer is None:
            return 404, self._limit_headers(True), _msg("Not Found")
        status, content, etag, link = answer
        if status != 200:
            return status, self._limit_headers(True), content
        if headers.get("If-None-Match") == etag:
            out = {"ETag": etag, **self._limit_headers(False)}
            return 304, out, b""
        out = {"ETag": etag, **self._limit_headers(True)}
        if link:
            out["Link"] = link
        if self._take("truncate_next"):
            content = content[: max(1, len(content) // 2)]
        return 200, out, content

    def _control(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        try:
            settings = json.loads(body or b"{}")
        except ValueError:
            return 400, {}, _msg("body must be a JSON object")
        allowed = {
            "fail_next", "fail_status", "rate_limit_next", "secondary_limit_next",
            "retry_after", "truncate_next", "reject_all", "forbid_listing",
            "dependabot_forbidden", "delay", "token_ttl",
        }  # fmt: skip
        if self._set_controls(settings, allowed) is not None:
            return 400, {}, _msg(f"settable: {', '.join(sorted(allowed))}")
        return 200, {}, orjson.dumps({k: getattr(self, k) for k in sorted(allowed)})

    def _mint(self, path: str, authorization: str | None) -> tuple[int, dict[str, str], bytes]:
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[3] != "access_tokens" or self._app_public is None:
            return 404, {}, _msg("Not Found")
        token = (authorization or "").partition(" ")[2]
        try:
            claims = jwt.decode(token, self._app_public, algorithms=["RS256"]).claims
        except (JoseError, ValueError):
            return 401, {}, _msg("A JSON web token could not be decoded")
        now = time.time()
        if str(claims.get("iss")) != self.app_id or not (
            claims.get("iat", now + 1) <= now + 60 < claims.get("exp", 0) + 60
        ):
            return 401, {}, _msg("'Issuer' claim ('iss') must be the App's id, and the JWT live")
        if claims["exp"] - claims["iat"] > 600:
            return 401, {}, _msg("'Expiration time' claim ('exp') is too far in the future")
        if parts[2] != self.installation_id:
            return 404, {}, _msg("Not Found")
        minted = "ghs_" + secrets.token_hex(18)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.token_ttl)
        with self._lock:
            self.installation_tokens[minted] = expires
        body = {
            "token": minted,
            "expires_at": _ts(expires),
            "permissions": {"metadata": "read", "pull_requests": "read", "contents": "read"},
            "repository_selection": "all",
        }
        return 201, {}, orjson.dumps(body)

    def _page(
        self, path: str, query: dict[str, str], items: list[Any], wrap: str | None = None
    ) -> tuple[int, bytes, str, str | None] | None:
        try:
            per_page = min(self.max_per_page, max(1, int(query.get("per_page", "30"))))
            page = max(1, int(query.get("page", "1")))
        except ValueError:
            return 422, _msg("per_page and page must be integers"), "", None
        start = (page - 1) * per_page
        chunk = items[start : start + per_page]
        last = max(1, -(-len(items) // per_page))
        link = None
        if page < last:
            rest = "&".join(f"{k}={v}" for k, v in query.items() if k != "page")
            base = f"{self.url}{path}?{rest}&page="
            link = f'<{base}{page + 1}>; rel="next", <{base}{last}>; rel="last"'
        content = orjson.dumps({"total_count": len(items), wrap: chunk} if wrap else chunk)
        return (
            200,
            content,
            'W/"' + hashlib.blake2b(content, digest_size=16).hexdigest() + '"',
            link,
        )

    def _get(self, path: str, query: dict[str, str]) -> tuple[int, bytes, str, str | None] | None:
        cache_key = f"{path}?{sorted(query.items())}"
        cached = self._cache.get(cache_key)
        if cached is not None:
            return 200, cached[0], cached[1], cached[2]
        answer = self._render(path, query)
        if answer is not None and answer[0] == 200:
            self._cache[cache_key] = (answer[1], answer[2], answer[3])
        return answer

    def _render(
        self, path: str, query: dict[str, str]
    ) -> tuple[int, bytes, str, str | None] | None:
        seg = path.strip("/").split("/")
        listing = (
            (seg == ["orgs", self.owner, "repos"] and self.owner_type == "organization")
            or (seg == ["users", self.owner, "repos"] and self.owner_type == "user")
            or seg == ["user", "repos"]
            or seg == ["installation", "repositories"]
        )
        if listing:
            if self.forbid_listing:
                return 403, _msg("Resource not accessible by personal access token"), "", None
            full = seg[0] in ("user", "installation")
            repos = [self._repo_json(r, full) for r in self.repos.values()]
            return self._page(
                path, query, repos, "repositories" if seg[0] == "installation" else None
            )
        if len(seg) < 4 or seg[0] != "repos" or seg[1] != self.owner or seg[2] not in self.repos:
            return None
        repo = self.repos[seg[2]]
        rest = seg[3:]
        if rest == ["pulls"]:
            state = query.get("state", "open")
            prs = [p for p in self.pulls[repo["name"]] if state == "all" or p["state"] == state]
            key = "updated_at" if query.get("sort") == "updated" else "created_at"
            desc = query.get("direction", "desc") == "desc"
            prs.sort(key=lambda p: (p[key], p["number"]), reverse=desc)
            return self._page(path, query, [self._pr_json(repo, p) for p in prs])
        if len(rest) == 3 and rest[0] == "pulls" and rest[2] == "reviews" and rest[1].isdigit():
            reviews = self.reviews.get((repo["name"], int(rest[1])), [])
            items = [
                self._review_json(repo["name"], int(rest[1]), k, r) for k, r in enumerate(reviews)
            ]
            return self._page(path, query, items)
        if rest and rest[0] == "contents":
            file_path = "/".join(rest[1:])
            text = self.files.get((repo["name"], file_path))
            if text is None:
                return None
            return self._page_one(self._content_json(repo["name"], file_path, text))
        if rest == ["dependabot", "alerts"]:
            if self.dependabot_forbidden:
                return 403, _msg("Resource not accessible by personal access token"), "", None
            alerts = [
                self._alert_json(repo["name"], n + 1, a)
                for n, a in enumerate(self.alerts[repo["name"]])
            ]
            return self._page(path, query, alerts)
        return None

    def _page_one(self, item: dict[str, Any]) -> tuple[int, bytes, str, str | None]:
        content = orjson.dumps(item)
        return 200, content, '"' + hashlib.blake2b(content, digest_size=16).hexdigest() + '"', None

    def _content_json(self, repo: str, path: str, text: str) -> dict[str, Any]:
        full_name = f"{self.owner}/{repo}"
        url = f"{self.url_or_placeholder}/repos/{full_name}/contents/{path}"
        sha = hashlib.sha1(text.encode()).hexdigest()
        html = f"https://github.com/{full_name}/blob/main/{path}"
        git = f"{self.url_or_placeholder}/repos/{full_name}/git/blobs/{sha}"
        return {
            "type": "file",
            "encoding": "base64",
            "size": len(text.encode()),
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "content": base64.b64encode(text.encode()).decode(),
            "sha": sha,
            "url": url,
            "git_url": git,
            "html_url": html,
            "download_url": f"https://raw.githubusercontent.com/{full_name}/main/{path}",
            "_links": {"git": git, "self": url, "html": html},
        }


def _msg(message: str) -> bytes:
    return orjson.dumps(
        {"message": message, "documentation_url": "https://docs.github.com/rest", "status": "0"}
    )


class _Handler(SimHandler):
    """Keep-alive HTTP/1.1 handler delegating to its simulator."""

    simulator: GitHubSimulator
    server_version = "GitHubSim/1.0"

    def _handle(self) -> None:
        sim = self.simulator
        status, headers, content = sim._answer(self.command, self.path, self.headers, self._body())
        if sim.log_requests:
            parts = urlsplit(self.path)
            entry = {
                "method": self.command,
                "path": unquote(parts.path),
                "query": parts.query,
                "status": status,
                "conditional": "If-None-Match" in self.headers,
            }
            with sim._lock:
                sim.requests.append(entry)
        self._reply(status, content, headers, None if status == 304 else JSON_UTF8)

    do_GET = _handle
    do_POST = _handle


GitHubSimulator.handler = _Handler


def main(argv: list[str] | None = None) -> None:
    """Serve a simulated owner until killed; print its URL and token as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m service_catalog.testing.github_sim")
    parser.add_argument("--repos", type=int, default=100)
    parser.add_argument("--prs", type=int, default=20)
    parser.add_argument("--token", default="ghp_simtoken")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate-limit", type=int, default=5000, help="requests an hour")
    args = parser.parse_args(argv)
    sim = GitHubSimulator(args.repos, args.prs, args.token, port=args.port, app=False)
    sim.log_requests = False
    sim.rate_limit = args.rate_limit
    with sim:
        print(json.dumps({"url": sim.url, "token": sim.token, "owner": sim.owner}), flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1:])

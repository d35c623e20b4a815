"""The GitHub connector: repositories (one resource each), with a bounded summary of
their pull requests, CODEOWNERS and open Dependabot alerts.

Discovery walks the repository listing (Link-header paging, ``per_page=100``) and, per
repository, its open pull requests, its pull requests closed in the window (sorted by
update, newest first, read until one is older than the window), the reviews of those
merged in the window, its CODEOWNERS file and its open Dependabot alerts.

**Conditional re-sync.** The connector ``keeps_state``: the ETag of every answer a record
was built from, the chain of pages each listing had, and the listing pages' repository
summaries. A later sync asks again with ``If-None-Match`` (a 304 does not count against
GitHub's rate limit); when nothing behind a repository changed, the repository's batch is
lazy: its ``source_digest`` (those ETags, the repository summary, the day and the config)
equals the one the engine remembers, so the engine skips it without reading its records.
Only if the engine does read them (its stored resource was changed meanwhile) are the
bodies fetched again. Per repository an unchanged re-sync asks two questions:

- **Pull requests**: one conditional GET of the repository's most recently updated pull
  request (``state=all&sort=updated&direction=desc&per_page=1``). Anything that changes a
  pull request - opened, closed, merged, reviewed, commented, edited, new commits - sets its
  ``updated_at`` to now and so puts it first in that list: a 304 there means no pull
  request of the repository changed, and the open and closed lists (and the reviews) are
  not asked. This is what makes the re-sync cheap; the repository's listing entry could
  not: GitHub's ``pushed_at`` moves on a push to any branch (a merge is a push to the
  base branch), but a pull request closed without merging, a new review or a new
  Dependabot alert moves neither ``pushed_at`` nor ``updated_at`` (the repository
  object's own edits: description, topics, settings).
- **Dependabot alerts**: one conditional GET of the open alerts (a new advisory opens an
  alert without anything else in the repository changing).

CODEOWNERS is a file of the default branch, so it can only change by a push: its answer
(the file, or "none" - GitHub's 404s carry no ETag to ask with) is remembered with the
repository's listing entry (``pushed_at``, default branch...) it was read under, and asked
again only when that entry changes. The day is part of the digest because the window and
staleness move with time: every repository is rebuilt from scratch once a day, the safety
net for anything a 304 cannot show.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import msgspec
import orjson

from service_catalog.integrations.connectors.base import (
    Connector,
    ConnectorError,
    Credential,
    EventRecord,
    LazyBatch,
    RecordBatch,
    ResourceRecord,
    UpstreamHTTP,
    VerifyResult,
)
from service_catalog.integrations.connectors.github.client import GitHubClient
from service_catalog.integrations.connectors.github.config import GitHubConfig
from service_catalog.integrations.connectors.github.data import (
    CODEOWNERS_PATHS,
    PULLS,
    REVIEWS,
    codeowners_owners,
    dependabot_summary,
    diff_events,
    parse_time,
    pull_request_summary,
    repo_summary,
    repository_record,
)

PER_PAGE = 100
MAX_PAGES = 10_000  # a guard against a Link chain that never ends
#: A state entry's kinds: ETag of a URL, next page of a URL, a listing page's repos,
#: a repository's CODEOWNERS path ("-": none), a repository's Dependabot marker, the
#: digest of the listing entry its CODEOWNERS answer was read under.
ETAG, NEXT, LISTED, OWNERS, ALERTS, ENTRY = "e ", "n ", "l ", "c ", "d ", "p "

Known = list[tuple[str, str]]


class GitHubConnector(Connector):
    """Polls GitHub's REST API (github.com or GitHub Enterprise Server)."""

    integration_name: ClassVar[str] = "github"
    derives_events: ClassVar[bool] = True
    keeps_state: ClassVar[bool] = True
    records_version: ClassVar[int] = 1

    def __init__(
        self,
        *,
        config: Mapping[str, Any],
        credential: Credential | None,
        http: UpstreamHTTP | None = None,
    ) -> None:
        super().__init__(config=config, credential=credential, http=http)
        self.settings = GitHubConfig.model_validate(
            {k: v for k, v in self.config.items() if k in GitHubConfig.model_fields}
        )
        self.client = GitHubClient(self.http, self.settings.base_url, credential)
        self.now = dt.datetime.now(dt.UTC)
        self._next: dict[str, str] = {}
        self._prefix = orjson.dumps(
            [self.now.date().isoformat(), self.settings.window_days, self.settings.stale_days]
        )

    # --- the contract ----------------------------------------------------------------

    def listing_path(self, per_page: int = PER_PAGE) -> str:
        """The repository listing this instance reads."""
        owner = self.settings.owner
        if owner:
            kind = "orgs" if self.settings.owner_type == "organization" else "users"
            return f"/{kind}/{quote(owner, safe='')}/repos?per_page={per_page}"
        if self.client.is_app:
            return f"/installation/repositories?per_page={per_page}"
        return f"/user/repos?per_page={per_page}"

    def verify(self) -> VerifyResult:
        """The first repository of the listing: 200 accepted; 401/403 rejected (a 403
        names the missing permission as GitHub says it); 404 rejected (no such owner
        visible to the credential)."""
        try:
            answer = self.client.get(self.listing_path(per_page=1))
        except ConnectorError as exc:
            if exc.kind == "auth":
                return VerifyResult("rejected", exc.message)
            return VerifyResult("unreachable", exc.message)
        if answer.status == 404:
            return VerifyResult("rejected", self._no_owner())
        return VerifyResult("accepted")

    def discover(self) -> Iterator[list[ResourceRecord]]:
        """One batch per repository, in listing order."""
        key: str | None = self.listing_path()
        pages = 0
        while key is not None:
            pages += 1
            if pages > MAX_PAGES:
                raise ConnectorError("malformed", "GitHub kept listing pages past the guard")
            repos, key = self._listing_page(key)
            for summary in repos:
                yield self._repository(summary)

    def diff_events(
        self, before: dict[str, Any] | None, after: ResourceRecord
    ) -> list[EventRecord]:
        """Pull requests opened, merged, closed (see :func:`.data.diff_events`)."""
        return diff_events(before, after)

    def next_state(self) -> dict[str, str]:
        """The ETags, page chains and listing summaries this sync met."""
        return dict(self._next)

    # --- the listing -----------------------------------------------------------------

    def _no_owner(self) -> str:
        kind = "organization" if self.settings.owner_type == "organization" else "user"
        return (
            f"GitHub knows no {kind} {self.settings.owner!r} that this credential can see "
            "(HTTP 404)"
        )

    def _listing_page(self, key: str) -> tuple[list[dict[str, Any]], str | None]:
        """A listing page's repository summaries and the next page's key."""
        etag = self.state.get(ETAG + key)
        remembered = self.state.get(LISTED + key)
        answer = self.client.get(key, etag=etag if remembered is not None else None)
        if answer.status == 404:
            raise ConnectorError(
                "config", self._no_owner(), remediation="Fix config.owner and owner_type."
            )
        if answer.status == 304 and remembered is not None:
            page = orjson.loads(remembered)
            repos, nxt = page["repos"], page["next"]
        else:
            body = answer.body
            items = body.get("repositories") if isinstance(body, dict) else body
            if not isinstance(items, list):
                raise ConnectorError("malformed", "GitHub's repository listing is not a list")
            repos = [repo_summary(r) for r in items if isinstance(r, dict)]
            for r in repos:
                if not isinstance(r["name"], str) or not isinstance(r["owner"], str):
                    raise ConnectorError("malformed", "A listed repository has no name or owner")
            nxt = self.client.key(answer.next_url) if answer.next_url else None
        if answer.etag:
            self._next[ETAG + key] = answer.etag
            self._next[LISTED + key] = orjson.dumps({"repos": repos, "next": nxt}).decode()
        return repos, nxt

    # --- one repository --------------------------------------------------------------

    def _paths(self, summary: Mapping[str, Any]) -> dict[str, str]:
        base = f"/repos/{quote(summary['owner'], safe='')}/{quote(summary['name'], safe='')}"
        return {
            "base": base,
            "latest": f"{base}/pulls?state=all&sort=updated&direction=desc&per_page=1",
            "open": f"{base}/pulls?state=open&per_page={PER_PAGE}",
            "closed": f"{base}/pulls?state=closed&sort=updated&direction=desc&per_page={PER_PAGE}",
            "alerts": f"{base}/dependabot/alerts?state=open&per_page={PER_PAGE}",
        }

    def _digest(self, summary: Mapping[str, Any], known: Known) -> bytes:
        h = hashlib.blake2b(self._prefix, digest_size=16)
        h.update(orjson.dumps(summary, option=orjson.OPT_SORT_KEYS))
        h.update(orjson.dumps(known))
        return h.digest()

    def _repository(self, summary: dict[str, Any]) -> RecordBatch:
        known = self._unchanged(summary)
        if known is not None:
            self._keep(summary, known)
            return LazyBatch(lambda: [self._full(summary)[0]], self._digest(summary, known))
        record, known = self._full(summary)
        batch = RecordBatch([record])
        batch.source_digest = self._digest(summary, known)
        return batch

    def _keep(self, summary: Mapping[str, Any], known: Known) -> None:
        """Carry a repository's state over to the next sync as it was."""
        rid = self._paths(summary)["base"]
        for key, marker in known:
            if key.startswith("/"):
                self._next[ETAG + key] = marker
                if NEXT + key in self.state:
                    self._next[NEXT + key] = self.state[NEXT + key]
        for kind in (OWNERS, ALERTS, ENTRY):
            if kind + rid in self.state:
                self._next[kind + rid] = self.state[kind + rid]

    def _unchanged_chain(self, first: str, allow: tuple[int, ...] = ()) -> Known | None:
        """The ETags of a remembered page chain when every page answers 304; else None
        (also for an ``allow``ed status: the full read that follows judges it)."""
        return self._remembered_chain(first, check=allow)

    def _remembered_chain(self, first: str, check: tuple[int, ...] | None = None) -> Known | None:
        """The ETags of a remembered page chain, as the state has them (no request); with
        ``check`` (the statuses allowed), only when every page answers 304."""
        out: Known = []
        key: str | None = first
        while key is not None:
            etag = self.state.get(ETAG + key)
            if etag is None:
                return None
            if check is not None and self.client.get(key, etag=etag, allow=check).status != 304:
                return None
            out.append((key, etag))
            key = self.state.get(NEXT + key)
        return out

    @staticmethod
    def _entry(summary: Mapping[str, Any]) -> str:
        """A repository's listing entry as a short digest (``pushed_at`` is part of it)."""
        blob = orjson.dumps(summary, option=orjson.OPT_SORT_KEYS)
        return hashlib.blake2b(blob, digest_size=12).hexdigest()

    def _unchanged(self, summary: Mapping[str, Any]) -> Known | None:
        """What the repository's record was built from, when GitHub says none of it
        changed; None when something changed or was never seen. Asks the latest pull
        request and the Dependabot alerts conditionally, CODEOWNERS only when the
        repository's listing entry moved (see the module docstring)."""
        if not self.state:
            return None
        paths = self._paths(summary)
        base = paths["base"]
        latest = self.state.get(ETAG + paths["latest"])
        owners = self.state.get(OWNERS + base)
        if latest is None or owners is None:
            return None
        if self.client.get(paths["latest"], etag=latest).status != 304:
            return None
        known: Known = [(paths["latest"], latest)]
        for name in ("open", "closed"):
            chain = self._remembered_chain(paths[name])
            if chain is None:
                return None
            known += chain
        owned = self._unchanged_codeowners(summary, base, owners)
        if owned is None:
            return None
        known += owned
        alerts = self._unchanged_alerts(base, paths["alerts"])
        if alerts is None:
            return None
        known += alerts
        return known

    def _unchanged_codeowners(
        self, summary: Mapping[str, Any], base: str, owners: str
    ) -> Known | None:
        """The remembered CODEOWNERS answer, without a request while the repository's
        listing entry is the one it was read under; asked again (conditionally when it
        was a file) when the entry moved. None when it changed."""
        entry = self._entry(summary)
        same_entry = self.state.get(ENTRY + base) == entry
        known: Known | None
        if owners == "-":
            if not same_entry:
                for path in CODEOWNERS_PATHS:
                    if self.client.get(f"{base}/contents/{path}").status != 404:
                        return None
            known = [("codeowners", "-")]
        elif same_entry:
            known = self._remembered_chain(owners)
        else:
            known = self._unchanged_chain(owners)
        if known is not None:
            self._next[ENTRY + base] = entry
        return known

    def _unchanged_alerts(self, base: str, alerts: str) -> Known | None:
        """The Dependabot alerts' ETags when a conditional request says they did not
        change (or a 403 again when they were not permitted); else None."""
        if self.state.get(ALERTS + base) == "403":
            if self.client.get(alerts, allow=(403,)).status != 403:
                return None
            return [("dependabot", "403")]
        # a 403 now: the credential lost the right to read alerts (not a bad one)
        return self._unchanged_chain(alerts, allow=(403,))

    def _pages(
        self,
        first: str,
        known: Known,
        stop: Callable[[list[Any]], bool] | None = None,
        *,
        forbidden: bool = False,
        remember: bool = True,
        shape: msgspec.json.Decoder[Any] | None = None,
    ) -> list[dict[str, Any]] | None:
        """Every item of a paged list (until ``stop`` says a page is the last needed),
        remembering each page's ETag and next page. ``forbidden``: a 403 of the first
        page means "not permitted" (None), not a bad credential; ``remember=False``: a
        list whose ETags the next sync does not ask with (reviews)."""
        items: list[dict[str, Any]] = []
        key: str | None = first
        while key is not None:
            answer = self.client.get(
                key, allow=(403,) if forbidden and key == first else (), shape=shape
            )
            if answer.status == 403:
                return None
            if answer.status == 404:
                return items
            if not isinstance(answer.body, list):
                raise ConnectorError("malformed", f"GitHub's {key.split('?')[0]} is not a list")
            page = [i for i in answer.body if isinstance(i, dict)]
            items += page
            nxt = self.client.key(answer.next_url) if answer.next_url else None
            if stop is not None and stop(page):
                nxt = None
            known.append((key, answer.etag or ""))
            if remember and answer.etag:
                self._next[ETAG + key] = answer.etag
            if remember and nxt:
                self._next[NEXT + key] = nxt
            key = nxt
        return items

    def _full(self, summary: dict[str, Any]) -> tuple[ResourceRecord, Known]:
        """Fetch everything a repository's record is built from (no conditions)."""
        paths = self._paths(summary)
        known: Known = []
        window_start = self.now - dt.timedelta(days=self.settings.window_days)

        def past_window(page: list[Any]) -> bool:
            last = parse_time(page[-1].get("updated_at")) if page else None
            return last is None or last < window_start

        # First, so that a change made while the lists are read shows next time.
        latest = self.client.get(paths["latest"], shape=PULLS)
        known.append((paths["latest"], latest.etag or ""))
        if latest.etag:
            self._next[ETAG + paths["latest"]] = latest.etag
        open_prs = self._pages(paths["open"], known, shape=PULLS) or []
        closed_prs = self._pages(paths["closed"], known, stop=past_window, shape=PULLS) or []
        reviews: dict[int, list[dict[str, Any]]] = {}
        for pr in closed_prs:
            merged = parse_time(pr.get("merged_at"))
            if merged is not None and merged >= window_start and isinstance(pr.get("number"), int):
                number = pr["number"]
                reviews[number] = (
                    self._pages(
                        f"{paths['base']}/pulls/{number}/reviews?per_page={PER_PAGE}",
                        [],
                        remember=False,
                        shape=REVIEWS,
                    )
                    or []
                )
        codeowners = self._codeowners(paths["base"], known)
        self._next[ENTRY + paths["base"]] = self._entry(summary)
        alerts = self._pages(paths["alerts"], known, forbidden=True)
        if alerts is None:
            known.append(("dependabot", "403"))
            self._next[ALERTS + paths["base"]] = "403"
        prs = pull_request_summary(
            open_prs=open_prs,
            closed_prs=closed_prs,
            reviews=reviews,
            now=self.now,
            window_days=self.settings.window_days,
            stale_days=self.settings.stale_days,
        )
        record = repository_record(
            summary,
            pull_requests=prs,
            codeowners=codeowners,
            dependabot=dependabot_summary(alerts),
        )
        return record, known

    def _codeowners(self, base: str, known: Known) -> tuple[str, list[str]] | None:
        for path in CODEOWNERS_PATHS:
            key = f"{base}/contents/{path}"
            answer = self.client.get(key)
            if answer.status == 200 and isinstance(answer.body, dict):
                known.append((key, answer.etag or ""))
                if answer.etag:
                    self._next[ETAG + key] = answer.etag
                self._next[OWNERS + base] = key
                return path, codeowners_owners(answer.body)
        known.append(("codeowners", "-"))
        self._next[OWNERS + base] = "-"
        return None

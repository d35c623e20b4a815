"""What a GitHub repository resource holds (``integration_data``) and the events a change
in it means: pull request opened, merged, closed."""

from __future__ import annotations

import base64
import datetime as dt
import statistics
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

import msgspec

from service_catalog.integrations.connectors.base import EventRecord, ResourceRecord

RESOURCE_TYPE = "github_repository"
EVENT_PR_OPENED = "pull_request_opened"
EVENT_PR_MERGED = "pull_request_merged"
EVENT_PR_CLOSED = "pull_request_closed"
#: At most this many pull requests of each list are kept in a resource (newest first).
LISTED = 50
#: Where GitHub looks for CODEOWNERS, in its order.
CODEOWNERS_PATHS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
SEVERITIES = ("critical", "high", "medium", "low")


class _Login(TypedDict, total=False):
    login: Any


class PullRequest(TypedDict, total=False):
    """The fields of a pull request the connector reads (GitHub's pull request object is
    ~14 KB, most of it the head and base repositories, never read)."""

    number: Any
    title: Any
    user: _Login
    state: Any
    created_at: Any
    updated_at: Any
    closed_at: Any
    merged_at: Any
    html_url: Any


class Review(TypedDict, total=False):
    """The fields of a pull request review the connector reads."""

    state: Any
    user: _Login
    submitted_at: Any


#: Decoders of a page of pull requests and of reviews into only those fields: msgspec
#: skips the rest while parsing (about 3x faster than decoding everything with orjson,
#: and nothing else is kept). A page whose shape they refuse (a field of another type)
#: is decoded in full instead (:meth:`.client.GitHubClient.get`).
PULLS = msgspec.json.Decoder(list[PullRequest])
REVIEWS = msgspec.json.Decoder(list[Review])


def parse_time(value: Any) -> dt.datetime | None:
    """An ISO 8601 time of GitHub's (``...Z``), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _hours(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds() / 3600, 2)


def _median(values: Iterable[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return round(statistics.median(got), 2) if got else None


def repo_summary(repo: Mapping[str, Any]) -> dict[str, Any]:
    """What the connector keeps of a repository listing's item."""
    owner = repo.get("owner") if isinstance(repo.get("owner"), dict) else {}
    return {
        "id": repo.get("id"),
        "name": repo.get("name"),
        "full_name": repo.get("full_name"),
        "owner": (owner or {}).get("login"),
        "html_url": repo.get("html_url"),
        "description": repo.get("description"),
        "default_branch": repo.get("default_branch"),
        "language": repo.get("language"),
        "topics": list(repo.get("topics") or []),
        "visibility": repo.get("visibility") or ("private" if repo.get("private") else "public"),
        "archived": bool(repo.get("archived")),
        "fork": bool(repo.get("fork")),
        "pushed_at": repo.get("pushed_at"),
    }


def codeowners_owners(content: Mapping[str, Any] | None) -> list[str]:
    """The owners (``@user``, ``@org/team``, e-mail) a CODEOWNERS file names, in order."""
    if not content:
        return []
    raw = content.get("content") or ""
    try:
        text = base64.b64decode(str(raw)).decode("utf-8", "replace")
    except ValueError:
        return []
    owners: list[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        for token in line.split()[1:]:
            if (token.startswith("@") or "@" in token) and token not in owners:
                owners.append(token)
    return owners


def approvals(reviews: list[dict[str, Any]]) -> tuple[int, dt.datetime | None]:
    """(distinct approving reviewers, when the first approval came)."""
    approvers: set[Any] = set()
    first: dt.datetime | None = None
    for review in reviews:
        if review.get("state") != "APPROVED":
            continue
        user = review.get("user") or {}
        approvers.add(user.get("login") if isinstance(user, dict) else None)
        when = parse_time(review.get("submitted_at"))
        if when is not None and (first is None or when < first):
            first = when
    return len(approvers), first


def _login(pr: Mapping[str, Any]) -> str | None:
    user = pr.get("user")
    return user.get("login") if isinstance(user, dict) else None


def pull_request_summary(
    *,
    open_prs: list[dict[str, Any]],
    closed_prs: list[dict[str, Any]],
    reviews: Mapping[int, list[dict[str, Any]]],
    now: dt.datetime,
    window_days: int,
    stale_days: int,
) -> dict[str, Any]:
    """The bounded pull request summary of one repository."""
    window_start = now - dt.timedelta(days=window_days)
    stale_before = now - dt.timedelta(days=stale_days)
    opened = sorted(open_prs, key=lambda p: str(p.get("created_at")), reverse=True)
    stale = [p for p in opened if (parse_time(p.get("created_at")) or now) < stale_before]
    merged: list[dict[str, Any]] = []
    closed: list[dict[str, Any]] = []
    for pr in closed_prs:
        merged_at = parse_time(pr.get("merged_at"))
        closed_at = parse_time(pr.get("closed_at"))
        if merged_at is not None and merged_at >= window_start:
            count, first = approvals(reviews.get(int(pr["number"]), []))
            created = parse_time(pr.get("created_at"))
            merged.append(
                {
                    "number": pr["number"],
                    "title": pr.get("title"),
                    "author": _login(pr),
                    "merged_at": pr.get("merged_at"),
                    "approvals": count,
                    "hours_to_first_approval": _hours(created, first),
                    "hours_to_merge": _hours(created, merged_at),
                    "html_url": pr.get("html_url"),
                }
            )
        elif merged_at is None and closed_at is not None and closed_at >= window_start:
            closed.append(
                {
                    "number": pr["number"],
                    "title": pr.get("title"),
                    "closed_at": pr.get("closed_at"),
                    "html_url": pr.get("html_url"),
                }
            )
    merged.sort(key=lambda p: str(p["merged_at"]), reverse=True)
    closed.sort(key=lambda p: str(p["closed_at"]), reverse=True)
    return {
        "window_days": window_days,
        "stale_days": stale_days,
        "open": len(opened),
        "stale": len(stale),
        "merged_in_window": len(merged),
        "closed_unmerged_in_window": len(closed),
        "median_hours_to_first_approval": _median(m["hours_to_first_approval"] for m in merged),
        "median_hours_to_merge": _median(m["hours_to_merge"] for m in merged),
        "approvals_per_merged": _median(float(m["approvals"]) for m in merged),
        "unapproved_merged": sum(1 for m in merged if m["approvals"] == 0),
        "open_items": [
            {
                "number": p["number"],
                "title": p.get("title"),
                "author": _login(p),
                "created_at": p.get("created_at"),
                "stale": p in stale,
                "html_url": p.get("html_url"),
            }
            for p in opened[:LISTED]
        ],
        "merged_items": merged[:LISTED],
        "closed_items": closed[:LISTED],
    }


def dependabot_summary(alerts: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Open Dependabot alerts by severity; ``not_permitted`` when the credential may not
    read them (never reported as zero)."""
    if alerts is None:
        return {"status": "not_permitted"}
    by = dict.fromkeys(SEVERITIES, 0)
    for alert in alerts:
        vuln = alert.get("security_vulnerability") or alert.get("security_advisory") or {}
        sev = str(vuln.get("severity") or "").lower()
        if sev in by:
            by[sev] += 1
    return {"status": "ok", "open": len(alerts), "by_severity": by}


def repository_record(
    summary: Mapping[str, Any],
    *,
    pull_requests: dict[str, Any],
    codeowners: tuple[str, list[str]] | None,
    dependabot: dict[str, Any],
) -> ResourceRecord:
    """The resource of one repository."""
    data = {
        **{k: v for k, v in summary.items() if k != "pushed_at"},
        "open_pull_requests": pull_requests["open"],
        "codeowners": (
            {"path": codeowners[0], "owners": codeowners[1]} if codeowners is not None else None
        ),
        "pull_requests": pull_requests,
        "dependabot_alerts": dependabot,
    }
    return ResourceRecord(
        type=RESOURCE_TYPE,
        config={"owner": summary["owner"], "repo": summary["name"]},
        name=str(summary["full_name"]),
        integration_data=data,
    )


def _numbers(data: Mapping[str, Any] | None, key: str) -> dict[int, dict[str, Any]]:
    prs = (data or {}).get("pull_requests") or {}
    items = prs.get(key) if isinstance(prs, dict) else None
    return {int(i["number"]): i for i in items or [] if isinstance(i, dict) and "number" in i}


def diff_events(before: Mapping[str, Any] | None, after: ResourceRecord) -> list[EventRecord]:
    """Pull requests opened, merged and closed since the stored data (none for a
    repository met for the first time: its history is not news)."""
    if before is None or after.integration_data is None:
        return []
    data = after.integration_data
    repo = str(data.get("full_name"))
    seen_before = {
        **_numbers(before, "open_items"),
        **_numbers(before, "merged_items"),
        **_numbers(before, "closed_items"),
    }
    events: list[EventRecord] = []
    for number, pr in _numbers(data, "open_items").items():
        if number not in seen_before:
            events.append(_event(EVENT_PR_OPENED, repo, pr, "opened", pr.get("created_at")))
    merged_before = _numbers(before, "merged_items")
    for number, pr in _numbers(data, "merged_items").items():
        if number not in merged_before:
            events.append(_event(EVENT_PR_MERGED, repo, pr, "merged", pr.get("merged_at")))
    closed_before = _numbers(before, "closed_items")
    for number, pr in _numbers(data, "closed_items").items():
        if number not in closed_before:
            events.append(_event(EVENT_PR_CLOSED, repo, pr, "closed", pr.get("closed_at")))
    return events


def _event(kind: str, repo: str, pr: Mapping[str, Any], verb: str, when: Any) -> EventRecord:
    attributes = {"repository": repo, "number": pr["number"], "title": pr.get("title")}
    if pr.get("author"):
        attributes["author"] = pr["author"]
    if kind == EVENT_PR_MERGED:
        attributes["approvals"] = pr.get("approvals")
    return EventRecord(
        type=kind,
        deduplication_id=f"{repo}#{pr['number']}:{verb}",
        detail=f"Pull request #{pr['number']} {verb} in {repo}: {pr.get('title')}",
        attributes=attributes,
        ts=parse_time(when),
        link_html=pr.get("html_url"),
    )

"""``pagerduty``: PagerDuty services with their escalation policy, who is on call now and
their incident figures; incidents triggered, acknowledged and resolved as events.

Speaks PagerDuty's REST API v2 as its published OpenAPI description gives it (the subset
in ``tests/contracts/pagerduty/``): ``Authorization: Token token=<API key>`` and
``Accept: application/vnd.pagerduty+json;version=2`` on every request, against the service
region's host (``https://api.pagerduty.com`` or ``https://api.eu.pagerduty.com``) or the
configured ``base_url``. Listings use classic offset paging (``limit=100``, ``offset``,
``more``); PagerDuty refuses an ``offset + limit`` beyond 10,000, so a time-bounded listing
(incidents in the window, log entries) asks for its ``total`` first and is split into two
halves of its time range while it holds more than that. 429 and 5xx are retried with
back-off honouring ``Retry-After`` (or the ``ratelimit-reset`` header); 401/403 taint the
credential.

A sync (``discover``) makes, in this order:

1. the window's acknowledgements: ``GET /log_entries?since&until&is_overview=true``, keeping
   each incident's first ``acknowledge_log_entry`` time (an incident's own
   ``acknowledgements`` are emptied once it is resolved);
2. the services, a page of 100 at a time (``GET /services``), and for each page: the current
   on-calls of its escalation policies (``GET /oncalls?escalation_policy_ids[]=...``), its
   incidents created in the window (``GET /incidents?service_ids[]=...&since&until``) and its
   open incidents whenever created (``statuses[]=triggered&statuses[]=acknowledged&
   date_range=all``); the page's records are yielded as one batch. The on-calls and the
   open incidents are asked for in the helper thread while the window's incidents are read.

Memory stays bounded by one page of services and their incidents in the window, plus the
window's first-acknowledgement times (one float per incident). A time-bounded listing, whose
first page says how many entries it holds, is read one page ahead in a helper thread (the
upstream answers the next page while this one is folded); each listing's query is encoded
once, not per page. Log entry and incident pages are decoded into only the fields read
(msgspec typed decoding, the shapes in :mod:`.data`): PagerDuty has no parameter that
narrows ``/log_entries`` to acknowledgements (``is_overview`` is already the smallest set;
``include[]`` only adds), so decoding less is what is left to cut.

``poll_events(since)`` reads ``GET /log_entries?since&until&is_overview=true&include[]=incidents``
and turns each trigger, acknowledge and resolve entry of a discovered service into an event
with the incident's title, urgency and link.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Generator, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any
from urllib.parse import urlencode

import msgspec

from service_catalog.integrations.connectors.base import (
    Connector,
    ConnectorError,
    EventRecord,
    PolledEvent,
    RecordBatch,
    ResourceRecord,
    VerifyResult,
    authorization,
    credential_header,
    json_object,
    usable_base_url,
)
from service_catalog.integrations.connectors.pagerduty.config import (
    DEFAULT_WINDOW_DAYS,
    REGION_URLS,
)
from service_catalog.integrations.connectors.pagerduty.data import (
    ACK_ENTRY_PAGE,
    EVENT_ENTRY_PAGE,
    INCIDENT_PAGE,
    LOG_EVENTS,
    RESOURCE_TYPE,
    IncidentFigures,
    integration_data,
    on_call_levels,
    parse_time,
)

ACCEPT = "application/vnd.pagerduty+json;version=2"
PAGE_LIMIT = 100
#: PagerDuty answers 400 to a classic-paging request whose offset + limit exceeds this.
OFFSET_CAP = 10_000
#: How far back the first event poll of an instance reads (later ones read from the last).
FIRST_POLL_SECONDS = 86_400
MAX_PAGES = 100_000  # a guard against an upstream whose paging never ends
#: The shortest time range a listing is split down to (a second: PagerDuty's resolution).
MIN_SPLIT_SECONDS = 1.0
#: A decoder of a listing page into only the fields the connector reads (see ``data``).
Shape = msgspec.json.Decoder[Any]


REMEDIATION_SCOPE = (
    "Use a PagerDuty REST API key (read-only is enough) or a token that may read services, "
    "on-calls, incidents and log entries; replace the instance's auth credential "
    "(DELETE then POST .../auth-credential)."
)


def base_url_of(config: Mapping[str, Any]) -> str:
    """The API base URL of an instance's (effective) config: ``base_url`` when set, else
    the service region's."""
    url = config.get("base_url")
    if isinstance(url, str) and url.strip():
        return url.strip().rstrip("/")
    region = str(config.get("service_region") or "us")
    return REGION_URLS.get(region, REGION_URLS["us"])


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PagerDutyConnector(Connector):
    """Verifies with ``GET /services?limit=1``, discovers services page by page with their
    on-calls and incidents, polls the log entries for incident events."""

    integration_name = "pagerduty"
    polls_events = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url_of(self.config)
        window = self.config.get("window_days")
        self.window_days = window if type(window) is int and window > 0 else DEFAULT_WINDOW_DAYS
        #: Ids of the services the last discovery listed (events of others are skipped).
        self.seen: set[str] = set()
        self._discovered = False
        #: The helper thread that fetches a listing's next page ahead (started when needed).
        self._ahead: ThreadPoolExecutor | None = None

    # --- HTTP --------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        key = authorization(
            credential_header(self.credential.headers if self.credential else None).strip(),
            "Token token=",
            "The instance has no PagerDuty API key (an 'authorization' header)",
            "POST an auth credential of type multi_key_auth with the header "
            "'authorization' holding the REST API key.",
        )
        return {"Authorization": key, "Accept": ACCEPT}

    def _get(
        self, path: str, query: str, shape: Shape | None = None
    ) -> tuple[dict[str, Any], bytes]:
        """GET ``path`` with ``query`` (URL-encoded): the decoded JSON object (only the
        fields ``shape`` names, when given and the body has its shape) and the raw body."""
        url = f"{self.base_url}{path}?{query}"
        try:
            with usable_base_url():
                resp = self.http.request("GET", url, headers=self._headers())
        except ConnectorError as exc:
            if exc.kind == "auth" and exc.status == 403:
                raise ConnectorError(
                    "auth",
                    exc.message.replace(
                        "The upstream rejected the credential",
                        f"PagerDuty refused the credential access to GET {path}",
                    ),
                    remediation=REMEDIATION_SCOPE,
                    status=403,
                ) from None
            if exc.kind == "auth":
                exc.message = exc.message.replace(
                    "The upstream rejected the credential", "PagerDuty rejected the API key"
                )
                exc.args = (exc.message,)
            raise
        if not resp.is_success:
            excerpt = self.http.excerpt(resp)
            raise ConnectorError(
                "upstream",
                f"GET {path} answered HTTP {resp.status_code}{': ' + excerpt if excerpt else ''}",
                remediation="Check the instance's service_region or base_url; the next sync "
                "retries.",
                status=resp.status_code,
            )
        if shape is not None:
            try:
                return shape.decode(resp.content), resp.content
            except msgspec.ValidationError:
                pass  # valid JSON of another shape than expected: decoded in full below
            except msgspec.DecodeError:
                raise _not_json(path) from None
        body = json_object(
            resp.content,
            invalid=f"GET {path} answered with a body that is not valid JSON",
            not_object=f"GET {path} answered with a non-object body",
            remediation="Check that base_url points at PagerDuty's REST API.",
        )
        return body, resp.content

    def _pages(
        self,
        path: str,
        key: str,
        params: list[tuple[str, Any]],
        *,
        total: bool = False,
        shape: Shape | None = None,
    ) -> Generator[tuple[list[Any], bytes, int | None]]:
        """Every page of a classic offset listing: (items, raw body, ``total`` of the first
        page when asked), decoded to ``shape`` when given (see :meth:`_get`). Raises
        :class:`_Capped` when it would pass PagerDuty's offset cap.

        When the first page said how many entries the listing holds (``total``), the next
        page is requested while the caller works on this one (one request ahead, in the
        connector's helper thread): the upstream answers meanwhile. ``more`` still decides
        where the listing ends."""
        # Encoded once: a page of incidents names up to 100 services, the same on each page.
        encoded = urlencode(params)
        offset = 0
        count: int | None = None
        ahead: Future[tuple[dict[str, Any], bytes]] | None = None
        try:
            for page in range(MAX_PAGES):
                if offset + PAGE_LIMIT > OFFSET_CAP:
                    raise _Capped()
                if ahead is not None:
                    body, content = ahead.result()
                    ahead = None
                else:
                    query = _paged(encoded, offset)
                    if total and page == 0:
                        query += "&total=true"
                    body, content = self._get(path, query, shape)
                items = body.get(key)
                more = body.get("more")
                if not isinstance(items, list) or not isinstance(more, bool):
                    raise ConnectorError(
                        "malformed",
                        f"GET {path} answered without a '{key}' list and a boolean 'more'",
                        remediation="Check that base_url points at PagerDuty's REST API.",
                    )
                if page == 0 and type(body.get("total")) is int:
                    count = body["total"]
                del body
                nxt = offset + len(items)
                if (
                    more
                    and items
                    and count is not None
                    and nxt < count <= OFFSET_CAP
                    and nxt + PAGE_LIMIT <= OFFSET_CAP
                ):
                    ahead = self._helper().submit(self._get, path, _paged(encoded, nxt), shape)
                yield items, content, count if page == 0 else None
                if not more or not items:
                    return
                offset = nxt
            raise ConnectorError("malformed", f"GET {path} kept listing past {MAX_PAGES} pages")
        finally:
            if ahead is not None and not ahead.cancel():
                # Not kept running past the listing (the caller stopped, or it failed).
                wait([ahead])

    def _helper(self) -> ThreadPoolExecutor:
        if self._ahead is None:
            self._ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pagerduty-ahead")
        return self._ahead

    def close(self) -> None:
        """Stop the helper thread, then release HTTP connections."""
        if self._ahead is not None:
            self._ahead.shutdown(wait=True, cancel_futures=True)
            self._ahead = None
        super().close()

    def _windowed(
        self,
        path: str,
        key: str,
        params: list[tuple[str, Any]],
        since: float,
        until: float,
        shape: Shape | None = None,
    ) -> Iterator[tuple[list[Any], bytes]]:
        """Every page of a listing bounded by ``since``..``until``, split in two halves of
        its time range while it holds more than PagerDuty's offset cap lets us page."""
        ranges = [(since, until)]
        while ranges:
            lo, hi = ranges.pop(0)
            query = [*params, ("since", _iso(lo)), ("until", _iso(hi))]
            pages = self._pages(path, key, query, total=True, shape=shape)
            try:
                items, content, total = next(pages)
                if total is not None and total > OFFSET_CAP and hi - lo > MIN_SPLIT_SECONDS:
                    pages.close()
                    mid = float(int(lo + (hi - lo) / 2))
                    ranges[:0] = [(lo, mid), (mid, hi)]
                    continue
                yield items, content
                yield from ((i, c) for i, c, _ in pages)
            except _Capped:
                raise ConnectorError(
                    "upstream",
                    f"GET {path} holds more than {OFFSET_CAP} entries between {_iso(lo)} and "
                    f"{_iso(hi)} and did not say how many: they cannot all be paged",
                    remediation="Lower config.window_days.",
                ) from None

    # --- the contract ---------------------------------------------------------------------

    def verify(self) -> VerifyResult:
        """One ``GET /services?limit=1``: accepted, rejected (401: the key; 403: the key may
        not read services) or unreachable with the reason."""
        try:
            self._get("/services", "limit=1")
        except ConnectorError as exc:
            if exc.kind == "auth":
                return VerifyResult("rejected", exc.message, upstream_status=exc.status)
            return VerifyResult("unreachable", exc.message, upstream_status=exc.status)
        return VerifyResult("accepted")

    def discover(self) -> Iterator[list[ResourceRecord]]:
        """Yield one batch of records per page of services (see the module doc)."""
        until = _until_now()
        since = until - self.window_days * 86400
        acks = self._first_acks(since, until)
        self.seen = set()
        offset_pages = self._pages("/services", "services", [("sort_by", "name")])
        for services, content, _ in offset_pages:
            yield self._batch(services, content, acks, since, until)
        self._discovered = True

    def _first_acks(self, since: float, until: float) -> dict[str, float]:
        acks: dict[str, float] = {}
        params: list[tuple[str, Any]] = [("is_overview", "true")]
        listing = self._windowed(
            "/log_entries", "log_entries", params, since, until, ACK_ENTRY_PAGE
        )
        for entries, _ in listing:
            for entry in entries:
                if not isinstance(entry, dict) or entry.get("type") != "acknowledge_log_entry":
                    continue
                incident = entry.get("incident")
                iid = incident.get("id") if isinstance(incident, dict) else None
                at = parse_time(entry.get("created_at"))
                if isinstance(iid, str) and at is not None:
                    known = acks.get(iid)
                    if known is None or at < known:
                        acks[iid] = at
        return acks

    def _batch(
        self,
        services: list[Any],
        content: bytes,
        acks: Mapping[str, float],
        since: float,
        until: float,
    ) -> RecordBatch:
        digest = hashlib.blake2b(content, digest_size=16)
        valid: list[dict[str, Any]] = []
        for svc in services:
            sid = svc.get("id") if isinstance(svc, dict) else None
            if not isinstance(sid, str) or not sid:
                raise ConnectorError("malformed", "GET /services listed a service without an id")
            valid.append(svc)
            self.seen.add(sid)
        if not valid:
            return RecordBatch()
        # The on-calls and the open incidents are asked for in the helper thread while
        # the incidents of the window are read here: the upstream answers them meanwhile.
        ids = [("service_ids[]", s["id"]) for s in valid]
        helper = self._helper()
        oncall_pages = helper.submit(self._all_pages, "/oncalls", "oncalls", _policies(valid))
        open_pages = helper.submit(
            self._all_pages, "/incidents", "incidents", [*ids, *OPEN_PARAMS], INCIDENT_PAGE
        )
        try:
            figures = self._figures(valid, ids, acks, since, until, digest)
            oncalls = _oncalls(oncall_pages.result(), digest)
            for incidents, body in open_pages.result():
                digest.update(body)
                for inc in incidents:
                    fig = figures.get(_service_of(inc) or "")
                    if fig is not None:
                        fig.add_open(inc)
        finally:
            # Not left running past the batch (it failed, or the caller stopped).
            for pending in (oncall_pages, open_pages):
                if not pending.cancel():
                    wait([pending])
        batch = RecordBatch()
        for svc in valid:
            ep = svc.get("escalation_policy")
            ep_id = ep.get("id") if isinstance(ep, dict) else None
            levels = on_call_levels(oncalls.get(ep_id, []) if isinstance(ep_id, str) else [])
            data = integration_data(svc, levels, figures[svc["id"]], self.window_days)
            name = svc.get("name")
            batch.append(
                ResourceRecord(
                    RESOURCE_TYPE,
                    {"service_id": svc["id"]},
                    name if isinstance(name, str) else None,
                    data,
                )
            )
        batch.source_digest = digest.digest()
        return batch

    def _all_pages(
        self, path: str, key: str, params: list[tuple[str, Any]], shape: Shape | None = None
    ) -> list[tuple[list[Any], bytes]]:
        """Every page of a short listing (no page read ahead): (items, raw body) each;
        none when ``params`` is empty (nothing to ask for)."""
        if not params:
            return []
        return [(items, body) for items, body, _ in self._pages(path, key, params, shape=shape)]

    def _figures(
        self,
        services: list[dict[str, Any]],
        ids: list[tuple[str, Any]],
        acks: Mapping[str, float],
        since: float,
        until: float,
        digest: Any,
    ) -> dict[str, IncidentFigures]:
        """The services' incident figures over their incidents in the window (their open
        incidents whenever created are added by the caller)."""
        figures = {s["id"]: IncidentFigures() for s in services}
        in_window = self._windowed("/incidents", "incidents", ids, since, until, INCIDENT_PAGE)
        for incidents, body in in_window:
            digest.update(body)
            for inc in incidents:
                fig = figures.get(_service_of(inc) or "")
                if fig is not None:
                    first_ack = acks.get(inc.get("id", ""))
                    digest.update(repr(first_ack).encode())
                    fig.add_in_window(inc, first_ack)
        return figures

    def poll_events(self, since: dt.datetime | None) -> Iterator[PolledEvent]:
        """Incident triggered, acknowledged and resolved log entries since ``since`` (None,
        a first poll: the last day, not the account's whole history), of the services the
        discovery listed."""
        until = _until_now()
        start = since.timestamp() if since is not None else until - FIRST_POLL_SECONDS
        params: list[tuple[str, Any]] = [("is_overview", "true"), ("include[]", "incidents")]
        listing = self._windowed(
            "/log_entries", "log_entries", params, start, until, EVENT_ENTRY_PAGE
        )
        for entries, _ in listing:
            for entry in entries:
                event = _event_of(entry)
                if event is None:
                    continue
                sid, record = event
                if self._discovered and sid not in self.seen:
                    continue
                yield PolledEvent(RESOURCE_TYPE, {"service_id": sid}, record)


#: The parameters of the open incidents whenever created (with the services' ids).
OPEN_PARAMS: list[tuple[str, Any]] = [
    ("statuses[]", "triggered"),
    ("statuses[]", "acknowledged"),
    ("date_range", "all"),
]


def _policies(services: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """The ``/oncalls`` parameters naming the services' escalation policies."""
    policies = {
        ep["id"]
        for s in services
        if isinstance(ep := s.get("escalation_policy"), dict) and isinstance(ep.get("id"), str)
    }
    return [("escalation_policy_ids[]", p) for p in sorted(policies)]


def _oncalls(pages: list[tuple[list[Any], bytes]], digest: Any) -> dict[str, list[Any]]:
    """The on-calls of ``/oncalls`` pages by escalation policy id."""
    oncalls: dict[str, list[Any]] = {}
    for rows, body in pages:
        digest.update(body)
        for row in rows:
            ep = row.get("escalation_policy") if isinstance(row, dict) else None
            if isinstance(ep, dict) and isinstance(ep.get("id"), str):
                oncalls.setdefault(ep["id"], []).append(row)
    return oncalls


def _paged(encoded: str, offset: int) -> str:
    """The query of the page at ``offset`` of a listing whose other parameters are
    ``encoded``."""
    paging = f"limit={PAGE_LIMIT}&offset={offset}"
    return f"{encoded}&{paging}" if encoded else paging


def _until_now() -> float:
    """The end of a listing asked for now: the next whole second (PagerDuty's ``until`` is
    exclusive and its times have second resolution, so what happened this second is in)."""
    return float(int(dt.datetime.now(dt.UTC).timestamp()) + 1)


def _not_json(path: str) -> ConnectorError:
    return ConnectorError(
        "malformed",
        f"GET {path} answered with a body that is not valid JSON",
        remediation="Check that base_url points at PagerDuty's REST API.",
    )


class _Capped(Exception):
    """A listing would page past PagerDuty's offset cap."""


def _service_of(incident: Any) -> str | None:
    svc = incident.get("service") if isinstance(incident, dict) else None
    sid = svc.get("id") if isinstance(svc, dict) else None
    return sid if isinstance(sid, str) else None


def _event_of(entry: Any) -> tuple[str, EventRecord] | None:
    """The service id and event of one log entry; None for other kinds of entries."""
    if not isinstance(entry, dict) or entry.get("type") not in LOG_EVENTS:
        return None
    kind, verb = LOG_EVENTS[entry["type"]]
    raw_incident, svc = entry.get("incident"), entry.get("service")
    incident: dict[str, Any] = raw_incident if isinstance(raw_incident, dict) else {}
    sid = (svc.get("id") if isinstance(svc, dict) else None) or _service_of(incident)
    eid, at = entry.get("id"), parse_time(entry.get("created_at"))
    if not isinstance(sid, str) or not isinstance(eid, str) or at is None:
        return None
    number = incident.get("incident_number")
    title = incident.get("title") or incident.get("summary") or ""
    label = f"#{number}" if type(number) is int else str(incident.get("id") or "")
    attributes = {
        "incident_id": incident.get("id"),
        "incident_number": number if type(number) is int else None,
        "title": title,
        "urgency": incident.get("urgency"),
        "status": incident.get("status"),
    }
    return sid, EventRecord(
        kind,
        f"log_entry:{eid}",
        f"Incident {label} {verb}: {title}".strip(),
        attributes,
        dt.datetime.fromtimestamp(at, dt.UTC),
        incident.get("html_url") if isinstance(incident.get("html_url"), str) else None,
    )

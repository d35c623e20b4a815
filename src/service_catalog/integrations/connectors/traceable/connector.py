"""``traceable``: Traceable services, with their API endpoints and open vulnerabilities.

Speaks Traceable's public GraphQL API exactly as ``contracts/traceable-subset.graphql``
describes: ``POST {base_url}/graphql`` with the raw platform API token in
``Authorization`` (no ``Bearer``). Every document it sends is in
:mod:`.graphql` and validates against the subset schema.

A sync (``discover``) makes, in this order:

1. ``metadata`` once: which API-scope attributes the tenant has (optional ones it lacks
   are not asked for, so such a tenant still syncs);
2. the open vulnerabilities (``vulnerabilitiesV3``, status OPEN or REOPENED) in large
   pages, folded per service;
3. the services (scope ``SERVICE``, ``includeInactive`` from the config);
4. the whole tenant's API endpoints (scope ``API``) in the configured discovery states
   (``apiDiscoveryState IN [DISCOVERED, UNDER_DISCOVERY]`` by default, as Traceable's
   public clients list them), in large pages ordered by service, folded per service into
   compact aggregates (never one query per service); each service is yielded as soon as
   the listing moves past it.

Every listing uses the same ``between`` window (now minus ``lookback`` .. now), limit/offset
paging until ``total`` and a stable order (by id). Traceable's query layer (Hypertrace's
gateway) returns at most 10,000 rows of one entity query and drops offsets beyond them: a
listing whose ``total`` reaches ``row_cap``, or whose pages repeat, is split by service
(see :meth:`TraceableConnector.discover`). An endpoint's risk is read from
``riskScore``/``riskScoreCategory`` or, on older tenants, ``apiRiskScore``/
``apiRiskScoreCategory``, whichever ``metadata`` lists. A token Traceable refuses is an
``auth`` error whether it says so with HTTP 401/403 or in a 200 answer (``error``, or
``errors`` saying Forbidden/Unauthorized/Authorization). Memory stays bounded by the
number of services times the listed endpoints per service (see :mod:`.data`).

Each batch says which answers it was built from (``source_digest``: a digest of every answer
read before it, in order) and builds its records only when it is first read, so a sync that
finds the batch's page unchanged since the last complete sync (``sync.pages``) skips its
shaping and hashing; it still reads and folds every page, as it cannot know a page is
unchanged before reading it (Traceable offers no conditional requests or change feed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from service_catalog.integrations.connectors.base import (
    ChildPage,
    ChildQuery,
    Connector,
    ConnectorError,
    EventRecord,
    LazyBatch,
    ResourceRecord,
    VerifyResult,
    decode_json,
    digest_of,
    usable_base_url,
)
from service_catalog.integrations.connectors.traceable import graphql as gql
from service_catalog.integrations.connectors.traceable.config import (
    DEFAULT_BASE_URL,
    DEFAULT_DISCOVERY_STATES,
    DEFAULT_LOOKBACK,
    DEFAULT_PAGE_SIZE,
    DEFAULT_ROW_CAP,
    LOOKBACK_CHOICES,
)
from service_catalog.integrations.connectors.traceable.data import (
    RESOURCE_TYPE,
    ServiceAggregate,
    diff_events,
    endpoint_from_row,
    integration_data,
)

# A 200 answer whose error message says this is a rejected credential.
_AUTH_WORDS = re.compile(
    r"\b(forbidden|unauthori[sz]ed|authori[sz]ation|access denied)\b|"
    r"\b(invalid|expired)\s+(api\s+)?token\b",
    re.IGNORECASE,
)
MAX_PAGES = 100_000  # a guard against an upstream whose paging never ends
# Pages fetched ahead (in helper threads) while the current one is processed.
FETCH_AHEAD = 2


#: One page of a listing: its rows, how many results it had, the listing's ``total`` and a
#: digest of the answer's bytes.
_Page = tuple[list[dict[str, Any]], int, int | None, bytes]


class _Truncated(Exception):
    """A listing Traceable may have cut short (its row cap): ``total`` as it said."""

    def __init__(self, total: int | None) -> None:
        super().__init__(total)
        self.total = total


def _check_capped_page(
    rows: list[dict[str, Any]], count: int, read: int, total: int, seen: set[tuple[int, str, str]]
) -> None:
    """Raise :class:`_Truncated` for a page of a capped listing that is empty before
    ``total`` or repeats an earlier page (an offset beyond the cap was dropped)."""
    if not rows:
        if read < total:
            raise _Truncated(total)
    else:
        key = (count, str(rows[0].get("id")), str(rows[-1].get("id")))
        if key in seen:
            raise _Truncated(total)
        seen.add(key)


@dataclass(slots=True)
class _Discovery:
    """What :meth:`TraceableConnector.discover` knows as it reads: each service's name
    (``unnamed``: known only through its endpoints, named at the end) and aggregate, the
    services complete (``done``) and those whose endpoints came back after that (``late``),
    and the batch of records being filled."""

    names: dict[str, str]
    aggregates: dict[str, ServiceAggregate]
    services_capped: bool
    base_url: str
    page_size: int
    #: A digest of every answer read so far, in order (see :meth:`_batch`).
    read: Any = None
    unnamed: set[str] = field(default_factory=set)
    done: set[str] = field(default_factory=set)
    late: set[str] = field(default_factory=set)
    #: Services whose current aggregate a batch holds (folding into it copies it first).
    batched: set[str] = field(default_factory=set)
    batch: list[tuple[str, str, ServiceAggregate | None]] = field(default_factory=list)

    def admit(self, sid: str) -> bool:
        """Whether the endpoints of a service not in the service list are kept: only when
        that list was capped, the service then known by its id until named."""
        if not self.services_capped or not sid:
            return False
        self.names[sid] = sid
        self.unnamed.add(sid)
        return True

    def add(self, sid: str) -> list[ResourceRecord] | None:
        """Add the record of ``sid`` to the batch; the batch, once full."""
        self.batch.append((sid, self.names[sid], self.aggregates.get(sid)))
        self.batched.add(sid)
        if len(self.batch) >= self.page_size:
            return self.take()
        return None

    def take(self) -> list[ResourceRecord]:
        """The batch so far, as records built when first read (a :class:`LazyBatch`).

        Its ``source_digest`` digests every answer read until now: the connector's state,
        and so these records, are a function of those answers (in order) and the instance's
        config alone, so the same digest means the same records."""
        members, self.batch = self.batch, []
        base_url = self.base_url

        def build() -> list[ResourceRecord]:
            return [
                ResourceRecord(
                    type=RESOURCE_TYPE,
                    config={"service_id": sid},
                    name=name[:255],
                    integration_data=integration_data(
                        service_id=sid, name=name, agg=agg, base_url=base_url
                    ),
                )
                for sid, name, agg in members
            ]

        return LazyBatch(build, self.read.copy().digest())

    def aggregate(self, sid: str) -> ServiceAggregate:
        """The aggregate rows of ``sid`` are folded into: a copy when the service was
        batched already (a batch's records may be built later, from what it was then)."""
        agg = self.aggregates.get(sid)
        if agg is None:
            agg = self.aggregates[sid] = ServiceAggregate()
        elif sid in self.batched:
            self.batched.discard(sid)
            agg = self.aggregates[sid] = agg.copy()
        return agg

    def fold(self, rows: list[dict[str, Any]]) -> None:
        """Add endpoint rows to their services' aggregates."""
        names, aggregates = self.names, self.aggregates
        for row in rows:
            sid = row.get("serviceId")
            if sid.__class__ is not str or not row.get("id"):
                continue
            if sid not in names and not self.admit(sid):
                continue
            agg = aggregates.get(sid)
            if agg is None or sid in self.batched:
                agg = self.aggregate(sid)
            agg.add_endpoint(row)


def _error_message(payload: Any) -> str | None:
    """The error an answer carries (GraphQL ``errors``, or a gateway's ``error``), short;
    None when it carries none."""
    if not isinstance(payload, dict):
        return None
    errors = payload.get("errors")
    if errors:
        first = errors[0] if isinstance(errors, list) and errors else errors
        message = first.get("message") if isinstance(first, dict) else first
    elif payload.get("error"):
        error = payload["error"]
        message = (
            (error.get("message") or error.get("error") or error)
            if isinstance(error, dict)
            else error
        )
    else:
        return None
    return " ".join(str(message).split())[:300]


def service_groups(service_ids: list[str], total: int | None, row_cap: int) -> list[list[str]]:
    """The groups of services whose endpoints a listing that reached the row cap is split
    into first: sized for about half the cap each when Traceable said how many endpoints
    there are in all (``total`` beyond the cap), else halves (a group that still reaches
    the cap is halved again); at most 1000 services a group."""
    if not service_ids:
        return []
    if total is not None and total > row_cap:
        per = (row_cap // 2) * len(service_ids) // total
    else:
        per = len(service_ids) // 2
    per = min(max(per, 1), 1000)
    return [service_ids[i : i + per] for i in range(0, len(service_ids), per)]


def _iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class TraceableConnector(Connector):
    """Traceable's GraphQL API as the catalog's connector contract (see module doc)."""

    integration_name = "traceable"
    derives_events = True
    #: A Traceable Service's API endpoints, read from Traceable (its resource lists only
    #: the riskiest).
    child_kinds: ClassVar[Mapping[str, tuple[str, ...]]] = {RESOURCE_TYPE: ("endpoints",)}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.include_inactive = bool(self.config.get("include_inactive", False))
        lookback = self.config.get("lookback") or DEFAULT_LOOKBACK
        self.lookback_days = LOOKBACK_CHOICES.get(str(lookback), 7)
        try:
            size = int(self.config.get("page_size") or DEFAULT_PAGE_SIZE)
        except (TypeError, ValueError):
            size = DEFAULT_PAGE_SIZE
        self.page_size = min(max(size, 1), 10_000)
        self.base_url = str(self.config.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        states = str(self.config.get("discovery_states") or DEFAULT_DISCOVERY_STATES)
        self.discovery_states: tuple[str, ...] = (
            ()
            if states.upper() == "ALL"
            else tuple(s.strip() for s in states.split(",") if s.strip())
        )
        try:
            cap = int(self.config.get("row_cap") or DEFAULT_ROW_CAP)
        except (TypeError, ValueError):
            cap = DEFAULT_ROW_CAP
        self.row_cap = max(cap, 2)
        self.page_size = min(self.page_size, self.row_cap)
        self.listing_total: int | None = None
        # A digest of every answer a listing has read, in order (see _Discovery.take).
        self._read = hashlib.blake2b(digest_size=16)

    # -- transport -----------------------------------------------------------------------

    def _token(self) -> str:
        if self.credential is None:
            raise ConnectorError(
                "auth",
                "The instance has no auth credential",
                remediation="POST an auth credential with the header "
                "'authorization' to the instance.",
            )
        for name, value in self.credential.headers.items():
            if name.lower() == "authorization" and value.strip():
                return value.strip()
        raise ConnectorError(
            "auth",
            "The credential has no 'authorization' header",
            remediation="Replace the credential with one whose header is named 'authorization'.",
        )

    def _endpoint(self) -> str:
        url = f"{self.base_url}/graphql"
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ConnectorError(
                "config",
                f"The base_url is not a valid URL: {exc}",
                remediation="Fix config.base_url, e.g. https://api.traceable.ai.",
            ) from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConnectorError(
                "config",
                f"The base_url {self.base_url!r} is not an http(s) URL",
                remediation="Fix config.base_url, e.g. https://api.traceable.ai.",
            )
        return url

    def query(self, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one GraphQL document; return its ``data`` or raise ConnectorError."""
        return self._query(document, variables)[0]

    def _query(
        self, document: str, variables: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], bytes]:
        """:meth:`query`, and a digest of the answer's bytes."""
        operation = document.split("(", 1)[0].split("{", 1)[0].split()[-1]
        body = {"query": document, "variables": variables or {}, "operationName": operation}
        headers = {
            "Authorization": self._token(),
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        with usable_base_url():
            resp = self.http.request("POST", self._endpoint(), json=body, headers=headers)
        try:
            payload = decode_json(resp.content)
        except ValueError:
            raise ConnectorError(
                "malformed",
                f"Traceable answered {operation} with HTTP {resp.status_code} and "
                "a body that is not JSON",
                remediation="Check that base_url points at Traceable's API "
                "(e.g. https://api.traceable.ai).",
            ) from None
        message = _error_message(payload)
        if message is not None:
            if _AUTH_WORDS.search(message):
                # Traceable (and the gateways before it) may refuse a token with a 200 and
                # an error body instead of a 401/403: still a rejected credential.
                raise ConnectorError(
                    "auth",
                    f"The upstream rejected the credential (HTTP {resp.status_code}: {message})",
                    remediation="Replace the instance's auth credential with a valid one "
                    "(DELETE then POST .../auth-credential).",
                )
            raise ConnectorError(
                "upstream",
                f"Traceable answered {operation} with an error: {message}",
                remediation="The next sync retries; if this persists, check the Traceable "
                "tenant and the token's permissions.",
            )
        if not resp.is_success:
            raise ConnectorError(
                "upstream", f"Traceable answered {operation} with HTTP {resp.status_code}"
            )
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, dict):
            raise ConnectorError(
                "malformed", f"Traceable's answer to {operation} has no 'data' object"
            )
        return data, digest_of(resp.content)

    def _between(self, now: dt.datetime) -> dict[str, str]:
        start = now - dt.timedelta(days=self.lookback_days)
        return {"startTime": _iso(start), "endTime": _iso(now)}

    def _paged(
        self,
        document: str,
        variables: dict[str, Any],
        root: str,
        *,
        capped: bool = False,
        split_at_cap: bool = False,
    ) -> Iterator[list[dict[str, Any]]]:
        """The result pages of a limit/offset listing, in order, until ``total``.

        The first page says how many there are; the next pages are then fetched
        :data:`FETCH_AHEAD` at a time in helper threads while the caller processes the
        current one (round trips overlap with work; at most FETCH_AHEAD + 1 pages are
        held). A page that fails fails the listing.

        With ``capped`` (an entity listing, subject to Traceable's row cap) a page that
        repeats an earlier one (an offset beyond the cap is dropped) or an empty page
        before ``total`` raises :class:`_Truncated`; with ``split_at_cap`` too, so does a
        first page whose ``total`` reaches :attr:`row_cap` (before any row is yielded).
        """
        yield from self._pages_after(
            self._page(document, variables, root, 0),
            document,
            variables,
            root,
            capped=capped,
            split_at_cap=split_at_cap,
        )

    def _pages_after(
        self,
        first: _Page,
        document: str,
        variables: dict[str, Any],
        root: str,
        *,
        capped: bool = False,
        split_at_cap: bool = False,
        pool: ThreadPoolExecutor | None = None,
        on_last: Callable[[], None] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """The pages of :meth:`_paged` given its first page (already fetched): that page's
        rows, then the next pages. ``pool`` (else one of its own) fetches them; ``on_last``
        is called once every page of the listing is requested (then the caller may request
        what comes after it, so the upstream is never left idle between listings)."""
        rows, count, total, digest = first
        self._read.update(digest)
        self.listing_total = total
        if split_at_cap and total is not None and total >= self.row_cap:
            raise _Truncated(total)
        seen: set[tuple[int, str, str]] = set()
        if capped and rows:
            seen.add((count, str(rows[0].get("id")), str(rows[-1].get("id"))))
        if not count or total is None or count >= total:
            if on_last is not None:
                on_last()
            if rows:
                yield rows
            return
        if rows:
            yield rows
        if pool is None:
            with ThreadPoolExecutor(
                max_workers=FETCH_AHEAD, thread_name_prefix="traceable-fetch"
            ) as own:
                yield from self._next_pages(
                    own, document, variables, root, count, total, seen if capped else None
                )
            return
        yield from self._next_pages(
            pool, document, variables, root, count, total, seen if capped else None, on_last
        )

    def _next_pages(
        self,
        pool: ThreadPoolExecutor,
        document: str,
        variables: dict[str, Any],
        root: str,
        read: int,
        total: int,
        seen: set[tuple[int, str, str]] | None,
        on_last: Callable[[], None] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """The pages of :meth:`_paged` after the first (``read`` rows, of ``total``),
        fetched :data:`FETCH_AHEAD` ahead by ``pool``; ``seen`` (a capped listing) holds
        the first and last ids of the pages read; ``on_last`` as :meth:`_pages_after`."""
        pending: deque[Future[_Page]] = deque()
        next_offset = read
        pages = 1
        try:
            while True:
                while len(pending) < FETCH_AHEAD and next_offset < total:
                    pending.append(pool.submit(self._page, document, variables, root, next_offset))
                    next_offset += self.page_size
                    if next_offset >= total and on_last is not None:
                        on_last()
                        on_last = None
                if not pending:
                    return
                rows, count, page_total, digest = pending.popleft().result()
                self._read.update(digest)
                pages += 1
                if pages > MAX_PAGES:
                    raise ConnectorError(
                        "malformed", f"Traceable kept paging {root} past {MAX_PAGES} pages"
                    )
                if seen is not None:
                    _check_capped_page(rows, count, read, total, seen)
                read += count
                if rows:
                    yield rows
                if page_total is not None and page_total > total:
                    total = page_total  # the listing grew while paging: read on
                    self.listing_total = total
                if not count:
                    return
        finally:
            for fut in pending:
                fut.cancel()

    def _page(self, document: str, variables: dict[str, Any], root: str, offset: int) -> _Page:
        """One page: its rows, how many results it had, the listing's ``total`` and a
        digest of its bytes."""
        data, digest = self._query(
            document, {**variables, "limit": self.page_size, "offset": offset}
        )
        result = data.get(root)
        if not isinstance(result, dict) or not isinstance(result.get("results"), list):
            raise ConnectorError("malformed", f"Traceable's {root} answer has no results list")
        total = result.get("total")
        rows = [r for r in result["results"] if isinstance(r, dict)]
        return rows, len(result["results"]), total if isinstance(total, int) else None, digest

    # -- the contract ------------------------------------------------------------------

    def verify(self) -> VerifyResult:
        """One cheap query (one service, ``total`` only): accepted, rejected (401/403, with
        Traceable's words) or unreachable (with the reason)."""
        try:
            self.query(gql.VERIFY, {"between": self._between(dt.datetime.now(dt.UTC))})
        except ConnectorError as exc:
            if exc.kind == "auth":
                return VerifyResult(
                    "rejected",
                    exc.message.replace(
                        "The upstream rejected the credential", "Traceable rejected the API token"
                    ),
                )
            return VerifyResult("unreachable", exc.message)
        return VerifyResult("accepted")

    def api_attributes(self) -> tuple[set[str], set[str]]:
        """The API-scope attributes and metrics of this tenant that the connector reads.

        From ``metadata``; if the tenant does not answer it, every attribute is assumed.
        Raises ConnectorError when a required attribute (name, serviceId) is missing.
        """
        try:
            data = self.query(gql.METADATA)
        except ConnectorError as exc:
            if exc.kind != "upstream":
                raise
            return set(gql.API_ATTRIBUTES), set(gql.API_METRICS)
        names = {
            str(m.get("name"))
            for m in data.get("metadata") or []
            if isinstance(m, dict) and m.get("scope") == "API"
        }
        missing = [a for a in gql.REQUIRED_API_ATTRIBUTES if a not in names]
        if missing:
            raise ConnectorError(
                "upstream",
                "This Traceable tenant has no API attribute "
                f"{', '.join(missing)}; endpoints cannot be "
                "placed under their services",
            )
        return (
            {a for a in gql.API_ATTRIBUTES if a in names},
            {m for m in gql.API_METRICS if m in names},
        )

    def _endpoint_filters(self, attributes: set[str]) -> list[dict[str, Any]]:
        """The ``filterBy`` of every endpoint listing: the configured discovery states (when
        the tenant has the attribute; a tenant without it cannot be filtered by it)."""
        if self.discovery_states and "apiDiscoveryState" in attributes:
            return [gql.discovery_filter(self.discovery_states)]
        return []

    def _open_vulnerabilities(self) -> dict[str, ServiceAggregate]:
        """Per service, an aggregate holding its open vulnerabilities."""
        aggregates: dict[str, ServiceAggregate] = {}
        for rows in self._paged(
            gql.VULNERABILITIES, {"filter": gql.OPEN_VULNERABILITIES_FILTER}, "vulnerabilitiesV3"
        ):
            for row in rows:
                v = {
                    k: (val.get("value") if isinstance(val, dict) else None)
                    for k, val in row.items()
                }
                sid = v.get("serviceId")
                if not isinstance(sid, str) or not sid or not v.get("id"):
                    continue
                if v.get("status") not in gql.OPEN_STATUSES:
                    continue
                agg = aggregates.get(sid)
                if agg is None:
                    agg = aggregates[sid] = ServiceAggregate()
                agg.add_vulnerability(v)
        return aggregates

    def _service_names(self, between: dict[str, str]) -> tuple[dict[str, str], bool]:
        """Service id -> name, in listing order, and whether the listing may have been cut
        short by Traceable's row cap (then services are also found through their
        endpoints)."""
        names: dict[str, str] = {}
        capped = False
        try:
            for rows in self._paged(
                gql.SERVICES,
                {"between": between, "includeInactive": self.include_inactive},
                "entities",
                capped=True,
            ):
                for row in rows:
                    sid = row.get("id")
                    if not isinstance(sid, str) or not sid or sid in names:
                        continue
                    name = row.get("name")
                    names[sid] = name if isinstance(name, str) and name else sid
        except _Truncated:
            capped = True
        total = self.listing_total
        capped = capped or (total is not None and total >= self.row_cap)
        if not capped and total is not None and len(names) < total:
            # Offset paging skipped services that moved while it read (services were
            # added before the current offset). Failing here, before anything is stored,
            # keeps the engine from marking the skipped ones as vanished.
            raise ConnectorError(
                "upstream",
                f"Traceable's service list changed while it was read ({len(names)} "
                f"of {total} services seen)",
                remediation="None needed: the next sync reads the list again.",
            )
        return names, capped

    def _names_of(self, between: dict[str, str], service_ids: list[str]) -> dict[str, str]:
        """The names of the given services (found through their endpoints)."""
        names: dict[str, str] = {}
        for i in range(0, len(service_ids), 1000):
            chunk = service_ids[i : i + 1000]
            flt = {
                "keyExpression": {"key": "id"},
                "operator": "IN",
                "type": "ATTRIBUTE",
                "value": chunk,
            }
            for rows in self._paged(
                gql.SERVICES,
                {"between": between, "includeInactive": True, "filterBy": [flt]},
                "entities",
            ):
                for row in rows:
                    name = row.get("name")
                    if isinstance(row.get("id"), str) and isinstance(name, str) and name:
                        names[row["id"]] = name
        return names

    def _rows(self, document: str, variables: dict[str, Any]) -> list[dict[str, Any]]:
        """Every row of one entity listing that stays under the row cap (else _Truncated)."""
        return [
            row
            for rows in self._paged(document, variables, "entities", capped=True, split_at_cap=True)
            for row in rows
        ]

    def _split_listing(
        self, document: str, variables: dict[str, Any], service_ids: list[str], total: int | None
    ) -> Iterator[tuple[list[str], list[dict[str, Any]]]]:
        """The endpoints of ``service_ids``, listed a group of services at a time, each
        group small enough to stay under the row cap (a group that reaches it is halved):
        (group, its endpoint rows), in order. A single service that reaches the cap alone
        cannot be listed whole: that fails the sync rather than miss endpoints.

        The groups' pages are fetched by one pool: once every page of a group is requested,
        the next group's first page is, so Traceable is not left idle while a group's rows
        are processed (at most one group's rows and the next group's first page are held).
        """
        todo = deque(service_groups(service_ids, total, self.row_cap))
        base = list(variables.get("filterBy") or [])

        def group_variables(group: list[str]) -> dict[str, Any]:
            return {**variables, "filterBy": [*base, gql.services_filter(group)]}

        with ThreadPoolExecutor(
            max_workers=FETCH_AHEAD, thread_name_prefix="traceable-fetch"
        ) as pool:
            # The first page of the group at the head of ``todo``, once requested.
            ahead: dict[int, Future[_Page]] = {}

            def request_next() -> None:
                if todo and id(todo[0]) not in ahead:
                    ahead[id(todo[0])] = pool.submit(
                        self._page, document, group_variables(todo[0]), "entities", 0
                    )

            try:
                while todo:
                    group = todo.popleft()
                    first = ahead.pop(id(group), None)
                    group_vars = group_variables(group)
                    page = (
                        first.result()
                        if first is not None
                        else self._page(document, group_vars, "entities", 0)
                    )
                    try:
                        rows = [
                            row
                            for rows in self._pages_after(
                                page,
                                document,
                                group_vars,
                                "entities",
                                capped=True,
                                split_at_cap=True,
                                pool=pool,
                                on_last=request_next,
                            )
                            for row in rows
                        ]
                    except _Truncated:
                        if len(group) == 1:
                            raise ConnectorError(
                                "upstream",
                                f"Traceable service {group[0]} has {self.row_cap} or more "
                                "endpoints in the activity window: more than Traceable "
                                "lists for one query, so they cannot all be read",
                                remediation="Set include_inactive to false, a shorter "
                                "lookback or narrower discovery_states.",
                            ) from None
                        half = len(group) // 2
                        todo.extendleft([group[half:], group[:half]])
                        continue
                    yield group, rows
            finally:
                for fut in ahead.values():
                    fut.cancel()

    def discover(self) -> Iterator[list[ResourceRecord]]:
        """Yield batches of ``traceable_service`` records (at most a page each) as the
        services are complete: open vulnerabilities first, then the service list, then
        the tenant's endpoints ordered by service. Each service is complete, and yielded,
        as soon as the endpoint listing moves past it, so storing overlaps with reading
        the rest. (The engine runs it under ``fewer_gc_passes``, as every sync.)

        Endpoints are those in the configured discovery states. A listing that reaches
        Traceable's row cap (its ``total`` reaches :attr:`row_cap`, or a page repeats
        because an offset beyond the cap was dropped) is not trusted: the services not yet
        complete are listed again a group of services at a time. A service list that
        reaches the cap is completed with the services the endpoints name.

        Should the upstream not group the endpoints by service after all, a service whose
        endpoints come back after it was yielded is yielded again, complete, at the end.
        """
        now = dt.datetime.now(dt.UTC)
        between = self._between(now)
        attributes, metrics = self.api_attributes()
        self._read = hashlib.blake2b(digest_size=16)
        self._read.update(" ".join([*sorted(attributes), "|", *sorted(metrics)]).encode())
        aggregates = self._open_vulnerabilities()
        names, services_capped = self._service_names(between)
        d = _Discovery(
            names, aggregates, services_capped, self.base_url, self.page_size, self._read
        )
        document = gql.endpoints_query(attributes, metrics)
        filters = self._endpoint_filters(attributes)
        variables = {
            "between": between,
            "includeInactive": self.include_inactive,
            "filterBy": filters,
        }
        try:
            yield from self._read_endpoints(document, variables, d)
        except _Truncated as cut:
            yield from self._read_split(document, variables, filters, d, cut.total)
        yield from self._the_rest(between, d)

    def _read_endpoints(
        self, document: str, variables: dict[str, Any], d: _Discovery
    ) -> Iterator[list[ResourceRecord]]:
        """The tenant's endpoint listing, ordered by service, folded into ``d``; each
        service's record is batched when the listing moves past it (the hot loop of a
        sync: what it reads from ``d`` is bound to locals)."""
        names, aggregates, done, late, unnamed = d.names, d.aggregates, d.done, d.late, d.unnamed
        current: str | None = None
        for rows in self._paged(document, variables, "entities", capped=True, split_at_cap=True):
            for row in rows:
                sid = row.get("serviceId")
                if sid.__class__ is not str or not row.get("id"):
                    continue  # no service (or no id): not stored
                if sid not in names and not d.admit(sid):
                    continue  # not a listed service
                if sid != current:
                    if current is not None and current not in done:
                        done.add(current)
                        if current not in unnamed:
                            full = d.add(current)
                            if full is not None:
                                yield full
                    if sid in done:
                        late.add(sid)
                        d.aggregate(sid)  # a copy: the batch holding it keeps its own
                    current = sid
                agg = aggregates.get(sid)
                if agg is None:
                    agg = aggregates[sid] = ServiceAggregate()
                agg.add_endpoint(row)

    def _read_split(
        self,
        document: str,
        variables: dict[str, Any],
        filters: list[dict[str, Any]],
        d: _Discovery,
        total: int | None,
    ) -> Iterator[list[ResourceRecord]]:
        """After the endpoint listing reached the row cap: the services already complete
        stay; every other is listed again, whole, a group of services at a time."""
        redo = [sid for sid in d.names if sid not in d.done or sid in d.late]
        for sid in redo:
            if sid in d.aggregates:
                d.aggregates[sid] = d.aggregates[sid].without_endpoints()
        d.late.clear()
        for group, rows in self._split_listing(document, variables, redo, total):
            d.fold(rows)
            for sid in group:
                d.done.add(sid)
                if sid not in d.unnamed:
                    full = d.add(sid)
                    if full is not None:
                        yield full
        if d.services_capped:
            # Endpoints of services that the capped service list left out.
            others = {
                "keyExpression": {"key": "serviceId"},
                "operator": "NOT_IN",
                "type": "ATTRIBUTE",
                "value": list(d.names),
            }
            try:
                d.fold(self._rows(document, {**variables, "filterBy": [*filters, others]}))
            except _Truncated:
                raise ConnectorError(
                    "upstream",
                    f"This Traceable tenant has more than {self.row_cap} "
                    "services with endpoints beyond its service list; they "
                    "cannot all be read",
                    remediation="Set include_inactive to false or a shorter lookback.",
                ) from None

    def _the_rest(self, between: dict[str, str], d: _Discovery) -> Iterator[list[ResourceRecord]]:
        """The services not yielded yet (no endpoints, or endpoints that came back late),
        then those known only through their endpoints, named now; the last batch."""
        rest = [sid for sid in d.names if sid not in d.done and sid not in d.unnamed]
        for sid in [*rest, *sorted(d.late - d.unnamed)]:
            full = d.add(sid)
            if full is not None:
                yield full
        if d.unnamed:
            d.names.update(self._names_of(between, sorted(d.unnamed)))
            for sid in sorted(d.unnamed):
                full = d.add(sid)
                if full is not None:
                    yield full
        if d.batch:
            yield d.take()

    def diff_events(
        self, before: dict[str, Any] | None, after: ResourceRecord
    ) -> list[EventRecord]:
        """Vulnerabilities opened or fixed, and newly exposed sensitive endpoints (see
        :func:`.data.diff_events`)."""
        return diff_events(before, after.integration_data)

    def list_children(self, query: ChildQuery) -> ChildPage:
        """A Traceable Service's ``endpoints``, a page at a time (:meth:`endpoints_page`)."""
        if query.resource_type != RESOURCE_TYPE or query.kind != "endpoints":
            raise NotImplementedError(f"Traceable lists no {query.kind} of a {query.resource_type}")
        rows, total = self.endpoints_page(
            str(query.resource_config.get("service_id")), limit=query.limit, offset=query.offset
        )
        return ChildPage(rows, total)

    def endpoints_page(
        self, service_id: str, *, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of a service's endpoints straight from Traceable (ordered by id), and
        how many there are: the full list behind the resource's capped ``items``."""
        attributes, metrics = self.api_attributes()
        document = gql.endpoints_query(attributes, metrics, service_filter=True)
        data = self.query(
            document,
            {
                "between": self._between(dt.datetime.now(dt.UTC)),
                "includeInactive": self.include_inactive,
                "limit": limit,
                "offset": offset,
                "filterBy": [
                    *self._endpoint_filters(attributes),
                    gql.services_filter([service_id]),
                ],
            },
        )
        result = data.get("entities")
        if not isinstance(result, dict) or not isinstance(result.get("results"), list):
            raise ConnectorError("malformed", "Traceable's entities answer has no results list")
        rows = [
            endpoint_from_row(r) for r in result["results"] if isinstance(r, dict) and r.get("id")
        ]
        total = result.get("total")
        return rows, total if isinstance(total, int) else len(rows)


__all__ = ["TraceableConnector", "service_groups"]

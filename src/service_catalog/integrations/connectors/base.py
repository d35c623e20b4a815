"""The contract between the sync engine and a connector, and the HTTP plumbing connectors share.

The sync engine knows only this module: it builds a connector from an instance's
config and decrypted credential, asks it to ``verify()``, streams ``discover()``
batches into storage, and asks ``diff_events()`` which integration events a change
in a resource means. A connector never touches the database.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import gc
import hashlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import httpx
import orjson


@dataclass
class Credential:
    """A decrypted credential, handed to a connector only in memory.

    ``headers`` for ``multi_key_auth`` (name -> value); ``values`` for other types
    (e.g. OAuth client_id/client_secret/token). Never logged or returned.
    """

    type: str
    headers: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # never leak secrets through repr() in a log or traceback
        return f"Credential(type={self.type!r}, headers=<{len(self.headers)} hidden>)"


@dataclass(slots=True)
class ResourceRecord:
    """One upstream object, as a connector reports it."""

    type: str
    config: dict[str, Any]
    name: str | None
    integration_data: dict[str, Any] | None


class RecordBatch(list[ResourceRecord]):
    """A batch of records that says which upstream bytes it was built from.

    ``source_digest`` is a digest of the page (or pages) the records come from and
    nothing else shapes them but the instance's config: the same digest means the same
    records. The engine then skips processing a page whose resources are stored as the
    last complete sync left them (``sync.pages``). None (or a plain list) when a
    connector cannot say (e.g. records aggregated across pages).
    """

    source_digest: bytes | None = None


def digest_of(content: bytes) -> bytes:
    """The ``source_digest`` of an upstream body (16 bytes of BLAKE2b)."""
    return hashlib.blake2b(content, digest_size=16).digest()


@dataclass
class EventRecord:
    """An integration event a connector derived (e.g. a vulnerability opened).

    ``deduplication_id`` must be stable for the same happening, so re-deriving it in
    a later sync stores nothing new.
    """

    type: str
    deduplication_id: str
    detail: str
    attributes: dict[str, Any] = field(default_factory=dict)
    ts: dt.datetime | None = None
    link_html: str | None = None


@dataclass
class VerifyResult:
    """The upstream's answer to a credential: accepted, rejected or unreachable."""

    status: Literal["accepted", "rejected", "unreachable"]
    reason: str = ""


ErrorKind = Literal["auth", "rate_limited", "upstream", "timeout", "unreachable", "malformed",
                    "config"]


class ConnectorError(Exception):
    """A sync that cannot go on. ``kind`` tells the engine how to react:
    ``auth`` taints the credential and halts the schedule; the others fail the run and
    delay the next one. ``remediation`` is shown to the user."""

    def __init__(self, kind: ErrorKind, message: str, *, remediation: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.remediation = remediation
        self.retry_after = retry_after


class Connector(ABC):
    """What every integration implements. Subclasses set ``integration_name``."""

    integration_name: ClassVar[str]
    #: Bump when the same upstream bytes would give different records (what a connector
    #: builds changed): page digests remembered by an older version then no longer match.
    records_version: ClassVar[int] = 1

    def __init__(self, *, config: Mapping[str, Any], credential: Credential | None,
                 http: UpstreamHTTP | None = None) -> None:
        self.config = dict(config)
        self.credential = credential
        self.http = http or UpstreamHTTP()

    @abstractmethod
    def verify(self) -> VerifyResult:
        """Check the credential against the upstream with one cheap call."""

    @abstractmethod
    def discover(self) -> Iterator[list[ResourceRecord]]:
        """Yield every upstream object, a batch (typically one upstream page) at a time.

        Raise :class:`ConnectorError` on failure; the engine then marks nothing as
        vanished. Returning normally means the listing was complete.
        """

    def diff_events(self, before: dict[str, Any] | None, after: ResourceRecord
                    ) -> list[EventRecord]:
        """Integration events that the change from ``before`` (stored integration_data, or
        None for a new resource) to ``after`` means. Default: none."""
        return []

    def close(self) -> None:
        """Release HTTP connections."""
        self.http.close()


_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, int, int] = (700, 10, 10)


@contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """Raise the cyclic GC's first threshold while a sync runs.

    A sync allocates millions of containers (decoded pages, records, rows to write) that
    live a while (a page, or a Traceable tenant's per-service aggregates); with the
    default threshold (700) the collector walks them over and over: a third of a
    Traceable sync's CPU, and of a rest-inventory connector's. Nothing a sync allocates
    forms cycles; the threshold goes back when the last running sync ends (process-wide,
    so counted across threads). The engine runs every sync under it."""
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(max(_gc_saved[0], 200_000), _gc_saved[1], max(_gc_saved[2], 100))
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0:
                gc.set_threshold(*_gc_saved)


def decode_json(content: bytes) -> Any:
    """An upstream's JSON body, decoded by orjson (2-3x faster than the json module on
    large pages). Strict JSON: NaN, Infinity, bad UTF-8 or nesting deeper than 1024 are a
    ValueError (orjson.JSONDecodeError); an integer beyond 64 bits becomes a float."""
    return orjson.loads(content)


class UpstreamHTTP:
    """httpx with timeouts and retries: 429 and 5xx are retried with exponential backoff
    honouring ``Retry-After``; 401/403 become ``ConnectorError('auth')``."""

    def __init__(self, *, timeout: float = 30.0, retries: int = 4, backoff: float = 0.5,
                 max_sleep: float = 60.0, client: httpx.Client | None = None) -> None:
        self.client = client or httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False)
        self.retries = retries
        self.backoff = backoff
        self.max_sleep = max_sleep
        self.retried = 0

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send a request, retrying what is worth retrying; raise ConnectorError otherwise."""
        attempt = 0
        while True:
            try:
                resp = self.client.request(method, url, **kwargs)
            except httpx.TimeoutException:
                if attempt < self.retries:
                    attempt += 1
                    self.retried += 1
                    time.sleep(min(self.backoff * 2 ** (attempt - 1), self.max_sleep))
                    continue
                raise ConnectorError(
                    "timeout", f"The upstream at {_origin(url)} did not answer in time "
                               f"({attempt + 1} attempts)",
                    remediation="Check that the upstream is healthy; the next sync retries.",
                ) from None
            except httpx.HTTPError as exc:
                if attempt < self.retries:
                    attempt += 1
                    self.retried += 1
                    time.sleep(min(self.backoff * 2 ** (attempt - 1), self.max_sleep))
                    continue
                raise ConnectorError(
                    "unreachable", f"Cannot reach {_origin(url)}: {type(exc).__name__}",
                    remediation="Check the instance's base URL and the network.",
                ) from None
            if resp.status_code in (401, 403):
                raise ConnectorError(
                    "auth", f"The upstream rejected the credential (HTTP {resp.status_code}"
                            f"{': ' + _short(resp) if _short(resp) else ''})",
                    remediation="Replace the instance's auth credential with a valid one "
                                "(DELETE then POST .../auth-credential).",
                )
            if resp.status_code == 429 or resp.status_code >= 500:
                wait = retry_after_seconds(resp.headers.get("retry-after"))
                if attempt < self.retries:
                    attempt += 1
                    self.retried += 1
                    delay = wait if wait is not None else self.backoff * 2 ** (attempt - 1)
                    time.sleep(min(delay, self.max_sleep))
                    continue
                kind: ErrorKind = "rate_limited" if resp.status_code == 429 else "upstream"
                raise ConnectorError(
                    kind, f"The upstream answered HTTP {resp.status_code} after "
                          f"{attempt + 1} attempts",
                    remediation="The next sync retries; if this persists, check the upstream.",
                    retry_after=wait,
                )
            return resp

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _origin(url: str) -> str:
    u = httpx.URL(url)
    return f"{u.scheme}://{u.host}" + (f":{u.port}" if u.port else "")


def _short(resp: httpx.Response) -> str:
    text = resp.text.strip().replace("\n", " ")
    return text[:200]

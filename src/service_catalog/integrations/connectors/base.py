"""The contract between the catalog and a connector, and the HTTP plumbing connectors share.

A connector package declares one :class:`Integration` (its descriptor, its config model,
its :class:`Connector` class, the routes it contributes) and names it in the
``service_catalog.connectors`` entry-point group; :mod:`service_catalog.integrations.registry`
finds it there. The catalog knows only this module: it builds a connector from an
instance's config and decrypted credential, asks it to ``verify()``, streams
``discover()`` batches into storage and uses the optional capabilities a connector
declares (never guessed from which methods it overrides):

* ``derives_events``: :meth:`Connector.diff_events` says which integration events a
  change in a resource means;
* ``child_kinds``: :meth:`Connector.list_children` pages through a resource's children
  (``GET /v1/resources/{id}/children/{kind}``);
* ``polls_events``: :meth:`Connector.poll_events` lists the upstream's events since a time
  (the sync engine records them as integration events after each complete discovery);
* ``Integration.routes``: an ``APIRouter`` the app mounts;
* ``Integration.indexed_data``: the ``integration_data`` paths that resource lists filter
  and facet through an index (every resource's values at these paths, whatever its
  integration, are kept in ``resource_attributes``);
* ``keeps_state``: the engine hands the connector what its last complete sync kept
  (:attr:`Connector.state`, e.g. the upstream's ETags for conditional requests) and keeps
  :meth:`Connector.next_state` after a complete one;
* ``Integration.credential_types``: further credential types it takes besides the
  descriptor's ``authorization`` type.

A connector never touches the database.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import os
import ssl
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar, Literal
from urllib.parse import quote, quote_plus

import httpx
import orjson

from service_catalog.core.jsonindex import split_paths
from service_catalog.core.outbound import OutboundPolicy, OutboundRefused, current_policy, origin_of
from service_catalog.integrations.connectors.config import ConnectorConfig, NoConfig, config_schema

#: The keys of a credential's ``values`` that hold secrets.
SECRET_VALUE_KEYS = (
    "code",
    "client_secret",
    "token",
    "access_token",
    "refresh_token",
    "private_key",
)


@dataclass
class Credential:
    """A decrypted credential, handed to a connector only in memory.

    ``headers`` for ``multi_key_auth`` (name -> value); ``values`` for other types
    (e.g. OAuth client_id/client_secret/token). Never logged or returned.
    """

    type: str
    headers: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    #: The upstream origin (``scheme://host:port``) the credential was stored for: an
    #: :class:`UpstreamHTTP` carrying it sends nothing to any other origin.
    origin: str | None = field(default=None, compare=False)

    def __repr__(self) -> str:  # never leak secrets through repr() in a log or traceback
        return f"Credential(type={self.type!r}, headers=<{len(self.headers)} hidden>)"

    def secret_values(self) -> list[str]:
        """The secret strings of this credential (header values, codes, client secrets),
        and the token alone of a ``Bearer <token>`` value."""
        values = [
            *self.headers.values(),
            *(v for k, v in self.values.items() if k in SECRET_VALUE_KEYS),
        ]
        out: list[str] = []
        for v in values:
            if isinstance(v, str) and v:
                out.append(v)
                _, _, tail = v.strip().partition(" ")  # "Bearer <token>": the token alone too
                if len(tail) >= 4:
                    out.append(tail)
        return out


#: Every substring of a secret at least this long is removed from text we keep or show.
REDACT_MIN = 6
REDACTED = "[redacted]"


def _encodings(secret: str) -> set[str]:
    """The forms a secret may be quoted in: raw, base64 (standard and URL-safe, at each
    of the three alignments it can have inside a longer encoded string) and URL-encoded;
    lowercased (matching ignores case, so upper-cased copies are caught too)."""
    raw = secret.encode("utf-8", "surrogatepass")
    forms = {secret, quote(secret, safe=""), quote_plus(secret, safe="")}
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * shift + raw).decode("ascii").rstrip("=")
            skip = (0, 2, 3)[shift]  # characters that carry bits of the filler bytes
            forms.add(text[skip : len(text) - 2] if len(text) - skip > 2 else "")
    forms.add(base64.b64encode(raw).decode("ascii"))
    return {f.lower() for f in forms if f}


def _cover(low: str, form: str, covered: bytearray) -> None:
    """Mark in ``covered`` where ``low`` holds ``form``: whole when it is shorter than
    REDACT_MIN, else every REDACT_MIN-character piece of it."""
    if len(form) < REDACT_MIN:
        start = low.find(form)
        while start >= 0:
            covered[start : start + len(form)] = b"\1" * len(form)
            start = low.find(form, start + 1)
        return
    grams = {form[i : i + REDACT_MIN] for i in range(len(form) - REDACT_MIN + 1)}
    for i in range(len(low) - REDACT_MIN + 1):
        if low[i : i + REDACT_MIN] in grams:
            covered[i : i + REDACT_MIN] = b"\1" * REDACT_MIN


def redact_secrets(text: str, secrets: list[str] | tuple[str, ...]) -> str:
    """``text`` with every substring of 6+ characters of any secret (raw, base64,
    URL-encoded, in any letter case) replaced by ``[redacted]``; a secret shorter than that
    is replaced where it occurs whole."""
    if not text or not secrets:
        return text
    low = text.lower()
    covered = bytearray(len(text))
    for secret in secrets:
        if not secret:
            continue
        for form in _encodings(secret):
            _cover(low, form, covered)
    if not any(covered):
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        if covered[i]:
            while i < len(text) and covered[i]:
                i += 1
            out.append(REDACTED)
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


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


class LazyBatch(RecordBatch):
    """A batch whose records are built when it is first read (iterated, measured, indexed,
    compared or changed): a sync that finds the batch's ``source_digest`` settled (its page
    digests, ``sync.pages``) never reads it, so an unchanged page costs no shaping.

    ``build`` must give the same records whenever it runs (what the digest says they are
    built from). It may ask the upstream (a connector that got "not modified" answers
    fetches the bodies then); a ConnectorError it raises fails the sync as usual."""

    _build: Callable[[], list[ResourceRecord]] | None = None  # (also once unpickled)

    def __init__(self, build: Callable[[], list[ResourceRecord]], digest: bytes) -> None:
        super().__init__()
        self.source_digest = digest
        self._build = build

    def _records(self) -> list[ResourceRecord]:
        build = self._build
        if build is not None:
            self._build = None
            list.extend(self, build())
        return self

    def __radd__(self, other: list[ResourceRecord]) -> list[ResourceRecord]:
        return [*other, *self._records()]


def _materializing(name: str) -> Callable[..., Any]:
    method = getattr(list, name)

    def call(self: LazyBatch, *args: Any, **kwargs: Any) -> Any:
        for arg in args:  # another lazy batch (compared, added) is read by its storage too
            if isinstance(arg, LazyBatch):
                arg._records()
        return method(self._records(), *args, **kwargs)

    call.__name__ = name
    return call


# Every list method reads the records built first (list's own methods read its storage).
for _name in (
    "__iter__", "__len__", "__getitem__", "__contains__", "__reversed__", "__eq__", "__ne__",
    "__lt__", "__le__", "__gt__", "__ge__", "__add__", "__mul__", "__rmul__", "__iadd__",
    "__imul__", "__setitem__", "__delitem__", "__repr__", "__reduce_ex__", "copy", "index",
    "count", "append", "extend", "insert", "pop", "remove", "sort", "reverse", "clear",
):  # fmt: skip
    setattr(LazyBatch, _name, _materializing(_name))


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
    #: Why it was not accepted, classified: ``unauthorized``, ``forbidden``,
    #: ``unreachable`` or ``invalid_response`` (set by the caller that stores it).
    error: str | None = None
    #: The upstream's HTTP status behind the answer, when there was one.
    upstream_status: int | None = None


ErrorKind = Literal[
    "auth", "rate_limited", "upstream", "timeout", "unreachable", "malformed", "config"
]


class ConnectorError(Exception):
    """A sync that cannot go on. ``kind`` tells the engine how to react:
    ``auth`` taints the credential and halts the schedule; the others fail the run and
    delay the next one. ``remediation`` is shown to the user."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        remediation: str | None = None,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.remediation = remediation
        self.retry_after = retry_after
        #: The upstream's HTTP status, when an answer caused the error.
        self.status = status


@dataclass(frozen=True, slots=True)
class ChildQuery:
    """Which page of which resource's children :meth:`Connector.list_children` lists: the
    resource by type and config (as ``discover()`` reported it), the kind of children, and
    the page as ``limit`` items after ``offset``."""

    resource_type: str
    resource_config: Mapping[str, Any]
    kind: str
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class ChildPage:
    """One page of a resource's children, read from the upstream, and how many there are."""

    items: list[dict[str, Any]]
    total: int


@dataclass(frozen=True, slots=True)
class PolledEvent:
    """An event the upstream reported about one of its objects (``poll_events``): the
    resource it concerns, by type and config as ``discover()`` reports it."""

    resource_type: str
    resource_config: dict[str, Any]
    event: EventRecord


class Connector(ABC):
    """What every polled integration implements. Subclasses set ``integration_name`` and
    declare the optional capabilities they have (see the module doc)."""

    integration_name: ClassVar[str]
    #: Bump when the same upstream bytes would give different records (what a connector
    #: builds changed): page digests remembered by an older version then no longer match.
    records_version: ClassVar[int] = 1
    #: True when :meth:`diff_events` derives events; when False a sync neither reads the
    #: stored data of changed resources nor calls it.
    derives_events: ClassVar[bool] = False
    #: The children :meth:`list_children` lists, by resource type: ``{type: (kind, ...)}``.
    child_kinds: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    #: True when :meth:`poll_events` lists the upstream's events since a time: the sync
    #: engine then polls them after each complete discovery. A connector whose config
    #: decides (an upstream that may or may not have an event listing) sets it per
    #: instance in ``__init__``.
    polls_events: bool = False
    #: True when the connector keeps state between complete syncs (:attr:`state`,
    #: :meth:`next_state`), e.g. validators (ETags) for conditional requests.
    keeps_state: ClassVar[bool] = False

    def __init__(
        self,
        *,
        config: Mapping[str, Any],
        credential: Credential | None,
        http: UpstreamHTTP | None = None,
    ) -> None:
        self.config = dict(config)
        self.credential = credential
        self.http = http or UpstreamHTTP()
        #: What the last complete sync kept (``keeps_state``; set by the engine before
        #: ``discover()``; empty on a first sync). Never secret: stored in clear.
        self.state: dict[str, str] = {}
        if credential is not None:
            # The credential goes to its own origin only, and its secrets never come back
            # in an error's excerpt of an upstream answer.
            self.http.guard(credential)

    @abstractmethod
    def verify(self) -> VerifyResult:
        """Check the credential against the upstream with one cheap call."""

    @abstractmethod
    def discover(self) -> Iterator[list[ResourceRecord]]:
        """Yield every upstream object, a batch (typically one upstream page) at a time.

        Raise :class:`ConnectorError` on failure; the engine then marks nothing as
        vanished. Returning normally means the listing was complete.
        """

    def diff_events(
        self, before: dict[str, Any] | None, after: ResourceRecord
    ) -> list[EventRecord]:
        """Integration events that the change from ``before`` (stored integration_data, or
        None for a new resource) to ``after`` means (when ``derives_events``)."""
        return []

    def list_children(self, query: ChildQuery) -> ChildPage:
        """One page of a resource's children of ``query.kind`` (one of
        ``child_kinds[type]``), straight from the upstream; ConnectorError when it fails."""
        raise NotImplementedError(f"{type(self).__name__} lists no children")

    def poll_events(self, since: dt.datetime | None) -> Iterator[PolledEvent]:
        """The upstream's events since ``since`` (None: as far back as it keeps them),
        when ``polls_events``; ConnectorError when it fails."""
        raise NotImplementedError(f"{type(self).__name__} polls no events")

    def next_state(self) -> dict[str, str]:
        """What to keep for the next sync (``keeps_state``), asked after a complete
        ``discover()``; a failed sync keeps the previous state."""
        return dict(self.state)

    def close(self) -> None:
        """Release HTTP connections."""
        self.http.close()


#: The descriptor keys, in the order ``GET /v1/integrations`` shows them.
DESCRIPTOR_KEYS = (
    "name",
    "display_name",
    "description",
    "built_in",
    "version",
    "visibility",
    "authorization",
    "config_schema",
    "resource_types",
    "discovery",
    "api_spec_provider",
    "events",
)


@dataclass(frozen=True, eq=False)
class Integration:
    """What a connector package declares (and names in the ``service_catalog.connectors``
    entry-point group): its descriptor, shaped like the contract's ``CatalogIntegration``,
    with ``config_schema`` generated from ``config``; its connector class (None: a
    push-only integration, nothing polled); and the routes it contributes
    (``"module:attribute"`` of a FastAPI ``APIRouter``, imported only by the app)."""

    name: str
    display_name: str
    description: str
    connector: type[Connector] | None
    config: type[ConnectorConfig] = NoConfig
    authorization: Mapping[str, Any] | None = None
    resource_types: Mapping[str, Any] = field(default_factory=dict)
    discovery: Mapping[str, Any] | None = None
    events: Mapping[str, Any] | None = None
    built_in: bool = False
    version: str = "v1"
    visibility: str = "public"
    api_spec_provider: Mapping[str, Any] | None = None
    routes: str | None = None
    #: Dot paths into ``integration_data`` (``service_name``, ``vulnerabilities.open``)
    #: that ``filter[integration_data.<path>]`` and ``GET /v1/resources/facets`` read
    #: through the resource index: the few a console filters on (each costs a row per
    #: resource holding it, written with every change). Paths go through objects (an
    #: array's items are not reached); a value that is an object or an array compares as
    #: its compact JSON.
    indexed_data: tuple[str, ...] = ()
    #: Credential types the integration takes besides ``authorization``'s type (e.g.
    #: GitHub's ``github_app_installation`` beside a token's ``multi_key_auth``).
    credential_types: tuple[str, ...] = ()
    #: Where it was found (the entry point's value), for messages.
    module: str = ""
    descriptor: Mapping[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        split_paths("integration_data", self.indexed_data)  # a ValueError names a bad one
        values = {
            "name": self.name,
            "display_name": self.display_name,
            "description": self.description,
            "built_in": self.built_in,
            "version": self.version,
            "visibility": self.visibility,
            "authorization": self.authorization,
            "config_schema": config_schema(self.config),
            "resource_types": self.resource_types,
            "discovery": self.discovery,
            "api_spec_provider": self.api_spec_provider,
            "events": self.events,
        }
        object.__setattr__(self, "descriptor", {k: values[k] for k in DESCRIPTOR_KEYS})

    @property
    def auth_type(self) -> str | None:
        """The credential type the integration takes (``multi_key_auth``...), or None."""
        auth = self.authorization
        return str(auth["type"]) if isinstance(auth, Mapping) and auth.get("type") else None

    @property
    def auth_headers(self) -> list[str]:
        """The header names a ``multi_key_auth`` integration expects."""
        auth = self.authorization or {}
        headers = (auth.get("config") or {}).get("headers") or []
        return [str(h["name"]) for h in headers]

    @property
    def required_auth_headers(self) -> list[str]:
        """The header names a ``multi_key_auth`` credential must carry: all the declared
        ones but those declared ``"required": false`` (an integration taking either of two
        headers, e.g. gateway-manager's Kong-Admin-Token or Authorization)."""
        auth = self.authorization or {}
        headers = (auth.get("config") or {}).get("headers") or []
        return [str(h["name"]) for h in headers if h.get("required", True) is not False]

    @property
    def config_schema(self) -> Mapping[str, Any]:
        """The integration's config fields by name (generated from ``config``)."""
        return self.descriptor["config_schema"]  # type: ignore[no-any-return]

    @property
    def push_only(self) -> bool:
        """True when nothing is polled (no connector): authorized without a credential."""
        return self.connector is None

    def resource_types_for(self, config: Mapping[str, Any] | None) -> Mapping[str, Any]:
        """The resource types an instance with ``config`` holds, by name, with their
        schema: the declared ones. An integration whose instances choose a type of their
        own overrides this."""
        return self.resource_types

    def upstream_base_url(self, config: Mapping[str, Any]) -> Any:
        """The base URL an instance with (effective) ``config`` talks to, whose origin its
        credential is bound to: ``config.base_url``. An integration that derives it
        otherwise (a region) overrides this."""
        return config.get("base_url")

    def child_kinds(self, resource_type: str) -> tuple[str, ...]:
        """The kinds of children the connector lists for a resource of ``resource_type``."""
        return tuple(self.connector.child_kinds.get(resource_type, ())) if self.connector else ()


def single_header_auth(
    display_name: str, description: str, *, name: str = "authorization"
) -> dict[str, Any]:
    """The descriptor's ``authorization`` of an integration whose credential is one header
    (``multi_key_auth``), ``Authorization`` unless ``name`` says otherwise."""
    header = {"name": name, "display_name": display_name, "description": description}
    return {"type": "multi_key_auth", "config": {"headers": [header]}}


def simple_resource_type(display_name: str, key: str) -> dict[str, Any]:
    """A descriptor's ``resource_types`` entry for a resource identified by one string
    ``key`` of its config."""
    return {
        "display_name": display_name,
        "schema": {"type": "simple", "definition": {key: "string"}},
    }


@contextmanager
def usable_base_url() -> Iterator[None]:
    """Turn httpx's refusal of a request's URL into ``ConnectorError('config')`` saying to
    fix ``config.base_url``."""
    try:
        yield
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise ConnectorError(
            "config",
            f"The base_url is not a usable URL: {exc}",
            remediation="Fix config.base_url (http:// or https://).",
        ) from None


def decode_json(content: bytes) -> Any:
    """An upstream's JSON body, decoded by orjson (2-3x faster than the json module on
    large pages). Strict JSON: NaN, Infinity, bad UTF-8 or nesting deeper than 1024 are a
    ValueError (orjson.JSONDecodeError); an integer beyond 64 bits becomes a float."""
    return orjson.loads(content)


def json_object(
    content: bytes, *, invalid: str, not_object: str, remediation: str
) -> dict[str, Any]:
    """An upstream's body that must be a JSON object; ``ConnectorError('malformed')`` saying
    ``invalid`` (not JSON, with ``remediation``) or ``not_object`` (other JSON) otherwise."""
    try:
        body = decode_json(content)
    except ValueError:
        raise ConnectorError("malformed", invalid, remediation=remediation) from None
    if not isinstance(body, dict):
        raise ConnectorError("malformed", not_object)
    return body


def credential_header(headers: Mapping[str, str] | None, name: str = "authorization") -> str:
    """The value of the credential's header ``name`` (any case; the last one given), or
    ``""``."""
    found = ""
    for key, value in (headers or {}).items():
        if key.lower() == name:
            found = value
    return found


def authorization(value: str, prefix: str, missing: str, remediation: str) -> str:
    """A credential's ``authorization`` header ``value`` as sent upstream: a bare key gets
    ``prefix`` ("Bearer ") put before it (one starting with the prefix's first word is
    kept); a ``ConnectorError`` ("auth") saying ``missing`` and ``remediation`` when the
    value is empty."""
    if not value:
        raise ConnectorError("auth", missing, remediation=remediation)
    scheme = prefix.split(" ", 1)[0].lower() + " "
    return value if value.lower().startswith(scheme) else prefix + value


class RateLimits:
    """How an upstream says it is rate limiting: HTTP 429, wait ``Retry-After``."""

    def throttled(self, resp: httpx.Response, http: UpstreamHTTP) -> bool:
        """Whether ``resp`` is a rate limit, retried after :meth:`wait_of` (``http``'s
        ``max_sleep`` at most); raise ConnectorError to give up at once."""
        return resp.status_code == 429

    def wait_of(self, resp: httpx.Response) -> float | None:
        """Seconds to wait before retrying ``resp``, when it says: ``Retry-After``, or on a
        429 without it the IETF ``RateLimit-Reset`` (PagerDuty): seconds until the window
        resets."""
        wait = retry_after_seconds(resp.headers.get("retry-after"))
        if wait is None and resp.status_code == 429:
            wait = retry_after_seconds(resp.headers.get("ratelimit-reset"))
        return wait


def _tls_context() -> ssl.SSLContext:
    """The TLS context of upstream clients: httpx's default (certifi's CA bundle, or
    ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set), made once per process and CA setting
    rather than per client: loading the CA bundle cost every sync run 50-150 ms."""
    return _tls_context_for(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@lru_cache(maxsize=4)
def _tls_context_for(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    # The arguments only key the cache: httpx reads the same variables itself.
    return httpx.create_ssl_context()


class UpstreamHTTP:
    """httpx with timeouts and retries: 429 and 5xx are retried with exponential backoff
    honouring ``Retry-After``; 401/403 become ``ConnectorError('auth')``.

    Every request is checked first against the outbound policy
    (:mod:`service_catalog.core.outbound`: http(s) only, never a link-local or
    cloud-metadata address, inside ``SERVICE_CATALOG_UPSTREAM_ALLOW``) and, once
    :meth:`guard` bound it to a credential, must go to that credential's origin.
    Redirects are never followed. An error quoting the upstream's answer carries at most a
    short excerpt with the credential's secrets removed (:func:`redact_secrets`).
    ``last_failure`` is the last error raised or the last non-2xx answer returned (kind,
    status), for a caller that classifies a verification."""

    def __init__(
        self,
        *,
        client: httpx.Client | None = None,
        policy: OutboundPolicy | None = None,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_sleep: float = 60.0,
    ) -> None:
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(timeout), follow_redirects=False, verify=_tls_context()
        )
        self.retries = retries
        self.backoff = backoff
        self.max_sleep = max_sleep
        self.retried = 0
        self.policy = policy
        self.origin: str | None = None
        self._secrets: list[str] = []
        self.last_failure: ConnectorError | None = None
        #: How the upstream says "rate limited" (a connector whose upstream limits with
        #: another status than 429 sets its own).
        self.limits = RateLimits()

    def guard(self, credential: Credential) -> None:
        """Send requests only to ``credential.origin`` (when set); redact its secrets."""
        if credential.origin:
            self.origin = credential.origin
        self._secrets = credential.secret_values()

    def _check(self, method: str, url: str) -> None:
        policy = self.policy or current_policy()
        try:
            origin = policy.check_request_url(str(url))
        except OutboundRefused as exc:
            raise self._fail(
                ConnectorError(
                    "config",
                    f"Refused to send {method} to {_origin(url)}: the URL {exc}",
                    remediation="Fix the instance's base_url (http(s), not a link-local or "
                    "cloud-metadata address, inside SERVICE_CATALOG_UPSTREAM_ALLOW "
                    "when it is set).",
                )
            ) from None
        if self.origin is not None and origin != self.origin:
            raise self._fail(
                ConnectorError(
                    "config",
                    f"Refused to send the credential to {origin}: it was stored for {self.origin}",
                    remediation="DELETE the instance's auth credential and POST it again for the "
                    "new upstream.",
                )
            )

    def _fail(self, exc: ConnectorError) -> ConnectorError:
        self.last_failure = exc
        return exc

    def excerpt(self, resp: httpx.Response, headers: Any = None) -> str:
        """A short excerpt of ``resp``'s body with every secret removed: this instance's
        credential's and the values of the headers the request carried."""
        secrets = list(self._secrets)
        if isinstance(headers, Mapping):
            secrets += [v for v in headers.values() if isinstance(v, str) and v]
            secrets += [
                v.partition(" ")[2]
                for v in headers.values()
                if isinstance(v, str) and len(v.partition(" ")[2]) >= 4
            ]
        try:
            text = resp.text
        except Exception:  # an undecodable body has no excerpt
            return ""
        text = " ".join(text.split())
        # Redact before cutting, so a secret cut in half is still found.
        return _cut(redact_secrets(text[:2000], secrets), 160)

    def throttled(self, resp: httpx.Response) -> bool:
        """Whether ``resp`` is the upstream's rate limit (``self.limits`` says)."""
        return self.limits.throttled(resp, self)

    def wait_of(self, resp: httpx.Response) -> float | None:
        """Seconds the upstream asks to wait before retrying ``resp`` (``self.limits``)."""
        return self.limits.wait_of(resp)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send a request, retrying what is worth retrying; raise ConnectorError otherwise.
        ``allow_status``: statuses among 401/403 returned as answers instead (an upstream
        saying a feature is not permitted, not that the credential is bad)."""
        allow: Collection[int] = kwargs.pop("allow_status", ())
        kwargs["follow_redirects"] = False  # a redirect never takes the credential elsewhere
        self.last_failure = None
        attempt = 0
        while True:
            self._check(method, url)
            try:
                resp = _unbound(self.client.request(method, url, **kwargs))
            except httpx.HTTPError as exc:  # a timeout or a transport failure: retried
                if attempt < self.retries:
                    attempt += 1
                    self.retried += 1
                    time.sleep(min(self.backoff * 2 ** (attempt - 1), self.max_sleep))
                    continue
                if isinstance(exc, httpx.TimeoutException):
                    raise self._fail(
                        ConnectorError(
                            "timeout",
                            f"The upstream at {_origin(url)} did not answer in time "
                            f"({attempt + 1} attempts)",
                            remediation="Check that the upstream is healthy; "
                            "the next sync retries.",
                        )
                    ) from None
                raise self._fail(
                    ConnectorError(
                        "unreachable",
                        f"Cannot reach {_origin(url)}: {type(exc).__name__}",
                        remediation="Check the instance's base URL and the network.",
                    )
                ) from None
            throttled = self.throttled(resp)
            if resp.status_code in (401, 403) and not throttled and resp.status_code not in allow:
                excerpt = self.excerpt(resp, kwargs.get("headers"))
                raise self._fail(
                    ConnectorError(
                        "auth",
                        f"The upstream rejected the credential (HTTP {resp.status_code}"
                        f"{': ' + excerpt if excerpt else ''})",
                        remediation="Replace the instance's auth credential with a valid one "
                        "(DELETE then POST .../auth-credential).",
                        status=resp.status_code,
                    )
                )
            if throttled or resp.status_code >= 500:
                wait = self.wait_of(resp)
                if attempt < self.retries:
                    attempt += 1
                    self.retried += 1
                    delay = wait if wait is not None else self.backoff * 2 ** (attempt - 1)
                    time.sleep(min(delay, self.max_sleep))
                    continue
                kind: ErrorKind = "rate_limited" if throttled else "upstream"
                raise self._fail(
                    ConnectorError(
                        kind,
                        f"The upstream answered HTTP {resp.status_code} after "
                        f"{attempt + 1} attempts",
                        remediation="The next sync retries; if this persists, check the upstream.",
                        retry_after=wait,
                        status=resp.status_code,
                    )
                )
            if resp.is_redirect and resp.status_code != 304:
                target = resp.headers.get("location", "")
                raise self._fail(
                    ConnectorError(
                        "config",
                        f"The upstream answered HTTP {resp.status_code}, a redirect"
                        f"{' to ' + _origin_or_path(target) if target else ''}; the "
                        "catalog does not follow redirects with a credential",
                        remediation="Set the instance's base_url to the address the upstream "
                        "redirects to (DELETE the auth credential first if the origin "
                        "changes).",
                        status=resp.status_code,
                    )
                )
            if not resp.is_success:
                self.last_failure = ConnectorError(
                    "upstream", f"HTTP {resp.status_code}", status=resp.status_code
                )
            return resp

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


def _unbound(resp: httpx.Response) -> httpx.Response:
    """``resp`` (read and closed) no longer in a reference cycle with its own stream.

    httpx binds every response's stream to the response (``BoundSyncStream`` holds the
    response, the response holds the stream), so a response - and its body - is freed
    only by the cyclic garbage collector, which a sync runs rarely
    (:func:`service_catalog.sync.gc.fewer_gc_passes`): thousands of pages' bodies piled up
    between collections (hundreds of MB for a PagerDuty account). The body is read, so
    the bound stream has done its work; a plain stream over the same bytes replaces it and
    the response is freed as soon as the connector drops it."""
    resp.stream = httpx.ByteStream(resp.content)
    return resp


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


def _origin_or_path(target: str) -> str:
    try:
        return origin_of(target)
    except OutboundRefused:
        return "another path"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."

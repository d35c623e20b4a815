"""The request middleware: trace ids, body limits, metrics and request logs.

A pure ASGI middleware (not Starlette's BaseHTTPMiddleware) so that it costs
little on every request.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service_catalog.core.errors import UNEXPECTED_DETAIL, Problem, problem_body
from service_catalog.core.query import reset_cursor_key, use_cursor_key

log = logging.getLogger("service_catalog.request")
log_error = logging.getLogger("service_catalog.errors")


class Metrics:
    """Prometheus metrics of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "service_catalog_http_requests_total",
            "HTTP requests by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "service_catalog_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )


def _refused(
    status: int,
    detail: str,
    *,
    field: str = "body",
    source: str = "body",
    reason: str | None = None,
    headers: dict[str, str] | None = None,
) -> Problem:
    """A request refused before the route sees it; a 400 names its one invalid parameter."""
    params = None
    if status == 400:
        params = [{"field": field, "rule": "invalid", "reason": reason or detail, "source": source}]
    return Problem(status, detail, invalid_parameters=params, headers=headers)


class RequestMiddleware:
    """Give each request a trace id, refuse oversized, non-JSON or non-UTF-8 bodies, turn
    any unexpected exception into a problem+json 500 (the connection stays open), count
    and log it.

    ``cursor_key`` gives the key that signs and checks list cursors during the request
    (see :func:`service_catalog.core.query.use_cursor_key`).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body_bytes: int,
        cursor_key: Callable[[], bytes] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body_bytes
        self.cursor_key = cursor_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        trace_id = uuid.uuid4().hex
        scope.setdefault("state", {})["trace_id"] = trace_id
        status_holder = [500]
        progress = {"started": False, "done": False}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                progress["started"] = True
                headers = list(message.get("headers", []))
                headers.append((b"x-trace-id", trace_id.encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                progress["done"] = True
            await send(message)

        key_token = use_cursor_key(self.cursor_key) if self.cursor_key is not None else None
        try:
            method = scope["method"]
            body = b""
            if method in ("POST", "PUT", "PATCH", "DELETE"):
                try:
                    body = await self._read_body(scope, receive)
                    body, doc = _check_json_body(scope, body)
                except Problem as problem:
                    await self._problem(send_wrapper, problem, trace_id)
                    return
                receive = _replay(body, receive)
            else:
                doc = None
            bad = _unstorable_text(scope, body, doc)
            if bad is not None:
                field, source, reason = bad
                refused = _refused(
                    400,
                    f"Invalid request: {field} {reason}",
                    field=field,
                    source=source,
                    reason=reason,
                )
                await self._problem(send_wrapper, refused, trace_id)
                return
            await self._call_app(scope, receive, send_wrapper, trace_id, progress)
        finally:
            if key_token is not None:
                reset_cursor_key(key_token)
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            status = status_holder[0]
            self.metrics.requests.labels(scope["method"], template, str(status)).inc()
            self.metrics.latency.labels(scope["method"], template).observe(elapsed)
            if template not in ("/health", "/metrics"):
                log.info(
                    "%s %s %s",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "route": template,
                        "duration_ms": round(elapsed * 1000, 2),
                        "trace_id": trace_id,
                    },
                )

    async def _call_app(
        self, scope: Scope, receive: Receive, send: Send, trace_id: str, progress: dict[str, bool]
    ) -> None:
        """Run the app; an exception that escapes it is logged once with the trace id and,
        while nothing was sent yet, answered as a problem+json 500. Not re-raising it keeps
        the client's keep-alive connection open (the server closes a connection whose
        application raised), so the client's next request, maybe a write, is not lost."""
        try:
            await self.app(scope, receive, send)
        except Exception:
            log_error.exception(
                "unhandled error on %s %s",
                scope["method"],
                scope["path"],
                extra={"trace_id": trace_id},
            )
            if progress["started"] and not progress["done"]:
                raise  # half a response went out: only closing the connection tells the client
            if not progress["started"]:
                await self._problem(send, Problem(500, UNEXPECTED_DETAIL), trace_id)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > self.max_body:
                    raise _refused(413, f"Request body is larger than {self.max_body} bytes")
            except ValueError:
                raise _refused(400, "Content-Length is not a number") from None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise _refused(413, f"Request body is larger than {self.max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if body and (ctype.endswith(b"json") or _is_api(scope)):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _refused(400, f"Request body is not valid UTF-8 (byte {exc.start})") from None
        return body

    async def _problem(self, send: Send, problem: Problem, trace_id: str) -> None:
        body = problem_body(problem.status, problem.title, problem.detail, trace_id)
        if problem.invalid_parameters is not None:
            body["invalid_parameters"] = problem.invalid_parameters
        raw = json.dumps(body).encode()
        extra = [(k.lower().encode(), v.encode()) for k, v in (problem.headers or {}).items()]
        await send(
            {
                "type": "http.response.start",
                "status": problem.status,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(raw)).encode()),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": raw})


_API_PREFIXES = ("/v1/", "/v2/", "/v3/")
_BOM = b"\xef\xbb\xbf"
_JSON_EXPECTED = "application/json (or an application/*+json type), in UTF-8"


def _is_api(scope: Scope) -> bool:
    return str(scope["path"]).startswith(_API_PREFIXES)


def _json_media_type(value: bytes) -> bool:
    """Whether a Content-Type names JSON in UTF-8: ``application/json`` or a ``+json``
    type (``application/merge-patch+json``), parameters allowed, a charset only UTF-8."""
    try:
        text = value.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        return False
    media, *params = [p.strip() for p in text.split(";")]
    kind, _, subtype = media.lower().partition("/")
    if kind != "application" or not (subtype == "json" or subtype.endswith("+json")):
        return False
    for param in params:
        name, _, val = param.partition("=")
        if name.strip().lower() == "charset" and val.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            return False
    return True


class _Duplicated(dict[str, Any]):
    """A JSON object that repeated a key (``duplicate`` names the first repeated one)."""

    def __init__(self, obj: dict[str, Any], *, duplicate: str) -> None:
        super().__init__(obj)
        self.duplicate = duplicate


def _first_repeated(pairs: list[tuple[str, Any]]) -> str:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    return ""  # pragma: no cover - only called when a key repeats


def _check_json_body(scope: Scope, body: bytes) -> tuple[bytes, Any]:
    """The body of an API write as routes get it, and its parsed JSON (None when there is
    none or it is malformed: the route says what is wrong), after the checks every route
    shares: a body must be sent as JSON (else 415), a leading UTF-8 byte order mark is
    dropped (accepted everywhere, as RFC 8259 allows), and no object may repeat a key
    (400 naming it)."""
    if not body or not _is_api(scope):
        return body, None
    headers = scope.get("headers", [])
    ctype = next((v for k, v in headers if k == b"content-type"), None)
    if ctype is None or not _json_media_type(ctype):
        got = f"[{ctype.decode('latin-1')}]" if ctype is not None else "no Content-Type"
        accept = {"PATCH": "Accept-Patch", "POST": "Accept-Post"}.get(scope["method"])
        raise _refused(
            415,
            f"Request body must be JSON: send Content-Type {_JSON_EXPECTED}; got {got}",
            headers={accept: "application/json"} if accept else None,
        )
    if body.startswith(_BOM):
        body = body[len(_BOM) :]
        scope["headers"] = [
            (k, str(len(body)).encode() if k == b"content-length" else v) for k, v in headers
        ]
    repeated: list[bool] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        repeated.append(True)
        return _Duplicated(obj, duplicate=_first_repeated(pairs))

    try:
        doc = json.JSONDecoder(object_pairs_hook=pairs_hook).decode(body.decode("utf-8"))
    except RecursionError:
        raise _refused(
            400, "Invalid request: body is nested too deeply", reason="is nested too deeply"
        ) from None
    except ValueError:
        return body, None  # the route reports malformed JSON, with its position
    where = _duplicate_key(doc) if repeated else None
    if where is not None:
        reason = "is a key repeated in the same JSON object"
        raise _refused(400, f"Invalid request: {where} {reason}", field=where, reason=reason)
    return body, doc


def _duplicate_key(doc: Any) -> str | None:
    """The path of the first repeated key in ``doc``, if any."""
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node, _Duplicated):
                return f"{path}.{node.duplicate}" if path else node.duplicate
            stack.extend((f"{path}.{k}" if path else str(k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((f"{path}.{i}" if path else str(i), v) for i, v in enumerate(node))
    return None


_NUL_REASON = "must not contain NUL characters"
_TEXT_REASON = "must not contain NUL characters or unpaired UTF-16 surrogates"


def _bad_string(value: str) -> bool:
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _unstorable_text(scope: Scope, body: bytes, doc: Any) -> tuple[str, str, str] | None:
    """(field, source, reason) of text no database can store: NUL characters (PostgreSQL
    refuses them) and unpaired surrogates (not UTF-8). Checked here, once, for every
    API route, so no domain can turn them into a 500."""
    if not scope["path"].startswith(("/v1/", "/v2/", "/v3/")):
        return None
    if "\x00" in scope["path"]:
        return "path", "path", _NUL_REASON
    qs: bytes = scope.get("query_string", b"")
    if b"%00" in qs or b"\x00" in qs:
        return "query", "query", _NUL_REASON
    if doc is None or (b"\\u" not in body and b"\\U" not in body):
        return None  # raw NUL bytes and surrogates are invalid JSON anyway
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            if _bad_string(node):
                return path or "body", "body", _TEXT_REASON
        elif isinstance(node, dict):
            for key, value in node.items():
                sub = f"{path}.{key}" if path else str(key)
                if _bad_string(key):
                    return path or "body", "body", _TEXT_REASON
                stack.append((sub, value))
        elif isinstance(node, list):
            stack.extend((f"{path}.{i}" if path else str(i), v) for i, v in enumerate(node))
    return None


def _replay(body: bytes, original: Receive) -> Any:
    """A receive() that hands over the already-read body, then waits on the real channel."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()

    return receive

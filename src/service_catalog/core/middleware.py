"""The request middleware: trace ids, body limits, metrics and request logs.

A pure ASGI middleware (not Starlette's BaseHTTPMiddleware) so that it costs
little on every request.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service_catalog.core.errors import problem_body

log = logging.getLogger("service_catalog.request")


class Metrics:
    """Prometheus metrics of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "service_catalog_http_requests_total", "HTTP requests by route and status.",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "service_catalog_http_request_duration_seconds", "HTTP request latency by route.",
            ["method", "route"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )


class RequestMiddleware:
    """Give each request a trace id, refuse oversized or non-UTF-8 bodies, count and log it."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        trace_id = uuid.uuid4().hex
        scope.setdefault("state", {})["trace_id"] = trace_id
        status_holder = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-trace-id", trace_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            method = scope["method"]
            if method in ("POST", "PUT", "PATCH", "DELETE"):
                body, problem = await self._read_body(scope, receive)
                if problem is not None:
                    status, detail = problem
                    await self._problem(send_wrapper, status, detail, trace_id)
                    return
                receive = _replay(body, receive)
                _force_json_content_type(scope)
            bad = _unstorable_text(scope, body if method in ("POST", "PUT", "PATCH", "DELETE")
                                   else b"")
            if bad is not None:
                field, source, reason = bad
                await self._problem(send_wrapper, 400, f"Invalid request: {field} {reason}",
                                    trace_id, field=field, source=source, reason=reason)
                return
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            status = status_holder[0]
            self.metrics.requests.labels(scope["method"], template, str(status)).inc()
            self.metrics.latency.labels(scope["method"], template).observe(elapsed)
            if template not in ("/health", "/metrics"):
                log.info(
                    "%s %s %s", scope["method"], scope["path"], status,
                    extra={"method": scope["method"], "path": scope["path"], "status": status,
                           "route": template, "duration_ms": round(elapsed * 1000, 2),
                           "trace_id": trace_id},
                )

    async def _read_body(self, scope: Scope, receive: Receive
                         ) -> tuple[bytes, tuple[int, str] | None]:
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > self.max_body:
                    return b"", (413, f"Request body is larger than {self.max_body} bytes")
            except ValueError:
                return b"", (400, "Content-Length is not a number")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return b"", (413, f"Request body is larger than {self.max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if body and (ctype.endswith(b"json") or scope["path"].startswith(("/v1/", "/v2/", "/v3/"))):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                return b"", (400, f"Request body is not valid UTF-8 (byte {exc.start})")
        return body, None

    async def _problem(self, send: Send, status: int, detail: str, trace_id: str, *,
                       field: str = "body", source: str = "body",
                       reason: str | None = None) -> None:
        titles = {400: "Bad Request", 413: "Payload Too Large"}
        body = problem_body(status, titles.get(status, "Error"), detail, trace_id)
        if status == 400:
            body["invalid_parameters"] = [
                {"field": field, "rule": "invalid", "reason": reason or detail, "source": source}]
        raw = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/problem+json"),
                                (b"content-length", str(len(raw)).encode())]})
        await send({"type": "http.response.body", "body": raw})


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


def _unstorable_text(scope: Scope, body: bytes) -> tuple[str, str, str] | None:
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
    if not body or (b"\\u" not in body and b"\\U" not in body):
        return None  # raw NUL bytes and surrogates are invalid JSON anyway
    try:
        doc = json.loads(body)
    except RecursionError:
        return "body", "body", "is nested too deeply"
    except ValueError:
        return None  # the route reports malformed JSON
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


def _force_json_content_type(scope: Scope) -> None:
    """The API speaks only JSON: read a body sent as form data (curl -d) as JSON too."""
    if not scope["path"].startswith(("/v1/", "/v2/", "/v3/")):
        return
    headers = [(k, v) for k, v in scope.get("headers", []) if k != b"content-type"]
    original = dict(scope.get("headers", [])).get(b"content-type", b"")
    if b"json" in original:
        return
    headers.append((b"content-type", b"application/json"))
    scope["headers"] = headers


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

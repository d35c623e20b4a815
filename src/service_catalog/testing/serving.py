"""What the simulators share: a loopback HTTP server in a background thread (``with sim:``
starts one and stops it on the way out), the fault counters a test or ``POST`` to a control
endpoint sets (the next n requests rate-limited, failed, cut short; a listing's page failing
n times), and a quiet keep-alive request handler."""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self

JSON_UTF8 = "application/json; charset=utf-8"


@dataclass
class FailRule:
    """Fail the requests that match ``match`` (a ``None`` value matches anything) with
    ``status``, ``times`` times (``None``: every time)."""

    match: dict[str, Any]
    status: int
    times: int | None = None


class Serving:
    """A simulator served by ``handler`` (which finds it as ``handler.simulator``) on
    ``host:port`` (0: any free port), in a daemon thread named ``thread_name``.

    A subclass calls ``_serve_on(host, port)`` from its ``__init__`` (after creating
    ``self._lock``); ``start`` binds the port unless ``_bind`` did already.
    """

    handler: ClassVar[type[BaseHTTPRequestHandler]]
    thread_name: ClassVar[str] = "simulator"
    _lock: threading.Lock | threading.RLock

    def _serve_on(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None
        self._rules: list[FailRule] = []

    # --- serving -----------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the server (no trailing slash), once bound."""
        if self._url is None:
            raise RuntimeError("the simulator is not running; use it as a context manager")
        return self._url

    def _bind(self) -> ThreadingHTTPServer:
        if self._server is None:
            handler = type("Handler", (self.handler,), {"simulator": self})
            self._server = ThreadingHTTPServer((self._host, self._port), handler)
            self._server.daemon_threads = True
            host, port = self._server.server_address[:2]
            self._url = f"http://{host!s}:{port}"
        return self._server

    def start(self) -> Self:
        """Start serving in a background thread."""
        server = self._bind()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._server is not None:
            if self._thread is not None:
                self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def serve_until_killed(self, *shown: str) -> None:
        """Serve in this thread until interrupted, after printing one JSON line of the URL
        and the attributes named ``shown`` (how ``main`` hands a tenant to its caller)."""
        server = self._bind()
        line = {"url": self.url, **{name: getattr(self, name) for name in shown}}
        print(json.dumps(line), flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        sys.exit(0)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- faults ------------------------------------------------------------------

    def _take(self, name: str) -> bool:
        """Whether the fault counter ``name`` is on for this request: a positive count is
        used up by one, ``None`` is always on (a fault with no limit), 0 is off."""
        with self._lock:
            left = getattr(self, name)
            if left is None:
                return True
            if left > 0:
                setattr(self, name, left - 1)
                return True
            return False

    def fail_when(self, status: int, times: int | None = None, **match: Any) -> None:
        """Answer ``status`` to the next ``times`` requests (``None``: all) matching
        ``match`` (the request's listing path, page, operation ...)."""
        with self._lock:
            self._rules.append(FailRule(match, status, times))

    def _failure(self, **request: Any) -> int | None:
        """The status a ``fail_when`` rule makes this request fail with, if any."""
        with self._lock:
            for rule in self._rules:
                if (rule.times is not None and rule.times <= 0) or any(
                    v is not None and request.get(k) != v for k, v in rule.match.items()
                ):
                    continue
                if rule.times is not None:
                    rule.times -= 1
                return rule.status
        return None

    def _set_controls(self, settings: Any, settable: set[str]) -> str | None:
        """Apply a control request's settings (only the ``settable`` ones); the error
        to answer when it is not an object of such settings."""
        if not isinstance(settings, dict):
            return "not an object"
        unknown = sorted(set(settings) - settable)
        if unknown:
            return f"unknown settings: {', '.join(unknown)}"
        for key, value in settings.items():
            setattr(self, key, set(value) if isinstance(getattr(self, key), set) else value)
        return None


class SimHandler(BaseHTTPRequestHandler):
    """A keep-alive HTTP/1.1 handler, quiet (tests read ``sim.requests`` instead)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out without a delayed-ACK stall
    timeout = 60  # an idle keep-alive connection's thread ends after this

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        content_type: str | None = JSON_UTF8,
    ) -> None:
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging (it would print paths to stderr)."""

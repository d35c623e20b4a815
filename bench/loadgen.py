"""A small keep-alive HTTP/1.1 load generator over loopback (raw sockets, little client cost)."""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Result:
    """What one measured endpoint did."""

    label: str
    requests: int
    seconds: float
    latencies: list[float]
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        """Latency percentile in milliseconds."""
        if not self.latencies:
            return float("nan")
        data = sorted(self.latencies)
        k = min(len(data) - 1, max(0, round(p / 100 * (len(data) - 1))))
        return data[k] * 1000

    def line(self) -> str:
        return (
            f"{self.label:<34} {self.rps:9.0f} req/s   p50 {self.pct(50):7.2f} ms   "
            f"p99 {self.pct(99):7.2f} ms   n={self.requests} errors={self.errors}"
        )

    def mean_ms(self) -> float:
        return statistics.fmean(self.latencies) * 1000 if self.latencies else float("nan")


class Conn:
    """One keep-alive connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def request(self, raw: bytes) -> tuple[int, bytes]:
        self.sock.sendall(raw)
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            rest += chunk
        body, self.buf = rest[:length], rest[length:]
        return status, body

    def close(self) -> None:
        self.sock.close()


def build(method: str, path: str, token: str | None, body: bytes = b"") -> bytes:
    """The bytes of one request."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: keep-alive"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body or method in ("POST", "PATCH", "PUT"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def run(
    label: str,
    port: int,
    make: Callable[[int, int], bytes],
    *,
    threads: int = 4,
    seconds: float = 5.0,
    max_requests: int = 20000,
    warmup: float = 0.5,
    ok: tuple[int, ...] = (200,),
) -> Result:
    """Send requests from ``threads`` connections for ``seconds`` (after a warm-up), at most
    ``max_requests`` in all. ``make(thread, i)`` builds the i-th request of a thread."""
    lat: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    stop = threading.Event()
    measuring = threading.Event()
    budget = threading.Semaphore(max_requests)
    first_error: list[str] = []

    def worker(t: int) -> None:
        conn = Conn("127.0.0.1", port)
        i = 0
        try:
            while not stop.is_set():
                raw = make(t, i)
                i += 1
                if measuring.is_set() and not budget.acquire(blocking=False):
                    break
                t0 = time.perf_counter()
                status, body = conn.request(raw)
                dt = time.perf_counter() - t0
                if measuring.is_set():
                    lat[t].append(dt)
                    if status not in ok:
                        errors[t] += 1
                        if not first_error:
                            first_error.append(f"{label}: {status} {body[:300]!r}")
        finally:
            conn.close()

    pool = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(threads)]
    for th in pool:
        th.start()
    time.sleep(warmup)
    measuring.set()
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while time.perf_counter() < deadline and any(th.is_alive() for th in pool):
        time.sleep(0.05)
    stop.set()
    for th in pool:
        th.join(30)
    elapsed = time.perf_counter() - t0
    flat = [x for part in lat for x in part]
    if first_error:
        print(f"  first unexpected answer: {first_error[0]}", flush=True)
    return Result(label, len(flat), elapsed, flat, sum(errors))

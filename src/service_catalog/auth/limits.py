"""Slowing down abuse: clients that keep failing to authenticate, tokens that send too much.

Both limits live in the serving process (each replica counts its own clients), which is
what slowing a guesser needs; a limit across replicas belongs to the load balancer.
"""

from __future__ import annotations

import math
import threading
from collections import deque


class FailureLimiter:
    """Counts failed authentications per client address; after ``limit`` within
    ``window`` seconds, the client is refused until the oldest of them is ``window`` old.
    ``limit`` 0 turns it off."""

    def __init__(self, limit: int, window: float, max_clients: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str, now: float) -> int | None:
        """Seconds until ``client`` may try again, or None when it may now."""
        if self.limit <= 0:
            return None
        with self._lock:
            seen = self._failures.get(client)
            if seen is None:
                return None
            self._expire(seen, now)
            if len(seen) < self.limit:
                if not seen:
                    del self._failures[client]
                return None
            return max(1, math.ceil(seen[0] + self.window - now))

    def failed(self, client: str, now: float) -> None:
        """Record a failed authentication of ``client``."""
        if self.limit <= 0:
            return
        with self._lock:
            if client not in self._failures and len(self._failures) >= self.max_clients:
                self._failures.clear()  # bounded memory: forgetting errs towards the client
            seen = self._failures.setdefault(client, deque())
            self._expire(seen, now)
            seen.append(now)
            while len(seen) > self.limit:
                seen.popleft()

    def _expire(self, seen: deque[float], now: float) -> None:
        while seen and now - seen[0] >= self.window:
            seen.popleft()


class RateLimiter:
    """At most ``limit`` requests per key (a token's hash) in each fixed ``window`` of
    seconds; ``limit`` 0 turns it off."""

    def __init__(self, limit: int, window: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._counts: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float) -> int | None:
        """Count a request; seconds until the next window when it is one too many."""
        if self.limit <= 0:
            return None
        with self._lock:
            start, count = self._counts.get(key, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            if count >= self.limit:
                return max(1, math.ceil(start + self.window - now))
            if key not in self._counts and len(self._counts) >= self.max_keys:
                self._counts.clear()
            self._counts[key] = (start, count + 1)
            return None

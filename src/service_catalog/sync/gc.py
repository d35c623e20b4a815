"""The garbage-collection policy of a running sync."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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


__all__ = ["fewer_gc_passes"]

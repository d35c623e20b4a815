"""Iterating ahead: a helper thread runs an iterator a few items ahead of its consumer
(the sync engine reading a connector's pages while it stores the last one; a connector
fetching its next listing pages while it joins the current ones)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def read_ahead(
    items: Iterator[T],
    depth: int,
    *,
    name: str,
    grace: float = 0.0,
    before_wait: Callable[[], None] | None = None,
) -> Iterator[T]:
    """``items`` produced by a helper thread (named ``name``) up to ``depth`` ahead of the
    caller; what it raises is raised here, in order. ``before_wait`` is called whenever
    the next item is not ready within ``grace`` seconds (a sync commits then, so a slow
    upstream never keeps the write lock held).

    When the caller stops early, the helper stops after the item it is producing; the
    caller waits for it a few seconds at most (a request in flight may take up to its
    timeout, and is then left to end alone)."""
    pump = _Pump(items, depth, name)
    try:
        while True:
            kind, value = pump.take(grace, before_wait)
            if kind == "item":
                yield value
            elif kind == "done":
                return
            else:
                raise value
    finally:
        pump.stop.set()
        pump.thread.join(5.0)


class _Pump:
    """The helper thread and its queue: ``("item", item)``, then ``("done", None)`` or
    ``("error", exception)``."""

    def __init__(self, items: Iterator[Any], depth: int, name: str) -> None:
        self.found: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(items,), name=name, daemon=True)
        self.thread.start()

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self.stop.is_set():
            try:
                self.found.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, items: Iterator[Any]) -> None:
        try:
            for item in items:
                if not self._put(("item", item)):
                    return
            self._put(("done", None))
        except BaseException as exc:  # handed to the caller
            self._put(("error", exc))

    def take(self, grace: float, before_wait: Callable[[], None] | None) -> tuple[str, Any]:
        """The next entry; ``before_wait`` first when it is not there within ``grace``."""
        try:
            return self.found.get_nowait()
        except queue.Empty:
            pass
        if before_wait is not None:
            try:
                return self.found.get(timeout=grace)
            except queue.Empty:
                before_wait()
        return self.found.get()

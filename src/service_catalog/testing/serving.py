"""What the simulators share: ``with sim:`` starts one and stops it on the way out."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Serving:
    """A server with ``start`` and ``stop``, usable as a context manager."""

    def start(self) -> Self:
        """Start serving in a background thread."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving and close the port."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

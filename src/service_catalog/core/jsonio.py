"""JSON in and out of the hot paths through orjson, exactly as the ``json`` module would.

orjson parses and writes several times faster than the ``json`` module, but reads an
integer beyond 64 bits as a float and refuses to write one: those (rare) documents go
through the ``json`` module instead, so no value changes on its way through.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

# 19 digits in a row may be an integer beyond 64 bits (or a long digit string: the slow,
# exact path then, which costs time and nothing else).
_LONG_DIGITS = re.compile(r"\d{19}")


def loads(text: str | bytes) -> Any:
    """``json.loads(text)``, through orjson when that gives the same value."""
    probe = text if isinstance(text, str) else text.decode("utf-8", "replace")
    if _LONG_DIGITS.search(probe):
        return json.loads(text)
    return orjson.loads(text)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON of ``value`` (as ``json.dumps`` with ``separators=(",", ":")``,
    ``ensure_ascii=False``), through orjson when it can write every value exactly."""
    try:
        return orjson.dumps(value)
    except TypeError:  # an integer beyond 64 bits, a key that is not a string
        return json.dumps(
            value, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode()


__all__ = ["dumps", "loads"]

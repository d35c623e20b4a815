"""Deterministic resource ids and content hashes.

A resource id is 16 characters of base64url (12 bytes of SHA-256) over the instance id,
the resource type and the canonical JSON of its config: the same upstream object always
gets the same id, whichever way it arrived (sync, push, initialize, mapping).
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
import uuid
from typing import Any

import orjson

# One encoder for every call: json.dumps() with options builds a new one each time.
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str
)
_ORJSON_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _canonical(value: Any) -> bytes | str:
    """orjson's canonical JSON (bytes) of ``value``, or the strict encoder's (text) when
    orjson refuses it or its text holds a ``null`` that does not read back as the value
    (NaN or an infinity that orjson wrote as null: the strict encoder raises)."""
    try:
        out = orjson.dumps(value, default=str, option=_ORJSON_OPTIONS)
    except TypeError:
        return _ENCODER.encode(value)
    if b"null" in out and orjson.loads(out) != value:
        return _ENCODER.encode(value)
    return out


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal text.
    NaN and infinities are a ValueError.

    orjson writes it (a sync encodes two documents per resource: about 6x faster than
    the json module). orjson refuses integers beyond 64 bits and writes NaN and
    infinities as null; so a value orjson refuses, or whose text holds ``null`` and does
    not read back as the same value (NaN became null), goes through the strict json
    encoder instead: still one deterministic text per value.
    """
    out = _canonical(value)
    return out if isinstance(out, str) else out.decode()


def canonical_json_bytes(value: Any) -> bytes:
    """:func:`canonical_json` as UTF-8 bytes: what ids and content hashes are computed
    over (a lone surrogate, which UTF-8 cannot hold, is a ValueError here)."""
    out = _canonical(value)
    return out.encode() if isinstance(out, str) else out


# base64 -> base64url, as base64.urlsafe_b64encode does (without its two calls per id).
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def id_prefix(instance_id: uuid.UUID | str, type: str) -> bytes:
    """What a resource id's hash starts with for ``(instance, type)``: the bulk path
    computes it once per batch and type."""
    return f"{uuid.UUID(str(instance_id))}\n{type}\n".encode()


def resource_id_from_bytes(prefix: bytes, config_json: bytes) -> str:
    """The resource id from ``id_prefix(instance, type)`` and the canonical JSON of the
    config as bytes."""
    digest = hashlib.sha256(prefix + config_json).digest()[:12]
    return binascii.b2a_base64(digest, newline=False).translate(_URLSAFE).decode()


def resource_id(instance_id: uuid.UUID | str, type: str, config: dict[str, Any]) -> str:
    """The 16-character base64url id of the resource ``(instance, type, config)``."""
    return resource_id_from_bytes(id_prefix(instance_id, type), canonical_json_bytes(config))


def content_hash_from_bytes(name_json: bytes, data_json: bytes) -> str:
    """:func:`content_hash` from the canonical JSON (bytes) of the name and of the
    integration_data."""
    return hashlib.blake2b(name_json + b"\n" + data_json, digest_size=16).hexdigest()


def content_hash(name: str | None, integration_data: dict[str, Any] | None) -> str:
    """A 32-hex-character hash of what a sync may change (name and integration_data)."""
    return content_hash_from_bytes(
        canonical_json_bytes(name), canonical_json_bytes(integration_data)
    )


# A NUL character as canonical JSON writes it (``\u0000`` not itself escaped). PostgreSQL
# can store NUL neither in text nor in jsonb.
_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def json_has_nul(text: str) -> bool:
    """Whether JSON text holds a NUL character in some string."""
    return "\\u0000" in text and _NUL.search(text) is not None


_NUL_BYTES = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


def scrub_json_nul_bytes(text: bytes) -> bytes:
    """JSON (UTF-8 bytes) with every NUL character replaced by U+FFFD (storable
    everywhere)."""
    if b"\\u0000" not in text:
        return text
    return _NUL_BYTES.sub(lambda m: m.group(1) + b"\\ufffd", text)


def scrub_nul(text: str) -> str:
    """A string with every NUL character replaced by U+FFFD."""
    return text.replace("\x00", "\ufffd")


def looks_like_resource_id(value: str) -> bool:
    """Whether ``value`` has the shape of a resource id (16 base64url characters)."""
    if len(value) != 16:
        return False
    return all(c.isascii() and (c.isalnum() or c in "-_") for c in value)

"""Deterministic resource ids and content hashes.

A resource id is 16 characters of base64url (12 bytes of SHA-256) over the instance id,
the resource type and the canonical JSON of its config: the same upstream object always
gets the same id, whichever way it arrived (sync, push, initialize, mapping).
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from typing import Any


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False, default=str)


def resource_id(instance_id: uuid.UUID | str, type: str, config: dict[str, Any]) -> str:
    """The 16-character base64url id of the resource ``(instance, type, config)``."""
    text = f"{uuid.UUID(str(instance_id))}\n{type}\n{canonical_json(config)}"
    digest = hashlib.sha256(text.encode()).digest()[:12]
    return base64.urlsafe_b64encode(digest).decode()


#: Top-level ``integration_data`` keys left out of the content hash: a connector may stamp
#: when it fetched the data (e.g. Traceable's ``synced_at``) without making every resource
#: look changed on every sync. The stored value is that of the last sync that wrote the row.
VOLATILE_KEYS = frozenset({"synced_at"})


def content_hash(name: str | None, integration_data: dict[str, Any] | None) -> str:
    """A 32-hex-character hash of what a sync may change (name and integration_data,
    without the :data:`VOLATILE_KEYS`)."""
    if integration_data and not VOLATILE_KEYS.isdisjoint(integration_data):
        integration_data = {k: v for k, v in integration_data.items()
                            if k not in VOLATILE_KEYS}
    text = canonical_json([name, integration_data])
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def looks_like_resource_id(value: str) -> bool:
    """Whether ``value`` has the shape of a resource id (16 base64url characters)."""
    if len(value) != 16:
        return False
    return all(c.isascii() and (c.isalnum() or c in "-_") for c in value)

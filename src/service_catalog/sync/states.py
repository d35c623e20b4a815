"""What a connector that ``keeps_state`` keeps between complete syncs of an instance.

The engine loads it before ``discover()`` (:attr:`Connector.state`) and, in the
transaction that ends a complete sync, replaces it with :meth:`Connector.next_state`
(nothing is written when it did not change). A failed sync keeps the previous state.
"""

from __future__ import annotations

import uuid
import zlib

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from service_catalog.sync.models import SyncConnectorState


def load_state(session: Session, instance_id: uuid.UUID) -> dict[str, str]:
    """The state the instance's last complete sync kept (empty when none, or unreadable)."""
    data = session.scalar(
        select(SyncConnectorState.data).where(SyncConnectorState.instance_id == instance_id)
    )
    if not data:
        return {}
    try:
        value = orjson.loads(zlib.decompress(data))
    except (zlib.error, orjson.JSONDecodeError):
        return {}  # a state that cannot be read costs a full sync, nothing else
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def save_state(
    session: Session, instance_id: uuid.UUID, before: dict[str, str], after: dict[str, str]
) -> None:
    """Keep ``after`` for the instance's next sync (no write when it equals ``before``)."""
    if after == before:
        return
    data = zlib.compress(orjson.dumps(after, option=orjson.OPT_SORT_KEYS), 6)
    row = session.get(SyncConnectorState, instance_id)
    if row is None:
        session.add(SyncConnectorState(instance_id=instance_id, data=data))
    else:
        row.data = data


__all__ = ["load_state", "save_state"]

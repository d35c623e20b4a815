"""Page digests: an upstream page that has not changed since the last complete sync, and
whose resources are stored as that sync left them, costs no processing.

A connector that can say which bytes a batch was built from (``RecordBatch.source_digest``)
lets the engine remember, per instance, each page's key (that digest with everything else
that shapes the records: catalog version, integration, connector's ``records_version``,
instance config), the ids of its resources and a digest of their stored state (id,
content hash, discovered). A later sync that meets the same key checks that state against
the instance's stored resources (``known``, read at the start of the sync): when it
matches, the page's resources are counted unchanged and "seen" without computing ids,
canonical JSON or hashes; when anything differs (a resource changed by a push, marked
vanished, or met earlier in this sync), the page is processed as usual.

The digests are replaced only at the end of a complete sync, in the transaction that
marks vanished resources; a failed sync leaves them as they were (they stay checked
against the stored state, so they cannot be wrong, only stale).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from service_catalog import __version__
from service_catalog.integrations.connectors.base import Connector, ResourceRecord
from service_catalog.integrations.models import IntegrationInstance
from service_catalog.resources.ids import canonical_json_bytes
from service_catalog.resources.store import StoredState
from service_catalog.sync.models import SyncPageDigest

Known = Mapping[str, StoredState]


class Remembered(NamedTuple):
    """What is remembered of a page: its resource ids (in order) and their state digest."""

    ids: list[str]
    state: str


def state_of(ids: Sequence[str], known: Known) -> str | None:
    """A digest of the stored state of ``ids`` (their content hashes, in order), or None
    when one is not stored, not discovered or not hydrated yet."""
    h = hashlib.blake2b(digest_size=16)
    for rid in ids:
        state = known.get(rid)
        if state is None or not state.discovered or state.content_hash is None:
            return None
        h.update(f"{rid}{state.content_hash}".encode())
    return h.hexdigest()


class PageMemo:
    """The page digests of one instance: those the last complete sync stored, and those
    this sync will store if it completes."""

    def __init__(
        self, connector: Connector, instance: IntegrationInstance, stored: dict[str, Remembered]
    ) -> None:
        self.stored = stored
        self.next: dict[str, Remembered] = {}
        self._prefix = b"\n".join(
            (
                __version__.encode(),
                instance.integration_name.encode(),
                str(type(connector).records_version).encode(),
                canonical_json_bytes(instance.config),
                b"",
            )
        )

    @classmethod
    def load(
        cls, session: Session, connector: Connector, instance: IntegrationInstance
    ) -> PageMemo:
        """The memo of ``instance`` with the digests its last complete sync stored."""
        rows = session.execute(
            select(SyncPageDigest.digest, SyncPageDigest.resource_ids, SyncPageDigest.state).where(
                SyncPageDigest.instance_id == instance.id
            )
        )
        return cls(
            connector,
            instance,
            {digest: Remembered(ids.split(), state) for digest, ids, state in rows},
        )

    def key(self, source_digest: bytes) -> str:
        """The page key of a batch built from bytes whose digest is ``source_digest``."""
        return hashlib.blake2b(self._prefix + source_digest, digest_size=16).hexdigest()

    def lookup(self, records: Sequence[ResourceRecord]) -> tuple[str | None, Remembered | None]:
        """The page key of a batch (None when its connector gave no digest) and, when the
        last complete sync stored that page, what it remembered of it."""
        digest = getattr(records, "source_digest", None)
        if not digest:
            return None, None
        key = self.key(digest)
        return key, self.stored.get(key)

    def settled(self, key: str, page: Remembered, known: Known) -> bool:
        """Whether the page's resources are stored as the last complete sync left them
        (then it is remembered again as it was)."""
        if state_of(page.ids, known) != page.state:
            return False
        self.next[key] = page
        return True

    def remember(self, key: str, ids: list[str], known: Known) -> None:
        """Remember a processed page (after storing it) for the next sync."""
        state = state_of(ids, known)
        if state is not None:
            self.next[key] = Remembered(ids, state)

    def save(self, session: Session, instance_id: uuid.UUID) -> None:
        """Replace the instance's stored digests with this sync's (after a complete sync;
        nothing is written when they did not change)."""
        if self.next == self.stored:
            return
        session.execute(delete(SyncPageDigest).where(SyncPageDigest.instance_id == instance_id))
        if self.next:
            session.execute(
                insert(SyncPageDigest),
                [
                    {
                        "instance_id": instance_id,
                        "digest": key,
                        "resource_ids": " ".join(ids),
                        "state": state,
                    }
                    for key, (ids, state) in self.next.items()
                ],
            )


__all__ = ["PageMemo", "Remembered", "state_of"]

"""sync: leases record their last heartbeat instead of a stamped expiry

A lease was free once ``lease_expires_at`` (the holder's now + the holder's timeout)
passed, so a worker that died holding a lease taken under a long timeout blocked the
instance for that long, whatever the other workers' setting. Leases now record when their
holder last renewed them (``lease_renewed_at``) and each reader applies its own timeout.
A lease held while upgrading counts as renewed at the upgrade.

Revision ID: 0005, revises 0004
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

from service_catalog.core.db import UTCDateTime

revision, down_revision = "0005", "0004"

#: The lease timeout of the releases before this one, to stamp an expiry on downgrade.
OLD_LEASE_TIMEOUT = dt.timedelta(seconds=300)


def _swap(add: str, stamp: dt.datetime, remove: str) -> None:
    """Add the lease column ``add``, stamp it on held leases, and drop ``remove``."""
    with op.batch_alter_table("sync_states") as batch:
        batch.add_column(sa.Column(add, UTCDateTime(timezone=True), nullable=True))
    states = sa.table(
        "sync_states",
        sa.column("lease_owner", sa.String(120)),
        sa.column(add, UTCDateTime(timezone=True)),
    )
    op.execute(states.update().where(states.c.lease_owner.is_not(None)).values({add: stamp}))
    with op.batch_alter_table("sync_states") as batch:
        batch.drop_column(remove)


def upgrade() -> None:
    _swap("lease_renewed_at", dt.datetime.now(dt.UTC), "lease_expires_at")


def downgrade() -> None:
    _swap("lease_expires_at", dt.datetime.now(dt.UTC) + OLD_LEASE_TIMEOUT, "lease_renewed_at")

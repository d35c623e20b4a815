"""sync: leases record their last heartbeat instead of a stamped expiry

A lease was free once ``lease_expires_at`` (the holder's now + the holder's timeout)
passed, so a worker that died holding a lease taken under a long timeout blocked the
instance for that long, whatever the other workers' setting. Leases now record when their
holder last renewed them (``lease_renewed_at``) and each reader applies its own timeout.
A lease held while upgrading counts as renewed at the upgrade.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

from service_catalog.core.db import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: The lease timeout of the releases before this one, to stamp an expiry on downgrade.
OLD_LEASE_TIMEOUT = dt.timedelta(seconds=300)


def _states(column: str) -> sa.TableClause:
    return sa.table(
        "sync_states",
        sa.column("lease_owner", sa.String(120)),
        sa.column(column, UTCDateTime(timezone=True)),
    )


def upgrade() -> None:
    with op.batch_alter_table("sync_states") as batch:
        batch.add_column(sa.Column("lease_renewed_at", UTCDateTime(timezone=True), nullable=True))
    states = _states("lease_renewed_at")
    op.execute(
        states.update()
        .where(states.c.lease_owner.is_not(None))
        .values(lease_renewed_at=dt.datetime.now(dt.UTC))
    )
    with op.batch_alter_table("sync_states") as batch:
        batch.drop_column("lease_expires_at")


def downgrade() -> None:
    with op.batch_alter_table("sync_states") as batch:
        batch.add_column(sa.Column("lease_expires_at", UTCDateTime(timezone=True), nullable=True))
    states = _states("lease_expires_at")
    op.execute(
        states.update()
        .where(states.c.lease_owner.is_not(None))
        .values(lease_expires_at=dt.datetime.now(dt.UTC) + OLD_LEASE_TIMEOUT)
    )
    with op.batch_alter_table("sync_states") as batch:
        batch.drop_column("lease_renewed_at")

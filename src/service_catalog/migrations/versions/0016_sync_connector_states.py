"""sync: what a connector keeps between complete syncs (e.g. ETags for conditional requests)

Revision ID: 0016, revises 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service_catalog.migrations import shapes

revision, down_revision = "0016", "0015"


def upgrade() -> None:
    op.create_table(
        "sync_connector_states",
        *shapes.uuids("instance_id"),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        shapes.cascade("sync_connector_states", "instance_id"),
        *shapes.keys("sync_connector_states", "instance_id"),
    )


def downgrade() -> None:
    op.drop_table("sync_connector_states")

"""sync: when the last poll of an instance's upstream events began

Connectors that declare ``polls_events`` are asked for the upstream's events since the
last poll; ``sync_states.events_polled_at`` remembers when that poll began.

Revision ID: 0010, revises 0009
"""

from __future__ import annotations

from alembic import op

from service_catalog.migrations import shapes

revision, down_revision = "0010", "0009"


def upgrade() -> None:
    with op.batch_alter_table("sync_states") as batch:
        batch.add_column(*shapes.moments("events_polled_at"))


def downgrade() -> None:
    with op.batch_alter_table("sync_states") as batch:
        batch.drop_column("events_polled_at")

"""user_sources.deactivated_at: when a Backstage import deactivated a user it created
because Backstage no longer listed it (so that only such a user is reactivated when it
comes back; a user an administrator deactivated stays so)

Revision ID: 0024, revises 0023
"""

from __future__ import annotations

from alembic import op

from service_catalog.migrations import shapes

revision, down_revision = "0024", "0023"


def upgrade() -> None:
    with op.batch_alter_table("user_sources") as batch:
        for column in shapes.moments("deactivated_at"):
            batch.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table("user_sources") as batch:
        batch.drop_column("deactivated_at")

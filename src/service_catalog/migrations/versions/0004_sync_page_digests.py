"""sync: digests of the upstream pages the last complete sync stored

Revision ID: 0004, revises 0003
"""

from __future__ import annotations

from alembic import op

from service_catalog.migrations import shapes

revision, down_revision = "0004", "0003"


def upgrade() -> None:
    op.create_table(
        "sync_page_digests",
        *shapes.uuids("instance_id"),
        *shapes.strings(32, "digest"),
        *shapes.texts("resource_ids", nullable=False),
        *shapes.strings(32, "state"),
        shapes.cascade("sync_page_digests", "instance_id"),
        *shapes.keys("sync_page_digests", "instance_id", "digest"),
    )


def downgrade() -> None:
    op.drop_table("sync_page_digests")

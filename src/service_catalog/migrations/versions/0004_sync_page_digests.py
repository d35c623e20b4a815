"""sync: digests of the upstream pages the last complete sync stored

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_page_digests",
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("resource_ids", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["integration_instances.id"],
            name=op.f("fk_sync_page_digests_instance_id_integration_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", "digest", name=op.f("pk_sync_page_digests")),
    )


def downgrade() -> None:
    op.drop_table("sync_page_digests")

"""resources: config indexed in a side table

Each path of a resource's ``config`` becomes a row of ``resource_attributes`` (see
``service_catalog.core.jsonindex``), so filters and facets on ``config.*`` read an index
instead of every row's JSON. Existing resources are indexed here, in batches.

Revision ID: 0008, revises 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service_catalog.core.jsonindex import SHORT_MAX, nested_rows
from service_catalog.migrations import shapes

revision, down_revision = "0008", "0007"


def upgrade() -> None:
    owner = sa.Column("resource_id", sa.String(16), nullable=False)
    attrs = shapes.attribute_table(
        "resource_attributes", owner, "resources", SHORT_MAX, sqlite_with_rowid=False
    )
    shapes.backfill(
        sa.table("resources", sa.column("id", sa.String(16)), sa.column("config", sa.JSON())),
        ["config"],
        attrs,
        lambda row: nested_rows(row.id, "config", row.config),
    )
    op.create_index(
        "ix_resource_attributes_short", "resource_attributes", ["path", "short", "resource_id"]
    )
    op.create_index(
        "ix_resource_attributes_num",
        "resource_attributes",
        ["path", "num", "resource_id"],
        sqlite_where=sa.text("num IS NOT NULL"),
        postgresql_where=sa.text("num IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("resource_attributes")

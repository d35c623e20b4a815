"""resources: config indexed in a side table

Each path of a resource's ``config`` becomes a row of ``resource_attributes`` (see
``service_catalog.core.jsonindex``), so filters and facets on ``config.*`` read an index
instead of every row's JSON. Existing resources are indexed here, in batches.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service_catalog.core.jsonindex import SHORT_MAX, nested_rows

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade() -> None:
    attrs = op.create_table(
        "resource_attributes",
        sa.Column("resource_id", sa.String(16), nullable=False),
        sa.Column("path", sa.String(200), nullable=False),
        sa.Column("short", sa.String(SHORT_MAX), nullable=True),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("num", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name="fk_resource_attributes_resource_id_resources",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("resource_id", "path", name="pk_resource_attributes"),
        sqlite_with_rowid=False,
    )
    assert attrs is not None
    resources = sa.table(
        "resources",
        sa.column("id", sa.String(16)),
        sa.column("config", sa.JSON()),
    )
    conn = op.get_bind()
    last = None
    while True:
        stmt = sa.select(resources.c.id, resources.c.config)
        if last is not None:
            stmt = stmt.where(resources.c.id > last)
        batch = conn.execute(stmt.order_by(resources.c.id).limit(BATCH)).all()
        if not batch:
            break
        rows = []
        for row in batch:
            for attr in nested_rows(row.id, "config", row.config):
                attr["resource_id"] = attr.pop("owner_id")
                rows.append(attr)
        if rows:
            conn.execute(attrs.insert(), rows)
        last = batch[-1].id
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

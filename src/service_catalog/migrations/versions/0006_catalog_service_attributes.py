"""catalog services: labels and custom fields indexed in a side table

Each value inside a catalog service's ``labels`` and ``custom_fields`` becomes a row of
``catalog_service_attributes`` (see ``service_catalog.core.jsonindex``), so filters and
facets on ``labels.*``/``custom_fields.*`` read an index instead of every row's JSON.
``catalog_service_value_counts`` keeps how many services hold each short value, for facet
counts over the whole catalog. Existing services are indexed here, in batches.

Revision ID: 0006, revises 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service_catalog.core.jsonindex import SHORT_MAX, attribute_rows
from service_catalog.migrations import shapes

revision, down_revision = "0006", "0005"


def upgrade() -> None:
    owner = sa.Column("service_id", sa.Uuid(), nullable=False)
    attrs = shapes.attribute_table(
        "catalog_service_attributes", owner, "catalog_services", SHORT_MAX
    )
    shapes.backfill(
        sa.table(
            "catalog_services",
            sa.column("id", sa.Uuid()),
            sa.column("labels", sa.JSON()),
            sa.column("custom_fields", sa.JSON()),
        ),
        ["labels", "custom_fields"],
        attrs,
        lambda row: attribute_rows(
            row.id, {"labels": (row.labels, False), "custom_fields": (row.custom_fields, True)}
        ),
    )
    counts = op.create_table(
        "catalog_service_value_counts",
        sa.Column("path", sa.String(200), nullable=False),
        sa.Column("short", sa.String(SHORT_MAX), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("path", "short", name="pk_catalog_service_value_counts"),
    )
    assert counts is not None
    op.get_bind().execute(
        counts.insert().from_select(
            ["path", "short", "count"],
            sa.select(attrs.c.path, attrs.c.short, sa.func.count())
            .where(attrs.c.short.is_not(None))
            .group_by(attrs.c.path, attrs.c.short),
        )
    )
    op.create_index(
        "ix_catalog_service_attributes_short",
        "catalog_service_attributes",
        ["path", "short", "service_id"],
    )
    op.create_index(
        "ix_catalog_service_attributes_num",
        "catalog_service_attributes",
        ["path", "num", "service_id"],
    )


def downgrade() -> None:
    op.drop_table("catalog_service_value_counts")
    op.drop_table("catalog_service_attributes")

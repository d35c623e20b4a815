"""catalog services: labels and custom fields indexed in a side table

Each value inside a catalog service's ``labels`` and ``custom_fields`` becomes a row of
``catalog_service_attributes`` (see ``service_catalog.core.jsonindex``), so filters and
facets on ``labels.*``/``custom_fields.*`` read an index instead of every row's JSON.
``catalog_service_value_counts`` keeps how many services hold each short value, for facet
counts over the whole catalog. Existing services are indexed here, in batches.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service_catalog.core.jsonindex import SHORT_MAX, attribute_rows

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade() -> None:
    attrs = op.create_table(
        "catalog_service_attributes",
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("path", sa.String(200), nullable=False),
        sa.Column("short", sa.String(SHORT_MAX), nullable=True),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("num", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["catalog_services.id"],
            name="fk_catalog_service_attributes_service_id_catalog_services",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("service_id", "path", name="pk_catalog_service_attributes"),
    )
    assert attrs is not None
    services = sa.table(
        "catalog_services",
        sa.column("id", sa.Uuid()),
        sa.column("labels", sa.JSON()),
        sa.column("custom_fields", sa.JSON()),
    )
    conn = op.get_bind()
    last = None
    while True:
        stmt = sa.select(services.c.id, services.c.labels, services.c.custom_fields)
        if last is not None:
            stmt = stmt.where(services.c.id > last)
        batch = conn.execute(stmt.order_by(services.c.id).limit(BATCH)).all()
        if not batch:
            break
        rows = []
        for row in batch:
            for attr in attribute_rows(
                row.id,
                {"labels": (row.labels, False), "custom_fields": (row.custom_fields, True)},
            ):
                attr["service_id"] = attr.pop("owner_id")
                rows.append(attr)
        if rows:
            conn.execute(attrs.insert(), rows)
        last = batch[-1].id
    counts = op.create_table(
        "catalog_service_value_counts",
        sa.Column("path", sa.String(200), nullable=False),
        sa.Column("short", sa.String(SHORT_MAX), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("path", "short", name="pk_catalog_service_value_counts"),
    )
    assert counts is not None
    conn.execute(
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

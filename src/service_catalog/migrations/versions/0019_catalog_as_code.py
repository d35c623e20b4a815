"""catalog as code: the source that applied each catalog service, and its owner team

Revision ID: 0019, revises 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service_catalog.migrations import shapes

revision, down_revision = "0019", "0018"

SOURCES = "catalog_service_sources"


def upgrade() -> None:
    op.create_table(
        SOURCES,
        *shapes.uuids("service_id"),
        *shapes.strings(500, "source", nullable=True),
        *shapes.uuids("owner_team_id", nullable=True),
        *shapes.stamps("updated_at"),
        shapes.cascade(SOURCES, "service_id", "catalog_services"),
        sa.ForeignKeyConstraint(
            ["owner_team_id"],
            ["teams.id"],
            name=op.f(f"fk_{SOURCES}_owner_team_id_teams"),
            ondelete="SET NULL",
        ),
        *shapes.keys(SOURCES, "service_id"),
    )
    shapes.indexed(SOURCES, "source", "owner_team_id")


def downgrade() -> None:
    op.drop_table(SOURCES)

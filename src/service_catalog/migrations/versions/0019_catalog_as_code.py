"""catalog as code: the source that applied each catalog service, and its owner team

Revision ID: 0019, revises 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service_catalog.core.db

revision, down_revision = "0019", "0018"

TS = service_catalog.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "catalog_service_sources",
        sa.Column(
            "service_id",
            sa.Uuid(),
            sa.ForeignKey("catalog_services.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("source", sa.String(500), nullable=True),
        sa.Column(
            "owner_team_id",
            sa.Uuid(),
            sa.ForeignKey("teams.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_catalog_service_sources_source", "catalog_service_sources", ["source"])
    op.create_index(
        "ix_catalog_service_sources_owner_team_id", "catalog_service_sources", ["owner_team_id"]
    )


def downgrade() -> None:
    op.drop_table("catalog_service_sources")

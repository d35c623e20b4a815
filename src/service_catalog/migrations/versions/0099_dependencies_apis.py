"""dependencies between catalog services

Revision ID: 0099, revises 0015 (renumbered at merge)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service_catalog.core.db

revision, down_revision = "0099", "0015"

TS = service_catalog.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "catalog_service_dependencies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("label", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(
            "source_id <> target_id", name="ck_catalog_service_dependencies_no_self"
        ),
        sa.ForeignKeyConstraint(["source_id"], ["catalog_services.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["target_id"], ["catalog_services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "source_id", "target_id", "label", name="uq_catalog_service_dependencies_edge"
        ),
    )
    op.create_index(
        "ix_catalog_service_dependencies_down",
        "catalog_service_dependencies",
        ["source_id", "status", "target_id", "id"],
    )
    op.create_index(
        "ix_catalog_service_dependencies_up",
        "catalog_service_dependencies",
        ["target_id", "status", "source_id", "id"],
    )


def downgrade() -> None:
    op.drop_table("catalog_service_dependencies")

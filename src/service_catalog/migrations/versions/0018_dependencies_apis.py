"""dependencies between catalog services; APIs, their specifications, API mappings

Revision ID: 0018, revises 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service_catalog.core.db
from service_catalog.core.db import JSONType

revision, down_revision = "0018", "0017"

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

    op.create_table(
        "apis",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("slug", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("labels", JSONType, nullable=False),
        sa.Column("attributes", JSONType, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", "version", name="uq_apis_name_version"),
        sa.UniqueConstraint("slug"),
    )
    op.create_index("ix_apis_created_at", "apis", ["created_at"])
    op.create_table(
        "api_specifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("api_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["api_id"], ["apis.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_api_specifications_api_id", "api_specifications", ["api_id"])
    op.create_table(
        "catalog_service_api_mappings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("api_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["api_id"], ["apis.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["service_id"], ["catalog_services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("service_id", "api_id", name="uq_catalog_service_api_mappings_pair"),
    )
    op.create_index(
        "ix_catalog_service_api_mappings_api",
        "catalog_service_api_mappings",
        ["api_id", "created_at"],
    )


def downgrade() -> None:
    op.drop_table("catalog_service_api_mappings")
    op.drop_table("api_specifications")
    op.drop_table("apis")
    op.drop_table("catalog_service_dependencies")

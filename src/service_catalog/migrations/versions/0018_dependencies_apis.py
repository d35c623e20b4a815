"""dependencies between catalog services; APIs, their specifications, API mappings

Revision ID: 0018, revises 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service_catalog.migrations import shapes

revision, down_revision = "0018", "0017"

SERVICES, DEPENDENCIES, MAPPINGS = (
    "catalog_services",
    "catalog_service_dependencies",
    "catalog_service_api_mappings",
)


def upgrade() -> None:
    op.create_table(
        DEPENDENCIES,
        *shapes.uuids("id", "source_id", "target_id"),
        *shapes.strings(60, "label"),
        *shapes.strings(16, "status"),
        *shapes.strings(200, "origin"),
        *shapes.stamps(),
        sa.CheckConstraint("source_id <> target_id", name=f"ck_{DEPENDENCIES}_no_self"),
        shapes.cascade(DEPENDENCIES, "source_id", SERVICES),
        shapes.cascade(DEPENDENCIES, "target_id", SERVICES),
        *shapes.keys(DEPENDENCIES, "id"),
        sa.UniqueConstraint("source_id", "target_id", "label", name=f"uq_{DEPENDENCIES}_edge"),
    )
    shapes.indexed(
        DEPENDENCIES,
        ix_catalog_service_dependencies_down=["source_id", "status", "target_id", "id"],
        ix_catalog_service_dependencies_up=["target_id", "status", "source_id", "id"],
    )
    op.create_table(
        "apis",
        *shapes.uuids("id"),
        *shapes.strings(255, "name", "version", "slug"),
        *shapes.texts("description"),
        *shapes.jsons("labels"),
        *shapes.jsons("attributes", nullable=True),
        *shapes.stamps(),
        *shapes.keys("apis", "id", unique=["slug"]),
        sa.UniqueConstraint("name", "version", name="uq_apis_name_version"),
    )
    shapes.indexed("apis", "created_at")
    op.create_table(
        "api_specifications",
        *shapes.uuids("id", "api_id"),
        *shapes.strings(16, "type"),
        *shapes.texts("content", nullable=False),
        *shapes.stamps(),
        shapes.cascade("api_specifications", "api_id", "apis"),
        *shapes.keys("api_specifications", "id"),
    )
    shapes.indexed("api_specifications", "api_id")
    op.create_table(
        MAPPINGS,
        *shapes.uuids("id", "service_id", "api_id"),
        *shapes.stamps(),
        shapes.cascade(MAPPINGS, "api_id", "apis"),
        shapes.cascade(MAPPINGS, "service_id", SERVICES),
        *shapes.keys(MAPPINGS, "id"),
        sa.UniqueConstraint("service_id", "api_id", name=f"uq_{MAPPINGS}_pair"),
    )
    shapes.indexed(MAPPINGS, ix_catalog_service_api_mappings_api=["api_id", "created_at"])


def downgrade() -> None:
    shapes.drop(MAPPINGS, "api_specifications", "apis", DEPENDENCIES)

"""catalog services: a covering index for filtered lists

Revision ID: 0003, revises 0002
"""

from __future__ import annotations

from alembic import op

revision, down_revision = "0003", "0002"


def upgrade() -> None:
    op.create_index(
        "ix_catalog_services_list",
        "catalog_services",
        ["name", "display_name", "created_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_catalog_services_list", table_name="catalog_services")

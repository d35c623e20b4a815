"""catalog services: a covering index for filtered lists

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_catalog_services_list",
        "catalog_services",
        ["name", "display_name", "created_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_catalog_services_list", table_name="catalog_services")

"""API mappings remember who made them (``origin``: NULL by hand, a catalog files' source)

Revision ID: 0020, revises 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0020", "0019"


def upgrade() -> None:
    with op.batch_alter_table("catalog_service_api_mappings") as batch:
        batch.add_column(sa.Column("origin", sa.String(500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("catalog_service_api_mappings") as batch:
        batch.drop_column("origin")

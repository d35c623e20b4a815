"""resource_indexed_paths: the integration_data paths the resource index holds

The installed integrations declare which ``integration_data`` paths resource lists filter
and facet through ``resource_attributes`` (``Integration.indexed_data``). This table
records the set the index was built for; it starts empty, and the app indexes existing
resources for the declared set when it starts (``service_catalog.resources.dataindex``),
as it does whenever a connector package installed, upgraded or removed changes the set.

Revision ID: 0013, revises 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0013", "0012"


def upgrade() -> None:
    op.create_table(
        "resource_indexed_paths",
        sa.Column("path", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("path", name="pk_resource_indexed_paths"),
    )


def downgrade() -> None:
    op.execute("DELETE FROM resource_attributes WHERE path LIKE 'integration\\_data.%' ESCAPE '\\'")
    op.drop_table("resource_indexed_paths")

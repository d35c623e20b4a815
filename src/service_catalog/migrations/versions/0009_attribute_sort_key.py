"""catalog_service_attributes: each row carries its service's display_name

A label's or custom field's index range ``(path, short, display_name, service_id)`` is
then in the lists' default order, so a page of ``filter[labels.team]=core`` reads one
page of index entries instead of every match's service row.

Revision ID: 0009, revises 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0009", "0008"

INDEX = "ix_catalog_service_attributes_short"
TABLE = "catalog_service_attributes"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("display_name", sa.String(120), nullable=True))
    op.execute(
        f"UPDATE {TABLE} SET display_name = (SELECT display_name FROM catalog_services"
        f" WHERE catalog_services.id = {TABLE}.service_id)"
    )
    op.drop_index(INDEX, table_name=TABLE)
    op.create_index(INDEX, TABLE, ["path", "short", "display_name", "service_id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name=TABLE)
    op.create_index(INDEX, TABLE, ["path", "short", "service_id"])
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column("display_name")

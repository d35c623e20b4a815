"""catalog_services: an index on (id, display_name) for a restricted principal's list

A principal holding roles on some services lists them by key (each looked up by id) and
sorts them by display_name. Through the primary key's index each look-up also reads the
service's row for its display_name; this index holds both, so the keys and the sort key
come from one index seek each (SQLite reads it with ``INDEXED BY``: its planner would
take the primary key's unique index).

Revision ID: 0022, revises 0021
"""

from __future__ import annotations

from alembic import op

revision, down_revision = "0022", "0021"

INDEX = "ix_catalog_services_id_display_name"


def upgrade() -> None:
    op.create_index(INDEX, "catalog_services", ["id", "display_name"], unique=False)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="catalog_services")

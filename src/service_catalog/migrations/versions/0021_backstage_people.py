"""consumed APIs (an extension beside Kong's API mappings); the source that created a
team or a user (Backstage import), so that a re-import manages only what it made

Revision ID: 0021, revises 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service_catalog.migrations import shapes

revision, down_revision = "0021", "0020"

CONSUMERS, TEAM_SOURCES, USER_SOURCES = (
    "catalog_service_api_consumers",
    "team_sources",
    "user_sources",
)


def upgrade() -> None:
    op.create_table(
        CONSUMERS,
        *shapes.uuids("id", "service_id", "api_id"),
        *shapes.strings(500, "origin", nullable=True),
        *shapes.stamps(),
        shapes.cascade(CONSUMERS, "api_id", "apis"),
        shapes.cascade(CONSUMERS, "service_id", "catalog_services"),
        *shapes.keys(CONSUMERS, "id"),
        sa.UniqueConstraint("service_id", "api_id", name=f"uq_{CONSUMERS}_pair"),
    )
    shapes.indexed(CONSUMERS, "api_id")
    for table, column, target in (
        (TEAM_SOURCES, "team_id", "teams"),
        (USER_SOURCES, "user_id", "users"),
    ):
        op.create_table(
            table,
            *shapes.uuids(column),
            *shapes.strings(500, "source"),
            *shapes.stamps("updated_at"),
            shapes.cascade(table, column, target),
            *shapes.keys(table, column),
        )
        shapes.indexed(table, "source")


def downgrade() -> None:
    shapes.drop(USER_SOURCES, TEAM_SOURCES, CONSUMERS)

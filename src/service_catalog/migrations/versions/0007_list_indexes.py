"""resources and events: indexes that serve the filtered lists' pages

``filter[type]`` on resources had no index (``ix_resources_instance_type`` leads with
instance_id) and ``filter[integration.name]`` sorted every match; each now reads an index
that leads with its column and goes on in the default order (created_at, id). The index
on (integration_name, created_at, id) replaces the one on integration_name alone.

Integration events and audit entries share the events table and both lists walked
``ix_events_ts_id`` filtering on ``integration_name IS [NOT] NULL``, the whole index when
a kind is rare. Two indexes lead with the kind (``CAST(integration_name IS NULL AS
INTEGER)``: an integer, as PostgreSQL rewrites a comparison of the boolean to false into
``IS NOT NULL``, which no longer matches the index) and go on with (ts, id), one of them
after service_id, so each list's page is a range of one of them. They replace
``ix_events_ts_id`` and ``ix_events_service_ts``, which no query needs any more.

Revision ID: 0007, revises 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0007", "0006"

#: The events' kind, as ``service_catalog.events.models.IS_AUDIT`` (1: an audit entry).
KIND = sa.text("CAST(integration_name IS NULL AS INTEGER)")


def upgrade() -> None:
    op.create_index(
        "ix_resources_type_created_id", "resources", ["type", "created_at", "id"], unique=False
    )
    op.create_index(
        "ix_resources_integration_created_id",
        "resources",
        ["integration_name", "created_at", "id"],
        unique=False,
    )
    op.drop_index("ix_resources_integration_name", table_name="resources")
    op.create_index("ix_events_kind_ts_id", "events", [KIND, "ts", "id"], unique=False)
    op.create_index(
        "ix_events_service_kind_ts_id",
        "events",
        ["service_id", KIND, "ts", "id"],
        unique=False,
    )
    op.drop_index("ix_events_ts_id", table_name="events")
    op.drop_index("ix_events_service_ts", table_name="events")


def downgrade() -> None:
    op.create_index("ix_events_service_ts", "events", ["service_id", "ts"], unique=False)
    op.create_index("ix_events_ts_id", "events", ["ts", "id"], unique=False)
    op.drop_index("ix_events_service_kind_ts_id", table_name="events")
    op.drop_index("ix_events_kind_ts_id", table_name="events")
    op.create_index(
        "ix_resources_integration_name", "resources", ["integration_name"], unique=False
    )
    op.drop_index("ix_resources_integration_created_id", table_name="resources")
    op.drop_index("ix_resources_type_created_id", table_name="resources")

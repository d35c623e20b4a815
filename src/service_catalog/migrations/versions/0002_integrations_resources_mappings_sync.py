"""integrations, resources, mappings, sync

Revision ID: 0002, revises 0001
Create Date: 2026-11-23 09:30:55.738372
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from service_catalog.migrations import shapes

revision, down_revision = "0002", "0001"


def upgrade() -> None:
    op.create_table(
        "integration_instances",
        *shapes.named(),
        *shapes.strings(120, "integration_name"),
        *shapes.jsons("config", "labels"),
        *shapes.booleans("authorized"),
        *shapes.stamps(),
        *shapes.keys("integration_instances", "id", unique=["name"]),
    )
    shapes.indexed("integration_instances", "created_at", "integration_name")
    for table in ("auth_configs", "auth_credentials"):
        credential = table == "auth_credentials"
        op.create_table(
            table,
            *shapes.uuids("id", "instance_id"),
            *shapes.strings(40, "type"),
            *shapes.jsons("public"),
            *shapes.texts("secret", nullable=not credential),
            *(_verification() if credential else []),
            *shapes.stamps(*(["created_at"] if credential else [])),
            shapes.cascade(table, "instance_id"),
            *shapes.keys(table, "id", unique=["instance_id"]),
        )
    op.create_table(
        "resources",
        *shapes.strings(16, "id"),
        *shapes.uuids("instance_id"),
        *shapes.strings(120, "integration_name", "type"),
        *shapes.jsons("config"),
        *shapes.strings(255, "name", nullable=True),
        *shapes.jsons("integration_data", nullable=True),
        *shapes.strings(32, "content_hash", nullable=True),
        *shapes.booleans("archived", "discovered"),
        *shapes.uuids("last_seen_run_id", nullable=True),
        *shapes.moments("last_discovered_at", "vanished_at"),
        *shapes.stamps(),
        shapes.cascade("resources", "instance_id"),
        *shapes.keys("resources", "id"),
    )
    shapes.indexed(
        "resources",
        "integration_name",
        ix_resources_created_id=["created_at", "id"],
        ix_resources_instance_type=["instance_id", "type"],
        ix_resources_name=["name"],
    )
    op.create_table(
        "sync_runs",
        *shapes.uuids("id", "instance_id"),
        *shapes.strings(20, "trigger"),
        *shapes.strings(120, "worker", nullable=True),
        *shapes.strings(20, "status"),
        *shapes.stamps("started_at"),
        *shapes.moments("finished_at"),
        *shapes.integers("pages", "created", "updated", "unchanged", "vanished", "events"),
        *shapes.texts("error"),
        shapes.cascade("sync_runs", "instance_id"),
        *shapes.keys("sync_runs", "id"),
    )
    shapes.indexed("sync_runs", ix_sync_runs_instance_started=["instance_id", "started_at"])
    op.create_table(
        "sync_states",
        *shapes.uuids("instance_id"),
        *shapes.integers("interval_seconds", nullable=True),
        *shapes.moments("next_run_at", "last_scheduled_at", "requested_at", "ingest_from"),
        *shapes.strings(20, "status"),
        *shapes.texts("reason", "remediation"),
        *shapes.integers("consecutive_failures"),
        *shapes.strings(120, "lease_owner", nullable=True),
        *shapes.moments("lease_expires_at"),
        shapes.cascade("sync_states", "instance_id"),
        *shapes.keys("sync_states", "instance_id"),
    )
    shapes.indexed("sync_states", "next_run_at")
    op.create_table(
        "resource_mappings",
        *shapes.uuids("id", "service_id"),
        *shapes.strings(16, "resource_id"),
        *shapes.stamps("created_at"),
        shapes.cascade("resource_mappings", "resource_id", "resources"),
        shapes.cascade("resource_mappings", "service_id", "catalog_services"),
        *shapes.keys("resource_mappings", "id"),
        sa.UniqueConstraint(
            "service_id", "resource_id", name="uq_resource_mappings_service_resource"
        ),
    )
    shapes.indexed("resource_mappings", "created_at", "resource_id", "service_id")


def _verification() -> list[sa.Column[Any]]:
    """The columns a stored credential has beyond an auth config's."""
    return [
        *shapes.strings(20, "verification"),
        *shapes.texts("verification_reason"),
        *shapes.moments("last_verified_at"),
        *shapes.booleans("tainted"),
        *shapes.texts("tainted_reason"),
        *shapes.jsons("missing_permissions"),
        *shapes.moments("expires_at"),
    ]


def downgrade() -> None:
    shapes.drop(
        "resource_mappings",
        "sync_states",
        "sync_runs",
        "resources",
        "auth_credentials",
        "auth_configs",
        "integration_instances",
    )

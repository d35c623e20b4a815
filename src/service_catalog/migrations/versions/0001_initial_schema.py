"""initial schema

Revision ID: 0001
Create Date: 2026-11-23 09:27:51.932642
"""

from __future__ import annotations

from alembic import op

from service_catalog.migrations import shapes

revision, down_revision = "0001", None


def upgrade() -> None:
    op.create_table(
        "access_tokens",
        *shapes.uuids("id"),
        *shapes.strings(120, "name"),
        *shapes.strings(64, "token_hash"),
        *shapes.strings(16, "prefix"),
        *shapes.strings(40, "role", "owner_type"),
        *shapes.strings(64, "owner_id", nullable=True),
        *shapes.stamps("created_at"),
        *shapes.moments("expires_at", "revoked_at", "last_used_at"),
        *shapes.keys("access_tokens", "id", unique=["token_hash"]),
    )
    op.create_table(
        "catalog_services",
        *shapes.named(),
        *shapes.jsons("labels", "custom_fields"),
        *shapes.stamps(),
        *shapes.keys("catalog_services", "id", unique=["name"]),
    )
    shapes.indexed("catalog_services", "created_at", "display_name", "updated_at")
    op.create_table(
        "events",
        *shapes.uuids("id"),
        *shapes.strings(120, "type"),
        *shapes.stamps("ts"),
        *shapes.uuids("service_id", nullable=True),
        *shapes.strings(32, "resource_id", nullable=True),
        *shapes.strings(255, "deduplication_id", nullable=True),
        *shapes.strings(40, "actor_type"),
        *shapes.strings(120, "actor_id"),
        *shapes.strings(255, "actor_name"),
        *shapes.jsons("attributes"),
        *shapes.strings(120, "integration_name", nullable=True),
        *shapes.strings(255, "integration_display_name", nullable=True),
        *shapes.uuids("instance_id", nullable=True),
        *shapes.strings(255, "instance_name", "instance_display_name", nullable=True),
        *shapes.strings(120, "binding", nullable=True),
        *shapes.texts("detail", nullable=False),
        *shapes.texts("link_html"),
        *shapes.keys("events", "id"),
    )
    shapes.indexed(
        "events", "type", ix_events_service_ts=["service_id", "ts"], ix_events_ts_id=["ts", "id"]
    )
    op.create_index("uq_events_dedup", "events", ["instance_id", "deduplication_id"], unique=True)


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("catalog_services")
    op.drop_table("access_tokens")

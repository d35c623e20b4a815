"""scorecards: service documents, scorecards and their criteria, evaluation results, the
evaluation worker's state and the services a sync changed

Revision ID: 0017, revises 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service_catalog.migrations import shapes

revision, down_revision = "0017", "0016"

SERVICES, SCORECARDS = "catalog_services", "scorecards"


def upgrade() -> None:
    op.create_table(
        "service_documents",
        *shapes.uuids("id", "service_id"),
        *shapes.strings(255, "title"),
        *shapes.texts("content", nullable=False),
        *shapes.stamps(),
        shapes.cascade("service_documents", "service_id", SERVICES),
        *shapes.keys("service_documents", "id"),
    )
    shapes.indexed(
        "service_documents", ix_service_documents_service_created=["service_id", "created_at"]
    )
    op.create_table(
        SCORECARDS,
        *shapes.uuids("id"),
        *shapes.strings(255, "name"),
        *shapes.texts("description"),
        *shapes.jsons("entity_selector", nullable=True),
        *shapes.strings(64, "scorecard_template", nullable=True),
        *shapes.jsons("levels", nullable=True),
        *shapes.floats("score_raw"),
        *shapes.strings(8, "score_value", nullable=True),
        *shapes.stamps(),
        *shapes.keys(SCORECARDS, "id"),
    )
    shapes.indexed(SCORECARDS, "name", "score_raw")
    op.create_table(
        "scorecard_criteria",
        *shapes.uuids("id", "scorecard_id"),
        *shapes.integers("position"),
        *shapes.strings(2048, "name", nullable=True),
        *shapes.strings(120, "template_name"),
        *shapes.strings(120, "integration", nullable=True),
        *shapes.booleans("enabled"),
        *shapes.jsons("template_parameters", nullable=True),
        *shapes.strings(120, "section_name", nullable=True),
        *shapes.integers("passing_services_count", nullable=True),
        *shapes.stamps(),
        shapes.cascade("scorecard_criteria", "scorecard_id", SCORECARDS),
        *shapes.keys("scorecard_criteria", "id"),
    )
    shapes.indexed(
        "scorecard_criteria", ix_scorecard_criteria_scorecard=["scorecard_id", "position"]
    )
    op.create_table(
        "scorecard_results",
        *shapes.uuids("scorecard_id", "service_id"),
        *shapes.floats("score_raw"),
        *shapes.strings(8, "score_value", nullable=True),
        *shapes.strings(120, "level", nullable=True),
        *shapes.texts("passed", nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        *shapes.strings(32, "digest"),
        *shapes.stamps("attempted_at", "created_at"),
        shapes.cascade("scorecard_results", "scorecard_id", SCORECARDS),
        shapes.cascade("scorecard_results", "service_id", SERVICES),
        *shapes.keys("scorecard_results", "scorecard_id", "service_id"),
    )
    shapes.indexed(
        "scorecard_results", "service_id", ix_scorecard_results_score=["scorecard_id", "score_raw"]
    )
    op.create_table(
        "scorecard_states",
        *shapes.uuids("scorecard_id"),
        *shapes.booleans("full_due"),
        *shapes.moments("last_full_at", "changes_seen_at"),
        *shapes.strings(120, "lease_owner", nullable=True),
        *shapes.moments("lease_renewed_at"),
        shapes.cascade("scorecard_states", "scorecard_id", SCORECARDS),
        *shapes.keys("scorecard_states", "scorecard_id"),
    )
    op.create_table(
        "service_input_changes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        *shapes.uuids("service_id"),
        *shapes.stamps("noted_at"),
    )
    shapes.indexed("service_input_changes", ix_service_input_changes_noted=["noted_at"])


def downgrade() -> None:
    shapes.drop(
        "service_input_changes",
        "scorecard_states",
        "scorecard_results",
        "scorecard_criteria",
        SCORECARDS,
        "service_documents",
    )

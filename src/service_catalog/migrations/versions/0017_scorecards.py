"""scorecards: service documents, scorecards and their criteria, evaluation results, the
evaluation worker's state and the services a sync changed

Revision ID: 0017, revises 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from service_catalog.core.db import UTCDateTime

revision, down_revision = "0017", "0016"

JSONT = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "service_documents",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "service_id",
            sa.Uuid(),
            sa.ForeignKey(
                "catalog_services.id",
                ondelete="CASCADE",
                name="fk_service_documents_service_id_catalog_services",
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_service_documents_service_created", "service_documents", ["service_id", "created_at"]
    )
    op.create_table(
        "scorecards",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("entity_selector", JSONT, nullable=True),
        sa.Column("scorecard_template", sa.String(64), nullable=True),
        sa.Column("levels", JSONT, nullable=True),
        sa.Column("score_raw", sa.Float(), nullable=True),
        sa.Column("score_value", sa.String(8), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_scorecards_name", "scorecards", ["name"])
    op.create_index("ix_scorecards_score_raw", "scorecards", ["score_raw"])
    op.create_table(
        "scorecard_criteria",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "scorecard_id",
            sa.Uuid(),
            sa.ForeignKey(
                "scorecards.id",
                ondelete="CASCADE",
                name="fk_scorecard_criteria_scorecard_id_scorecards",
            ),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(2048), nullable=True),
        sa.Column("template_name", sa.String(120), nullable=False),
        sa.Column("integration", sa.String(120), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("template_parameters", JSONT, nullable=True),
        sa.Column("section_name", sa.String(120), nullable=True),
        sa.Column("passing_services_count", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_scorecard_criteria_scorecard", "scorecard_criteria", ["scorecard_id", "position"]
    )
    op.create_table(
        "scorecard_results",
        sa.Column(
            "scorecard_id",
            sa.Uuid(),
            sa.ForeignKey(
                "scorecards.id",
                ondelete="CASCADE",
                name="fk_scorecard_results_scorecard_id_scorecards",
            ),
            primary_key=True,
        ),
        sa.Column(
            "service_id",
            sa.Uuid(),
            sa.ForeignKey(
                "catalog_services.id",
                ondelete="CASCADE",
                name="fk_scorecard_results_service_id_catalog_services",
            ),
            primary_key=True,
        ),
        sa.Column("score_raw", sa.Float(), nullable=True),
        sa.Column("score_value", sa.String(8), nullable=True),
        sa.Column("level", sa.String(120), nullable=True),
        sa.Column("passed", sa.Text(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(32), nullable=False),
        sa.Column("attempted_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_scorecard_results_score", "scorecard_results", ["scorecard_id", "score_raw"]
    )
    op.create_index("ix_scorecard_results_service_id", "scorecard_results", ["service_id"])
    op.create_table(
        "scorecard_states",
        sa.Column(
            "scorecard_id",
            sa.Uuid(),
            sa.ForeignKey(
                "scorecards.id",
                ondelete="CASCADE",
                name="fk_scorecard_states_scorecard_id_scorecards",
            ),
            primary_key=True,
        ),
        sa.Column("full_due", sa.Boolean(), nullable=False),
        sa.Column("last_full_at", UTCDateTime(), nullable=True),
        sa.Column("changes_seen_at", UTCDateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(120), nullable=True),
        sa.Column("lease_renewed_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "service_input_changes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("noted_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_service_input_changes_noted", "service_input_changes", ["noted_at"])


def downgrade() -> None:
    for table in (
        "service_input_changes",
        "scorecard_states",
        "scorecard_results",
        "scorecard_criteria",
        "scorecards",
        "service_documents",
    ):
        op.drop_table(table)

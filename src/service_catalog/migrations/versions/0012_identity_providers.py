"""identity providers, their team-group mappings, OIDC identities, sign-ins in flight and
console sessions

Revision ID: 0012, revises 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service_catalog.core.db import JSONType, UTCDateTime

revision, down_revision = "0012", "0011"


def _fk_idp(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["idp_id"],
        ["identity_providers.id"],
        name=f"fk_{table}_idp_id_identity_providers",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "identity_providers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("login_path", sa.String(64), nullable=False),
        sa.Column("issuer_url", sa.String(2048), nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("client_secret", sa.Text(), nullable=True),
        sa.Column("settings", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_identity_providers"),
        sa.UniqueConstraint("login_path", name="uq_identity_providers_login_path"),
    )
    op.create_table(
        "idp_team_group_mappings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("idp_id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.String(36), nullable=False),
        sa.Column("group_name", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _fk_idp("idp_team_group_mappings"),
        sa.PrimaryKeyConstraint("id", name="pk_idp_team_group_mappings"),
        sa.UniqueConstraint(
            "idp_id", "team_id", "group_name", name="uq_idp_team_group_mappings_idp_id"
        ),
    )
    op.create_index("ix_idp_team_group_mappings_idp_id", "idp_team_group_mappings", ["idp_id"])
    op.create_index(
        "ix_idp_team_group_mappings_created_at", "idp_team_group_mappings", ["created_at"]
    )
    op.create_table(
        "oidc_identities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("idp_id", sa.Uuid(), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("groups", JSONType, nullable=False),
        sa.Column("first_sign_in_at", UTCDateTime(), nullable=False),
        sa.Column("last_sign_in_at", UTCDateTime(), nullable=False),
        _fk_idp("oidc_identities"),
        sa.PrimaryKeyConstraint("id", name="pk_oidc_identities"),
        sa.UniqueConstraint("idp_id", "subject", name="uq_oidc_identities_idp_id"),
    )
    op.create_table(
        "oidc_login_states",
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("idp_id", sa.Uuid(), nullable=False),
        sa.Column("secrets", sa.Text(), nullable=False),
        sa.Column("return_to", sa.String(2048), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        _fk_idp("oidc_login_states"),
        sa.PrimaryKeyConstraint("state_hash", name="pk_oidc_login_states"),
    )
    op.create_index("ix_oidc_login_states_expires_at", "oidc_login_states", ["expires_at"])
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("user_name", sa.String(320), nullable=False),
        sa.Column("idp_id", sa.String(36), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_console_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_console_sessions_token_hash"),
    )
    op.create_index("ix_console_sessions_user_id", "console_sessions", ["user_id"])


def downgrade() -> None:
    op.drop_table("console_sessions")
    op.drop_table("oidc_login_states")
    op.drop_table("oidc_identities")
    op.drop_table("idp_team_group_mappings")
    op.drop_table("identity_providers")

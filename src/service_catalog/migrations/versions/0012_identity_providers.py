"""identity providers, their team-group mappings, OIDC identities, sign-ins in flight and
console sessions

Revision ID: 0012, revises 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service_catalog.migrations import shapes

revision, down_revision = "0012", "0011"


IDP = "identity_providers"


def upgrade() -> None:
    op.create_table(
        IDP,
        *shapes.uuids("id"),
        *shapes.strings(20, "type"),
        *shapes.booleans("enabled"),
        *shapes.strings(64, "login_path"),
        *shapes.strings(2048, "issuer_url"),
        *shapes.strings(255, "client_id"),
        *shapes.texts("client_secret"),
        *shapes.jsons("settings"),
        *shapes.stamps(),
        *shapes.keys(IDP, "id", unique=["login_path"]),
    )
    mappings = "idp_team_group_mappings"
    op.create_table(
        mappings,
        *shapes.uuids("id", "idp_id"),
        *shapes.strings(36, "team_id"),
        *shapes.strings(255, "group_name"),
        *shapes.stamps(),
        shapes.cascade(mappings, "idp_id", IDP),
        *shapes.keys(mappings, "id"),
        sa.UniqueConstraint("idp_id", "team_id", "group_name", name=f"uq_{mappings}_idp_id"),
    )
    shapes.indexed(mappings, "idp_id", "created_at")
    op.create_table(
        "oidc_identities",
        *shapes.uuids("id", "idp_id"),
        *shapes.strings(255, "subject"),
        *shapes.strings(320, "email", nullable=True),
        *shapes.strings(255, "name", nullable=True),
        *shapes.jsons("groups"),
        *shapes.stamps("first_sign_in_at", "last_sign_in_at"),
        shapes.cascade("oidc_identities", "idp_id", IDP),
        *shapes.keys("oidc_identities", "id"),
        sa.UniqueConstraint("idp_id", "subject", name="uq_oidc_identities_idp_id"),
    )
    op.create_table(
        "oidc_login_states",
        *shapes.strings(64, "state_hash"),
        *shapes.uuids("idp_id"),
        *shapes.texts("secrets", nullable=False),
        *shapes.strings(2048, "return_to", nullable=True),
        *shapes.stamps("created_at", "expires_at"),
        shapes.cascade("oidc_login_states", "idp_id", IDP),
        *shapes.keys("oidc_login_states", "state_hash"),
    )
    shapes.indexed("oidc_login_states", "expires_at")
    op.create_table(
        "console_sessions",
        *shapes.uuids("id"),
        *shapes.strings(64, "token_hash", "user_id"),
        *shapes.strings(320, "user_name"),
        *shapes.strings(36, "idp_id", nullable=True),
        *shapes.stamps("created_at", "expires_at"),
        *shapes.moments("revoked_at"),
        *shapes.keys("console_sessions", "id", unique=["token_hash"]),
    )
    shapes.indexed("console_sessions", "user_id")


def downgrade() -> None:
    shapes.drop(
        "console_sessions", "oidc_login_states", "oidc_identities", "idp_team_group_mappings", IDP
    )

"""sign-in makes users: an OIDC identity belongs to a user, a console session to a user, a
team-group mapping to a team, and a team membership may come from an identity provider

Console sessions started before this revision named an ``oidc_identities`` row, not a user:
they are ended (their browsers sign in again). Team-group mappings naming no team are
dropped (they could never have granted anything).

Revision ID: 0014, revises 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service_catalog.migrations import shapes

revision, down_revision = "0014", "0013"


def _uuid_text(column: str) -> str:
    """SQL turning a stored ``str(uuid)`` into the dialect's form of a ``Uuid`` column."""
    if op.get_bind().dialect.name == "sqlite":
        return f"lower(replace({column}, '-', ''))"  # sa.Uuid on SQLite: 32 hex digits
    return column


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.execute("DELETE FROM console_sessions")
    teams = "SELECT id FROM teams" if sqlite else "SELECT CAST(id AS VARCHAR) FROM teams"
    op.execute(
        f"DELETE FROM idp_team_group_mappings WHERE {_uuid_text('team_id')} NOT IN ({teams})"
    )
    if sqlite:
        op.execute(f"UPDATE idp_team_group_mappings SET team_id = {_uuid_text('team_id')}")
    with op.batch_alter_table("console_sessions") as batch:
        shapes.to_uuid(batch, "user_id", 64)
        shapes.cascade_to(batch, "console_sessions", "user_id", "users")
    with op.batch_alter_table("idp_team_group_mappings") as batch:
        shapes.to_uuid(batch, "team_id", 36)
        shapes.cascade_to(batch, "idp_team_group_mappings", "team_id", "teams")
    with op.batch_alter_table("oidc_identities") as batch:
        batch.add_column(*shapes.uuids("user_id", nullable=True))
        shapes.cascade_to(batch, "oidc_identities", "user_id", "users")
        batch.create_index("ix_oidc_identities_user_id", ["user_id"])
    with op.batch_alter_table("team_memberships") as batch:
        batch.add_column(sa.Column("idp_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("team_memberships") as batch:
        batch.drop_column("idp_id")
    with op.batch_alter_table("oidc_identities") as batch:
        batch.drop_index("ix_oidc_identities_user_id")
        batch.drop_constraint("fk_oidc_identities_user_id_users", type_="foreignkey")
        batch.drop_column("user_id")
    with op.batch_alter_table("idp_team_group_mappings") as batch:
        batch.drop_constraint("fk_idp_team_group_mappings_team_id_teams", type_="foreignkey")
        shapes.from_uuid(batch, "team_id", 36)
    op.execute("DELETE FROM console_sessions")
    with op.batch_alter_table("console_sessions") as batch:
        batch.drop_constraint("fk_console_sessions_user_id_users", type_="foreignkey")
        shapes.from_uuid(batch, "user_id", 64)

"""identity: users, teams, system accounts, role assignments; tokens belong to a principal

Tokens made before (``scat_``, owner ``system``) become tokens of one system account,
``service-catalog-admin``, which holds Organization Admin on every service, so that every
existing client keeps working.

Revision ID: 0011, revises 0010
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from alembic import op

import service_catalog.core.db
from service_catalog.core.db import JSONType

revision, down_revision = "0011", "0010"

TS = service_catalog.core.db.UTCDateTime(timezone=True)
LEGACY_ACCOUNT = "service-catalog-admin"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=250), nullable=False),
        sa.Column("full_name", sa.String(length=250), nullable=True),
        sa.Column("preferred_name", sa.String(length=250), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("description", sa.String(length=250), nullable=True),
        sa.Column("labels", JSONType, nullable=False),
        sa.Column("system_team", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "team_memberships",
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("member_type", sa.String(length=20), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_memberships_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "team_id", "member_type", "member_id", name=op.f("pk_team_memberships")
        ),
    )
    op.create_index("ix_team_memberships_member", "team_memberships", ["member_type", "member_id"])
    op.create_table(
        "system_accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("konnect_managed", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_system_accounts_name")),
    )
    op.create_table(
        "role_assignments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("principal_type", sa.String(length=20), nullable=False),
        sa.Column("principal_id", sa.Uuid(), nullable=False),
        sa.Column("role_name", sa.String(length=60), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("entity_type_name", sa.String(length=60), nullable=False),
        sa.Column("entity_region", sa.String(length=8), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_assignments")),
        sa.UniqueConstraint(
            "principal_type",
            "principal_id",
            "role_name",
            "entity_id",
            name="uq_role_assignments_principal_role_entity",
        ),
    )
    op.create_index("ix_role_assignments_entity_id", "role_assignments", ["entity_id"])
    with op.batch_alter_table("access_tokens") as batch:
        batch.alter_column("name", existing_type=sa.String(length=120), type_=sa.String(length=256))
        batch.alter_column(
            "owner_id",
            existing_type=sa.String(length=64),
            type_=sa.Uuid(),
            postgresql_using="owner_id::uuid",
        )
        batch.add_column(sa.Column("updated_at", TS, nullable=True))
        batch.add_column(sa.Column("revoked_by", sa.String(length=64), nullable=True))
        batch.create_index("ix_access_tokens_owner", ["owner_type", "owner_id"])
    _adopt_legacy_tokens()


def _adopt_legacy_tokens() -> None:
    """Give the tokens of the one-role days an owner: an Organization Admin account."""
    conn = op.get_bind()
    tokens = sa.table(
        "access_tokens",
        sa.column("owner_type", sa.String()),
        sa.column("owner_id", sa.Uuid()),
    )
    legacy = conn.execute(
        sa.select(sa.func.count()).select_from(tokens).where(tokens.c.owner_type != "user")
    ).scalar()
    if not legacy:
        return
    now = dt.datetime.now(dt.UTC)
    account_id = uuid.uuid4()
    accounts = sa.table(
        "system_accounts",
        sa.column("id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("description", sa.Text()),
        sa.column("konnect_managed", sa.Boolean()),
        sa.column("created_at", TS),
        sa.column("updated_at", TS),
    )
    roles = sa.table(
        "role_assignments",
        sa.column("id", sa.Uuid()),
        sa.column("principal_type", sa.String()),
        sa.column("principal_id", sa.Uuid()),
        sa.column("role_name", sa.String()),
        sa.column("entity_id", sa.String()),
        sa.column("entity_type_name", sa.String()),
        sa.column("entity_region", sa.String()),
        sa.column("created_at", TS),
    )
    conn.execute(
        accounts.insert().values(
            id=account_id,
            name=LEGACY_ACCOUNT,
            description="Owner of the access tokens created before users and roles existed.",
            konnect_managed=False,
            created_at=now,
            updated_at=now,
        )
    )
    conn.execute(
        roles.insert().values(
            id=uuid.uuid4(),
            principal_type="system_account",
            principal_id=account_id,
            role_name="Organization Admin",
            entity_id="*",
            entity_type_name="Service Catalog",
            entity_region="*",
            created_at=now,
        )
    )
    conn.execute(
        tokens.update()
        .where(tokens.c.owner_type != "user")
        .values(owner_type="system_account", owner_id=account_id)
    )


def downgrade() -> None:
    op.execute("UPDATE access_tokens SET owner_type = 'system', owner_id = NULL")
    with op.batch_alter_table("access_tokens") as batch:
        batch.drop_index("ix_access_tokens_owner")
        batch.drop_column("revoked_by")
        batch.drop_column("updated_at")
        batch.alter_column("owner_id", existing_type=sa.Uuid(), type_=sa.String(length=64))
        batch.alter_column("name", existing_type=sa.String(length=256), type_=sa.String(length=120))
    op.drop_index("ix_role_assignments_entity_id", table_name="role_assignments")
    op.drop_table("role_assignments")
    op.drop_table("system_accounts")
    op.drop_index("ix_team_memberships_member", table_name="team_memberships")
    op.drop_table("team_memberships")
    op.drop_table("teams")
    op.drop_table("users")

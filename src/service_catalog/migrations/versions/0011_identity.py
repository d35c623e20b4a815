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

from service_catalog.core.db import UTCDateTime
from service_catalog.migrations import shapes

revision, down_revision = "0011", "0010"

LEGACY_ACCOUNT = "service-catalog-admin"
ROLE_STRINGS = ("principal_type", "role_name", "entity_id", "entity_type_name", "entity_region")


def upgrade() -> None:
    op.create_table(
        "users",
        *shapes.uuids("id"),
        *shapes.strings(250, "email"),
        *shapes.strings(250, "full_name", "preferred_name", nullable=True),
        *shapes.booleans("active"),
        *shapes.stamps(),
        *shapes.keys("users", "id", unique=["email"]),
    )
    op.create_table(
        "teams",
        *shapes.uuids("id"),
        *shapes.strings(250, "name"),
        *shapes.strings(250, "description", nullable=True),
        *shapes.jsons("labels"),
        *shapes.booleans("system_team"),
        *shapes.stamps(),
        *shapes.keys("teams", "id", unique=["name"]),
    )
    op.create_table(
        "team_memberships",
        *shapes.uuids("team_id"),
        *shapes.strings(20, "member_type"),
        *shapes.uuids("member_id"),
        *shapes.stamps("created_at"),
        shapes.cascade("team_memberships", "team_id", "teams"),
        *shapes.keys("team_memberships", "team_id", "member_type", "member_id"),
    )
    shapes.indexed("team_memberships", ix_team_memberships_member=["member_type", "member_id"])
    op.create_table(
        "system_accounts",
        *shapes.uuids("id"),
        *shapes.strings(250, "name"),
        *shapes.texts("description", nullable=False),
        *shapes.booleans("konnect_managed"),
        *shapes.stamps(),
        *shapes.keys("system_accounts", "id", unique=["name"]),
    )
    op.create_table(
        "role_assignments",
        *shapes.uuids("id"),
        *shapes.strings(20, "principal_type"),
        *shapes.uuids("principal_id"),
        *shapes.strings(60, "role_name"),
        *shapes.strings(64, "entity_id"),
        *shapes.strings(60, "entity_type_name"),
        *shapes.strings(8, "entity_region"),
        *shapes.stamps("created_at"),
        *shapes.keys("role_assignments", "id"),
        sa.UniqueConstraint(
            "principal_type",
            "principal_id",
            "role_name",
            "entity_id",
            name="uq_role_assignments_principal_role_entity",
        ),
    )
    shapes.indexed("role_assignments", ix_role_assignments_entity_id=["entity_id"])
    with op.batch_alter_table("access_tokens") as batch:
        batch.alter_column("name", existing_type=sa.String(length=120), type_=sa.String(length=256))
        shapes.to_uuid(batch, "owner_id", 64)
        batch.add_column(shapes.moments("updated_at")[0])
        batch.add_column(shapes.strings(64, "revoked_by", nullable=True)[0])
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
    ts = UTCDateTime(timezone=True)
    accounts = sa.table(
        "system_accounts",
        sa.column("id", sa.Uuid()),
        *(sa.column(name, sa.String()) for name in ("name", "description")),
        sa.column("konnect_managed", sa.Boolean()),
        *(sa.column(name, ts) for name in ("created_at", "updated_at")),
    )
    roles = sa.table(
        "role_assignments",
        *(sa.column(name, sa.Uuid()) for name in ("id", "principal_id")),
        *(sa.column(name, sa.String()) for name in ROLE_STRINGS),
        sa.column("created_at", ts),
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
    shapes.drop("role_assignments", "system_accounts", "team_memberships", "teams", "users")

"""console sessions made from API tokens: a session may name the token it was exchanged
for (ending with it), and one made from a system account's token has no user

Revision ID: 0015, revises 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0015", "0014"


def upgrade() -> None:
    with op.batch_alter_table("console_sessions") as batch:
        batch.alter_column("user_id", existing_type=sa.Uuid(), nullable=True)
        batch.add_column(sa.Column("token_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            "fk_console_sessions_token_id_access_tokens",
            "access_tokens",
            ["token_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index("ix_console_sessions_token_id", ["token_id"])


def downgrade() -> None:
    op.execute("DELETE FROM console_sessions WHERE user_id IS NULL")
    with op.batch_alter_table("console_sessions") as batch:
        batch.drop_index("ix_console_sessions_token_id")
        batch.drop_constraint("fk_console_sessions_token_id_access_tokens", type_="foreignkey")
        batch.drop_column("token_id")
        batch.alter_column("user_id", existing_type=sa.Uuid(), nullable=False)
